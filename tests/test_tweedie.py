"""tweedie.response: Tweedie's covariance identity (Eq. 9) against exact smoothed-score Jacobians, a dense
Gaussian prior (closed form) and the exactly enumerated Ising posterior; the index, "diagonal" and
off-site forms; bad input."""
import math

import pytest
import torch

from fdlf_core import gaussian, ising, tweedie


def _dense_gaussian(n: int, seed: int) -> torch.Tensor:
    """A random dense symmetric positive definite prior covariance ``C (n, n)``."""
    a = torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / n + 0.3 * torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
def test_dense_gaussian_matches_the_closed_form_jacobian(sigma):
    # x ~ N(0, C), y = x + sigma eps: Cov(X | y) = (C^-1 + sigma^-2 I)^-1 for every y, and the smoothed score
    # s(y) = -(C + sigma^2 I)^-1 y has the constant Jacobian -(C + sigma^2 I)^-1 (closed form)
    n = 7
    c = _dense_gaussian(n, seed=int(10 * sigma))
    eye = torch.eye(n, dtype=torch.float64)
    cov = torch.linalg.inv(torch.linalg.inv(c) + eye / sigma ** 2)
    jacobian = -torch.linalg.inv(c + sigma ** 2 * eye)
    y = torch.randn(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    autograd = torch.autograd.functional.jacobian(lambda v: -torch.linalg.solve(c + sigma ** 2 * eye, v), y)
    torch.testing.assert_close(autograd, jacobian, rtol=1e-12, atol=1e-14)

    full = tweedie.response(cov, sigma, self_index="diagonal")
    torch.testing.assert_close(full, jacobian, rtol=1e-10, atol=1e-12)
    for i in range(n):  # one row: the index form
        torch.testing.assert_close(tweedie.response(cov[i], sigma, self_index=i), jacobian[i], rtol=1e-10, atol=1e-12)
    # no self index: sigma^-4 cov everywhere (the off-site entries of the Jacobian)
    off = tweedie.response(cov, sigma)
    torch.testing.assert_close(off, cov / sigma ** 4, rtol=0, atol=0)
    mask = ~torch.eye(n, dtype=torch.bool)
    torch.testing.assert_close(off[mask], jacobian[mask], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kappa,sigma", [(0.3, 0.5), (1.0, 2.0)])
def test_gaussian_free_field_maps_give_the_fft_response(kappa, sigma):
    # a map [dy, dx] from the probe with a tuple self index: Tweedie on the free field's posterior covariance
    # is its exact smoothed-score response (computed independently, by FFT of the symbol)
    L = 8
    cov = gaussian.posterior_covariance(kappa, sigma, L)
    torch.testing.assert_close(tweedie.response(cov, sigma, self_index=(0, 0)), gaussian.score_response(kappa, sigma, L),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("L", [2, 3])
@pytest.mark.parametrize("beta,sigma", [(0.3, 0.5), (ising.BETA_C, 1.0), (0.6, 2.0)])
def test_ising_exact_posterior_covariance_gives_the_score_jacobian(L, beta, sigma):
    # the exactly enumerated Ising posterior at a generic y: autograd Jacobian of the exact smoothed score
    y = torch.randn(L, L, generator=torch.Generator().manual_seed(L), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: ising.smoothed_score(v, beta, sigma), y).reshape(L * L, L * L)
    cov = ising.posterior_covariance(y, beta, sigma)
    torch.testing.assert_close(tweedie.response(cov, sigma, self_index="diagonal"), jac, rtol=1e-9, atol=1e-12)
    site = L + 1  # the row of site (1, 1), index form
    torch.testing.assert_close(tweedie.response(cov[site], sigma, self_index=site), jac[site], rtol=1e-9, atol=1e-12)


def test_ising_profile_at_zero_field_is_eq_22():
    # y = 0: the posterior is the zero-field model, so the profile <x_0 x_(0,d)> (d = 0: <x_0^2> = 1) gives
    # sigma^-4 <x_0 x_d> - sigma^-2 [d = 0] (Eq. 22); on the 2x2 torus by hand, <x_00 x_01> =
    # (2 e^{8b} - 2 e^{-8b}) / (2 e^{8b} + 12 + 2 e^{-8b})
    b, sigma = 0.3, 1.5
    neighbour = (2 * math.exp(8 * b) - 2 * math.exp(-8 * b)) / (2 * math.exp(8 * b) + 12 + 2 * math.exp(-8 * b))
    profile = ising.exact_correlations(2, b)[0]
    torch.testing.assert_close(profile, torch.tensor([1.0, neighbour], dtype=torch.float64), rtol=1e-12, atol=0)
    expected = torch.tensor([sigma ** -4 - sigma ** -2, neighbour / sigma ** 4], dtype=torch.float64)
    torch.testing.assert_close(tweedie.response(profile, sigma, self_index=0), expected, rtol=1e-12, atol=0)


def test_returns_a_new_tensor_of_the_same_dtype():
    cov = _dense_gaussian(4, seed=0)
    before = cov.clone()
    for index in ("diagonal", 2, None):
        out = tweedie.response(cov, 1.0, self_index=index)  # sigma = 1: cov / 1 must still be a copy
        assert out is not cov and out.data_ptr() != cov.data_ptr() and out.dtype == torch.float64
    assert torch.equal(cov, before)
    single = tweedie.response(cov.float(), 2.0, self_index="diagonal")
    assert single.dtype == torch.float32
    torch.testing.assert_close(single, tweedie.response(cov, 2.0, self_index="diagonal").float())


def test_a_scalar_off_site_covariance():
    assert float(tweedie.response(torch.tensor(0.5, dtype=torch.float64), 2.0)) == 0.5 / 16


@pytest.mark.parametrize("call,exc,match", [
    (lambda: tweedie.response(torch.ones(3, dtype=torch.int64), 1.0), TypeError, "cov must be a floating-point"),
    (lambda: tweedie.response([[1.0]], 1.0), TypeError, "cov must be a floating-point torch.Tensor; got list"),
    (lambda: tweedie.response(torch.eye(3), 0.0), ValueError, "sigma must be"),
    (lambda: tweedie.response(torch.eye(3), -1.0), ValueError, "sigma must be"),
    (lambda: tweedie.response(torch.eye(3), math.nan), ValueError, "sigma must be"),
    (lambda: tweedie.response(torch.eye(3), "1"), TypeError, "sigma must be"),
    (lambda: tweedie.response(torch.ones(3, 4), 1.0, self_index="diagonal"), ValueError, r"shape \(3, 4\)"),
    (lambda: tweedie.response(torch.ones(3), 1.0, self_index="diagonal"), ValueError, "square matrix"),
    (lambda: tweedie.response(torch.eye(3), 1.0, self_index="diag"), ValueError, "self_index must be"),
    (lambda: tweedie.response(torch.ones(3), 1.0, self_index=3), ValueError, r"self_index must be an index into cov \(shape \(3,\)\); got 3"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()

"""ising.response: the Tweedie identities (Eqs. 9, 22) on exactly enumerated posteriors, the response of
Eq. 22 at any size, and ``learned_response`` of a model whose score is exact."""
import math

import pytest
import torch

from fdlf_core.ising import (BETA_C, exact_correlations, learned_response, posterior_covariance,
                             smoothed_log_density, smoothed_score, smoothed_score_response)

@pytest.mark.parametrize("L", [3, 4])
@pytest.mark.parametrize("beta,sigma", [(0.3, 0.5), (BETA_C, 1.0), (0.6, 2.0)])
def test_smoothed_score_jacobian_is_the_posterior_covariance(L, beta, sigma):
    # Eq. 9: d s_i / d y_j = sigma^-4 Cov(X_i, X_j | y) - sigma^-2 delta_ij, at a generic y
    y = torch.randn(L, L, generator=torch.Generator().manual_seed(L), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: smoothed_score(v, beta, sigma), y).reshape(L * L, L * L)
    expected = posterior_covariance(y, beta, sigma) / sigma ** 4 - torch.eye(L * L, dtype=torch.float64) / sigma ** 2
    torch.testing.assert_close(jac, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("beta,sigma", [(0.3, 0.5), (0.6, 2.0)])
def test_smoothed_score_is_the_gradient_of_the_smoothed_log_density(beta, sigma):
    y = torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64).requires_grad_()
    grad, = torch.autograd.grad(smoothed_log_density(y, beta, sigma), y)
    torch.testing.assert_close(grad, smoothed_score(y.detach(), beta, sigma), rtol=1e-10, atol=1e-12)


def test_smoothed_log_density_at_zero_is_normalised():
    # every spin state has |x|^2 = L^2, so p_sigma(0) = (2 pi sigma^2)^(-L^2/2) exp(-L^2 / (2 sigma^2)) exactly
    sigma, n = 0.7, 9
    expected = -n * math.log(sigma * math.sqrt(2 * math.pi)) - n / (2 * sigma ** 2)
    assert float(smoothed_log_density(torch.zeros(3, 3, dtype=torch.float64), 0.4, sigma)) == pytest.approx(
        expected, rel=1e-13)


def test_response_at_zero_field_is_the_correlation_over_sigma4():
    # Eq. 22: at y = 0 the posterior is the zero-field model
    L, beta, sigma = 4, 0.9 * BETA_C, 1.5
    cov = posterior_covariance(torch.zeros(L, L, dtype=torch.float64), beta, sigma)
    corr = exact_correlations(L, beta)
    assert cov[0, 1] == pytest.approx(float(corr[0, 1]), rel=1e-12)
    assert cov[0, L + 1] == pytest.approx(float(corr[1, 1]), rel=1e-12)
    r = smoothed_score_response(beta, sigma, 1, L)
    assert r.stderr == 0 and r.value == pytest.approx(float(corr[0, 1]) / sigma ** 4, rel=1e-12)


def test_exact_response_at_d4_grows_toward_criticality():
    # the paper's Fig. 4 mechanism, exactly: sigma^-4 <x_0 x_(0,4)> rises monotonically as beta -> beta_c
    for L in (None, 10):
        values = [smoothed_score_response(r * BETA_C, 1.0, 4, L).value for r in (0.8, 0.9, 0.95, 0.99)]
        assert values == sorted(values) and values[-1] > 3 * values[0]


def test_sampled_response_on_a_large_lattice_has_an_error_bar():
    beta = 0.6 * BETA_C  # xi ~ 1.2: L = 16 is effectively infinite
    r = smoothed_score_response(beta, 2.0, 2, 16, n_samples=1500, seed=5, progress=False)
    exact = smoothed_score_response(beta, 2.0, 2, None).value
    assert r.stderr > 0 and "Wolff" in r.method
    assert abs(r.value - exact) < 4 * r.stderr



@pytest.mark.parametrize("call,match", [
    (lambda: smoothed_score_response(0.4, 0.0, 2, 8), "sigma must be"),
    (lambda: smoothed_score_response(0.4, 1.0, 4, 8), r"d must be an int in \[1, 3\]"),
    (lambda: smoothed_score_response(0.4, 1.0, 0, 8), r"d must be"),
    (lambda: smoothed_score(torch.zeros(6, 6), 0.4, 1.0), "L must be <= 4"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


class ExactSmoothedScore(torch.nn.Module):
    """The exact smoothed Ising score (enumeration) as a score model ``forward(x (n, L, L), sigma)``."""

    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def forward(self, x, sigma):
        return torch.stack([smoothed_score(f.to(torch.float64), self.beta, sigma) for f in x])


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_learned_response_of_the_exact_score_is_eq22(sigma):
    L, beta = 4, 0.95 * BETA_C
    row = learned_response(ExactSmoothedScore(beta), sigma, L)
    expected = exact_correlations(L, beta) / sigma ** 4
    expected[0, 0] -= 1 / sigma ** 2
    torch.testing.assert_close(row, expected, rtol=1e-9, atol=1e-12)

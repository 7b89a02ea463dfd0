"""The Gaussian free field toy against dense linear algebra: every closed form checked exactly."""
import math

import pytest
import torch

from fdlf_core import diagnostics, gaussian

L = 6


def _dense_Q(kappa, L):
    """Q = kappa^2 I - Laplacian as an (L^2, L^2) matrix, built site by site."""
    n = L * L
    Q = torch.zeros(n, n, dtype=torch.float64)
    for i in range(L):
        for j in range(L):
            a = i * L + j
            Q[a, a] = kappa ** 2 + 4
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                Q[a, ((i + di) % L) * L + (j + dj) % L] -= 1
    return Q


@pytest.fixture
def y():
    return torch.randn(3, L, L, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kappa", [0.3, 1.0])
def test_clean_and_smoothed_scores_against_dense_matrices(kappa, y):
    Q = _dense_Q(kappa, L)
    flat = y.reshape(3, -1)
    assert torch.allclose(gaussian.clean_score(y, kappa).reshape(3, -1), -flat @ Q.T, atol=1e-12)
    for sigma in (0.2, 1.0, 3.0):
        marginal_cov = torch.linalg.inv(Q) + sigma ** 2 * torch.eye(L * L, dtype=torch.float64)
        dense = -torch.linalg.solve(marginal_cov, flat.T).T
        assert torch.allclose(gaussian.smoothed_score(y, kappa, sigma).reshape(3, -1), dense, atol=1e-11)
    assert torch.allclose(gaussian.smoothed_score(y, kappa, 0.0), gaussian.clean_score(y, kappa), atol=1e-12)


@pytest.mark.parametrize("kappa,sigma", [(0.3, 0.5), (1.0, 2.0), (0.1, 4.0)])
def test_tweedie_exactly(kappa, sigma, y):
    """s(y) = (E[X|y] - y) / sigma^2 and d s / d y = sigma^-4 Cov(X|y) - sigma^-2 I, with the posterior
    from dense linear algebra and the Jacobian by autograd."""
    Q = _dense_Q(kappa, L)
    eye = torch.eye(L * L, dtype=torch.float64)
    post_cov = torch.linalg.inv(Q + sigma ** -2 * eye)
    post_mean = (post_cov @ y.reshape(3, -1).T).T / sigma ** 2
    score = gaussian.smoothed_score(y, kappa, sigma).reshape(3, -1)
    assert torch.allclose(score, (post_mean - y.reshape(3, -1)) / sigma ** 2, atol=1e-11)
    jac = torch.autograd.functional.jacobian(lambda v: gaussian.smoothed_score(v[None], kappa, sigma)[0], y[0])
    jac = jac.reshape(L * L, L * L)
    assert torch.allclose(jac, post_cov / sigma ** 4 - eye / sigma ** 2, atol=1e-11)
    # the maps: row (0, 0) of the same matrices
    assert torch.allclose(gaussian.score_response(kappa, sigma, L).reshape(-1), jac[0], atol=1e-11)
    assert torch.allclose(gaussian.posterior_covariance(kappa, sigma, L).reshape(-1), post_cov[0], atol=1e-12)
    assert torch.allclose(gaussian.covariance(kappa, L).reshape(-1), torch.linalg.inv(Q)[0], atol=1e-12)


def test_clean_response_is_nearest_neighbour_and_smoothed_is_not():
    clean = gaussian.score_response(0.5, 0.0, 16)
    assert diagnostics.tail_fraction(clean, (0, 0), 1) == 0.0
    spectral = torch.fft.ifft2(-gaussian.symbol(0.5, 16)).real  # the same kernel through the FFT
    assert torch.allclose(clean, spectral, atol=1e-12)
    tails = [diagnostics.tail_fraction(gaussian.score_response(kappa, sigma, 32), (0, 0), 4)
             for kappa, sigma in ((1.0, 0.5), (1.0, 2.0), (0.1, 2.0))]
    assert 0 < tails[0] < tails[1] < tails[2]  # spreads as sigma grows and as kappa -> 0


@pytest.mark.parametrize("kappa,sigma", [(0.5, 1.0), (0.2, 3.0)])
def test_response_length_is_the_axis_decay(kappa, sigma):
    xi = gaussian.response_length(kappa, sigma)
    row = gaussian.score_response(kappa, sigma, 256)[0]
    r = int(6 * xi) + 4  # far enough for the r^-1/2 prefactor to matter little, well inside L/2
    local_rate = math.log(row[r] / row[r + 1])
    prefactor = 0.5 * math.log((r + 1) / r)  # the 2D lattice Green's function ~ r^-1/2 exp(-r / xi)
    assert local_rate - prefactor == pytest.approx(1 / xi, rel=0.02)
    assert gaussian.response_length(kappa, 0.0) == 0.0


def test_samples_have_the_prior_covariance():
    x = gaussian.sample(4000, 8, 0.7, generator=torch.Generator().manual_seed(1))
    f = torch.fft.fft2(x)
    emp = (torch.fft.ifft2(f * f.conj()).real / 64).mean(0)  # site-averaged <x_0 x_r>
    exact = gaussian.covariance(0.7, 8)
    # each entry averages 4000 x 64 correlated products; 5 % of the variance is a loose bound
    assert torch.allclose(emp, exact, atol=0.05 * float(exact[0, 0]))
    again = gaussian.sample(3, 8, 0.7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again, x[:3])


@pytest.mark.parametrize("call,err,match", [
    (lambda: gaussian.symbol(0.0, 8), ValueError, "kappa must be a finite real number > 0"),
    (lambda: gaussian.score_response(1.0, -0.1, 8), ValueError, r"sigma must be 0 \(the clean score\) or in .*; got -0.1"),
    (lambda: gaussian.score_response(1.0, "a", 8), TypeError, "sigma must be a finite real number"),
    (lambda: gaussian.score_response(1.0, 1.0, 7), ValueError, "L must be an even integer"),
    (lambda: gaussian.posterior_covariance(1.0, 0.0, 8), ValueError, "sigma must be a finite real number > 0"),
    (lambda: gaussian.smoothed_score(torch.zeros(8, 8), 1.0, 1.0), ValueError, r"y must have shape \(n, L, L\)"),
    (lambda: gaussian.sample(0, 8, 1.0), ValueError, "n must be"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_gaussian_field_is_a_data_source_with_the_exact_score(gen):
    from fdlf_core.training import DataSource, check_data_source

    field = gaussian.GaussianField(gaussian.GaussianFieldConfig(kappa=0.7))
    assert isinstance(field, DataSource) and check_data_source(field) is field
    x = field.sample(3, 8, generator=gen(1))
    assert torch.equal(x, gaussian.sample(3, 8, 0.7, generator=gen(1)))
    assert torch.equal(field.score(x), gaussian.clean_score(x, 0.7))
    with pytest.raises(ValueError, match="kappa"):
        gaussian.GaussianFieldConfig(kappa=0.0)
    with pytest.raises(TypeError, match="GaussianFieldConfig"):
        gaussian.GaussianField({"kappa": 1.0})

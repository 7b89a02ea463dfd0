"""ising: exact methods against each other and against Onsager's closed forms; samplers against the exact
correlations; the Tweedie identities (Eqs. 9, 22) on exactly enumerated posteriors."""
import math

import pytest
import torch

from fdlf_core.ising import (BETA_C, correlation_function, correlation_length, enumerate_exact,
                             exact_correlations, heat_bath_sample, infinite_correlation, learned_response,
                             magnetisation_distribution,
                             nearest_neighbour_correlation, per_sample_correlations, posterior_covariance,
                             smoothed_log_density, smoothed_score, smoothed_score_response,
                             spontaneous_magnetisation, transfer_matrix_exact, wolff_sample)
from fdlf_core.stats import binned_mean

BETAS = [0.3, BETA_C, 0.6]


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("beta", BETAS)
def test_transfer_matrix_equals_enumeration(L, beta):
    e, t = enumerate_exact(L, beta), transfer_matrix_exact(L, beta)
    assert abs(e.log_z - t.log_z) < 1e-12 * abs(e.log_z)
    torch.testing.assert_close(t.correlations, e.correlations, rtol=0, atol=1e-12)
    assert abs(e.energy_per_site - t.energy_per_site) < 1e-12
    assert abs(e.m2 - t.m2) < 1e-12
    assert e.m4 >= e.m2 ** 2 and t.m4 is None


def test_enumeration_small_cases_by_hand():
    # L=2 torus: each of the 4 horizontal/vertical neighbour pairs is bonded twice, so
    # Z = sum_x exp(2 beta (x00 x01 + x10 x11 + x00 x10 + x01 x11)) = 2 e^{8b} + 12 + 2 e^{-8b} (by hand)
    b = 0.37
    assert enumerate_exact(2, b).log_z == pytest.approx(math.log(2 * math.exp(8 * b) + 12 + 2 * math.exp(-8 * b)),
                                                        rel=1e-14)


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("beta", BETAS)
def test_magnetisation_distribution_equals_enumeration(L, beta):
    from fdlf_core.ising.exact import all_states, bond_sum
    x = all_states(L)
    w = torch.softmax(beta * bond_sum(x), 0)
    ups = ((x + 1) / 2).sum(dim=(1, 2)).long()
    expected = torch.zeros(L * L + 1, dtype=torch.float64).index_add_(0, ups, w)
    torch.testing.assert_close(magnetisation_distribution(L, beta), expected, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("L", [6, 8])
def test_magnetisation_distribution_agrees_with_the_correlation_sum(L):
    # two transfer-matrix routes to <m^2>: the fugacity transform and sum_r C(r) / L^2
    p = magnetisation_distribution(L, BETA_C)
    m = (2 * torch.arange(L * L + 1, dtype=torch.float64) - L * L) / (L * L)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-14)
    torch.testing.assert_close(p, p.flip(0), rtol=0, atol=1e-14)  # spin-flip symmetry
    assert float((p * m ** 2).sum()) == pytest.approx(transfer_matrix_exact(L, BETA_C).m2, rel=1e-12)
    binder = 1 - float((p * m ** 4).sum()) / (3 * float((p * m ** 2).sum()) ** 2)
    assert 0.55 < binder < 0.66  # the critical Binder cumulant of the periodic square lattice is ~0.61


@pytest.mark.parametrize("L", [6, 8])
def test_correlation_map_symmetries(L):
    c = exact_correlations(L, 0.9 * BETA_C)
    assert c[0, 0] == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(c, c.T, rtol=0, atol=1e-12)                      # square symmetry
    torch.testing.assert_close(c, torch.roll(c.flip(1), 1, 1), rtol=0, atol=1e-12)  # r -> -r
    assert bool((torch.diff(c[0, : L // 2 + 1]) < 0).all())                   # decays to L/2


@pytest.mark.parametrize("beta", [0.2, 0.35, 0.43, BETA_C, 0.45, 0.6, 0.9])
def test_infinite_axis_neighbour_equals_onsager_energy(beta):
    assert infinite_correlation(beta, 1)[1] == pytest.approx(nearest_neighbour_correlation(beta), abs=1e-8)


def test_critical_diagonal_equals_the_product_formula():
    # <x_00 x_NN> at beta_c = (2/pi)^N prod_{l=1}^{N-1} (1 - 1/(4 l^2))^(l - N)   (McCoy & Wu)
    c = infinite_correlation(BETA_C, 8, "diagonal")
    for N in range(1, 9):
        exact = (2 / math.pi) ** N * math.prod((1 - 1 / (4 * l * l)) ** (l - N) for l in range(1, N))
        assert c[N] == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("direction", ["axis", "diagonal"])
def test_low_temperature_correlations_tend_to_the_spontaneous_magnetisation_squared(direction):
    beta = 0.6
    c = infinite_correlation(beta, 30, direction)
    assert c[30] == pytest.approx(spontaneous_magnetisation(beta) ** 2, abs=1e-9)
    assert bool((torch.diff(c[:8]) < 0).all())  # then flat to rounding


def test_finite_lattices_approach_the_infinite_lattice_at_high_temperature():
    beta = 0.5 * BETA_C  # xi ~ 0.8: the torus' wrap-around correction shrinks fast with L
    axis, diagonal = infinite_correlation(beta, 2), infinite_correlation(beta, 1, "diagonal")
    gaps = []
    for L in (4, 6, 8):
        c = exact_correlations(L, beta)
        gaps.append(max(abs(c[0, 1] - axis[1]), abs(c[0, 2] - axis[2]), abs(c[1, 1] - diagonal[1])))
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.01 * gaps[0]


@pytest.mark.parametrize("ratio,direction", [(0.8, "axis"), (0.9, "axis"), (0.8, "diagonal"), (1.25, "axis")])
def test_correlation_length_is_the_decay_rate_of_the_exact_correlations(ratio, direction):
    beta = ratio * BETA_C
    xi = correlation_length(beta, direction)
    n = int(12 * xi / (math.sqrt(2) if direction == "diagonal" else 1))
    c = infinite_correlation(beta, n, direction) - spontaneous_magnetisation(beta) ** 2
    step = math.sqrt(2) if direction == "diagonal" else 1.0
    r1, r2 = n // 2, n
    measured = -math.log(c[r2] / c[r1]) / ((r2 - r1) * step)
    # the decay carries a power-law prefactor (r^-1/2 above T_c, r^-2 below), so compare with its correction
    power = 0.5 if ratio < 1 else 2.0
    expected = 1 / xi + power * math.log(r2 / r1) / ((r2 - r1) * step)
    assert measured == pytest.approx(expected, rel=0.05)
    assert correlation_length(BETA_C) == math.inf


def test_correlation_length_grows_toward_criticality():
    xs = [correlation_length(r * BETA_C) for r in (0.8, 0.9, 0.95, 0.99)]
    assert xs == sorted(xs) and xs[-1] > 30


# ----------------------------------------------------------------------------- Tweedie on exact posteriors

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


# ----------------------------------------------------------------------------------------------- sampling

@pytest.mark.parametrize("ratio", [0.8, 0.9, 1.0, 1.1])
def test_wolff_matches_the_transfer_matrix(ratio):
    beta = ratio * BETA_C
    est = binned_mean(per_sample_correlations(wolff_sample(8, beta, 3000, seed=11, progress=False)))
    exact = exact_correlations(8, beta)[0, :5]
    z = (est.value[1:] - exact[1:]) / est.stderr[1:]
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"
    assert bool((est.stderr[1:] < 0.02).all())


def test_heat_bath_matches_the_transfer_matrix():
    beta = 0.9 * BETA_C
    est = binned_mean(per_sample_correlations(heat_bath_sample(8, beta, 3000, seed=3, progress=False)))
    z = (est.value[1:] - exact_correlations(8, beta)[0, 1:5]) / est.stderr[1:]
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"


def test_samplers_are_seeded():
    a, b = wolff_sample(8, 0.4, 5, seed=2, progress=False), wolff_sample(8, 0.4, 5, seed=2, progress=False)
    assert torch.equal(a, b) and not torch.equal(a, wolff_sample(8, 0.4, 5, seed=3, progress=False))
    assert a.dtype == torch.int8 and set(a.unique().tolist()) <= {-1, 1}
    h = heat_bath_sample(8, 0.4, 3, seed=2, progress=False)
    assert torch.equal(h, heat_bath_sample(8, 0.4, 3, seed=2, progress=False))


def test_correlation_function_of_a_known_configuration():
    stripes = torch.ones(1, 4, 4, dtype=torch.int8)
    stripes[:, :, 1::2] = -1  # columns alternate: along x the product is (-1)^r, along y it is 1
    torch.testing.assert_close(correlation_function(stripes), torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))


def test_sampled_response_on_a_large_lattice_has_an_error_bar():
    beta = 0.6 * BETA_C  # xi ~ 1.2: L = 16 is effectively infinite
    r = smoothed_score_response(beta, 2.0, 2, 16, n_samples=1500, seed=5, progress=False)
    exact = smoothed_score_response(beta, 2.0, 2, None).value
    assert r.stderr > 0 and "Wolff" in r.method
    assert abs(r.value - exact) < 4 * r.stderr


# ---------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call,match", [
    (lambda: enumerate_exact(5, 0.4), "L must be <= 4 for full enumeration.*transfer_matrix_exact"),
    (lambda: transfer_matrix_exact(12, 0.4), "L must be <= 10 for the transfer matrix.*wolff_sample"),
    (lambda: exact_correlations(16, 0.4), "L must be <= 10"),
    (lambda: magnetisation_distribution(10, 0.4), "L must be <= 8 for the magnetisation distribution"),
    (lambda: exact_correlations(8, 0.0), "beta must be a finite real number > 0"),
    (lambda: exact_correlations(8, -1.0), "beta must be"),
    (lambda: smoothed_score_response(0.4, 0.0, 2, 8), "sigma must be"),
    (lambda: smoothed_score_response(0.4, 1.0, 4, 8), r"d must be an int in \[1, 3\]"),
    (lambda: smoothed_score_response(0.4, 1.0, 0, 8), r"d must be"),
    (lambda: smoothed_score(torch.zeros(6, 6), 0.4, 1.0), "L must be <= 4"),
    (lambda: wolff_sample(8, float("nan"), 2), "beta must be"),
    (lambda: heat_bath_sample(7, 0.4, 2), "even integer"),
    (lambda: infinite_correlation(0.4, 3, "up"), "direction must be one of"),
    (lambda: correlation_function(torch.zeros(2, 4, 4)), r"spins \+-1"),
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

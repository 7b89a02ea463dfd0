"""ising.exact: enumeration, transfer matrix and the infinite lattice against each other, against hand-computed
small cases and against literal values of Onsager's closed forms."""
import math

import pytest
import torch

from fdlf_core.ising import (BETA_C, correlation_length, enumerate_exact, exact_correlations, infinite_correlation,
                             magnetisation_distribution, nearest_neighbour_correlation, spontaneous_magnetisation,
                             transfer_matrix_exact)

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


@pytest.mark.parametrize("b", [0.1, 0.37, BETA_C, 0.9])
@pytest.mark.parametrize("exact", [enumerate_exact, transfer_matrix_exact])
def test_2x2_torus_by_hand(b, exact):
    # the 16 states of the L=2 torus (each neighbour pair bonded twice, bond sum = 2 x the 4 pair products):
    #   2 aligned states      bond sum +8, every pair product +1, diagonal product +1
    #   2 checkerboard states bond sum -8, every pair product -1, diagonal product +1
    #  12 others              bond sum  0, pair products sum to 0, diagonal products sum to -4
    z = 2 * math.exp(8 * b) + 12 + 2 * math.exp(-8 * b)
    neighbour = (2 * math.exp(8 * b) - 2 * math.exp(-8 * b)) / z
    diagonal = (2 * math.exp(8 * b) + 2 * math.exp(-8 * b) - 4) / z
    e = exact(2, b)
    assert e.log_z == pytest.approx(math.log(z), rel=1e-13)
    torch.testing.assert_close(e.correlations, torch.tensor([[1.0, neighbour], [neighbour, diagonal]],
                                                            dtype=torch.float64), rtol=1e-12, atol=1e-14)
    # <m^2> with m = sum x / 4: (4 + 4 * 2 <x00 x01> + 4 * <x00 x11>) / 16, from the correlation sum
    assert e.m2 == pytest.approx((4 + 8 * neighbour + 4 * diagonal) / 16, rel=1e-12)


# Onsager's <x_0 x_(0,1)> of the infinite lattice, -u/2 with the internal energy per site
#   u = -coth(2b) [1 + (2/pi) (2 tanh^2(2b) - 1) K(k)],  k = 2 sinh(2b) / cosh^2(2b)
# (Onsager 1944; e.g. McCoy & Wu, "The Two-Dimensional Ising Model", ch. 4). Evaluated independently of fdlf
# with K(k) = int_0^(pi/2) (1 - k^2 sin^2 t)^(-1/2) dt by 2000- and 4000-node Gauss-Legendre quadrature
# and by its hypergeometric series (all three agree to 1e-13); at beta_c it is sqrt(2)/2 exactly
# (Onsager; Kaufman & Onsager 1949).
ONSAGER_NEAREST_NEIGHBOUR = {
    0.2: 0.214114416620,
    0.3: 0.352249535416,
    0.35: 0.439903022644,
    BETA_C: 0.707106781187,  # sqrt(2) / 2
    0.5: 0.872782287656,
    0.6: 0.954543088842,
    0.9: 0.996746759170,
}


@pytest.mark.parametrize("beta,value", ONSAGER_NEAREST_NEIGHBOUR.items())
def test_nearest_neighbour_correlation_against_onsagers_table(beta, value):
    assert nearest_neighbour_correlation(beta) == pytest.approx(value, abs=1e-11)
    # the Toeplitz determinant: to 1e-8 off criticality; at beta_c the symbol jumps, O(1/grid)
    assert float(infinite_correlation(beta, 1)[1]) == pytest.approx(value, abs=1e-8 if beta != BETA_C else 1e-6)


def test_critical_nearest_neighbour_correlation_is_sqrt2_over_2():
    # <x_0 x_e1> = sqrt(2)/2 at beta_c = ln(1 + sqrt 2) / 2 (Onsager / Kaufman)
    assert BETA_C == pytest.approx(math.log(1 + math.sqrt(2)) / 2, rel=1e-15)
    assert nearest_neighbour_correlation(BETA_C) == pytest.approx(math.sqrt(2) / 2, rel=1e-15)
    assert float(infinite_correlation(BETA_C, 1)[1]) == pytest.approx(math.sqrt(2) / 2, abs=1e-6)


# Onsager-Yang spontaneous magnetisation M = (1 - sinh(2b)^-4)^(1/8) below T_c (Yang 1952), evaluated once
# with Python's math module, outside fdlf
SPONTANEOUS_MAGNETISATION = {0.5: 0.9113193779, 0.6: 0.9736086674}


@pytest.mark.parametrize("beta,value", SPONTANEOUS_MAGNETISATION.items())
def test_spontaneous_magnetisation_against_the_onsager_yang_formula(beta, value):
    assert spontaneous_magnetisation(beta) == pytest.approx(value, rel=1e-9)
    assert spontaneous_magnetisation(0.9 * BETA_C) == 0.0


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



@pytest.mark.parametrize("call,match", [
    (lambda: enumerate_exact(5, 0.4), "L must be <= 4 for full enumeration.*transfer_matrix_exact"),
    (lambda: transfer_matrix_exact(12, 0.4), "L must be <= 10 for the transfer matrix.*wolff_sample"),
    (lambda: exact_correlations(16, 0.4), "L must be <= 10"),
    (lambda: magnetisation_distribution(10, 0.4), "L must be <= 8 for the magnetisation distribution"),
    (lambda: exact_correlations(8, 0.0), "beta must be a finite real number > 0"),
    (lambda: exact_correlations(8, -1.0), "beta must be"),
    (lambda: infinite_correlation(0.4, 3, "up"), "direction must be one of"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()

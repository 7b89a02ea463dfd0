"""Exact 2D Ising results: full enumeration, the row-to-row transfer matrix, and the infinite lattice.

Model (paper Eq. 20): spins ``x_i = +-1`` on the periodic ``L x L`` torus, ``p(x) ~ exp(beta sum_<ij> x_i x_j)``
over the ``2 L^2`` nearest-neighbour bonds (each site's right and down neighbour; for ``L = 2`` the wrap
makes each bond count twice, as it does on any ``2``-periodic torus). Zero field, so ``<x_i> = 0`` and
the covariance is the correlation ``C(r) = <x_0 x_r>``.

- ``enumerate_exact(L, beta)``: all ``2^(L^2)`` states, ``L <= 4``.
- ``transfer_matrix_exact(L, beta)``: ``T`` on the ``2^L`` row states (symmetric, positive definite),
  ``Z = tr T^L`` from its eigenvalues, ``C(dy, dx) = tr(S_0 T^dy S_dx T^(L-dy)) / Z`` with ``S_c`` the
  diagonal spin of column ``c``; ``L <= 10``.
- ``infinite_correlation(beta, n, direction)``: the infinite-lattice ``<x_0 x_r>`` along an axis or the
  diagonal as Toeplitz determinants (Montroll, Potts & Ward 1963; McCoy & Wu 1973, ch. XI), with the
  symbol's Fourier coefficients from an FFT on a grid fine enough for the correlation length.
- ``correlation_length(beta, direction)``: the exact exponential decay length of the connected correlation
  (Onsager; ``T < T_c`` is half the dual high-temperature length).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import lattice

BETA_C = 0.5 * math.log(1 + math.sqrt(2))  # Onsager's critical coupling, sinh(2 beta_c) = 1
MAX_ENUMERATION_L = 4                      # 2^16 states
MAX_TRANSFER_L = 10                        # 2^10 x 2^10 transfer matrix
MAX_DISTRIBUTION_L = 8                     # L^2 + 1 complex matrix powers of size 2^L


@dataclass(frozen=True)
class IsingExact:
    """Exact finite-lattice results. ``correlations``: ``(L, L)`` float64, ``[dy, dx] = <x_(0,0) x_(dy,dx)>``.

    ``energy_per_site`` = ``-<sum_<ij> x_i x_j> / L^2``; ``m2``, ``m4``: moments of the magnetisation per
    site ``m = sum_i x_i / L^2`` (``m4`` is None where the method does not give it).
    """

    L: int
    beta: float
    log_z: float
    energy_per_site: float
    m2: float
    m4: float | None
    correlations: torch.Tensor
    method: str


def check_beta(beta) -> float:
    return lattice.check_positive(beta, "beta")


def check_ising_L(L, maximum: int | None = None, method: str = "") -> int:
    """``L`` as an int ``>= 2`` (``<= maximum`` for an exact method, with a message naming what applies)."""
    L = lattice.check_int(L, "L", 2)
    if maximum is not None and L > maximum:
        raise ValueError(f"L must be <= {maximum} for {method}; got L={L}. Use transfer_matrix_exact for "
                         f"L <= {MAX_TRANSFER_L}, infinite_correlation for the infinite lattice, or "
                         f"wolff_sample for any L")
    return L


def bond_sum(x: torch.Tensor) -> torch.Tensor:
    """``sum_<ij> x_i x_j`` over the periodic nearest-neighbour bonds: ``x (..., L, L)`` -> ``(...)``."""
    return (x * torch.roll(x, 1, -1) + x * torch.roll(x, 1, -2)).sum(dim=(-2, -1))


def all_states(L: int) -> torch.Tensor:
    """All ``2^(L^2)`` spin states: ``(2^(L^2), L, L)`` float64, state ``k``'s site ``i`` is bit ``i`` of ``k``."""
    L = check_ising_L(L, MAX_ENUMERATION_L, "full enumeration")
    bits = (torch.arange(2 ** (L * L))[:, None] >> torch.arange(L * L)) & 1
    return (2.0 * bits - 1.0).to(torch.float64).reshape(-1, L, L)


def enumerate_exact(L: int, beta: float) -> IsingExact:
    """Exact results by summing over all ``2^(L^2)`` states (``2 <= L <= 4``)."""
    beta = check_beta(beta)
    x = all_states(L)
    logw = beta * bond_sum(x)
    log_z = torch.logsumexp(logw, 0)
    w = torch.exp(logw - log_z)                                   # (S,) probabilities
    m = x.mean(dim=(1, 2))
    flat = x.reshape(len(x), -1)
    corr = torch.einsum("s,s,sj->j", w, flat[:, 0], flat).reshape(L, L)
    return IsingExact(L, beta, float(log_z), float(-(w * bond_sum(x)).sum()) / L ** 2,
                      float((w * m ** 2).sum()), float((w * m ** 4).sum()), corr, "enumeration")


def _row_states(L: int) -> torch.Tensor:
    bits = (torch.arange(2 ** L)[:, None] >> torch.arange(L)) & 1
    return (2.0 * bits - 1.0).to(torch.float64)  # (2^L, L)


def _transfer(L: int, beta: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Row states ``(R, L)``, the transfer matrix divided by ``exp(shift)`` (entries <= 1) and ``shift``."""
    rows = _row_states(L)
    e_row = (rows * torch.roll(rows, 1, -1)).sum(-1)                # (R,)
    t = beta * (e_row[:, None] / 2 + rows @ rows.T + e_row[None, :] / 2)
    return rows, torch.exp(t - t.max()), float(t.max())


def transfer_matrix_exact(L: int, beta: float) -> IsingExact:
    """Exact results from the row-to-row transfer matrix (``2 <= L <= 10``); ``m4`` is None here
    (``magnetisation_distribution`` gives it for ``L <= 8``).

    ``T[a, b] = exp(beta (E_row(a) / 2 + a.b + E_row(b) / 2))`` is symmetric positive definite, so
    ``T = V diag(lam) V^T`` and with ``A_c = V^T S_c V``:
    ``C(dy, dx) = sum_mn (A_0)_mn lam_n^dy (A_dx)_nm lam_m^(L-dy) / sum_m lam_m^L``.
    """
    beta = check_beta(beta)
    L = check_ising_L(L, MAX_TRANSFER_L, "the transfer matrix")
    rows, tm, shift = _transfer(L, beta)
    lam, v = torch.linalg.eigh(tm)
    rel = lam / lam[-1]                                             # (0, 1], ascending
    log_z = L * (float(torch.log(lam[-1])) + shift) + float(torch.log((rel ** L).sum()))
    a = torch.stack([v.T @ (rows[:, c, None] * v) for c in range(L)])  # (L, R, R): A_c = V^T S_c V
    powers = rel[None, :] ** torch.arange(L + 1, dtype=torch.float64)[:, None]  # (L+1, R): rel^k
    norm = (rel ** L).sum()
    corr = torch.empty(L, L, dtype=torch.float64)
    for dy in range(L):
        left = a[0] * powers[L - dy][:, None]                       # (A_0)_mn rel_m^(L-dy)
        right = a * powers[dy][None, :, None]                       # (A_dx)_nm rel_n^dy
        corr[dy] = torch.einsum("mn,cnm->c", left, right) / norm
    m2 = float(corr.sum()) / L ** 2                                 # <m^2> = sum_r C(r) / L^2
    return IsingExact(L, beta, log_z, float(-(corr[0, 1] + corr[1, 0])), m2, None, corr,
                      "transfer matrix")


def magnetisation_distribution(L: int, beta: float) -> torch.Tensor:
    """Exact ``P(M)`` of the total magnetisation ``M = 2 u - L^2`` (``u`` up spins): ``(L^2 + 1,)`` float64
    indexed by ``u``, for ``2 <= L <= 8``.

    The transfer matrix with a fugacity ``z^u(row)`` per row gives the generating function
    ``G(z) = tr (T diag(z^u))^L = sum_u Z_u z^u``; on the ``L^2 + 1`` roots of unity a discrete Fourier
    transform returns every ``Z_u`` (exact up to rounding, ~1e-16 of the largest ``Z_u``).
    """
    beta = check_beta(beta)
    L = check_ising_L(L, MAX_DISTRIBUTION_L, "the magnetisation distribution")
    rows, tm, _ = _transfer(L, beta)
    n = L * L + 1
    ups = ((rows + 1) / 2).sum(-1)                                  # (R,) up spins per row state
    z = torch.exp(2j * math.pi * torch.arange(n, dtype=torch.float64) / n)  # (n,) roots of unity
    fugacity = z[:, None] ** ups[None, :]                           # (n, R)
    g = torch.linalg.matrix_power(tm.to(torch.complex128)[None] * fugacity[:, None, :], L)
    z_u = (torch.fft.fft(g.diagonal(dim1=-2, dim2=-1).sum(-1)) / n).real
    return z_u.clamp(min=0) / z_u.clamp(min=0).sum()  # clamp: rounding noise in the far tails


def exact_correlations(L: int, beta: float) -> torch.Tensor:
    """The exact ``(L, L)`` map ``<x_(0,0) x_(dy,dx)>`` on the periodic ``L x L`` torus (float64).

    Enumeration for ``L <= 4``, the transfer matrix for ``L <= 10``; ``ValueError`` beyond (it names the
    methods that apply there).
    """
    L = check_ising_L(L, MAX_TRANSFER_L, "exact correlations")
    return (enumerate_exact if L <= MAX_ENUMERATION_L else transfer_matrix_exact)(L, beta).correlations


# ------------------------------------------------------------------------------------- infinite lattice

DIRECTIONS = ("axis", "diagonal")


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    return direction


def correlation_length(beta: float, direction: str = "axis") -> float:
    """Exact decay length (in lattice spacings) of ``<x_0 x_r> - <x>^2`` along ``direction``.

    ``beta < beta_c``: ``1/xi = -log(tanh beta) - 2 beta`` on an axis; ``T < T_c``: half the length of the
    same formula at the dual coupling (the connected function decays through two-particle states).
    Diagonal: ``1/xi = -log(k) / sqrt(2)`` per unit length with ``k = sinh(2 beta)^2`` (``beta < beta_c``),
    halved likewise below ``T_c``. ``inf`` at ``beta_c``.
    """
    beta, direction = check_beta(beta), _check_direction(direction)
    if beta == BETA_C:
        return math.inf
    k = math.sinh(2 * beta) ** 2
    if direction == "axis":
        high = beta < BETA_C
        b = beta if high else math.atanh(math.exp(-2 * beta))      # dual coupling below T_c
        inv = -math.log(math.tanh(b)) - 2 * b
    else:
        high = k < 1
        inv = abs(math.log(k)) / math.sqrt(2)
    return 1.0 / inv if high else 1.0 / (2 * inv)


def spontaneous_magnetisation(beta: float) -> float:
    """Onsager-Yang ``M = (1 - sinh(2 beta)^-4)^(1/8)`` below ``T_c``, 0 above."""
    beta = check_beta(beta)
    return (1 - math.sinh(2 * beta) ** -4) ** 0.125 if beta > BETA_C else 0.0


def nearest_neighbour_correlation(beta: float) -> float:
    """Onsager's ``<x_0 x_(0,1)>`` of the infinite lattice (minus the energy per bond), via ``K(kappa)``.

    ``u = coth(2b) [1 + (2/pi) (2 tanh(2b)^2 - 1) K(kappa)] / 2`` with ``kappa = 2 sinh(2b) / cosh(2b)^2``
    and ``K`` the complete elliptic integral of the first kind (arithmetic-geometric mean).
    """
    beta = check_beta(beta)
    kappa = 2 * math.sinh(2 * beta) / math.cosh(2 * beta) ** 2
    kprime = math.sqrt(max(0.0, 1 - kappa ** 2))
    if kprime == 0:  # beta_c: K(1) diverges, its prefactor vanishes, the product goes to 0
        return math.sqrt(2) / 2
    big_k = math.pi / (2 * _agm(1.0, kprime))
    slope = 2 * math.tanh(2 * beta) ** 2 - 1
    return (1 + (2 / math.pi) * slope * big_k) / (2 * math.tanh(2 * beta))


def _agm(a: float, b: float) -> float:
    for _ in range(64):  # quadratic convergence: a handful of steps; bounded because rounding can cycle
        if abs(a - b) <= 4e-16 * a:
            break
        a, b = (a + b) / 2, math.sqrt(a * b)
    return a


def _symbol(beta: float, direction: str, theta: torch.Tensor) -> torch.Tensor:
    """The Toeplitz symbol on ``theta`` (complex), continuous on ``(0, 2 pi)`` with value 1 at ``pi``."""
    e = torch.exp(1j * theta)
    if direction == "diagonal":
        k = math.sinh(2 * beta) ** 2
        ratio = (1 - e / k) / (1 - e.conj() / k)
    else:
        z = math.tanh(beta)
        a1, a2 = z * (1 - z) / (1 + z), (1 - z) / (z * (1 + z))
        ratio = (1 - a1 * e) * (1 - a2 * e.conj()) / ((1 - a1 * e.conj()) * (1 - a2 * e))
    phase = torch.angle(ratio)
    # unwrap along theta, then pick the branch (a multiple of 2 pi) whose phase is ~0 next to theta = pi,
    # where ratio = 1 (shifting by the sampled phase itself would rotate the whole symbol by O(grid^-1))
    jumps = torch.diff(phase, prepend=phase[:1])
    phase = phase - 2 * math.pi * torch.cumsum(torch.round(jumps / (2 * math.pi)), 0)
    phase = phase - 2 * math.pi * torch.round(phase[len(phase) // 2] / (2 * math.pi))
    return torch.exp(0.5 * (torch.log(ratio.abs()) + 1j * phase))


def infinite_correlation(beta: float, n: int, direction: str = "axis", grid: int | None = None) -> torch.Tensor:
    """``<x_0 x_r>`` of the infinite lattice for ``r = 0..n`` steps along ``direction``: ``(n + 1,)`` float64.

    ``r`` steps of ``(0, 1)`` (axis) or ``(1, 1)`` (diagonal). Each value is an ``r x r`` Toeplitz
    determinant of the symbol's Fourier coefficients, computed by FFT on ``grid`` points (default: enough
    for the correlation length; at ``beta_c`` the symbol has a jump, so the error there is ``O(1/grid)``).
    """
    beta, direction = check_beta(beta), _check_direction(direction)
    n = lattice.check_int(n, "n", 0, 4096)
    if grid is None:
        xi = correlation_length(beta, direction)
        grid = 2 ** min(22, max(14, math.ceil(math.log2(64 * (n + 1) * (1 + min(xi, 1e6))))))
    grid = lattice.check_int(grid, "grid", 8 * (n + 1))
    theta = (torch.arange(grid, dtype=torch.float64) + 0.5) * (2 * math.pi / grid)  # midpoints of (0, 2 pi)
    coeff = torch.fft.fft(_symbol(beta, direction, theta)) / grid
    # a_m = (1/2pi) int e^{-i m theta} phi = coeff[m] * e^{-i m pi / grid} (the half-cell shift of the grid)
    m = torch.arange(-n, n + 1)
    a = coeff[m % grid] * torch.exp(-1j * math.pi * m.to(torch.float64) / grid)  # complex128
    out = torch.ones(n + 1, dtype=torch.float64)
    idx = torch.arange(n)
    toeplitz = a[(idx[:, None] - idx[None, :]) + n]                 # [i, j] = a_(i-j)
    for r in range(1, n + 1):
        out[r] = torch.linalg.det(toeplitz[:r, :r]).real
    return out

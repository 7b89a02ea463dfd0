"""The Gaussian free field: a strictly nearest-neighbour clean score whose smoothed score is not local.

``x ~ N(0, Q^-1)`` on the periodic ``L x L`` lattice with ``Q = kappa^2 I - Laplacian`` (mass ``kappa > 0``),
so the clean score ``s_0(x) = -Q x`` couples nearest neighbours only. Everything is diagonal in Fourier
space, with the symbol ``q(k) = kappa^2 + 4 - 2 cos k_y - 2 cos k_x``, and exact:

* ``y = x + sigma eps`` is ``N(0, Q^-1 + sigma^2 I)``, so the smoothed score is
  ``s_sigma(y) = -(Q^-1 + sigma^2 I)^-1 y``, symbol ``-q / (1 + sigma^2 q)``;
* the posterior ``X | y`` is Gaussian with covariance ``(Q + sigma^-2 I)^-1`` (the same for every ``y``)
  and mean ``sigma^-2 (Q + sigma^-2 I)^-1 y``; Tweedie (paper Eq. 9) reads
  ``d s_sigma / d y = sigma^-4 Cov(X | y) - sigma^-2 I``.

Writing ``-q / (1 + sigma^2 q) = -sigma^-2 + sigma^-4 / (q + sigma^-2)`` shows the off-site response is the
lattice Green's function of mass^2 ``kappa^2 + sigma^-2``: it decays along an axis like ``exp(-r / xi)``
with ``cosh(1 / xi) = 1 + (kappa^2 + sigma^-2) / 2`` (``response_length``), so it spreads as ``kappa -> 0``
and as ``sigma`` grows, although the clean score has range 1. Maps are indexed ``[dy, dx]`` from the
probe site, like ``ising.exact_correlations``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import lattice, registry


# kappa and a nonzero sigma enter as squares and fourth powers (covariances, inverses): within this range
# every one of them is a normal float64 number, so nothing overflows to inf or underflows to a zero mode
SCALE_RANGE = (torch.finfo(torch.float64).tiny ** 0.25, torch.finfo(torch.float64).max ** 0.25)  # ~1e-77 .. 1e77


def check_kappa(kappa) -> float:
    return lattice.check_in_range(kappa, "kappa", *SCALE_RANGE)


def _check_sigma(sigma) -> float:
    """``sigma >= 0``: 0 is the clean score."""
    sigma = lattice.check_finite(sigma, "sigma")
    if sigma < 0 or 0 < sigma < SCALE_RANGE[0] or sigma > SCALE_RANGE[1]:
        raise ValueError(f"sigma must be 0 (the clean score) or in [{SCALE_RANGE[0]:.3g}, {SCALE_RANGE[1]:.3g}]; "
                         f"got {sigma}")
    return sigma


def symbol(kappa: float, L: int) -> torch.Tensor:
    """``q(k)`` of ``Q = kappa^2 - Laplacian`` on the ``(L, L)`` FFT grid, float64 (all entries ``>= kappa^2``)."""
    kappa, L = check_kappa(kappa), lattice.check_L(L)
    c = torch.cos(2 * math.pi * torch.arange(L, dtype=torch.float64) / L)
    return kappa ** 2 + 4 - 2 * c[:, None] - 2 * c[None, :]


def _score_symbol(kappa: float, sigma: float, L: int) -> torch.Tensor:
    q = symbol(kappa, L)
    return -q / (1 + sigma ** 2 * q)


def _apply(multiplier: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.fft.ifft2(torch.fft.fft2(x) * multiplier).real


def clean_score(x: torch.Tensor, kappa: float) -> torch.Tensor:
    """``s_0(x) = -Q x = -(kappa^2 + 4) x + sum of the four neighbours``: ``(n, L, L)`` -> ``(n, L, L)`` float64."""
    kappa, x = check_kappa(kappa), lattice.check_field(x).to(torch.float64)
    neighbours = sum(torch.roll(x, s, d) for s in (1, -1) for d in (-1, -2))
    return neighbours - (kappa ** 2 + 4) * x


def smoothed_score(y: torch.Tensor, kappa: float, sigma: float) -> torch.Tensor:
    """Exact ``s_sigma(y) = -(Q^-1 + sigma^2 I)^-1 y`` by FFT: ``(n, L, L)`` -> ``(n, L, L)`` float64
    (differentiable in ``y``; ``sigma = 0`` gives the clean score)."""
    kappa, sigma = check_kappa(kappa), _check_sigma(sigma)
    y = lattice.check_field(y, name="y").to(torch.float64)
    return _apply(_score_symbol(kappa, sigma, y.shape[-1]), y)


def score_response(kappa: float, sigma: float, L: int) -> torch.Tensor:
    """``(L, L)`` float64, ``[dy, dx] = d s_sigma,(0,0) / d y_(dy,dx)``: the same for every ``y`` and, by
    translation invariance, every probe site (``torch.roll`` it there)."""
    kappa, sigma, L = check_kappa(kappa), _check_sigma(sigma), lattice.check_L(L)
    if sigma == 0:  # the clean stencil, written out so its zeros are exact (an FFT leaves 1e-16 everywhere)
        row = torch.zeros(L, L, dtype=torch.float64)
        row[0, 0] = -(kappa ** 2 + 4)
        row[1, 0] = row[-1, 0] = row[0, 1] = row[0, -1] = 1.0
        return row
    # the kernel is symmetric under (dy, dx) -> (-dy, -dx), so the Jacobian row is the kernel itself
    return torch.fft.ifft2(_score_symbol(kappa, sigma, L)).real


def posterior_covariance(kappa: float, sigma: float, L: int) -> torch.Tensor:
    """``(L, L)`` float64, ``[dy, dx] = Cov(X_(0,0), X_(dy,dx) | y) = ((Q + sigma^-2 I)^-1)`` row; ``sigma > 0``."""
    kappa, L = check_kappa(kappa), lattice.check_L(L)
    sigma = lattice.check_in_range(sigma, "sigma", *SCALE_RANGE)
    return torch.fft.ifft2(1 / (symbol(kappa, L) + sigma ** -2)).real


def covariance(kappa: float, L: int) -> torch.Tensor:
    """The prior's ``(L, L)`` covariance map ``Cov(X_(0,0), X_(dy,dx)) = (Q^-1)`` row, float64."""
    return torch.fft.ifft2(1 / symbol(kappa, L)).real


def sample(n: int, L: int, kappa: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` exact draws of ``N(0, Q^-1)``: ``(n, L, L)`` float64 (white noise filtered by ``q^-1/2``)."""
    n, kappa, L = lattice.check_int(n, "n", 1), check_kappa(kappa), lattice.check_L(L)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
    # the white noise, its complex128 FFT and the filtered result
    lattice.check_memory(n * L * L, 48, f"{n} Gaussian field(s) of L={L}")
    white = torch.randn(n, L, L, dtype=torch.float64, generator=generator)
    return _apply(symbol(kappa, L) ** -0.5, white)


def response_length(kappa: float, sigma: float) -> float:
    """Decay length (lattice spacings) of the off-site smoothed-score response along an axis on the
    infinite lattice: ``1 / arccosh(1 + m^2 / 2)``, ``m^2 = kappa^2 + sigma^-2``. ``sigma = 0``: 0 (the clean
    score has no off-site response beyond the nearest neighbours)."""
    kappa, sigma = check_kappa(kappa), _check_sigma(sigma)
    if sigma == 0:
        return 0.0
    return 1 / math.acosh(1 + (kappa ** 2 + sigma ** -2) / 2)


@registry.data_config
@dataclass(frozen=True)
class GaussianFieldConfig:
    """A Gaussian free field of mass ``kappa`` as a data source (``GaussianField``)."""

    kappa: float

    def __post_init__(self):
        check_kappa(self.kappa)


class GaussianField:
    """The Gaussian free field as a ``training.DataSource`` with an exact clean score: DSM can train on it
    and ``training.fit_exact_score`` can fit it, with every answer known in closed form."""

    def __init__(self, config: GaussianFieldConfig):
        if not isinstance(config, GaussianFieldConfig):
            raise TypeError(f"config must be a GaussianFieldConfig; got {type(config).__name__}")
        self.config = config

    def sample(self, n: int, L: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` exact samples ``(n, L, L)`` float64 (``sample`` above)."""
        return sample(n, L, self.config.kappa, generator=generator)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """The exact clean score ``-Q x`` (``clean_score`` above)."""
        return clean_score(x, self.config.kappa)

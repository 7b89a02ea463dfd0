"""Statistics shared across fdlf: an estimate with its error bar, the blocking error bar of a correlated
series (Ising Wolff/heat bath, MALA), and the mean and s.e.m. over independent runs (result summaries)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import lattice


@dataclass(frozen=True)
class Estimate:
    """A number (or tensor) with its standard error; ``stderr`` is 0 for exact values.

    ``tau_int``: the integrated autocorrelation time (in samples) implied by the blocking analysis,
    ``(stderr / naive stderr)^2 / 2``; None for exact values.
    """

    value: float | torch.Tensor
    stderr: float | torch.Tensor
    method: str
    tau_int: float | torch.Tensor | None = None


def binned_mean(series: torch.Tensor, min_blocks: int = 16) -> Estimate:
    """Mean of a Markov-chain ``series (n, ...)`` with a blocking error bar (Flyvbjerg & Petersen 1989).

    Block means over blocks of ``2^k`` consecutive entries for every ``k`` that leaves ``>= min_blocks``
    blocks; the standard error is the largest of their standard errors (the plateau, conservatively), and
    ``tau_int = (stderr / naive stderr)^2 / 2``. Elementwise over the trailing dimensions.
    """
    if not isinstance(series, torch.Tensor) or series.dim() < 1 or series.shape[0] < 2:
        raise ValueError("series must be a tensor (n, ...) with n >= 2 entries")
    min_blocks = lattice.check_int(min_blocks, "min_blocks", 2)
    x = series.to(torch.float64)
    naive = x.std(0) / math.sqrt(x.shape[0])
    best, size = naive, 1
    while x.shape[0] // (2 * size) >= min_blocks:
        size *= 2
        n_blocks = x.shape[0] // size
        blocks = x[: n_blocks * size].reshape(n_blocks, size, *x.shape[1:]).mean(1)
        best = torch.maximum(best, blocks.std(0) / math.sqrt(n_blocks))
    tau = torch.where(naive > 0, (best / naive) ** 2 / 2, torch.full_like(naive, 0.5))
    scalar = x.dim() == 1
    return Estimate(float(x.mean()) if scalar else x.mean(0), float(best) if scalar else best,
                    f"blocking mean of {x.shape[0]} samples", float(tau) if scalar else tau)


def sem(values: list[float]) -> float:
    """Standard error of the mean of independent values: sample std (ddof 1) / sqrt(n); NaN for n < 2."""
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def mean(values: list[float]) -> float:
    """Arithmetic mean; NaN for no values (a metric not measured in any run of a group)."""
    return sum(values) / len(values) if values else math.nan

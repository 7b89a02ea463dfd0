"""Tweedie's covariance identity (paper Eq. 9, and Eq. 22 at y = 0): the smoothed-score response from a
posterior covariance. The one place fdlf turns a covariance into a response.

    d s_sigma(y)_i / d y_j = sigma^-4 Cov(X_i, X_j | y) - sigma^-2 [i == j]
"""
from __future__ import annotations

import torch

from . import lattice


def response(cov: torch.Tensor, sigma: float, self_index=None) -> torch.Tensor:
    """The smoothed-score response ``sigma^-4 cov``, minus ``sigma^-2`` at ``self_index``.

    ``cov``: any tensor of posterior covariances ``Cov(X_i, X_j | y)`` between one site ``i`` and sites
    ``j`` (a row ``(L, L)``, a profile over distance ``(D,)``, or a whole matrix); ``self_index``: the
    index in ``cov`` where ``j == i`` (a tuple for a row, ``0`` for a profile), ``"diagonal"`` for a square
    matrix ``Cov(X_i, X_j | y)`` over all ``i, j``, or None when ``cov`` holds off-site entries only.
    Returns a new tensor of ``cov``'s dtype.
    """
    if not isinstance(cov, torch.Tensor) or not cov.is_floating_point():
        raise TypeError(f"cov must be a floating-point torch.Tensor; got {type(cov).__name__}")
    info = torch.finfo(cov.dtype)  # sigma^4 must be a normal number of cov's dtype, or the response is inf / 0
    sigma = lattice.check_in_range(sigma, "sigma", info.tiny ** 0.25, info.max ** 0.25,
                                   f" for a {cov.dtype} cov (sigma^4 must be a normal number)")
    out = cov / sigma ** 4
    if isinstance(self_index, str):
        if self_index != "diagonal" or cov.dim() != 2 or cov.shape[0] != cov.shape[1]:
            raise ValueError(f"self_index must be an index, None, or 'diagonal' for a square matrix; got "
                             f"{self_index!r} for shape {tuple(cov.shape)}")
        out.diagonal().sub_(sigma ** -2)
    elif self_index is not None:
        try:
            out[self_index] -= sigma ** -2
        except (IndexError, TypeError):
            raise ValueError(f"self_index must be an index into cov (shape {tuple(cov.shape)}); got {self_index!r}") from None
    return out

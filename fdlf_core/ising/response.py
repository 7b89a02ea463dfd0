"""The Gaussian-smoothed Ising score and its response (paper Eqs. 9, 21, 22).

With ``y = x + sigma eps``, the noisy marginal ``p_sigma(y) = sum_x p_beta(x) N(y; x, sigma^2 I)`` has
posterior ``pi(x | y) ~ exp(beta sum_<ij> x_i x_j + sigma^-2 y . x)`` (Eq. 21) and score (Tweedie)
``s(y) = (E[X | y] - y) / sigma^2``, whose Jacobian is ``sigma^-4 Cov(X | y) - sigma^-2 I`` (Eq. 9). At
``y = 0`` the posterior is the zero-field model, so ``d s_i(0) / d y_j = sigma^-4 <x_i x_j>`` for ``i != j``
(Eq. 22). On ``L <= 4`` everything here is an exact sum over all states, differentiable in ``y``.
"""
from __future__ import annotations

import math

import torch

from .. import lattice, tweedie
from .exact import (MAX_ENUMERATION_L, MAX_TRANSFER_L, all_states, bond_sum, check_beta, check_ising_L,
                    exact_correlations, infinite_correlation)
from ..stats import Estimate, binned_mean
from .sampling import per_sample_correlations, wolff_sample


def _check_y(y) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor (L, L); got {type(y).__name__}")
    if y.dim() != 2 or y.shape[0] != y.shape[1]:
        raise ValueError(f"y must be one (L, L) field; got shape {tuple(y.shape)}")
    check_ising_L(y.shape[0], MAX_ENUMERATION_L, "the exact smoothed score (enumeration)")
    if not y.is_floating_point() or not bool(torch.isfinite(y).all()):
        raise ValueError("y must be a finite floating-point tensor")
    return y.to(torch.float64)


def _posterior(y: torch.Tensor, beta: float, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """All states ``(S, L*L)`` and their posterior probabilities ``(S,)`` given ``y`` (differentiable)."""
    x = all_states(y.shape[0])
    logw = beta * bond_sum(x) + (x * y).sum(dim=(1, 2)) / sigma ** 2
    return x.reshape(len(x), -1), torch.softmax(logw, 0)


def smoothed_log_density(y: torch.Tensor, beta: float, sigma: float) -> torch.Tensor:
    """Exact ``log p_sigma(y)`` (a 0-dim float64 tensor, differentiable in ``y``) for ``y (L, L)``, ``L <= 4``."""
    y, beta, sigma = _check_y(y), check_beta(beta), lattice.check_positive(sigma, "sigma")
    x = all_states(y.shape[0])
    n = y.numel()
    log_weight = beta * bond_sum(x)
    log_prior = log_weight - torch.logsumexp(log_weight, 0)
    log_lik = -((y - x) ** 2).sum(dim=(1, 2)) / (2 * sigma ** 2) - n * math.log(sigma * math.sqrt(2 * math.pi))
    return torch.logsumexp(log_prior + log_lik, 0)


def smoothed_score(y: torch.Tensor, beta: float, sigma: float) -> torch.Tensor:
    """Exact smoothed score ``(E[X | y] - y) / sigma^2``: ``y (L, L)`` -> ``(L, L)`` float64, ``L <= 4``."""
    y, beta, sigma = _check_y(y), check_beta(beta), lattice.check_positive(sigma, "sigma")
    x, w = _posterior(y, beta, sigma)
    return ((w @ x).reshape(y.shape) - y) / sigma ** 2


def posterior_covariance(y: torch.Tensor, beta: float, sigma: float) -> torch.Tensor:
    """Exact ``Cov(X | y)``: ``(L*L, L*L)`` float64 over sites in row-major order, ``L <= 4``."""
    y, beta, sigma = _check_y(y), check_beta(beta), lattice.check_positive(sigma, "sigma")
    x, w = _posterior(y, beta, sigma)
    mean = w @ x
    return (x * w[:, None]).T @ x - torch.outer(mean, mean)


MAX_INFINITE_D = 4096  # infinite_correlation's largest distance


def smoothed_score_response(beta: float, sigma: float, d: int, L: int | None, n_samples: int = 2000,
                            seed: int = 0, progress: bool = True) -> Estimate:
    """``d s_(0,0)(0) / d y_(0,d) = sigma^-4 <x_(0,0) x_(0,d)>`` (Eq. 22) for the axis displacement ``(0, d)``.

    ``L``: the periodic lattice size (``1 <= d < L / 2``), or None for the infinite lattice. Exact
    (``stderr`` 0) for ``L <= 10`` (enumeration / transfer matrix) and for the infinite lattice (Toeplitz
    determinant); otherwise the mean over ``n_samples`` Wolff samples (seed ``seed``) of the site- and
    direction-averaged correlation, with a blocking error bar.
    """
    beta, sigma = check_beta(beta), lattice.check_positive(sigma, "sigma")
    if L is None:
        d = lattice.check_int(d, "d", 1, MAX_INFINITE_D)
        corr = infinite_correlation(beta, d)[d]
        return Estimate(float(tweedie.response(corr, sigma)), 0.0, "infinite lattice (Toeplitz determinant)")
    L = check_ising_L(L)
    if L < 3:
        raise ValueError(f"L must be >= 3 for a displacement 1 <= d < L/2; got L={L}")
    d = lattice.check_int(d, "d", 1, (L - 1) // 2)
    if L <= MAX_TRANSFER_L:
        method = "enumeration" if L <= MAX_ENUMERATION_L else "transfer matrix"
        corr = exact_correlations(L, beta)[0, d]
        return Estimate(float(tweedie.response(corr, sigma)), 0.0, f"exact ({method}, L={L})")
    samples = wolff_sample(L, beta, n_samples, seed=seed, progress=progress)
    est = binned_mean(per_sample_correlations(samples)[:, d])
    return Estimate(float(tweedie.response(torch.as_tensor(est.value, dtype=torch.float64), sigma)),
                    est.stderr / sigma ** 4, f"Wolff, L={L}, {n_samples} samples",
                    est.tau_int)


def learned_response(model: torch.nn.Module, sigma: float, L: int) -> torch.Tensor:
    """A score model's response at ``y = 0``: ``(L, L)`` float64, ``[dy, dx] = d s_(0,0)(0) / d y_(dy,dx)``.

    The Jacobian row of site ``(0, 0)`` by autograd (any site would do for a translation-equivariant
    model), indexed like ``exact_correlations``; off the origin it estimates
    ``sigma^-4 <x_0 x_(dy,dx)>`` (Eq. 22), at the origin ``sigma^-4 - sigma^-2``. ``y`` takes the model's
    parameter dtype (float64 for a parameter-free, e.g. exact, model).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module with forward(x, sigma); got {type(model).__name__}")
    sigma, L = lattice.check_positive(sigma, "sigma"), check_ising_L(L)
    param = next(model.parameters(), None)
    y = torch.zeros(1, L, L, dtype=torch.float64 if param is None else param.dtype, requires_grad=True)
    grad, = torch.autograd.grad(model(y, sigma)[0, 0, 0], y)
    return grad[0].to(torch.float64)

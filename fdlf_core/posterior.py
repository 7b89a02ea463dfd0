"""The smoothed-score response at any ``y`` from the noisy posterior (paper Eq. 9), by MALA.

For a clean density with exact ``log p`` and score (an FDLF teacher, the Gaussian field), the posterior
of ``X`` given ``y = x + sigma eps`` is ``pi(x | y) ~ p(x) exp(-|y - x|^2 / (2 sigma^2))`` with
``grad log pi = s_0(x) + (y - x) / sigma^2``. Metropolis-adjusted Langevin chains sample it, and Tweedie
turns the posterior covariance into the Jacobian row of the smoothed score at ``site``:

    d s_sigma(y)_site / d y_j = sigma^-4 Cov(X_site, X_j | y) - sigma^-2 [j == site].

This goes beyond the paper, which measures responses of the clean score and, for Ising, at ``y = 0``.
Error bars: blocking (``binned_mean``) over time of the chain-averaged centred products.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import lattice, tweedie
from .progress import bar as progress_bar
from .stats import Estimate, binned_mean


@dataclass(frozen=True)
class MALAConfig:
    """``n_chains`` parallel chains of ``n_steps`` steps after ``burn_in`` steps; the step size adapts
    during burn-in toward ``target_accept`` (0.574 is optimal for MALA in high dimension) and is fixed after."""

    n_chains: int = 16
    n_steps: int = 2000
    burn_in: int = 500
    target_accept: float = 0.574
    seed: int = 0

    def __post_init__(self):
        lattice.check_int(self.n_chains, "n_chains", 1)
        lattice.check_int(self.n_steps, "n_steps", 32)
        lattice.check_int(self.burn_in, "burn_in", 0)
        if not 0 < self.target_accept < 1:
            raise ValueError(f"target_accept must be in (0, 1); got {self.target_accept}")
        lattice.check_int(self.seed, "seed", 0)


def smoothed_response(log_prob: Callable[[torch.Tensor], torch.Tensor],
                      score: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, sigma: float,
                      site: tuple[int, int], config: MALAConfig = MALAConfig(),
                      progress: bool = True) -> tuple[Estimate, dict]:
    """The row ``d s_sigma(y)_site / d y`` by MALA on ``pi(x | y)``.

    ``log_prob``, ``score``: the clean ``log p`` ``(n, L, L) -> (n,)`` and ``grad log p`` ``(n, L, L) ->
    (n, L, L)``, float64 (e.g. ``teacher.log_prob`` and ``teacher.score``). ``y``: one noisy field
    ``(L, L)``. Returns the row as an ``Estimate`` of ``(L, L)`` float64 tensors (value, stderr, tau_int in
    steps) and chain diagnostics ``{"acceptance", "step", "n_chains", "n_steps", "burn_in"}``.
    """
    if not callable(log_prob) or not callable(score):
        raise TypeError("log_prob and score must be callables on (n, L, L) float64 fields")
    if not isinstance(config, MALAConfig):
        raise TypeError(f"config must be a MALAConfig; got {type(config).__name__}")
    y = lattice.check_field(y[None] if isinstance(y, torch.Tensor) and y.dim() == 2 else y, name="y")
    if y.shape[0] != 1:
        raise ValueError(f"y must be one noisy field (L, L); got shape {tuple(y.shape)}")
    y = y.to(torch.float64)
    sigma = lattice.check_positive(sigma, "sigma")
    L = y.shape[-1]
    site = lattice.check_site(site, L)
    gen = torch.Generator().manual_seed(config.seed)

    def log_post(x):
        return log_prob(x) - ((y - x) ** 2).sum((1, 2)) / (2 * sigma ** 2)

    def grad_post(x):
        return score(x) + (y - x) / sigma ** 2

    x = y.expand(config.n_chains, L, L).clone()
    lp, grad = log_post(x), grad_post(x)
    step = 0.5 * sigma / math.sqrt(L)  # a start well inside the stable range; burn-in adapts it
    products, means, accepted = [], [], 0
    total = config.burn_in + config.n_steps
    for t in progress_bar(total, f"MALA L={L}", progress):
        noise = torch.randn(x.shape, dtype=torch.float64, generator=gen)
        prop = x + 0.5 * step ** 2 * grad + step * noise
        lp_prop, grad_prop = log_post(prop), grad_post(prop)
        # log q(x | prop) - log q(prop | x) for q(a | b) = N(a; b + step^2 grad(b) / 2, step^2 I)
        back = ((x - prop - 0.5 * step ** 2 * grad_prop) ** 2).sum((1, 2))
        forth = ((prop - x - 0.5 * step ** 2 * grad) ** 2).sum((1, 2))
        log_alpha = lp_prop - lp + (forth - back) / (2 * step ** 2)
        accept = torch.log(torch.rand(config.n_chains, dtype=torch.float64, generator=gen)) < log_alpha
        x = torch.where(accept[:, None, None], prop, x)
        lp = torch.where(accept, lp_prop, lp)
        grad = torch.where(accept[:, None, None], grad_prop, grad)
        rate = float(accept.double().mean())
        if t < config.burn_in:
            step *= math.exp(0.5 * (rate - config.target_accept))
        else:
            accepted += int(accept.sum())
            products.append((x[:, site[0], site[1], None, None] * x).mean(0))  # (L, L): chain mean of x_s x_j
            means.append(x.mean(0))
    prod, mean = torch.stack(products), torch.stack(means)                 # (n_steps, L, L)
    m = mean.mean(0)
    # centred with the overall means: Cov_t(j) = <x_s x_j>_t - m_s m_j; their time average is the estimate
    cov = binned_mean(prod - m[site] * m)
    value = tweedie.response(cov.value, sigma, self_index=site)
    diagnostics = {"acceptance": accepted / (config.n_steps * config.n_chains), "step": step,
                   "n_chains": config.n_chains, "n_steps": config.n_steps, "burn_in": config.burn_in}
    return Estimate(value, cov.stderr / sigma ** 4, f"MALA, {config.n_chains} chains x {config.n_steps} steps",
                    cov.tau_int), diagnostics

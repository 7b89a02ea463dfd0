"""Size-extrapolation diagnostics of a 3D conditional score model against the hard-valid teacher (Fig. 3).

The 2D definitions (``fdlf_core.diagnostics``) on the open ``L^3`` box, on the occupied sites only (the
continuous score exists nowhere else), with the paper's error bars for this benchmark: standard errors over
evaluation batches and over finite-difference repeats of the one trained model (Section C.2).

- Score RMSE (Eq. 16): ``sqrt(sum |s_theta(c, sigma; b, a) - s_0|^2 / sum |s_0|^2)`` over occupied sites and
  both coordinates of every sample of a batch, at ``sigma = SIGMA_EVAL``.
- Response errors (Eq. 17): per sample, a probe drawn uniformly among the occupied sites; a band's region is
  the occupied sites at Chebyshev distance ``d`` in the band from it (near ``1 <= d <= 2``, far ``d >= 3``,
  up to the box's edge); ``c`` is shifted by ``delta`` on every coordinate of the region, and the response
  is the change of the score at the probe (both coordinates). Relative band errors, NaN where the band's
  exact response is below ``UNDEFINED_BELOW`` of the total, and the errors over the total response, as in 2D.

Samples and probes come from ``seed`` alone: two models evaluated with one seed see the same states.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import lattice, stats
from ..diagnostics import (DELTA, FAR_BAND, NEAR_BAND, SIGMA_EVAL, UNDEFINED_BELOW, band_errors, check_delta,
                           model_score)
from .ports import check_L3
from .teacher import HardValidTeacher, State, distance_map3


def _check_common(model, teacher, L, n, batches, seed, sigma):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module with forward(c, sigma, b, a); got {type(model).__name__}")
    if not isinstance(teacher, HardValidTeacher):
        raise TypeError(f"teacher must be a fdlf_core.hardvalid.HardValidTeacher; got {type(teacher).__name__}")
    return (check_L3(L), lattice.check_int(n, "n", 1), lattice.check_int(batches, "batches", 1),
            lattice.check_int(seed, "seed", 0), lattice.check_positive(sigma, "sigma"))


def score_rmse(model: nn.Module, teacher: HardValidTeacher, L: int, n: int = 2, batches: int = 4, seed: int = 0,
               sigma: float = SIGMA_EVAL) -> dict[str, object]:
    """Occupied-site clean-score relative RMSE on ``batches`` batches of ``n`` fresh samples at size ``L``.

    Returns ``{"value"``: over all batches pooled, ``"stderr"``: the standard error of the per-batch values
    (NaN for one batch; the error bar of the pooled value, as for a mean), ``"per_batch"``: the list of them``}``.
    """
    L, n, batches, seed, sigma = _check_common(model, teacher, L, n, batches, seed, sigma)
    gen = torch.Generator().manual_seed(seed)
    err2, ref2 = [], []
    for _ in range(batches):
        state = teacher.sample(n, L, generator=gen)
        exact = teacher.score(state)
        err2.append(float(((model_score(model, state.c, sigma, b=state.b, a=state.a) - exact) ** 2).sum()))
        ref2.append(float((exact ** 2).sum()))
        if ref2[-1] == 0:
            raise ValueError(f"an evaluation batch of {n} sample(s) at L={L} has no occupied site (its exact score "
                             f"is 0); use a larger L or n")
    per_batch = [(e / r) ** 0.5 for e, r in zip(err2, ref2)]
    return {"value": (sum(err2) / sum(ref2)) ** 0.5, "stderr": stats.sem(per_batch), "per_batch": per_batch}


def _random_probe(state: State, gen: torch.Generator) -> tuple[int, int, int]:
    sites = state.occupied()[0].nonzero()
    if sites.shape[0] == 0:
        raise ValueError(f"a sample at L={state.L} has no occupied site to probe; use a larger L")
    return tuple(int(v) for v in sites[int(torch.randint(sites.shape[0], (1,), generator=gen))])


def _band_responses(model, teacher, state: State, probe, delta: float, sigma: float):
    """Finite-difference responses at ``probe`` of one sample to shifting each band: teacher and model,
    each ``(2, d_c)`` (near, far)."""
    dist = distance_map3(state.L, probe)
    occ = state.occupied()[0]
    regions = [(dist >= NEAR_BAND[0]) & (dist <= NEAR_BAND[1]) & occ, (dist >= FAR_BAND[0]) & occ]
    shifted = torch.cat([state.c] + [state.c + delta * region.to(state.c.dtype) for region in regions])
    states = State(state.b.expand(3, -1, -1, -1), state.a.expand(3, -1, -1, -1), shifted)
    at_probe = lambda s: s[(slice(None), slice(None), *probe)]           # (3, d_c)
    exact = at_probe(teacher.score(states))
    learned = at_probe(model_score(model, states.c, sigma, b=states.b, a=states.a))
    return exact[1:] - exact[0], learned[1:] - learned[0]


def response_errors(model: nn.Module, teacher: HardValidTeacher, L: int, n: int = 2, repeats: int = 4,
                    seed: int = 0, delta: float = DELTA, sigma: float = SIGMA_EVAL) -> dict[str, object]:
    """Near and far response errors (module docstring) over ``repeats`` repeats of ``n`` probed samples.

    Returns ``near``, ``far``, ``near_of_total``, ``far_of_total`` (pooled over every repeat), each with a
    ``<name>_stderr`` (the standard error of the per-repeat values), and ``definition`` for result files.
    """
    L, n, repeats, seed, sigma = _check_common(model, teacher, L, n, repeats, seed, sigma)
    if L - 1 < FAR_BAND[0]:
        raise ValueError(f"L must be >= {FAR_BAND[0] + 1} for response_errors (the far band starts at distance "
                         f"{FAR_BAND[0]}); got {L}")
    delta = check_delta(delta)
    gen = torch.Generator().manual_seed(seed)
    error, band = torch.zeros(repeats, 2, dtype=torch.float64), torch.zeros(repeats, 2, dtype=torch.float64)
    for r in range(repeats):
        states = teacher.sample(n, L, generator=gen)
        for k in range(n):
            one = states[k]
            d_exact, d_model = _band_responses(model, teacher, one, _random_probe(one, gen), delta, sigma)
            error[r] += ((d_model - d_exact) ** 2).sum(-1)
            band[r] += (d_exact ** 2).sum(-1)
    pooled = band_errors(error.sum(0), band.sum(0))
    # each repeat's value with the pooled value's definedness: a relative band error is undefined for the
    # whole set (NaN) or measured in every repeat that has a response in that band
    keys = ("near", "far", "near_of_total", "far_of_total")
    per_repeat = {key: [] for key in keys}
    for r in range(repeats):
        for b, key in enumerate(("near", "far")):
            if band[r, b] > 0:
                per_repeat[key].append(float(torch.sqrt(error[r, b] / band[r, b])))
            if band[r].sum() > 0:
                per_repeat[f"{key}_of_total"].append(float(torch.sqrt(error[r, b] / band[r].sum())))
    out: dict[str, object] = {key: pooled[key] for key in keys}
    for key in keys:
        out[f"{key}_stderr"] = math.nan if math.isnan(pooled[key]) else stats.sem(per_repeat[key])
    out["definition"] = {
        "near_band": list(NEAR_BAND), "far_band": [FAR_BAND[0], L - 1], "delta": delta, "sigma": sigma, "n": n,
        "repeats": repeats, "seed": seed, "probe": "uniform over the occupied sites of each sample",
        "perturbation": "shift delta of every coordinate on the band's occupied sites",
        "normalisation": "sqrt(sum (ds_model - ds_exact)^2 / sum ds_exact^2) at the probe, both coordinates",
        "undefined_below": UNDEFINED_BELOW, "far_share": pooled["far_share"],
        "stderr": "standard error of the per-repeat values (repeats with a response in the band)"}
    return out

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

import torch
from torch import nn

from .. import lattice, stats
from ..diagnostics import DELTA, FAR_BAND, NEAR_BAND, SIGMA_EVAL, UNDEFINED_BELOW
from ..models import model_dtype
from .teacher import HardValidTeacher, State, distance_map3


def _check_common(model, teacher, L, n, batches, seed, sigma):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module with forward(c, sigma, b, a); got {type(model).__name__}")
    if not isinstance(teacher, HardValidTeacher):
        raise TypeError(f"teacher must be a fdlf_core.hardvalid.HardValidTeacher; got {type(teacher).__name__}")
    return (lattice.check_int(L, "L", 2), lattice.check_int(n, "n", 1), lattice.check_int(batches, "batches", 1),
            lattice.check_int(seed, "seed", 0), lattice.check_positive(sigma, "sigma"))


def model_score(model: nn.Module, state: State, sigma: float) -> torch.Tensor:
    """The model's score of ``state`` at ``sigma``, ``(n, d_c, L, L, L)`` float64, without autograd."""
    with torch.no_grad():
        out = model(state.c.to(model_dtype(model)), sigma, state.b, state.a)
    if not isinstance(out, torch.Tensor) or out.shape != state.c.shape:
        raise ValueError(f"model(c, sigma, b, a) must return a tensor of c's shape {tuple(state.c.shape)}; got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"model(c, sigma={sigma}, b, a) returned NaN or inf at L={state.L}; the model is broken "
                         f"(diverged training?), not the input")
    return out.to(torch.float64)


def score_rmse(model: nn.Module, teacher: HardValidTeacher, L: int, n: int = 2, batches: int = 4, seed: int = 0,
               sigma: float = SIGMA_EVAL) -> dict[str, object]:
    """Occupied-site clean-score relative RMSE on ``batches`` batches of ``n`` fresh samples at size ``L``.

    Returns ``{"value"``: over all batches pooled, ``"stderr"``: the standard error of the per-batch values
    (NaN for one batch), ``"per_batch"``: the list of them``}``.
    """
    L, n, batches, seed, sigma = _check_common(model, teacher, L, n, batches, seed, sigma)
    gen = torch.Generator().manual_seed(seed)
    err2, ref2 = [], []
    for _ in range(batches):
        state = teacher.sample(n, L, generator=gen)
        exact = teacher.score(state)
        err2.append(float(((model_score(model, state, sigma) - exact) ** 2).sum()))
        ref2.append(float((exact ** 2).sum()))
    per_batch = [(e / r) ** 0.5 for e, r in zip(err2, ref2)]
    return {"value": (sum(err2) / sum(ref2)) ** 0.5, "stderr": stats.sem(per_batch), "per_batch": per_batch}


def _probe(state: State, gen: torch.Generator) -> tuple[int, int, int]:
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
    learned = at_probe(model_score(model, states, sigma))
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
    if not 0 < lattice.check_positive(delta, "delta") <= 1:
        raise ValueError(f"delta must be in (0, 1] (a finite-difference step; default {DELTA}); got {delta}")
    gen = torch.Generator().manual_seed(seed)
    error, band = torch.zeros(repeats, 2, dtype=torch.float64), torch.zeros(repeats, 2, dtype=torch.float64)
    for r in range(repeats):
        states = teacher.sample(n, L, generator=gen)
        for k in range(n):
            one = states[k]
            d_exact, d_model = _band_responses(model, teacher, one, _probe(one, gen), delta, sigma)
            error[r] += ((d_model - d_exact) ** 2).sum(-1)
            band[r] += (d_exact ** 2).sum(-1)

    def measures(err: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
        share = torch.sqrt(ref / ref.sum())
        relative = torch.where(share >= UNDEFINED_BELOW, torch.sqrt(err / ref), torch.tensor(float("nan")))
        of_total = torch.sqrt(err / ref.sum())
        return {"near": float(relative[0]), "far": float(relative[1]), "near_of_total": float(of_total[0]),
                "far_of_total": float(of_total[1]), "far_share": float(share[1])}

    pooled = measures(error.sum(0), band.sum(0))
    per_repeat = [measures(error[r], band[r]) for r in range(repeats)]
    out: dict[str, object] = {k: v for k, v in pooled.items() if k != "far_share"}
    for key in ("near", "far", "near_of_total", "far_of_total"):
        out[f"{key}_stderr"] = stats.sem([m[key] for m in per_repeat])
    out["definition"] = {
        "near_band": list(NEAR_BAND), "far_band": [FAR_BAND[0], L - 1], "delta": delta, "sigma": sigma, "n": n,
        "repeats": repeats, "seed": seed, "probe": "uniform over the occupied sites of each sample",
        "perturbation": "shift delta of every coordinate on the band's occupied sites",
        "normalisation": "sqrt(sum (ds_model - ds_exact)^2 / sum ds_exact^2) at the probe, both coordinates",
        "undefined_below": UNDEFINED_BELOW, "far_share": pooled["far_share"],
        "stderr": "standard error of the per-repeat values"}
    return out

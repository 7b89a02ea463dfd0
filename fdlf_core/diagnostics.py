"""Size-extrapolation diagnostics of a score model against an exact teacher (paper Eq. 5, 16, 17).

``model`` is any ``nn.Module`` with ``forward(x, sigma) -> (n, L, L)``; the teacher's exact clean score is
the reference. Evaluation samples and probe sites come from ``seed`` alone, so two models evaluated with
the same seed see the same fields and the same probes.

Response error (Eq. 17), the definition used everywhere in fdlf:

- a probe site ``i`` is drawn uniformly per sample; a region ``A`` is the set of sites at periodic
  Chebyshev distance ``d`` from ``i`` with ``d`` in a band;
- the field is perturbed by a constant shift on the region, ``x + delta 1_A``; the responses are the
  finite differences at the probe, ``Delta s_0 = s_0(x + delta 1_A)_i - s_0(x)_i`` for the teacher and
  ``Delta s_theta`` likewise for the model at ``sigma`` (default ``sigma_min = 0.005``);
- the relative error of a band is ``sqrt(sum_n (Delta s_theta - Delta s_0)^2 / sum_n (Delta s_0)^2)``
  over the ``n`` samples; ``near`` is the band ``1 <= d <= 2``, ``far`` is ``d >= 3`` (every site
  beyond the near band, up to ``L/2``), ``delta = 0.01``.

A model that ignores a region entirely has relative error 1 on it; a far error near 1 means the
far response is not captured. A relative band error divides by the exact response of that band, which
is ~0 where a local teacher has (almost) no response, so it is reported as undefined (NaN) where the
band's exact response is below ``UNDEFINED_BELOW`` (5 %) of the total; ``near_of_total`` /
``far_of_total`` divide the same error by the exact *total* response instead,
``sqrt(sum_n (Delta s_0,near^2 + Delta s_0,far^2))``, so they stay readable for every teacher (a model
that ignores a band scores that band's share of the total response).
"""
from __future__ import annotations

import torch
from torch import nn

from . import lattice
from .models import model_dtype
from .teachers import Teacher

NEAR_BAND = (1, 2)
FAR_BAND = (3, None)
DELTA = 0.01
SIGMA_EVAL = 0.005
UNDEFINED_BELOW = 0.05  # a band whose exact response is below this fraction of the total: relative error NaN


def _check_common(model, teacher, L, n, seed, sigma):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module with forward(x, sigma); got {type(model).__name__}")
    if not isinstance(teacher, Teacher):
        raise TypeError(f"teacher must be a fdlf_core.teachers.Teacher; got {type(teacher).__name__}")
    return (lattice.check_L(L), lattice.check_int(n, "n", 1), lattice.check_int(seed, "seed", 0),
            lattice.check_positive(sigma, "sigma"))


def model_score(model: nn.Module, x: torch.Tensor, sigma: float, **condition) -> torch.Tensor:
    """Model score at ``sigma`` in float64, evaluated in the model's own dtype without autograd; a
    conditioned model (the 3D hard-valid one) gets its discrete inputs as ``condition`` keywords."""
    inputs = "".join(f", {name}" for name in condition)
    with torch.no_grad():
        out = model(x.to(model_dtype(model)), sigma, **condition)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        raise ValueError(f"model(x, sigma{inputs}) must return a tensor of the input's shape {tuple(x.shape)}; got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    if not bool(torch.isfinite(out).all()):  # a diverged model: say so rather than report an RMSE of nan
        raise ValueError(f"model(x, sigma={sigma}{inputs}) returned NaN or inf on {x.shape[0]} field(s) of "
                         f"L={x.shape[-1]}; the model is broken (diverged training?), not the input")
    return out.to(torch.float64)


def score_rmse(model: nn.Module, teacher: Teacher, L: int, n: int = 8, seed: int = 0,
               sigma: float = SIGMA_EVAL) -> float:
    """Clean-score relative RMSE (Eq. 16) on ``n`` fresh teacher samples at size ``L``.

    ``sqrt(sum |s_theta(x, sigma) - s_0(x)|^2 / sum |s_0(x)|^2)``, sums over samples and sites.
    """
    L, n, seed, sigma = _check_common(model, teacher, L, n, seed, sigma)
    x = teacher.sample(n, L, generator=torch.Generator().manual_seed(seed))
    exact = teacher.score(x)
    err = model_score(model, x, sigma) - exact
    return float(torch.sqrt((err ** 2).sum() / (exact ** 2).sum()))


def _probe_setup(teacher: Teacher, L: int, n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    x = teacher.sample(n, L, generator=gen)
    probes = torch.randint(0, L, (n, 2), generator=gen)
    dist = torch.stack([lattice.distance_map(L, (int(r), int(c))) for r, c in probes])  # (n, L, L)
    return x, probes, dist


def check_delta(delta) -> float:
    # a finite-difference step: small against the fields' unit scale (and x + delta must stay computable)
    if lattice.check_positive(delta, "delta") > 1:
        raise ValueError(f"delta must be in (0, 1] (a finite-difference step; default {DELTA}); got {delta}")
    return float(delta)


def _band_responses(model, teacher, x, probes, dist, bands, delta, sigma):
    """Finite-difference probe responses for each band: teacher and model, each ``(len(bands), n)``."""
    n, L = x.shape[0], x.shape[-1]
    regions = torch.stack([(dist >= lo) & (dist <= (L // 2 if hi is None else hi)) for lo, hi in bands])
    xs = torch.cat([x[None], x[None] + delta * regions.to(x.dtype)]).reshape(-1, L, L)  # ((B+1) n, L, L)
    rows = torch.arange(n).repeat(len(bands) + 1)
    pr, pc = probes[rows, 0], probes[rows, 1]
    at_probe = lambda s: s[torch.arange(s.shape[0]), pr, pc].reshape(len(bands) + 1, n)
    exact = at_probe(teacher.score(xs))
    learned = at_probe(model_score(model, xs, sigma))
    return exact[1:] - exact[0], learned[1:] - learned[0]


def _relative(d_exact: torch.Tensor, d_model: torch.Tensor) -> torch.Tensor:
    """Per-band relative error over samples: inputs ``(B, n)`` -> ``(B,)``."""
    return torch.sqrt(((d_model - d_exact) ** 2).sum(-1) / (d_exact ** 2).sum(-1))


def response_profile(model: nn.Module, teacher: Teacher, L: int, n: int = 8, seed: int = 0,
                     max_distance: int | None = None, delta: float = DELTA,
                     sigma: float = SIGMA_EVAL) -> dict[str, torch.Tensor]:
    """Eq. 17 response as a function of distance: each shell ``dist == d``, ``d = 1 .. max_distance``.

    Returns a dict of ``(D,)`` float64 tensors: ``distance``, ``exact`` and ``model`` (rms over samples of
    the probe response to shifting the shell by ``delta``, divided by ``delta``) and ``relative_error``
    (NaN on a shell where the exact response is exactly zero, e.g. beyond ``2 r`` of a local teacher).
    """
    L, n, seed, sigma = _check_common(model, teacher, L, n, seed, sigma)
    max_distance = L // 2 if max_distance is None else lattice.check_int(max_distance, "max_distance", 1, L // 2)
    delta = check_delta(delta)
    teacher.check_size((max_distance + 1) * n, L)  # every shifted copy is scored: refuse before building them
    x, probes, dist = _probe_setup(teacher, L, n, seed)
    shells = [(d, d) for d in range(1, max_distance + 1)]
    d_exact, d_model = _band_responses(model, teacher, x, probes, dist, shells, delta, sigma)
    rms = lambda v: torch.sqrt((v ** 2).mean(-1)) / delta
    return {"distance": torch.arange(1, max_distance + 1, dtype=torch.float64), "exact": rms(d_exact),
            "model": rms(d_model), "relative_error": _relative(d_exact, d_model)}


def response_errors(model: nn.Module, teacher: Teacher, L: int, n: int = 8, seed: int = 0,
                    delta: float = DELTA, sigma: float = SIGMA_EVAL) -> dict[str, object]:
    """Near and far relative response errors (Eq. 17, definition in the module docstring).

    Returns ``{"near", "far", "near_of_total", "far_of_total": float, "definition": dict}``: the relative
    band errors (NaN where the band's exact response is below ``UNDEFINED_BELOW`` of the total) and the
    same errors over the exact total response; ``definition`` records the bands, ``delta``, ``sigma``,
    ``n``, ``seed``, the normalisations and each band's share of the total, for result files.
    """
    L, n, seed, sigma = _check_common(model, teacher, L, n, seed, sigma)
    if L // 2 < FAR_BAND[0]:
        raise ValueError(f"L must be >= {2 * FAR_BAND[0]} for response_errors (the far band starts at distance "
                         f"{FAR_BAND[0]}); got {L}")
    delta = check_delta(delta)
    teacher.check_size(3 * n, L)  # the fields and their two shifted copies are scored together
    x, probes, dist = _probe_setup(teacher, L, n, seed)
    d_exact, d_model = _band_responses(model, teacher, x, probes, dist, [NEAR_BAND, FAR_BAND], delta, sigma)
    errors = band_errors(((d_model - d_exact) ** 2).sum(-1), (d_exact ** 2).sum(-1))
    definition = {
        "near_band": list(NEAR_BAND), "far_band": [FAR_BAND[0], L // 2], "delta": delta, "sigma": sigma,
        "n": n, "seed": seed, "perturbation": "constant shift delta on the band's sites around a random probe",
        "normalisation": "sqrt(sum_n (ds_model - ds_exact)^2 / sum_n ds_exact^2) at the probe",
        "normalisation_of_total": "sqrt(sum_n (ds_model - ds_exact)^2 / sum_n (ds_exact_near^2 + ds_exact_far^2))",
        "undefined_below": UNDEFINED_BELOW, "near_share": errors.pop("near_share"),
        "far_share": errors.pop("far_share"),
    }
    return {**errors, "definition": definition}


def band_errors(error: torch.Tensor, band: torch.Tensor) -> dict[str, float]:
    """The near/far measures from the squared model error of each band ``error (2,)`` and the exact
    response energy ``band (2,)`` (sums over probes): ``near``, ``far`` (relative; NaN where the band's rms
    share of the total is below ``UNDEFINED_BELOW``, or there is no response at all), ``near_of_total``,
    ``far_of_total`` (over the total; NaN if it is 0) and each band's share, ``near_share``, ``far_share``."""
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    total = band.sum()
    if total == 0:
        return {k: float("nan") for k in ("near", "far", "near_of_total", "far_of_total", "near_share", "far_share")}
    share = torch.sqrt(band / total)                         # each band's rms share of the total response
    relative = torch.where(share >= UNDEFINED_BELOW, torch.sqrt(error / band), nan)
    of_total = torch.sqrt(error / total)
    return {"near": float(relative[0]), "far": float(relative[1]), "near_of_total": float(of_total[0]),
            "far_of_total": float(of_total[1]), "near_share": float(share[0]), "far_share": float(share[1])}


def _response_rows(response_row, site):
    if not isinstance(response_row, torch.Tensor):
        raise TypeError(f"response_row must be a torch.Tensor of shape (L, L) or (n, L, L); "
                        f"got {type(response_row).__name__}")
    if response_row.dim() not in (2, 3):
        raise ValueError(f"response_row must have shape (L, L) or (n, L, L); got {tuple(response_row.shape)}")
    rows = response_row if response_row.dim() == 3 else response_row[None]
    rows = lattice.check_field(rows, name="response_row").to(torch.float64).abs()
    return rows, lattice.check_site(site, rows.shape[-1])


def tail_curve(response_row: torch.Tensor, site: tuple[int, int]) -> torch.Tensor:
    """Fraction of the off-site response beyond every distance: Eq. 5 over the total off-site response.

    ``response_row``: ``(L, L)`` or ``(n, L, L)``, the row ``d s[site] / d x`` (d_c = 1, so the operator
    norm is ``|.|``). Returns float64 ``(L // 2 + 1,)`` (or ``(n, L // 2 + 1)``) whose entry ``R`` is
    ``sum_{dist > R} |row| / sum_{dist > 0} |row|`` (1 at ``R = 0``, 0 at ``R = L / 2``).
    """
    rows, site = _response_rows(response_row, site)
    L = rows.shape[-1]
    dist = lattice.distance_map(L, site).reshape(-1)
    shells = torch.zeros(rows.shape[0], L // 2 + 1, dtype=torch.float64)
    shells.index_add_(1, dist, rows.reshape(rows.shape[0], -1))      # (n, L//2 + 1): sum of |row| per distance
    # entry R: sum over d > R, summed from the outside in so the last entry is exactly 0
    beyond = torch.cat([torch.flip(torch.cumsum(torch.flip(shells[:, 1:], [-1]), -1), [-1]),
                        torch.zeros(rows.shape[0], 1, dtype=torch.float64)], -1)
    total = beyond[:, :1]
    if (total == 0).any():
        raise ValueError("response_row has no off-site response (all zero): the tail fraction is undefined")
    curve = beyond / total
    return curve[0] if response_row.dim() == 2 else curve


def tail_fraction(response_row: torch.Tensor, site: tuple[int, int], R: int):
    """``tail_curve`` at one ``R >= 0`` (0 beyond ``L / 2``): a float for one row, ``(n,)`` for a batch."""
    R = lattice.check_int(R, "R", 0)
    curve = tail_curve(response_row, site)
    value = curve[..., min(R, curve.shape[-1] - 1)]
    return float(value) if response_row.dim() == 2 else value


def response_radius(teacher: Teacher, L: int, n: int = 4, seed: int = 0, mass: float = 0.95) -> int:
    """The teacher's measured response radius at size ``L``: the smallest ``R`` whose ball holds ``mass`` of
    the exact clean-score response (``tail_curve(R) <= 1 - mass``, averaged over ``n`` samples from
    ``seed``, each probed at the centre site). What a model's ``R_eff`` must cover for the score to be local
    at that precision; at most ``L // 2``."""
    L = lattice.check_L(L)
    n = lattice.check_int(n, "n", 1)
    if not isinstance(teacher, Teacher):
        raise TypeError(f"teacher must be an fdlf_core.teachers.Teacher; got {type(teacher).__name__}")
    if isinstance(mass, bool) or not isinstance(mass, (int, float)) or not 0 < mass < 1:
        raise ValueError(f"mass must be in (0, 1) (a fraction of the response); got {mass}")
    site = (L // 2, L // 2)
    x = teacher.sample(n, L, generator=torch.Generator().manual_seed(lattice.check_int(seed, "seed", 0)))
    curve = tail_curve(teacher.response(x, site), site).mean(0)
    return int(torch.nonzero(curve <= 1 - mass)[0, 0])

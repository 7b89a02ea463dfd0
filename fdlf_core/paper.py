"""What the paper reports for its figures, and the qualitative claims our runs are checked against.

``REPORTED``: every number arXiv 2606.09705 gives for Fig. 1 and Fig. 2 / Table 3 (mean and s.e.m. over
three seeds) and Table 5 (no error bars), with where it is stated; for Fig. 3 and Fig. 4 the paper gives no numbers, only the plot and its
qualitative reading (Sec. 5), which ``claims`` checks. ``compare`` puts them next to a run's summary; ``claims`` turns the
paper's qualitative statements into checks with explicit margins (``Claim.passed`` is computed, never
assumed). Metric keys are the summary's: ``score_rmse`` (Eq. 16), ``near`` / ``far`` (Eq. 17).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import lattice
from .sampling import method_rank


@dataclass(frozen=True)
class Reported:
    experiment: str
    metric: str
    family: str
    R_eff: int
    L: int
    value: float
    sem: float
    source: str


def _table3(metric, family, values):
    return [Reported("fig2", metric, family, R, 64, v, s, "Table 3") for R, (v, s) in zip((4, 8, 14), values)]


REPORTED: tuple[Reported, ...] = (
    Reported("fig1", "score_rmse", "complex_long", 4, 16, 0.400, 0.007, "Sec. 4.1 text on Fig. 1"),
    Reported("fig1", "score_rmse", "complex_long", 4, 64, 0.814, 0.022, "Sec. 4.1 text on Fig. 1"),
    *_table3("score_rmse", "simple_local", ((0.176, 0.0010), (0.172, 0.0008), (0.170, 0.0005))),
    *_table3("score_rmse", "medium_range", ((0.265, 0.0029), (0.163, 0.0003), (0.141, 0.0011))),
    *_table3("score_rmse", "complex_long", ((0.677, 0.0088), (0.534, 0.0109), (0.541, 0.0146))),
    *_table3("far", "medium_range", ((0.691, 0.0376), (0.455, 0.0309), (0.506, 0.0459))),
    *_table3("far", "complex_long", ((0.995, 0.0120), (1.075, 0.0908), (0.942, 0.0442))),
    Reported("fig2", "near", "medium_range", 4, 64, 0.367, 0.081, "Sec. 4.1 text on Fig. 2"),
    Reported("fig2", "near", "medium_range", 14, 64, 0.190, 0.031, "Sec. 4.1 text on Fig. 2"),
    # Table 5 gives no error bars, nor the model or the sampler; ours is Fig. 1's model (R_eff 4)
    *(Reported("table5", "mae", fam, 4, L, v, math.nan, "Appendix C.2, Table 5")
      for fam, values in (("simple_local", (0.079, 0.044)), ("complex_local", (0.216, 0.141)),
                          ("complex_long", (0.795, 0.695)))
      for L, v in zip((6, 40), values)),
)


def _lookup(summary: list[dict], family: str, R_eff: int, L: int, sampler: str | None = None) -> dict | None:
    for row in summary:
        if row["family"] == family and row["R_eff"] == R_eff and row["L"] == L and row.get("sampler") == sampler:
            return row
    return None


def compare(experiment: str, summary: list[dict]) -> list[dict]:
    """Paper vs this run for every reported number of ``experiment``: a list of flat dicts.

    Keys: ``metric, family, R_eff, L, paper, paper_sem, ours, ours_sem, n_seeds, source``; ``ours`` is NaN
    where the run has no such entry. A summary with a ``sampler`` column (Table 5) gives one row per
    sampler, its metric named ``"<metric>, <sampler>"``.
    """
    samplers = sorted({r["sampler"] for r in summary if "sampler" in r}, key=method_rank) or [None]
    out = []
    for rep in REPORTED:
        if rep.experiment != experiment:
            continue
        for sampler in samplers:
            row = _lookup(summary, rep.family, rep.R_eff, rep.L, sampler)
            out.append({"metric": rep.metric if sampler is None else f"{rep.metric}, {sampler}", "family": rep.family,
                        "R_eff": rep.R_eff, "L": rep.L, "paper": rep.value, "paper_sem": rep.sem,
                        "ours": row[f"{rep.metric}_mean"] if row else math.nan,
                        "ours_sem": row[f"{rep.metric}_sem"] if row else math.nan,
                        "n_seeds": row["n_seeds"] if row else 0, "source": rep.source})
    return out


@dataclass(frozen=True)
class Claim:
    """One qualitative statement of the paper, checked on a run: ``passed`` and the numbers behind it."""

    experiment: str
    key: str         # short stable name, e.g. "long_degrades"
    statement: str
    check: str       # the inequality actually tested, with its margin
    measured: str    # the numbers it was tested on
    passed: bool


def _get(summary, family, R_eff, L, metric="score_rmse", sampler=None) -> float:
    row = _lookup(summary, family, R_eff, L, sampler)
    if row is None:
        where = "" if sampler is None else f", sampler {sampler}"
        raise ValueError(f"summary has no entry for {family}, R_eff={R_eff}, L={L}{where}: the run is incomplete")
    return float(row[f"{metric}_mean"])


# Margins (issue 14 sets the Fig. 1 / Fig. 2 ones). "Flat": within 10 % of the training-size value
# (smallest radius in Fig. 2). "Clearly worse": at least 1.5 times. "Degrades": at least 1.5 times higher
# at the largest L (the paper reports 2.0x). "Far error high": at least 0.9 at every L and radius (a model
# that ignores the far band scores exactly 1; the paper's are 0.94-1.08). "Improves": medium_range at least
# 20 % lower from R_eff 4 to 8 and 30 % from 4 to 14 (paper: 38 % and 47 %). "Near the floor": DSM within
# 1.25x of the locality floor (same model, same sizes) for the two teachers a local model can fit.
FLAT_TOL = 0.10
WORSE_FACTOR = 1.5
DEGRADE_FACTOR = 1.5
FAR_HIGH = 0.9
IMPROVE_FACTORS = {8: 0.8, 14: 0.7}
NEAR_FLOOR_FACTOR = 1.25
# Fig. 4. "Underestimates": the learned boundary response is at most 75 % of the exact one.
UNDER_FACTOR = 0.75
# Fig. 3 (no numbers in the paper; issue 17 sets the margins). "Stable": within 15 % of the training-size
# value at every L. "Poorer": the long teacher at least 1.2 times the local one at the largest L.
# "Degrading": the long teacher at least 1.1 times its training-size value at the largest L.
STABLE_TOL_3D = 0.15
POORER_FACTOR_3D = 1.2
DEGRADE_FACTOR_3D = 1.1


def claims(experiment: str, summary: list[dict], floor: list[dict] | None = None) -> list[Claim]:
    """The paper's qualitative claims for ``experiment`` ("fig1", "fig2", "fig3", "fig4") checked on ``summary``;
    for "floor" (beyond the paper) the roles the paper gives the teachers, read off the locality floor.

    ``floor``: the floor experiment's summary (same profile), for Fig. 2 only: adds the claim that DSM
    comes within ``NEAR_FLOOR_FACTOR`` of it (issue 14's target; beyond the paper).
    """
    if experiment not in CHECKS:
        raise ValueError(f"experiment must be one of {sorted(CHECKS)}; got {experiment!r}")
    if floor is None:
        return CHECKS[experiment](summary)
    if experiment != "fig2":
        raise ValueError(f"floor is only used by the fig2 claims; got it for {experiment!r}")
    return _fig2_claims(summary) + [_near_floor_claim(summary, floor)]


def _fig1_claims(summary, experiment: str = "fig1") -> list[Claim]:
    sizes = sorted({r["L"] for r in summary})
    if len(sizes) < 2:
        raise ValueError("summary needs at least two evaluation sizes for the Fig. 1 claims: the run is incomplete")
    lo, hi = sizes[0], sizes[-1]
    out = []
    for fam in ("simple_local", "complex_local"):
        vals = [_get(summary, fam, 4, L) for L in sizes]
        dev = max(abs(v / vals[0] - 1) for v in vals)
        out.append(Claim(experiment, f"{fam}_flat", f"{fam}: score RMSE stays roughly flat from L={lo} to L={hi}",
                         f"max_L |RMSE(L) / RMSE({lo}) - 1| <= {FLAT_TOL}",
                         ", ".join(f"L={L}: {v:.3f}" for L, v in zip(sizes, vals)), dev <= FLAT_TOL))
    long = [_get(summary, "complex_long", 4, L) for L in sizes]
    local = [max(_get(summary, f, 4, L) for f in ("simple_local", "complex_local")) for L in sizes]
    ratio = min(a / b for a, b in zip(long, local))
    out.append(Claim(experiment, "long_worse", "complex_long is clearly worse than both short-range teachers at every L",
                     f"min_L RMSE_long / max(RMSE_simple_local, RMSE_complex_local) >= {WORSE_FACTOR}",
                     f"smallest ratio {ratio:.2f}", ratio >= WORSE_FACTOR))
    out.append(Claim(experiment, "long_degrades", "complex_long degrades as L grows (paper: 0.400 at L=16 -> 0.814 at L=64)",
                     f"RMSE_long({hi}) >= {DEGRADE_FACTOR} RMSE_long({lo})",
                     f"L={lo}: {long[0]:.3f}, L={hi}: {long[-1]:.3f} (ratio {long[-1] / long[0]:.2f})",
                     long[-1] >= DEGRADE_FACTOR * long[0]))
    far = [_get(summary, "complex_long", 4, L, "far") for L in sizes]
    out.append(Claim(experiment, "long_far_high", "complex_long's far-response error stays high at every L",
                     f"min_L far error >= {FAR_HIGH}", ", ".join(f"L={L}: {v:.3f}" for L, v in zip(sizes, far)),
                     min(far) >= FAR_HIGH))
    return out


def _fig2_claims(summary, experiment: str = "fig2") -> list[Claim]:
    radii = sorted({r["R_eff"] for r in summary})
    if len(radii) < 2:
        raise ValueError("summary needs at least two radii for the Fig. 2 claims: the run is incomplete")
    L = max(r["L"] for r in summary)
    out = []
    simple = [_get(summary, "simple_local", R, L) for R in radii]
    dev = max(abs(v / simple[0] - 1) for v in simple)
    out.append(Claim(experiment, "simple_local_flat", f"simple_local is captured at the smallest radius: RMSE flat in R_eff at L={L}",
                     f"max_R |RMSE(R) / RMSE({radii[0]}) - 1| <= {FLAT_TOL}",
                     ", ".join(f"R={R}: {v:.3f}" for R, v in zip(radii, simple)), dev <= FLAT_TOL))
    m4 = _get(summary, "medium_range", radii[0], L)
    reported = {r.R_eff: r.value for r in REPORTED
                if (r.experiment, r.metric, r.family, r.L) == ("fig2", "score_rmse", "medium_range", 64)}
    for R, factor in IMPROVE_FACTORS.items():
        key = "medium_improves" if R == 8 else f"medium_improves_{R}"
        mR = _get(summary, "medium_range", R, L)
        drop = 100 * (reported[R] / reported[radii[0]] - 1)
        out.append(Claim(experiment, key, f"medium_range improves when R_eff grows from {radii[0]} to {R} "
                         f"(paper: {drop:+.0f} %)", f"RMSE({R}) <= {factor} RMSE({radii[0]})",
                         f"R={radii[0]}: {m4:.3f}, R={R}: {mR:.3f} ({100 * (mR / m4 - 1):+.0f} %)", mR <= factor * m4))
    far = [_get(summary, "complex_long", R, L, "far") for R in radii]
    out.append(Claim(experiment, "long_far_near_one", "complex_long keeps a far-response error near one at every R_eff",
                     f"min_R far error >= {FAR_HIGH}",
                     ", ".join(f"R={R}: {v:.3f}" for R, v in zip(radii, far)), min(far) >= FAR_HIGH))
    return out


def _near_floor_claim(summary, floor) -> Claim:
    L = max(r["L"] for r in summary)
    worst, where = 0.0, "none"
    for fam in ("simple_local", "medium_range"):
        for R in sorted({r["R_eff"] for r in summary}):
            ratio = _get(summary, fam, R, L) / _get(floor, fam, R, L)
            if ratio > worst:
                worst, where = ratio, f"{fam} R={R}"
    return Claim("fig2", "dsm_near_floor", f"DSM reaches what a radius-R model can fit: within {NEAR_FLOOR_FACTOR}x "
                 f"of the locality floor for simple_local and medium_range at every R_eff (L={L}; beyond the paper)",
                 f"max RMSE_DSM / floor <= {NEAR_FLOOR_FACTOR}", f"largest ratio {worst:.2f} ({where})",
                 worst <= NEAR_FLOOR_FACTOR)


# The locality floor (beyond the paper). "The radius matters": the best radius-8 fit of medium_range is at
# least 20 % below the best radius-4 fit (the paper's DSM numbers: -38 %). "More radius never hurts": a
# radius-R' model contains every radius-R rule (R < R'), so at the training size its best fit may not be
# worse, up to 3 % for optimisation noise; a failure means the floor's budget did not converge. (At a larger
# evaluation size it can be worse: a radius close to half the training lattice fits finite-size structure
# that does not transfer, which is size extrapolation failing, not the fit.)
FLOOR_GAIN = 0.8
FLOOR_MONOTONE_TOL = 0.03


def _floor_claims(summary) -> list[Claim]:
    L, L_train = max(r["L"] for r in summary), min(r["L"] for r in summary)
    radii = sorted({r["R_eff"] for r in summary})
    if not {4, 8} <= set(radii):
        raise ValueError("summary needs radii 4 and 8 for the floor claims: the run is incomplete")
    out = []
    worst, where = 0.0, "none"
    for fam in sorted({r["family"] for r in summary}):
        values = [_get(summary, fam, R, L_train) for R in radii]
        for k in range(1, len(radii)):
            rise = values[k] / min(values[:k]) - 1
            if rise > worst:
                worst, where = rise, f"{fam}: R={radii[k]} {values[k]:.3f} vs best below {min(values[:k]):.3f}"
    out.append(Claim("floor", "monotone", f"a larger radius never fits worse: the floor does not rise with R_eff "
                     f"at the training size L={L_train}",
                     f"floor(R') <= (1 + {FLOOR_MONOTONE_TOL}) min_(R < R') floor(R), every family",
                     f"largest rise {100 * worst:+.1f} % ({where})", worst <= FLOOR_MONOTONE_TOL))
    m4, m8 = _get(summary, "medium_range", 4, L), _get(summary, "medium_range", 8, L)
    out.append(Claim("floor", "medium_radius_matters", "medium_range's floor falls when R_eff grows from 4 to 8 "
                     "(its response reaches beyond radius 4)", f"floor(8) <= {FLOOR_GAIN} floor(4)",
                     f"R=4: {m4:.3f}, R=8: {m8:.3f}", m8 <= FLOOR_GAIN * m4))
    return out


def _fig4_claims(summary, d: int = 4) -> list[Claim]:
    rows = [r for r in summary if r["d"] == d]
    ratios, sigmas = sorted({r["beta_ratio"] for r in rows}), sorted({r["sigma"] for r in rows})
    if len(ratios) < 2 or not sigmas:
        raise ValueError(f"summary needs at least two beta/beta_c values at d={d} for the Fig. 4 claims: "
                         f"the run is incomplete")
    at = {(r["beta_ratio"], r["sigma"]): r for r in rows}
    s0 = sigmas[0]  # the exact response is sigma^-4 <x_0 x_d>: its ordering in beta is the same at every sigma
    inf = [at[b, s0]["exact_inf"] * s0 ** 4 for b in ratios]
    fin = [at[b, s0]["exact_L"] * s0 ** 4 for b in ratios]
    L = at[ratios[0], s0]["L"]
    grows = lambda v: all(b > a for a, b in zip(v, v[1:]))
    out = [Claim("fig4", "exact_grows", f"the exact response at d={d} grows monotonically as beta/beta_c -> 1",
                 "strictly increasing over the beta sweep, on the infinite lattice and at the training size",
                 f"sigma^4 x response (= <x_0 x_d>) at beta/beta_c {ratios[0]} .. {ratios[-1]}: infinite "
                 + " < ".join(f"{v:.3f}" for v in inf) + f"; L={L} " + " < ".join(f"{v:.3f}" for v in fin),
                 grows(inf) and grows(fin))]
    top = ratios[-1]
    under = {s: at[top, s]["ratio_mean"] for s in sigmas}
    out.append(Claim("fig4", "learned_underestimates",
                     f"near criticality (beta/beta_c={top}) the learned response at d={d} underestimates the exact one",
                     f"learned / exact <= {UNDER_FACTOR} at every sigma",
                     ", ".join(f"sigma={s:g}: {v:.3g}" for s, v in under.items()),
                     all(v <= UNDER_FACTOR for v in under.values())))
    if len(sigmas) >= 3:
        inner, outer = sigmas[1:-1], (sigmas[0], sigmas[-1])
        out.append(Claim("fig4", "worst_at_intermediate_sigma",
                         "the underestimate is largest at intermediate noise scales",
                         f"min over sigma in {inner} of learned / exact < that at sigma in {outer}",
                         ", ".join(f"sigma={s:g}: {v:.3g}" for s, v in under.items()),
                         min(under[s] for s in inner) < min(under[s] for s in outer)))
    return out


def _fig3_claims(summary) -> list[Claim]:
    families, sizes = ("hv_local", "hv_medium", "hv_long"), sorted({r["L"] for r in summary})
    row = {(r["family"], r["L"]): r for r in summary}
    train = {r["train_L"] for r in summary}
    if len(sizes) < 2 or len(train) != 1 or any((f, L) not in row for f in families for L in sizes) \
            or next(iter(train)) not in sizes:
        raise ValueError("summary needs hv_local, hv_medium and hv_long at the training size and at least one "
                         "other, every family at every size, for the Fig. 3 claims: the run is incomplete")
    lo, hi = next(iter(train)), sizes[-1]
    sizes = [L for L in sizes if L >= lo]
    rmse = {f: [row[f, L]["score_rmse_mean"] for L in sizes] for f in families}
    out = []
    for fam in ("hv_local", "hv_medium"):
        dev = max(abs(v / rmse[fam][0] - 1) for v in rmse[fam])
        out.append(Claim("fig3", f"{fam}_stable", f"{fam}: the occupied-site score RMSE is stable from L={lo} to L={hi}",
                         f"max_L |RMSE(L) / RMSE({lo}) - 1| <= {STABLE_TOL_3D}",
                         ", ".join(f"L={L}: {v:.3f}" for L, v in zip(sizes, rmse[fam])), dev <= STABLE_TOL_3D))
    long, local = rmse["hv_long"], rmse["hv_local"]
    out.append(Claim("fig3", "long_poorer", f"hv_long, with the largest far-field response, is poorer than hv_local "
                     f"at the largest size", f"RMSE_long({hi}) >= {POORER_FACTOR_3D} RMSE_local({hi})",
                     f"hv_long {long[-1]:.3f}, hv_local {local[-1]:.3f} (ratio {long[-1] / local[-1]:.2f})",
                     long[-1] >= POORER_FACTOR_3D * local[-1]))
    out.append(Claim("fig3", "long_degrades", "hv_long degrades as the box grows past the training size",
                     f"RMSE_long({hi}) >= {DEGRADE_FACTOR_3D} RMSE_long({lo})",
                     f"L={lo}: {long[0]:.3f}, L={hi}: {long[-1]:.3f} (ratio {long[-1] / long[0]:.2f})",
                     long[-1] >= DEGRADE_FACTOR_3D * long[0]))
    ratio = {f: row[f, lo]["far_to_near_mean"] for f in families}
    out.append(Claim("fig3", "inset_ordered", "the teachers' own far-to-near response ratios are ordered "
                     "local < medium < long (the inset)", "strictly increasing",
                     ", ".join(f"{f}: {v:.3g}" for f, v in ratio.items()),
                     ratio["hv_local"] < ratio["hv_medium"] < ratio["hv_long"]))
    return out


# Table 5 (the paper gives numbers, not margins; these are ours). "Stable": the short-range teachers' MAE at
# the largest L is at most 1.25 times that at the training size (no degradation in size transfer). "Several
# times larger": the long-range teacher's MAE at least 2 times the larger short-range one at every L (paper:
# 3.7x at L=6, 4.9x at L=40). The paper names no sampler; its short-range numbers are nearer our
# probability-flow ODE's than our reverse SDE's (docs/results.md), so the paper's claims are checked on the
# ODE, and the SDE gets its own claim.
STABLE_TOL_GEN = 0.25
LARGER_FACTOR_GEN = 2.0
# Beyond the paper: the relative correlation error over its finite-sample floor (the same error between two
# independent teacher sets) at the largest L, with the reverse SDE (the sampler whose short-range errors
# reach the floor). "Missed": the long-range teacher's at least 3 times its floor; "kept": each short-range
# teacher's at most 2 times its own. The floor is the yardstick because the correlations' scale differs per
# family (simple_local's are ~0.015, near what 32 samples resolve).
MISSED_FACTOR_CORR = 3.0
KEPT_FACTOR_CORR = 2.0


def _table5_claims(summary) -> list[Claim]:
    families = ("simple_local", "complex_local", "complex_long")
    sizes = sorted({r["L"] for r in summary})
    train = {r["train_L"] for r in summary}
    samplers = {r["sampler"] for r in summary}
    row = {(r["family"], r["L"], r["sampler"]): r for r in summary}
    if len(train) != 1 or next(iter(train)) not in sizes or len(sizes) < 2 or not {"ode", "sde"} <= samplers \
            or any((f, L, s) not in row for f in families for L in sizes for s in ("ode", "sde")):
        raise ValueError("summary needs every family at the training size and at least one other, with both "
                         "samplers (ode, sde), for the Table 5 claims: the run is incomplete")
    lo, hi = next(iter(train)), sizes[-1]
    mae = {(f, L, s): row[f, L, s]["mae_mean"] for f in families for L in sizes for s in ("ode", "sde")}
    out = []
    for fam in ("simple_local", "complex_local"):
        a, b = mae[fam, lo, "ode"], mae[fam, hi, "ode"]
        out.append(Claim("table5", f"{fam}_stable", f"{fam}: the generated samples' local-observable error does "
                         f"not grow from the training size L={lo} to L={hi} (probability-flow ODE)",
                         f"MAE({hi}) <= {1 + STABLE_TOL_GEN} MAE({lo})", f"L={lo}: {a:.3f}, L={hi}: {b:.3f}",
                         b <= (1 + STABLE_TOL_GEN) * a))
    ratios = {L: mae["complex_long", L, "ode"] / max(mae[f, L, "ode"] for f in ("simple_local", "complex_local"))
              for L in sizes}
    out.append(Claim("table5", "long_larger", "complex_long's local-observable error is several times the "
                     "short-range teachers' at every L (probability-flow ODE)",
                     f"min_L MAE_long / max(MAE_simple_local, MAE_complex_local) >= {LARGER_FACTOR_GEN}",
                     ", ".join(f"L={L}: {v:.1f}x" for L, v in ratios.items()), min(ratios.values()) >= LARGER_FACTOR_GEN))
    over = {f: row[f, hi, "sde"]["corr_rel_mean"] / row[f, hi, "sde"]["floor_corr_rel_mean"] for f in families}
    out.append(Claim("table5", "long_correlations_missed", f"only complex_long's local correlations are lost when "
                     f"generating at L={hi}: its relative correlation error is several times what finite samples "
                     "give, the short-range teachers' are not (reverse SDE; beyond the paper)",
                     f"at L={hi}, corr_rel / teacher-vs-teacher corr_rel: complex_long >= {MISSED_FACTOR_CORR}, "
                     f"simple_local and complex_local <= {KEPT_FACTOR_CORR}",
                     ", ".join(f"{f}: {row[f, hi, 'sde']['corr_rel_mean']:.2f} / "
                               f"{row[f, hi, 'sde']['floor_corr_rel_mean']:.2f} = {v:.1f}x" for f, v in over.items()),
                     over["complex_long"] >= MISSED_FACTOR_CORR
                     and max(over["simple_local"], over["complex_local"]) <= KEPT_FACTOR_CORR))
    worst = max((mae[f, L, "sde"] / mae[f, L, "ode"], f, L) for f in families for L in sizes)
    out.append(Claim("table5", "sde_below_ode", "the reverse SDE generates closer to the teacher than the "
                     "probability-flow ODE from the same model, for every teacher and L (beyond the paper)",
                     "max MAE_sde / MAE_ode < 1", f"largest ratio {worst[0]:.2f} ({worst[1]}, L={worst[2]})",
                     worst[0] < 1))
    return out


COMPARISON_COLUMNS = ("metric", "family", "R_eff", "L", "paper", "paper_sem", "ours", "ours_sem", "n_seeds", "source")


def _sweep_claims(summary) -> list[Claim]:
    """The size-transfer sweep (beyond the paper) read as the paper's argument predicts, with Fig. 1's
    margins: a teacher of finite range transfers (the RMSE ratio, largest L over the training size, within
    ``FLAT_TOL`` of 1, however well the radius fits) at every radius whose window, 2 R_eff + 1 sites, fits in
    the training lattice, as every model of the paper's does; and the long-range one, whose response grows
    with L, degrades at every radius (ratio >= ``DEGRADE_FACTOR``). A window wider than the training lattice
    sees sites' periodic images, whose weights the training data cannot tell apart: measured, exact-score
    fits of such windows change by 0.84x (simple_local) and 2.02x (medium_range) from L=16 to 256 while
    narrower ones transfer (results/studies/small_train/). Those cells are outside the claim; their ratios are
    listed with it."""
    from .experiments.transfer import transfer_ratios  # here, not at the top: experiments imports this module

    if not summary:
        raise ValueError("the sweep claims need the sweep's summary; it has no rows: the run is incomplete")
    largest = max(r["L"] for r in summary)
    finite = ("simple_local", "complex_local", "medium_range")
    # the phase diagram's ratios; a cell without its training size or the largest L has none there
    ratio = {(r["family"], r["train_L"], r["R_eff"]): r["ratio"] for r in transfer_ratios(summary) if r["L"] == largest}
    cells = {(r["family"], r["train_L"], r["R_eff"]) for r in summary}
    if set(ratio) != cells or not {c[0] for c in cells} >= {*finite, "complex_long"}:
        raise ValueError("summary needs every family, each at its training size and the largest L, for the sweep "
                         "claims: the run is incomplete")
    fits = lambda cell: lattice.window_fits(cell[2], cell[1])  # cell: (family, train_L, R_eff)
    out = []
    for fam in finite:
        mine = {c: v for c, v in ratio.items() if c[0] == fam and fits(c)}
        wide = [v for c, v in ratio.items() if c[0] == fam and not fits(c)]
        if not mine:
            raise ValueError(f"the sweep claims need a radius whose window fits in a training lattice for {fam}")
        worst = max(mine, key=lambda c: abs(mine[c] - 1))
        out.append(Claim("sweep", f"{fam}_transfers", f"{fam} (finite range) transfers from its training size to "
                         f"L={largest} at every R_eff whose window (2 R_eff + 1 sites) fits in the training lattice",
                         f"max |ratio - 1| <= {FLAT_TOL}",
                         f"ratios {min(mine.values()):.3f}-{max(mine.values()):.3f} (worst: train L={worst[1]}, "
                         f"R_eff {worst[2]})" + (f"; windows wider than the lattice, not claimed: {min(wide):.3f}-"
                                                 f"{max(wide):.3f}" if wide else ""),
                         abs(mine[worst] - 1) <= FLAT_TOL))
    long = {c: v for c, v in ratio.items() if c[0] == "complex_long"}
    weakest = min(long, key=long.get)
    out.append(Claim("sweep", "long_degrades", f"complex_long (its response grows with L) degrades from its training "
                     f"size to L={largest} at every R_eff and training size", f"min ratio >= {DEGRADE_FACTOR}",
                     f"ratios {long[weakest]:.3f}-{max(long.values()):.3f} (weakest: train L={weakest[1]}, "
                     f"R_eff {weakest[2]})", long[weakest] >= DEGRADE_FACTOR))
    return out


# the experiments with claims to check; `fdlf reproduce` and results/README.md check those in here
CHECKS = {"fig1": _fig1_claims, "fig2": _fig2_claims, "floor": _floor_claims, "fig3": _fig3_claims,
          "fig4": _fig4_claims, "table5": _table5_claims,
          # the sliding-attention models on the same protocols: the CNN figures' claims, same margins
          "fig1_attention": lambda summary: _fig1_claims(summary, "fig1_attention"),
          "fig2_attention": lambda summary: _fig2_claims(summary, "fig2_attention"),
          "sweep": _sweep_claims}


def format_pm(value: float | None, sem: float | None, plus_minus: str = "±") -> str:
    """``value ± sem`` with 3 decimals: ``"n/a"`` for a missing or NaN value, the value alone for a NaN s.e.m.
    (one seed). Every table of numbers in fdlf (console, Markdown, plotly) formats its cells with it."""
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))
    if missing(value):
        return "n/a"
    return f"{value:.3f}" if missing(sem) else f"{value:.3f} {plus_minus} {sem:.3f}"


def format_comparison(rows: list[dict]) -> str:
    """``compare`` rows as a fixed-width text table (for notebooks run headlessly and the CLI)."""
    if not rows:
        return "the paper reports no numbers for this figure (only the plot); see the claims below"
    pm = lambda v, s: format_pm(v, s, plus_minus="+/-")
    lines = [f"{'metric':<11} {'family':<13} {'R_eff':>5} {'L':>3}  {'paper':>15}  {'this run':>15}  seeds"]
    for r in rows:
        lines.append(f"{r['metric']:<11} {r['family']:<13} {r['R_eff']:>5} {r['L']:>3}  "
                     f"{pm(r['paper'], r['paper_sem']):>15}  {pm(r['ours'], r['ours_sem']):>15}  {r['n_seeds']:>5}")
    return "\n".join(lines)


def format_claims(checked: list[Claim]) -> str:
    """Claims as text, one per line: PASS/FAIL, statement, the tested inequality and the numbers."""
    if not checked:
        return "no claims to check for this experiment"
    return "\n".join(f"[{'PASS' if c.passed else 'FAIL'}] {c.statement}\n        test: {c.check}; measured: {c.measured}"
                     for c in checked)

"""Plotly figure builders for the reproduction: each returns a ``go.Figure`` and never shows it.

Inputs are the tidy summaries of the experiments (lists of dicts with ``<metric>_mean`` and ``<metric>_sem``;
for Fig. 4 ``learned_mean``, ``exact_L``, ``exact_inf`` per beta/beta_c, sigma and d) and the rows of
``paper.compare``. Error bars are s.e.m. across seeds; the paper's own
numbers, where it gives them, are drawn as open diamonds in the same colour.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import plotly.graph_objects as go
import torch
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from . import lattice, stats
from .atomic import atomic_write
from .diagnostics import UNDEFINED_BELOW
from .paper import REPORTED, format_pm
from .sampling import method_rank

COLOURS = {"simple_local": "#1f77b4", "complex_local": "#2ca02c", "medium_range": "#ff7f0e",
           "complex_long": "#d62728", "hv_local": "#1f77b4", "hv_medium": "#ff7f0e", "hv_long": "#d62728"}
METRIC_LABELS = {"score_rmse": "clean-score relative RMSE (Eq. 16)", "near": "near-response error (Eq. 17)",
                 "far": "far-response error (Eq. 17)", "near_of_total": "near error / total response",
                 "far_of_total": "far error / total response"}


def _finite(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _trace(rows, x_key, metric, family, dash="solid", name=None, legendgroup=None, showlegend=True):
    rows = sorted((r for r in rows if r["family"] == family and _finite(r[f"{metric}_mean"]) is not None),
                  key=lambda r: r[x_key])
    return go.Scatter(
        x=[r[x_key] for r in rows], y=[r[f"{metric}_mean"] for r in rows],
        error_y=dict(type="data", array=[_finite(r[f"{metric}_sem"]) or 0.0 for r in rows], visible=True),
        mode="lines+markers", name=name or family, line=dict(color=COLOURS.get(family), dash=dash),
        legendgroup=legendgroup or family, showlegend=showlegend,
        customdata=[r["n_seeds"] for r in rows],
        hovertemplate=f"{family}<br>{x_key}=%{{x}}<br>{metric}=%{{y:.3f}}<br>seeds=%{{customdata}}<extra></extra>")


def _paper_trace(experiment, metric, family, x_key, showlegend):
    reps = sorted((r for r in REPORTED if r.experiment == experiment and r.metric == metric and r.family == family),
                  key=lambda r: getattr(r, x_key))
    if not reps:
        return None
    return go.Scatter(x=[getattr(r, x_key) for r in reps], y=[r.value for r in reps],
                      error_y=dict(type="data", array=[r.sem for r in reps], visible=True), mode="markers",
                      marker=dict(symbol="diamond-open", size=11, color=COLOURS.get(family)),
                      name=f"{family} (paper)", legendgroup=family, showlegend=showlegend,
                      hovertemplate=f"paper: {family} {metric}=%{{y:.3f}}<extra></extra>")


def _families(summary):
    return [f for f in COLOURS if any(r["family"] == f for r in summary)]


def size_sweep_rmse(summary: list[dict], title: str = "Fig. 1a: score RMSE vs lattice size") -> go.Figure:
    """Fig. 1a: clean-score relative RMSE vs evaluation size ``L`` per family (R_eff fixed)."""
    fig = go.Figure()
    for fam in _families(summary):
        fig.add_trace(_trace(summary, "L", "score_rmse", fam))
        paper = _paper_trace("fig1", "score_rmse", fam, "L", True)
        if paper:
            fig.add_trace(paper)
    fig.update_layout(title=title, xaxis_title="evaluation lattice size L (trained at L=16)",
                      yaxis_title=METRIC_LABELS["score_rmse"], template="plotly_white")
    return fig


def size_sweep_response(summary: list[dict], title: str = "Fig. 1b: response error vs lattice size") -> go.Figure:
    """Fig. 1b: near (solid) and far (dashed) response errors vs ``L`` per family, log y axis.

    Relative band errors where they are defined (a point is left out where the exact band response is
    below ``diagnostics.UNDEFINED_BELOW`` of the total); where the summary has them, the errors over the
    total response are drawn dotted, thin, beside them ("of total").
    """
    fig = go.Figure()
    for fam in _families(summary):
        fig.add_trace(_trace(summary, "L", "near", fam, name=f"{fam} near"))
        fig.add_trace(_trace(summary, "L", "far", fam, dash="dash", name=f"{fam} far"))
        for band in ("near", "far"):
            if any(_finite(r.get(f"{band}_of_total_mean")) is not None for r in summary if r["family"] == fam):
                trace = _trace(summary, "L", f"{band}_of_total", fam, dash="dot", name=f"{fam} {band}, of total")
                trace.line.width = 1
                fig.add_trace(trace)
    fig.add_hline(y=1.0, line=dict(color="grey", dash="dot"), annotation_text="model ignores the band")
    fig.add_annotation(text=f"relative errors are undefined (not drawn) where the exact band response is below "
                            f"{100 * UNDEFINED_BELOW:.0f} % of the total", xref="paper", yref="paper", x=0, y=-0.18,
                       showarrow=False, font=dict(size=10))
    fig.update_layout(title=title, xaxis_title="evaluation lattice size L (trained at L=16)",
                      yaxis_title="relative response error (Eq. 17)", yaxis_type="log", template="plotly_white")
    return fig


def receptive_field_sweep(summary: list[dict], L: int = 64, floor: list[dict] | None = None,
                          title: str = "Fig. 2: errors at L=64 vs CNN receptive radius") -> go.Figure:
    """Fig. 2: left RMSE vs R_eff, right near (solid) / far (dashed) response error vs R_eff, at ``L``.

    ``floor``: the summary of the ``floor`` experiment, drawn on the left as dotted "best radius-R fit"
    curves (the locality floor) for the families of ``summary``.
    """
    rows = [r for r in summary if r["L"] == L]
    floor_rows = [r for r in floor or () if r["L"] == L]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(METRIC_LABELS["score_rmse"], "response error (Eq. 17)"))
    for fam in _families(rows):
        fig.add_trace(_trace(rows, "R_eff", "score_rmse", fam), row=1, col=1)
        if any(r["family"] == fam for r in floor_rows):
            fig.add_trace(_trace(floor_rows, "R_eff", "score_rmse", fam, dash="dot", name=f"{fam}: best radius-R fit",
                                 legendgroup=fam), row=1, col=1)
        paper = _paper_trace("fig2", "score_rmse", fam, "R_eff", True)
        if paper:
            fig.add_trace(paper, row=1, col=1)
        if fam == "simple_local":  # its far response is ~0 exactly, so its relative error is not informative
            continue
        fig.add_trace(_trace(rows, "R_eff", "near", fam, name=f"{fam} near", showlegend=True), row=1, col=2)
        fig.add_trace(_trace(rows, "R_eff", "far", fam, dash="dash", name=f"{fam} far"), row=1, col=2)
        paper = _paper_trace("fig2", "far", fam, "R_eff", False)
        if paper:
            fig.add_trace(paper, row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(title_text="effective radius R_eff = 2B + 2",
                         tickvals=sorted({r["R_eff"] for r in rows + floor_rows}), row=1, col=col)
    fig.update_layout(title=title, template="plotly_white", width=1100)
    return fig


def locality_floor(summary: list[dict], L: int = 64,
                   title: str = "Locality floor: best radius-R fit to the exact score, at L=64") -> go.Figure:
    """Score RMSE (Eq. 16) at ``L`` of the ``floor`` experiment's exact-score fits vs R_eff, per family."""
    rows = [r for r in summary if r["L"] == L]
    fig = go.Figure([_trace(rows, "R_eff", "score_rmse", fam, dash="dot") for fam in _families(rows)])
    fig.update_layout(title=title, template="plotly_white", width=800, yaxis_title=METRIC_LABELS["score_rmse"],
                      xaxis=dict(title="effective radius R_eff = 2B + 2", tickvals=sorted({r["R_eff"] for r in rows})))
    return fig


def ablation_table(summary: list[dict], floor: list[dict] | None = None, L: int = 64,
                   title: str = "DSM recipe ablation: score RMSE at L=64 (mean ± s.e.m.), ratio to the floor") -> go.Figure:
    """A ``go.Table``: one row per recipe, one column per (family, R_eff) with the score RMSE at ``L``, its
    ratio to the locality floor where ``floor`` (the floor experiment's summary) has that model, and the
    mean training time."""
    rows = [r for r in summary if r["L"] == L]
    configs = sorted({(r["family"], r["R_eff"]) for r in rows}, key=lambda c: (c[0] != "simple_local", c))
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    at = {(r["recipe"], r["family"], r["R_eff"]): r for r in rows}
    floors = {(r["family"], r["R_eff"]): r["score_rmse_mean"] for r in floor or () if r["L"] == L}

    def cell(recipe, family, R):
        r = at.get((recipe, family, R))
        if r is None:
            return "n/a"
        text = format_pm(r["score_rmse_mean"], r["score_rmse_sem"])
        return text + (f" ({r['score_rmse_mean'] / floors[family, R]:.2f}x)" if (family, R) in floors else "")

    cols = {"recipe": recipes}
    for family, R in configs:
        cols[f"{family} R_eff={R}"] = [cell(rec, family, R) for rec in recipes]
    cols["train s / run"] = [f"{stats.mean([r['train_wall_s_mean'] for r in rows if r['recipe'] == rec]):.0f}"
                             for rec in recipes]
    if floors:
        cols["recipe"] = recipes + ["locality floor"]
        for family, R in configs:
            cols[f"{family} R_eff={R}"].append(f"{floors[family, R]:.3f}" if (family, R) in floors else "n/a")
        cols["train s / run"].append("")
    fig = go.Figure(go.Table(header=dict(values=list(cols), align="left"),
                             cells=dict(values=list(cols.values()), align="left")))
    fig.update_layout(title=title, template="plotly_white", width=1200, height=160 + 30 * len(cols["recipe"]))
    return fig


def comparison_table(rows: list[dict], title: str = "Paper vs this run") -> go.Figure:
    """A ``go.Table`` of ``paper.compare`` rows: metric, family, R_eff, L, paper +/- sem, ours +/- sem."""
    cols = {"metric": [r["metric"] for r in rows], "family": [r["family"] for r in rows],
            "R_eff": [r["R_eff"] for r in rows], "L": [r["L"] for r in rows],
            "paper": [format_pm(r["paper"], r["paper_sem"]) for r in rows],
            "this run": [format_pm(r["ours"], r["ours_sem"]) for r in rows],
            "seeds": [r["n_seeds"] for r in rows]}
    fig = go.Figure(go.Table(header=dict(values=list(cols), align="left"),
                             cells=dict(values=list(cols.values()), align="left")))
    fig.update_layout(title=title, template="plotly_white", height=120 + 28 * len(rows))
    return fig


SIGMA_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _ising_rows(summary, **match):
    return sorted((r for r in summary if all(r[k] == v for k, v in match.items())),
                  key=lambda r: (r["beta_ratio"], r["d"]))


def ising_boundary_response(summary: list[dict], d: int = 4,
                            title: str = "Fig. 4: boundary response of the smoothed score") -> go.Figure:
    """Fig. 4: the response ``d s_0(0) / d y_d`` at distance ``d`` vs beta/beta_c, one panel per sigma, log y.

    Exact at the training size (markers, blocking error bars from the training pool), exact on the infinite
    lattice (dotted line), learned (mean +/- s.e.m. over seeds).
    """
    sigmas = sorted({r["sigma"] for r in summary})
    cols = min(2, len(sigmas))
    grid_rows = math.ceil(len(sigmas) / cols)
    fig = make_subplots(rows=grid_rows, cols=cols, subplot_titles=[f"sigma = {s:g}" for s in sigmas],
                        shared_xaxes=True)
    for k, sigma in enumerate(sigmas):
        rows = _ising_rows(summary, sigma=sigma, d=d)
        x = [r["beta_ratio"] for r in rows]
        pos = dict(row=k // cols + 1, col=k % cols + 1)
        first = k == 0
        L = rows[0]["L"] if rows else "?"
        fig.add_trace(go.Scatter(x=x, y=[r["exact_L"] for r in rows], mode="lines+markers", name=f"exact, L={L}",
                                 error_y=dict(type="data", array=[r["exact_L_stderr"] for r in rows]),
                                 line=dict(color="black"), legendgroup="exact_L", showlegend=first), **pos)
        fig.add_trace(go.Scatter(x=x, y=[r["exact_inf"] for r in rows], mode="lines", name="exact, infinite lattice",
                                 line=dict(color="grey", dash="dot"), legendgroup="exact_inf", showlegend=first),
                      **pos)
        fig.add_trace(go.Scatter(x=x, y=[r["learned_mean"] for r in rows], mode="lines+markers",
                                 name=f"learned LocalCNN (R={rows[0]['R'] if rows else '?'})",
                                 error_y=dict(type="data", array=[_finite(r["learned_sem"]) or 0.0 for r in rows]),
                                 line=dict(color="#d62728"), legendgroup="learned", showlegend=first,
                                 customdata=[r["n_seeds"] for r in rows],
                                 hovertemplate="beta/beta_c=%{x}<br>learned=%{y:.3g}<br>seeds=%{customdata}"
                                               "<extra></extra>"), **pos)
        fig.update_yaxes(type="log", title_text=f"d s_0(0) / d y_{d}" if k % cols == 0 else None, **pos)
        fig.update_xaxes(title_text="beta / beta_c" if k // cols == grid_rows - 1 else None, **pos)
    fig.update_layout(title=f"{title} at d={d}", template="plotly_white", width=1000, height=380 * grid_rows)
    return fig


def ising_response_profile(summary: list[dict], beta_ratio: float,
                           title: str = "Learned vs exact response profile") -> go.Figure:
    """The whole profile at one beta/beta_c: ``sigma^4 d s_0(0) / d y_d`` (exact: ``<x_0 x_d>``) vs ``d >= 1``,
    one colour per sigma, learned solid and exact dashed; the model's radius R as a vertical line (a
    local model's response is exactly 0 beyond it)."""
    rows = [r for r in _ising_rows(summary, beta_ratio=beta_ratio) if r["d"] >= 1]
    fig = go.Figure()
    for k, sigma in enumerate(sorted({r["sigma"] for r in rows})):
        rs = [r for r in rows if r["sigma"] == sigma]
        colour = SIGMA_COLOURS[k % len(SIGMA_COLOURS)]
        d = [r["d"] for r in rs]
        fig.add_trace(go.Scatter(x=d, y=[r["learned_mean"] * sigma ** 4 for r in rs], mode="lines+markers",
                                 name=f"learned, sigma={sigma:g}", line=dict(color=colour)))
        fig.add_trace(go.Scatter(x=d, y=[r["exact_L"] * sigma ** 4 for r in rs], mode="lines",
                                 name=f"exact, sigma={sigma:g}", line=dict(color=colour, dash="dash")))
    if rows:
        fig.add_vline(x=rows[0]["R"], line=dict(color="grey", dash="dot"), annotation_text=f"R={rows[0]['R']}")
    fig.update_layout(title=f"{title} at beta/beta_c={beta_ratio} (L={rows[0]['L'] if rows else '?'})",
                      xaxis_title="distance d along an axis", yaxis_title="sigma^4 x response (exact: <x_0 x_d>)",
                      template="plotly_white", width=800)
    return fig


def ising_correlation_length(summary: list[dict], title: str = "Correlation length vs the model's radius") -> go.Figure:
    """The exact infinite-lattice correlation length xi(beta) vs beta/beta_c (log y), with the model's R and
    the training size L/2 as horizontal lines: where xi passes R the response leaves the receptive field."""
    rows = {r["beta_ratio"]: r for r in summary}
    x = sorted(rows)
    fig = go.Figure(go.Scatter(x=x, y=[rows[b]["xi_inf"] for b in x], mode="lines+markers",
                               name="xi (exact, infinite lattice)", line=dict(color="black")))
    if x:
        R, L = rows[x[0]]["R"], rows[x[0]]["L"]
        fig.add_hline(y=R, line=dict(color="#d62728", dash="dash"), annotation_text=f"model radius R={R}")
        fig.add_hline(y=L / 2, line=dict(color="grey", dash="dot"), annotation_text=f"L/2 = {L // 2} (training size)")
    fig.update_layout(title=title, xaxis_title="beta / beta_c", yaxis_title="correlation length xi (lattice spacings)",
                      yaxis_type="log", template="plotly_white", width=800)
    return fig


def hard_valid_sweep(summary: list[dict], title: str = "Fig. 3: hard-valid mixed 3D check") -> go.Figure:
    """Fig. 3: left the occupied-site score RMSE vs ``L``, middle the near (solid) / far (dashed) response
    errors over the total response vs ``L``, right (the paper's inset) each teacher's own far-to-near
    response ratio. Error bars: s.e.m. over seeds where there are several, else the within-run standard
    error (over evaluation batches / finite-difference repeats, the paper's error bar for this figure)."""
    def bars(rows, metric):
        return [r[f"{metric}_sem"] if _finite(r[f"{metric}_sem"]) is not None else (_finite(r[f"{metric}_within_se"])
                                                                                      or 0.0) for r in rows]

    fig = make_subplots(rows=1, cols=3, column_widths=[0.4, 0.4, 0.2],
                        subplot_titles=("occupied-site score RMSE", "response error / total response",
                                        "teacher far-to-near ratio"))
    train_L = "?"
    for fam in _families(summary):
        rows = sorted((r for r in summary if r["family"] == fam), key=lambda r: r["L"])
        fig.add_trace(go.Scatter(x=[r["L"] for r in rows], y=[r["score_rmse_mean"] for r in rows],
                                 error_y=dict(type="data", array=bars(rows, "score_rmse"), visible=True),
                                 mode="lines+markers", name=fam, legendgroup=fam, line=dict(color=COLOURS[fam]),
                                 hovertemplate=f"{fam}<br>L=%{{x}}<br>RMSE=%{{y:.3f}}<extra></extra>"), row=1, col=1)
        for band, dash in (("near", "solid"), ("far", "dash")):
            resp = [r for r in rows if _finite(r[f"{band}_of_total_mean"]) is not None]
            fig.add_trace(go.Scatter(x=[r["L"] for r in resp], y=[r[f"{band}_of_total_mean"] for r in resp],
                                     error_y=dict(type="data", array=bars(resp, f"{band}_of_total"), visible=True),
                                     mode="lines+markers", name=f"{fam} {band}", legendgroup=fam, showlegend=False,
                                     line=dict(color=COLOURS[fam], dash=dash),
                                     hovertemplate=f"{fam} {band}<br>L=%{{x}}<br>error=%{{y:.3f}}<extra></extra>"),
                          row=1, col=2)
        fig.add_trace(go.Bar(x=[fam], y=[rows[0]["far_to_near_mean"]], marker_color=COLOURS[fam], showlegend=False,
                             error_y=dict(type="data", array=bars(rows[:1], "far_to_near"), visible=True),
                             hovertemplate=f"{fam}: far/near=%{{y:.3f}}<extra></extra>"), row=1, col=3)
        train_L = rows[0]["train_L"]
    fig.update_xaxes(title_text=f"open box size L (trained at L={train_L})", row=1, col=1)
    fig.update_xaxes(title_text="L (solid: near, dashed: far)", row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_layout(title=title, template="plotly_white", width=1200)
    return fig


LABEL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def hard_valid_sample(b, a, c, title: str = "One hard-valid configuration") -> go.Figure:
    """One configuration of the 3D hard-valid teacher: ``b``, ``a`` ``(L, L, L)`` ints, ``c (d_c, L, L, L)``.

    The port network as 3D segments (one per matched port pair, drawn from the site with the ``+`` port),
    coloured by the type label of the site it starts at; the occupied sites as markers coloured by ``c_0``
    (hover: both coordinates, the port state and the label).
    """
    from .hardvalid.ports import DIRECTIONS  # the port bits; imported here so plots needs no 3D teacher
    fig = go.Figure()
    occ = (b != 0).nonzero().tolist()
    segments: dict[int, list] = {}
    for x, y, z in occ:
        for bit, (axis, sign) in enumerate(DIRECTIONS):
            if sign > 0 and int(b[x, y, z]) >> bit & 1:
                end = [x, y, z]
                end[axis] += 1
                segments.setdefault(int(a[x, y, z]), []).append(([x, y, z], end))
    for label, segs in sorted(segments.items()):
        xs, ys, zs = [], [], []
        for start, end in segs:
            xs += [start[0], end[0], None]
            ys += [start[1], end[1], None]
            zs += [start[2], end[2], None]
        fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", name=f"type {label}", hoverinfo="skip",
                                   line=dict(color=LABEL_COLOURS[(label - 1) % len(LABEL_COLOURS)], width=5)))
    if occ:
        pts = list(zip(*occ))
        c0 = [float(c[0, x, y, z]) for x, y, z in occ]
        text = [f"site {tuple(p)}<br>c = ({', '.join(f'{float(v):.3f}' for v in c[:, p[0], p[1], p[2]])})"
                f"<br>ports {int(b[tuple(p)]):06b}, type {int(a[tuple(p)])}" for p in occ]
        fig.add_trace(go.Scatter3d(x=pts[0], y=pts[1], z=pts[2], mode="markers", name="occupied sites",
                                   marker=dict(size=3, color=c0, colorscale="RdBu", colorbar=dict(title="c_0")),
                                   text=text, hovertemplate="%{text}<extra></extra>"))
    L = b.shape[-1]
    axis = dict(range=[-0.5, L - 0.5])
    fig.update_layout(title=f"{title} (L={L}, {len(occ)} occupied of {L ** 3} sites)", template="plotly_white",
                      scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube"), width=800, height=700)
    return fig


def hard_valid_response_slice(row, probe: tuple[int, int, int], R: int | None = None,
                              title: str = "Exact response of the score at the probe") -> go.Figure:
    """``|d s_probe / d c_j|`` summed over both coordinates (``row (d_c, L, L, L)``) on the plane through
    the probe at its ``z``, log colour scale; a square marks the model's receptive radius ``R`` if given."""
    z = probe[2]
    plane = row.abs().sum(0)[:, :, z]
    L = plane.shape[0]
    positive = plane[plane > 0]
    floor = float(positive.min()) if positive.numel() else 1.0
    fig = go.Figure(go.Heatmap(z=[[math.log10(max(float(v), floor)) for v in col] for col in plane.T.tolist()],
                               colorscale="Viridis", colorbar=dict(title="log10 |ds/dc|"),
                               hovertemplate="x=%{x}, y=%{y}<br>log10 |ds/dc|=%{z:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[probe[0]], y=[probe[1]], mode="markers", name="probe",
                             marker=dict(symbol="x", size=12, color="white")))
    if R is not None:
        fig.add_shape(type="rect", x0=probe[0] - R - 0.5, x1=probe[0] + R + 0.5, y0=probe[1] - R - 0.5,
                      y1=probe[1] + R + 0.5, line=dict(color="white", dash="dash"))
        fig.add_annotation(x=probe[0], y=min(probe[1] + R + 0.5, L - 0.5), text=f"R_eff={R}", showarrow=False,
                           font=dict(color="white"), yshift=10)
    fig.update_layout(title=f"{title} {tuple(probe)}, plane z={z} (L={L})", xaxis_title="x", yaxis_title="y",
                      template="plotly_white", width=700, height=600, yaxis=dict(scaleanchor="x"))
    return fig


# Table 5's metrics as generation_error draws them: y axis title, hover label, log axis
GENERATION_METRICS = {"mae": ("local-observable MAE", "MAE", True),
                      "corr_rel": ("relative correlation error", "relative error", False)}


def generation_error(summary: list[dict], metric: str = "mae",
                     title: str = "Table 5: local-observable error of generated samples") -> go.Figure:
    """Table 5 as curves: ``metric`` of generated samples vs generation size ``L`` per family, one panel per
    sampler (``sampling.METHODS`` order): ``"mae"``, the local-observable MAE (log y axis; open diamonds,
    the paper's numbers: it names no sampler, so they are drawn in every panel), or ``"corr_rel"``, the
    relative correlation error (``observables.relative_correlation_error``; beyond the paper). Dotted thin:
    the same metric between two independent teacher sets (what finite samples alone give). Error bars:
    s.e.m. over seeds, or with one seed the bootstrap standard error."""
    if metric not in GENERATION_METRICS:
        raise ValueError(f"metric must be one of {list(GENERATION_METRICS)}; got {metric!r}")
    axis_title, label_y, log_y = GENERATION_METRICS[metric]
    samplers = sorted({r["sampler"] for r in summary}, key=method_rank)
    names = {"sde": "reverse SDE (Euler-Maruyama)", "ode": "probability-flow ODE (Heun)"}
    fig = make_subplots(rows=1, cols=max(len(samplers), 1), shared_yaxes=True,
                        subplot_titles=[names.get(m, m) for m in samplers])
    train_L = "?"
    for col, sampler in enumerate(samplers, start=1):
        for fam in _families(summary):
            rows = sorted((r for r in summary if r["family"] == fam and r["sampler"] == sampler), key=lambda r: r["L"])
            train_L = rows[0]["train_L"] if rows else train_L
            for key, dash, width, label in ((metric, "solid", 2, fam), (f"floor_{metric}", "dot", 1, f"{fam}: teacher vs teacher")):
                err = [_finite(r[f"{key}_sem"]) if _finite(r[f"{key}_sem"]) is not None
                       else (_finite(r[f"{key}_within_se"]) or 0.0) for r in rows]
                fig.add_trace(go.Scatter(x=[r["L"] for r in rows], y=[r[f"{key}_mean"] for r in rows],
                                         error_y=dict(type="data", array=err, visible=True), mode="lines+markers",
                                         name=label, legendgroup=label, showlegend=col == 1,
                                         line=dict(color=COLOURS[fam], dash=dash, width=width),
                                         hovertemplate=f"{label} ({sampler})<br>L=%{{x}}<br>{label_y}=%{{y:.3f}}<extra></extra>"),
                              row=1, col=col)
            paper = _paper_trace("table5", metric, fam, "L", col == 1)
            if paper:
                fig.add_trace(paper, row=1, col=col)
        fig.update_xaxes(title_text=f"generation size L (trained at L={train_L})", row=1, col=col)
    if log_y:
        fig.update_yaxes(type="log")  # every panel: shared_yaxes shares the range, not the axis type
    fig.update_yaxes(title_text=axis_title, row=1, col=1)
    fig.update_layout(title=title, template="plotly_white", width=1100,
                      legend=dict(orientation="h", y=-0.25, x=0))
    return fig


def observable_errors(rows: list[dict], title: str = "Absolute error of each local observable") -> go.Figure:
    """Grouped bars: the absolute error of each observable (``observables.OBSERVABLES``) of one generated set
    per family, from result rows (``abs_error``; one row per family, e.g. one seed, sampler and size)."""
    fig = go.Figure()
    for row in sorted(rows, key=lambda r: list(COLOURS).index(r["family"])):
        names = list(row["abs_error"])
        fig.add_trace(go.Bar(x=names, y=[row["abs_error"][k] for k in names], name=row["family"],
                             marker_color=COLOURS[row["family"]],
                             hovertemplate=f"{row['family']}<br>%{{x}}: |generated - teacher| = %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=title, barmode="group", yaxis_title="|generated - teacher|", yaxis_type="log",
                      template="plotly_white", width=900, legend=dict(orientation="h", y=-0.2, x=0))
    return fig


def sample_grid(fields: dict[str, torch.Tensor], title: str = "Samples") -> go.Figure:
    """Heatmaps side by side, one per named ``(L, L)`` field, on one shared colour scale (e.g. a teacher
    sample next to generated ones)."""
    names = list(fields)
    lo = min(float(torch.as_tensor(f).min()) for f in fields.values())
    hi = max(float(torch.as_tensor(f).max()) for f in fields.values())
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.03)
    for col, name in enumerate(names, start=1):
        fig.add_trace(go.Heatmap(z=torch.as_tensor(fields[name]).tolist(), zmin=lo, zmax=hi, colorscale="RdBu",
                                 showscale=col == len(names), hovertemplate=f"{name}<br>x=%{{x}}, y=%{{y}}<br>%{{z:.2f}}<extra></extra>"),
                      row=1, col=col)
        fig.update_yaxes(scaleanchor=f"x{'' if col == 1 else col}", showticklabels=False, row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
    fig.update_layout(title=title, template="plotly_white", width=300 * len(names) + 100, height=380)
    return fig


def save_html(figures: dict[str, go.Figure], directory: str | os.PathLike,
              js_dir: str | os.PathLike | None = None) -> list[Path]:
    """Write each figure to ``directory/<name>.html`` atomically, loading plotly.js from ``js_dir``.

    ``plotly.min.js`` is written once into ``js_dir`` (default: ``directory``; ``fdlf reproduce`` passes the
    results root, so all result pages share one copy) and each page refers to it by a relative path, so
    the pages work offline without embedding 3.5 MB of JavaScript in every file.
    """
    directory = Path(directory)
    js = Path(js_dir if js_dir is not None else directory) / "plotly.min.js"
    source = get_plotlyjs()
    if not js.exists() or js.read_text() != source:
        atomic_write(js, lambda f: f.write(source), binary=False)
    src = Path(os.path.relpath(js.resolve(), directory.resolve())).as_posix()
    paths = []
    for name, fig in figures.items():
        html = fig.to_html(include_plotlyjs=src, full_html=True)
        paths.append(atomic_write(directory / f"{name}.html", lambda f: f.write(html), binary=False))
    return paths


def transfer_phase_diagram(ratios: list[dict], radii: dict[str, int],
                           title: str = "Size transfer: score RMSE at the largest L over the training size") -> go.Figure:
    """The sweep's phase diagram: one heatmap per training size, R_eff across, the families up the side in
    the order of their measured response radius (``radii``: family -> radius, labelled on the axis), each
    cell the RMSE ratio (``experiments.transfer.transfer_ratios`` rows; 1 = transfers, above 1 = degrades),
    with the value written in it. Dashed: where R_eff equals the family's radius. Dotted, across a panel:
    from there on the model's window (2 R_eff + 1 sites) is wider than the training lattice, so it sees sites'
    periodic images, whose weights the training data cannot tell apart (results/studies/small_train/)."""
    sizes = sorted({r["train_L"] for r in ratios})
    families = sorted({r["family"] for r in ratios}, key=lambda f: (radii.get(f, 10 ** 9), f))
    labels = [f"{f} (radius {radii[f]})" if f in radii else f for f in families]
    R_all = sorted({r["R_eff"] for r in ratios})
    value = {(r["family"], r["train_L"], r["R_eff"]): r["ratio"] for r in ratios}
    largest = {t: max(r["L"] for r in ratios if r["train_L"] == t) for t in sizes}
    fig = make_subplots(rows=1, cols=max(len(sizes), 1), shared_yaxes=True,
                        subplot_titles=[f"trained at L={t}, ratio at L={largest[t]}" for t in sizes])
    for col, t in enumerate(sizes, start=1):
        z = [[value.get((f, t, R)) for R in R_all] for f in families]
        fig.add_trace(go.Heatmap(z=z, x=[str(R) for R in R_all], y=labels, zmin=0.8, zmax=2.0, colorscale="RdBu_r",
                                 zmid=1.0, showscale=col == len(sizes), colorbar=dict(title="ratio"),
                                 text=[[f"{v:.2f}" if v is not None else "" for v in row] for row in z],
                                 texttemplate="%{text}",
                                 hovertemplate=f"trained at L={t}<br>%{{y}}<br>R_eff=%{{x}}<br>ratio %{{z:.3f}}<extra></extra>"),
                      row=1, col=col)
        for k, f in enumerate(families):  # the family's radius on the R_eff axis (between the columns it falls in)
            if f in radii and R_all[0] <= radii[f] <= R_all[-1]:
                pos = next(i for i, R in enumerate(R_all) if R >= radii[f]) - (0.5 if radii[f] not in R_all else 0)
                fig.add_shape(type="line", x0=pos, x1=pos, y0=k - 0.5, y1=k + 0.5, line=dict(dash="dash", color="black"),
                              row=1, col=col)
        wraps = [i for i, R in enumerate(R_all) if not lattice.window_fits(R, t)]
        if wraps:
            fig.add_shape(type="line", x0=wraps[0] - 0.5, x1=wraps[0] - 0.5, y0=-0.5, y1=len(families) - 0.5,
                          line=dict(dash="dot", color="grey", width=3), row=1, col=col)
            fig.add_annotation(x=wraps[0] - 0.5, y=len(families) - 0.5, text=f"window wider than L={t}",
                               showarrow=False, xanchor="left", yanchor="bottom", font=dict(size=10, color="grey"),
                               row=1, col=col)
        fig.update_xaxes(title_text="receptive radius R_eff", type="category", row=1, col=col)
    fig.update_layout(title=title, template="plotly_white", width=450 * max(len(sizes), 1) + 250, height=420)
    return fig


def transfer_curves(summary: list[dict], floor: list[dict] | None = None, train_L: int = 32,
                    sizes: tuple[int, int] = (64, 256),
                    title: str = "Size transfer: score RMSE vs R_eff, trained at L=32") -> go.Figure:
    """The sweep's RMSE (``experiments.transfer`` summary) of the models trained at ``train_L`` against R_eff,
    per family: solid at ``sizes[0]``, dashed at ``sizes[1]`` (the gap is what extrapolation costs), and,
    from ``floor`` (the ``floor`` experiment's summary), the locality floor at ``sizes[0]`` dotted (the gap
    to it is what training leaves)."""
    rows = [r for r in summary if r["train_L"] == train_L]
    floor_rows = [r for r in floor or () if r["L"] == sizes[0]]
    fig = go.Figure()
    for fam in _families(rows):
        for L, dash in zip(sizes, ("solid", "dash")):
            fig.add_trace(_trace([r for r in rows if r["L"] == L], "R_eff", "score_rmse", fam, dash=dash,
                                 name=f"{fam}, L={L}", showlegend=True))
        if any(r["family"] == fam for r in floor_rows):
            fig.add_trace(_trace(floor_rows, "R_eff", "score_rmse", fam, dash="dot",
                                 name=f"{fam}: best radius-R fit, L={sizes[0]}"))
    fig.update_layout(title=title, template="plotly_white", width=900, yaxis_title=METRIC_LABELS["score_rmse"],
                      xaxis=dict(title="effective radius R_eff = 2B + 2", tickvals=sorted({r["R_eff"] for r in rows})))
    return fig

"""Extrapolation explorer: score RMSE vs L and response error vs distance, from the reproduction's results."""
from __future__ import annotations

import os
from pathlib import Path

import ipywidgets as w
import plotly.graph_objects as go
import torch

from fdlf_core import diagnostics, experiments, runner, teachers
from fdlf_core.experiments.fdlf2d import sweep_run

from .base import Explorer, Job
from .views import HEIGHT, LEGEND, WIDTH, radius_line

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")  # one per cached figure
FIGURES = ("fig2", "fig1")              # the 2D receptive-field and size sweeps, in the order "train now" prefers
# models trained by the button are cached here (reused on the next click with the same settings)
CHECKPOINTS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fdlf" / "checkpoints"


class ExtrapolationExplorer(Explorer):
    """``family``, ``R_eff`` and ``profile``: the score RMSE (Eq. 16) against the evaluation size and the
    near/far response errors (Eq. 17) of every cached reproduction run with that family and radius
    (instant: read from ``results/<fig>/<profile>/``), with the locality floor dotted where it was run
    (``results/floor/<profile>/``: the best radius-R fit to the exact score). The button trains this combination now, as the
    quick profile of the figure it belongs to would (Fig. 2's if it is in both or neither: its training
    size, budget and evaluation sizes, seed 0, through ``runner.execute_run``), and adds its RMSE at the
    figure's evaluation sizes and its response error at every distance (``diagnostics.response_profile``)
    on fresh evaluation samples. A band error is drawn as a segment across the band of distances it averages
    over; both axes of errors are logarithmic (relative errors span decades)."""

    title = "Size extrapolation: score RMSE vs L and response error vs distance (cached runs, or train now)"

    def __init__(self, results: str | Path = experiments.RESULTS_DIR, checkpoints: str | Path = CHECKPOINTS,
                 **settings):
        self.results, self.checkpoints = Path(results), Path(checkpoints)
        self._now: dict[tuple[str, int], dict] = {}
        super().__init__(**settings)
        self.training = self.add_action("train this one now (quick budget)", self._training_job, self._training_work,
                                        targets=("rmse", "response"))

    def _controls(self, family: str = "medium_range", R_eff: int = 4, profile: str = "paper"):
        style = {"description_width": "initial"}
        radii = sorted({R for name in FIGURES for R in experiments.EXPERIMENTS[name].radii})
        return {"family": w.Dropdown(value=family, options=sorted(teachers.FAMILIES), description="family",
                                     style=style),
                "R_eff": w.Dropdown(value=R_eff, options=radii, description="R_eff", style=style),
                "profile": w.Dropdown(value=profile, options=list(experiments.PROFILES), description="profile",
                                      style=style)}

    def _figures(self):
        layout = dict(width=WIDTH, height=HEIGHT + 60, template="plotly_white", legend=LEGEND, showlegend=True,
                      margin=dict(l=60, r=20, t=60, b=150))
        rmse = go.Figure(layout=layout)
        rmse.update_layout(xaxis_title="evaluation size L",
                           yaxis=dict(title="score relative RMSE (Eq. 16)", type="log"))
        resp = go.Figure(layout=layout)
        resp.update_layout(xaxis_title="distance from the probe (Chebyshev)",
                           yaxis=dict(title="relative response error (Eq. 17)", type="log", exponentformat="power"))
        return {"rmse": rmse, "response": resp}

    def _cached(self, family: str, R_eff: int, profile: str) -> dict[str, list[dict]]:
        """Summary rows of every reproduction figure with results for this family and radius."""
        found = {}
        for name in FIGURES:
            exp = experiments.EXPERIMENTS[name]
            if family not in exp.families or R_eff not in exp.radii:
                continue
            try:
                summary = experiments.load_results(self.results, name, profile).summary
            except FileNotFoundError:
                continue
            rows = sorted((r for r in summary if r["family"] == family and r["R_eff"] == R_eff), key=lambda r: r["L"])
            if rows:
                found[f"{name} (train L={exp.train_L})"] = rows
        return found

    def _floor(self, family: str, R_eff: int, profile: str) -> list[dict]:
        """Summary rows of the locality floor (best radius-R fit to the exact score) for this combination."""
        try:
            summary = experiments.load_results(self.results, "floor", profile).summary
        except FileNotFoundError:
            return []
        return sorted((r for r in summary if r["family"] == family and r["R_eff"] == R_eff), key=lambda r: r["L"])

    def update(self, family: str, R_eff: int, profile: str) -> str:
        cached = self._cached(family, R_eff, profile)
        floor = self._floor(family, R_eff, profile)
        now = self._now.get((family, R_eff))
        rmse, resp = self.figures["rmse"], self.figures["response"]
        rmse.data, resp.data = (), ()
        rmse.layout.annotations, resp.layout.annotations = (), ()
        (near_lo, near_hi), far_lo = diagnostics.NEAR_BAND, diagnostics.FAR_BAND[0]
        for colour, (label, rows) in zip(COLOURS, cached.items()):
            rmse.add_scatter(x=[r["L"] for r in rows], y=[r["score_rmse_mean"] for r in rows], name=label,
                             error_y=dict(type="data", array=[_num(r["score_rmse_sem"]) for r in rows]),
                             mode="lines+markers", line=dict(color=colour))
            # a band error averages over a band of distances: drawn across it (solid near, dotted far), one
            # legend entry per figure; NaN off the response sizes and where a band has ~no response
            for k, r in enumerate(rows):
                for lo, hi, value, sem, dash in ((near_lo, near_hi, r["near_mean"], r["near_sem"], "solid"),
                                                 (far_lo, r["L"] // 2, r["far_mean"], r["far_sem"], "dot")):
                    if value == value:
                        resp.add_scatter(x=[lo, hi], y=[value, value], mode="lines+markers", name=label,
                                         legendgroup=label, showlegend=not any(t.legendgroup == label for t in resp.data),
                                         line=dict(color=colour, dash=dash, width=2 + k),
                                         hovertemplate=f"{label}, L={r['L']}: d {lo}-{hi}: %{{y:.3g}} "
                                                       f"+- {_num(sem):.2g}<extra></extra>")
        if floor:
            rmse.add_scatter(x=[r["L"] for r in floor], y=[r["score_rmse_mean"] for r in floor], mode="lines+markers",
                             name="best radius-R fit (exact score, train L=32)", line=dict(dash="dot", color="grey"))
        if now:
            rmse.add_scatter(x=now["sizes"], y=now["rmse"], name="trained now", mode="lines+markers",
                             line=dict(dash="dash", color="black"))
            resp.add_scatter(x=now["distance"], y=now["relative_error"], mode="lines+markers",
                             name=f"trained now, L={now['response_L']}", line=dict(dash="dash", color="black"))
        resp.layout.shapes = [radius_line(R_eff)]
        rmse.layout.title.text = f"{family}, R_eff={R_eff} ({profile} profile)"
        resp.layout.title.text = (f"response error; R_eff={R_eff} dashed<br><sup>solid: near band (d {near_lo}-"
                                  f"{near_hi}), dotted: far band (d >= {far_lo})</sup>")
        if not cached and not now:
            hint = (f"No cached runs for {family} at R_eff={R_eff} ({profile} profile).<br>Run "
                    f"`fdlf reproduce --profile {profile}`,<br>or press \"train this one now\" above.")
            for fig in (rmse, resp):
                fig.add_annotation(text=hint, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                                   font=dict(size=13, color="#555"), bgcolor="#f7f7f7")
            return (f"no cached runs for {family} at R_eff={R_eff} under {self.results} ({profile}); run "
                    f"`fdlf reproduce --profile {profile}` or press the button")
        return (f"{family}, R_eff={R_eff}: " + (", ".join(cached) or "no cached runs") + ("; locality floor" if floor else "")
                + ("; trained now" if now else ""))

    def now_run(self, family: str, R_eff: int):
        """The run "train now" executes: the quick-profile run (seed 0) of the figure this family and
        radius belong to (else of the first figure with this radius); its response profile is measured at
        the figure's largest evaluation size."""
        figures = [experiments.EXPERIMENTS[name] for name in FIGURES]
        with_radius = [exp for exp in figures if R_eff in exp.radii]
        exp = next((e for e in with_radius if family in e.families), with_radius[0])
        return sweep_run(family, exp.blocks[exp.radii.index(R_eff)], exp.train_L, exp.profiles["quick"], 0,
                         exp.eval_sizes, experiment=f"{exp.name}-explore", profile="quick",
                         teacher_seed=exp.teacher_seed)

    def train_now(self) -> None:
        """Train (or load from ``checkpoints``) this family and radius, evaluate, cache, redraw: here and now
        (the button runs the same in the background)."""
        self.run(self.training)

    def _training_job(self, p: dict) -> Job | str:
        if (p["family"], p["R_eff"]) in self._now:
            return "already trained in this explorer: it is what the figures show"
        spec = self.now_run(p["family"], p["R_eff"])

        def train_and_evaluate() -> dict:
            out = runner.execute_run(spec, self.checkpoints, progress=False)
            model = runner.load_cached(spec, self.checkpoints / f"{spec.train_id}.pt").model
            teacher = spec.data_source(None, False)
            prof = diagnostics.response_profile(model, teacher, max(spec.eval_sizes), n=spec.response_n,
                                                seed=spec.eval_seed)
            finite = torch.isfinite(prof["relative_error"])
            return {"sizes": [r["L"] for r in out["rows"]], "rmse": [r["score_rmse"] for r in out["rows"]],
                    "response_L": max(spec.eval_sizes), "distance": prof["distance"][finite].tolist(),
                    "relative_error": prof["relative_error"][finite].tolist()}

        return Job(f"training {p['family']} at R_eff={p['R_eff']}", train_and_evaluate,
                   lambda result: self._now.__setitem__((p["family"], p["R_eff"]), result))

    def _training_work(self, p: dict) -> float:
        """Training steps times samples times sites times conv blocks: 0 if trained in this explorer or its
        checkpoint is cached (then only the evaluation runs)."""
        if (p["family"], p["R_eff"]) in self._now:
            return 0.0
        spec = self.now_run(p["family"], p["R_eff"])
        if (self.checkpoints / f"{spec.train_id}.pt").exists():
            return 0.0
        return spec.train["steps"] * spec.train["batch_size"] * spec.train["L"] ** 2 * (spec.blocks + 1)


def _num(v: float) -> float:
    return 0.0 if v != v else v  # NaN s.e.m. (one seed): no error bar

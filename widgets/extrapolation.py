"""Extrapolation explorer: score RMSE vs L and response error vs distance, from the reproduction's results."""
from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import plotly.graph_objects as go
import torch

from fdlf_core import diagnostics, experiments, teachers
from fdlf_core.models import LocalCNN
from fdlf_core.training import train_dsm

from .base import Explorer
from .views import HEIGHT, WIDTH, radius_line

RESULTS = Path(experiments.__file__).resolve().parent.parent / "results"
FIGURES = ("fig1", "fig2")              # the 2D size and receptive-field sweeps
NOW_SIZES = (16, 32, 64)                # where a model trained now is evaluated
NOW_RESPONSE_L = 32


class ExtrapolationExplorer(Explorer):
    """``family``, ``R_eff`` and ``profile``: the score RMSE (Eq. 16) against the evaluation size and the
    near/far response errors (Eq. 17) of every cached reproduction run with that family and radius
    (instant: read from ``results/<fig>/<profile>/``). The button trains this combination now (the
    fig. 2 quick budget at L=16, a progress bar) and adds its RMSE at L = 16, 32, 64 and its response
    error at every distance (``diagnostics.response_profile``)."""

    title = "Size extrapolation: score RMSE vs L and response error vs distance (cached runs, or train now)"

    def __init__(self, results: str | Path = RESULTS, **settings):
        self.results = Path(results)
        self._now: dict[tuple[str, int], dict] = {}
        super().__init__(**settings)
        self.add_action("train this one now (quick budget)", self.train_now)

    def _controls(self, family: str = "medium_range", R_eff: int = 4, profile: str = "paper"):
        style = {"description_width": "initial"}
        radii = sorted({2 * b + 2 for name in FIGURES for b in experiments.EXPERIMENTS[name].blocks})
        return {"family": w.Dropdown(value=family, options=sorted(teachers.FAMILIES), description="family",
                                     style=style),
                "R_eff": w.Dropdown(value=R_eff, options=radii, description="R_eff", style=style),
                "profile": w.Dropdown(value=profile, options=list(experiments.PROFILES), description="profile",
                                      style=style)}

    def _figures(self):
        rmse = go.Figure()
        rmse.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white", xaxis_title="evaluation size L",
                           yaxis_title="score relative RMSE (Eq. 16)", margin=dict(t=50))
        resp = go.Figure()
        resp.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white",
                           xaxis_title="distance from the probe (Chebyshev)",
                           yaxis_title="relative response error (Eq. 17)", margin=dict(t=50))
        return {"rmse": rmse, "response": resp}

    def _cached(self, family: str, R_eff: int, profile: str) -> dict[str, list[dict]]:
        """Summary rows of every reproduction figure with results for this family and radius."""
        found = {}
        for name in FIGURES:
            exp = experiments.EXPERIMENTS[name]
            if family not in exp.families or (R_eff - 2) // 2 not in exp.blocks:
                continue
            try:
                summary = experiments.load_results(self.results, name, profile).summary
            except FileNotFoundError:
                continue
            rows = sorted((r for r in summary if r["family"] == family and r["R_eff"] == R_eff), key=lambda r: r["L"])
            if rows:
                found[f"{name} (train L={exp.train_L})"] = rows
        return found

    def update(self, family: str, R_eff: int, profile: str) -> str:
        cached = self._cached(family, R_eff, profile)
        now = self._now.get((family, R_eff))
        rmse, resp = self.figures["rmse"], self.figures["response"]
        rmse.data, resp.data = (), ()
        for label, rows in cached.items():
            rmse.add_scatter(x=[r["L"] for r in rows], y=[r["score_rmse_mean"] for r in rows], name=label,
                             error_y=dict(type="data", array=[_num(r["score_rmse_sem"]) for r in rows]),
                             mode="lines+markers")
            banded = [r for r in rows if r["far_mean"] == r["far_mean"]]  # NaN off the response sizes
            for r in banded:
                resp.add_scatter(x=[1.5, 3 + (r["L"] // 2 - 3) / 2], y=[r["near_mean"], r["far_mean"]],
                                 error_y=dict(type="data", array=[_num(r["near_sem"]), _num(r["far_sem"])]),
                                 mode="markers", name=f"{label}, L={r['L']}: near (d 1-2) / far (d >= 3)")
        if now:
            rmse.add_scatter(x=list(NOW_SIZES), y=now["rmse"], name="trained now", mode="lines+markers",
                             line=dict(dash="dash", color="black"))
            resp.add_scatter(x=now["distance"], y=now["relative_error"], mode="lines+markers",
                             name=f"trained now, L={NOW_RESPONSE_L}", line=dict(dash="dash", color="black"))
        resp.layout.shapes = [radius_line(R_eff)]
        rmse.layout.title.text = f"{family}, R_eff={R_eff} ({profile} profile)"
        resp.layout.title.text = f"response error; R_eff={R_eff} dashed"
        if not cached and not now:
            return (f"no cached runs for {family} at R_eff={R_eff} under {self.results} ({profile}); run "
                    f"`fdlf reproduce --profile {profile}` or press the button")
        return f"{family}, R_eff={R_eff}: " + (", ".join(cached) or "no cached runs") + ("; trained now" if now else "")

    def train_now(self) -> None:
        """Train this family and radius with the fig. 2 quick budget at L=16, evaluate, cache, redraw."""
        p = self.params()
        budget = experiments.EXPERIMENTS["fig2"].profiles["quick"]
        teacher = teachers.make(p["family"], seed=0)
        model = LocalCNN.from_radius(p["R_eff"], budget.width, seed=0)

        def train_and_evaluate():
            train_dsm(teacher, model, 16, budget.steps, budget.batch_size, lr=budget.lr,
                      sigma_min=budget.sigma_min, sigma_max=budget.sigma_max, seed=0)
            return ([diagnostics.score_rmse(model, teacher, L, n=budget.eval_n, seed=1) for L in NOW_SIZES],
                    diagnostics.response_profile(model, teacher, NOW_RESPONSE_L, n=budget.response_n, seed=1))

        result = self.with_progress("could not train", train_and_evaluate)
        if result is None:
            return
        rmse, prof = result
        finite = torch.isfinite(prof["relative_error"])
        self._now[(p["family"], p["R_eff"])] = {
            "rmse": rmse, "distance": prof["distance"][finite].tolist(),
            "relative_error": prof["relative_error"][finite].tolist()}
        self.refresh()


def _num(v: float) -> float:
    return 0.0 if v != v else v  # NaN s.e.m. (one seed): no error bar

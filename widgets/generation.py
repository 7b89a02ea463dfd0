"""Generation explorer: a Table 5 model generates at a chosen size; teacher and generated samples side by
side, the local observables' errors, and the reverse process frame by frame."""
from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import plotly.graph_objects as go
import torch

from fdlf_core import experiments, observables, plots, runner, sampling
from fdlf_core.experiments.generation import TABLE5

from .base import Explorer, Job
from .views import LEGEND, replace_figure

FRAMES = 9       # frames of the reverse process on the slider, evenly spaced in steps (first: pure noise)


class GenerationExplorer(Explorer):
    """A family of Table 5, a profile whose ``table5`` model is cached under ``results`` (``fdlf reproduce
    --only table5``; seed 0), a generation size ``L`` and a sampler. The button generates as the run does
    (its sample count, sampler steps and seeds, so at one of the run's sizes it reproduces the run's row)
    beside as many exact teacher samples. Shown: one teacher sample and one generated sample at the
    reverse-process ``frame`` the slider picks (the last: the generated sample), and each local
    observable's absolute error with its bootstrap standard error, next to the same error between two
    independent teacher sets (what that many samples alone give). Generated sets are cached per setting, so
    the slider and the dropdowns move between them at once."""

    title = "Generation (Table 5): teacher vs generated samples, local observables, the reverse process"

    def __init__(self, results: str | Path = experiments.RESULTS_DIR, **settings):
        self.results = Path(results)
        self._generated: dict[tuple, dict] = {}
        super().__init__(**settings)
        self.generation = self.add_action("generate", self._generation_job, self._generation_work,
                                          targets=("samples", "observables"))

    def _controls(self, family: str = "complex_long", profile: str = "paper", L: int = 32, sampler: str = "sde",
                  frame: int = FRAMES - 1):
        style = {"description_width": "initial"}
        return {"family": w.Dropdown(value=family, options=list(TABLE5.families), description="teacher", style=style),
                "profile": w.Dropdown(value=profile, options=list(TABLE5.profiles), description="model of profile",
                                      style=style),
                "L": w.Dropdown(value=L, options=list(TABLE5.gen_sizes), description="generation L", style=style),
                "sampler": w.Dropdown(value=sampler, options=list(sampling.METHODS), description="sampler", style=style),
                "frame": w.IntSlider(value=frame, min=0, max=FRAMES - 1, description="reverse-process frame",
                                     style=style)}

    def _figures(self):
        return {"samples": go.Figure(), "observables": go.Figure()}

    def run_spec(self, family: str, profile: str):
        """The Table 5 run whose model generates here (seed 0) and its checkpoint path."""
        spec = TABLE5.run(family, profile, 0)
        return spec, experiments.result_dir(self.results, "table5", profile) / "checkpoints" / f"{spec.train_id}.pt"

    def update(self, family: str, profile: str, L: int, sampler: str, frame: int) -> str:
        done = self._generated.get((family, profile, L, sampler))
        samples, obs = self.figures["samples"], self.figures["observables"]
        if done is None:
            spec, checkpoint = self.run_spec(family, profile)
            hint = (f"Press \"generate\" to sample {family} at L={L} ({sampler})." if checkpoint.exists() else
                    f"No cached {profile} model for {family}.<br>Run `fdlf reproduce --only table5 --profile {profile}`.")
            for fig in (samples, obs):
                with fig.batch_update():
                    fig.data, fig.layout = (), go.Layout(template="plotly_white", width=760, height=380)
                    fig.add_annotation(text=hint, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                                       font=dict(size=13, color="#555"), bgcolor="#f7f7f7")
                    fig.update_xaxes(visible=False)
                    fig.update_yaxes(visible=False)
                    fig.add_scatter(x=[], y=[], showlegend=False, hoverinfo="skip")  # drawn: the page's "ready" test
            return hint.replace("<br>", " ")
        sigma, field = done["frames"][frame]
        what = "generated" if frame == FRAMES - 1 else f"reverse process at sigma={sigma:.3g}"
        replace_figure(samples, plots.sample_grid({"teacher": done["teacher"], what: field},
                                                  title=f"{family}, L={L}, {sampler} ({done['steps']} steps)"))
        replace_figure(obs, _observable_bars(done["error"], done["floor"], done["n"]))
        obs.update_layout(legend=LEGEND)
        err = done["error"]
        return (f"{family}, L={L}, {sampler}: local-observable MAE {err['mae']:.3f} ± {err['stderr']:.3f} "
                f"(teacher vs teacher: {done['floor']['mae']:.3f}); relative correlation error {err['corr_rel']:.2f} "
                f"(teacher vs teacher: {done['floor']['corr_rel']:.2f}); frame {frame}: sigma={sigma:.3g}")

    def _generation_job(self, p: dict) -> Job | str:
        key = (p["family"], p["profile"], p["L"], p["sampler"])
        if key in self._generated:
            return "already generated in this explorer: it is what the figures show"
        spec, checkpoint = self.run_spec(p["family"], p["profile"])
        if not checkpoint.exists():
            return f"no cached {p['profile']} model for {p['family']}: run `fdlf reproduce --only table5 --profile {p['profile']}`"
        steps = dict(spec.sampler_steps)[p["sampler"]]

        def generate() -> dict:
            model = runner.load_cached(spec, checkpoint).model
            record: list = []
            x = spec.generate(model, p["L"], p["sampler"], steps, record)
            reference, floor = spec.references(spec.data_source(None, False), p["L"])
            picks = torch.linspace(0, len(record) - 1, FRAMES).round().long().tolist()
            # clones: a view would keep the whole (n, L, L) batch of every frame alive in the cache
            return {"frames": [(record[k][0], record[k][1][0].clone()) for k in picks],
                    "teacher": reference[0].clone(), "steps": steps, "n": spec.n_samples, "floor": floor,
                    "error": observables.observable_mae(x, reference, spec.n_boot, spec.eval_seed)}

        return Job(f"generating {p['family']} at L={p['L']} ({p['sampler']}, {steps} steps)", generate,
                   lambda result: self._generated.__setitem__(key, result))

    def _generation_work(self, p: dict) -> float:
        """Model calls times sites: 0 if generated in this explorer or no model is cached."""
        if (p["family"], p["profile"], p["L"], p["sampler"]) in self._generated:
            return 0.0
        spec, checkpoint = self.run_spec(p["family"], p["profile"])
        if not checkpoint.exists():
            return 0.0
        steps = dict(spec.sampler_steps)[p["sampler"]]
        calls = 2 * steps - 1 if p["sampler"] == "ode" else steps  # Heun: 2 per step but the last
        return calls * spec.n_samples * p["L"] ** 2


def _observable_bars(error: dict, floor: dict, n: int) -> go.Figure:
    names = list(observables.OBSERVABLES)
    fig = go.Figure([
        go.Bar(x=names, y=[error["per_observable"][k] for k in names], name="|generated - teacher|",
               error_y=dict(type="data", array=[error["per_observable_stderr"][k] for k in names], visible=True),
               marker_color="#d62728"),
        go.Bar(x=names, y=[floor["per_observable"][k] for k in names], name=f"|teacher - teacher| ({n} samples each)",
               error_y=dict(type="data", array=[floor["per_observable_stderr"][k] for k in names], visible=True),
               marker_color="#7f7f7f")])
    fig.update_layout(title="each local observable's absolute error (bootstrap error bars)", barmode="group",
                      yaxis=dict(title="absolute error", type="log"), template="plotly_white", width=760, height=420,
                      margin=dict(l=60, r=20, t=60, b=120))
    return fig

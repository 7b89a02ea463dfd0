"""Response explorer: an FDLF teacher's exact clean-score response, and its smoothed response by MALA."""
from __future__ import annotations

import dataclasses
import functools

import ipywidgets as w
import plotly.graph_objects as go
import torch

from fdlf_core import diagnostics, posterior, teachers

from .base import Explorer, Job
from .views import HEIGHT, WIDTH, draw_response, heatmap_figure, receptive_square, tail_figure, update_tail

DIALS = ("smoother_depth", "cutoff", "power", "nonlinear", "gamma_scale")  # the range dials of teachers.make
MALA = posterior.MALAConfig(n_chains=16, n_steps=600, burn_in=200)  # about a minute at L=16 on 2 cores


# A teacher, its sample and its exact clean response are pure functions of the settings; caching them makes
# an R_eff move and a revisit cost only the drawing.
@functools.lru_cache(maxsize=16)
def _teacher_and_sample(family: str, dials: tuple, L: int, seed: int):
    teacher = teachers.make(family, seed=0, **dict(dials))
    return teacher, teacher.sample(1, L, generator=torch.Generator().manual_seed(seed))


@functools.lru_cache(maxsize=128)
def _clean_response(family: str, dials: tuple, L: int, seed: int, probe: tuple[int, int]) -> torch.Tensor:
    teacher, x = _teacher_and_sample(family, dials, L, seed)
    return teacher.response(x, probe)[0]


class ResponseExplorer(Explorer):
    """Family and range dials (``teachers.make`` overrides), ``L``, a sample ``seed``, the probe site
    (sliders, or click the heatmap), ``R_eff`` and ``sigma``: the exact clean-score response of one teacher
    sample (log colour), its tail curve, and the sample. For ``sigma > 0`` the button estimates the smoothed
    response ``sigma^-4 Cov(X_probe, X | y) - sigma^-2`` (Eq. 9) by MALA on the noisy posterior of
    ``y = x + sigma eps``; results are cached per setting, and the status line gives the largest error bar.
    Cells whose error bar exceeds their estimate are masked as "not resolved"."""

    title = "FDLF teachers: clean-score response, and the smoothed response from the posterior (Eq. 9)"

    def __init__(self, **settings):
        self._smoothed: dict[tuple, tuple] = {}
        super().__init__(**settings)
        self.mala = self.add_action("compute smoothed response (MALA)", self._mala_job, self._mala_work,
                                    targets=("heatmap", "tail"),
                                    calibrate_params=lambda p: p if p["sigma"] > 0 else {**p, "sigma": 0.5})
        self.views["heatmap"].on_click(self._pick_probe)

    def _controls(self, family: str = "medium_range", L: int = 16, seed: int = 0, probe_row: int = 8,
                  probe_col: int = 8, R_eff: int = 4, sigma: float = 0.0, **dials):
        style = {"description_width": "initial"}
        # a new teacher, sample or probe is a new autograd response (measured 61-74 ms at L=32, 84-113 ms at
        # L=64 when not cached): those sliders update when released, not while dragged
        slow = dict(continuous_update=False, style=style)
        base = dataclasses.replace(teachers.FAMILIES[family], **dials)
        return {
            "family": w.Dropdown(value=family, options=sorted(teachers.FAMILIES), description="family", style=style),
            "smoother_depth": w.IntSlider(value=base.smoother_depth, min=0, max=6, description="smoother depth",
                                          **slow),
            "cutoff": w.IntSlider(value=base.cutoff, min=1, max=8, description="cutoff", **slow),
            "power": w.FloatSlider(value=base.power, min=-2.0, max=0.0, step=0.25, description="distance power",
                                   **slow),
            "nonlinear": w.Checkbox(value=base.nonlinear, description="nonlinear smoother"),
            "gamma_scale": w.FloatSlider(value=base.gamma_scale, min=0.0, max=0.01, step=0.001,
                                         readout_format=".3f", description="mean stress", **slow),
            "L": w.Dropdown(value=L, options=[16, 32, 64], description="L", style=style),
            "seed": w.IntSlider(value=seed, min=0, max=99, description="sample seed", **slow),
            "probe_row": w.IntSlider(value=probe_row, min=0, max=L - 1, description="probe row", **slow),
            "probe_col": w.IntSlider(value=probe_col, min=0, max=L - 1, description="probe col", **slow),
            "R_eff": w.IntSlider(value=R_eff, min=1, max=16, description="model R_eff", style=style),
            "sigma": w.FloatSlider(value=sigma, min=0.0, max=1.0, step=0.05, description="noise sigma", style=style),
        }

    def _figures(self):
        tail = tail_figure("fraction of the off-site response beyond R")
        tail.data[0].name = "clean (exact)"
        tail.add_scatter(x=[], y=[], mode="lines+markers", name="smoothed (MALA)")
        sample = go.Figure(go.Heatmap(z=[[0.0]], colorscale="RdBu", zmid=0))
        sample.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white", margin=dict(t=60),
                             xaxis=dict(constrain="domain"), yaxis=dict(scaleanchor="x", constrain="domain"))
        return {"heatmap": heatmap_figure("|response| (log10)"), "tail": tail, "sample": sample}

    def _follow(self, name: str, value) -> dict:
        """A family brings its own dials; the probe sliders span the lattice."""
        if name == "family":
            return {dial: getattr(teachers.FAMILIES[value], dial) for dial in DIALS}
        if name == "L":
            with self._hold():
                for probe in ("probe_row", "probe_col"):
                    self.controls[probe].max = value - 1
        return {}

    def _pick_probe(self, point: dict) -> None:
        """A click on heatmap cell (row, col) = (y, x) makes it the probe."""
        self.set(probe_row=int(point["y"]), probe_col=int(point["x"]))

    @staticmethod
    def _sample_key(p: dict) -> tuple:
        """(family, dials, L, seed, probe): what the teacher sample and its response depend on."""
        L = p["L"]
        probe = (min(p["probe_row"], L - 1), min(p["probe_col"], L - 1))
        return p["family"], tuple((name, p[name]) for name in DIALS), L, p["seed"], probe

    def update(self, **p) -> str:
        key = self._sample_key(p)
        teacher, x = _teacher_and_sample(*key[:4])
        clean = _clean_response(*key)
        probe, L, R_eff, sigma = key[4], p["L"], p["R_eff"], p["sigma"]
        smoothed = self._smoothed.get((*key, sigma)) if sigma > 0 else None
        shown = smoothed[0].value if smoothed else clean
        fig = self.figures["heatmap"]
        draw_response(fig, shown, probe, smoothed[0].stderr if smoothed else None)
        if smoothed:  # each cell's estimate and error bar on hover
            fig.data[0].customdata = torch.stack([shown, smoothed[0].stderr], -1).tolist()
            fig.data[0].hovertemplate = ("cell (%{y}, %{x}): response %{customdata[0]:.3g} "
                                         "+- %{customdata[1]:.2g} (MALA)<extra></extra>")
        else:
            fig.data[0].customdata = None
            fig.data[0].hovertemplate = "cell (%{y}, %{x}): log10 |response| %{z:.3f} (exact)<extra></extra>"
        fig.layout.shapes = receptive_square(probe, R_eff, L)
        fig.layout.title.text = ("smoothed (MALA)" if smoothed else "clean (exact)") + f" response of {probe}"
        clean_curve = diagnostics.tail_curve(clean, probe)
        fig = self.figures["tail"]
        update_tail(fig, clean_curve, R_eff,
                    f"beyond R_eff={R_eff}: clean {float(clean_curve[min(R_eff, L // 2)]):.3g}")
        if smoothed:
            curve = diagnostics.tail_curve(smoothed[0].value, probe)
            fig.data[3].update(x=list(range(len(curve) - 1)), y=curve[:-1].tolist())
        else:
            fig.data[3].update(x=[], y=[])
        self.figures["sample"].data[0].z = x[0].tolist()
        self.figures["sample"].update_xaxes(range=[-0.5, L - 0.5]).update_yaxes(range=[L - 0.5, -0.5])
        self.figures["sample"].layout.title.text = f"teacher sample, L={L}, seed {p['seed']}"
        message = f"{p['family']} (locality radius r={teacher.locality_radius}), probe {probe}"
        if sigma > 0 and smoothed:
            est, info = smoothed
            far = diagnostics.tail_curve(est.value, probe)[min(R_eff, L // 2)]
            message += (f"; smoothed at sigma={sigma:g}: beyond R_eff {float(far):.3g}, largest error bar "
                        f"{float(est.stderr.max()):.2g} (MALA acceptance {info['acceptance']:.2f})")
        elif sigma > 0:
            message += f"; sigma={sigma:g}: press the button to estimate the smoothed response"
        return message

    def compute_smoothed(self) -> None:
        """Estimate the smoothed response for the current settings (MALA; cached), here and now (the button
        runs the same in the background), then redraw."""
        self.run(self.mala)

    def _mala_job(self, p: dict) -> Job | str:
        if p["sigma"] <= 0:
            return "set sigma > 0 first: at sigma = 0 the response shown is the exact clean one"
        key = self._sample_key(p)
        if (*key, p["sigma"]) in self._smoothed:
            return "already computed for these settings: it is what the figures show"
        teacher, x = _teacher_and_sample(*key[:4])
        probe, sigma, config = key[4], p["sigma"], MALA
        noise = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(p["seed"] + 1))
        y = x[0] + sigma * noise[0]
        return Job(f"MALA at sigma={sigma:g}, probe {probe}",
                   lambda: posterior.smoothed_response(teacher.log_prob, teacher.score, y, sigma, probe, config,
                                                       progress=False),
                   lambda result: self._smoothed.__setitem__((*key, sigma), result))

    def _mala_work(self, p: dict) -> float:
        """Chain steps times sites (a teacher evaluation per step costs about the same per site): 0 if cached."""
        if (*self._sample_key(p), p["sigma"]) in self._smoothed:
            return 0.0
        return MALA.n_chains * (MALA.burn_in + MALA.n_steps) * p["L"] ** 2

"""Ising explorer: the smoothed-score response sigma^-4 <x_0 x_r> (Eq. 22) as beta/beta_c moves toward 1."""
from __future__ import annotations

import functools

import ipywidgets as w
import plotly.graph_objects as go
import torch

from fdlf_core import ising, stats, tweedie

from .base import Explorer, Job
from .views import HEIGHT, LEGEND, WIDTH, draw_response, heatmap_figure, radius_line, receptive_square

INFINITE_RANGE = 16            # distances shown for the infinite lattice
SAMPLE_L = 32                  # size of the sample configuration shown, and of the sampled response
SAMPLED_N = 1000               # Wolff samples behind the "sample" button (5-10 s on one core)
XI_GRID = [round(0.5 + 0.01 * k, 2) for k in range(101)]  # beta/beta_c of the correlation-length curve


# Exact results are pure functions of their arguments; caching makes a slider revisit instant.
@functools.lru_cache(maxsize=256)
def _exact_map(L: int, beta: float) -> torch.Tensor:
    return ising.exact_correlations(L, beta)


@functools.lru_cache(maxsize=256)
def _infinite(beta: float) -> torch.Tensor:
    return ising.infinite_correlation(beta, INFINITE_RANGE)


@functools.lru_cache(maxsize=256)
def _sample(beta: float, seed: int) -> torch.Tensor:
    return ising.wolff_sample(SAMPLE_L, beta, 1, seed=seed, progress=False)[0]


class IsingExplorer(Explorer):
    """Sliders ``beta_ratio`` (beta/beta_c), ``sigma``, ``L`` (exact: enumeration / transfer matrix),
    ``R_eff`` and a sample ``seed``: the response along an axis (exact at L and on the infinite lattice, log
    scale), the exact L x L response map, the correlation length against R_eff, and a Wolff sample. The
    button samples the response at L=32 (``SAMPLED_N`` Wolff samples, blocking error bars), cached per
    beta and seed; sigma only rescales it (Eq. 22), so a sigma move keeps it."""

    title = "Critical Ising: smoothed-score response d s_0(0) / d y_r = sigma^-4 <x_0 x_r> (Eq. 22)"

    def __init__(self, **settings):
        self._sampled: dict[tuple[float, int], stats.Estimate] = {}
        super().__init__(**settings)
        self.sampling = self.add_action(f"sample the response at L={SAMPLE_L} (Wolff, {SAMPLED_N} samples)",
                                        self._sampling_job, self._sampling_work, targets=("profile",))

    def _controls(self, beta_ratio: float = 0.9, sigma: float = 1.0, L: int = 8, R_eff: int = 5, seed: int = 0):
        style = {"description_width": "initial"}
        slow = dict(continuous_update=False, style=style)
        return {
            "beta_ratio": w.FloatSlider(value=beta_ratio, min=0.5, max=1.5, step=0.01, description="beta/beta_c",
                                        **slow),
            "sigma": w.FloatLogSlider(value=sigma, base=2, min=-2, max=3, step=0.25, description="noise sigma",
                                      **slow),
            "L": w.Dropdown(value=L, options=[("4", 4), ("6", 6), ("8", 8), ("10 (about 5 s)", 10)],
                            description="exact L", style=style),
            "R_eff": w.IntSlider(value=R_eff, min=1, max=INFINITE_RANGE, description="model R_eff", style=style),
            "seed": w.IntSlider(value=seed, min=0, max=99, description="sample seed", **slow),
        }

    def _figures(self):
        profile = go.Figure([go.Scatter(mode="lines+markers", name="exact, L"),
                             go.Scatter(mode="lines", name="exact, infinite lattice", line=dict(dash="dot")),
                             go.Scatter(mode="markers", name=f"Wolff, L={SAMPLE_L}", x=[], y=[]),
                             go.Scatter(mode="markers", name="Wolff: error bar > value (upper bound)", x=[], y=[],
                                        marker=dict(symbol="triangle-down-open", size=9, color="#2ca02c"))])
        profile.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white", xaxis_title="distance r (axis)",
                              yaxis=dict(type="log", title="d s_0(0) / d y_r", exponentformat="power"),
                              legend=LEGEND, margin=dict(t=60, b=110))
        xi = go.Figure([go.Scatter(x=XI_GRID, y=[min(ising.correlation_length(b * ising.BETA_C), 1e3)
                                                 for b in XI_GRID], mode="lines", name="xi (exact, infinite)"),
                        go.Scatter(mode="markers", marker=dict(size=11, color="#d62728"), name="now")])
        xi.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white", xaxis_title="beta / beta_c",
                         yaxis=dict(type="log", title="correlation length xi"), legend=LEGEND,
                         margin=dict(t=60, b=110))
        sample = go.Figure(go.Heatmap(z=[[0]], colorscale=[[0, "white"], [1, "black"]], zmin=-1, zmax=1,
                                      showscale=False))
        sample.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white", margin=dict(t=60),
                             xaxis=dict(range=[-0.5, SAMPLE_L - 0.5], constrain="domain"),
                             yaxis=dict(range=[SAMPLE_L - 0.5, -0.5], scaleanchor="x", constrain="domain"))
        return {"profile": profile, "heatmap": heatmap_figure("|response| (log10)"), "xi": xi, "sample": sample}

    def update(self, beta_ratio: float, sigma: float, L: int, R_eff: int, seed: int) -> str:
        beta = beta_ratio * ising.BETA_C
        corr = _exact_map(L, beta)
        inf = _infinite(beta)
        # Eq. 22 at off-site displacements (r >= 1): sigma^-4 <x_0 x_r>
        resp_L, resp_inf = tweedie.response(corr, sigma), tweedie.response(inf, sigma)
        r_L = list(range(1, L // 2 + 1))
        r_inf = list(range(1, INFINITE_RANGE + 1))
        fig = self.figures["profile"]
        fig.data[0].update(x=r_L, y=[float(resp_L[0, r]) for r in r_L], name=f"exact, L={L}")
        fig.data[1].update(x=r_inf, y=[float(resp_inf[r]) for r in r_inf])
        sampled = self._sampled.get((beta_ratio, seed))
        if sampled is None:
            fig.data[2].update(x=[], y=[], error_y=None)
            fig.data[3].update(x=[], y=[])
        else:
            # a log axis cannot show an estimate whose error bar reaches zero: those are drawn as upper bounds
            # (|value| + error bar, open marker), so noise is not read as a response
            resp_s, err_s = tweedie.response(sampled.value, sigma), tweedie.response(sampled.stderr, sigma)
            r_s = [r for r in range(1, SAMPLE_L // 2 + 1) if err_s[r] <= resp_s[r]]
            r_u = [r for r in range(1, SAMPLE_L // 2 + 1) if err_s[r] > resp_s[r]]
            fig.data[2].update(x=r_s, y=[float(resp_s[r]) for r in r_s],
                               error_y=dict(type="data", array=[float(err_s[r]) for r in r_s]))
            fig.data[3].update(x=r_u, y=[float(abs(resp_s[r]) + err_s[r]) for r in r_u])
        fig.layout.shapes = [radius_line(R_eff)]
        fig.layout.title.text = f"sigma={sigma:g}: response along an axis; R_eff={R_eff} dashed"
        probe = (L // 2, L // 2)
        fig = self.figures["heatmap"]
        draw_response(fig, torch.roll(resp_L, probe, (0, 1)), probe)
        fig.layout.shapes = receptive_square(probe, R_eff, L)
        fig.layout.title.text = f"exact response map, L={L}"
        xi = ising.correlation_length(beta)
        fig = self.figures["xi"]
        fig.data[1].update(x=[beta_ratio], y=[min(xi, 1e3)])
        fig.layout.shapes = [radius_line(R_eff, horizontal=True)]
        fig.layout.title.text = f"xi = {xi:.3g} vs R_eff = {R_eff} (dashed)"
        spins = _sample(beta, seed)
        fig = self.figures["sample"]
        fig.data[0].z = spins.tolist()
        fig.layout.title.text = f"a Wolff sample, L={SAMPLE_L}, seed {seed}"
        beyond = float(resp_inf[min(R_eff + 1, INFINITE_RANGE)])
        message = (f"beta/beta_c={beta_ratio:.2f}: xi = {xi:.3g}; infinite-lattice response at r=R_eff+1="
                   f"{R_eff + 1}: {beyond:.3g} (at r=1: {float(resp_inf[1]):.3g})")
        if sampled is not None:
            r = min(R_eff + 1, SAMPLE_L // 2)
            message += (f"; sampled at L={SAMPLE_L}, r={r}: {float(resp_s[r]):.3g} +- "
                        f"{float(err_s[r]):.2g} (tau_int {float(sampled.tau_int[r]):.1f})")
        return message

    def sample_response(self) -> None:
        """Sample ``<x_0 x_r>`` at L=32 for the current beta and seed (Wolff, blocking error bars; cached),
        here and now (the button runs the same in the background)."""
        self.run(self.sampling)

    def _sampling_job(self, p: dict) -> Job | str:
        key = (p["beta_ratio"], p["seed"])
        if key in self._sampled:
            return "already sampled for this beta and seed: it is what the profile shows"

        def compute() -> stats.Estimate:
            samples = ising.wolff_sample(SAMPLE_L, p["beta_ratio"] * ising.BETA_C, SAMPLED_N, seed=p["seed"],
                                         progress=False)
            return stats.binned_mean(ising.per_sample_correlations(samples))

        return Job(f"Wolff sampling at beta/beta_c={p['beta_ratio']:.2f}, seed {p['seed']}", compute,
                   lambda estimate: self._sampled.__setitem__(key, estimate))

    def _sampling_work(self, p: dict) -> float:
        """Spins the chain flips (thermalisation and one sweep between samples, whatever beta): 0 if cached."""
        if (p["beta_ratio"], p["seed"]) in self._sampled:
            return 0.0
        return (20 + SAMPLED_N) * SAMPLE_L ** 2

"""Gaussian-field explorer: a nearest-neighbour clean score whose exact smoothed score is not local."""
from __future__ import annotations

import ipywidgets as w
import torch

from fdlf_core import diagnostics, gaussian

from .base import Explorer
from .views import RoundLogSlider, draw_response, heatmap_figure, receptive_square, tail_figure, update_tail


class GaussianExplorer(Explorer):
    """Sliders ``kappa`` (mass), ``sigma`` (noise; 0 = the clean score), ``L`` and ``R_eff``: the exact
    response ``d s_sigma,probe / d y`` (log colour, the probe's own entry left out; exact zeros and rounding
    noise masked), the tail curve (Eq. 5, normalised) with the R_eff marker, and the fraction of the
    response beyond R_eff."""

    title = "Gaussian free field: the exact smoothed-score response (Tweedie, by FFT)"

    def _controls(self, kappa: float = 0.3, sigma: float = 1.0, L: int = 32, R_eff: int = 4):
        style = {"description_width": "initial"}
        return {
            "kappa": RoundLogSlider(kappa, 0.01, 10.0, description="mass kappa", style=style),
            "sigma": w.FloatSlider(value=sigma, min=0.0, max=8.0, step=0.05, description="noise sigma", style=style),
            "L": w.Dropdown(value=L, options=[16, 32, 64, 128], description="L", style=style),
            "R_eff": w.IntSlider(value=R_eff, min=1, max=16, description="model R_eff", style=style),
        }

    def _figures(self):
        return {"heatmap": heatmap_figure("|d s_probe / d y_j| (log10)"),
                "tail": tail_figure("fraction of the off-site response beyond R")}

    def update(self, kappa: float, sigma: float, L: int, R_eff: int) -> str:
        row = gaussian.score_response(kappa, sigma, L)
        probe = (L // 2, L // 2)
        centred = torch.roll(row, probe, (0, 1))
        curve = diagnostics.tail_curve(centred, probe)
        beyond = float(curve[min(R_eff, L // 2)])
        fig = self.figures["heatmap"]
        draw_response(fig, centred, probe)
        fig.layout.shapes = receptive_square(probe, R_eff, L)
        what = "clean score -Qx: the nearest-neighbour stencil" if sigma == 0 else f"response of site {probe}"
        fig.layout.title.text = f"{what}, L={L}"
        update_tail(self.figures["tail"], curve, R_eff, f"beyond R_eff={R_eff}: {beyond:.3g}")
        xi = gaussian.response_length(kappa, sigma)
        kind = "clean score (nearest neighbour)" if sigma == 0 else f"response length xi = {xi:.2f}"
        return f"{kind}; fraction of the response beyond R_eff={R_eff}: {beyond:.3g}"

"""Figure pieces the explorers share: a response heatmap that shows numerical noise as noise, the R_eff
square wrapped on the torus, the tail curve with its numerical floor, and a slider on a grid of round values."""
from __future__ import annotations

import math

import ipywidgets as w
import plotly.graph_objects as go
import torch
from traitlets import validate

WIDTH, HEIGHT = 460, 440
# float64 responses (FFT, autograd) carry rounding noise of ~1e-16 of their largest entry, and a tail sum
# over up to 128^2 cells ~1e-14 (measured: the Gaussian tail flattens there); below this fraction of the
# largest off-site |response| (cells) or of the total off-site response (tail), a value is not resolved
NOISE_FLOOR = 1e-12
RED = "#d62728"
# the cells the colour scale leaves out, drawn in flat colours with a legend entry each
MASKS = {1: ("exactly 0", "#ffffff"), 2: (f"below {NOISE_FLOOR:.0e} of the largest: rounding noise", "#bdbdbd"),
         3: ("error bar larger than the value: not resolved", "#f4b6c2")}
LEGEND = dict(orientation="h", x=0, y=-0.16, xanchor="left", yanchor="top", font=dict(size=11))


def heatmap_figure(colorbar_title: str) -> go.Figure:
    """A lattice heatmap: trace 0 the log colour map, trace 1 the masked cells (``MASKS``), then one legend
    swatch per mask. The legend sits below the plot, so it never narrows it."""
    fig = go.Figure([go.Heatmap(z=[[0.0]], colorscale="Viridis", colorbar=dict(title=colorbar_title, len=0.8),
                                name="response"),
                     go.Heatmap(z=[[None]], colorscale=_mask_scale(), zmin=0.5, zmax=3.5, showscale=False,
                                hoverinfo="skip", name="masked")])
    for label, colour in MASKS.values():
        fig.add_scatter(x=[None], y=[None], mode="markers", name=label, showlegend=True,
                        marker=dict(symbol="square", size=12, color=colour, line=dict(color="#888", width=1)))
    fig.update_layout(width=WIDTH, height=HEIGHT + 40, template="plotly_white", legend=LEGEND,
                      margin=dict(l=50, r=20, t=60, b=100),
                      yaxis=dict(scaleanchor="x", title="row", constrain="domain"),
                      xaxis=dict(title="col", constrain="domain"))
    return fig


def replace_figure(fig: go.Figure, new: go.Figure) -> None:
    """Put ``new``'s traces and layout into ``fig`` (an explorer's figures are changed in place), for views
    drawn by a ``fdlf_core.plots`` builder."""
    with fig.batch_update():
        fig.data = ()
        fig.add_traces(list(new.data))
        fig.layout = new.layout


def _mask_scale() -> list:
    """A discrete colour scale over mask codes 1..3 (z in [0.5, 3.5])."""
    scale = []
    for code, (_, colour) in MASKS.items():
        scale += [[(code - 1) / 3, colour], [code / 3, colour]]
    return scale


def draw_response(fig: go.Figure, centred: torch.Tensor, probe: tuple[int, int],
                  stderr: torch.Tensor | None = None) -> None:
    """Draw the response ``centred`` (L, L) into a ``heatmap_figure``: ``log10 |response|`` where it is
    resolved; exact zeros, values below ``NOISE_FLOOR`` of the largest off-site value, and (with ``stderr``,
    a Monte Carlo estimate) values whose error bar exceeds them, as masked cells. The probe's own entry is
    blank (it is on another scale). Axes are fixed to the lattice."""
    L = centred.shape[-1]
    mag = centred.abs().to(torch.float64)
    off = torch.ones_like(mag, dtype=torch.bool)
    off[probe] = False
    largest = float(mag[off].max()) if off.any() else 0.0
    code = torch.zeros_like(mag, dtype=torch.int64)
    code[mag == 0] = 1
    code[(mag > 0) & (mag < NOISE_FLOOR * largest)] = 2
    if stderr is not None:
        code[(code == 0) & (stderr.to(torch.float64) > mag)] = 3
    code[probe] = 0
    shown = (code == 0) & off
    logs = torch.log10(mag.clamp(min=1e-300))
    z = [[round(v, 12) if s else None for v, s in zip(row, shown_row)]
         for row, shown_row in zip(logs.tolist(), shown.tolist())]
    masked = [[c or None for c in row] for row in code.tolist()]
    fig.data[0].z, fig.data[1].z = z, masked
    if shown.any():  # at least two decades, so a flat map (sigma = 0: four equal neighbours) is one clear colour
        top, bottom = float(logs[shown].max()), float(logs[shown].min())
        fig.data[0].update(zmax=top, zmin=min(bottom, top - 2), zauto=False)
    present = {int(c) for c in code.unique().tolist() if c}
    for k, code_value in enumerate(MASKS, start=2):
        fig.data[k].visible = code_value in present
    fig.layout.xaxis.range = [-0.5, L - 0.5]
    fig.layout.yaxis.range = [L - 0.5, -0.5]  # row 0 at the top


def receptive_square(probe: tuple[int, int], R: int, L: int) -> list[dict]:
    """The Chebyshev ball of radius ``R`` around ``probe`` on the periodic ``L x L`` lattice, as layout
    shapes: up to four rectangles where it wraps across an edge, the whole lattice once ``2R + 1 >= L``."""
    def intervals(centre: int) -> list[tuple[float, float]]:
        if 2 * R + 1 >= L:
            return [(-0.5, L - 0.5)]
        lo, hi = centre - R - 0.5, centre + R + 0.5
        if lo < -0.5:
            return [(-0.5, hi), (lo + L, L - 0.5)]
        if hi > L - 0.5:
            return [(lo, L - 0.5), (-0.5, hi - L)]
        return [(lo, hi)]

    r, c = probe
    return [dict(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=RED, width=2),
                 fillcolor="rgba(214,39,40,0.06)")
            for x0, x1 in intervals(c) for y0, y1 in intervals(r)]


def radius_line(R: int, horizontal: bool = False) -> dict:
    """The model's radius as a dashed red line across the plot (vertical at x = R, or horizontal at y = R)."""
    line = dict(color=RED, dash="dash")
    if horizontal:
        return dict(type="line", xref="paper", x0=0, x1=1, y0=R, y1=R, line=line)
    return dict(type="line", x0=R, x1=R, yref="paper", y0=0, y1=1, line=line)


def tail_figure(y_title: str) -> go.Figure:
    """The tail curve (trace 0), its exact zeros (trace 1, drawn at the bottom of the axis) and the
    numerical floor (trace 2); explorers may add traces after these."""
    fig = go.Figure([go.Scatter(x=[0], y=[1.0], mode="lines+markers", name="tail"),
                     go.Scatter(x=[], y=[], mode="markers", name="exactly 0 (nothing beyond R)",
                                marker=dict(symbol="triangle-down", size=10, color="#1f77b4")),
                     go.Scatter(x=[], y=[], mode="lines", name=f"numerical floor ({NOISE_FLOOR:.0e}): below, noise",
                                line=dict(color="#999", dash="dot"), hoverinfo="skip")])
    fig.update_layout(width=WIDTH, height=HEIGHT + 40, template="plotly_white", legend=LEGEND,
                      margin=dict(l=60, r=20, t=60, b=110), xaxis_title="radius R (Chebyshev)",
                      yaxis=dict(title=y_title, type="log", exponentformat="power"))
    return fig


def update_tail(fig: go.Figure, curve: torch.Tensor, R_eff: int, title: str) -> None:
    """Draw a tail curve (fraction of the off-site response beyond R, R = 0..L/2) into a ``tail_figure``:
    values at or above ``NOISE_FLOOR`` on the curve, exact zeros as markers at the bottom of the axis, the
    floor as a dotted line when the curve reaches it; the R_eff marker and the title."""
    values = curve.tolist()
    size = len(values)
    if len(values) > 1 and values[-1] == 0 and values[-2] != 0:
        values = values[:-1]  # beyond R = L/2 there is no site: 0 by construction, not a finding
    resolved = [r for r, v in enumerate(values) if v >= NOISE_FLOOR]
    zeros = [r for r, v in enumerate(values) if v == 0]
    noisy = len(resolved) + len(zeros) < len(values)
    bottom = NOISE_FLOOR / 10 if (zeros or noisy) else None
    fig.data[0].update(x=resolved, y=[values[r] for r in resolved])
    fig.data[1].update(x=zeros, y=[bottom] * len(zeros))
    fig.data[2].update(x=[0, size - 1] if noisy else [], y=[NOISE_FLOOR] * 2 if noisy else [])
    low = min([v for v in values if v >= NOISE_FLOOR] + [1.0])
    lowest = bottom if bottom is not None else low
    fig.layout.yaxis.range = [math.log10(lowest) - 0.5, 0.3]
    fig.layout.xaxis.range = [-0.5, size - 0.5]
    fig.layout.shapes = [radius_line(R_eff)]
    fig.layout.title.text = title


class RoundLogSlider(w.SelectionSlider):
    """A slider over round values on a log scale (1, 1.5, 2, 3, 5, 7 per decade), so a setting such as 0.3
    is exactly 0.3 (a log slider's grid would make it 0.316); a value set from code snaps to the nearest."""

    def __init__(self, value: float, lo: float, hi: float, **kwargs):
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        grid = sorted({round(m * 10 ** d, 10) for d in decades for m in (1, 1.5, 2, 3, 5, 7) if lo <= m * 10 ** d <= hi})
        super().__init__(options=[(f"{v:g}", v) for v in grid], value=_nearest(grid, value), **kwargs)

    @validate("value")
    def _validate_value(self, proposal):
        return _nearest(self._options_values, proposal.value)


def _nearest(grid, value: float) -> float:
    value = float(value)
    if value <= 0:
        return grid[0]
    return min(grid, key=lambda v: abs(math.log(v) - math.log(value)))

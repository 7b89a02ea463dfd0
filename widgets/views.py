"""Figure pieces the explorers share: a response heatmap, the R_eff square, the tail curve."""
from __future__ import annotations

import plotly.graph_objects as go
import torch

WIDTH, HEIGHT = 460, 420


def heatmap_figure(colorbar_title: str) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=[[0.0]], colorscale="Viridis", colorbar=dict(title=colorbar_title)))
    fig.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white", margin=dict(l=40, r=20, t=50, b=40),
                      yaxis=dict(autorange="reversed", scaleanchor="x", title="row"), xaxis=dict(title="col"))
    return fig


def log_response(centred: torch.Tensor, probe: tuple[int, int]) -> list[list[float | None]]:
    """``log10 |response|`` as nested lists for a heatmap; the probe's own entry and exact zeros are None
    (blank), so the colour scale shows the off-site response."""
    mag = centred.abs().to(torch.float64)
    logs = torch.where(mag > 0, torch.log10(mag.clamp(min=1e-300)), torch.tensor(float("nan"), dtype=torch.float64))
    logs[probe] = float("nan")
    return [[None if v != v else v for v in row] for row in logs.tolist()]


def receptive_square(probe: tuple[int, int], R: int) -> dict:
    """The Chebyshev ball of radius ``R`` around ``probe`` as a layout shape (heatmap cells are unit squares)."""
    r, c = probe
    return dict(type="rect", x0=c - R - 0.5, x1=c + R + 0.5, y0=r - R - 0.5, y1=r + R + 0.5,
                line=dict(color="#d62728", width=2))


def radius_line(R: int, horizontal: bool = False) -> dict:
    """The model's radius as a dashed red line across the plot (vertical at x = R, or horizontal at y = R)."""
    line = dict(color="#d62728", dash="dash")
    if horizontal:
        return dict(type="line", xref="paper", x0=0, x1=1, y0=R, y1=R, line=line)
    return dict(type="line", x0=R, x1=R, yref="paper", y0=0, y1=1, line=line)


def tail_figure(y_title: str) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[0], y=[1.0], mode="lines+markers", name="tail"))
    fig.update_layout(width=WIDTH, height=HEIGHT, template="plotly_white", margin=dict(l=50, r=20, t=50, b=40),
                      xaxis_title="radius R (Chebyshev)", yaxis=dict(title=y_title, type="log"))
    return fig


def update_tail(fig: go.Figure, curve: torch.Tensor, R_eff: int, beyond: float) -> None:
    """Draw the tail curve (entries that are exactly 0 are left off the log axis) and the R_eff marker."""
    R = [r for r, v in enumerate(curve.tolist()) if v > 0]
    fig.data[0].x = R
    fig.data[0].y = [float(curve[r]) for r in R]
    fig.layout.shapes = [radius_line(R_eff)]
    fig.layout.title.text = f"beyond R_eff={R_eff}: {beyond:.3g}"

"""A live plotly figure in a notebook: a plain ``go.Figure`` mirrored to the page as JSON.

Why not plotly's ``FigureWidget``: under anywidget (plotly >= 6), each FigureWidget imports plotly's
5 MB bundle while its model initializes, and anywidget silently drops every later message to a model that
took over 2 s to do so. With three or four figures on a page, the ones past the first often froze at their
first drawing, even on an idle machine (measured: 5 of 6 page loads of the Gaussian explorer). Here the
page evaluates plotly.js once, from a source the kernel sends once (``PlotlyJS``); each ``Plot`` syncs
only its figure's JSON, and a view always draws the figure's latest state, also when it renders late.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import anywidget
import ipywidgets as w
import plotly.graph_objects as go
import plotly.offline
import traitlets


class PlotlyJS(anywidget.AnyWidget):
    """plotly.js itself, sent to the page once per kernel; every ``Plot`` draws with it."""

    _esm = "export default {};"
    source = traitlets.Unicode().tag(sync=True)


_LOADER: PlotlyJS | None = None


def plotly_js() -> PlotlyJS:
    """The kernel's one ``PlotlyJS`` widget (made again if it was closed)."""
    global _LOADER
    if _LOADER is None or _LOADER.comm is None:
        _LOADER = PlotlyJS(source=plotly.offline.get_plotlyjs())
    return _LOADER


class Plot(anywidget.AnyWidget):
    """Shows ``figure`` (a ``go.Figure``, changed in place by its owner) and redraws on ``draw()``.

    ``on_click(callback)`` calls ``callback(point)`` for a click on a data point; ``point`` is a dict with
    ``curve`` (trace index), ``x``, ``y`` and ``index`` (for a heatmap, ``[row, col]``)."""

    _esm = Path(__file__).with_name("plot.js")
    figure_json = traitlets.Unicode("{}").tag(sync=True)
    _plotly = traitlets.Instance(PlotlyJS).tag(sync=True, **w.widget_serialization)

    def __init__(self, figure: go.Figure):
        if not isinstance(figure, go.Figure):
            raise TypeError(f"figure must be a plotly go.Figure; got {type(figure).__name__}")
        super().__init__(_plotly=plotly_js())
        self.figure = figure
        self._click_callbacks: list[Callable[[dict], None]] = []
        self.on_msg(self._handle_message)
        self.draw()

    def draw(self) -> None:
        """Send the figure's current state to the page (nothing is sent when it did not change)."""
        self.figure_json = self.figure.to_json()

    def on_click(self, callback: Callable[[dict], None]) -> None:
        self._click_callbacks.append(callback)

    def _handle_message(self, widget, content: dict, buffers) -> None:
        if content.get("event") == "click":
            for point in content.get("points", [])[:1]:
                for callback in self._click_callbacks:
                    callback(point)

"""What every explorer shares: controls -> one ``update`` -> figures, an error line, a settings line."""
from __future__ import annotations

import contextlib
import html
import time
from typing import Callable, TypeVar

import ipywidgets as w
import plotly.graph_objects as go

from .copy_line import CopyLine
from .plot import Plot

T = TypeVar("T")

class Explorer:
    """Base class. Subclasses set ``title`` and implement ``_controls(**settings)`` (name -> widget, each
    bounded so it cannot produce an invalid value), ``_figures()`` (name -> ``go.Figure``) and
    ``update(**params)`` (compute with ``fdlf_core``, write into the figures). Every control change calls
    ``refresh``: a failed computation shows its message in the status line and the explorer keeps working.
    Figures are plain ``go.Figure``s that ``update`` changes in place; each is shown by a ``Plot`` view
    (``views``), which ``refresh`` redraws after every update. Work too slow for a slider goes behind a
    button (``add_action``) that runs it ``with_progress`` and caches its result.
    """

    title = ""

    def __init__(self, **settings):
        self.controls: dict[str, w.ValueWidget] = self._controls(**settings)
        self.figures: dict[str, go.Figure] = self._figures()
        self.views: dict[str, Plot] = {name: Plot(fig) for name, fig in self.figures.items()}
        self.status = w.HTML()
        self.actions: list[w.Button] = []  # buttons for slow work (add_action), shown above the figures
        self.progress = w.Output()          # where that work draws its progress bar
        self.settings = CopyLine(description="settings:")
        self.last_update_s = 0.0
        self._held = False
        self._widget: w.Widget | None = None
        for control in self.controls.values():
            control.observe(lambda change: self.refresh(), names="value")
        self.refresh()

    # subclasses ------------------------------------------------------------------------------------
    def _controls(self, **settings) -> dict[str, w.ValueWidget]:
        raise NotImplementedError

    def _figures(self) -> dict[str, go.Figure]:
        raise NotImplementedError

    def update(self, **params) -> str:
        """Recompute and redraw for ``params``; returns a one-line summary for the status line."""
        raise NotImplementedError

    # shared ------------------------------------------------------------------------------------------
    def params(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **params) -> None:
        """Set controls as a user would (each change triggers the same update as a slider move)."""
        unknown = set(params) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; this explorer has {sorted(self.controls)}")
        with self._hold():
            for name, value in params.items():
                self.controls[name].value = value
        self.refresh()

    @contextlib.contextmanager
    def _hold(self):
        """Suspend refreshes while several controls change, so ``set`` updates once."""
        self._held = True
        try:
            yield
        finally:
            self._held = False

    def refresh(self) -> None:
        if self._held:
            return
        start = time.perf_counter()
        try:
            message = self.update(**self.params())
        except (ValueError, TypeError, RuntimeError, FloatingPointError) as exc:
            self.show_error("could not compute", exc)
        else:
            self.status.value = html.escape(message)
        for view in self.views.values():
            view.draw()
        self.last_update_s = time.perf_counter() - start
        self.settings.value = self.settings_line()

    def add_action(self, description: str, action: Callable[[], None]) -> w.Button:
        """A button, shown between the controls and the figures, that runs ``action`` (work too slow for a
        slider: it should cache its result and ``refresh``)."""
        button = w.Button(description=description, layout=w.Layout(width="auto"))
        button.on_click(lambda _: action())
        self.actions.append(button)
        return button

    def with_progress(self, what: str, compute: Callable[[], T]) -> T | None:
        """Run ``compute`` with its progress bar (tqdm.auto) drawn under the buttons; a failure shows as
        ``what: message`` in the status line and gives None."""
        self.progress.clear_output()
        with self.progress:
            try:
                return compute()
            except (ValueError, TypeError, RuntimeError, FloatingPointError) as exc:
                self.show_error(what, exc)
                return None

    def show_error(self, what: str, exc: Exception) -> None:
        """A failed computation as a readable line in the status (never a traceback)."""
        self.status.value = f"<span style='color:#b00'>{html.escape(what)}: {html.escape(str(exc))}</span>"

    def settings_line(self) -> str:
        """A line of Python that recreates this view."""
        args = ", ".join(f"{name}={value!r}" for name, value in self.params().items())
        return f"from fdlf_widgets import {type(self).__name__}; {type(self).__name__}({args})"

    def snapshot(self) -> dict[str, go.Figure]:
        """Static copies of the current figures (plain ``go.Figure``, no widget)."""
        return {name: go.Figure(fig) for name, fig in self.figures.items()}

    def show(self, interactive: bool = True) -> None:
        """Display the live explorer, or (``interactive=False``: papermill, nbval, static exports) its current
        figures as plain plotly figures and its status line."""
        from IPython.display import display

        if interactive:
            display(self.widget)
            return
        for fig in self.snapshot().values():
            fig.show()
        print(self.status.value)

    @property
    def widget(self) -> w.Widget:
        """The explorer's view (built once; every display shows the same live widgets)."""
        if self._widget is None:
            controls = w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap"))
            figures = w.HBox(list(self.views.values()), layout=w.Layout(flex_flow="row wrap"))
            self._widget = w.VBox([w.HTML(f"<b>{html.escape(self.title)}</b>"), controls, w.HBox(self.actions),
                                   self.progress, figures, self.status, self.settings])
        return self._widget

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

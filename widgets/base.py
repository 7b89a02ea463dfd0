"""What every explorer shares: controls -> one ``update`` -> figures, a status line, a settings line, and
buttons for slow work that runs in the background with a progress bar, a time estimate and a Cancel."""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import html
import os
import threading
import time
import traceback
import weakref
from typing import Any, Callable

import ipywidgets as w
import plotly.graph_objects as go
import torch

from fdlf_core import progress

from .copy_line import CopyLine
from .plot import Plot

ERRORS = (ValueError, TypeError, RuntimeError, FloatingPointError)  # what a computation may fail with
BUSY_NOTE = "fdlf-busy"       # the name of the "computing..." annotation on a figure that awaits a result
CALIBRATION_STEPS = 3         # loop steps timed to estimate a button's run time before its first run


def interactive_threads() -> int:
    """Torch threads for an explorer's process: the usable cores but one (at least one), so that a background
    run leaves a core to the page's slider updates and to the rest of the machine. ``FDLF_TORCH_THREADS``
    overrides it; with ``OMP_NUM_THREADS`` set, torch's own choice (which follows it) is kept."""
    if os.environ.get("FDLF_TORCH_THREADS"):
        return max(1, int(os.environ["FDLF_TORCH_THREADS"]))
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, usable - 1)


_THREADS_SET = False
_BACKGROUND: dict[threading.Thread, threading.Event] = {}  # running background threads and their stop flags
# measured seconds per unit of work, per (explorer class, button label): shared by the explorers of a page
# (the tour shows eight), so each kind of run is timed once per kernel
_RATES: dict[tuple[str, str], float] = {}
_CALIBRATING: set[tuple[str, str]] = set()
_UNTIMED: set[tuple[str, str]] = set()  # kinds whose timing run failed or had no steps to time: not retried
_ON_PAGE: weakref.WeakSet = weakref.WeakSet()  # explorers whose widget was built (their buttons show estimates)
_SHARED = threading.Lock()  # guards the three sets above (the page's thread and background runs use them)


def _relabel(key: tuple[str, str]) -> None:
    """A rate was measured: every explorer on a page with that button shows the new estimate."""
    with _SHARED:
        explorers = list(_ON_PAGE)
    for explorer in explorers:
        if any(action.key == key for action in explorer.actions):
            with explorer._lock:
                explorer._label_buttons()


@atexit.register
def _stop_background() -> None:
    # A daemon thread still inside torch when the interpreter finalizes aborts the process ("terminate
    # called without an active exception"): stop every background run at its next step and wait for it.
    for thread, stop in list(_BACKGROUND.items()):
        stop.set()
        thread.join(timeout=30)


def _start_background(target: Callable, stop: threading.Event, name: str) -> threading.Thread:
    def body() -> None:
        try:
            target()
        finally:
            _BACKGROUND.pop(threading.current_thread(), None)

    thread = threading.Thread(target=body, name=name, daemon=True)
    _BACKGROUND[thread] = stop
    thread.start()
    return thread


def _set_threads_once() -> None:
    # Torch defaults to one thread per core: with a background run and the slider updates both using all of
    # them, and other work on the machine, a run slowed 15-50x (measured). Set once per process, at the first
    # explorer, so a user's later torch.set_num_threads is not overridden.
    global _THREADS_SET
    if not _THREADS_SET:
        torch.set_num_threads(interactive_threads())
        _THREADS_SET = True


@dataclasses.dataclass
class Job:
    """One button run: ``compute()`` (no arguments; runs in the background) and ``store(result)`` (caches the
    result where ``update`` finds it; runs under the explorer's lock). ``what`` names it in the page."""

    what: str
    compute: Callable[[], Any]
    store: Callable[[Any], None]


@dataclasses.dataclass
class Action:
    """A button for work too slow for a slider.

    ``prepare(params)`` gives the ``Job`` for the settings, or a message saying why there is nothing to run;
    ``work(params)`` its size in units of work (0: nothing to compute, e.g. cached); ``targets`` the figures
    that will show the result. ``rate`` is the measured seconds per unit: timed on the first steps of a run
    before the first click (``calibrate_params`` gives the settings to time, when the current ones have
    nothing to run), then the rate of the last finished run; shared by the explorers of one class (``key``).
    """

    key: tuple[str, str]
    label: str
    prepare: Callable[[dict], Job | str]
    work: Callable[[dict], float]
    targets: tuple[str, ...]
    calibrate_params: Callable[[dict], dict] = lambda params: params
    button: w.Button = dataclasses.field(default_factory=lambda: w.Button(layout=w.Layout(width="auto")))

    @property
    def rate(self) -> float | None:
        return _RATES.get(self.key)

    @rate.setter
    def rate(self, seconds_per_unit: float) -> None:
        _RATES[self.key] = seconds_per_unit


@dataclasses.dataclass
class _Running:
    action: Action
    job: Job
    units: float
    started: float
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)
    shown: float = 0.0
    steps: int = 0  # loop steps seen: a rate is measured only from a run that had some


class Explorer:
    """Base class. Subclasses set ``title`` and implement ``_controls(**settings)`` (name -> widget, each
    bounded so it cannot produce an invalid value), ``_figures()`` (name -> ``go.Figure``) and
    ``update(**params)`` (compute with ``fdlf_core``, write into the figures); ``_follow`` may move other
    controls along with one. Every control change calls ``refresh`` once: a failed computation shows its
    message in the status line and the explorer keeps working. Figures are plain ``go.Figure``s that
    ``update`` changes in place; each is shown by a ``Plot`` view (``views``), which ``refresh`` redraws.

    Work too slow for a slider goes behind a button (``add_action``). A click runs it in a background thread
    (the other controls keep working; its target figures say "computing..." until it lands) with a progress
    bar and a Cancel button; the button shows the expected time. Headless, ``run(action)`` runs it in the
    calling thread and returns when it is done.
    """

    title = ""

    def __init__(self, **settings):
        _set_threads_once()
        self._lock = threading.RLock()  # one refresh at a time: slider callbacks and background runs
        self._held = False
        self._running: _Running | None = None
        self._thread: threading.Thread | None = None  # the last background run's
        self._widget: w.Widget | None = None
        self.controls: dict[str, w.ValueWidget] = self._controls(**settings)
        self.figures: dict[str, go.Figure] = self._figures()
        for fig in self.figures.values():  # titles at the left: plotly's toolbar appears at the top right
            fig.update_layout(title=dict(x=0.02, xanchor="left", font=dict(size=14)))
        self.views: dict[str, Plot] = {name: Plot(fig) for name, fig in self.figures.items()}
        self.status = w.HTML(layout=w.Layout(min_height="1.5em"))
        self.actions: list[Action] = []
        # the progress row of a button run: made once and hidden when idle (a closed widget on the page
        # shows "Error displaying widget: model not found")
        self.progress_bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="240px"))
        self.progress_text = w.HTML()
        self.cancel_button = w.Button(description="Cancel", button_style="warning", layout=w.Layout(width="auto"))
        self.cancel_button.on_click(lambda _: self.cancel())
        self.progress_row = w.HBox([self.progress_bar, self.progress_text, self.cancel_button],
                                   layout=w.Layout(display="none", align_items="center"))
        self.settings = CopyLine(description="settings:")
        self.last_update_s = 0.0
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._changed(name, change["new"]), names="value")
        self.refresh()

    # subclasses ------------------------------------------------------------------------------------
    def _controls(self, **settings) -> dict[str, w.ValueWidget]:
        raise NotImplementedError

    def _figures(self) -> dict[str, go.Figure]:
        raise NotImplementedError

    def update(self, **params) -> str:
        """Recompute and redraw for ``params``; returns a one-line summary for the status line."""
        raise NotImplementedError

    def _follow(self, name: str, value) -> dict:
        """Other controls to set when control ``name`` becomes ``value`` (set before the one refresh)."""
        return {}

    # controls --------------------------------------------------------------------------------------
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

    def _changed(self, name: str, value) -> None:
        follow = self._follow(name, value)
        if follow:
            with self._hold():
                for other, v in follow.items():
                    self.controls[other].value = v
        self.refresh()

    @contextlib.contextmanager
    def _hold(self):
        """Suspend refreshes while several controls change, so ``set`` updates once. Holds the lock: a
        background run that lands meanwhile refreshes after the change, not in the middle of it."""
        with self._lock:
            held, self._held = self._held, True
            try:
                yield
            finally:
                self._held = held

    def refresh(self) -> None:
        with self._lock:
            if self._held:
                return
            start = time.perf_counter()
            try:
                message = self.update(**self.params())
            except ERRORS as exc:
                self.show_error("could not compute", exc)
            else:
                self.status.value = html.escape(message)
            self._mark_busy_figures()
            for view in self.views.values():
                view.draw()
            self._label_buttons()
            self.last_update_s = time.perf_counter() - start
            self.settings.value = self.settings_line()

    # slow work -------------------------------------------------------------------------------------
    def add_action(self, label: str, prepare: Callable[[dict], Job | str], work: Callable[[dict], float],
                   targets: tuple[str, ...], calibrate_params: Callable[[dict], dict] | None = None) -> Action:
        """A button, shown above the figures, for work too slow for a slider (see ``Action``)."""
        action = Action((type(self).__name__, label), label, prepare, work, tuple(targets))
        if calibrate_params is not None:
            action.calibrate_params = calibrate_params
        action.button.on_click(lambda _: self.run(action, background=True))
        self.actions.append(action)
        self._label_buttons()
        return action

    def run(self, action: Action, background: bool = False) -> None:
        """Run ``action`` for the current settings: in a background thread (what a click does), or here."""
        with self._lock:
            if self._running is not None:
                self.status.value = html.escape(f"{self._running.job.what} is still running: wait, or Cancel it")
                return
            params = self.params()
            job = action.prepare(params)
            if isinstance(job, str):
                self.status.value = html.escape(job)
                return
            run = self._running = _Running(action, job, action.work(params), time.perf_counter())
            try:
                self._show_progress(f"{job.what}: starting", 0.0)
                self.refresh()
                run.started = time.perf_counter()
                if background:
                    self._thread = _start_background(lambda: self._execute(run, False), run.cancel,
                                                     f"fdlf: {job.what}")
            except BaseException:  # nothing started: the explorer must not stay busy
                self._running = None
                self._hide_progress()
                raise
        if not background:
            self._execute(run, True)

    def cancel(self) -> None:
        """Stop the running button work at its next step (nothing is cached)."""
        run = self._running
        if run is not None:
            run.cancel.set()
            self.progress_text.value = html.escape(f"{run.job.what}: cancelling...")

    def wait(self, timeout: float | None = None) -> None:
        """Return when the last background run has finished and its result (or error) is shown."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def _execute(self, run: _Running, raise_unexpected: bool) -> None:
        outcome: tuple[str, Any] = ("cancelled", None)  # also what an interrupt (Ctrl-C, kernel stop) leaves
        try:
            with progress.watching(lambda desc, done, total: self._watch(run, desc, done, total)):
                result = run.job.compute()
            # a Cancel after the last loop step (during evaluation, say) still means: keep nothing
            outcome = ("cancelled", None) if run.cancel.is_set() else ("done", result)
        except progress.Cancelled:
            pass
        except ERRORS as exc:
            outcome = ("failed", exc)
        except Exception as exc:  # a bug: shown in the page, and kept for the log (or the caller)
            outcome = ("failed", exc)
            if raise_unexpected:
                raise
            traceback.print_exc()
        finally:
            elapsed = time.perf_counter() - run.started
            kind, value = outcome
            measured = kind == "done" and run.units > 0 and run.steps >= CALIBRATION_STEPS
            with self._lock:
                self._running = None
                try:
                    if kind == "done":
                        run.job.store(value)
                        if measured:
                            run.action.rate = elapsed / run.units
                finally:
                    self._hide_progress()
                    self.refresh()
                if kind == "cancelled":
                    self.status.value += html.escape(f" (cancelled: {run.job.what}, after {elapsed:.0f} s)")
                elif kind == "failed":
                    self.show_error(f"could not finish {run.job.what}", value)
            if measured:
                _relabel(run.action.key)  # the other explorers of this kind on the page (outside this lock)

    def _watch(self, run: _Running, desc: str, done: int, total: int) -> None:
        """A loop's step inside a button run: stop if cancelled, move the bar (at most 5 times a second)."""
        if run.cancel.is_set():
            raise progress.Cancelled()
        run.steps += 1
        now = time.perf_counter()
        if done < total and now - run.shown < 0.2:
            return
        run.shown = now
        elapsed = now - run.started
        left = f", about {_duration(elapsed / done * (total - done))} left" if done else ""
        self._show_progress(f"{run.job.what}: {desc} {done}/{total}, {elapsed:.0f} s{left}", done / max(total, 1))

    def _show_progress(self, text: str, fraction: float) -> None:
        self.progress_bar.value = fraction
        self.progress_text.value = html.escape(text)
        self.progress_row.layout.display = "flex"
        for action in self.actions:
            action.button.disabled = True

    def _hide_progress(self) -> None:
        self.progress_row.layout.display = "none"
        self.progress_bar.value = 0.0
        self.progress_text.value = ""
        for action in self.actions:
            action.button.disabled = False

    def _mark_busy_figures(self) -> None:
        """The figures a running job will fill say so (an annotation over the plot), until it lands."""
        run = self._running
        for name, fig in self.figures.items():
            kept = [a for a in fig.layout.annotations if a.name != BUSY_NOTE]
            if run is not None and name in run.action.targets:
                kept.append(go.layout.Annotation(
                    name=BUSY_NOTE, text=f"computing {html.escape(run.job.what)}...", xref="paper", yref="paper",
                    x=0.5, y=1.0, yanchor="bottom", showarrow=False, bgcolor="#fff3cd", font=dict(size=12)))
            fig.layout.annotations = kept

    # run-time estimates ----------------------------------------------------------------------------
    def _label_buttons(self) -> None:
        """Each button says how long its run should take at the current settings, from its measured rate
        (timed in the background once the explorer is on a page: headless use times nothing)."""
        params = self.params()
        for action in self.actions:
            units = action.work(params)
            if units == 0:
                estimate = " (cached)"
            elif action.rate is None:
                timing = self._widget is not None and self._calibrate(action)
                estimate = " (timing...)" if timing else ""
            else:
                estimate = f" (about {_duration(action.rate * units)})"
            action.button.description = action.label + estimate
            action.button.tooltip = "runs in the background; the other controls keep working; Cancel stops it"

    def _calibrate(self, action: Action) -> bool:
        """Time the first steps of a run (in a background thread, nothing cached) to set ``action.rate``;
        False if there is nothing to time (at these settings, or after a failed attempt)."""
        params = action.calibrate_params(self.params())
        with _SHARED:
            if action.key in _UNTIMED:
                return False
            if action.key in _CALIBRATING:
                return True
            units = action.work(params)
            job = action.prepare(params) if units else "nothing to run"
            if isinstance(job, str):
                return False
            _CALIBRATING.add(action.key)
        stop = threading.Event()
        _start_background(lambda: self._time_steps(action, job, units, stop), stop, "fdlf: timing")
        return True

    def _time_steps(self, action: Action, job: Job, units: float, stop: threading.Event) -> None:
        marks: dict[int, float] = {}
        start = time.perf_counter()
        total = [0]

        def watch(desc: str, done: int, n: int) -> None:
            marks[done], total[0] = time.perf_counter() - start, n
            if done >= CALIBRATION_STEPS or stop.is_set():
                raise progress.Cancelled()

        seconds = None
        try:
            with progress.watching(watch):
                job.compute()  # finished before the timed steps (no loop, e.g. a cached model): nothing timed
        except progress.Cancelled:
            if CALIBRATION_STEPS in marks:  # else stopped: the process exits
                per_step = (marks[CALIBRATION_STEPS] - marks[1]) / (CALIBRATION_STEPS - 1)
                seconds = marks[0] + per_step * total[0]
        except Exception:  # the estimate is a courtesy: a failure shows when the user runs it
            pass
        with _SHARED:
            _CALIBRATING.discard(action.key)
            if seconds is None and not stop.is_set():
                _UNTIMED.add(action.key)
        if seconds is not None and action.rate is None:
            action.rate = seconds / units
        _relabel(action.key)

    # display ---------------------------------------------------------------------------------------
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
        """The explorer's view (built once; every display shows the same live widgets): title, controls, then
        the buttons, their progress row and the status line (what the controls produced, next to them), then
        the figures and the settings line."""
        if self._widget is None:
            controls = w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap"))
            buttons = w.HBox([a.button for a in self.actions], layout=w.Layout(flex_flow="row wrap"))
            figures = w.HBox(list(self.views.values()), layout=w.Layout(flex_flow="row wrap"))
            self._widget = w.VBox([w.HTML(f"<b>{html.escape(self.title)}</b>"), controls, buttons,
                                   self.progress_row, self.status, figures, self.settings])
            with _SHARED:
                _ON_PAGE.add(self)
            with self._lock:
                self._label_buttons()  # on a page now: time the buttons' runs
        return self._widget

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"

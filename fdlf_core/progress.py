"""Progress of the core's long loops (training, MALA, Ising chains): a tqdm bar, and a watcher a caller can
attach to follow (and stop) the loop from elsewhere.

An explorer runs such a loop in a background thread: it attaches a watcher (``watching``) that moves its own
progress widget and raises ``Cancelled`` when the user presses Cancel, so the loop stops at its next step.
The watcher lives in a context variable: it sees only the loops run by the thread (or task) that attached it.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

from tqdm.auto import tqdm

# watcher(desc, done, total): called before each step and once at the end; it may raise to stop the loop
Watcher = Callable[[str, int, int], None]
_WATCHER: contextvars.ContextVar[Watcher | None] = contextvars.ContextVar("fdlf_progress_watcher", default=None)


class Cancelled(Exception):
    """Raised by a watcher to stop a loop (the caller asked for it: not an error)."""


@contextlib.contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Attach ``watcher`` to every ``Bar`` the current thread creates inside the ``with`` block (a bar
    keeps the watcher it was created with)."""
    token = _WATCHER.set(watcher)
    try:
        yield
    finally:
        _WATCHER.reset(token)


class Bar:
    """``tqdm(range(total), desc)`` shown when ``show``, and reported to the current watcher, if any."""

    def __init__(self, total: int, desc: str, show: bool):
        self.total, self.desc = total, desc
        self._tqdm = tqdm(range(total), desc=desc, disable=not show, leave=False)
        self._watcher = _WATCHER.get()

    def __iter__(self) -> Iterator[int]:
        watcher = self._watcher
        if watcher is None:
            yield from self._tqdm
            return
        for k in self._tqdm:
            watcher(self.desc, k, self.total)
            yield k
        watcher(self.desc, self.total, self.total)

    def set_postfix(self, **values) -> None:
        self._tqdm.set_postfix(**values)


def bar(total: int, desc: str, show: bool = True) -> Bar:
    """The loop ``for step in bar(n, "what"):`` with a tqdm bar (when ``show``) and the current watcher."""
    return Bar(total, desc, show)


"""A line of text with a "copy" button: the explorers' settings line, a line of Python that recreates a view."""
from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets


class CopyLine(anywidget.AnyWidget):
    """Shows ``value`` as code the user can select, with a button that copies it to the clipboard
    (``navigator.clipboard``: available on localhost and https pages)."""

    _esm = Path(__file__).with_name("copy_line.js")
    value = traitlets.Unicode("").tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)

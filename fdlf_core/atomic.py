"""Atomic file writes (a reader sees the old file or the complete new one, never a partial file), and the
safe read-back of the tagged torch files written that way (checkpoints, sample pools)."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch


def atomic_write(path: str | os.PathLike, write: Callable[[object], None], *, binary: bool = True) -> Path:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The temporary file lives in the same directory so the final ``os.replace`` is atomic on POSIX; on
    any exception it is removed and ``path`` is left as it was. Parent directories are created. The file
    gets the mode a plain ``open`` would give it (0666 less the umask), not ``mkstemp``'s private 0600:
    results are meant to be shared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            try:
                os.fchmod(f.fileno(), 0o666 & ~current_umask())
            except OSError:  # a filesystem without modes (vfat, some network mounts): keep mkstemp's
                pass
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process's umask, read without changing it where /proc allows (``os.umask`` sets it to read it,
    which races with threads creating files meanwhile)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_tagged(path: str | os.PathLike, fmt: str, what: str) -> dict:
    """The dict saved at ``path`` by ``torch.save``, loaded with ``weights_only=True``; ``ValueError`` naming
    the file if it is unreadable (truncated, foreign, unsafe) or its ``"format"`` is not ``fmt``."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated, foreign or unsafe pickle: say which file, not torch internals
        raise ValueError(f"{path} is not a readable fdlf {what} ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not an fdlf {what} (expected format {fmt!r})")
    return payload

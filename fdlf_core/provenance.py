"""What produced a result: package versions, git revision, machine. Recorded in every result file."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

_PACKAGES = ("fdlf", "torch", "numpy", "tqdm")


def config_hash(content: dict) -> str:
    """16 hex digits of the SHA-256 of ``content`` as sorted JSON: the key of a result row or cache file."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def without_defaults(config: dict, defaults: dict) -> dict:
    """``config`` without the keys of ``defaults`` that hold exactly their default value: how run ids hash a
    config that gained fields after ids existed, so the earlier runs keep their ids."""
    return {k: v for k, v in config.items() if not (k in defaults and v == defaults[k])}


def package_versions() -> dict[str, str]:
    """Installed versions of Python and the packages results depend on (``"absent"`` if missing)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_revision() -> str:
    """``HEAD`` of the source checkout (with ``-dirty`` when it has local changes), or ``"unknown"``."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def machine() -> dict[str, object]:
    """CPU model, core count and torch thread count of this process."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": sys.platform}


def provenance() -> dict[str, object]:
    """All of the above in one JSON-ready dict."""
    return {"versions": package_versions(), "git_revision": git_revision(), "machine": machine()}

"""A reproduction killed with SIGKILL leaves nothing running and nothing changing: its notebook kernel and
the kernel's pool workers exit with their parent, and no kernel connection file is left behind."""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes through /proc")


def _marked(marker: str) -> dict[int, str]:
    """pid -> command line of every live process whose environment holds ``marker`` (inherited by all
    descendants, whatever process group or session they moved to)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                status = (proc / "status").read_text()
                if "\nState:\tZ" not in status:  # a zombie is dead, only not yet reaped
                    found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except OSError:  # exited meanwhile, or not ours
            continue
    return found


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _wait(condition, timeout_s: float, every_s: float = 0.2) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def test_sigkill_of_a_jobs_2_reproduction_leaves_no_process_and_no_later_write(tmp_path):
    marker = f"FDLF_KILL_TEST={uuid.uuid4().hex}"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "FDLF_KILL_TEST": marker.split("=")[1], "TMPDIR": str(tmp)}
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "fdlf_core.cli", "reproduce", "--profile", "quick", "--only", "fig1",
                             "--jobs", "2", "--out", str(out)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # kill once both pool workers are training (spawned workers run "multiprocessing.spawn")
        workers = lambda: [c for c in _marked(marker).values() if "spawn_main" in c]
        assert _wait(lambda: len(workers()) >= 2, 180), f"the pool never started: {_marked(marker)}"
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, as a terminal's kill would
        proc.wait()
    # the kernel polls its parent every second, the workers theirs every 0.2 s
    assert _wait(lambda: not _marked(marker), 15), f"survived the kill: {_marked(marker)}"
    before = _files(out)
    time.sleep(3)
    assert _files(out) == before, "a file under --out changed after every process was gone"
    assert [p for p in tmp.rglob("*") if p.is_file()] == [], "the kernel's connection file was left behind"

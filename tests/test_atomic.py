"""atomic: a write either lands whole or leaves the old file (and no temporary file); tagged torch files are
read back with the safe loader, and anything else is refused with a ValueError naming the file; files get
the umask's mode."""
import os
import re
import stat

import pytest
import torch

from fdlf_core import atomic
from fdlf_core.atomic import atomic_write, read_tagged


def test_write_creates_parents_and_replaces_the_file(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    assert atomic_write(path, lambda f: f.write("first"), binary=False) == path
    atomic_write(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"second" and [p.name for p in path.parent.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_exception_while_writing_leaves_the_old_file_and_no_temporary_file(tmp_path, error):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content")

    def half_then_fail(f):
        f.write(b"new, half written")
        raise error

    with pytest.raises(type(error)):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # the temporary file is gone


def test_a_failed_first_write_leaves_nothing(tmp_path):
    def fail(f):
        f.write("partial")
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        atomic_write(tmp_path / "new.csv", fail, binary=False)
    assert list(tmp_path.iterdir()) == []


def test_read_tagged_returns_the_payload(tmp_path):
    path = tmp_path / "pool.pt"
    atomic_write(path, lambda f: torch.save({"format": "fdlf.test/1", "x": torch.arange(3)}, f))
    payload = read_tagged(path, "fdlf.test/1", "test file")
    assert payload["format"] == "fdlf.test/1" and torch.equal(payload["x"], torch.arange(3))


def _refusal(path):
    return pytest.raises(ValueError, match=re.escape(str(path)))


@pytest.mark.parametrize("name,write,match", [
    ("truncated.pt", lambda p: p.write_bytes(b"PK\x03\x04 not a zip"), "is not a readable fdlf test file"),
    ("text.pt", lambda p: p.write_text("hello"), "is not a readable fdlf test file"),
    ("empty.pt", lambda p: p.write_bytes(b""), "is not a readable fdlf test file"),
    # a pickled object the safe loader refuses to build (arbitrary code on load)
    ("unsafe.pt", lambda p: torch.save({"format": "fdlf.test/1", "obj": ValueError("x")}, p),
     "is not a readable fdlf test file"),
    ("foreign.pt", lambda p: torch.save({"state_dict": {}}, p), r"is not an fdlf test file \(expected format"),
    ("other_format.pt", lambda p: torch.save({"format": "fdlf.other/1"}, p), "is not an fdlf test file"),
    ("not_a_dict.pt", lambda p: torch.save(torch.zeros(2), p), "is not an fdlf test file"),
])
def test_read_tagged_refuses_what_it_did_not_write(tmp_path, name, write, match):
    path = tmp_path / name
    write(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=match) as info:
        read_tagged(path, "fdlf.test/1", "test file")
    assert str(info.value).startswith(str(path))  # names the file
    assert "Traceback" not in str(info.value) and path.read_bytes() == before  # and leaves it alone


def test_a_truncated_real_file_is_refused(tmp_path):
    path = tmp_path / "cut.pt"
    torch.save({"format": "fdlf.test/1", "x": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with _refusal(path):
        read_tagged(path, "fdlf.test/1", "test file")


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_umasks_mode_like_a_plain_open(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert atomic.current_umask() == umask
        path = atomic_write(tmp_path / "results" / "runs.jsonl", lambda f: f.write("{}\n"), binary=False)
        (tmp_path / "plain").write_text("{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode == stat.S_IMODE((tmp_path / "plain").stat().st_mode)

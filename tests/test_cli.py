"""cli: `fdlf demo` end to end on a tiny budget; bad input exits 2 with one line, no traceback."""
import subprocess
import sys

import pytest

from fdlf_core.cli import main
from fdlf_core.training import load_checkpoint

TINY = ["demo", "--L", "8", "--steps", "4", "--batch-size", "2", "--eval-sizes", "8", "16", "--eval-n", "2"]


def test_demo_prints_a_row_per_size_and_saves_a_loadable_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "demo.pt"
    assert main(TINY + ["--save", str(ckpt)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().split(" ")[0] in ("8", "16")]
    assert [r[0] for r in rows] == ["8", "16"]
    assert all(float(v) >= 0 for r in rows for v in r[1:4])
    assert load_checkpoint(ckpt).config.steps == 4


@pytest.mark.parametrize("args,message", [
    (["--L", "7"], "L must be an even integer"),
    (["--eval-sizes", "8", "5"], "--eval-sizes must be an even integer"),
    (["--steps", "0"], "steps must be"),
    (["--blocks", "-1"], "blocks must be"),
    (["--lr", "nan"], "lr must be"),
])
def test_bad_input_exits_2_without_traceback(args, message):
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli"] + TINY + args, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_family_is_an_argparse_error():
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli", "demo", "--family", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_save_to_a_directory_is_rejected_before_training(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli"] + TINY + ["--save", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--save must be a file path" in proc.stderr
    assert "trained in" not in proc.stdout

"""`fdlf reproduce --profile quick` end to end (papermill runs both figure notebooks), then the paper's
qualitative claims asserted on the quick results. This is the CI's check that the figures regenerate."""
import json
import subprocess
import sys

import pytest

from fdlf_core import experiments, paper
from fdlf_core.cli import NOTEBOOKS


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli", "reproduce", "--profile", "quick", "--jobs", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=1500)
    return out, proc


def test_reproduce_quick_succeeds_and_writes_every_artifact(quick):
    out, proc = quick
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for fig, nb in NOTEBOOKS.items():
        d = out / fig / "quick"
        for name in ("runs.jsonl", "summary.csv", "manifest.json", "comparison.csv", "plotly.min.js", nb):
            assert (d / name).is_file(), f"{fig}: missing {name}"
        assert len(list(d.glob("*.html"))) == 2
        executed = json.loads((d / nb).read_text())
        assert executed["metadata"]["papermill"]["parameters"]["profile"] == "quick"
        assert not any(o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", []))
        manifest = json.loads((d / "manifest.json").read_text())
        assert all(r["status"] == "done" for r in manifest["runs"].values())
    assert "claims" in proc.stdout and "fig2" in proc.stdout


@pytest.mark.parametrize("fig", ["fig1", "fig2"])
def test_paper_claims_hold_on_the_quick_profile(quick, fig):
    out, _ = quick
    checked = paper.claims(fig, experiments.load_results(out, fig, "quick").summary)
    failed = [c for c in checked if not c.passed]
    assert not failed, paper.format_claims(failed)

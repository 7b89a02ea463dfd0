"""The teaching tour runs headlessly with static figures (papermill, interactive=False)."""
import json
import sys

import papermill

from fdlf_core.cli import NOTEBOOK_DIR


def test_tour_runs_headless_with_static_figures(tmp_path):
    out = tmp_path / "tour.ipynb"
    papermill.execute_notebook(str(NOTEBOOK_DIR / "00_tour.ipynb"), str(out), cwd=str(NOTEBOOK_DIR),
                               parameters={"interactive": False}, kernel_name="python3", progress_bar=False,
                               stdout_file=sys.stdout)
    cells = json.loads(out.read_text())["cells"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(figures) >= 2 * 11 and widgets == []  # two or more figures per explorer shown, no live widget
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "max |d s / d y - (sigma^-4 Cov(X|y) - sigma^-2 I)| =" in text
    residual = float(text.split("sigma^-2 I)| = ")[1].split()[0])
    assert residual < 1e-12  # Tweedie, exactly, on the page

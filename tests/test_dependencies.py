"""The core stands on torch, numpy, tqdm and plotly alone; the notebook stack is an extra (pyproject)."""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_STACK = ("ipywidgets", "anywidget", "papermill", "ipykernel", "nbformat", "nbclient", "voila", "jupyterlab",
                  "IPython", "dask", "distributed")  # dask too: an extra, imported only by the dask executor

# Import every fdlf_core module with the notebook stack made unimportable, then run the demo's argument
# parser and the reproduce command's papermill check.
PROBE = f"""
import importlib, pkgutil, sys
for name in {NOTEBOOK_STACK!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
import fdlf_core
mods = [m.name for m in pkgutil.walk_packages(fdlf_core.__path__, "fdlf_core.")]
for m in mods:
    importlib.import_module(m)
from fdlf_core.cli import main
code = main(["reproduce", "--only", "fig1", "--out", sys.argv[1]])
print(len(mods), code)
"""


def test_core_imports_without_the_notebook_stack(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    n_modules, code = out.stdout.split()[-2:]
    assert int(n_modules) >= 20 and code == "2"  # every module imported; reproduce says what to install
    assert "papermill is not installed" in out.stderr and "pip install -e '.[notebooks]'" in out.stderr


def test_core_dependencies_are_the_four_and_the_stack_is_an_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("<")[0].strip() for dep in project["dependencies"]}
    assert names == {"torch", "numpy", "tqdm", "plotly"}
    extras = project["optional-dependencies"]
    assert {"papermill", "ipykernel", "ipywidgets", "anywidget"} <= {d.split(">")[0] for d in extras["notebooks"]}
    assert "fdlf[notebooks,dask]" in extras["test"]  # CI tests the dask executor on a local cluster
    assert {d.split(">")[0] for d in extras["dask"]} == {"dask[distributed]", "bokeh"}


def test_every_core_package_is_shipped():
    import pkgutil

    import fdlf_core

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"fdlf_core"} | {m.name for m in pkgutil.walk_packages(fdlf_core.__path__, "fdlf_core.") if m.ispkg}
    assert found <= listed, f"pyproject [tool.setuptools] packages misses {sorted(found - listed)}"

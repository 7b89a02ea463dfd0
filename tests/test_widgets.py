"""The explorers driven headlessly: what they draw is what fdlf_core computes; bad states show a message."""
import math

import plotly.graph_objects as go
import pytest
import torch

import fdlf_widgets
from fdlf_core import diagnostics, gaussian, ising
from fdlf_widgets import GaussianExplorer, IsingExplorer


def _z(fig):
    return torch.tensor([[math.nan if v is None else v for v in row] for row in fig.data[0].z], dtype=torch.float64)


def test_gaussian_explorer_draws_the_exact_response_and_tail():
    ex = GaussianExplorer(kappa=0.2, sigma=2.0, L=32, R_eff=4)
    row = torch.roll(gaussian.score_response(0.2, 2.0, 32), (16, 16), (0, 1))
    z = _z(ex.figures["heatmap"])
    off = torch.ones(32, 32, dtype=torch.bool)
    off[16, 16] = False
    assert math.isnan(z[16, 16]) and torch.allclose(z[off], torch.log10(row.abs())[off], atol=1e-12)
    curve = diagnostics.tail_curve(row, (16, 16))
    assert list(ex.figures["tail"].data[0].y) == pytest.approx(curve[curve > 0].tolist())
    assert f"beyond R_eff=4: {float(curve[4]):.3g}" in ex.status.value
    before = list(ex.figures["tail"].data[0].y)
    ex.set(sigma=0.5)  # less noise: a shorter response
    assert ex.params()["sigma"] == 0.5 and ex.figures["tail"].data[0].y[4] < before[4]
    ex.set(sigma=0.0)  # the clean score: nearest neighbours only, nothing beyond R=1
    assert list(ex.figures["tail"].data[0].x) == [0] and "clean score" in ex.status.value


def test_settings_line_recreates_the_view():
    ex = GaussianExplorer()
    ex.set(kappa=1.0, sigma=3.0, L=16, R_eff=2)
    namespace = {}
    assert ex.settings.value == ex.settings_line()  # the line the page shows (with its copy button)
    exec(ex.settings_line().replace("; ", "\nview = "), namespace)
    view = namespace["view"]
    assert view.params() == ex.params()
    assert view.figures["heatmap"].data[0].z == ex.figures["heatmap"].data[0].z
    snap = ex.snapshot()["tail"]  # a static copy: later updates do not change it
    assert isinstance(snap, go.Figure) and snap.to_dict() == ex.figures["tail"].to_dict()
    ex.set(sigma=1.0)
    assert snap.to_dict() != ex.figures["tail"].to_dict()


def test_controls_cannot_leave_the_valid_range():
    ex = GaussianExplorer()
    ex.set(kappa=1e-9, sigma=-3.0, R_eff=10_000)  # what a slider clamps to, never what the core refuses
    assert ex.params()["kappa"] == pytest.approx(0.01) and ex.params()["sigma"] == 0.0
    assert ex.params()["R_eff"] == ex.controls["R_eff"].max and "could not compute" not in ex.status.value
    with pytest.raises(ValueError, match="unknown setting"):
        ex.set(beta=1.0)


def test_a_failed_computation_is_shown_and_the_explorer_keeps_working(monkeypatch):
    ex = GaussianExplorer()
    real = gaussian.score_response

    def broken(*args):
        raise ValueError("simulated failure")
    monkeypatch.setattr(gaussian, "score_response", broken)
    ex.set(sigma=2.5)
    assert "could not compute: simulated failure" in ex.status.value
    monkeypatch.setattr(gaussian, "score_response", real)
    ex.set(sigma=2.0)
    assert "could not compute" not in ex.status.value and "response length" in ex.status.value


def test_ising_explorer_draws_eq_22():
    ex = IsingExplorer(beta_ratio=0.95, sigma=2.0, L=6, R_eff=3, seed=1)
    beta = 0.95 * ising.BETA_C
    exact = ising.exact_correlations(6, beta)
    assert list(ex.figures["profile"].data[0].y) == pytest.approx([float(exact[0, r]) / 16 for r in (1, 2, 3)], rel=1e-12)
    inf = ising.infinite_correlation(beta, 16)
    assert list(ex.figures["profile"].data[1].y) == pytest.approx((inf[1:] / 16).tolist(), rel=1e-12)
    assert ex.figures["xi"].data[1].y[0] == pytest.approx(ising.correlation_length(beta))
    spins = torch.tensor(ex.figures["sample"].data[0].z)
    assert spins.shape == (32, 32) and set(spins.unique().tolist()) <= {-1, 1}
    assert torch.equal(spins, ising.wolff_sample(32, beta, 1, seed=1, progress=False)[0].to(spins.dtype))
    ex.set(beta_ratio=0.99)
    assert ex.figures["profile"].data[1].y[3] > float(inf[4]) / 16  # closer to beta_c: a longer response


def test_ising_explorer_samples_the_response_at_L32(monkeypatch):
    from fdlf_core.stats import binned_mean
    from fdlf_widgets import ising as ising_view

    monkeypatch.setattr(ising_view, "SAMPLED_N", 64)
    ex = IsingExplorer(beta_ratio=0.9, sigma=2.0, seed=3)
    assert len(ex.figures["profile"].data[2].y) == 0  # nothing sampled yet
    ex.sample_response()
    spins = ising.wolff_sample(32, 0.9 * ising.BETA_C, 64, seed=3, progress=False)
    est = binned_mean(ising.per_sample_correlations(spins))
    trace = ex.figures["profile"].data[2]
    assert list(trace.x) == list(range(1, 17))
    assert list(trace.y) == pytest.approx((est.value[1:] / 16).tolist(), rel=1e-12)
    assert list(trace.error_y.array) == pytest.approx((est.stderr[1:] / 16).tolist(), rel=1e-12)
    assert "sampled at L=32" in ex.status.value
    ex.set(sigma=1.0)  # sigma only rescales the sampled correlation: kept, no new sampling
    assert list(ex.figures["profile"].data[2].y) == pytest.approx(est.value[1:].tolist(), rel=1e-12)
    ex.set(beta_ratio=0.95)  # another beta: not sampled, nothing stale shown
    assert len(ex.figures["profile"].data[2].y) == 0 and "sampled" not in ex.status.value


def test_every_explorer_is_listed_and_builds():
    from fdlf_core.catalog import PAGES
    from fdlf_core.cli import NOTEBOOK_DIR
    assert set(PAGES) == set(fdlf_widgets.EXPLORERS) | {"tour"}  # `fdlf explore` offers every explorer
    for name, cls in fdlf_widgets.EXPLORERS.items():
        assert cls.__name__ in (NOTEBOOK_DIR / f"explore_{name}.ipynb").read_text()
        view = cls()
        assert "could not compute" not in view.status.value, name
        assert view.widget is view.widget  # one live view


def test_explorer_server_command(capsys):
    import os
    import sys
    from pathlib import Path

    from fdlf_core.cli import explorer_server, main

    command, env, url = explorer_server("ising", 9000)
    assert command[:3] == [sys.executable, "-m", "voila"] and "--template=fdlf" in command
    assert command[3].endswith("notebooks/explore_ising.ipynb") and url == "http://127.0.0.1:9000/"
    template = Path(env["JUPYTER_PATH"].split(os.pathsep)[0]) / "voila" / "templates" / "fdlf" / "index.html.j2"
    assert template.is_file() and "fontawesome" in template.read_text()  # the links it removes
    import importlib.util
    if importlib.util.find_spec("jupyterlab") is None:  # an optional extra (notebooks), not a test dependency
        with pytest.raises(FileNotFoundError, match="jupyterlab is not installed"):
            explorer_server("gaussian", 9001, lab=True)
    else:
        command, _, url = explorer_server("gaussian", 9001, lab=True)
        assert command[2] == "jupyterlab" and url.endswith("/lab/tree/explore_gaussian.ipynb")
    command, _, _ = explorer_server("tour", 9002)
    assert command[3].endswith("notebooks/00_tour.ipynb") and "--template=fdlf" in command
    with pytest.raises(ValueError, match="port must be"):
        explorer_server("ising", 80)
    with pytest.raises(ValueError, match="explorer must be one of"):
        explorer_server("nope", 9000)
    with pytest.raises(SystemExit) as exit_info:
        main(["explore", "nope"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_response_explorer_clean_response_dials_probe_and_mala(monkeypatch):
    from fdlf_core import posterior, teachers
    from fdlf_widgets import ResponseExplorer, response

    ex = ResponseExplorer(family="simple_local", L=16, seed=2, probe_row=3, probe_col=5, R_eff=4)
    teacher = teachers.make("simple_local", seed=0)
    x = teacher.sample(1, 16, generator=torch.Generator().manual_seed(2))
    row = teacher.response(x, (3, 5))[0]
    z = _z(ex.figures["heatmap"])
    mask = row != 0
    mask[3, 5] = False
    assert torch.allclose(z[mask], torch.log10(row.abs())[mask], atol=1e-12) and math.isnan(z[3, 5])
    assert [list(r) for r in ex.figures["sample"].data[0].z] == x[0].tolist()

    ex.set(family="complex_long")  # the dials follow the family's defaults
    assert {k: ex.params()[k] for k in response.DIALS} == {k: getattr(teachers.FAMILIES["complex_long"], k)
                                                            for k in response.DIALS}
    ex.set(family="simple_local")
    ex.views["heatmap"]._handle_message(None, {"event": "click", "points": [{"curve": 0, "x": 2, "y": 7,
                                                                            "index": [7, 2]}]}, [])  # cell (7, 2)
    assert (ex.params()["probe_row"], ex.params()["probe_col"]) == (7, 2)
    ex.set(L=32)
    assert ex.controls["probe_row"].max == 31

    ex.set(L=16)
    ex.compute_smoothed()
    assert "set sigma &gt; 0 first" in ex.status.value
    monkeypatch.setattr(response, "MALA", posterior.MALAConfig(n_chains=4, n_steps=64, burn_in=16))
    ex.set(sigma=0.5)
    assert "press the button" in ex.status.value
    ex.compute_smoothed()
    assert "smoothed at sigma=0.5" in ex.status.value and len(ex.figures["tail"].data[3].y) > 0
    est = ex._smoothed[(*ex._sample_key(ex.params()), 0.5)][0]
    cells = torch.tensor(ex.figures["heatmap"].data[0].customdata, dtype=torch.float64)  # hover: value, error bar
    assert torch.equal(cells[..., 0], est.value) and torch.equal(cells[..., 1], est.stderr)
    ex.set(R_eff=6)  # the smoothed response does not depend on the model's radius: still shown
    assert "smoothed at sigma=0.5: beyond R_eff" in ex.status.value and len(ex.figures["tail"].data[3].y) > 0
    ex.set(sigma=0.55)  # another setting: not computed yet, nothing stale is shown
    assert "press the button" in ex.status.value and len(ex.figures["tail"].data[3].y) == 0


def test_extrapolation_explorer_reads_the_cached_results_and_trains_now(monkeypatch, tmp_path):
    import dataclasses

    from fdlf_core import experiments, runner
    from fdlf_core.experiments.fdlf2d import SweepBudget
    from fdlf_widgets import ExtrapolationExplorer

    ex = ExtrapolationExplorer(family="simple_local", R_eff=4, profile="paper")  # the committed paper results
    assert ex.results == experiments.RESULTS_DIR
    summary = experiments.load_results(ex.results, "fig1", "paper").summary
    rows = sorted((r for r in summary if r["family"] == "simple_local"), key=lambda r: r["L"])
    trace = next(t for t in ex.figures["rmse"].data if t.name.startswith("fig1"))
    assert list(trace.x) == [16, 32, 48, 64] and list(trace.y) == pytest.approx([r["score_rmse_mean"] for r in rows])
    assert {t.name.split(" ")[0] for t in ex.figures["rmse"].data if t.name.startswith("fig")} == {"fig1", "fig2"}

    checkpoints = tmp_path / "checkpoints"
    empty = ExtrapolationExplorer(results=tmp_path / "results", checkpoints=checkpoints, family="medium_range",
                                  R_eff=8, profile="quick")
    assert "no cached runs" in empty.status.value and len(empty.figures["rmse"].data) == 0
    fig2 = experiments.EXPERIMENTS["fig2"]
    tiny = dataclasses.replace(fig2.profiles["quick"], steps=3, eval_n=1, response_n=1, width=4)
    assert isinstance(tiny, SweepBudget)
    monkeypatch.setitem(experiments.EXPERIMENTS, "fig2", dataclasses.replace(fig2, profiles={**fig2.profiles,
                                                                                            "quick": tiny}))
    spec = empty.now_run("medium_range", 8)  # Fig. 2's quick run: train L=32, evaluated at Fig. 2's sizes
    assert (spec.family, spec.R_eff, spec.seed, spec.train["L"], spec.eval_sizes) == ("medium_range", 8, 0, 32, (32, 64))
    assert spec.train["steps"] == 3 and spec.eval_seed == experiments.EVAL_SEED_OFFSET
    empty.train_now()
    assert "could not" not in empty.status.value and "trained now" in empty.status.value
    now = [t for t in empty.figures["rmse"].data if t.name == "trained now"]
    assert len(now) == 1 and list(now[0].x) == [32, 64] and all(v > 0 for v in now[0].y)
    # the trained model is cached under `checkpoints`, and what is drawn is the runner's evaluation of it
    assert [p.name for p in checkpoints.iterdir()] == [f"{spec.train_id}.pt"]
    out = runner.execute_run(spec, checkpoints)
    assert out["cached"] and list(now[0].y) == pytest.approx([r["score_rmse"] for r in out["rows"]], rel=1e-12)
    response = [t for t in empty.figures["response"].data if t.name == "trained now, L=64"]
    assert len(response) == 1 and len(response[0].x) > 0

    def no_training(*args, **kwargs):
        raise AssertionError("the cached model should have been reused")
    monkeypatch.setattr(runner, "train_dsm", no_training)
    again = ExtrapolationExplorer(results=tmp_path / "results", checkpoints=checkpoints, family="medium_range",
                                  R_eff=8, profile="quick")
    again.train_now()  # a second click with the same settings loads the checkpoint
    assert "could not" not in again.status.value and "trained now" in again.status.value
    assert list(next(t for t in again.figures["rmse"].data if t.name == "trained now").y) == list(now[0].y)


def test_train_now_runs_the_quick_run_of_the_figure_the_combination_belongs_to(tmp_path):
    from fdlf_core import experiments
    from fdlf_widgets import ExtrapolationExplorer

    view = ExtrapolationExplorer(results=tmp_path, checkpoints=tmp_path)
    fig1, fig2 = experiments.EXPERIMENTS["fig1"], experiments.EXPERIMENTS["fig2"]
    both = view.now_run("simple_local", 4)  # in both figures: Fig. 2 preferred
    assert (both.train["L"], both.eval_sizes, both.train["steps"]) == (32, (32, 64), fig2.profiles["quick"].steps)
    only1 = view.now_run("complex_local", 4)  # Fig. 1 only
    assert (only1.train["L"], only1.eval_sizes, only1.train["steps"]) == (16, (16, 32, 48, 64),
                                                                        fig1.profiles["quick"].steps)
    # the reproduction's quick run, relabelled (its response is measured separately, as a profile): the same
    # trained model, the same checkpoint key
    quick = next(s for s in experiments.expand("fig1", "quick") if s.family == "complex_local" and s.seed == 0)
    assert only1.train_id == quick.train_id and only1.experiment == "fig1-explore" and only1.response_sizes == ()
    radius14 = view.now_run("complex_local", 14)  # in neither at R_eff=14: Fig. 2, the figure with that radius
    assert (radius14.train["L"], radius14.blocks, radius14.eval_sizes) == (32, 6, (32, 64))


def test_plot_mirrors_its_figure_and_shares_one_plotly_js():
    import json

    from fdlf_widgets.plot import Plot, plotly_js

    fig = go.Figure(go.Scatter(x=[0, 1], y=[1.0, 0.5]))
    a, b = Plot(fig), Plot(go.Figure())
    assert json.loads(a.figure_json) == json.loads(fig.to_json())
    fig.data[0].y = [1.0, 0.25]  # changed in place by its owner: sent on draw()
    assert json.loads(a.figure_json)["data"][0]["y"] == [1.0, 0.5]
    a.draw()
    assert json.loads(a.figure_json)["data"][0]["y"] == [1.0, 0.25]
    # plotly.js goes to the page once, not once per figure
    assert a._plotly is b._plotly is plotly_js() and "Plotly" in plotly_js().source[:5000]
    clicks = []
    a.on_click(clicks.append)
    a._handle_message(a, {"event": "click", "points": [{"curve": 0, "x": 1, "y": 0.25, "index": 1}]}, [])
    a._handle_message(a, {"event": "hover"}, [])
    assert clicks == [{"curve": 0, "x": 1, "y": 0.25, "index": 1}]
    with pytest.raises(TypeError, match="figure must be a plotly go.Figure"):
        Plot({"data": []})


def test_a_failed_button_action_is_shown_and_nothing_is_cached(monkeypatch):
    from fdlf_core import posterior
    from fdlf_widgets import ResponseExplorer

    ex = ResponseExplorer(L=16, sigma=0.5)
    assert [a.label for a in ex.actions] == ["compute smoothed response (MALA)"]

    def broken(*args, **kwargs):
        raise FloatingPointError("simulated divergence")
    monkeypatch.setattr(posterior, "smoothed_response", broken)
    ex.mala.button.click()  # what the button does in the page: a background run
    ex.wait(timeout=30)
    assert not ex.busy and ex._smoothed == {}
    assert "could not finish MALA at sigma=0.5, probe (8, 8): simulated divergence" in ex.status.value
    assert not ex.mala.button.disabled and ex.progress_row.layout.display == "none"
    ex.set(R_eff=5)  # and the explorer keeps working
    assert "press the button" in ex.status.value


def test_plain_voila_finds_the_offline_template_and_uses_it_by_default(monkeypatch):
    """Installed into the environment (make links it for the editable install): no JUPYTER_PATH needed."""
    import json
    from pathlib import Path

    from jupyter_core.paths import jupyter_config_path
    from voila.paths import collect_template_paths

    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    found = [Path(p) / "index.html.j2" for p in collect_template_paths(["voila", "nbconvert"], "fdlf")]
    ours = [p for p in found if p.is_file() and "without its two icon-font stylesheets" in p.read_text()]
    assert ours, found
    configs = [Path(d) / "voila.json" for d in jupyter_config_path() if (Path(d) / "voila.json").is_file()]
    assert any(json.loads(c.read_text()).get("VoilaConfiguration", {}).get("template") == "fdlf" for c in configs)


def test_the_package_ships_the_template_as_data_files(tmp_path):
    """A regular (wheel) install copies the template and the default-template config into the environment."""
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root, source = Path(__file__).resolve().parent.parent, tmp_path / "source"  # built from a copy: no build/ here
    for part in ("fdlf_core", "widgets"):
        shutil.copytree(root / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(root / part, source / part)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    names = zipfile.ZipFile(next(tmp_path.glob("fdlf-*.whl"))).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert sorted(data) == ["etc/jupyter/voila.json", "share/jupyter/voila/templates/fdlf/conf.json",
                            "share/jupyter/voila/templates/fdlf/index.html.j2"]


def test_generation_explorer_generates_with_the_cached_model(monkeypatch, tmp_path):
    import dataclasses

    from fdlf_core import experiments as ex
    from fdlf_core import observables, runner
    from fdlf_core.experiments.generation import TABLE5, GenerationBudget
    from fdlf_widgets import GenerationExplorer, generation

    tiny = dataclasses.replace(TABLE5, train_L=6, gen_sizes=(6, 8), profiles={
        "quick": GenerationBudget(steps=3, batch_size=2, seeds=(0,), sigma_max=80.0, width=4, n_samples=3,
                                  sampler_steps=(("sde", 5), ("ode", 3)), n_boot=5),
        "paper": TABLE5.profiles["paper"]})
    monkeypatch.setitem(ex.EXPERIMENTS, "table5", tiny)
    monkeypatch.setattr(generation, "TABLE5", tiny)
    ex.run_experiment("table5", "quick", out=tmp_path, families=["simple_local"], progress=False)
    view = GenerationExplorer(results=tmp_path, family="simple_local", profile="quick", L=8, sampler="ode")
    assert "Press" in view.status.value and view.generation.work(view.params()) == (2 * 3 - 1) * 3 * 64  # Heun calls
    view.run(view.generation)
    assert "local-observable MAE" in view.status.value and "frame 8: sigma=0" in view.status.value
    # generated as the run generates: at one of its sizes the explorer's MAE is the run's row
    row = next(r for r in runner.read_runs(tmp_path / "table5" / "quick" / "runs.jsonl")
               if (r["family"], r["L"], r["sampler"]) == ("simple_local", 8, "ode"))
    assert f"MAE {row['mae']:.3f} ± {row['mae_se']:.3f}" in view.status.value
    assert f"relative correlation error {row['corr_rel']:.2f} (teacher vs teacher: {row['floor_corr_rel']:.2f})" \
        in view.status.value
    assert view.generation.work(view.params()) == 0 and "already generated" in view.generation.prepare(view.params())
    samples, bars = view.figures["samples"], view.figures["observables"]
    assert len(samples.data) == 2 and len(samples.data[1].z) == 8 and samples.layout.annotations[1].text == "generated"
    assert [t.name for t in bars.data][0] == "|generated - teacher|" and list(bars.data[0].x) == list(observables.OBSERVABLES)
    view.set(frame=0)  # pure noise at sigma_max: the reverse process's first frame
    assert samples.layout.annotations[1].text == "reverse process at sigma=80" and "frame 0: sigma=80" in view.status.value
    assert float(torch.tensor(samples.data[1].z).std()) > 20
    view.set(family="complex_long")  # no model cached for it: says what to run, draws no stale samples
    assert "fdlf reproduce --only table5 --profile quick" in view.status.value
    assert [t.type for t in samples.data] == ["scatter"] and list(samples.data[0].x) == []
    assert "no cached quick model" in view.generation.prepare(view.params())

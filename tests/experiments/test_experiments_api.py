"""experiments (package level): the registry of experiments and profiles, expand / check_results /
run_experiment / load_results / read_summary, and their refusals of bad input."""
import concurrent.futures as cf
import json

import pytest

from fdlf_core import experiments as ex
from fdlf_core.cli import NOTEBOOK_DIR


def test_every_experiment_has_profiles_a_schema_and_a_notebook():
    assert {"fig1", "fig2", "fig4"} <= set(ex.EXPERIMENTS)
    assert ex.PROFILES == ("paper", "paper-2x", "quick", "sweep", "sweep-1seed")
    for name, exp in ex.EXPERIMENTS.items():
        assert exp.name == name and ex.get_experiment(name) is exp
        # the size-transfer sweep is not a paper figure: its profiles are "sweep" and "sweep-1seed"
        assert ("paper" in exp.profiles) == (name != "sweep") and set(exp.profiles) <= set(ex.PROFILES) and exp.families
        assert ("paper-2x" in exp.profiles) == (name == "floor") and ("sweep" in exp.profiles) == ("sweep-1seed" in exp.profiles) == (name == "sweep")
        # every experiment but the attention sweeps (an attention step costs 5-6x a CNN step) and the size-transfer
        # sweep (144 runs) has a quick profile
        assert ("quick" in exp.profiles) == (name not in ("fig1_attention", "fig2_attention", "sweep"))
        assert (NOTEBOOK_DIR / exp.notebook).is_file(), exp.notebook
        assert list(exp.summary_schema) and all(t in (str, int, float) for t in exp.summary_schema.values())
        assert all(isinstance(b, ex.Budget) for b in exp.profiles.values())
        profile = "quick" if "quick" in exp.profiles else next(iter(exp.profiles))
        if profile == "quick":
            quick, paper = exp.profiles["quick"], exp.profiles["paper"]
            assert quick.steps <= paper.steps and len(quick.seeds) <= len(paper.seeds)
        specs = ex.expand(name, profile)
        assert specs and all(isinstance(s, ex.RunSpec) and s.experiment == name and s.profile == profile
                             for s in specs)
    assert ex.RESULTS_DIR.name == "results" and (ex.RESULTS_DIR / "fig1" / "paper" / "runs.jsonl").is_file()


@pytest.mark.parametrize("call,match", [
    (lambda: ex.get_experiment("fig9"), "experiment must be one of"),
    (lambda: ex.expand("fig9", "quick"), "experiment must be one of"),
    (lambda: ex.expand("fig1", "huge"), "profile must be one of"),
    (lambda: ex.expand("fig1", "quick", families=["medium_range"]), "family must be one of"),
    (lambda: ex.expand("fig4", "quick", families=["simple_local"]), "family must be one of"),
    (lambda: ex.run_experiment("fig1", "quick", jobs=0), "jobs must be"),
    (lambda: ex.run_experiment("fig1", "huge"), "profile must be one of"),
    (lambda: ex.load_results("results", "fig1", "huge"), "profile must be one of"),
    (lambda: ex.check_results("fig9", "quick"), "experiment must be one of"),
    (lambda: ex.read_summary(ex.RESULTS_DIR / "fig1" / "paper" / "summary.csv", "fig9"), "experiment must be one of"),
])
def test_bad_experiment_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_executor_type_is_checked(tmp_path):
    with pytest.raises(ValueError, match="executor must be one of"):
        ex.run_experiment("fig1", "quick", out=tmp_path, executor="pool")
    with pytest.raises(TypeError, match="executor must be a concurrent.futures.Executor"):
        ex.run_experiment("fig1", "quick", out=tmp_path, executor=2)
    with pytest.raises(TypeError, match="jobs must be"):
        ex.run_experiment("fig1", "quick", out=tmp_path, jobs=1.0)
    assert not (tmp_path / "fig1").exists()  # refused before anything was written


def test_read_summary_refuses_another_experiments_summary():
    fig4 = ex.RESULTS_DIR / "fig4" / "paper" / "summary.csv"
    with pytest.raises(ValueError, match="is not an fdlf summary"):
        ex.read_summary(fig4, "fig1")
    assert len(ex.read_summary(fig4, "fig4")) == 192
    assert len(ex.read_summary(ex.RESULTS_DIR / "fig1" / "paper" / "summary.csv")) == 12  # fig1 by default


def test_check_results_lists_pending_runs_and_writes_nothing_else(tiny_fig1, tmp_path):
    pending = ex.check_results("fig1", "quick", tmp_path)
    assert [s.run_id for s in pending] == [s.run_id for s in ex.expand("fig1", "quick")]
    d = tmp_path / "fig1" / "quick"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "fig1", "fig1/quick", "fig1/quick/checkpoints"]
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["complex_local"])
    assert [s.family for s in ex.check_results("fig1", "quick", tmp_path)] == ["simple_local"] * 2
    assert ex.check_results("fig1", "quick", tmp_path, families=["complex_local"]) == []
    (d / "runs.jsonl").write_text("garbage\n")
    with pytest.raises(ValueError, match="runs.jsonl line 1 is not JSON"):
        ex.check_results("fig1", "quick", tmp_path)


def test_load_results_without_running(tiny_fig1, tmp_path):
    with pytest.raises(FileNotFoundError, match="run it first"):
        ex.load_results(tmp_path, "fig1", "quick")
    done = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    loaded = ex.load_results(tmp_path, "fig1", "quick")
    as_text = lambda rows: json.dumps(rows, sort_keys=True)  # NaN (an undefined band error) equals itself as text
    assert as_text(loaded.summary) == as_text(done.summary) and len(loaded.rows) == len(done.rows) == 8
    assert (loaded.name, loaded.profile, loaded.failures) == ("fig1", "quick", {})


def test_a_subset_of_families_runs_only_those(tiny_fig1, tmp_path):
    res = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["simple_local"])
    assert {r["family"] for r in res.rows} == {"simple_local"} and len(res.rows) == 2 * 2
    with cf.ThreadPoolExecutor(1) as pool:  # the rest, resumed on another executor
        full = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, executor=pool)
    assert len(full.rows) == 8 and {r["checkpoint_cached"] for r in full.rows if r["family"] == "simple_local"} == {
        False}

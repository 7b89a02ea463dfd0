"""runner: one run spec -> numbers (execute_run, train_or_load), the result files, resume, executors, locking,
damaged or foreign files, failed runs, and the CSV round trip."""
import concurrent.futures as cf
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys

import pytest
import torch

from fdlf_core import experiments as ex
from fdlf_core import runner
from fdlf_core.cli import main
from fdlf_core.experiments.fdlf2d import SweepBudget, sweep_run
from fdlf_core.training import load_checkpoint

TINY = SweepBudget(steps=3, batch_size=2, eval_n=2, response_n=2, seeds=(0,), width=4)


def _tiny_spec(seed=0, family="simple_local"):
    return sweep_run(family, 1, 8, TINY, seed, (8, 12), (12,), experiment="test", profile="tiny")


# ---------------------------------------------------------------------------------------------- one run

def test_execute_run_without_a_checkpoint_dir_trains_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def no_saving(*args, **kwargs):
        raise AssertionError("nothing may be saved without a checkpoint directory")
    monkeypatch.setattr(runner, "save_checkpoint", no_saving)
    spec = _tiny_spec()
    out = runner.execute_run(spec, None)
    assert list(tmp_path.iterdir()) == []
    assert out["run_id"] == spec.run_id and out["cached"] is False and out["wall_s"] > 0
    assert [r["L"] for r in out["rows"]] == [8, 12]
    for row in out["rows"]:
        assert row["run_id"] == spec.run_id and row["checkpoint_cached"] is False
        assert (row["teacher"], row["model"], row["train"]) == (spec.teacher, spec.model, spec.train)
        assert (row["experiment"], row["profile"], row["family"], row["seed"]) == ("test", "tiny", "simple_local", 0)
        assert row["eval_seed"] == spec.eval_seed == ex.EVAL_SEED_OFFSET and row["score_rmse"] > 0
        assert math.isfinite(row["final_loss"]) and row["train_wall_s"] > 0
    assert out["rows"][0]["near"] is None and out["rows"][1]["near"] > 0  # responses only at L=12
    assert math.isnan(out["rows"][1]["far"]) and out["rows"][1]["far_of_total"] > 0  # simple_local: far band ~empty
    # the same numbers as a run that saves its checkpoint (nothing depends on where the model goes)
    monkeypatch.undo()
    saved = runner.execute_run(spec, tmp_path / "ckpt")
    assert [r["score_rmse"] for r in saved["rows"]] == [r["score_rmse"] for r in out["rows"]]


def test_train_or_load_caches_by_train_id(tmp_path, monkeypatch):
    spec = _tiny_spec(seed=1)
    data, trained, cached = runner.train_or_load(spec, tmp_path)
    assert not cached and data.config == trained.data_config
    assert [p.name for p in tmp_path.iterdir()] == [f"{spec.train_id}.pt"]

    def no_training(*args, **kwargs):
        raise AssertionError("the cached checkpoint should have been loaded")
    monkeypatch.setattr(runner, "train_dsm", no_training)
    _, loaded, cached = runner.train_or_load(spec, tmp_path)
    assert cached and loaded.losses == trained.losses
    x = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.model(x, 0.1), trained.model(x, 0.1), atol=0, rtol=0)
    out = runner.execute_run(spec, tmp_path)  # evaluation of the cached model, no training
    assert out["cached"] and all(r["checkpoint_cached"] for r in out["rows"])
    assert runner.load_cached(spec, tmp_path / f"{spec.train_id}.pt").config == trained.config


def test_the_runner_trains_through_train_dsm_with_the_specs_config(tmp_path, monkeypatch):
    calls = []
    real = runner.train_dsm

    def spy(data, model, cfg, progress=True):
        calls.append((data.config, model.config, cfg))
        return real(data, model, cfg, progress=progress)
    monkeypatch.setattr(runner, "train_dsm", spy)
    spec = _tiny_spec()
    runner.execute_run(spec, None)
    ((data_config, model_config, cfg),) = calls
    assert cfg == spec.train_config() == TINY.train_config(8, 0) and model_config.seed == 0
    assert data_config.family == "simple_local"


def test_inline_executor_delivers_results_and_exceptions_through_futures():
    pool = runner.InlineExecutor()
    assert pool.submit(lambda a, b=0: a + b, 2, b=3).result() == 5
    fut = pool.submit(lambda: 1 / 0)
    assert isinstance(fut.exception(), ZeroDivisionError)


# -------------------------------------------------------------------------------------------- CSV files

def test_write_csv_and_read_csv_round_trip_with_a_schema(tmp_path):
    schema = {"family": str, "L": int, "value": float, "sem": float}
    rows = [{"family": "a", "L": 8, "value": 1 / 3, "sem": math.nan, "ignored": "x"},
            {"family": "b,c", "L": 64, "value": 2.5e-7, "sem": 0.125}]
    path = runner.write_csv(tmp_path / "s.csv", rows, schema)
    assert path.read_text().splitlines()[0] == "family,L,value,sem"  # the schema's order, extra keys left out
    back = runner.read_csv(path, schema)
    assert [r["family"] for r in back] == ["a", "b,c"] and [r["L"] for r in back] == [8, 64]
    assert all(type(r["L"]) is int and type(r["value"]) is float for r in back)
    assert back[0]["value"] == pytest.approx(1 / 3, rel=1e-6) and back[0]["value"] != 1 / 3  # 6 significant digits
    assert math.isnan(back[0]["sem"]) and back[1]["value"] == 2.5e-7 and back[1]["sem"] == 0.125
    assert list(back[0]) == list(schema)


def test_read_csv_refuses_a_file_with_other_columns(tmp_path):
    path = runner.write_csv(tmp_path / "s.csv", [{"a": 1, "b": 2.0}], ["a", "b"])
    with pytest.raises(ValueError, match=r"s.csv is not an fdlf summary with columns \('a', 'b', 'c'\)"):
        runner.read_csv(path, {"a": int, "b": float, "c": str})
    with pytest.raises(ValueError, match="not an fdlf summary"):  # same columns, another order
        runner.read_csv(path, {"b": float, "a": int})
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="not an fdlf summary"):
        runner.read_csv(tmp_path / "empty.csv", {"a": int})
    assert runner.read_csv(path, {"a": int, "b": float}) == [{"a": 1, "b": 2.0}]


def test_read_runs_counts_a_row_written_twice_once(tmp_path):
    path = tmp_path / "runs.jsonl"
    assert runner.read_runs(path) == []
    path.write_text('{"run_id": "a", "L": 8, "v": 1}\n\n{"run_id": "a", "L": 8, "v": 2}\n{"run_id": "a", "L": 16}\n')
    assert sorted((r["L"], r.get("v")) for r in runner.read_runs(path)) == [(8, 2), (16, None)]
    path.write_text('{"run_id": "a"}\n')
    with pytest.raises(ValueError, match="line 1 is not an fdlf run row"):
        runner.read_runs(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="is not text"):
        runner.read_runs(path)


# ---------------------------------------------------------------------------------- sessions and resume

def test_run_writes_results_and_resumes(tiny_fig1, tmp_path):
    res = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig1" / "quick"
    rows = runner.read_runs(d / "runs.jsonl")
    assert len(rows) == 2 * 2 * 2 == len(res.rows)  # families x seeds x eval sizes
    row = rows[0]
    assert {"teacher", "model", "train", "score_rmse", "train_wall_s", "run_id", "R_eff"} <= set(row)
    assert [r["near"] is None for r in rows if r["L"] == 8] == [True] * 4
    # responses at L=12: relative errors where defined (NaN exactly where the band's exact response is below
    # 5 % of the total), the errors over the total response everywhere
    banded = [r for r in rows if r["L"] == 12]
    assert banded and all(r["near"] > 0 and r["near_of_total"] > 0 and r["far_of_total"] > 0 for r in banded)
    assert all(math.isnan(r["far"]) == (r["response_definition"]["far_share"] < 0.05) for r in banded)
    assert any(math.isnan(r["far"]) for r in banded)  # simple_local's far band is ~empty
    summary = ex.read_summary(d / "summary.csv")
    assert len(summary) == 2 * 2 and all(s["n_seeds"] == 2 for s in summary)
    assert summary[0]["score_rmse_mean"] == pytest.approx(res.summary[0]["score_rmse_mean"], rel=1e-5)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["format"] == runner.RESULTS_FORMAT and manifest["profile"] == "quick"
    assert {"versions", "git_revision", "machine"} <= set(manifest["provenance"])
    assert manifest["budget"]["eval_n"] == 2 and manifest["experiment"]["name"] == "fig1"
    assert all(r["status"] == "done" and r["wall_s"] > 0 for r in manifest["runs"].values())
    assert len(list((d / "checkpoints").glob("*.pt"))) == 4

    revision = manifest["provenance"]["git_revision"]
    assert all(r["git_revision"] == revision for r in manifest["runs"].values())
    assert [(s["runs_to_do"], s["provenance"]["git_revision"]) for s in manifest["sessions"]] == [(4, revision)]
    assert manifest["sessions"][0]["finished"] == manifest["finished"] is not None

    # resume: nothing is retrained, the rows are the same; the session is added to the record
    before = (d / "runs.jsonl").read_text()
    res2 = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert (d / "runs.jsonl").read_text() == before and len(res2.rows) == 8
    sessions = json.loads((d / "manifest.json").read_text())["sessions"]
    assert [s["runs_to_do"] for s in sessions] == [4, 0] and all(s["finished"] for s in sessions)

    # a manifest written before sessions were kept: its one session is kept as the first
    legacy = json.loads((d / "manifest.json").read_text())
    legacy.pop("sessions")
    legacy["provenance"] = {**legacy["provenance"], "git_revision": "from-before"}
    (d / "manifest.json").write_text(json.dumps(legacy))
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    sessions = json.loads((d / "manifest.json").read_text())["sessions"]
    assert [s["provenance"]["git_revision"] for s in sessions] == ["from-before", revision]

    # a lost runs.jsonl is rebuilt from the cached checkpoints with identical numbers
    (d / "runs.jsonl").unlink()
    res3 = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert all(r["checkpoint_cached"] for r in res3.rows)
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(res3.rows, key=key)] == [r["score_rmse"] for r in sorted(rows, key=key)]


def test_runs_of_an_older_config_become_stale(tiny_fig1, tmp_path, monkeypatch):
    import dataclasses
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["simple_local"])
    d = tmp_path / "fig1" / "quick"
    old = set(json.loads((d / "manifest.json").read_text())["runs"])
    changed = dataclasses.replace(tiny_fig1, profiles={**tiny_fig1.profiles, "quick": dataclasses.replace(
        tiny_fig1.profiles["quick"], eval_n=3)})
    monkeypatch.setitem(ex.EXPERIMENTS, "fig1", changed)
    res = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["simple_local"])
    manifest = json.loads((d / "manifest.json").read_text())
    assert all(manifest["runs"][i]["status"] == "stale" for i in old)
    assert all(r["cached_checkpoint"] for i, r in manifest["runs"].items() if i not in old)  # same training
    assert manifest["rows_from_other_configs"] == 4 and len(res.rows) == 4
    assert {r["run_id"] for r in res.rows}.isdisjoint(old) and len(runner.read_runs(d / "runs.jsonl")) == 8


def test_same_seed_same_numbers_with_any_executor(tiny_fig1, tmp_path):
    a = ex.run_experiment("fig1", "quick", out=tmp_path / "a", progress=False)
    with cf.ThreadPoolExecutor(1) as pool:  # any Executor plugs in (one thread: model init seeds torch's global RNG)
        b = ex.run_experiment("fig1", "quick", out=tmp_path / "b", executor=pool, progress=False)
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(a.rows, key=key)] == [r["score_rmse"] for r in sorted(b.rows, key=key)]
    assert json.loads((tmp_path / "b" / "fig1" / "quick" / "manifest.json").read_text())["executor"] == \
        "ThreadPoolExecutor"


def test_process_pool_matches_inline(tiny_fig1, tmp_path):
    a = ex.run_experiment("fig1", "quick", out=tmp_path / "a", progress=False)
    with runner.process_pool(2, threads=2) as pool:  # the same thread count as this process: same reductions
        b = ex.run_experiment("fig1", "quick", out=tmp_path / "b", executor=pool, progress=False)
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(a.rows, key=key)] == [r["score_rmse"] for r in sorted(b.rows, key=key)]


class _Recording(cf.ThreadPoolExecutor):
    """One worker thread that records the order in which the runs were submitted."""

    def __init__(self):
        super().__init__(1)
        self.labels = []

    def submit(self, fn, /, *args, **kwargs):
        self.labels.append(args[0].label)
        return super().submit(fn, *args, **kwargs)


def test_a_pool_gets_each_seeds_largest_runs_first_and_the_rows_do_not_depend_on_it(tiny_fig1, tmp_path, monkeypatch):
    monkeypatch.setitem(ex.EXPERIMENTS, "fig1", dataclasses.replace(tiny_fig1, blocks=(1, 2)))
    a = ex.run_experiment("fig1", "quick", out=tmp_path / "a", progress=False)
    with _Recording() as pool:
        b = ex.run_experiment("fig1", "quick", out=tmp_path / "b", executor=pool, progress=False)
    # seed by seed; within a seed B=2, with the more parameters, first; equal costs keep the spec order
    assert pool.labels == [f"{fam}, B={b}, seed {s}" for s in (0, 1) for b in (2, 1)
                           for fam in ("simple_local", "complex_local")]
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(a.rows, key=key)] == [r["score_rmse"] for r in sorted(b.rows, key=key)]


def test_run_cost_counts_parameters_sites_and_samples():
    base = _tiny_spec()
    params = sum(p.numel() for p in base.build_model().parameters())
    assert base.cost == params * 8 ** 2 * TINY.steps * TINY.batch_size
    bigger = sweep_run("simple_local", 1, 16, dataclasses.replace(TINY, recipe=(("antithetic", True),)), 0, (16,))
    assert bigger.cost == 4 * 2 * base.cost  # 4x the sites, each sample seen twice


def test_rows_record_their_thread_count_and_a_resume_with_another_says_so(tiny_fig1, tmp_path, monkeypatch):
    said, threads = [], torch.get_num_threads()
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["simple_local"], log=said.append)
    d = tmp_path / "fig1" / "quick"
    assert {r["torch_threads"] for r in runner.read_runs(d / "runs.jsonl")} == {threads}
    assert not any("thread" in m for m in said)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)  # this session: 7 threads per run
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, log=said.append)
    note, = [m for m in said if "thread" in m]
    assert f"used {threads} torch thread(s) per run, this session uses 7" in note
    assert sorted({r["torch_threads"] for r in runner.read_runs(d / "runs.jsonl")}) == sorted({threads, 7})
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["sessions"][-1]["worker_threads"] == 7
    assert sorted(r["torch_threads"] for r in manifest["runs"].values()) == sorted([threads] * 2 + [7] * 2)


def test_runs_finished_by_another_session_while_waiting_for_the_lock_are_not_rerun(tiny_fig1, tmp_path,
                                                                                    monkeypatch):
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["simple_local"])
    # the other session finishes every run between this one's pending list and its lock
    monkeypatch.setattr(runner, "pending", lambda specs, directory: list(specs))
    monkeypatch.setattr(runner, "execute_run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    res = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["simple_local"])
    assert len(res.rows) == 4


def test_corrupt_or_foreign_files_stop_before_training_and_are_kept(tiny_fig1, tmp_path):
    d = tmp_path / "fig1" / "quick"
    d.mkdir(parents=True)
    (d / "runs.jsonl").write_text('{"run_id": "x", "L": 8}\n{broken\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert (d / "runs.jsonl").read_text().endswith("{broken\n")
    (d / "runs.jsonl").unlink()

    spec = ex.expand("fig1", "quick")[0]
    ckpt = d / "checkpoints" / f"{spec.train_id}.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable fdlf checkpoint"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert ckpt.read_bytes() == b"not a checkpoint" and not (d / "runs.jsonl").exists()

    (d / "manifest.json").write_text('{"format": "someone-else"}')
    ckpt.unlink()
    with pytest.raises(ValueError, match="not an fdlf manifest"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json is not JSON"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert (d / "manifest.json").read_text() == "{not json"


def test_checkpoint_of_another_run_is_refused_before_training(tiny_fig1, tmp_path, capsys):
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig1" / "quick"
    specs = ex.expand("fig1", "quick")
    (d / "runs.jsonl").unlink()
    a, b = (d / "checkpoints" / f"{s.train_id}.pt" for s in specs[:2])
    a.write_bytes(b.read_bytes())  # run 0's cache now holds run 1's model
    with pytest.raises(ValueError, match="holds a different run's model"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert not (d / "runs.jsonl").exists() and a.read_bytes() == b.read_bytes()
    with pytest.raises(ValueError, match="holds a different run's model"):
        runner.execute_run(specs[0], d / "checkpoints")
    assert main(["reproduce", "--only", "fig1", "--profile", "quick", "--out", str(tmp_path)]) == 2
    assert "holds a different run's model" in capsys.readouterr().err


def test_damaged_checkpoint_content_is_a_clear_error(tiny_fig1, tmp_path):
    spec = ex.expand("fig1", "quick")[0]
    ckpt = tmp_path / "fig1" / "quick" / "checkpoints" / f"{spec.train_id}.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"format": "fdlf.checkpoint/1"}, ckpt)  # right tag, no content
    with pytest.raises(ValueError, match="damaged fdlf checkpoint"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)


def test_a_second_writer_on_the_same_directory_is_refused(tiny_fig1, tmp_path):
    d = tmp_path / "fig1" / "quick"
    d.mkdir(parents=True)
    with runner.exclusive(d):
        with pytest.raises(ValueError, match="another fdlf run is writing"):
            ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    with runner.exclusive(d):  # released again
        pass


def test_unwritable_results_directory(tiny_fig1, tmp_path, monkeypatch):
    # CI runs as root, which ignores permission bits, so the access check itself is simulated
    monkeypatch.setattr(runner.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="is not writable"):
        ex.run_experiment("fig1", "quick", out=tmp_path / "r", progress=False)


def test_failed_run_raises_after_saving_the_others(tiny_fig1, tmp_path, monkeypatch):
    real = runner.train_dsm

    def flaky(data, model, cfg, progress=True):
        if data.config.family == "complex_local" and cfg.seed == 1:
            raise FloatingPointError("DSM loss became nan")
        return real(data, model, cfg, progress=progress)

    monkeypatch.setattr(runner, "train_dsm", flaky)
    with pytest.raises(runner.ExperimentError, match="1 of 4 runs of fig1/quick failed"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig1" / "quick"
    assert len(runner.read_runs(d / "runs.jsonl")) == 3 * 2
    runs = json.loads((d / "manifest.json").read_text())["runs"].values()
    assert sorted(r["status"] for r in runs) == ["done", "done", "done", "failed"]
    assert [r["error"] for r in runs if r["status"] == "failed"] == ["FloatingPointError: DSM loss became nan"]
    assert len(list((d / "checkpoints").glob("*.pt"))) == 3  # the failed run left no checkpoint
    monkeypatch.setattr(runner, "train_dsm", real)
    assert len(ex.run_experiment("fig1", "quick", out=tmp_path, progress=False).rows) == 8  # resumes
    runs = json.loads((d / "manifest.json").read_text())["runs"].values()
    assert all(r["status"] == "done" and "error" not in r for r in runs)


def test_checkpoints_written_by_a_session_load_as_the_runs_models(tiny_fig1, tmp_path):
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False, families=["simple_local"])
    for spec in ex.expand("fig1", "quick", families=["simple_local"]):
        result = load_checkpoint(tmp_path / "fig1" / "quick" / "checkpoints" / f"{spec.train_id}.pt")
        assert result.config == spec.train_config() and result.model.config == spec.build_model().config


def test_a_run_trained_by_another_experiment_is_adopted_not_retrained(tiny_fig1, tmp_path, monkeypatch):
    import dataclasses

    first = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    # another experiment whose runs have the same train ids (the same teacher, model and training)
    twin = dataclasses.replace(tiny_fig1, name="fig1_twin", eval_sizes=(8,), response_sizes=())
    monkeypatch.setitem(ex.EXPERIMENTS, "fig1_twin", twin)
    monkeypatch.setattr(runner, "train_dsm", lambda *a, **k: pytest.fail("a checkpoint was there to adopt"))
    said = []
    second = ex.run_experiment("fig1_twin", "quick", out=tmp_path, progress=False, log=said.append)
    assert any("4 of the 4 runs to do reuse a checkpoint" in m for m in said)
    assert all(r["checkpoint_cached"] for r in second.rows)
    score = lambda res: sorted((r["family"], r["seed"], r["score_rmse"]) for r in res.rows if r["L"] == 8)
    assert score(second) == score(first)  # same model, same evaluation draws
    ours = tmp_path / "fig1_twin" / "quick" / "checkpoints"
    theirs = tmp_path / "fig1" / "quick" / "checkpoints"
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
    assert all((ours / p.name).samefile(p) for p in theirs.iterdir())  # hard links: no copies


_PAGE_FAULTS = """
import resource, sys, torch
from fdlf_core import runner
def faults():  # minor page faults of 50 allocate-fill-free cycles of a 1 MiB tensor
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        torch.empty(1 << 18).fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
first = faults()
changed = runner.undo_fixed_malloc_trim()
faults()
print(first, changed, faults())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")
def test_a_fixed_malloc_trim_threshold_is_undone_in_run_processes():
    # dask's MALLOC_TRIM_THRESHOLD_ stops glibc from reusing freed tensors: each 1 MiB tensor is a fresh mmap
    # whose 256 pages fault in when filled. After the undo they come from the heap again.
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", _PAGE_FAULTS], env=env, capture_output=True, text=True, check=True)
    fixed_threshold, changed, undone = out.stdout.split()
    assert int(fixed_threshold) >= 50 * 256 and changed == "True" and int(undone) < 50
    env.pop("MALLOC_TRIM_THRESHOLD_")
    out = subprocess.run([sys.executable, "-c", _PAGE_FAULTS], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == "False"  # nothing to undo


def test_threads_per_job_divides_the_cores_this_process_may_use_not_the_node(monkeypatch):
    # a SLURM or cgroup allocation (or taskset) of 6 cores on whatever node this runs on
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    assert runner.available_cores() == 6
    assert [runner.threads_per_job(j) for j in (1, 2, 4, 12)] == [6, 3, 1, 1]

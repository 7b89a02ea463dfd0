"""cluster: runs on a dask LocalCluster on localhost give the same numbers and files as the process pool;
checkpoints travel with the tasks (the workers need no shared files); a worker killed mid-run loses only
that run, which dask reschedules; bad settings are named."""
import json
import os
import signal
import threading
import time

import pytest
import torch

from fdlf_core import cluster, runner
from fdlf_core import experiments as ex




def _numbers(result):
    key = lambda r: (r["run_id"], r["L"])
    return [(r["run_id"], r["L"], r["score_rmse"], r["final_loss"]) for r in sorted(result.rows, key=key)]


def test_dask_local_cluster_matches_the_process_pool(tiny_fig1, tmp_path):
    environ = dict(os.environ)
    with runner.process_pool(2, threads=1) as pool:
        a = ex.run_experiment("fig1", "quick", out=tmp_path / "a", executor=pool, progress=False)
    said = []
    with cluster.dask_executor(None, jobs=2, log=said.append) as pool:
        assert pool.threads == runner.threads_per_job(2)
        pool.threads = 1  # the process pool's thread count: the same reductions, the same numbers
        b = ex.run_experiment("fig1", "quick", out=tmp_path / "b", executor=pool, progress=False)
    assert _numbers(a) == _numbers(b) and len(b.rows) == 2 * 2 * 2
    assert "2 worker(s)" in said[0] and "dashboard http" in said[0]
    da, db = (tmp_path / d / "fig1" / "quick" for d in "ab")
    assert sorted(p.name for p in (db / "checkpoints").iterdir()) == sorted(p.name for p in (da / "checkpoints").iterdir())
    for ckpt in (db / "checkpoints").iterdir():  # came back from the workers whole, and load as this run's
        spec = next(s for s in ex.expand("fig1", "quick") if f"{s.train_id}.pt" == ckpt.name)
        assert runner.load_cached(spec, ckpt).losses == runner.load_cached(spec, da / "checkpoints" / ckpt.name).losses
    manifest = json.loads((db / "manifest.json").read_text())
    assert manifest["executor"] == "DaskExecutor" and manifest["worker_threads"] == 1
    assert {r["torch_threads"] for r in b.rows} == {1}
    # a resume through dask sends the cached checkpoints to the workers: same rows, nothing trained
    (db / "runs.jsonl").unlink()
    with cluster.dask_executor(None, jobs=1) as pool:
        pool.threads = 1
        c = ex.run_experiment("fig1", "quick", out=tmp_path / "b", executor=pool, progress=False)
    assert _numbers(c) == _numbers(a) and all(r["checkpoint_cached"] for r in c.rows)
    # the nannies wrote dask's worker settings (MALLOC_TRIM_THRESHOLD_, which made every later subprocess's
    # training 2.6x slower) into this process's environment; the executor takes them back
    assert dict(os.environ) == environ


def test_executor_dask_by_name_starts_and_closes_its_own_cluster(tiny_fig1, tmp_path):
    said = []
    res = ex.run_experiment("fig1", "quick", out=tmp_path, executor="dask", jobs=2, progress=False,
                            families=["simple_local"], log=said.append)
    assert len(res.rows) == 2 * 2 and any("a local cluster with 2 worker(s)" in m for m in said)
    again = []  # nothing left to run: no cluster is started
    ex.run_experiment("fig1", "quick", out=tmp_path, executor="dask", progress=False, families=["simple_local"],
                      log=again.append)
    assert not any("dask" in m for m in again)


def test_a_worker_killed_mid_run_loses_only_that_run(tiny_fig1, tmp_path, monkeypatch):
    # runs long enough to be caught running: more steps (the spec carries them to the worker)
    slow = {name: budget.__class__(**{**budget.__dict__, "steps": 400}) for name, budget in tiny_fig1.profiles.items()}
    monkeypatch.setitem(ex.EXPERIMENTS, "fig1", tiny_fig1.__class__(**{**tiny_fig1.__dict__, "profiles": slow}))
    with cluster.dask_executor(None, jobs=2) as pool:
        pids = pool.client.run(os.getpid)  # {worker address: pid}
        killed = []

        def kill_one_busy_worker():
            while not killed:
                busy = [w for w, tasks in pool.client.processing().items() if tasks]
                if busy:
                    time.sleep(0.5)  # mid-run
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.05)
        threading.Thread(target=kill_one_busy_worker, daemon=True).start()
        res = ex.run_experiment("fig1", "quick", out=tmp_path, executor=pool, progress=False)
    d = tmp_path / "fig1" / "quick"
    assert killed and len(res.rows) == 2 * 2 * 2  # rescheduled on the other (or the restarted) worker
    manifest = json.loads((d / "manifest.json").read_text())
    assert all(r["status"] == "done" for r in manifest["runs"].values())
    for ckpt in (d / "checkpoints").iterdir():  # nothing half-written
        assert torch.load(ckpt, weights_only=True)
    assert len(runner.read_runs(d / "runs.jsonl")) == 2 * 2 * 2


def test_bad_cluster_settings_are_named(tiny_fig1, tmp_path):
    with pytest.raises(ValueError, match="executor must be one of"):
        ex.run_experiment("fig1", "quick", out=tmp_path, executor="slurm")
    with pytest.raises(ValueError, match="scheduler is the dask scheduler's address"):
        ex.run_experiment("fig1", "quick", out=tmp_path, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="could not be reached"):
        with cluster.dask_executor("tcp://127.0.0.1:9", jobs=1):
            pass
    with cluster.dask_executor(None, jobs=1) as pool, pytest.raises(TypeError, match="execute_run only"):
        pool.submit(print, "x", None)

"""Resumable execution of independent training runs, and the result files they write.

An experiment (``experiments.EXPERIMENTS``) expands into run specs; this module trains or loads each one,
lets it evaluate itself, and keeps, atomically after every finished run::

    <out>/<experiment>/<profile>/runs.jsonl     one JSON row per (run, eval L)
    <out>/<experiment>/<profile>/summary.csv    the experiment's summary of the current runs' rows
    <out>/<experiment>/<profile>/manifest.json  configs, seeds, provenance, per-run wall time and status
    <out>/<experiment>/<profile>/checkpoints/   <train_id>.pt, and the data caches a run asks for

A run spec is a frozen dataclass with ``run_id`` (hash of everything that determines its numbers),
``train_id`` (hash of what determines the trained model), dicts ``teacher`` (the data source's config),
``model`` (``LocalCNNConfig``) and ``train`` (``TrainConfig``), and the methods ``data_source(cache_dir,
progress)``, ``evaluate(data, result) -> rows``, ``describe() -> dict`` (its manifest entry) and
``label``. An experiment has ``name``, ``profiles``, ``summarize(rows)`` and ``summary_columns``.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import dataclasses
import fcntl
import io
import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import lattice
from .atomic import atomic_write
from .models import LocalCNN
from .provenance import config_hash, provenance
from .training import load_checkpoint, save_checkpoint, train_dsm

RESULTS_FORMAT = "fdlf.results/1"


def sem(values: list[float]) -> float:
    """Standard error of the mean: sample std (ddof 1) / sqrt(n); NaN for fewer than two values."""
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


# ------------------------------------------------------------------------------------------------ runs

class RunIds:
    """``run_id`` and ``train_id`` of a frozen-dataclass run spec (mixed in; adds no fields)."""

    @property
    def run_id(self) -> str:
        """Hash of what determines the numbers (not the experiment/profile labels): keys result rows."""
        content = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("experiment", "profile")}
        return config_hash(content)

    @property
    def train_id(self) -> str:
        """Hash of what determines the trained model only: keys the checkpoint cache, so changing an
        evaluation setting re-evaluates without retraining."""
        return config_hash({"teacher": self.teacher, "model": self.model, "train": self.train})


def load_cached(spec, checkpoint: Path):
    """The cached checkpoint of ``spec``; ``ValueError`` if it is damaged or holds another run's model."""
    result = load_checkpoint(checkpoint)
    stored = {"teacher": dataclasses.asdict(result.teacher_config), "model": dataclasses.asdict(result.model.config),
              "train": dataclasses.asdict(result.config)}
    if stored != {"teacher": spec.teacher, "model": spec.model, "train": spec.train}:
        raise ValueError(f"{checkpoint} holds a different run's model (its configs do not match run "
                         f"{spec.run_id}); move it away to retrain")
    return result


def execute_run(spec, checkpoint_dir: str | os.PathLike, progress: bool = False) -> dict:
    """Train (or load the cached model of) one run and evaluate it: ``{"run_id", "rows", "wall_s", "cached"}``.

    Top-level and pickleable so process pools can call it. Every row gets the run's identity, configs
    and wall times on top of what ``spec.evaluate`` measured.
    """
    start = time.perf_counter()
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint = checkpoint_dir / f"{spec.train_id}.pt"
    data = spec.data_source(checkpoint_dir, progress)
    cached = checkpoint.exists()
    if cached:
        result = load_cached(spec, checkpoint)
    else:
        t = spec.train
        result = train_dsm(data, LocalCNN.from_config(spec.model), t["L"], t["steps"], t["batch_size"], lr=t["lr"],
                           sigma_min=t["sigma_min"], sigma_max=t["sigma_max"], seed=t["seed"], progress=progress)
        save_checkpoint(checkpoint, result)
    common = {"run_id": spec.run_id, "experiment": spec.experiment, "profile": spec.profile, "family": spec.family,
              "seed": spec.seed, "final_loss": float(sum(result.losses[-50:]) / len(result.losses[-50:])),
              "train_wall_s": result.wall_s, "checkpoint_cached": cached, "teacher": spec.teacher,
              "model": spec.model, "train": spec.train}
    rows = [{**common, **row} for row in spec.evaluate(data, result)]
    return {"run_id": spec.run_id, "rows": rows, "wall_s": time.perf_counter() - start, "cached": cached}


class InlineExecutor(cf.Executor):
    """Runs each submitted call at once in this process (``jobs=1``): same code path, no pickling."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future like a pool would
            future.set_exception(exc)
        return future


def _set_threads(n: int) -> None:
    torch.set_num_threads(n)


def threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def process_pool(jobs: int, threads: int | None = None) -> cf.ProcessPoolExecutor:
    """``jobs`` spawn-started worker processes with ``threads`` torch threads each (default: cores / jobs).

    Spawn, not fork: forking a process whose OpenMP pool is already running can deadlock the child.
    """
    jobs = lattice.check_int(jobs, "jobs", 1)
    threads = threads_per_job(jobs) if threads is None else lattice.check_int(threads, "threads", 1)
    return cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_set_threads, initargs=(threads,))


# ----------------------------------------------------------------------------------------------- files

def result_dir(out: str | os.PathLike, name: str, profile: str) -> Path:
    return Path(out) / name / profile


def read_runs(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``runs.jsonl`` (empty list if absent); a damaged file raises ``ValueError`` naming the line."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for k, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {k} is not JSON ({exc.msg}); the file is damaged or foreign. "
                             f"Move it away to start afresh") from None
        if not isinstance(row, dict) or "run_id" not in row or "L" not in row:
            raise ValueError(f"{path} line {k} is not an fdlf run row (no run_id/L); move the file away")
        rows.append(row)
    unique = {(r["run_id"], r["L"]): r for r in rows}  # a row written twice counts once
    return list(unique.values())


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not text; the file is damaged or foreign. Move it away") from None


def _write_runs(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    atomic_write(path, lambda f: f.write(text), binary=False)


def write_csv(path: str | os.PathLike, rows: list[dict], columns: Iterable[str]) -> Path:
    """Write ``rows`` (dicts) as CSV with ``columns``, atomically; floats with 6 significant digits."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return atomic_write(path, lambda f: f.write(buf.getvalue()), binary=False)


def read_csv(path: str | os.PathLike, columns: tuple[str, ...], text: Iterable[str] = (),
             ints: Iterable[str] = ()) -> list[dict]:
    """Rows of a CSV written by ``write_csv`` with exactly ``columns``: ``text`` columns kept as strings,
    ``ints`` parsed as int, the rest as float. ``ValueError`` for a file with other columns."""
    path = Path(path)
    text, ints = set(text), set(ints)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != tuple(columns):
            raise ValueError(f"{path} is not an fdlf summary with columns {columns} (it has {reader.fieldnames})")
        return [{k: v if k in text else int(v) if k in ints else float(v) for k, v in row.items()} for row in reader]


def _read_manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc.msg}); the file is damaged or foreign. Move it away") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} is not an fdlf manifest (expected format {RESULTS_FORMAT!r}); move it away")
    return data


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda f: f.write(text), binary=False)


# ---------------------------------------------------------------------------------------------- runner

@dataclass
class ExperimentResult:
    """What a run session produced: the current runs' rows, their summary and where the files are."""

    name: str
    profile: str
    rows: list[dict]
    summary: list[dict]
    directory: Path
    failures: dict[str, str]


class ExperimentError(RuntimeError):
    """Some runs failed; the finished ones are saved (a rerun resumes)."""


@contextlib.contextmanager
def exclusive(directory: Path):
    """One session per result directory: two writers would each rewrite runs.jsonl without the other's rows."""
    with open(directory / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another fdlf run is writing {directory}; wait for it or use another --out") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pending(specs: list, directory: Path) -> list:
    """The runs of ``specs`` not yet in ``directory``'s results, after checking every file they would read.

    Creates the result directories (nothing else is written, nothing removed); raises ``PermissionError``
    if they are not writable and ``ValueError`` naming the file if ``runs.jsonl``, ``manifest.json`` or a
    cached checkpoint of a pending run is damaged, foreign or holds another run's model.
    """
    done = {r["run_id"] for r in read_runs(directory / "runs.jsonl")}
    _read_manifest(directory / "manifest.json")
    todo = [s for s in specs if s.run_id not in done]
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    for d in (directory, directory / "checkpoints"):
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(f"results directory {d} is not writable")
    for spec in todo:
        ckpt = directory / "checkpoints" / f"{spec.train_id}.pt"
        if ckpt.exists():
            load_cached(spec, ckpt)
    return todo


def run_specs(experiment, profile: str, specs: list, current: set[str], directory: Path, jobs: int = 1,
              executor: cf.Executor | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> ExperimentResult:
    """Run the pending ones of ``specs`` into ``directory`` (see ``experiments.run_experiment``).

    ``current``: the run ids of the whole experiment under ``profile``; manifest entries of other runs are
    marked stale and their rows kept in ``runs.jsonl`` but left out of the summary.
    """
    todo = pending(specs, directory)
    with exclusive(directory):
        return _run_locked(experiment, profile, specs, current, todo, directory, jobs, executor, progress, log)


def _run_locked(experiment, profile, specs, current, todo, directory, jobs, executor, progress,
                log) -> ExperimentResult:
    name = experiment.name
    runs_path, manifest_path = directory / "runs.jsonl", directory / "manifest.json"
    rows = read_runs(runs_path)
    manifest = _read_manifest(manifest_path)
    own_threads = torch.get_num_threads() if jobs == 1 else threads_per_job(jobs)
    manifest.update(format=RESULTS_FORMAT, experiment=dataclasses.asdict(experiment), profile=profile,
                    budget=dataclasses.asdict(experiment.profiles[profile]), provenance=provenance(), jobs=jobs,
                    executor=type(executor).__name__ if executor else ("inline" if jobs == 1 else "process_pool"),
                    worker_threads=None if executor else own_threads)
    runs = manifest.setdefault("runs", {})
    for run_id, entry in runs.items():
        if run_id not in current:
            entry["status"] = "stale"  # from an older config; its rows stay in runs.jsonl, out of the summary
    for spec in todo:
        runs[spec.run_id] = {**spec.describe(), "train_id": spec.train_id, "status": "pending"}
    manifest["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write_json(manifest_path, manifest)
    say = log or (lambda msg: None)
    say(f"{name}/{profile}: {len(specs)} runs, {len(specs) - len(todo)} already done, {len(todo)} to run")

    failures: dict[str, str] = {}

    def collect(fut: cf.Future, spec) -> None:
        entry = manifest["runs"][spec.run_id]
        label = f"run {spec.run_id} ({spec.label})"
        try:
            out = fut.result()
        except Exception as exc:  # one failed run must not take the others down; reported at the end
            failures[spec.run_id] = f"{type(exc).__name__}: {exc}"
            entry.update(status="failed", error=failures[spec.run_id])
            say(f"  {label} FAILED: {failures[spec.run_id]}")
        else:
            rows.extend(out["rows"])
            _write_runs(runs_path, rows)
            entry.update(status="done", wall_s=out["wall_s"], cached_checkpoint=out["cached"],
                         train_wall_s=out["rows"][0]["train_wall_s"])
            entry.pop("error", None)
            say(f"  {label} done in {out['wall_s']:.1f} s")
        _write_json(manifest_path, manifest)
        bar.update(1)

    start = time.perf_counter()
    own = executor is None
    pool = (InlineExecutor() if jobs == 1 else process_pool(jobs)) if own else executor
    inline = isinstance(pool, InlineExecutor)
    bar = tqdm(total=len(todo), desc=f"{name}/{profile} runs", disable=not progress)
    try:
        futures = {}
        for spec in todo:
            fut = pool.submit(execute_run, spec, directory / "checkpoints", progress and inline)
            futures[fut] = spec
            if inline:  # already done: record it now, so a kill loses at most the run in progress
                collect(fut, spec)
        if not inline:
            for fut in cf.as_completed(futures):
                collect(fut, futures[fut])
    finally:
        bar.close()
        if own:
            pool.shutdown(cancel_futures=True)
    mine = [r for r in rows if r["run_id"] in current]
    summary = experiment.summarize(mine)
    write_csv(directory / "summary.csv", summary, experiment.summary_columns)
    manifest.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), session_wall_s=time.perf_counter() - start,
                    total_run_wall_s=sum(runs[i].get("wall_s", 0.0) for i in current if i in runs),
                    rows_from_other_configs=len(rows) - len(mine))
    _write_json(manifest_path, manifest)
    result = ExperimentResult(name, profile, mine, summary, directory, failures)
    if failures:
        raise ExperimentError(f"{len(failures)} of {len(specs)} runs of {name}/{profile} failed (finished runs "
                              f"are saved; rerun to resume): " + "; ".join(f"{k}: {v}" for k, v in failures.items()))
    return result


def load_rows(experiment, directory: Path, current: set[str], profile: str) -> ExperimentResult:
    """The saved rows of the ``current`` runs under ``directory`` and their summary; nothing runs."""
    if not (directory / "runs.jsonl").exists():
        raise FileNotFoundError(f"no results for {experiment.name}/{profile} under {directory}; run it first")
    rows = [r for r in read_runs(directory / "runs.jsonl") if r["run_id"] in current]
    return ExperimentResult(experiment.name, profile, rows, experiment.summarize(rows), directory, {})

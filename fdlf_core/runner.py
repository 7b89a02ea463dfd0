"""Resumable execution of independent training runs, and the result files they write.

An experiment (``experiments.EXPERIMENTS``) expands into run specs; this module trains or loads each one,
lets it evaluate itself, and keeps, atomically after every finished run::

    <out>/<experiment>/<profile>/runs.jsonl     one JSON row per (run, eval L)
    <out>/<experiment>/<profile>/summary.csv    the experiment's summary of the current runs' rows
    <out>/<experiment>/<profile>/manifest.json  configs, seeds, provenance, per-run wall time and status
    <out>/<experiment>/<profile>/checkpoints/   <train_id>.pt, and the data caches a run asks for

A run spec is an ``experiments.base.RunSpec``: ``run_id``, ``train_id``, the configs ``teacher`` / ``model``
/ ``train``, and ``build_model()``, ``data_source(cache_dir, progress)``, ``evaluate(data, result) -> rows``,
``describe()`` and ``label``. An experiment (``experiments.base.Experiment``) has ``name``, ``profiles``,
``summarize(rows)`` and ``summary_schema``. This module imports no experiment.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import ctypes
import dataclasses
import fcntl
import functools
import io
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import lattice
from .atomic import atomic_write
from .devices import check_device, model_device, resolve_device
from .provenance import provenance
from .training import TrainResult, fit_exact_score, load_checkpoint, save_checkpoint, train_dsm

RESULTS_FORMAT = "fdlf.results/1"


# ------------------------------------------------------------------------------------------------ runs

def load_cached(spec, checkpoint: Path) -> TrainResult:
    """The cached checkpoint of ``spec``; ``ValueError`` if it is damaged or holds another run's model."""
    result = load_checkpoint(checkpoint)
    stored = {"teacher": dataclasses.asdict(result.data_config), "model": dataclasses.asdict(result.model.config),
              "train": dataclasses.asdict(result.config)}
    if stored != {"teacher": spec.teacher, "model": spec.model, "train": spec.train}:
        raise ValueError(f"{checkpoint} holds a different run's model (its configs do not match run "
                         f"{spec.run_id}); move it away to retrain")
    return result


def train_or_load(spec, checkpoint_dir: str | os.PathLike | None, progress: bool = False,
                  device: str | torch.device = "cpu"):
    """The data source and trained model of ``spec``: ``(data, TrainResult, cached)``.

    With a ``checkpoint_dir`` the model is loaded from ``<checkpoint_dir>/<train_id>.pt`` if there (checked
    to be this run's), else trained and saved there atomically; with None it is trained and not saved.
    The model trains (or is loaded) onto ``device`` (``devices.resolve_device``); the data stay on the CPU.
    """
    device = resolve_device(device)
    checkpoint = None if checkpoint_dir is None else Path(checkpoint_dir) / f"{spec.train_id}.pt"
    data = spec.data_source(None if checkpoint is None else checkpoint.parent, progress)
    if checkpoint is not None and checkpoint.exists():
        cached = load_cached(spec, checkpoint)
        cached.model.to(device)
        return data, cached, True
    fits = {"dsm": train_dsm, "exact_score": fit_exact_score}  # looked up per call: tests patch these names
    result = fits[spec.FIT](data, spec.build_model().to(device), spec.train_config(), progress=progress)
    if checkpoint is not None:
        save_checkpoint(checkpoint, result)
    return data, result, False


def execute_run(spec, checkpoint_dir: str | os.PathLike | None, progress: bool = False,
                device: str | torch.device = "cpu") -> dict:
    """Train (or load the cached model of) one run and evaluate it: ``{"run_id", "rows", "wall_s", "cached"}``.

    The one path from a run spec to numbers: the reproduction, ``fdlf demo`` and the explorers' "train
    now" all call it. Top-level and pickleable so process pools can call it. Every row gets the run's
    identity, configs, wall times and the model's ``device`` on top of what ``spec.evaluate`` measured.
    """
    undo_fixed_malloc_trim()
    start = time.perf_counter()
    data, result, cached = train_or_load(spec, checkpoint_dir, progress, device)
    common = {"run_id": spec.run_id, "experiment": spec.experiment, "profile": spec.profile, "family": spec.family,
              "seed": spec.seed, "final_loss": float(sum(result.losses[-50:]) / len(result.losses[-50:])),
              "train_wall_s": result.wall_s, "checkpoint_cached": cached,
              # results are bit-identical only at a fixed thread count (reductions split differently)
              "torch_threads": torch.get_num_threads(), "device": str(model_device(result.model)),
              "teacher": spec.teacher,
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


def _init_worker(threads: int, parent: int) -> None:
    """Set up a pool worker: ``threads`` torch threads, and exit as soon as process ``parent`` is gone.

    Nothing tells a worker that its parent was killed (SIGKILL, a dead kernel): it would go on training and
    writing checkpoints into the results folder, then idle for ever. A daemon thread polls the parent pid
    instead; portable, unlike Linux's PR_SET_PDEATHSIG, which also fires when the *thread* that started the
    worker ends (an explorer starts runs from a background thread).
    """
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="fdlf-parent-watch", daemon=True).start()


def _exit_with_parent(parent: int, interval_s: float = 0.2) -> None:
    while os.getppid() == parent:
        time.sleep(interval_s)
    os._exit(1)  # no cleanup: the parent's results are what count, and it is gone


@functools.cache
def undo_fixed_malloc_trim() -> bool:
    """Give glibc's allocator back its heap reuse in a process started with ``MALLOC_TRIM_THRESHOLD_`` set;
    once per process (every run calls it).

    dask's nanny sets it (65536) for its workers. With any fixed trim threshold glibc stops raising its mmap
    threshold, so every tensor above 128 KiB becomes a fresh mmap, zero-filled page by page and unmapped
    when freed: the quick Fig. 1 took 2.6x as long (35 s -> 90 s). A 32 MiB mmap threshold (the most glibc's
    own adaptation would reach) puts such tensors back on the reused heap, with a trim threshold of twice
    that, as glibc's adaptation sets it. This overrides a threshold set on purpose too, and a dask worker
    then returns freed memory to the system less promptly: a run's tensors are reused every step, so the
    heap stays about one step's size. Returns whether it changed anything: False without the variable or
    off glibc.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): the variable means nothing there
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # mallopt's parameter numbers (malloc.h)
    mmap_set = libc.mallopt(m_mmap_threshold, 32 << 20)
    trim_set = libc.mallopt(m_trim_threshold, 64 << 20)
    return bool(mmap_set or trim_set)


def available_cores() -> int:
    """The cores this process may use: its affinity (a SLURM or cgroup allocation, ``taskset``), not the
    whole node's ``os.cpu_count()``, whose threads would then oversubscribe the allocation."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_job(jobs: int) -> int:
    return max(1, available_cores() // jobs)


def process_pool(jobs: int, threads: int | None = None) -> cf.ProcessPoolExecutor:
    """``jobs`` spawn-started worker processes with ``threads`` torch threads each (default: cores / jobs).

    Spawn, not fork: forking a process whose OpenMP pool is already running can deadlock the child.
    """
    jobs = lattice.check_int(jobs, "jobs", 1)
    threads = threads_per_job(jobs) if threads is None else lattice.check_int(threads, "threads", 1)
    return cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_init_worker, initargs=(threads, os.getpid()))


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
    # a row written twice counts once; a run has one row per evaluation size, per sampler for Table 5
    unique = {(r["run_id"], r["L"], r.get("sampler")): r for r in rows}
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


def read_csv(path: str | os.PathLike, schema: dict[str, type]) -> list[dict]:
    """Rows of a CSV written by ``write_csv`` whose columns are exactly ``schema``'s keys, each parsed with
    its type (``str``, ``int``, ``float``). ``ValueError`` for a file with other columns."""
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != tuple(schema):
            raise ValueError(f"{path} is not an fdlf summary with columns {tuple(schema)} (it has {reader.fieldnames})")
        return [{k: schema[k](v) for k, v in row.items()} for row in reader]


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
def exclusive(directory: Path, name: str = ".lock", holder: str = "fdlf run"):
    """One session per result directory: two writers would each rewrite runs.jsonl without the other's rows.

    ``name``: the lock file in ``directory`` (created with it); ``holder``: what the error says holds it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another {holder} is writing {directory}; wait for it or use another --out") from None
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


def adopt_checkpoints(todo: list, directory: Path) -> int:
    """Link into ``directory/checkpoints`` the checkpoint of each pending run that another experiment or
    profile under the same results root (``directory``'s grandparent) has already trained: the same
    ``train_id``, i.e. the same teacher, model and training (e.g. Fig. 2's paper runs inside the size
    sweep or the ablation), each checked by ``load_cached`` first. Returns how many were adopted.

    Checkpoints are written once and only ever replaced by a rename, never modified in place, so a hard
    link is safe; across file systems the file is copied atomically.
    """
    own, n = directory / "checkpoints", 0
    for spec in todo:
        target = own / f"{spec.train_id}.pt"
        if target.exists():
            continue
        for other in sorted(directory.parent.parent.glob(f"*/*/checkpoints/{spec.train_id}.pt")):
            try:
                load_cached(spec, other)
            except ValueError:  # damaged, or a hash collision with another run's configs: not ours
                continue
            try:
                os.link(other, target)
            except OSError:
                atomic_write(target, lambda f: f.write(other.read_bytes()))
            n += 1
            break
    return n


def run_specs(experiment, profile: str, specs: list, current: set[str], directory: Path, jobs: int = 1,
              executor: cf.Executor | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None, device: str = "cpu") -> ExperimentResult:
    """Run the pending ones of ``specs`` into ``directory`` (see ``experiments.run_experiment``); the models
    train on ``device`` (checked here, before any run starts).

    ``current``: the run ids of the whole experiment under ``profile``; manifest entries of other runs are
    marked stale and their rows kept in ``runs.jsonl`` but left out of the summary.
    """
    todo = pending(specs, directory)
    # this machine's runs: refuse a device it lacks before any run starts; another executor's workers
    # resolve the name themselves ("auto" on a GPU worker is its GPU)
    device = str(resolve_device(device)) if executor is None and todo else check_device(device)
    with exclusive(directory):
        # again under the lock: a session that held it may have finished some of them meanwhile
        done = {r["run_id"] for r in read_runs(directory / "runs.jsonl")}
        todo = [s for s in todo if s.run_id not in done]
        session = _Session(experiment, profile, directory, current, log or (lambda msg: None))
        session.start(specs, todo, jobs, executor, device)
        adopted = adopt_checkpoints(todo, directory)
        if adopted:
            session.say(f"  {adopted} of the {len(todo)} runs to do reuse a checkpoint another experiment trained "
                        f"(same train id); they are only evaluated")
        own = executor is None
        pool = (InlineExecutor() if jobs == 1 else process_pool(jobs)) if own else executor
        try:
            session.execute(todo, pool, progress, device)
        finally:
            if own:
                pool.shutdown(cancel_futures=True)
        return session.finish(len(specs))


class _Session:
    """The result files of one ``run_specs`` call, rewritten atomically after every finished run."""

    def __init__(self, experiment, profile: str, directory: Path, current: set[str], say: Callable[[str], None]):
        self.experiment, self.profile, self.directory, self.current, self.say = (experiment, profile, directory,
                                                                                 current, say)
        self.runs_path, self.manifest_path = directory / "runs.jsonl", directory / "manifest.json"
        self.rows = read_runs(self.runs_path)
        self.manifest = _read_manifest(self.manifest_path)
        self.failures: dict[str, str] = {}
        self.started = time.perf_counter()

    def start(self, specs: list, todo: list, jobs: int, executor: cf.Executor | None, device: str) -> None:
        """Record the session's settings and every pending run in the manifest.

        The top-level ``provenance``, ``jobs`` ... describe the latest session; ``sessions`` keeps every
        session's (a redraw after a code change must not hide the revision that trained the runs), and
        each run's entry its own ``git_revision`` when it was trained or evaluated.
        """
        own_threads = torch.get_num_threads() if jobs == 1 else threads_per_job(jobs)
        sessions = self.manifest.setdefault("sessions", [])
        if not sessions and "provenance" in self.manifest:  # a manifest from before sessions were kept
            sessions.append({k: self.manifest.get(k) for k in ("started", "finished", "provenance", "jobs",
                                                                "worker_threads")})
        self.manifest.update(
            format=RESULTS_FORMAT, experiment=dataclasses.asdict(self.experiment), profile=self.profile,
            budget=dataclasses.asdict(self.experiment.profiles[self.profile]), provenance=provenance(), jobs=jobs,
            executor=type(executor).__name__ if executor else ("inline" if jobs == 1 else "process_pool"),
            worker_threads=getattr(executor, "threads", None) if executor else own_threads, device=device, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        sessions.append({"started": self.manifest["started"], "finished": None, "provenance": self.manifest["provenance"],
                         "jobs": jobs, "worker_threads": self.manifest["worker_threads"], "runs_to_do": len(todo)})
        runs = self.manifest.setdefault("runs", {})
        for run_id, entry in runs.items():
            if run_id not in self.current:
                entry["status"] = "stale"  # from an older config; its rows stay in runs.jsonl, out of the summary
        for spec in todo:
            runs[spec.run_id] = {**spec.describe(), "train_id": spec.train_id, "status": "pending"}
        _write_json(self.manifest_path, self.manifest)
        self.say(f"{self.experiment.name}/{self.profile}: {len(specs)} runs, {len(specs) - len(todo)} already "
                 f"done, {len(todo)} to run")
        earlier = sorted({r["torch_threads"] for r in self.rows if r["run_id"] in self.current and "torch_threads" in r})
        threads = self.manifest["worker_threads"]
        if todo and threads is not None and any(t != threads for t in earlier):
            self.say(f"  note: the runs done so far used {', '.join(map(str, earlier))} torch thread(s) per run, this "
                     f"session uses {threads}: results are bit-identical only at one thread count (each row "
                     f"records its torch_threads)")

    def execute(self, todo: list, pool: cf.Executor, progress: bool, device: str) -> None:
        """Submit every pending run to ``pool`` (its model on ``device``) and record each as it finishes.

        A pool gets the runs seed by seed (a session stopped part-way leaves its first seeds whole) and,
        within a seed, largest ``cost`` first (ties in spec order): taken in spec order, the longest runs
        could start last and leave the other workers idle while they finish.
        """
        inline = isinstance(pool, InlineExecutor)
        checkpoints = self.directory / "checkpoints"
        if not inline:
            todo = sorted(todo, key=lambda spec: (spec.seed, -spec.cost))
        with tqdm(total=len(todo), desc=f"{self.experiment.name}/{self.profile} runs", disable=not progress) as bar:
            futures = {}
            for spec in todo:
                fut = pool.submit(execute_run, spec, checkpoints, progress and inline, device)
                futures[fut] = spec
                if inline:  # already done: record it now, so a kill loses at most the run in progress
                    self.record(fut, spec)
                    bar.update(1)
            if not inline:
                for fut in cf.as_completed(futures):
                    self.record(fut, futures[fut])
                    bar.update(1)

    def record(self, fut: cf.Future, spec) -> None:
        """Add a finished run's rows (or its failure) to the result files."""
        entry = self.manifest["runs"][spec.run_id]
        label = f"run {spec.run_id} ({spec.label})"
        try:
            out = fut.result()
        except Exception as exc:  # one failed run must not take the others down; reported at the end
            self.failures[spec.run_id] = f"{type(exc).__name__}: {exc}"
            entry.update(status="failed", error=self.failures[spec.run_id])
            self.say(f"  {label} FAILED: {self.failures[spec.run_id]}")
        else:
            self.rows.extend(out["rows"])
            _write_runs(self.runs_path, self.rows)
            entry.update(status="done", wall_s=out["wall_s"], cached_checkpoint=out["cached"],
                         train_wall_s=out["rows"][0]["train_wall_s"], torch_threads=out["rows"][0]["torch_threads"],
                         git_revision=self.manifest["provenance"]["git_revision"])
            entry.pop("error", None)
            self.say(f"  {label} done in {out['wall_s']:.1f} s")
        _write_json(self.manifest_path, self.manifest)

    def finish(self, n_specs: int) -> ExperimentResult:
        """Write the summary and the closing manifest; ``ExperimentError`` if any run failed."""
        name, runs = self.experiment.name, self.manifest["runs"]
        mine = [r for r in self.rows if r["run_id"] in self.current]
        summary = self.experiment.summarize(mine)
        write_csv(self.directory / "summary.csv", summary, self.experiment.summary_schema)
        self.manifest["sessions"][-1]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.manifest.update(finished=self.manifest["sessions"][-1]["finished"],
                             session_wall_s=time.perf_counter() - self.started,
                             total_run_wall_s=sum(runs[i].get("wall_s", 0.0) for i in self.current if i in runs),
                             rows_from_other_configs=len(self.rows) - len(mine))
        _write_json(self.manifest_path, self.manifest)
        if self.failures:
            raise ExperimentError(f"{len(self.failures)} of {n_specs} runs of {name}/{self.profile} failed (finished "
                                  f"runs are saved; rerun to resume): "
                                  + "; ".join(f"{k}: {v}" for k, v in self.failures.items()))
        return ExperimentResult(name, self.profile, mine, summary, self.directory, {})


def load_rows(experiment, directory: Path, current: set[str], profile: str) -> ExperimentResult:
    """The saved rows of the ``current`` runs under ``directory`` and their summary; nothing runs."""
    if not (directory / "runs.jsonl").exists():
        raise FileNotFoundError(f"no results for {experiment.name}/{profile} under {directory}; run it first")
    rows = [r for r in read_runs(directory / "runs.jsonl") if r["run_id"] in current]
    return ExperimentResult(experiment.name, profile, rows, experiment.summarize(rows), directory, {})

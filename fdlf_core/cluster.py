"""Runs on a dask.distributed cluster: the executor ``fdlf reproduce --executor dask`` hands the runner.

The runner keeps its result store (``runs.jsonl``, ``manifest.json``, ``checkpoints/``) on the submitting
machine and records each run as it finishes, whatever executes it. ``DaskExecutor`` runs
``runner.execute_run`` on the cluster's workers without assuming they see this machine's files: a cached
checkpoint travels with the task, a newly trained one comes back with the result and is written here
atomically. So a cluster needs only ``fdlf`` installed on its workers, not a shared file system (data
caches such as Fig. 4's Ising samples are then rebuilt on the worker for each run: the same numbers, more
time).

A worker that dies mid-run (killed, out of memory) loses only that run: dask reschedules the task on
another worker (up to its ``distributed.scheduler.allowed-failures``), and if it keeps failing the runner
records the run as failed and a later ``fdlf reproduce`` resumes it. Nothing is written for a run until
its result is back.

dask is an optional dependency (``pip install -e '.[dask]'``); importing this module does not import it.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from . import lattice
from .atomic import atomic_write


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("the dask executor needs dask.distributed: pip install -e '.[dask]'") from None
    return distributed


# One run at a time per worker process: model initialisation seeds torch's process-global RNG and
# torch.set_num_threads is process-wide, so two runs in the threads of one worker (a `dask worker` with
# several threads, a SLURMCluster job with cores > 1) could swap seeds or thread counts without an error.
_ONE_RUN_PER_PROCESS = threading.Lock()


def _execute_remote(spec, checkpoint: bytes | None, threads: int | None, device: str = "cpu") -> dict:
    """``runner.execute_run`` on a worker, in a private directory: ``checkpoint`` (the cached one, or None
    to train) is put there first; the result carries ``"checkpoint"``: the trained checkpoint's bytes (None
    if it was given). ``threads``: torch threads for the run (None: the cores this worker process may use;
    its runs take turns)."""
    from .runner import available_cores, execute_run

    with _ONE_RUN_PER_PROCESS:
        torch.set_num_threads(threads or available_cores())
        with tempfile.TemporaryDirectory(prefix="fdlf-run-") as tmp:
            path = Path(tmp) / f"{spec.train_id}.pt"
            if checkpoint is not None:
                path.write_bytes(checkpoint)
            out = execute_run(spec, tmp, device=device)
            out["checkpoint"] = None if checkpoint is not None else path.read_bytes()
    return out


class DaskExecutor(cf.Executor):
    """Runs ``runner.execute_run(spec, checkpoint_dir, progress, device)`` calls on a dask ``Client``'s workers
    (``device`` is resolved on the worker: ``"auto"`` takes the worker's GPU if it has one).

    ``submit`` returns a ``concurrent.futures.Future`` of ``execute_run``'s dict; when it resolves, a newly
    trained checkpoint is already in ``checkpoint_dir`` (written atomically). ``threads``: torch threads per
    run (None: the cores each worker process may use; a process's runs take turns). Other callables are refused: this executor exists
    to move runs and their checkpoints, not arbitrary work.
    """

    def __init__(self, client, threads: int | None = None):
        self.client, self.threads = client, threads
        self._pool = client.get_executor(pure=False)
        self._writer = cf.ThreadPoolExecutor(1, thread_name_prefix="fdlf-checkpoint-writer")
        self._running: weakref.WeakSet = weakref.WeakSet()

    def submit(self, fn, /, spec, checkpoint_dir, progress: bool = False, device: str = "cpu") -> cf.Future:
        from .runner import execute_run

        if fn is not execute_run:
            raise TypeError(f"DaskExecutor runs runner.execute_run only; got {getattr(fn, '__name__', fn)!r}")
        path = None if checkpoint_dir is None else Path(checkpoint_dir) / f"{spec.train_id}.pt"
        cached = path.read_bytes() if path is not None and path.exists() else None
        inner = self._pool.submit(_execute_remote, spec, cached, self.threads, device)
        self._running.add(inner)
        outer: cf.Future = cf.Future()
        outer.add_done_callback(lambda f: f.cancelled() and inner.cancel())  # the runner gave up on it

        def store(out: dict) -> dict:  # on the writer thread: not on dask's event loop, which runs `deliver`
            trained = out.pop("checkpoint")
            if trained is not None and path is not None:
                atomic_write(path, lambda f: f.write(trained))
            return out

        def deliver(done: cf.Future) -> None:
            if outer.cancelled() or done.cancelled():
                outer.cancel()
                return
            exc = done.exception()
            if exc is not None:  # the run's failure, delivered like a pool's
                outer.set_exception(exc)
                return
            self._writer.submit(store, done.result()).add_done_callback(settle)

        def settle(written: cf.Future) -> None:
            if outer.cancelled():
                return
            if written.exception() is not None:  # the checkpoint could not be written here
                outer.set_exception(written.exception())
            else:
                outer.set_result(written.result())
        inner.add_done_callback(deliver)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for fut in list(self._running):
                fut.cancel()  # cancels the dask task too (ClientExecutor forwards it)
        self._pool.shutdown(wait=wait)
        self._writer.shutdown(wait=wait)


@contextlib.contextmanager
def dask_executor(scheduler: str | None = None, jobs: int = 1,
                  log: Callable[[str], None] | None = None) -> Iterator[DaskExecutor]:
    """A ``DaskExecutor`` on the cluster at ``scheduler`` (e.g. ``"tcp://10.0.0.5:8786"``), or with None on a
    new ``LocalCluster`` of ``jobs`` worker processes (one task slot and cores / ``jobs`` torch threads
    each, as ``runner.process_pool``), closed on exit. Says the cluster's size and dashboard link."""
    distributed = _import_distributed()
    say = log or (lambda msg: None)
    jobs = lattice.check_int(jobs, "jobs", 1)
    # a Nanny writes dask's worker settings (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS=1, PYTHONHASHSEED) into
    # this process's environment before it spawns a worker, and a local scheduler its address, and neither
    # takes them back: every subprocess started here afterwards (a process pool, a notebook's kernel) would
    # inherit them. Those variables, and only those, are put back as they were.
    import dask.config

    before = dict(os.environ)
    try:
        with _client(distributed, scheduler, jobs) as (client, threads, local):
            workers = client.scheduler_info()["workers"]
            say(f"dask: {'a local cluster' if local else scheduler} with {len(workers)} worker(s), "
                f"{sum(w['nthreads'] for w in workers.values())} task slot(s); dashboard {client.dashboard_link}")
            executor = DaskExecutor(client, threads)
            try:
                yield executor
            finally:
                executor.shutdown(wait=True, cancel_futures=True)
    finally:
        dasks = set(dask.config.get("distributed.nanny.pre-spawn-environ")) | {"PYTHONHASHSEED"}
        for name in dasks | {name for name in os.environ if "DASK" in name}:
            if name not in before:
                os.environ.pop(name, None)
            elif os.environ.get(name) != before[name]:
                os.environ[name] = before[name]


@contextlib.contextmanager
def _client(distributed, scheduler: str | None, jobs: int):
    """``(client, torch threads per run, whether the cluster is local)``; closes what it started."""
    if scheduler is None:
        from .runner import threads_per_job

        with distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
            yield client, threads_per_job(jobs), True
        return
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ValueError(f"scheduler must be a dask scheduler address such as 'tcp://host:8786'; got {scheduler!r}")
    try:
        client = distributed.Client(scheduler, timeout="10s")
    except OSError as exc:
        raise ValueError(f"scheduler {scheduler!r} could not be reached ({exc}); start one with "
                         f"`dask scheduler` or give the address it prints") from None
    with client:
        yield client, None, False

"""Sweeps: run the missing (cell, seed) pairs of an experiment on a backend.

Backends:

* ``local`` (default): a pool of ``jobs`` spawned worker processes (pebble),
  each with ``cores // jobs`` numba threads so workers x threads = cores. The
  per-run time limit is hard: a run past it has its worker killed and
  replaced, and is recorded as a failure.
* ``dask``: ``dask.distributed`` on a ``LocalCluster`` of ``jobs`` single-threaded
  worker processes, or on a running scheduler at ``address``. The time limit
  is soft there (a worker cannot kill its own task): the run is recorded as
  failed when the limit passes and its result, if it ever finishes, is dropped.
* ``inline``: one run after another in the calling process, for notebooks and
  debugging: the experiment object itself is run, so one defined in a
  notebook needs no experiment file (nor ``register``), and a breakpoint in a
  run function is reached. With a time limit each run goes to a helper thread
  and the limit is soft, as under Dask: a run past it is recorded as failed
  and abandoned, but keeps its thread (and the CPU) until it ends.

Workers receive only names and numbers (experiment name, parameters, seed,
store root) and write their results to the store themselves, atomically.
The integer handed to the run function comes from a ``numpy.random.SeedSequence``
keyed by the cell and the seed index, so results are bitwise identical on any
backend and any number of workers.

That also needs every run's numbers to be independent of the threads it gets,
which differ between setups: a local worker has ``cores // jobs`` numba threads
and, unless told otherwise, a BLAS pool as wide as the machine; a Dask worker
is single-threaded (and Dask starts its workers with ``OPENBLAS_NUM_THREADS=1``);
``mdplab run`` runs in the calling process with all its threads. Numba's
kernels write one output per loop index (no reductions across ``prange``
iterations), so their results do not depend on the thread count. BLAS/LAPACK
calls do: a multi-threaded OpenBLAS LU factorisation (``np.linalg.solve``, as in
policy iteration's policy evaluation, from ~100 states on) orders its updates
differently and changes the last bits. :func:`run_once` therefore runs every
run with BLAS pinned to one thread (``threadpoolctl``), so a sweep on any
backend, with any ``jobs``, and ``mdplab run`` all store the results of a plain
single-threaded call. BLAS libraries are limited when the run starts; one that
a run loads for the first time mid-run is not (numpy's and scipy's are loaded
beforehand).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from dataclasses import dataclass, field

import numpy as np

from mdplab.lab.errors import LabError
from mdplab.lab.registry import Experiment, get_experiment
from mdplab.lab.store import ResultStore, cell_key

BACKENDS = ("local", "dask", "inline")


def derive_seed(experiment: Experiment, params: dict, seed: int) -> int:
    """The run's integer seed: SeedSequence(cell key, spawn_key=(seed,)) -> 63 bits."""
    key = int(cell_key(experiment.name, experiment.version, params), 16)
    ss = np.random.SeedSequence(entropy=key, spawn_key=(seed,))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Task:
    experiment: str
    params: dict
    seed: int
    root: str
    soft_timeout: float | None = None
    threads: int | None = None


@dataclass
class SweepReport:
    """What a sweep did: counts, and one entry per failed run."""

    experiment: str
    total: int
    skipped: int
    done: int = 0
    failed: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def run_once(experiment: Experiment, params: dict, seed: int):
    """Call the run function for one (cell, seed) and return its rows as a DataFrame.

    The run sees single-threaded BLAS/LAPACK (see the module docstring), so its
    numbers are the same whatever process or worker calls it.
    """
    import pandas as pd

    with single_threaded_blas():
        rows = experiment.run(dict(params), derive_seed(experiment, params, seed))
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def single_threaded_blas():
    """Context manager: every loaded BLAS/LAPACK library runs on one thread inside it."""
    import scipy.linalg  # noqa: F401  (load scipy's BLAS too, so that it is limited)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def execute(task: Task, experiment: Experiment | None = None) -> dict:
    """Worker entry point: run one task and store its rows or its failure.

    Workers look the experiment up by name; the inline backend passes the
    object itself (it may be registered nowhere)."""
    exp = experiment if experiment is not None else get_experiment(task.experiment)
    store = ResultStore(task.root)
    outcome: dict = {}
    # Under a soft limit the run and the timeout race to write; whoever takes
    # the lock first decides, and the other side writes nothing.
    decided = threading.Lock()
    cancelled = threading.Event()

    def work():
        if task.threads is not None:  # numba's thread count is per calling thread
            _init_worker(task.threads)
        t0 = time.perf_counter()
        try:
            df = run_once(exp, task.params, task.seed)
            with decided:
                if cancelled.is_set():
                    return
                store.write_rows(exp.name, exp.version, task.params, task.seed, df,
                                 meta={"elapsed_s": time.perf_counter() - t0,
                                       "run_seed": derive_seed(exp, task.params, task.seed)})
                outcome["status"] = "ok"
        except Exception as exc:
            tb = traceback.format_exc()
            with decided:
                if cancelled.is_set():
                    return
                store.write_failure(exp.name, exp.version, task.params, task.seed,
                                    f"{type(exc).__name__}: {exc}", tb)
                outcome.update(status="failed", error=f"{type(exc).__name__}: {exc}")

    if task.soft_timeout is None:
        work()
        return outcome
    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(task.soft_timeout)
    with decided:
        if "status" in outcome:
            return outcome
        cancelled.set()
    msg = f"TimeoutError: run exceeded the {task.soft_timeout:g} s limit"
    store.write_failure(exp.name, exp.version, task.params, task.seed, msg,
                        msg + " (soft limit under dask; the run was abandoned)")
    return {"status": "failed", "error": msg}


def _init_worker(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def plan_tasks(experiment: Experiment, cells: list[dict], seeds: list[int],
               store: ResultStore) -> tuple[list[Task], int]:
    """Tasks for every (cell, seed) not yet stored, and how many were skipped."""
    tasks, skipped = [], 0
    for params in cells:
        for seed in seeds:
            if store.has(experiment.name, experiment.version, params, seed):
                skipped += 1
            else:
                tasks.append(Task(experiment.name, params, seed, str(store.root)))
    return tasks, skipped


def sweep(
    experiment: Experiment,
    cells: list[dict],
    seeds: list[int],
    *,
    store: ResultStore | None = None,
    backend: str = "local",
    jobs: int | None = None,
    address: str | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> SweepReport:
    """Run every missing (cell, seed) of ``experiment``; see the module docstring."""
    if backend not in BACKENDS:
        raise LabError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if jobs is not None and jobs < 1:
        raise LabError(f"--jobs must be >= 1; got {jobs}")
    if timeout is not None and not timeout > 0:
        raise LabError(f"--timeout must be > 0 seconds; got {timeout}")
    experiment.check_cells(cells)
    store = store or ResultStore()
    store.clean_temporaries(experiment.name)
    tasks, skipped = plan_tasks(experiment, cells, seeds, store)
    report = SweepReport(experiment.name, len(cells) * len(seeds), skipped)
    if not tasks:
        return report
    cores = os.cpu_count() or 1
    jobs = min(jobs or cores, len(tasks))
    threads = max(1, cores // jobs)
    bar = _progress(len(tasks), experiment.name, progress)

    def record(task: Task, status: dict):
        if status.get("status") == "ok":
            report.done += 1
        else:
            report.failed.append((task.params, task.seed, status.get("error", "unknown error")))
        bar.update(1)
        bar.set_postfix(done=report.done, failed=len(report.failed),
                        remaining=len(tasks) - report.done - len(report.failed))

    try:
        if backend == "inline":
            for task in tasks:
                soft = Task(task.experiment, task.params, task.seed, task.root, timeout)
                record(task, execute(soft, experiment))
        elif backend == "local":
            _run_local(tasks, jobs, threads, timeout, store, experiment, record)
        else:
            _run_dask(tasks, jobs, threads, timeout, address, store, experiment, record)
    finally:
        bar.close()
    return report


def _progress(total: int, name: str, enabled: bool):
    if enabled:
        from tqdm.auto import tqdm
    else:  # tqdm.auto would warn in notebooks without ipywidgets, for nothing
        from tqdm.std import tqdm

    return tqdm(total=total, desc=name, unit="run", disable=not enabled, dynamic_ncols=True)


def _run_local(tasks, jobs, threads, timeout, store, experiment, record):
    import multiprocessing

    from pebble import ProcessExpired, ProcessPool

    ctx = multiprocessing.get_context("spawn")
    with ProcessPool(max_workers=jobs, context=ctx, initializer=_init_worker,
                     initargs=(threads,)) as pool:
        futures = {pool.schedule(execute, args=(t,), timeout=timeout): t for t in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                status = fut.result()
            except FutureTimeout:
                msg = f"TimeoutError: run exceeded the {timeout:g} s limit (worker killed)"
                status = {"status": "failed", "error": msg}
            except ProcessExpired as exc:
                msg = f"WorkerDied: the worker process ended with exit code {exc.exitcode}"
                status = {"status": "failed", "error": msg}
            except Exception as exc:  # an error outside the run (e.g. unpicklable result)
                status = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            else:
                record(task, status)  # execute() stored the rows or the failure itself
                continue
            # The worker could not record this failure: write it here (replacing
            # any record an earlier sweep left for the same run).
            store.write_failure(experiment.name, experiment.version, task.params, task.seed,
                                status["error"], status["error"])
            record(task, status)


def _run_dask(tasks, jobs, threads, timeout, address, store, experiment, record):
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise LabError("the dask backend needs dask.distributed: pip install 'dask[distributed]'") \
            from None
    cluster = None
    if address:
        client = Client(address, timeout="30s")
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        soft = [Task(t.experiment, t.params, t.seed, t.root, timeout, threads) for t in tasks]
        futures = client.map(execute, soft, pure=False)
        index = {f.key: t for f, t in zip(futures, soft, strict=True)}
        for fut in dask_completed(futures):
            task = index[fut.key]
            try:
                status = fut.result()
            except Exception as exc:  # the worker died or the task never ran
                status = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                store.write_failure(experiment.name, experiment.version, task.params,
                                    task.seed, status["error"], status["error"])
            record(task, status)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

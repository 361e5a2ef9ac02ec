"""Lab benchmarks: what a sweep costs beyond its runs, and how it scales, in one run.

    python benchmarks/lab.py --json bench_lab.json

Two throwaway experiments are written to a temporary folder and registered
through ``MDPLAB_EXPERIMENTS`` (spawned pool workers and Dask workers inherit
the variable, so they find them by name like any other experiment):

* ``bench-noop``: returns one row at once (measures pure sweep overhead);
* ``bench-cpu``: burns ``work`` iterations of a single-threaded pure-Python loop,
  calibrated here to ``--cpu-seconds`` per run (CPU-bound scaling).

Every timing sweeps into a fresh temporary results folder (nothing is skipped)
and is the minimum over ``--repeats`` tries; the tries of the scaling timings
are interleaved so that a burst of outside load hits them all alike. Wall
times include starting the worker pool / Dask cluster, as a user sees them;
the ``*_startup_s`` keys time the same sweep of trivial cells (one per worker)
and the ``*_excl_startup`` ratios subtract them.

Keys:

* ``overhead_per_cell_s``: ``(sweep wall - sum of run times) / cells`` for
  ``--noop-cells`` no-op cells at ``jobs=1``, the run times measured in-process;
  ``overhead_ratio`` is ``sweep wall / sum of run times``. For context:
  ``marginal_overhead_per_cell_s`` (the slope of wall time in the number of
  cells, i.e. without pool start-up), ``pool_startup_s`` (a 1-cell sweep) and
  ``execute_in_process_per_cell_s`` (run + store write of one task, no pool).
* ``two_worker_speedup``: wall(jobs=1) / wall(jobs=2) on ``--cpu-cells`` CPU-bound
  cells of ``--cpu-seconds`` each (goal >= 1.8; needs 2 idle cores). Controls:
  ``raw_two_process_speedup`` (the same loop on a bare, warm 1- vs 2-process
  pool: what the cores can give right now, about 2 when idle),
  ``two_worker_speedup_vs_raw`` (their quotient) and ``local_jobs{1,2}_mean_run_s``
  (a run's time inside the workers, from the store's metadata; it grows when
  other processes share the cores).
* ``dask_vs_local_ratio``: wall(backend="dask", jobs=2) / wall(local, jobs=2) on
  the same cells (a ``LocalCluster`` is started and stopped inside the timing).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from timing import emit

EXPERIMENT_FILE = textwrap.dedent('''
    """Throwaway experiments of benchmarks/lab.py."""

    from mdplab.lab import Experiment, Param


    def noop(params, seed):
        return [{"value": float(params["k"])}]


    def burn(params, seed):
        acc = 0
        for i in range(params["work"]):
            acc = (acc + i * i) % 1_000_003
        return [{"acc": acc}]


    EXPERIMENTS = [
        Experiment(name="bench-noop", description="returns one row at once",
                   params=(Param("k", "int", 0, low=0),), run=noop, seeds=1),
        Experiment(name="bench-cpu", description="single-threaded pure-Python CPU burn",
                   params=(Param("k", "int", 0, low=0), Param("work", "int", 1, low=1)),
                   run=burn, seeds=1),
    ]
''')


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Bench:
    """Timings in fresh temporary stores; each quantity keeps its minimum over tries."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.best: dict[str, float] = {}
        self.run_at_best: dict[str, float] = {}
        self._n = 0

    def fresh_root(self) -> Path:
        self._n += 1
        root = self.scratch / f"results-{self._n}"
        root.mkdir()
        return root

    def keep(self, key: str, value: float) -> bool:
        if value < self.best.get(key, float("inf")):
            self.best[key] = value
            return True
        return False

    def sweep(self, key: str, exp, cells, **kw) -> None:
        """Time one sweep of ``cells`` (seed 0) into a fresh store; also record the
        mean time of a run inside the workers (from the stored run metadata)."""
        from mdplab.lab import ResultStore, sweep

        store = ResultStore(self.fresh_root())
        t = time.perf_counter()
        report = sweep(exp, cells, [0], store=store, progress=False, **kw)
        wall = time.perf_counter() - t
        if not report.ok or report.done != len(cells):
            raise RuntimeError(f"benchmark sweep of {exp.name} failed: {report.failed[:3]}")
        if self.keep(key, wall):
            runs = [store.run_meta(store.run_path(exp.name, exp.version, c, 0))["elapsed_s"]
                    for c in cells]
            self.run_at_best[key] = sum(runs) / len(runs)
        shutil.rmtree(store.root)


def overhead_case(bench: Bench, n_cells: int, repeats: int) -> dict:
    from mdplab.lab import get_experiment, run_once
    from mdplab.lab.runner import Task, execute

    exp = get_experiment("bench-noop")
    cells = exp.cells({"k": list(range(n_cells))})
    run_once(exp, cells[0], 0)  # warm-up (imports, pandas)
    execute(Task(exp.name, cells[0], 0, str(bench.fresh_root())))
    for _ in range(repeats):
        t = time.perf_counter()
        for c in cells:
            run_once(exp, c, 0)
        bench.keep("noop_run_sum", time.perf_counter() - t)
        root = bench.fresh_root()
        t = time.perf_counter()
        for c in cells:
            out = execute(Task(exp.name, c, 0, str(root)))
            assert out.get("status") == "ok", out
        bench.keep("noop_execute_sum", time.perf_counter() - t)
        shutil.rmtree(root)
        bench.sweep("noop_n", exp, cells, jobs=1)
        bench.sweep("noop_1", exp, cells[:1], jobs=1)
    b = bench.best
    return {
        "noop_cells": n_cells,
        "overhead_per_cell_s": (b["noop_n"] - b["noop_run_sum"]) / n_cells,
        "overhead_ratio": b["noop_n"] / b["noop_run_sum"],
        "marginal_overhead_per_cell_s": (b["noop_n"] - b["noop_1"]) / (n_cells - 1),
        "pool_startup_s": b["noop_1"],
        "noop_sweep_wall_s": b["noop_n"],
        "noop_run_sum_s": b["noop_run_sum"],
        "noop_run_per_cell_s": b["noop_run_sum"] / n_cells,
        "execute_in_process_per_cell_s": b["noop_execute_sum"] / n_cells,
    }


def calibrate(target_s: float) -> tuple[int, float]:
    """Iterations of the burn loop that take about ``target_s`` here; and the time taken."""
    work = 200_000
    while True:
        t = time.perf_counter()
        _burn(work)
        dt = time.perf_counter() - t
        if dt > 0.1:
            break
        work *= 4
    work = max(1, int(work * target_s / dt))
    t = time.perf_counter()
    _burn(work)
    return work, time.perf_counter() - t


def _burn(work: int) -> int:
    """The same loop as bench-cpu, for calibration and the bare-pool control."""
    acc = 0
    for i in range(work):
        acc = (acc + i * i) % 1_000_003
    return acc


def raw_pool_times(work: int, n_tasks: int) -> tuple[float, float]:
    """Control: ``n_tasks`` loops on 1 and on 2 warm spawned processes (no lab, no
    start-up). The ratio is about 2 on two idle cores; less means other load."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    walls = []
    for jobs in (1, 2):
        with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            list(pool.map(_burn, [1000] * jobs))  # start the workers
            t = time.perf_counter()
            list(pool.map(_burn, [work] * n_tasks))
            walls.append(time.perf_counter() - t)
    return walls[0], walls[1]


def scaling_case(bench: Bench, n_cells: int, cpu_seconds: float, with_dask: bool,
                 repeats: int) -> dict:
    from mdplab.lab import get_experiment

    exp = get_experiment("bench-cpu")
    noop = get_experiment("bench-noop")
    work, one_run = calibrate(cpu_seconds)
    cells = exp.cells({"k": list(range(n_cells)), "work": [work]})
    noop2 = noop.cells({"k": [0, 1]})
    for _ in range(repeats):  # interleaved, so a burst of outside load hits all alike
        bench.sweep("start_local1", noop, noop2[:1], jobs=1)
        bench.sweep("start_local2", noop, noop2, jobs=2)
        bench.sweep("local1", exp, cells, jobs=1)
        bench.sweep("local2", exp, cells, jobs=2)
        if with_dask:
            bench.sweep("start_dask2", noop, noop2, backend="dask", jobs=2)
            bench.sweep("dask2", exp, cells, backend="dask", jobs=2)
        raw1, raw2 = raw_pool_times(work, 4)
        bench.keep("raw1", raw1)
        bench.keep("raw2", raw2)
    b, r = bench.best, bench.run_at_best
    speedup = b["local1"] / b["local2"]
    raw = b["raw1"] / b["raw2"]
    out = {
        "cpu_cells": n_cells,
        "cpu_run_s": one_run,
        "cpu_work_iterations": work,
        "two_worker_speedup": speedup,
        "two_worker_speedup_excl_startup": (b["local1"] - b["start_local1"])
        / (b["local2"] - b["start_local2"]),
        "raw_two_process_speedup": raw,
        "two_worker_speedup_vs_raw": speedup / raw,
        "local_jobs1_wall_s": b["local1"],
        "local_jobs2_wall_s": b["local2"],
        "local_jobs1_startup_s": b["start_local1"],
        "local_jobs2_startup_s": b["start_local2"],
        "local_jobs1_mean_run_s": r["local1"],
        "local_jobs2_mean_run_s": r["local2"],
    }
    if with_dask:
        out.update({
            "dask_vs_local_ratio": b["dask2"] / b["local2"],
            "dask_vs_local_ratio_excl_startup": (b["dask2"] - b["start_dask2"])
            / (b["local2"] - b["start_local2"]),
            "dask_jobs2_wall_s": b["dask2"],
            "dask_jobs2_startup_s": b["start_dask2"],
            "dask_jobs2_mean_run_s": r["dask2"],
        })
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--repeats", type=int, default=2, help="tries per timing (min is kept)")
    ap.add_argument("--noop-cells", type=int, default=40)
    ap.add_argument("--cpu-cells", type=int, default=12)
    ap.add_argument("--cpu-seconds", type=float, default=1.0, help="CPU time of one run")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask comparison")
    args = ap.parse_args(argv)
    if args.noop_cells < 2 or args.cpu_cells < 2 or args.repeats < 1:
        ap.error("--noop-cells and --cpu-cells must be >= 2, --repeats >= 1")

    scratch = Path(tempfile.mkdtemp(prefix="mdplab-bench-lab-"))
    try:
        exp_dir = scratch / "experiments"
        exp_dir.mkdir()
        (exp_dir / "bench_experiments.py").write_text(EXPERIMENT_FILE)
        extra = os.environ.get("MDPLAB_EXPERIMENTS", "")
        os.environ["MDPLAB_EXPERIMENTS"] = os.pathsep.join(p for p in (str(exp_dir), extra) if p)

        import mdplab

        bench = Bench(scratch)
        out = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "mdplab": mdplab.__version__,
            "cpu_count": os.cpu_count(),
            "usable_cpus": _cpus(),
            "load_avg_1min_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "repeats": args.repeats,
        }
        t0 = time.perf_counter()
        out.update(overhead_case(bench, args.noop_cells, args.repeats))
        out.update(scaling_case(bench, args.cpu_cells, args.cpu_seconds, not args.no_dask,
                                args.repeats))
        out["benchmark_wall_s"] = time.perf_counter() - t0
        if hasattr(os, "getloadavg"):
            out["load_avg_1min_at_end"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    return emit(out, args.json)


if __name__ == "__main__":
    main(sys.argv[1:])

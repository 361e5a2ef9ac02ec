"""Results do not depend on the backend, the worker count or the threads a run gets.

The runner gives each run a different number of threads depending on the setup
(local workers: ``cores // jobs`` numba threads and a machine-wide BLAS pool;
Dask workers: one thread; ``mdplab run``: the calling process). Every stored
value must still be bitwise the same. garnet-vi at 100 states is the probe:
below ~100 states OpenBLAS runs its LU single-threaded anyway, so the quick
preset (30 states) would not notice a thread-dependent solve.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np
import pyarrow.parquet as pq
import pytest
from threadpoolctl import threadpool_limits

from mdplab import envs
from mdplab.lab import ResultStore, get_experiment, sweep
from mdplab.lab.runner import run_once
from mdplab.planning import policy_iteration, value_iteration

GRID = {"n_states": [100], "gamma": [0.5, 0.9], "eps": [1e-2, 1e-6]}
SEEDS = [0, 1]
SETUPS = {
    "local-1": dict(backend="local", jobs=1),
    "local-2": dict(backend="local", jobs=2),
    "dask-1": dict(backend="dask", jobs=1),
    "dask-2": dict(backend="dask", jobs=2),
    "inline": dict(backend="inline"),
}
TIMING = ("elapsed", "time_s", "wall_s", "seconds")


def is_timing(column: str) -> bool:
    return any(t in column for t in TIMING) or column.endswith("_time")


def raw(values: np.ndarray):
    """The exact stored content of a column: raw bytes for numbers, the values otherwise."""
    if values.dtype == object:
        return values.tolist()
    return values.dtype.str, values.tobytes()


def stored_values(root: Path) -> dict:
    """``{relative parquet path: {column: raw values}}`` for every stored run."""
    out = {}
    for f in sorted(root.rglob("seed-*.parquet")):
        df = pq.read_table(f).to_pandas()
        out[str(f.relative_to(root))] = {
            c: raw(df[c].to_numpy()) for c in df.columns if not is_timing(c)
        }
    return out


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    exp = get_experiment("garnet-vi")
    cells = exp.cells(GRID)
    results = {}
    for name, kw in SETUPS.items():
        root = tmp_path_factory.mktemp(name)
        rep = sweep(exp, cells, SEEDS, store=ResultStore(root), progress=False,
                    timeout=120 if kw["backend"] == "dask" else None, **kw)
        assert rep.ok and rep.done == len(cells) * len(SEEDS), rep.failed
        results[name] = stored_values(root)
    return exp, cells, results


def test_backends_and_worker_counts_store_identical_bytes(swept):
    _, cells, results = swept
    ref = results["local-1"]
    assert len(ref) == len(cells) * len(SEEDS)
    columns = next(iter(ref.values())).keys()
    assert {"true_error", "certified_error", "iterations"} <= set(columns)
    for name, got in results.items():
        assert got.keys() == ref.keys(), name
        for path, cols in ref.items():
            assert got[path].keys() == cols.keys(), (name, path)
            for c, v in cols.items():
                assert got[path][c] == v, f"{name}: column {c!r} of {path} differs from local-1"


def test_run_once_in_process_matches_the_sweeps(swept):
    """``mdplab run`` calls run_once in its own process, whatever BLAS threads it has."""
    exp, cells, results = swept
    store = ResultStore("unused")
    ref = results["dask-1"]  # single-threaded workers
    with threadpool_limits(limits=os.cpu_count() or 1, user_api="blas"):
        for params in cells:
            for seed in SEEDS:
                df = run_once(exp, params, seed)
                path = store.run_path(exp.name, exp.version, params, seed)
                stored = ref[str(path.relative_to(store.root))]
                for c in df.columns:
                    if not is_timing(c):
                        assert raw(df[c].to_numpy()) == stored[c], (params, seed, c)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
@pytest.mark.parametrize("sparse", [False, True])
def test_numba_thread_count_does_not_change_planning(sparse):
    mdp = envs.garnet(100, 4, 5, sparse=sparse, seed=7, gamma=0.95)
    before = numba.get_num_threads()
    out = {}
    try:
        for n in (1, 2):
            numba.set_num_threads(n)
            with threadpool_limits(limits=1, user_api="blas"):
                pi = policy_iteration(mdp)
            vi = value_iteration(mdp, eps=1e-8, stopping_rule="supnorm")
            vb = value_iteration(mdp, eps=1e-8)
            out[n] = [a.tobytes() for r in (pi, vi, vb) for a in (r.values, r.q, r.policy)]
            out[n] += [np.float64(r.error_bound).tobytes() for r in (pi, vi, vb)]
    finally:
        numba.set_num_threads(before)
    assert out[1] == out[2]


def test_inline_backend_runs_an_unregistered_experiment(tmp_path):
    from mdplab.lab import Experiment, Param

    exp = Experiment(name="inline-only", description="never registered",
                     params=(Param("x", "int", 2, "x"),),
                     run=lambda params, seed: [{"y": params["x"] * 2, "seed_bits": seed % 7}])
    store = ResultStore(tmp_path)
    rep = sweep(exp, exp.cells({"x": [1, 3]}), [0, 1], store=store, backend="inline",
                progress=False)
    assert rep.ok and rep.done == 4
    df = store.load("inline-only", exp.version, exp.cells({"x": [1, 3]}))
    assert sorted(df["y"]) == [2, 2, 6, 6]

"""The lab end to end: CLI, resumable store, failures, backends, statistics, plots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mdplab.lab import (
    LabError,
    ResultStore,
    derive_seed,
    get_experiment,
    loglog_slope,
    mean_ci,
    sweep,
)
from mdplab.lab.params import Param, parse_seeds

FIXTURES = Path(__file__).parent / "lab_fixtures"


@pytest.fixture(autouse=True)
def fixture_experiments(monkeypatch):
    monkeypatch.setenv("MDPLAB_EXPERIMENTS", str(FIXTURES))


def run_cli(*args, timeout=300):
    env = dict(os.environ, MDPLAB_EXPERIMENTS=str(FIXTURES))
    return subprocess.run([sys.executable, "-m", "mdplab.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def sorted_frame(df: pd.DataFrame) -> pd.DataFrame:
    cols = sorted(df.columns)
    return df[cols].sort_values(cols).reset_index(drop=True)


# ---------------------------------------------------------------- CLI: garnet-vi
def test_garnet_vi_quick_end_to_end(tmp_path):
    res = str(tmp_path / "res")
    r = run_cli("sweep", "garnet-vi", "--quick", "--results", res, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "16 done, 0 failed" in r.stdout
    st = run_cli("status", "garnet-vi", "--quick", "--results", res)
    assert "16 done, 0 failed, 0 missing" in st.stdout
    again = run_cli("sweep", "garnet-vi", "--quick", "--results", res, "--no-progress")
    assert "16 already stored, 0 done" in again.stdout
    out = tmp_path / "fig"
    p = run_cli("plot", "garnet-vi", "--quick", "--results", res, "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "log-log slope" in p.stdout
    for stem in ("fig-garnet-vi-iterations-vs-horizon", "fig-garnet-vi-bounds-vs-supnorm"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
    df = ResultStore(res).load("garnet-vi", get_experiment("garnet-vi").version)
    assert len(df) == 16 * 2
    # Every run's certificate held.
    assert (df["true_error"] <= df["certified_error"] + 1e-12).all()
    assert (df["certified_error"] <= df["eps"]).all()


def test_run_prints_one_cell():
    r = run_cli("run", "garnet-vi", "n_states=20", "gamma=0.5", "seed=1")
    assert r.returncode == 0, r.stderr
    assert "supnorm" in r.stdout and "bounds" in r.stdout


def test_list_json_contains_parameters():
    r = run_cli("list", "--json")
    blob = {e["name"]: e for e in json.loads(r.stdout)}
    assert {"garnet-vi", "fixture-line"} <= set(blob)
    names = {p["name"] for p in blob["garnet-vi"]["params"]}
    assert {"gamma", "eps", "n_states"} <= names


@pytest.mark.parametrize(
    "args, needle",
    [
        (("run", "no-such-exp"), "unknown experiment 'no-such-exp'; valid:"),
        (("sweep", "garnet-vi", "foo=1"), "has no parameter 'foo'; valid:"),
        (("sweep", "garnet-vi", "gamma=1.2"), "gamma=1.2 is out of range"),
        (("sweep", "garnet-vi", "gamma=0.5:0.9:2.5"), "float ranges are a:b:n"),
        (("sweep", "garnet-vi", "n_states=10:5"), "empty range"),
        (("sweep", "garnet-vi", "seeds=a:b"), "seeds='a:b' is not a seed spec"),
        (("sweep", "garnet-vi", "seeds=5:2"), "at least one"),
        (("sweep", "garnet-vi", "gamma"), "expected key=value"),
        (("sweep", "garnet-vi", "--jobs", "0"), "--jobs must be >= 1"),
        (("sweep", "garnet-vi", "--backend", "mpi"), "invalid choice"),
        (("frobnicate",), "invalid choice"),
    ],
)
def test_bad_cli_input_is_one_line_and_exit_2(args, needle, tmp_path):
    extra = ("--quick", "--results", str(tmp_path)) if args[0] == "sweep" else ()
    r = run_cli(*args, *extra)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]


# ---------------------------------------------------------------- failures and limits
def test_failed_runs_are_recorded_and_exit_nonzero(tmp_path):
    res = str(tmp_path)
    r = run_cli("sweep", "fixture-fails", "--results", res, "--jobs", "2", "--no-progress")
    assert r.returncode == 1
    assert "2 done, 2 failed" in r.stdout
    assert "RuntimeError: k=1 is odd" in r.stdout
    st = run_cli("status", "fixture-fails", "--results", res)
    assert "2 done, 2 failed, 0 missing" in st.stdout
    assert "k=3 is odd" in st.stdout and "Traceback" in st.stdout
    exp = get_experiment("fixture-fails")
    fails = ResultStore(res).failures(exp.name, exp.version)
    assert sorted(f["params"]["k"] for f in fails) == [1, 3]
    assert all("RuntimeError" in f["traceback"] for f in fails)


def test_time_limit_kills_the_run(tmp_path):
    exp = get_experiment("fixture-sleep")
    cells = exp.cells({"sleep": [0.0, 30.0]})
    t = time.perf_counter()
    rep = sweep(exp, cells, [0], store=ResultStore(tmp_path), jobs=2, timeout=3,
                progress=False)
    assert time.perf_counter() - t < 25
    assert rep.done == 1 and len(rep.failed) == 1
    assert "TimeoutError" in rep.failed[0][2]
    fail = ResultStore(tmp_path).failures(exp.name, exp.version)
    assert len(fail) == 1 and fail[0]["params"]["sleep"] == 30.0


# ---------------------------------------------------------------- resume after SIGKILL
def test_sigkill_mid_sweep_then_resume(tmp_path):
    res = tmp_path / "res"
    env = dict(os.environ, MDPLAB_EXPERIMENTS=str(FIXTURES))
    args = [sys.executable, "-m", "mdplab.cli", "sweep", "fixture-line", "sleep=0.4",
            "power=0.5,1.0", "seeds=0:12", "--results", str(res), "--jobs", "2",
            "--no-progress"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(list(res.rglob("seed-*.parquet"))) >= 4:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list(res.rglob("seed-*.parquet")))
    assert 4 <= partial < 24, partial
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{partial} already stored" in r.stdout
    files = list(res.rglob("seed-*.parquet"))
    assert len(files) == 24
    for f in files:
        pq.read_table(f)  # no corrupt file
    assert not list(res.rglob(".*.tmp-*"))
    exp = get_experiment("fixture-line")
    df = ResultStore(res).load(exp.name, exp.version)
    counts = df.groupby(["power", "seed"]).size()
    assert len(counts) == 24 and (counts == 6).all()  # every run present exactly once


# ---------------------------------------------------------------- backends agree bitwise
def test_local_1_2_workers_and_dask_give_identical_frames(tmp_path):
    exp = get_experiment("fixture-line")
    cells = exp.cells({"power": [0.5, 1.0], "scale": [1.0, 2.0]})
    seeds = [0, 1, 2]
    frames = []
    for name, kw in [("l1", dict(jobs=1)), ("l2", dict(jobs=2)),
                     ("dask", dict(jobs=2, backend="dask"))]:
        store = ResultStore(tmp_path / name)
        rep = sweep(exp, cells, seeds, store=store, progress=False, **kw)
        assert rep.ok and rep.done == 12
        frames.append(sorted_frame(store.load(exp.name, exp.version)))
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    pd.testing.assert_frame_equal(frames[0], frames[2], check_exact=True)


def test_derived_seeds_differ_by_cell_and_seed():
    exp = get_experiment("fixture-line")
    a, b = exp.cells({"power": [0.5, 1.0]})
    seeds = {derive_seed(exp, c, s) for c in (a, b) for s in range(5)}
    assert len(seeds) == 10
    assert derive_seed(exp, a, 3) == derive_seed(exp, dict(a), 3)


# ---------------------------------------------------------------- store
def test_store_round_trip_and_version_isolation(tmp_path):
    store = ResultStore(tmp_path)
    params = {"a": 1, "b": 0.5}
    store.write_rows("e", "1", params, 0, [{"x": 1, "y": 2.0}], meta={"elapsed_s": 0.1})
    store.write_rows("e", "2", params, 0, [{"x": 9, "y": 9.0}])
    df = store.load("e", "1")
    assert df.to_dict("records") == [{"x": 1, "y": 2.0, "a": 1, "b": 0.5, "seed": 0}]
    assert store.run_meta(store.run_path("e", "1", params, 0))["elapsed_s"] == 0.1
    with pytest.raises(ValueError, match="clash"):
        store.write_rows("e", "1", params, 1, [{"a": 3}])
    # A failure record is replaced by a later success; a success is never removed.
    store.write_failure("e", "1", params, 2, "boom", "tb")
    assert len(store.failures("e", "1")) == 1
    store.write_rows("e", "1", params, 2, [{"x": 2, "y": 1.0}])
    assert store.failures("e", "1") == []
    assert store.has("e", "1", params, 2)


# ---------------------------------------------------------------- params
def test_param_parsing():
    p = Param("n", "int", 3, low=1, high=100)
    assert p.parse_values("1:4") == [1, 2, 3]
    assert p.parse_values("2,8") == [2, 8]
    assert p.parse_values("10:40:10") == [10, 20, 30]
    f = Param("eps", "float", 0.1, low=0, low_open=True)
    assert np.allclose(f.parse_values("1e-1:1e-3:3"), [1e-1, 1e-2, 1e-3])
    with pytest.raises(LabError, match="out of range"):
        f.validate(0.0)
    with pytest.raises(LabError, match="not a valid int"):
        p.validate("2.5")
    assert parse_seeds("0:3") == [0, 1, 2] and parse_seeds("4") == [4]


# ---------------------------------------------------------------- statistics
def test_mean_ci_covers_the_mean_at_the_nominal_rate():
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(200):
        x = rng.normal(1.0, 1.0, 30)
        _, lo, hi = mean_ci(x, n_resamples=999, seed=i)
        hits += lo <= 1.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_loglog_slope_recovers_a_power_law():
    rng = np.random.default_rng(1)
    x = np.repeat(np.geomspace(1, 1e4, 12), 5)
    y = 3.0 * x**0.5 * np.exp(0.1 * rng.standard_normal(x.size))
    fit = loglog_slope(x, y)
    assert fit.ci_low <= 0.5 <= fit.ci_high and fit.ci_high - fit.ci_low < 0.05
    with pytest.raises(ValueError):
        loglog_slope([1, 1, 1], [1, 2, 3])


def test_figures_writes_readme_and_images(tmp_path):
    out = tmp_path / "figs"
    # Inline: every registered experiment's quick preset, without a worker pool per
    # experiment (the pools cost ~3 s each to start; they are tested on their own above).
    r = run_cli("figures", "--quick", "--out", str(out), "--results", str(tmp_path / "res"),
                "--backend", "inline", "--no-progress")
    assert r.returncode == 0, r.stderr
    readme = (out / "README.md").read_text()
    for stem in ("garnet-vi-iterations-vs-horizon", "fixture-line", "regret-vs-episodes-riverswim",
                 "regret-lower-bound-vs-K", "regret-vs-horizon", "regret-vs-states"):
        assert (out / f"{stem}.png").exists() and (out / f"{stem}.pdf").exists()
        assert f"## {stem}" in readme
    assert "mdplab sweep garnet-vi --quick && mdplab plot garnet-vi --quick" in readme
    assert "fitted log-log slope" in readme
    # The tabular experiments' quick presets ran: rows carry episode and cumulative regret.
    for name in ("regret-vs-episodes", "regret-vs-horizon", "regret-vs-states"):
        exp = get_experiment(name)
        df = ResultStore(tmp_path / "res").load(name, exp.version)
        assert {"episode", "regret", "algorithm", "env", "episodes", "horizon"} <= set(df.columns)
        for _, g in df.groupby(["algorithm", "env", "episodes", "horizon", "n_states", "seed"]):
            assert (np.diff(g.sort_values("episode")["regret"]) >= -1e-9).all()


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_workers_times_threads_equals_cores(tmp_path, backend):
    exp = get_experiment("fixture-threads")
    store = ResultStore(tmp_path)
    rep = sweep(exp, exp.cells(exp.grid), [0], store=store, jobs=2, backend=backend,
                timeout=60 if backend == "dask" else None, progress=False)
    assert rep.ok
    threads = store.load(exp.name, exp.version)["numba_threads"]
    assert (threads == max(1, (os.cpu_count() or 1) // 2)).all()


def test_a_new_failure_replaces_an_old_record(tmp_path):
    exp = get_experiment("fixture-sleep")
    store = ResultStore(tmp_path)
    cell = exp.cells({"sleep": [30.0]})[0]
    store.write_failure(exp.name, exp.version, cell, 0, "OldError: stale", "old traceback")
    rep = sweep(exp, [cell], [0], store=store, jobs=1, timeout=2, progress=False)
    assert len(rep.failed) == 1
    (fail,) = store.failures(exp.name, exp.version)
    assert fail["error"].startswith("TimeoutError")


def test_float_ranges_are_rounded():
    assert Param("x", "float", 1.0).parse_values("2:32:5") == [2.0, 4.0, 8.0, 16.0, 32.0]


def test_reserved_parameter_names_are_rejected():
    from mdplab.lab import Experiment

    with pytest.raises(ValueError, match="reserved"):
        Experiment(name="x", description="", params=(Param("seed", "int", 0),),
                   run=lambda p, s: [])

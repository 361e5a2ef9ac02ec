"""Every ``mdplab`` command, in text and JSON form, on every registered experiment.

``list`` and ``rates`` run on every experiment the registry knows (so a new
experiment cannot break them unnoticed); the commands that run things use a
synthetic fast experiment loaded through ``MDPLAB_EXPERIMENTS`` and a one-cell
override of ``garnet-vi``. The CLI is called in-process (``mdplab.cli.main``);
sweeps still spawn their worker processes.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mdplab.cli import main
from mdplab.lab import ResultStore, all_experiments, get_experiment

LAB_FIXTURES = Path(__file__).parent / "lab_fixtures"

SYNTHETIC = textwrap.dedent('''
    """A fast experiment for tests/test_cli_commands.py."""

    import numpy as np

    from mdplab.lab import Experiment, Param, PlotSpec, RateClaim


    def run(params, seed):
        noise = np.random.default_rng(seed).normal(0.0, 0.05, 5)
        return [{"x": float(x), "y": float(x ** params["power"] * np.exp(e))}
                for x, e in zip((1, 2, 4, 8, 16), noise)]


    EXPERIMENTS = [Experiment(
        name="cli-synthetic",
        description="y = x^power with 5% log-normal noise",
        params=(Param("power", "float", 0.5),),
        run=run,
        grid={"power": [0.5, 1.0]},
        seeds=2,
        quick={"grid": {"power": [0.5]}, "seeds": 2},
        plots=(PlotSpec(name="cli-synthetic", x="x", y="y", hue="power", logx=True,
                        logy=True, fit_slope=True),),
        rates=(RateClaim(name="y-vs-x", x="x", y="y", by="power",
                         where={"power": (0.5, 1.0)}, claimed=0.75, kind="upper",
                         source="synthetic claim"),),
    )]
''')


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_experiments")
    (d / "synthetic.py").write_text(SYNTHETIC)
    return d


@pytest.fixture(autouse=True)
def experiment_dirs(monkeypatch, synthetic_dir):
    # os.pathsep-separated: the lab's test fixtures and the synthetic experiment.
    import os

    monkeypatch.setenv("MDPLAB_EXPERIMENTS", os.pathsep.join([str(LAB_FIXTURES),
                                                              str(synthetic_dir)]))


def cli(capsys, *args):
    """``(exit code, stdout, stderr lines)`` of ``mdplab ARGS``."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, [ln for ln in err.splitlines() if ln.strip()]


def test_list_text_and_json_show_every_experiment(capsys):
    exps = all_experiments()
    assert {"garnet-vi", "regret-vs-episodes", "cli-synthetic", "fixture-line"} <= set(exps)
    rc, out, err = cli(capsys, "list")
    assert rc == 0, err
    for name, exp in exps.items():
        assert f"{name}  (v{exp.version}" in out
        for claim in exp.rates:
            assert f"rate {claim.name}: " in out
    # A grid given as a list of sub-grids is shown one sub-grid a line.
    n_subs = len(exps["regret-vs-episodes"].grid)
    assert f"grid: union of {n_subs} sub-grids" in out and f"[{n_subs}] algorithm=" in out
    rc, out, err = cli(capsys, "list", "--json")
    assert rc == 0, err
    blob = {e["name"]: e for e in json.loads(out)}
    assert set(blob) == set(exps)
    for name, exp in exps.items():
        assert [r["name"] for r in blob[name]["rates"]] == [r.name for r in exp.rates]
        assert {p["name"] for p in blob[name]["params"]} == {p.name for p in exp.params}


def test_rates_status_plot_on_every_experiment_without_results(capsys, tmp_path):
    empty = tmp_path / "empty"
    for name in all_experiments():
        for extra in ((), ("--json",), ("--quick",)):
            rc, out, err = cli(capsys, "rates", name, "--results", empty, *extra)
            assert rc == 2 and len(err) == 1, (name, extra, out, err)
            assert f"no stored results for {name}" in err[0]
        rc, out, err = cli(capsys, "status", name, "--quick", "--results", empty)
        assert rc == 0 and "0 done, 0 failed" in out, (name, err)
        rc, out, err = cli(capsys, "plot", name, "--quick", "--results", empty)
        assert rc == 2 and len(err) == 1 and "no stored results" in err[0], (name, err)


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    for args, needle in [
        (("rates", "no-such-exp"), "unknown experiment 'no-such-exp'"),
        (("rates", "garnet-vi", "foo=1"), "has no parameter 'foo'"),
        (("figures", "no-such-exp", "--out", tmp_path), "unknown experiment 'no-such-exp'"),
        (("rates",), "the following arguments are required"),
    ]:
        rc, out, err = cli(capsys, *args, "--results", tmp_path)
        assert rc == 2 and len(err) == 1 and needle in err[0], (args, err)


def test_synthetic_run_sweep_status_plot_rates(capsys, tmp_path):
    res = tmp_path / "res"
    rc, out, err = cli(capsys, "run", "cli-synthetic", "power=1.0", "seed=1")
    assert rc == 0 and "16.0" in out and len(out.splitlines()) == 6, (out, err)
    rc, out, err = cli(capsys, "sweep", "cli-synthetic", "--results", res, "--jobs", "1",
                       "--no-progress")
    assert rc == 0 and "4 runs, 0 already stored, 4 done, 0 failed" in out, (out, err)
    rc, out, err = cli(capsys, "status", "cli-synthetic", "--results", res)
    assert rc == 0 and "4 done, 0 failed, 0 missing of 4 runs" in out
    rc, out, err = cli(capsys, "plot", "cli-synthetic", "--results", res, "--out",
                       tmp_path / "fig.png")
    assert rc == 0 and "log-log slope" in out, err
    assert (tmp_path / "fig.png").stat().st_size > 1000
    rc, out, err = cli(capsys, "rates", "cli-synthetic", "--results", res)
    assert rc == 0, err
    lines = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("y-vs-x")}
    assert lines["power=0.5"].split()[-1] == "better"
    assert lines["power=1"].split()[-1] == "worse"
    rc, out, err = cli(capsys, "rates", "cli-synthetic", "--results", res, "--json")
    assert rc == 0, err
    blob = json.loads(out)
    assert [(r["group"], r["verdict"]) for r in blob] == [("power=0.5", "better"),
                                                           ("power=1", "worse")]
    assert all(r["rate"] == "y-vs-x" and r["claimed"] == 0.75 and r["n"] == 10
               and r["ci_low"] < r["slope"] < r["ci_high"] for r in blob)
    # The quick preset stores power=0.5 only: power=1 is reported as no data.
    rc, out, err = cli(capsys, "rates", "cli-synthetic", "--quick", "--results", res, "--json")
    assert [r["verdict"] for r in json.loads(out)] == ["better", "no data"]


def test_figures_writes_the_rates_table(capsys, tmp_path):
    out_dir = tmp_path / "figs"
    rc, out, err = cli(capsys, "figures", "cli-synthetic", "--quick", "--out", out_dir,
                       "--results", tmp_path / "res", "--jobs", "1", "--no-progress")
    assert rc == 0, (out, err)
    readme = (out_dir / "README.md").read_text()
    assert (out_dir / "cli-synthetic.png").exists() and "## cli-synthetic" in readme
    assert "## Theorem rates: claimed vs fitted" in readme
    assert "Command: `mdplab rates cli-synthetic --quick`" in readme
    assert "| y-vs-x | power=0.5 | upper | 0.75 |" in readme
    assert "| y-vs-x | power=1 | upper | 0.75 | - | - | 0 | no data" in readme
    assert "garnet-vi" not in readme  # only the experiments named on the command line


def test_real_experiment_one_cell(capsys, tmp_path):
    res = tmp_path / "res"
    cell = ("n_states=10", "gamma=0.5", "eps=1e-2")
    rc, out, err = cli(capsys, "run", "garnet-vi", *cell)
    assert rc == 0 and "supnorm" in out and "bounds" in out, err
    rc, out, err = cli(capsys, "sweep", "garnet-vi", *cell, "seeds=0", "--quick", "--results",
                       res, "--jobs", "1", "--no-progress")
    assert rc == 0 and "1 runs, 0 already stored, 1 done" in out, (out, err)
    rc, out, err = cli(capsys, "status", "garnet-vi", *cell, "seeds=0", "--results", res)
    assert rc == 0 and "1 done, 0 failed, 0 missing of 1 runs" in out
    rc, out, err = cli(capsys, "plot", "garnet-vi", *cell, "--results", res, "--out",
                       tmp_path / "g.png")
    assert rc == 0, err
    # One gamma: no slope can be fitted, every claim says so instead of failing.
    rc, out, err = cli(capsys, "rates", "garnet-vi", *cell, "--results", res, "--json")
    assert rc == 0, err
    blob = json.loads(out)
    exp = get_experiment("garnet-vi")
    assert {r["rate"] for r in blob} == {c.name for c in exp.rates}
    assert all(r["verdict"] == "no data" and "2+ distinct x" in r["reason"] for r in blob)
    rc, out, err = cli(capsys, "rates", "garnet-vi", *cell, "--results", res)
    assert rc == 0 and out.count("no data") == len(blob)
    assert len(ResultStore(res).load("garnet-vi", exp.version)) == 2

"""A user's mistake exits 2 with one line naming it, never a traceback (issue 16, CLI part)."""

from __future__ import annotations

import os
import stat

import pytest

from mdplab.cli import main


def one_line_error(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("mdplab: error:"), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_results_path_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    for cmd in ("sweep", "status", "plot", "rates"):
        one_line_error(capsys, [cmd, "garnet-vi", "--quick", "--results", str(f)], "is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_results_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        one_line_error(capsys, ["sweep", "garnet-vi", "--quick", "--results", str(ro)],
                       "cannot write")
    finally:
        ro.chmod(stat.S_IRWXU)


def test_plot_out_under_a_file(tmp_path, capsys):
    results = tmp_path / "r"
    assert main(["sweep", "garnet-vi", "n_states=10", "gamma=0.5", "eps=1e-2", "seeds=0:3",
                 "--results", str(results), "--no-progress", "--jobs", "1"]) == 0
    capsys.readouterr()
    f = tmp_path / "file"
    f.write_text("x")
    one_line_error(capsys, ["plot", "garnet-vi", "n_states=10", "gamma=0.5", "eps=1e-2",
                            "--results", str(results), "--out", str(f / "sub" / "fig.png")])


@pytest.mark.parametrize("spec, needle", [
    ("eps=1e-2:1e-8:-1", "n >= 1"),
    ("eps=1e-2:1e-8:1000000000", "the limit is"),
    ("seeds=0:1000000000000", "the limit is"),
    ("n_states=2:100000000", "the limit is"),
])
def test_impossible_or_oversized_grids(tmp_path, capsys, spec, needle):
    one_line_error(capsys, ["sweep", "garnet-vi", spec, "--results", str(tmp_path)], needle)


def test_product_of_grids_over_the_cell_cap(tmp_path, capsys):
    one_line_error(capsys, ["status", "garnet-vi", "n_states=2:5000", "n_actions=1:100",
                            "--results", str(tmp_path)], "cells; the limit is")


def test_a_cell_the_experiment_cannot_run_is_refused_before_any_run(tmp_path, capsys):
    one_line_error(capsys, ["run", "garnet-vi", "n_states=2"], "branching=5 exceeds n_states=2")
    one_line_error(capsys, ["sweep", "garnet-vi", "n_states=2,50", "--results", str(tmp_path)],
                   "n_states")
    assert not any(tmp_path.rglob("*.parquet")) and not any(tmp_path.rglob("*.failed.json"))


def test_debug_shows_the_traceback(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--debug", "status", "garnet-vi", "--results", str(f)]) == 2
    assert "Traceback" in capsys.readouterr().err

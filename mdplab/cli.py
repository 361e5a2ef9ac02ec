"""The ``mdplab`` command: list, run, sweep, status, plot, rates and figures.

Exit codes: 0 success; 1 some runs failed; 2 bad input (one-line message).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from mdplab.lab.errors import LabError

FIGURES_DIR = Path(__file__).resolve().parents[1] / "paper_figures"

MAX_RUNS = 1_000_000
"""Most (cell, seed) runs one command may plan."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        self.exit(2, f"mdplab: error: {message}\n")


def _split_overrides(tokens: list[str]) -> dict[str, str]:
    out = {}
    for tok in tokens:
        if "=" not in tok:
            raise LabError(f"expected key=value, got {tok!r}")
        key, value = tok.split("=", 1)
        if not key:
            raise LabError(f"expected key=value, got {tok!r}")
        if key in out:
            raise LabError(f"parameter {key!r} given twice")
        out[key] = value
    return out


def _grid_and_seeds(exp, overrides: dict[str, str], quick: bool):
    from mdplab.lab.params import parse_seeds

    grids, n_seeds = exp.preset(quick)
    seeds = list(range(n_seeds))
    for key, text in overrides.items():
        if key == "seeds":
            seeds = parse_seeds(text)
        else:
            values = exp.param(key).parse_values(text)
            for grid in grids:  # an override applies to every sub-grid
                grid[key] = values
    cells = exp.cells(grids)
    if len(cells) * len(seeds) > MAX_RUNS:
        raise LabError(f"{len(cells)} cells x {len(seeds)} seeds = {len(cells) * len(seeds)} "
                       f"runs; the limit is {MAX_RUNS}")
    return cells, seeds


def _store(args, write: bool = False):
    """The result store; its root must be a folder (created, and writable, when ``write``)."""
    from mdplab.lab.store import ResultStore

    store = ResultStore(args.results)
    root = store.root
    if root.exists() and not root.is_dir():
        raise LabError(f"--results {root} is a file, not a folder")
    if write:
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise LabError(f"cannot write results under {root}: {exc.strerror or exc}") from None
    return store


# ------------------------------------------------------------------ commands
def _fmt_grid(grid) -> str:
    return "  ".join(f"{k}={v}" for k, v in grid.items()) or "(defaults only)"


def cmd_list(args) -> int:
    from mdplab.lab.registry import all_experiments

    exps = all_experiments()
    if args.json:
        blob = [{
            "name": e.name, "description": e.description, "version": e.version,
            "seeds": e.seeds, "grid": e.grid, "quick": e.quick,
            "params": [{"name": p.name, "kind": p.kind, "default": p.default,
                        "allowed": p.allowed, "help": p.help} for p in e.params],
            "plots": [s.name for s in e.plots],
            "rates": [r.to_dict() for r in e.rates],
        } for e in exps.values()]
        print(json.dumps(blob, indent=2, default=str))
        return 0
    for e in exps.values():
        print(f"{e.name}  (v{e.version}, {e.seeds} seeds)  {e.description}")
        single = e.grid if isinstance(e.grid, Mapping) else None
        for p in e.params:
            grid = single.get(p.name) if single is not None else None
            sweep = f"  grid: {grid}" if grid else ""
            print(f"    {p.name} = {p.default!r:<10} {p.allowed}{sweep}  {p.help}")
        if single is None:
            subs = list(e.grid)
            print(f"    grid: union of {len(subs)} sub-grids")
            for i, sub in enumerate(subs, 1):
                print(f"      [{i}] {_fmt_grid(sub)}")
        for r in e.rates:
            print(f"    rate {r.name}: {r.describe()}")
    return 0


def cmd_run(args) -> int:
    from mdplab.lab.registry import get_experiment
    from mdplab.lab.runner import run_once

    exp = get_experiment(args.name)
    overrides = _split_overrides(args.overrides)
    seed = 0
    params = exp.defaults()
    for key, text in overrides.items():
        if key == "seed":
            try:
                seed = int(text)
            except ValueError:
                raise LabError(f"seed={text!r} is not an integer") from None
            if seed < 0:
                raise LabError(f"seed={seed} must be >= 0")
            continue
        values = exp.param(key).parse_values(text)
        if len(values) != 1:
            raise LabError(f"run takes one value per parameter; {key}={text!r} gives {len(values)}")
        params[key] = values[0]
    exp.check_cells([params])
    try:
        df = run_once(exp, params, seed)
    except (ValueError, TypeError) as exc:  # the model or learner refused these parameters
        if args.debug:
            raise
        raise LabError(f"{exp.name} run failed: {type(exc).__name__}: {exc}") from None
    import pandas as pd

    with pd.option_context("display.max_rows", 200, "display.width", 160):
        print(df.to_string(index=False))
    return 0


def cmd_sweep(args) -> int:
    from mdplab.lab.registry import get_experiment
    from mdplab.lab.runner import sweep

    exp = get_experiment(args.name)
    cells, seeds = _grid_and_seeds(exp, _split_overrides(args.overrides), args.quick)
    report = sweep(exp, cells, seeds, store=_store(args, write=True), backend=args.backend,
                   jobs=args.jobs,
                   address=args.address, timeout=args.timeout, progress=not args.no_progress)
    print(f"{exp.name}: {report.total} runs, {report.skipped} already stored, "
          f"{report.done} done, {len(report.failed)} failed")
    for params, seed, error in report.failed:
        changed = {k: v for k, v in params.items() if v != exp.param(k).default}
        print(f"  FAILED seed={seed} {changed}: {error.splitlines()[0] if error else ''}")
    return 0 if report.ok else 1


def cmd_status(args) -> int:
    from mdplab.lab.registry import get_experiment

    exp = get_experiment(args.name)
    cells, seeds = _grid_and_seeds(exp, _split_overrides(args.overrides), args.quick)
    store = _store(args)
    done = failed = missing = 0
    failures = []
    for params in cells:
        for seed in seeds:
            if store.has(exp.name, exp.version, params, seed):
                done += 1
            elif store.failure_path(exp.name, exp.version, params, seed).exists():
                failed += 1
                blob = json.loads(store.failure_path(exp.name, exp.version, params,
                                                     seed).read_text())
                failures.append(blob)
            else:
                missing += 1
    print(f"{exp.name} (v{exp.version}) in {store.root}: {done} done, {failed} failed, "
          f"{missing} missing of {len(cells) * len(seeds)} runs")
    for blob in failures:
        tb = [ln for ln in blob.get("traceback", "").strip().splitlines() if ln.strip()]
        changed = {k: v for k, v in blob["params"].items() if v != exp.param(k).default}
        print(f"  FAILED seed={blob['seed']} {changed}: {blob.get('error', '')}")
        for line in tb[:3]:
            print(f"      {line}")
    return 0


def _plot_experiment(exp, cells, store, out_for, only_paper=False) -> list[dict]:
    from mdplab.lab.plots import EmptyPlot, render

    df = store.load(exp.name, exp.version, cells)
    if df.empty:
        raise LabError(f"no stored results for {exp.name} on this grid; run `mdplab sweep "
                       f"{exp.name}` first")
    made = []
    for spec in exp.plots:
        if only_paper and not spec.paper_figure:
            continue
        try:
            info = render(spec, df, out_for(spec))
        except EmptyPlot as exc:
            print(f"{spec.name}: skipped, {exc}", file=sys.stderr)
            continue
        info["spec"] = spec
        made.append(info)
    return made


def cmd_plot(args) -> int:
    from mdplab.lab.registry import get_experiment

    exp = get_experiment(args.name)
    cells, _ = _grid_and_seeds(exp, _split_overrides(args.overrides), args.quick)
    store = _store(args)
    if args.out:
        base = Path(args.out)
        stem = base.with_suffix("") if base.suffix in (".png", ".pdf") else base
        if len(exp.plots) == 1:
            def out_for(spec):
                return stem
        else:
            def out_for(spec):
                return stem.parent / f"{stem.name}-{spec.name}"
    else:
        def out_for(spec):
            return store.root / exp.name / "plots" / spec.name
    for info in _plot_experiment(exp, cells, store, out_for):
        print(f"{info['spec'].name}: " + ", ".join(info["files"]))
        for key, fit in info["fits"].items():
            if "slope" in fit:
                lo, hi = fit["slope_ci"]
                print(f"    {key}: log-log slope {fit['slope']:.3f} [{lo:.3f}, {hi:.3f}]")
    return 0


def cmd_rates(args) -> int:
    from mdplab.lab.rates import check_rates, format_table, records
    from mdplab.lab.registry import get_experiment

    exp = get_experiment(args.name)
    cells, _ = _grid_and_seeds(exp, _split_overrides(args.overrides), args.quick)
    store = _store(args)
    table = check_rates(exp, store, cells)
    if args.json:
        print(json.dumps(records(table), indent=2, default=str))
        return 0
    if table.empty:
        print(f"{exp.name}: no theorem rates declared")
        return 0
    print(f"{exp.name} (v{exp.version}) in {store.root}: theorem rates, claimed vs fitted "
          "log-log slope (95% CI over every seed's points)")
    print(format_table(table))
    return 0


def _rates_section(tables, quick: str) -> list[str]:
    from mdplab.lab.rates import format_table

    lines = [
        "## Theorem rates: claimed vs fitted",
        "",
        "Each experiment declares the log-log rates its theorems claim (`Experiment.rates`); "
        "the slope is fitted on every seed's points with a t-based 95% CI. Verdicts: "
        "`consistent` (the CI contains the claim), `better` (CI below an upper bound), "
        "`below` (CI below a rate to match), `worse` (CI above), `no data`. The fit covers "
        "the swept range only, burn-in and log factors included.",
        "",
    ]
    for exp, table in tables:
        lines += [f"### {exp.name}", "", f"Command: `mdplab rates {exp.name}{quick}`", "",
                  format_table(table, markdown=True), ""]
        for claim in exp.rates:
            lines.append(f"- `{claim.name}`: {claim.describe()}. {claim.source}")
        lines.append("")
    return lines


def cmd_figures(args) -> int:
    from mdplab.lab.rates import check_rates
    from mdplab.lab.registry import all_experiments, get_experiment
    from mdplab.lab.runner import sweep

    out = Path(args.out) if args.out else FIGURES_DIR
    store = _store(args, write=True)
    quick = " --quick" if args.quick else ""
    exps = [get_experiment(n) for n in args.names] if args.names \
        else list(all_experiments().values())
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    tables = []
    status = 0
    for exp in exps:
        specs = [s for s in exp.plots if s.paper_figure]
        if not specs:
            continue
        cells, seeds = _grid_and_seeds(exp, {}, args.quick)
        report = sweep(exp, cells, seeds, store=store, backend=args.backend, jobs=args.jobs,
                       address=args.address, timeout=args.timeout,
                       progress=not args.no_progress)
        if not report.ok:
            status = 1
            print(f"{exp.name}: {len(report.failed)} runs failed; plotting what is stored")
        try:
            made = _plot_experiment(exp, cells, store, lambda s: out / s.name, True)
        except LabError as exc:  # nothing stored for this experiment: go on with the rest
            print(f"{exp.name}: no figure, {exc}", file=sys.stderr)
            status = 1
            continue
        for info in made:
            entries.append((exp, info))
            print(f"{info['spec'].name}: " + ", ".join(info["files"]))
        if exp.rates:
            tables.append((exp, check_rates(exp, store, cells)))
    lines = [
        "# Paper figures",
        "",
        "Generated by `mdplab figures" + quick + "`; every figure below is regenerated from "
        "scratch by that command (it sweeps what is missing from the result store, then plots).",
        "A single figure: the `sweep` then `plot` commands listed with it.",
        "",
    ]
    if tables:
        lines += _rates_section(tables, quick)
    for exp, info in entries:
        spec = info["spec"]
        lines += [
            f"## {spec.name}",
            "",
            f"{spec.title or exp.description}",
            "",
            f"![{spec.name}]({spec.name}.png) ([PDF]({spec.name}.pdf))",
            "",
            f"- experiment `{exp.name}` v{exp.version}: {exp.description}",
            f"- command: `mdplab sweep {exp.name}{quick} && mdplab plot {exp.name}{quick}`",
        ]
        for key, fit in info["fits"].items():
            if "slope" in fit:
                lo, hi = fit["slope_ci"]
                lines.append(f"- fitted log-log slope ({spec.hue}={key}): "
                             f"{fit['slope']:.3f} (95% CI [{lo:.3f}, {hi:.3f}])")
        lines.append("")
    (out / "README.md").write_text("\n".join(lines))
    print(f"wrote {out / 'README.md'}")
    return status


# ---------------------------------------------------------------------- main
def _add_store(p):
    p.add_argument("--results", help="result folder (default: $MDPLAB_RESULTS or results/)")


def _add_grid(p):
    p.add_argument("name")
    p.add_argument("overrides", nargs="*", metavar="key=values")
    p.add_argument("--quick", action="store_true", help="start from the CI-sized preset")
    _add_store(p)


def _add_exec(p):
    p.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    p.add_argument("--backend", choices=("local", "dask", "inline"), default="local",
                   help="worker processes (local), a Dask cluster, or this process (inline)")
    p.add_argument("--address", help="dask scheduler address, e.g. tcp://HOST:8786")
    p.add_argument("--timeout", type=float, help="per-run time limit in seconds")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="mdplab", description="mdplab experiment lab")
    ap.add_argument("--debug", action="store_true",
                    help="show the traceback of an error (before the command)")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("list", help="experiments with parameters and defaults")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("run", help="run one cell and print its rows")
    p.add_argument("name")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("sweep", help="run a parameter grid x seeds, skipping stored runs")
    _add_grid(p)
    _add_exec(p)
    p.set_defaults(fn=cmd_sweep)
    p = sub.add_parser("status", help="done / failed / missing runs of a grid")
    _add_grid(p)
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("plot", help="plot stored results")
    _add_grid(p)
    p.add_argument("--out", help="output file (stem, .png or .pdf)")
    p.set_defaults(fn=cmd_plot)
    p = sub.add_parser("rates", help="theorem rates: claimed vs fitted log-log slopes")
    _add_grid(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_rates)
    p = sub.add_parser("figures", help="regenerate every paper figure")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="only these experiments (default: every registered one)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", help=f"output folder (default: {FIGURES_DIR})")
    _add_store(p)
    _add_exec(p)
    p.set_defaults(fn=cmd_figures)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user's mistake (bad input, an impossible cell, a file
    system problem) exits 2 with one line; ``--debug`` shows the traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except LabError as exc:
        error, message = exc, str(exc)
    except OSError as exc:  # results folder, --out under a file, permissions, full disk
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        error, message = exc, f"{exc.strerror or exc}{where}"
    if args.debug:
        traceback.print_exception(error)
    print(f"mdplab: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

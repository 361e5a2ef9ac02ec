"""Plots of stored results: mean curves with CI bands, fitted slopes, theory overlays."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PlotSpec:
    """How to draw one figure from an experiment's rows.

    Attributes
    ----------
    name : str
        File stem of the figure (``<name>.png`` and ``<name>.pdf``).
    x, y : str
        Columns for the axes; ``y`` is averaged over seeds with a 95% CI band.
    hue : str, optional
        Column whose values get one curve each.
    where : dict
        Keep only rows whose columns equal these values.
    logx, logy : bool
    fit_slope : bool
        Fit ``log y ~ log x`` per curve; the slope and its CI go in the legend
        and in the data returned by :func:`render`.
    fit_decades : float, optional
        Fit only on ``x >= max(x) / 10**fit_decades`` (excludes burn-in).
    theory : callable ``(x, group_rows) -> f(x)``, optional
        The theorem's rate; drawn as ``c f(x)`` with ``c`` fitted per curve.
    theory_label : str
    paper_figure : bool
        Listed in paper_figures/ by ``mdplab figures``.
    """

    name: str
    x: str
    y: str
    hue: str | None = None
    where: dict = field(default_factory=dict)
    logx: bool = False
    logy: bool = False
    fit_slope: bool = False
    fit_decades: float | None = None
    theory: Callable | None = None
    theory_label: str = "theory"
    title: str = ""
    xlabel: str | None = None
    ylabel: str | None = None
    paper_figure: bool = True


class EmptyPlot(ValueError):
    """The plot's filter leaves no rows (e.g. a grid without the value it selects)."""


def _select(df, where: dict):
    for k, v in where.items():
        keep = np.isclose(df[k], v, rtol=1e-9, atol=0.0) if isinstance(v, float) else df[k] == v
        df = df[keep]
    return df


def render(spec: PlotSpec, df, out_stem: str | Path) -> dict:
    """Draw ``spec`` from the DataFrame ``df``; save PNG and PDF; return the fitted numbers."""
    # Imported here: worker processes load plot specs with every experiment but
    # never draw, and these imports cost them a second at start-up.
    import matplotlib

    from mdplab.lab.stats import fit_theory_constant, loglog_slope, summarize

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = _select(df, spec.where)
    if data.empty:
        raise EmptyPlot(f"plot {spec.name}: no rows to plot (filter {spec.where})")
    groups = [(None, data)] if spec.hue is None else list(data.groupby(spec.hue, sort=True))
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    fits = {}
    smallest_mean = np.inf  # smallest positive mean drawn: the floor of a log y axis
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (key, g) in enumerate(groups):
        color = colors[i % len(colors)]
        summary = summarize(g, spec.x, spec.y)
        label = "mean" if key is None else f"{spec.hue}={key:g}" if isinstance(
            key, float) else f"{spec.hue}={key}"
        entry = {}
        if spec.fit_slope and summary[spec.x].nunique() >= 2:
            try:
                fitted = g
                if spec.fit_decades is not None:
                    fitted = g[g[spec.x] >= g[spec.x].max() / 10**spec.fit_decades]
                fit = loglog_slope(fitted[spec.x], fitted[spec.y])
                label += f" ({fit.label()})"
                entry.update(slope=fit.slope, slope_ci=(fit.ci_low, fit.ci_high), r2=fit.r2)
            except ValueError:
                pass
        xs = summary[spec.x].to_numpy(dtype=float)
        means = summary["mean"].to_numpy(dtype=float)
        if (means > 0).any():
            smallest_mean = min(smallest_mean, means[means > 0].min())
        ax.plot(xs, summary["mean"], marker="o", ms=3, color=color, label=label)
        ax.fill_between(xs, summary["lo"], summary["hi"], color=color, alpha=0.2, lw=0)
        if spec.theory is not None:
            rate = lambda x, g=g: spec.theory(x, g)  # noqa: E731
            c = fit_theory_constant(g[spec.x], g[spec.y], rate)
            grid = np.geomspace(xs.min(), xs.max(), 100) if spec.logx and xs.min() > 0 \
                else np.linspace(xs.min(), xs.max(), 100)
            ax.plot(grid, c * rate(grid), ls="--", color=color, alpha=0.8, lw=1)
            entry["theory_constant"] = c
        fits["all" if key is None else str(key)] = entry
    if spec.theory is not None:
        ax.plot([], [], ls="--", color="gray", label=f"c * {spec.theory_label} (c fitted)")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for on, axis, scale in ((spec.logx, ax.xaxis, ax.set_xscale),
                            (spec.logy, ax.yaxis, ax.set_yscale)):
        if on:
            scale("log")
            ax.autoscale_view()
            lo, hi = axis.get_view_interval()
            if axis is ax.yaxis and np.isfinite(smallest_mean) and lo < smallest_mean / 3:
                # a band reaching 0 (a metric that hits 0 exactly) must not stretch a log
                # axis over ten decades of nothing
                ax.set_ylim(bottom=smallest_mean / 3)
                lo, hi = axis.get_view_interval()
            if lo > 0 and hi / lo < 100:  # under two decades: label 1-2-5 ticks too
                axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(spec.xlabel or spec.x)
    ax.set_ylabel(spec.ylabel or f"{spec.y} (mean, 95% bootstrap CI)")
    if spec.title:
        # long titles wrap instead of running off the figure
        ax.set_title("\n".join(textwrap.wrap(spec.title, 60)), fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    files = []
    for ext in ("png", "pdf"):
        path = out_stem.with_suffix(f".{ext}")
        fig.savefig(path)
        files.append(str(path))
    plt.close(fig)
    return {"files": files, "fits": fits}


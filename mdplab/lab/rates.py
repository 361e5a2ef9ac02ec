"""Theorem-rate checks as data: the exponents an experiment's theorems claim, fitted.

An experiment declares, in ``Experiment.rates``, the log-log slopes its
theorems predict (:class:`RateClaim`): "``y`` grows like ``x**claimed``" on
some rows, optionally per group of rows. :func:`check_rates` fits each claim
on the stored results (least squares on every seed's points, t-based 95% CI,
:func:`mdplab.lab.stats.loglog_slope`) and gives a verdict:

========  ==========================  ==============================
kind      CI entirely below the claim  CI entirely above the claim
========  ==========================  ==============================
upper     ``better``                   ``worse``
match     ``below``                    ``worse``
========  ==========================  ==============================

and ``consistent`` when the CI contains the claim. ``upper`` claims are upper
bounds (a slope below the bound respects it, hence *better*); ``match``
claims are rates the data should reproduce (a lower bound matched by the
algorithm, or a count with a known growth), so a slope below them is not
better but *below*: the instance or the range of ``x`` does not exercise the
rate. A claim that cannot be fitted gets the verdict ``no data`` with the
reason. The verdict is about the fitted range only: burn-in terms, log factors
and pre-asymptotic regimes move the slope, and the table reports them as they
are rather than hiding them.

``mdplab rates NAME`` prints the table; ``mdplab figures`` writes it into
``paper_figures/README.md``. This module imports nothing heavy at import time:
worker processes load it with every experiment declaration.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

KINDS = ("upper", "match")
VERDICTS = ("consistent", "better", "worse", "below", "no data")
COLUMNS = ("experiment", "rate", "group", "group_values", "kind", "claimed", "slope", "ci_low",
           "ci_high", "r2", "n", "seeds", "verdict", "reason", "x", "y", "fit_decades",
           "source")


@dataclass(frozen=True)
class RateClaim:
    """A rate a theorem claims: ``y ~ x**claimed`` on the rows selected by ``where``.

    Attributes
    ----------
    name : str
        The rate's name (unique within an experiment), e.g. ``"regret-vs-K"``.
    x, y : str
        Columns of the stored rows (parameters or run outputs); the slope of
        ``log y`` against ``log x`` is fitted (points with ``x, y <= 0`` are dropped).
    claimed : float
        The theorem's exponent.
    kind : {"upper", "match"}
        ``"upper"``: the theorem bounds the growth (a smaller slope is better);
        ``"match"``: the rate is tight (a lower bound, or an exact count).
    where : dict
        Keep only rows whose column equals the value (floats compare with a
        relative tolerance of 1e-9), or lies in it when the value is a list or
        tuple. A listed value of a ``by`` column also names an expected group:
        if it has no rows, the table says ``no data`` for it.
    by : str or tuple of str
        Fit one slope per value (combination) of these columns, e.g.
        ``"algorithm"`` or ``("env", "algorithm")``.
    fit_decades : float, optional
        Fit only on ``x >= max(x) / 10**fit_decades`` within each group (drops
        burn-in), as :class:`mdplab.lab.plots.PlotSpec` does.
    source : str
        Which theorem, in a few words (paper, theorem, the term giving the exponent).
    confidence : float
        Level of the slope's confidence interval.
    fit_on : {"points", "mean"}
        ``"points"`` (default): fit every seed's point. ``"mean"``: fit the
        mean over seeds at each ``x``, for metrics that reach exactly 0 on some
        seeds (an excess loss once the optimal policy is found): a point fit
        would drop those zeros and keep only the unlucky seeds, biasing the slope.
    """

    name: str
    x: str
    y: str
    claimed: float
    kind: str
    where: Mapping = field(default_factory=dict)
    by: tuple[str, ...] | str = ()
    fit_decades: float | None = None
    source: str = ""
    confidence: float = 0.95
    fit_on: str = "points"

    def __post_init__(self):
        def bad(msg):
            raise ValueError(f"RateClaim {self.name!r}: {msg}")

        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"RateClaim: name must be a non-empty string; got {self.name!r}")
        for attr in ("x", "y"):
            v = getattr(self, attr)
            if not isinstance(v, str) or not v:
                bad(f"{attr} must be a non-empty column name; got {v!r}")
        if self.fit_on not in ("points", "mean"):
            bad(f"fit_on must be 'points' or 'mean'; got {self.fit_on!r}")
        if self.x == self.y:
            bad(f"x and y must be different columns; both are {self.x!r}")
        if (isinstance(self.claimed, bool) or not isinstance(self.claimed, numbers.Real)
                or not math.isfinite(self.claimed)):
            bad(f"claimed must be a finite number (the exponent); got {self.claimed!r}")
        object.__setattr__(self, "claimed", float(self.claimed))
        if self.kind not in KINDS:
            bad(f"kind must be 'upper' (a bound to respect) or 'match' (a rate to match); "
                f"got {self.kind!r}")
        if not isinstance(self.where, Mapping):
            bad(f"where must be a dict of column -> value(s); got {type(self.where).__name__}")
        where = {}
        for k, v in self.where.items():
            if not isinstance(k, str) or not k:
                bad(f"where keys must be column names; got {k!r}")
            if isinstance(v, (list, tuple, set, frozenset)):
                if not v:
                    bad(f"where[{k!r}] is an empty list: it selects no rows")
                v = tuple(v)
            where[k] = v
        object.__setattr__(self, "where", where)
        by = (self.by,) if isinstance(self.by, str) else self.by
        try:
            by = tuple(by or ())
        except TypeError:
            bad(f"by must be a column name or a tuple of them; got {self.by!r}")
        if not all(isinstance(b, str) and b for b in by):
            bad(f"by must be a column name or a tuple of them; got {self.by!r}")
        if len(set(by)) != len(by):
            bad(f"by has repeated columns {by}")
        if {self.x, self.y} & set(by):
            bad(f"by {by} must not contain the fitted columns x={self.x!r}, y={self.y!r}")
        object.__setattr__(self, "by", by)
        if self.fit_decades is not None:
            fd = self.fit_decades
            if (isinstance(fd, bool) or not isinstance(fd, numbers.Real)
                    or not math.isfinite(fd) or fd <= 0):
                bad(f"fit_decades must be a number > 0 or None; got {fd!r}")
            object.__setattr__(self, "fit_decades", float(fd))
        if not isinstance(self.source, str):
            bad(f"source must be a string; got {self.source!r}")
        if not (isinstance(self.confidence, numbers.Real) and 0 < self.confidence < 1):
            bad(f"confidence must be in (0, 1); got {self.confidence!r}")

    def describe(self) -> str:
        """One line: ``y ~ x^claimed (kind) per by, where ...``."""
        text = f"{self.y} ~ {self.x}^{self.claimed:g} ({self.kind})"
        if self.by:
            text += f" per {', '.join(self.by)}"
        if self.where:
            text += " where " + ", ".join(f"{k}={_fmt_where(v)}" for k, v in self.where.items())
        if self.fit_decades is not None:
            text += f", last {self.fit_decades:g} decade(s) of {self.x}"
        return text

    def to_dict(self) -> dict:
        return {"name": self.name, "x": self.x, "y": self.y, "claimed": self.claimed,
                "kind": self.kind, "where": {k: list(v) if isinstance(v, tuple) else v
                                             for k, v in self.where.items()},
                "by": list(self.by), "fit_decades": self.fit_decades, "source": self.source,
                "confidence": self.confidence}


def _fmt_where(v) -> str:
    if isinstance(v, tuple):
        return "{" + ",".join(_fmt_value(x) for x in v) + "}"
    return _fmt_value(v)


def _fmt_value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def verdict(claim: RateClaim, ci_low: float, ci_high: float) -> str:
    """``consistent`` / ``better`` (upper) or ``below`` (match) / ``worse``; see the module."""
    if ci_high < claim.claimed:
        return "better" if claim.kind == "upper" else "below"
    if ci_low > claim.claimed:
        return "worse"
    return "consistent"


def _equal(series, value):
    import numpy as np

    if isinstance(value, float) and series.dtype.kind in "fi":
        return np.isclose(series.to_numpy(dtype=float), value, rtol=1e-9, atol=0.0)
    return (series == value).to_numpy()


def _select(df, where: Mapping):
    import numpy as np

    for k, v in where.items():
        values = v if isinstance(v, tuple) else (v,)
        keep = np.zeros(len(df), dtype=bool)
        for value in values:
            keep |= _equal(df[k], value)
        df = df[keep]
    return df


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return a == b


def _plain(v):
    """numpy scalars -> Python scalars (for labels and JSON)."""
    return v.item() if hasattr(v, "item") else v


def _fit_claim(exp_name: str, claim: RateClaim, df) -> list[dict]:
    from mdplab.lab.stats import loglog_slope

    base = {"experiment": exp_name, "rate": claim.name, "kind": claim.kind,
            "claimed": claim.claimed, "x": claim.x, "y": claim.y,
            "fit_decades": claim.fit_decades, "source": claim.source}

    def row(group_values: dict, **values) -> dict:
        out = dict(base, group=", ".join(f"{k}={_fmt_value(v)}" for k, v in
                                         group_values.items()),
                   group_values=group_values, slope=math.nan, ci_low=math.nan,
                   ci_high=math.nan, r2=math.nan, n=0, seeds=0, reason="")
        out.update(values)
        return out

    needed = [claim.x, claim.y, *claim.where, *claim.by]
    missing = sorted({c for c in needed if c not in df.columns})
    if missing:
        return [row({}, verdict="no data",
                    reason=f"stored rows have no column(s) {', '.join(missing)}")]
    data = _select(df, claim.where)
    # Expected groups: the values listed in `where` for every `by` column.
    expected = None
    if claim.by and all(isinstance(claim.where.get(b), tuple) for b in claim.by):
        expected = list(itertools.product(*(claim.where[b] for b in claim.by)))
    if data.empty:
        where = ", ".join(f"{k}={_fmt_where(v)}" for k, v in claim.where.items()) or "(none)"
        reason = f"no stored rows match where {where}"
        if expected is None:
            return [row({}, verdict="no data", reason=reason)]
        return [row(dict(zip(claim.by, key, strict=True)), verdict="no data",
                    reason="no stored rows for this group") for key in expected]
    if claim.by:
        groups = [(tuple(_plain(k) for k in (key if isinstance(key, tuple) else (key,))), g)
                  for key, g in data.groupby(list(claim.by), sort=True)]
    else:
        groups = [((), data)]
    if expected is not None:
        found = []
        for key in expected:
            match = [g for k, g in groups if all(_same(a, b) for a, b in zip(k, key, strict=True))]
            found.append((key, match[0] if match else None))
        groups = found  # `where` keeps only listed values: every group is expected
    out = []
    for key, g in groups:
        gv = dict(zip(claim.by, key, strict=True))
        if g is None or g.empty:
            out.append(row(gv, verdict="no data", reason="no stored rows for this group"))
            continue
        fitted = g
        if claim.fit_decades is not None:
            xmax = fitted[claim.x].max()
            fitted = fitted[fitted[claim.x] >= xmax / 10**claim.fit_decades]
        seeds = int(fitted["seed"].nunique()) if "seed" in fitted.columns else 0
        if claim.fit_on == "mean":
            fitted = fitted.groupby(claim.x, as_index=False)[claim.y].mean()
        try:
            fit = loglog_slope(fitted[claim.x].to_numpy(dtype=float),
                               fitted[claim.y].to_numpy(dtype=float), claim.confidence)
        except ValueError as exc:
            out.append(row(gv, verdict="no data", seeds=seeds, n=len(fitted),
                           reason=f"{exc} (got {len(fitted)} rows, "
                                  f"{fitted[claim.x].nunique()} distinct {claim.x})"))
            continue
        if not (math.isfinite(fit.ci_low) and math.isfinite(fit.ci_high)):
            out.append(row(gv, verdict="no data", seeds=seeds, n=fit.n,
                           reason=f"the slope's confidence interval is not finite "
                                  f"(slope {fit.slope:.3g})"))
            continue
        out.append(row(gv, slope=fit.slope, ci_low=fit.ci_low, ci_high=fit.ci_high, r2=fit.r2,
                       n=fit.n, seeds=seeds, verdict=verdict(claim, fit.ci_low, fit.ci_high)))
    return out


def check_rates(experiment_or_name, store=None, cells: list[dict] | None = None,
                quick: bool = False):
    """Fit every rate ``experiment.rates`` declares on its stored results.

    Parameters
    ----------
    experiment_or_name : Experiment or str
    store : ResultStore, path or None
        Where the results are (default: ``$MDPLAB_RESULTS`` or ``results/``).
    cells : list of dict, optional
        The parameter cells to read (default: every cell of the default
        preset, or of the quick one with ``quick=True``).

    Returns
    -------
    pandas.DataFrame
        One row per (claim, group), columns :data:`COLUMNS`; ``verdict`` is one
        of :data:`VERDICTS` and ``reason`` says why a claim has ``no data``.
        An experiment without claims gives an empty frame.

    Raises
    ------
    LabError
        When nothing is stored for the experiment on these cells (or the name is unknown).
    """
    import pandas as pd

    from mdplab.lab.errors import LabError
    from mdplab.lab.registry import Experiment, get_experiment
    from mdplab.lab.store import ResultStore

    exp = experiment_or_name if isinstance(experiment_or_name, Experiment) \
        else get_experiment(experiment_or_name)
    if not isinstance(store, ResultStore):
        store = ResultStore(store)
    if cells is None:
        cells = exp.cells(exp.preset(quick)[0])
    df = store.load(exp.name, exp.version, cells)
    if df.empty:
        hint = " --quick" if quick else ""
        raise LabError(f"no stored results for {exp.name} (v{exp.version}) on this grid in "
                       f"{store.root}; run `mdplab sweep {exp.name}{hint}` first")
    rows = []
    for claim in exp.rates:
        rows += _fit_claim(exp.name, claim, df)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def records(table) -> list[dict]:
    """The table as JSON-ready dicts (NaN -> None, numpy scalars -> Python)."""
    out = []
    for rec in table.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            v = _plain(v)
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            if isinstance(v, dict):
                v = {kk: _plain(vv) for kk, vv in v.items()}
            clean[k] = v
        out.append(clean)
    return out


def format_table(table, markdown: bool = False) -> str:
    """The rates table as aligned text (or a Markdown table)."""
    head = ["rate", "group", "kind", "claimed", "slope", "95% CI", "n", "verdict"]
    lines = []
    for rec in records(table):
        fitted = rec["slope"] is not None and rec["ci_low"] is not None
        verdict_text = rec["verdict"]
        if rec["verdict"] == "no data" and rec["reason"]:
            verdict_text += f" ({rec['reason']})"
        lines.append([
            rec["rate"], rec["group"] or "all", rec["kind"], f"{rec['claimed']:g}",
            f"{rec['slope']:.3f}" if fitted else "-",
            f"[{rec['ci_low']:.3f}, {rec['ci_high']:.3f}]" if fitted else "-",
            str(rec["n"]), verdict_text,
        ])
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    return "\n".join([fmt.format(*head)] + [fmt.format(*line) for line in lines])

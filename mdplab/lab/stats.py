"""Statistics over seeds: bootstrap confidence bands, log-log slopes, theory fits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


def mean_ci(samples, confidence: float = 0.95, n_resamples: int = 2000,
            seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``samples`` with a bootstrap (BCa, falling back to percentile) CI.

    With fewer than two samples, or all samples equal, the band collapses to
    the mean (there is no spread to resample).
    """
    x = np.asarray(samples, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    m = float(x.mean())
    if x.size < 2 or np.ptp(x) == 0:
        return (m, m, m)
    rng = np.random.default_rng(seed)
    try:
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence,
                              n_resamples=n_resamples, method="BCa", random_state=rng)
        lo, hi = res.confidence_interval
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError
    except ValueError:
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence,
                              n_resamples=n_resamples, method="percentile", random_state=rng)
        lo, hi = res.confidence_interval
    return (m, float(lo), float(hi))


def summarize(df: pd.DataFrame, x: str, y: str, by: list[str] | None = None,
              confidence: float = 0.95) -> pd.DataFrame:
    """Per ``(by..., x)``: mean of ``y`` over seeds with its CI and the seed count."""
    by = list(by or [])
    rows = []
    for key, g in df.groupby(by + [x], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        m, lo, hi = mean_ci(g[y].to_numpy(), confidence)
        rows.append(dict(zip(by + [x], key, strict=True), mean=m, lo=lo, hi=hi, n=len(g)))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SlopeFit:
    """``log y = intercept + slope * log x`` fitted by least squares."""

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    r2: float
    n: int

    def predict(self, x):
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope

    def label(self) -> str:
        return f"slope {self.slope:.2f} [{self.ci_low:.2f}, {self.ci_high:.2f}]"


def loglog_slope(x, y, confidence: float = 0.95) -> SlopeFit:
    """Slope of ``y`` against ``x`` on log-log axes, with a t-based CI.

    Uses every positive point (all seeds), so the CI reflects seed spread. An
    exactly constant ``y`` gives slope 0 with a zero-width CI (and ``r2`` NaN).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    if lx.size < 3 or np.ptp(lx) == 0:
        raise ValueError("a log-log slope needs at least 3 positive points at 2+ distinct x")
    if np.ptp(ly) == 0:  # exactly flat (e.g. regret that stopped growing): zero residuals
        return SlopeFit(0.0, float(ly[0]), 0.0, 0.0, float("nan"), int(lx.size))
    fit = stats.linregress(lx, ly)
    t = stats.t.ppf(0.5 + confidence / 2, lx.size - 2)
    return SlopeFit(float(fit.slope), float(fit.intercept), float(fit.slope - t * fit.stderr),
                    float(fit.slope + t * fit.stderr), float(fit.rvalue**2), int(lx.size))


def fit_theory_constant(x, y, rate) -> float:
    """``c`` minimising ``sum (log y - log(c rate(x)))^2``: the geometric-mean ratio."""
    f = np.asarray(rate(np.asarray(x, dtype=float)), dtype=float)
    y = np.asarray(y, dtype=float)
    keep = (f > 0) & (y > 0)
    if not keep.any():
        raise ValueError("no positive points to fit a theory constant on")
    return float(np.exp(np.mean(np.log(y[keep]) - np.log(f[keep]))))

"""Argument checks shared by every model constructor.

Each check raises ``ValueError`` naming the argument and, for arrays, the first
offending index (``"P[2, 1, :] sums to 0.97"``), so a bad model never reaches a
numba kernel.
"""

from __future__ import annotations

import numbers

import numpy as np

ROW_SUM_TOL = 1e-9
"""Maximum allowed ``|sum_s' P(s'|s,a) - 1|`` (also used for initial distributions)."""


def fmt_index(idx) -> str:
    return ", ".join(str(int(i)) for i in idx)


def as_real_array(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and similar
        raise ValueError(f"{name} must be a real numeric array: {exc}") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == bool
    ):
        raise ValueError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    # Always copy: the model freezes its arrays and must not freeze the caller's.
    return np.array(arr, dtype=np.float64, order="C", copy=True)


def first(mask: np.ndarray):
    return tuple(np.argwhere(mask)[0])


def check_finite(arr: np.ndarray, name: str, what: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = first(bad)
        raise ValueError(f"{name}[{fmt_index(idx)}] is {arr[idx]}; {what} must be finite")


def check_probability_rows(arr: np.ndarray, name: str) -> None:
    """Non-negative, finite, each last-axis row summing to 1 within ROW_SUM_TOL."""
    check_finite(arr, name, "probabilities")
    neg = arr < 0
    if neg.any():
        idx = first(neg)
        raise ValueError(f"{name}[{fmt_index(idx)}] = {arr[idx]:.6g} is negative")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if off.any():
        idx = first(off)
        raise ValueError(
            f"{name}[{fmt_index(idx)}, :] sums to {sums[idx]:.12g}; "
            f"each row must sum to 1 within {ROW_SUM_TOL:g}"
        )


def check_horizon(horizon) -> int | None:
    if horizon is None:
        return None
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral):
        raise ValueError(f"horizon must be an integer >= 1; got {horizon!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1; got {horizon}")
    return int(horizon)


def check_gamma(gamma) -> float | None:
    if gamma is None:
        return None
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise ValueError(f"gamma must be a real number in [0, 1); got {gamma!r}")
    g = float(gamma)
    if not (0.0 <= g < 1.0):
        raise ValueError(f"gamma must be in [0, 1); got {g}")
    return g


def check_distribution(x, name: str) -> np.ndarray:
    """A probability vector: a copied float64 1-d array, non-negative, summing to 1."""
    arr = as_real_array(x, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-d probability vector; got shape {arr.shape}"
        )
    check_finite(arr, name, "probabilities")
    neg = arr < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise ValueError(f"{name}[{i}] = {arr[i]:.6g} is negative")
    total = arr.sum()
    if abs(total - 1.0) > ROW_SUM_TOL:
        raise ValueError(f"{name} sums to {total:.12g}; it must sum to 1 within {ROW_SUM_TOL:g}")
    return arr


def check_shape(arr: np.ndarray, shape: tuple, name: str) -> None:
    """``arr.shape == shape``, else ValueError quoting both; ``-1`` matches any size."""
    ok = arr.ndim == len(shape) and all(
        e == -1 or e == g for e, g in zip(shape, arr.shape, strict=True)
    )
    if not ok:
        want = "(" + ", ".join("any" if e == -1 else str(e) for e in shape) + ")"
        raise ValueError(f"{name} must have shape {want}; got {arr.shape}")


def freeze(*arrays: np.ndarray) -> None:
    """Make arrays read-only (models are immutable)."""
    for a in arrays:
        a.setflags(write=False)

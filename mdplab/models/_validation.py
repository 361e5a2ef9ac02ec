"""The one validation layer: argument checks shared by every public entry point.

Each check raises ``ValueError`` (or :class:`ArgumentTypeError`, a
``TypeError``) naming the argument and the value and, for arrays, the first
offending index (``"P[2, 1, :] sums to 0.97"``), so a bad input never reaches a
numba kernel or a compiled library.

Scalars: :func:`check_real` (finite real in a range), :func:`check_int`
(integer in a range), :func:`check_probability`, :func:`check_tolerance`.
Indices: :func:`check_index` (no negative wrap-around, no float truncation).
Models: :func:`check_model`. Values: :func:`check_value_vector` (finite, shape)
and :func:`check_value_range` (the value range of a model fits in float64).
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

ROW_SUM_TOL = 1e-9
"""Maximum allowed ``|sum_s' P(s'|s,a) - 1|`` (also used for initial distributions)."""


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a string for a number, a float for an index).

    A ``TypeError``; also a ``ValueError``, so callers that catch ``ValueError``
    for every bad input (and code written before the type checks) still catch it.
    """


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)


def _range_text(lo, hi, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return "finite"


def check_real(x, name: str, *, lo=None, hi=None, lo_open: bool = False,
               hi_open: bool = False) -> float:
    """``x`` as a finite float in the given range (bools, strings, NaN and inf refused)."""
    rng = _range_text(lo, hi, lo_open, hi_open)
    if not _is_real(x):
        raise ArgumentTypeError(f"{name} must be a real number {rng}; got {x!r}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number {rng}; got {v}")
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (
        hi is not None and (v >= hi if hi_open else v > hi)
    ):
        raise ValueError(f"{name} must be {rng}; got {v}")
    return v


def check_int(x, name: str, *, lo=None, hi=None) -> int:
    """``x`` as an int in ``[lo, hi]`` (bools, floats, strings refused: no truncation)."""
    rng = " ".join(p for p in (f">= {lo}" if lo is not None else "",
                               f"<= {hi}" if hi is not None else "") if p)
    want = f"{name} must be an integer" + (f" {rng}" if rng else "")
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Integral):
        raise ArgumentTypeError(f"{want}; got {x!r}")
    v = int(x)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{want}; got {v}")
    return v


def check_probability(x, name: str) -> float:
    """A probability: a finite real in ``[0, 1]``."""
    return check_real(x, name, lo=0.0, hi=1.0)


def check_tolerance(x, name: str, *, upper: float | None = None, lower: float = 0.0) -> float:
    """A tolerance: a finite real ``> lower`` (default 0) and, if given, ``<= upper``."""
    return check_real(x, name, lo=lower, hi=upper, lo_open=lower == 0.0)


def check_bool(x, name: str) -> bool:
    """``True`` or ``False`` (numpy bools too); strings and numbers refused."""
    if not isinstance(x, bool | np.bool_):
        raise ArgumentTypeError(f"{name} must be True or False; got {x!r}")
    return bool(x)


def check_model(obj, cls, fn: str, name: str = "mdp"):
    """``obj`` if it is an instance of ``cls`` (a class or tuple), else a TypeError."""
    if not isinstance(obj, cls):
        classes = cls if isinstance(cls, tuple) else (cls,)
        want = " or ".join(c.__name__ for c in classes)
        shown = repr(obj) if len(repr(obj)) <= 40 else repr(obj)[:37] + "..."
        raise TypeError(f"{fn}: expected a {want} as {name}; got {type(obj).__name__} {shown}")
    return obj


def check_index(value, name: str, upper: int, what: str = "") -> int:
    """``value`` as an int in ``[0, upper)``: no negative wrap-around, no float truncation."""
    if isinstance(value, bool | np.bool_):
        raise ArgumentTypeError(f"{name} must be an integer; got {value!r}")
    try:
        i = operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be an integer; got {value!r}") from None
    if not 0 <= i < upper:
        raise ValueError(f"{name} {i} is not in [0, {upper}){what}")
    return i


def check_value_vector(V, shape, name: str = "V") -> np.ndarray:
    """A finite float64 C-contiguous copy of ``V`` with ``V.shape == shape``."""
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    arr = as_real_array(V, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    check_finite(arr, name, "values")
    return arr


VALUE_LIMIT = 1e300
"""Largest ``max|V| * (1 + 1/(1-gamma))`` (``max|V| * (1 + H)`` for horizon H) the
solvers accept: their certificates multiply value differences by ``gamma/(1-gamma)``,
and this keeps every intermediate below float64's ~1.8e308."""


def check_value_range(R, *, gamma=None, horizon=None, fn: str = "the solver") -> float:
    """Refuse rewards whose value range overflows float64 at this gamma / horizon.

    Returns the value bound ``max|R| / (1 - gamma)`` (or ``H max|R|``).
    """
    r = float(np.max(np.abs(R))) if np.size(R) else 0.0
    factor = 1.0 / (1.0 - gamma) if gamma is not None else float(horizon)
    with np.errstate(over="ignore"):
        bound = r * factor
        need = bound * (1.0 + factor)
    if not math.isfinite(need) or need > VALUE_LIMIT:
        at = f"gamma={gamma}" if gamma is not None else f"horizon={horizon}"
        upto = f"up to {bound:.3g}" if math.isfinite(bound) else "beyond float64's 1.8e308"
        raise ValueError(
            f"{fn}: rewards up to max|R| = {r:.3g} give values {upto} at {at}; "
            f"that range overflows float64 in the solver (it needs max|V| * "
            f"{'(1 + 1/(1-gamma))' if gamma is not None else '(1 + H)'} <= {VALUE_LIMIT:g}): "
            "rescale the rewards"
        )
    return bound


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
    return check_int(horizon, "horizon", lo=1)


def check_gamma(gamma) -> float | None:
    if gamma is None:
        return None
    return check_real(gamma, "gamma", lo=0.0, hi=1.0, hi_open=True)


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

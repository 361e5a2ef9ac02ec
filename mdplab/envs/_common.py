"""Shared argument checks and small helpers for the environment constructors."""

from __future__ import annotations

import numbers

import numpy as np

from mdplab.models._validation import ArgumentTypeError

DEFAULT_GAMMA = 0.95
"""Discount used by the discounted-by-default environments when neither
``gamma`` nor ``horizon`` is given."""


def as_rng(seed) -> np.random.Generator:
    """``np.random.default_rng(seed)``: an int, ``None`` or a Generator (used as is)."""
    if isinstance(seed, bool):
        raise ValueError(f"seed must be an int, None or a numpy Generator; got {seed!r}")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"seed must be an int, None or a numpy Generator; got {seed!r} ({exc})"
        ) from None


def seed_label(seed) -> str:
    """``";seed=N"`` for integer seeds (used in model names), else ``""``."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return f";seed={int(seed)}"
    return ""


def check_int(value, name: str, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_real(value, name: str) -> float:
    """``value`` as a finite float, else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite; got {v}")
    return v


def check_prob(value, name: str) -> float:
    """``value`` as a float in [0, 1], else ValueError naming ``name``."""
    v = check_real(value, name)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {v}")
    return v


def resolve_objective(gamma, horizon, *, default_gamma=None, default_horizon=None):
    """Fill in the default objective when both ``gamma`` and ``horizon`` are None.

    Exactly one of ``default_gamma`` / ``default_horizon`` should be given; when the
    caller passes both ``gamma`` and ``horizon`` they are returned unchanged so that
    :class:`~mdplab.models.TabularMDP` reports the conflict.
    """
    if gamma is None and horizon is None:
        if default_horizon is not None:
            return None, default_horizon
        return default_gamma, None
    return gamma, horizon


def normalize_rewards(R: np.ndarray, gamma, horizon) -> np.ndarray:
    """Rescale rewards for horizon-free experiments.

    Finite horizon: ``R / H`` (an episode then collects at most ``max R``).
    Discounted: ``(1 - gamma) * R`` (the discounted return is then at most ``max R``).
    """
    if horizon is not None:
        return R / float(horizon)
    return R * (1.0 - float(gamma))


def reward_draw(rng: np.random.Generator, shape, kind: str) -> np.ndarray:
    """Random mean rewards: ``"uniform"`` = U[0, 1], ``"normal"`` = N(0, 1), i.i.d."""
    if kind == "uniform":
        return rng.random(shape)
    if kind == "normal":
        return rng.standard_normal(shape)
    raise ValueError(f"reward must be 'uniform' or 'normal'; got {kind!r}")

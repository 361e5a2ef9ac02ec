"""Structured exact planners of low-rank and linear-mixture MDPs.

The models: :mod:`mdplab.models.lowrank`.

Both planners only call the model's one-step backup ``model.q_backup(V, h)``
(``R_h + phi_h (mu_h V)`` for :class:`~mdplab.models.LowRankMDP`,
:class:`~mdplab.models.LinearMDP` and :class:`~mdplab.models.BlockMDP`;
``R_h + phi_V^T theta`` for :class:`~mdplab.models.LinearMixtureMDP`), so no
``S x S`` matrix is formed and a stage costs O(S A d + d S):

* :func:`lowrank_backward_induction`: finite horizon, ``V_H = 0``,
  ``Q_h = q_backup(V_{h+1}, h)``, ``V_h = max_a Q_h``, ``pi_h = argmax_a Q_h``
  (first maximiser); shapes as :func:`mdplab.planning.backward_induction`
  (``values (H+1, S)``, ``q (H, S, A)``, ``policy (H, S)``, ``error_bound = 0``);
* :func:`lowrank_value_iteration`: discounted, with the certified stopping of
  :func:`mdplab.planning.value_iteration` (MacQueen bounds or sup-norm).

Each returns a :class:`~mdplab.planning.PlanningResult` whose ``method`` names
the model class (``"LowRankMDP.backward_induction"``). Both are also methods of
the model classes (``model.backward_induction()``, ``model.value_iteration(eps)``),
attached by :mod:`mdplab.planning._model_methods`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from mdplab.models._validation import (
    check_int,
    check_tolerance,
    check_value_range,
    check_value_vector,
)
from mdplab.models.lowrank import LinearMixtureMDP, LowRankMDP
from mdplab.planning.discounted import DEFAULT_MAX_SWEEPS
from mdplab.planning.result import PlanningResult

__all__ = ["lowrank_backward_induction", "lowrank_value_iteration"]


def _check_model(model) -> None:
    if not isinstance(model, LowRankMDP | LinearMixtureMDP):
        raise TypeError(
            "expected a LowRankMDP, LinearMDP, BlockMDP or LinearMixtureMDP; "
            f"got {type(model).__name__}"
        )


def lowrank_backward_induction(model: LowRankMDP | LinearMixtureMDP) -> PlanningResult:
    """Optimal values of a finite-horizon structured model, stage by stage from its factors.

    ``V_H = 0``, ``Q_h = model.q_backup(V_{h+1}, h)`` (``R_h + phi_h (mu_h V_{h+1})``
    for low-rank models, ``R_h + phi_{V_{h+1}}^T theta`` for linear mixtures),
    ``V_h = max_a Q_h``, ``pi_h = argmax_a Q_h`` (first maximiser): O(H (S A d + d S)),
    no ``P``. Returns a :class:`~mdplab.planning.PlanningResult` shaped as
    :func:`mdplab.planning.backward_induction` (``values (H+1, S)``, ``q (H, S, A)``,
    ``policy (H, S)``, ``error_bound = 0``).
    """
    _check_model(model)
    if model.horizon is None:
        raise ValueError(
            f"backward_induction needs a finite-horizon model; this one is discounted "
            f"(gamma={model.gamma}): use value_iteration"
        )
    return _backward_induction(model, model.q_backup)


def lowrank_value_iteration(
    model: LowRankMDP | LinearMixtureMDP,
    eps: float = 1e-8,
    *,
    max_iter=None,
    stopping_rule="bounds",
    V0=None,
) -> PlanningResult:
    """Structured value iteration with the certified stopping of
    :func:`mdplab.planning.value_iteration` (MacQueen bounds or sup-norm), each
    sweep costing O(S A d + d S) through ``model.q_backup``. Discounted models only."""
    _check_model(model)
    return _value_iteration(model, model.q_backup, eps, max_iter, stopping_rule, V0)


def _greedy(Q: np.ndarray):
    """``(max_a Q, first argmax_a Q)`` over the last axis (ties: the smallest action)."""
    pi = np.argmax(Q, axis=-1)
    return np.take_along_axis(Q, pi[..., None], axis=-1)[..., 0], pi.astype(np.int64)


def _backward_induction(model, q_backup) -> PlanningResult:
    H, S, A = model.horizon, model.S, model.A
    values = np.zeros((H + 1, S))
    Q = np.empty((H, S, A))
    policy = np.empty((H, S), dtype=np.int64)
    for h in range(H - 1, -1, -1):
        Q[h] = q_backup(values[h + 1], h)
        values[h], policy[h] = _greedy(Q[h])
    return PlanningResult(
        values,
        Q,
        policy,
        H,
        0.0,
        f"{type(model).__name__}.backward_induction",
        "exact recursion over H stages",
        init=model.init,
    )


def _value_iteration(model, q_backup, eps, max_iter, stopping_rule, V0) -> PlanningResult:
    """Structured twin of :func:`mdplab.planning.value_iteration` (same certificate)."""
    if model.gamma is None:
        raise ValueError(
            f"value_iteration solves discounted models; this one has horizon={model.horizon}: "
            "use backward_induction"
        )
    eps = check_tolerance(eps, "eps")
    check_value_range(model.R, gamma=model.gamma, fn="value_iteration")
    if stopping_rule not in ("bounds", "supnorm"):
        raise ValueError(f"stopping_rule must be 'bounds' or 'supnorm'; got {stopping_rule!r}")
    g, S = model.gamma, model.S
    if V0 is None:
        V = np.full(S, float(model.R.min()) / (1.0 - g))
    else:
        V = check_value_vector(V0, (S,), "V0")
    if max_iter is None:
        scale = float(np.ptp(model.R)) / (1.0 - g) + float(np.abs(V).max()) + 1.0
        sweeps = math.log(scale / eps) / max(1.0 - g, 1e-12) if g > 0 else 0.0
        max_iter = (
            min(DEFAULT_MAX_SWEEPS, max(0, math.ceil(min(sweeps, 1e18)))) + 10 if g > 0 else 2
        )
    max_iter = check_int(max_iter, "max_iter", lo=1)
    c = g / (1.0 - g)
    history = []
    bound, out, offsets = math.inf, V, (-math.inf, math.inf)
    t0 = time.perf_counter()
    it = 0
    while it < max_iter:
        TV = q_backup(V, 0).max(axis=1)
        it += 1
        delta = TV - V
        lo, hi = float(delta.min()), float(delta.max())
        offsets = (c * lo, c * hi)
        if stopping_rule == "bounds":
            out, bound = TV + c * 0.5 * (lo + hi), c * 0.5 * (hi - lo)
        else:
            out, bound = TV, c * max(abs(lo), abs(hi))
        history.append(bound)
        if bound <= eps:
            break
        V = TV
    Q = q_backup(out, 0)
    _, pi = _greedy(Q)
    rule = (
        "MacQueen bounds: ||V - V*|| <= gamma/(1-gamma) span(TV - V)/2"
        if stopping_rule == "bounds"
        else "sup-norm: ||TV - V*|| <= gamma/(1-gamma) ||TV - V||"
    )
    info = {
        "bound_history": np.array(history),
        "bound_offsets": offsets,
        "time_s": time.perf_counter() - t0,
        "policy_error_bound": 2.0 * g * bound / (1.0 - g),
    }
    return PlanningResult(
        out,
        Q,
        pi,
        it,
        float(bound),
        f"{type(model).__name__}.value_iteration",
        rule,
        bound <= eps,
        init=model.init,
        info=info,
    )

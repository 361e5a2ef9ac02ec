"""Backward induction for finite-horizon models (stationary or stage-dependent)."""

from __future__ import annotations

import numpy as np

from mdplab.models import TabularMDP
from mdplab.models._validation import check_model, check_value_range
from mdplab.planning.operator import BellmanOperator
from mdplab.planning.result import PlanningResult


def backward_induction(mdp: TabularMDP) -> PlanningResult:
    """Optimal values of a finite-horizon model by dynamic programming.

    ``V*_H = 0`` and, for ``h = H-1, ..., 0``,
    ``Q*_h(s, a) = R_h(s, a) + sum_{s'} P_h(s'|s, a) V*_{h+1}(s')``,
    ``V*_h = max_a Q*_h``, ``pi*_h = argmax_a Q*_h`` (first maximiser).

    Returns ``values (H+1, S)`` (``values[H] = 0``), ``q (H, S, A)``,
    ``policy (H, S)``; ``error_bound = 0`` (exact up to rounding).
    """
    check_model(mdp, TabularMDP, "backward_induction")
    if mdp.horizon is None:
        raise ValueError(
            f"backward_induction needs a finite-horizon model; this one is discounted "
            f"(gamma={mdp.gamma}): use value_iteration, policy_iteration or solve_lp"
        )
    check_value_range(mdp.R, horizon=mdp.horizon, fn="backward_induction")
    H, S, A = mdp.horizon, mdp.S, mdp.A
    values = np.zeros((H + 1, S))
    Q = np.empty((H, S, A))
    policy = np.empty((H, S), dtype=np.int64)
    stationary = mdp.stationary
    stage = BellmanOperator(mdp, 0, gamma=1.0) if stationary else None
    for h in range(H - 1, -1, -1):
        st = stage if stationary else BellmanOperator(mdp, h, gamma=1.0)
        st.q(values[h + 1], Q[h], values[h], policy[h])
    return PlanningResult(values, Q, policy, H, 0.0, "backward_induction",
                          "exact recursion over H stages", init=mdp.init)

"""Exact solvers for known models; every one returns a :class:`PlanningResult`.

* :func:`value_iteration`, :func:`policy_iteration`,
  :func:`modified_policy_iteration`, :func:`solve_lp`: discounted models;
  :func:`solve_lp` also does finite horizon.
* :func:`backward_induction`: finite horizon, stationary or stage-dependent.
* :func:`evaluate_policy`: exact ``V^pi``, ``Q^pi`` of any policy.
* :func:`solve`: picks a certified route automatically.

Value shapes: discounted ``(S,)``; finite horizon ``(H+1, S)`` with
``values[H] = 0``.
"""

from mdplab.planning.discounted import (
    modified_policy_iteration,
    policy_iteration,
    solve,
    value_iteration,
)
from mdplab.planning.evaluation import evaluate_policy
from mdplab.planning.finite_horizon import backward_induction
from mdplab.planning.lp import solve_lp
from mdplab.planning.operator import BellmanOperator
from mdplab.planning.result import PlanningResult

__all__ = [
    "BellmanOperator",
    "PlanningResult",
    "backward_induction",
    "evaluate_policy",
    "modified_policy_iteration",
    "policy_iteration",
    "solve",
    "solve_lp",
    "value_iteration",
]

"""Exact solvers for known models; every one returns a :class:`PlanningResult`.

* :func:`value_iteration`, :func:`policy_iteration`,
  :func:`modified_policy_iteration`, :func:`solve_lp`: discounted models;
  :func:`solve_lp` also does finite horizon.
* :func:`backward_induction`: finite horizon, stationary or stage-dependent.
* :func:`evaluate_policy`: exact ``V^pi``, ``Q^pi`` of any policy.
* :func:`solve`: picks a certified route automatically.
* :func:`pomdp_value_iteration`: exact finite-horizon POMDP planning (alpha
  vectors, incremental pruning); :func:`pbvi`: point-based VI for discounted
  POMDPs with certified lower and upper bounds; :func:`evaluate_controller`,
  :func:`evaluate_belief_policy`: exact values of POMDP policies.

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
from mdplab.planning.pomdp import (
    ControllerValue,
    FiniteStateController,
    PBVIResult,
    POMDPPlanningResult,
    QValueBound,
    evaluate_belief_policy,
    evaluate_controller,
    fib_bound,
    pbvi,
    pomdp_value_iteration,
    prune_alpha_vectors,
    qmdp_bound,
)
from mdplab.planning.result import PlanningResult

__all__ = [
    "BellmanOperator",
    "ControllerValue",
    "FiniteStateController",
    "PBVIResult",
    "POMDPPlanningResult",
    "PlanningResult",
    "QValueBound",
    "backward_induction",
    "evaluate_belief_policy",
    "evaluate_controller",
    "evaluate_policy",
    "fib_bound",
    "modified_policy_iteration",
    "pbvi",
    "policy_iteration",
    "pomdp_value_iteration",
    "prune_alpha_vectors",
    "qmdp_bound",
    "solve",
    "solve_lp",
    "value_iteration",
]

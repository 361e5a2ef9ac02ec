"""Exact solvers of action-grouped MDPs (the model: :mod:`mdplab.models.grouped`).

With ``M_g = grouped.grouped_mdp()`` the lifted MDP on actions = groups and
``lift(pi_g)`` a group policy executed in the original ``M``:

* :func:`grouped_optimal_group_policy`: an optimal deterministic policy
  ``pi_g*`` of ``M_g`` (policy iteration, or backward induction for a finite
  horizon);
* :func:`grouped_approximation_loss`: ``V*_M(init) - V^{lift pi_g*}_M(init)``,
  exact (``V*_M`` by exact planning, the lifted policy evaluated exactly in ``M``).

The bound ``A(g)`` on this loss needs no solve and stays on the model
(:meth:`~mdplab.models.GroupedMDP.loss_bound`). Each function is also a method of
:class:`~mdplab.models.GroupedMDP` under the name without the ``grouped_``
prefix (``grouped.approximation_loss()``), attached by
:mod:`mdplab.planning._model_methods`.
"""

from __future__ import annotations

import numpy as np

from mdplab.models._validation import check_real
from mdplab.models.grouped import GroupedMDP
from mdplab.models.tabular import TabularMDP
from mdplab.planning.discounted import policy_iteration
from mdplab.planning.evaluation import evaluate_policy
from mdplab.planning.finite_horizon import backward_induction
from mdplab.planning.result import PlanningResult

__all__ = ["grouped_approximation_loss", "grouped_optimal_group_policy"]


def _check_grouped(grouped) -> GroupedMDP:
    if not isinstance(grouped, GroupedMDP):
        raise TypeError(f"expected a GroupedMDP; got {type(grouped).__name__}")
    return grouped


def _solve_exact(mdp: TabularMDP) -> PlanningResult:
    return policy_iteration(mdp) if mdp.discounted else backward_induction(mdp)


def grouped_optimal_group_policy(grouped: GroupedMDP) -> np.ndarray:
    """An optimal deterministic policy ``pi_g*`` of the grouped MDP: ``(S,)`` or ``(H, S)``."""
    return _solve_exact(_check_grouped(grouped).grouped_mdp()).policy


def grouped_approximation_loss(grouped: GroupedMDP, optimal_value: float | None = None) -> float:
    """Exact ``V*_M(init) - V^{lift pi_g*}_M(init)`` with ``pi_g*`` optimal in ``M_g``.

    ``V*`` comes from exact planning (policy iteration, or backward induction for a
    finite horizon); the lifted policy is evaluated exactly in the original ``M``.
    Non-negative up to rounding (~1e-12). Pass ``optimal_value = V*_M(init)`` to
    reuse it across many groupings of one model.
    """
    _check_grouped(grouped)
    if optimal_value is None:
        best = _solve_exact(grouped.mdp).initial_value
    else:
        best = check_real(optimal_value, "optimal_value")
    lifted_pi = grouped.lift_policy(grouped_optimal_group_policy(grouped))
    return best - evaluate_policy(grouped.mdp, lifted_pi).initial_value

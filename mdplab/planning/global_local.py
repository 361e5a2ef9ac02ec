"""Exact solvers and evaluators of global-local systems (model: :mod:`mdplab.models.global_local`).

Everything is computed on the count MDP ``system.count_mdp()`` (states ``(s_g,
N)``, index ``s_g * M + rank(N)``), an exact lumping of the joint MDP, so each
result is a :class:`~mdplab.planning.PlanningResult` of that count MDP:

* :func:`global_local_solve`: ``V*`` on count states (certified value
  iteration, policy iteration, or :func:`mdplab.planning.solve`);
  :func:`global_local_optimal_values`: the same values as an ``(S_g, M)`` array;
* :func:`global_local_evaluate`: exact ``V^pi`` of a policy on the counts of all
  ``n`` agents;
* :func:`global_local_evaluate_subsample`: exact value of SUB-SAMPLE-Q execution
  of a table ``pi_k`` on the counts of ``k`` agents.

Where the conversions live. The policy SUB-SAMPLE-Q execution induces on counts,
``pi(a | s_g, N) = sum_F Hyp(F; N, k) pi_k(a | s_g, F)``
(:meth:`~mdplab.models.GlobalLocalSystem.subsample_policy`), and the law
``Hyp(F; N, k)`` itself (:meth:`~mdplab.models.GlobalLocalSystem.hypergeometric_law`)
stay on the model: they rewrite a policy of one representation (a table on
``k``-agent counts) as a policy of another (a stochastic policy on ``n``-agent
counts), exactly as ``count_mdp()`` rewrites the joint model, and solve nothing.
This module evaluates the converted policy.

Each function is also a method of :class:`~mdplab.models.GlobalLocalSystem`
under the name without the ``global_local_`` prefix (``system.solve()``,
``system.evaluate_subsample(pi_k, k)``), attached by
:mod:`mdplab.planning._model_methods`.
"""

from __future__ import annotations

import numpy as np

from mdplab.models.global_local import GlobalLocalSystem
from mdplab.planning.discounted import policy_iteration, solve, value_iteration
from mdplab.planning.evaluation import evaluate_policy
from mdplab.planning.result import PlanningResult

__all__ = [
    "global_local_evaluate",
    "global_local_evaluate_subsample",
    "global_local_optimal_values",
    "global_local_solve",
]


def _check_system(system) -> GlobalLocalSystem:
    if not isinstance(system, GlobalLocalSystem):
        raise TypeError(f"expected a GlobalLocalSystem; got {type(system).__name__}")
    return system


def global_local_solve(
    system: GlobalLocalSystem, eps: float = 1e-8, method: str = "auto"
) -> PlanningResult:
    """Optimal values of the count MDP: a :class:`~mdplab.planning.PlanningResult`.

    ``method``: ``"auto"`` (:func:`mdplab.planning.solve`), ``"value_iteration"``
    (certified to ``eps``) or ``"policy_iteration"``. ``values`` is ``V*`` on count
    states (reshape to ``(S_g, M)``), ``initial_value`` the value of the initial law.
    """
    mdp = _check_system(system).count_mdp()
    if method == "auto":
        return solve(mdp, eps)
    if method == "value_iteration":
        return value_iteration(mdp, eps)
    if method == "policy_iteration":
        return policy_iteration(mdp)
    raise ValueError(
        f"method must be 'auto', 'value_iteration' or 'policy_iteration'; got {method!r}"
    )


def global_local_optimal_values(system: GlobalLocalSystem, eps: float = 1e-8) -> np.ndarray:
    """``V*(s_g, N)`` as an ``(S_g, M)`` array (certified to ``eps``)."""
    return global_local_solve(system, eps).values.reshape(system.S_g, system.n_counts)


def global_local_evaluate(system: GlobalLocalSystem, policy) -> PlanningResult:
    """Exact ``V^pi`` of a policy on count states (a PlanningResult of the count MDP).

    ``policy``: deterministic ``(S_g, M)`` / ``(S_g*M,)`` integer, or stochastic
    ``(S_g, M, A_g)`` / ``(S_g*M, A_g)``.
    """
    pi = _check_system(system).count_policy(policy)
    det = np.asarray(policy)
    if np.issubdtype(det.dtype, np.integer):
        return evaluate_policy(system.count_mdp(), det.reshape(-1).astype(np.int64))
    return evaluate_policy(system.count_mdp(), pi.reshape(-1, system.A_g))


def global_local_evaluate_subsample(system: GlobalLocalSystem, pi_k, k: int) -> PlanningResult:
    """Exact value of SUB-SAMPLE-Q execution of ``pi_k`` on the counts of ``k`` agents.

    The induced count policy is ``system.subsample_policy(pi_k, k)`` (a
    conversion on the model, see the module docstring); its value is computed
    by an exact linear solve on the count MDP.
    """
    pi = _check_system(system).subsample_policy(pi_k, k)
    return evaluate_policy(system.count_mdp(), pi.reshape(-1, system.A_g))

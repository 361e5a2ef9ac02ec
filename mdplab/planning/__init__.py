"""Exact solvers and evaluators for known models (the planning layer: above models,
below algorithms). The MDP solvers return a :class:`PlanningResult`.

* :func:`value_iteration`, :func:`policy_iteration`,
  :func:`modified_policy_iteration`, :func:`solve_lp`: discounted models;
  :func:`solve_lp` also does finite horizon.
* :func:`backward_induction`: finite horizon, stationary or stage-dependent.
* :func:`solve_cvar`, :func:`cvar_of_policy`, :func:`return_distribution`:
  exact CVaR planning (Bauerle-Ott budget DP) and exact return laws
  (:mod:`~mdplab.planning.cvar`).
* :func:`evaluate_policy`: exact ``V^pi``, ``Q^pi`` of any policy.
* :func:`solve`: picks a certified route automatically.
* :func:`pomdp_value_iteration`: exact finite-horizon POMDP planning (alpha
  vectors, incremental pruning); :func:`pbvi`: point-based VI for discounted
  POMDPs with certified lower and upper bounds; :func:`evaluate_controller`,
  :func:`evaluate_belief_policy`: exact values of POMDP policies.
* :mod:`~mdplab.planning.psr`: exact planning over the history tree of a POMDP
  or PSR (:class:`HistoryPolicy`, :func:`history_probabilities`,
  :func:`history_rewards`, :func:`maximize_over_histories`,
  :func:`history_policy_value`, :func:`optimal_history_policy`,
  :func:`max_tv_distance`).

Structured models, one module per family (named as its model module), every
function named ``<family>_<quantity>`` and taking the model first:

* :mod:`~mdplab.planning.latent` (:class:`~mdplab.models.LatentMDP`):
  :func:`latent_context_values`, :func:`latent_policy_value`,
  :func:`latent_context_optimal`, :func:`latent_oracle_value`,
  :func:`latent_reachable`, :func:`latent_best_markov_policy`,
  :func:`latent_solve_belief`, :func:`latent_optimal_value`,
  :func:`latent_return_variance`, :func:`latent_var_star`;
* :mod:`~mdplab.planning.global_local` (:class:`~mdplab.models.GlobalLocalSystem`):
  :func:`global_local_solve`, :func:`global_local_optimal_values`,
  :func:`global_local_evaluate`, :func:`global_local_evaluate_subsample`;
* :mod:`~mdplab.planning.grouped` (:class:`~mdplab.models.GroupedMDP`):
  :func:`grouped_optimal_group_policy`, :func:`grouped_approximation_loss`;
* :mod:`~mdplab.planning.lowrank` (low-rank, linear, block and linear-mixture
  MDPs): :func:`lowrank_backward_induction`, :func:`lowrank_value_iteration`.
* :mod:`~mdplab.planning.linear_mixture` (occupancy measures, HF-O2PS):
  :func:`occupancy_measure`, :func:`occupancy_policy`, :func:`occupancy_kernel`,
  :func:`flow_residual`, :func:`best_fixed_policy`, :func:`mirror_step_cvxpy`,
  :func:`mirror_step_known`.

Each is also a method of its model named without the family prefix
(``lmdp.best_markov_policy()``, ``system.solve()``), attached by
:mod:`mdplab.planning._model_methods`: models never import planning.

Value shapes: discounted ``(S,)``; finite horizon ``(H+1, S)`` with
``values[H] = 0``.
"""

from mdplab.planning.cvar import (
    CVaRResult,
    ReturnDistribution,
    cvar_of_policy,
    cvar_of_samples,
    return_distribution,
    solve_cvar,
    solve_cvar_with_bonus,
)
from mdplab.planning.discounted import (
    modified_policy_iteration,
    policy_iteration,
    solve,
    value_iteration,
)
from mdplab.planning.evaluation import evaluate_policy
from mdplab.planning.finite_horizon import backward_induction
from mdplab.planning.global_local import (
    global_local_evaluate,
    global_local_evaluate_subsample,
    global_local_optimal_values,
    global_local_solve,
)
from mdplab.planning.grouped import grouped_approximation_loss, grouped_optimal_group_policy
from mdplab.planning.latent import (
    BeliefPolicy,
    MarkovSolution,
    ReturnVariance,
    latent_best_markov_policy,
    latent_context_optimal,
    latent_context_values,
    latent_optimal_value,
    latent_oracle_value,
    latent_policy_value,
    latent_reachable,
    latent_return_variance,
    latent_solve_belief,
    latent_var_star,
)
from mdplab.planning.linear_mixture import (
    MirrorStep,
    best_fixed_policy,
    flow_residual,
    mirror_step_cvxpy,
    mirror_step_known,
    occupancy_kernel,
    occupancy_measure,
    occupancy_policy,
)
from mdplab.planning.lowrank import lowrank_backward_induction, lowrank_value_iteration
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
from mdplab.planning.psr import (
    HistoryPolicy,
    history_policy_value,
    history_probabilities,
    history_rewards,
    max_tv_distance,
    maximize_over_histories,
    optimal_history_policy,
)
from mdplab.planning.result import PlanningResult

# Last: attaches the solvers above to the model classes as methods.
from mdplab.planning import _model_methods  # noqa: E402, F401  isort: skip

__all__ = [
    "BeliefPolicy",
    "BellmanOperator",
    "CVaRResult",
    "ControllerValue",
    "FiniteStateController",
    "HistoryPolicy",
    "MarkovSolution",
    "PBVIResult",
    "POMDPPlanningResult",
    "PlanningResult",
    "QValueBound",
    "ReturnDistribution",
    "ReturnVariance",
    "backward_induction",
    "cvar_of_policy",
    "cvar_of_samples",
    "evaluate_belief_policy",
    "evaluate_controller",
    "evaluate_policy",
    "fib_bound",
    "global_local_evaluate",
    "global_local_evaluate_subsample",
    "global_local_optimal_values",
    "global_local_solve",
    "grouped_approximation_loss",
    "grouped_optimal_group_policy",
    "history_policy_value",
    "history_probabilities",
    "history_rewards",
    "latent_best_markov_policy",
    "latent_context_optimal",
    "latent_context_values",
    "latent_optimal_value",
    "latent_oracle_value",
    "latent_policy_value",
    "latent_reachable",
    "latent_return_variance",
    "latent_solve_belief",
    "latent_var_star",
    "MirrorStep",
    "best_fixed_policy",
    "flow_residual",
    "mirror_step_cvxpy",
    "mirror_step_known",
    "occupancy_kernel",
    "occupancy_measure",
    "occupancy_policy",
    "lowrank_backward_induction",
    "lowrank_value_iteration",
    "max_tv_distance",
    "maximize_over_histories",
    "modified_policy_iteration",
    "optimal_history_policy",
    "pbvi",
    "policy_iteration",
    "pomdp_value_iteration",
    "prune_alpha_vectors",
    "qmdp_bound",
    "return_distribution",
    "solve",
    "solve_cvar",
    "solve_cvar_with_bonus",
    "solve_lp",
    "value_iteration",
]

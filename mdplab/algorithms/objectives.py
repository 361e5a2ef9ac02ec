"""What a learner is scored on: the objective, evaluated exactly on a policy.

A learner's curve compares the value of the policy it played (online) or
output (PAC, generative) with the optimum, both under the same objective:

* :class:`ExpectedReturn` (the default): ``J(pi) = E^pi[sum_h r_h]`` from the
  model's initial distribution (finite horizon), or ``E^pi[sum_t gamma^t r_t]``
  (discounted);
  :class:`~mdplab.models.TabularMDP` (Markov policies, deterministic or
  stochastic), :class:`~mdplab.models.LatentMDP` (Markov policies and
  history-dependent belief policies, against the history-dependent optimum)
  and finite-horizon :class:`~mdplab.models.POMDP` (controllers and belief
  policies, against the exact alpha-vector optimum) are known;
* families add their own (a CVaR learner is scored by ``CVaR_tau`` of the
  return) as new :class:`Objective` instances.

An objective knows, per model class, how to compute the optimum and the exact
value of a policy; families register the evaluators of their models with
:meth:`Objective.register` (e.g. the latent-MDP module registers its
history-dependent optimum and its belief-policy evaluator), so the learner
protocol never needs to know which model it runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mdplab.models import POMDP, LatentMDP, TabularMDP
from mdplab.planning import (
    BeliefPolicy,
    FiniteStateController,
    HistoryPolicy,
    backward_induction,
    evaluate_belief_policy,
    evaluate_controller,
    evaluate_policy,
    history_policy_value,
    latent_optimal_value,
    latent_policy_value,
    latent_return_variance,
    optimal_history_policy,
    pomdp_value_iteration,
    solve,
)

Evaluator = Callable[[object, object], float]


@dataclass(frozen=True)
class _Entry:
    optimum: Callable[[object], float]
    value: Evaluator


@dataclass(frozen=True)
class Objective:
    """An evaluation criterion with per-model-class exact evaluators.

    ``optimum(model)`` is ``max_pi J(pi)`` over the policy class the learners
    compete with; ``value(model, policy)`` is ``J(policy)``, exactly.
    """

    name: str
    _table: dict = field(default_factory=dict, repr=False, compare=False)

    def register(self, model_class: type, optimum: Callable[[object], float],
                 value: Evaluator) -> None:
        """Teach this objective a model class (the most specific class wins)."""
        self._table[model_class] = _Entry(optimum, value)

    def _entry(self, model) -> _Entry:
        for klass in type(model).__mro__:
            if klass in self._table:
                return self._table[klass]
        known = ", ".join(sorted(k.__name__ for k in self._table)) or "(none)"
        raise TypeError(f"objective {self.name!r} cannot evaluate a {type(model).__name__}; "
                        f"it knows: {known}")

    def optimum(self, model) -> float:
        return float(self._entry(model).optimum(model))

    def value(self, model, policy) -> float:
        return float(self._entry(model).value(model, policy))


def _tabular_optimum(mdp: TabularMDP) -> float:
    if mdp.horizon is not None:
        return backward_induction(mdp).initial_value
    # The value of the returned optimal policy, evaluated like any other policy,
    # so J* - J(pi) is exactly 0 for it (solve's values are certified to eps only).
    return evaluate_policy(mdp, solve(mdp).policy).initial_value


def _tabular_value(mdp: TabularMDP, policy) -> float:
    """Exact ``J(pi)`` of a deterministic ``(H, S)`` / ``(S,)`` int or a
    stochastic ``(H, S, A)`` / ``(S, A)`` float Markov policy."""
    return evaluate_policy(mdp, np.asarray(policy)).initial_value


def _latent_value(lmdp: LatentMDP, policy) -> float:
    """A Markov policy (array) or a history-dependent :class:`BeliefPolicy`."""
    if isinstance(policy, BeliefPolicy):
        return float(lmdp.weights @ latent_return_variance(lmdp, policy).context_means)
    return latent_policy_value(lmdp, policy)


def _pomdp_optimum(pomdp: POMDP) -> float:
    """Exact alpha-vector value at ``b0`` (finite horizon); discounted models
    are refused rather than answered with PBVI's bracket."""
    if pomdp.horizon is None:
        raise ValueError("the optimum of a discounted POMDP is only bracketed (mdplab.planning."
                         "pbvi gives certified bounds); score learners on a finite-horizon POMDP")
    return pomdp_value_iteration(pomdp).value(pomdp.b0)


def _pomdp_value(pomdp: POMDP, policy) -> float:
    """A :class:`FiniteStateController`, a :class:`HistoryPolicy` (exact recursion
    over the history tree) or a belief policy ``policy(belief, stage)``."""
    if isinstance(policy, HistoryPolicy):
        return history_policy_value(pomdp, policy)
    if isinstance(policy, FiniteStateController):
        return evaluate_controller(pomdp, policy).value()
    if callable(policy):
        return evaluate_belief_policy(pomdp, policy)
    raise TypeError("a POMDP policy must be a FiniteStateController or a callable "
                    f"policy(belief, stage); got {type(policy).__name__}")


EXPECTED_RETURN = Objective("expected-return")
"""The expected total (or discounted) reward; the default objective."""
EXPECTED_RETURN.register(TabularMDP, _tabular_optimum, _tabular_value)
# Latent MDPs: learners compete with the history-dependent optimum.
EXPECTED_RETURN.register(LatentMDP, latent_optimal_value, _latent_value)
EXPECTED_RETURN.register(POMDP, _pomdp_optimum, _pomdp_value)


def _pomdp_history_optimum(pomdp: POMDP) -> float:
    """The optimum over history-dependent policies by the history-tree recursion
    (:func:`~mdplab.planning.optimal_history_policy`; equal to the belief DP)."""
    if pomdp.horizon is None:
        raise ValueError("history-tree planning needs a finite-horizon POMDP; this one is "
                         f"discounted (gamma={pomdp.gamma})")
    return optimal_history_policy(pomdp, pomdp.horizon)[0]


HISTORY_EXPECTED_RETURN = Objective("expected-return")
"""The expected return on finite-horizon POMDPs with the optimum computed over the
history tree (small ``(A O)^H``), for the PSR learners whose outputs are
:class:`~mdplab.planning.HistoryPolicy` objects: optimum and value come from the
same history-tree quantities, so an optimal output scores 0 up to round-off (~1e-15)."""
HISTORY_EXPECTED_RETURN.register(POMDP, _pomdp_history_optimum, _pomdp_value)


def ExpectedReturn() -> Objective:  # noqa: N802 - reads as a type at call sites
    """The shared expected-return objective (one registry of evaluators)."""
    return EXPECTED_RETURN

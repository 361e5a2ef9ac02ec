"""What a learner is scored on: the objective, evaluated exactly on a policy.

A learner's curve compares the value of the policy it played (online) or
output (PAC, generative) with the optimum, both under the same objective:

* :class:`ExpectedReturn` (the default): ``J(pi) = E^pi[sum_h r_h]`` from the
  model's initial distribution (finite horizon), or ``E^pi[sum_t gamma^t r_t]``
  (discounted);
* families add their own (a CVaR learner is scored by ``CVaR_tau`` of the
  return), subclassing :class:`Objective`.

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

from mdplab.models import TabularMDP
from mdplab.planning import backward_induction, evaluate_policy, solve

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
    return solve(mdp).initial_value


def _tabular_value(mdp: TabularMDP, policy) -> float:
    """Exact ``J(pi)`` of a deterministic ``(H, S)`` / ``(S,)`` int or a
    stochastic ``(H, S, A)`` / ``(S, A)`` float Markov policy."""
    return evaluate_policy(mdp, np.asarray(policy)).initial_value


EXPECTED_RETURN = Objective("expected-return")
"""The expected total (or discounted) reward; the default objective."""
EXPECTED_RETURN.register(TabularMDP, _tabular_optimum, _tabular_value)


def ExpectedReturn() -> Objective:  # noqa: N802 - reads as a type at call sites
    """The shared expected-return objective (one registry of evaluators)."""
    return EXPECTED_RETURN

"""The structured models' solver methods, attached from the planning layer.

Models sit below planning and never import it, so the exact solvers of a
family live in ``mdplab/planning/<family>.py`` as functions of the model. For
convenience (and for code written before the split) each is also a method of
its model class, with the original signature: ``lmdp.best_markov_policy()`` is
``latent_best_markov_policy(lmdp)``, ``system.solve()`` is
``global_local_solve(system)``, ``grouped.approximation_loss()`` is
``grouped_approximation_loss(grouped)``, ``lowrank.backward_induction()`` is
``lowrank_backward_induction(lowrank)``. The rule: method ``X`` of a model of
family ``F`` is the planning function ``F_X``.

This module attaches the methods; :mod:`mdplab.planning` imports it last, and
``import mdplab`` imports :mod:`mdplab.planning`, so they exist whenever any part
of mdplab is loaded. The result types that moved to planning
(:class:`~mdplab.planning.latent.MarkovSolution`,
:class:`~mdplab.planning.latent.ReturnVariance` and the size guards) also stay
reachable under their old names in :mod:`mdplab.models.latent`.
"""

from __future__ import annotations

from collections.abc import Callable

from mdplab.models import latent as _latent_models
from mdplab.models.global_local import GlobalLocalSystem
from mdplab.models.grouped import GroupedMDP
from mdplab.models.latent import LatentMDP
from mdplab.models.lowrank import LinearMixtureMDP, LowRankMDP
from mdplab.planning import global_local as _gl
from mdplab.planning import grouped as _grouped
from mdplab.planning import latent as _latent
from mdplab.planning import lowrank as _lowrank

__all__: list[str] = []

ATTACHED: dict[str, list[str]] = {}
"""``{model class name: [method names attached here]}`` (read by the tests)."""


def _summary(doc: str | None) -> str:
    """The first paragraph of a docstring, on one logical block."""
    return (doc or "").strip().split("\n\n")[0]


def _method(classes, solver: Callable) -> Callable:
    """Attach the decorated wrapper to every class in ``classes`` under its own name."""
    classes = classes if isinstance(classes, tuple) else (classes,)

    def attach(wrapper: Callable) -> Callable:
        name = wrapper.__name__
        wrapper.__doc__ = (
            f"{_summary(solver.__doc__)}\n\n"
            f"Convenience method; the solver is mdplab.planning.{solver.__name__} "
            f"(``{solver.__name__}(model, ...)``, same arguments), which documents it."
        )
        for cls in classes:
            if name in vars(cls):
                raise RuntimeError(f"{cls.__name__}.{name} is already defined; not overwriting it")
            setattr(cls, name, wrapper)
            ATTACHED.setdefault(cls.__name__, []).append(name)
        wrapper.__qualname__ = f"{classes[0].__name__}.{name}"
        return wrapper

    return attach


# ------------------------------------------------------------------- LatentMDP
@_method(LatentMDP, _latent.latent_context_values)
def context_values(self, policy):
    return _latent.latent_context_values(self, policy)


@_method(LatentMDP, _latent.latent_policy_value)
def policy_value(self, policy):
    return _latent.latent_policy_value(self, policy)


@_method(LatentMDP, _latent.latent_context_optimal)
def context_optimal(self):
    return _latent.latent_context_optimal(self)


@_method(LatentMDP, _latent.latent_oracle_value)
def oracle_value(self):
    return _latent.latent_oracle_value(self)


@_method(LatentMDP, _latent.latent_reachable)
def reachable(self):
    return _latent.latent_reachable(self)


@_method(LatentMDP, _latent.latent_best_markov_policy)
def best_markov_policy(
    self, *, method: str = "branch_and_bound", max_policies: int = _latent.DEFAULT_MAX_POLICIES
):
    return _latent.latent_best_markov_policy(self, method=method, max_policies=max_policies)


@_method(LatentMDP, _latent.latent_solve_belief)
def solve_belief(
    self, *, observe_rewards: bool = True, max_nodes: int = _latent.DEFAULT_MAX_NODES
):
    return _latent.latent_solve_belief(
        self, observe_rewards=observe_rewards, max_nodes=max_nodes
    )


@_method(LatentMDP, _latent.latent_optimal_value)
def optimal_value(
    self, *, observe_rewards: bool = True, max_nodes: int = _latent.DEFAULT_MAX_NODES
):
    return _latent.latent_optimal_value(
        self, observe_rewards=observe_rewards, max_nodes=max_nodes
    )


@_method(LatentMDP, _latent.latent_return_variance)
def return_variance(self, policy):
    return _latent.latent_return_variance(self, policy)


@_method(LatentMDP, _latent.latent_var_star)
def var_star(self, *, observe_rewards: bool = True, max_nodes: int = _latent.DEFAULT_MAX_NODES):
    return _latent.latent_var_star(self, observe_rewards=observe_rewards, max_nodes=max_nodes)


# Old names of the solver outputs and size guards, kept in the model module.
for _name in ("MarkovSolution", "ReturnVariance", "DEFAULT_MAX_NODES", "DEFAULT_MAX_POLICIES"):
    setattr(_latent_models, _name, getattr(_latent, _name))
del _name


# ----------------------------------------------------------- GlobalLocalSystem
@_method(GlobalLocalSystem, _gl.global_local_solve)
def solve(self, eps: float = 1e-8, method: str = "auto"):
    return _gl.global_local_solve(self, eps, method)


@_method(GlobalLocalSystem, _gl.global_local_optimal_values)
def optimal_values(self, eps: float = 1e-8):
    return _gl.global_local_optimal_values(self, eps)


@_method(GlobalLocalSystem, _gl.global_local_evaluate)
def evaluate(self, policy):
    return _gl.global_local_evaluate(self, policy)


@_method(GlobalLocalSystem, _gl.global_local_evaluate_subsample)
def evaluate_subsample(self, pi_k, k: int):
    return _gl.global_local_evaluate_subsample(self, pi_k, k)


# ------------------------------------------------------------------ GroupedMDP
@_method(GroupedMDP, _grouped.grouped_optimal_group_policy)
def optimal_group_policy(self):
    return _grouped.grouped_optimal_group_policy(self)


@_method(GroupedMDP, _grouped.grouped_approximation_loss)
def approximation_loss(self, optimal_value: float | None = None):
    return _grouped.grouped_approximation_loss(self, optimal_value)


# ------------------------------------------- LowRankMDP (+ Linear, Block) and LinearMixtureMDP
@_method((LowRankMDP, LinearMixtureMDP), _lowrank.lowrank_backward_induction)
def backward_induction(self):
    return _lowrank.lowrank_backward_induction(self)


@_method((LowRankMDP, LinearMixtureMDP), _lowrank.lowrank_value_iteration)
def value_iteration(
    self, eps: float = 1e-8, *, max_iter=None, stopping_rule="bounds", V0=None
):
    return _lowrank.lowrank_value_iteration(
        self, eps, max_iter=max_iter, stopping_rule=stopping_rule, V0=V0
    )


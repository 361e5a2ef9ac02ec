"""The learner protocol: one ``run`` and one curve type for every model class.

A :class:`Learner` declares

* ``model_class``: the model type (or tuple of types) it learns on;
* ``guarantee``: the kind of theorem it has, which fixes its curve:

  =============  ============  =================  =========================================
  guarantee      budget axis   metric             metric at budget ``b``
  =============  ============  =================  =========================================
  ``online``     episodes      ``regret``         ``sum_{k <= b} J* - J(pi_k)``, pi_k played
  ``pac``        episodes      ``suboptimality``  ``J* - J(pi_hat_b)``, pi_hat_b output
  ``generative`` samples       ``loss``           ``J* - J(pi_hat_b)`` after ``b`` samples
  =============  ============  =================  =========================================

* ``objective``: what ``J`` is (:mod:`mdplab.algorithms.objectives`; expected
  return by default, ``CVaR_tau`` for risk-sensitive learners).

``run(model, budget, seed=..., n_seeds=...)`` returns a :class:`LearningCurve`
with the budget checkpoints, per-seed exact metric arrays, the realized
counterpart where one exists (online: the sampled return in place of
``J(pi_k)``), and ``rows()`` for the result store. "Exact" means the policy
actually played or output is evaluated exactly under the objective, whatever
its form (deterministic or stochastic, Markov, history-dependent or
budget-augmented): the learner hands the policy over and the objective
evaluates it (:class:`PolicyLearner`), or a compiled loop evaluates it in place
by the same recursion (:class:`~mdplab.algorithms.base.Algorithm`, tabular).

Seeds: stream ``i`` of ``n_seeds`` is ``stream_seeds(seed, n_seeds)[i]``
(SeedSequence), so seed ``i``'s curve is the same whether it runs alone or
among others, and whatever the thread count.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mdplab.algorithms.objectives import EXPECTED_RETURN, Objective
from mdplab.kernels.rng import stream_seeds
from mdplab.models import TabularMDP
from mdplab.models._validation import ArgumentTypeError

GUARANTEES: dict[str, tuple[str, str]] = {
    "online": ("episodes", "regret"),
    "pac": ("episodes", "suboptimality"),
    "generative": ("samples", "loss"),
}
"""guarantee -> (default budget axis, metric)."""

AXIS_COLUMNS = {"episodes": "episode", "samples": "sample", "steps": "step",
                "iterations": "iteration"}
"""Budget axis -> its column name in stored rows (one row per checkpoint)."""


@dataclass(frozen=True)
class LearningCurve:
    """One learner on one model, for several seeds, along its budget axis.

    ``values[i, j]`` is the exact metric (``regret``, ``suboptimality`` or
    ``loss``; see the module docstring) of seed ``i`` at budget
    ``budget[j]``; ``realized`` has the same shape where a realized
    counterpart exists, else None. ``extras`` holds further per-seed,
    per-checkpoint columns (e.g. the samples an iterate used). The axis and
    metric are also attributes under their own names: ``curve.episodes``,
    ``curve.regret``, ``curve.realized_regret`` (or ``curve.samples``,
    ``curve.loss``, ...).
    """

    algorithm: str
    guarantee: str
    objective: str
    axis: str
    budget: np.ndarray
    metric: str
    values: np.ndarray
    realized: np.ndarray | None
    optimal_value: float
    seeds: np.ndarray
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __getattr__(self, name: str):
        # Only called for names that are not fields: the named axes.
        if name == self.__dict__.get("axis"):
            return self.budget
        if name == self.__dict__.get("metric"):
            return self.values
        if name == f"realized_{self.__dict__.get('metric')}" and self.realized is not None:
            return self.realized
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def n_seeds(self) -> int:
        return int(self.values.shape[0])

    def final(self) -> np.ndarray:
        """Per-seed metric at the last checkpoint."""
        return self.values[:, -1]

    def rows(self, seed_index: int = 0) -> list[dict]:
        """Tidy rows of one seed (one per checkpoint) for the result store:
        ``{<axis column>: b, <metric>: v, realized_<metric>: q, <extras>...}``."""
        if not 0 <= seed_index < self.n_seeds:
            raise ValueError(f"seed_index must be in [0, {self.n_seeds}); got {seed_index}")
        col = AXIS_COLUMNS.get(self.axis, self.axis)
        out = []
        for j, b in enumerate(self.budget):
            row = {col: int(b), self.metric: float(self.values[seed_index, j])}
            if self.realized is not None:
                row[f"realized_{self.metric}"] = float(self.realized[seed_index, j])
            for key, arr in self.extras.items():
                row[key] = arr[seed_index, j].item()
            out.append(row)
        return out


@dataclass(frozen=True)
class Trace:
    """What a learner's ``_learn`` returns to the protocol (one row per seed)."""

    values: np.ndarray
    realized: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """A policy handed to the protocol by a :class:`PolicyLearner`.

    Online learners yield one per episode: the policy played and, as
    ``realized``, the episode's sampled return. PAC / generative learners
    yield one per checkpoint: the policy output after ``used`` units of
    budget. ``extras`` are stored beside the metric at checkpoints.
    """

    policy: object
    realized: float | None = None
    used: int | None = None
    extras: Mapping[str, float] = field(default_factory=dict)


def check_integer(name: str, value, low: int | None = None) -> int:
    """An integer hyperparameter or budget (bools and fractional floats rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ArgumentTypeError(f"{name} must be an integer; got {value!r}")
    if isinstance(value, (float, np.floating)) and (not np.isfinite(value)
                                                    or int(value) != value):
        raise ArgumentTypeError(f"{name} must be an integer; got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}; got {value!r}")
    return v


class Learner(ABC):
    """Base class of every learner (see the module docstring).

    Subclasses set the class attributes below, validate hyperparameters in
    ``__init__`` (``ValueError`` naming the argument), may refine
    :meth:`check_model`, and implement :meth:`_learn`. For
    :func:`~mdplab.algorithms.check_algorithm` they declare ``check_kwargs``
    (fast hyperparameters), ``invalid_kwargs`` (``(kwargs, message regex)``
    pairs that must raise ``ValueError``), ``expect_progress`` (False for a
    baseline without a guarantee) and :meth:`check_models` (tiny instances).
    """

    name = "learner"
    model_class: type | tuple[type, ...] = TabularMDP
    guarantee = "online"
    budget_axis: str | None = None
    objective: Objective = EXPECTED_RETURN
    check_kwargs: dict = {}
    invalid_kwargs: tuple = ()
    expect_progress = True
    check_budget = 3000

    def params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    @property
    def axis(self) -> str:
        return self.budget_axis or GUARANTEES[self.guarantee][0]

    @property
    def metric(self) -> str:
        return GUARANTEES[self.guarantee][1]

    @classmethod
    def check_models(cls) -> list[tuple[str, object]]:
        """``(label, model)`` tiny instances the conformance suite learns on."""
        from mdplab.algorithms.conformance import tiny_mdp

        return [("stationary", tiny_mdp()), ("stage-dependent", tiny_mdp(stage_dependent=True))]

    def check_model(self, model) -> None:
        """Reject a model of the right class that this learner cannot learn
        (``ValueError`` saying why); the class itself is checked by ``run``."""
        return None

    def run(self, model, budget: int, *, seed=0, n_seeds: int = 1,
            checkpoint_every: int | None = None) -> LearningCurve:
        """Learn on ``model`` with ``budget`` units of the budget axis, for
        ``n_seeds`` independent seeds; checkpoints every ``checkpoint_every``
        units (default ``ceil(budget / 100)``) and at ``budget``."""
        classes = self.model_class if isinstance(self.model_class, tuple) else (self.model_class,)
        if not isinstance(model, classes):
            expected = " or ".join(c.__name__ for c in classes)
            raise TypeError(f"{self.name} learns on a {expected}; got {type(model).__name__}")
        if self.guarantee not in GUARANTEES:
            raise ValueError(f"{type(self).__name__}.guarantee must be one of "
                             f"{sorted(GUARANTEES)}; got {self.guarantee!r}")
        self.check_model(model)
        K = check_integer(f"budget ({self.axis})", budget, 1)
        n = check_integer("n_seeds", n_seeds, 1)
        every = checkpoint_every if checkpoint_every is not None else max(1, -(-K // 100))
        every = check_integer("checkpoint_every", every, 1)
        checkpoints = np.minimum(np.arange(1, -(-K // every) + 1) * every, K)
        seeds = stream_seeds(seed, n)
        optimum = self.objective.optimum(model)
        trace = self._learn(model, K, every, checkpoints, seeds, optimum)
        shape = (n, checkpoints.size)
        values = _checked(self.name, "values", trace.values, shape)
        realized = None if trace.realized is None else _checked(self.name, "realized",
                                                                trace.realized, shape)
        reserved = {AXIS_COLUMNS.get(self.axis, self.axis), self.axis, self.metric,
                    f"realized_{self.metric}"} | set(LearningCurve.__dataclass_fields__)
        extras = {}
        for key, arr in trace.extras.items():
            if key in reserved:
                raise RuntimeError(f"{self.name}: extra column {key!r} would shadow a curve "
                                   f"field or column; rename it")
            extras[key] = _checked(self.name, f"extra {key!r}", arr, shape)
        return LearningCurve(self.name, self.guarantee, self.objective.name, self.axis,
                             checkpoints, self.metric, values, realized, float(optimum),
                             seeds, extras)

    @abstractmethod
    def _learn(self, model, budget: int, every: int, checkpoints: np.ndarray,
               seeds: np.ndarray, optimum: float) -> Trace:
        """Learn once per seed; return the metric at each checkpoint."""


class PolicyLearner(Learner):
    """A learner written in Python that hands its policies to the protocol.

    Implement :meth:`policies`, a generator of :class:`Snapshot`: online, one
    per episode (the policy played, its realized return); PAC / generative,
    one per checkpoint (the policy output, with ``used`` the budget consumed
    so far, which must not exceed the checkpoint). The protocol evaluates each
    policy exactly with ``objective.value`` (re-using the last value when the
    same policy is played again) and builds the curve. Hot inner loops belong
    in numba kernels that ``policies`` calls.
    """

    @abstractmethod
    def policies(self, model, budget: int, checkpoints: np.ndarray,
                 seed: int) -> Iterable[Snapshot]:
        """Learn with one seed (an integer for ``np.random.default_rng``)."""

    def _learn(self, model, budget, every, checkpoints, seeds, optimum) -> Trace:
        n, c = seeds.size, checkpoints.size
        values = np.zeros((n, c))
        realized = np.zeros((n, c)) if self.guarantee == "online" else None
        extras: dict[str, np.ndarray] = {}
        for i, s in enumerate(seeds):
            self._learn_one(model, budget, checkpoints, int(s), optimum, i, values, realized,
                            extras, n)
        return Trace(values, realized, extras)

    def _learn_one(self, model, budget, checkpoints, seed, optimum, i, values, realized,
                   extras, n):
        online = self.guarantee == "online"
        expected = budget if online else checkpoints.size
        last_policy, last_value = None, 0.0
        regret = realized_sum = 0.0
        j = count = 0
        for k, snap in enumerate(self.policies(model, budget, checkpoints, seed)):
            count = k + 1
            if k >= expected:
                raise RuntimeError(f"{self.name}.policies yielded more than {expected} "
                                   f"snapshots ({'episodes' if online else 'checkpoints'})")
            if not _same_policy(snap.policy, last_policy):
                last_value = self.objective.value(model, snap.policy)
                # A copy: a learner may update its policy array in place.
                last_policy = snap.policy.copy() if isinstance(snap.policy, np.ndarray) else None
            if online:
                regret += optimum - last_value
                if snap.realized is None:
                    raise RuntimeError(f"{self.name}: an online snapshot needs its realized "
                                       "return")
                realized_sum += optimum - snap.realized
                if k + 1 != checkpoints[j]:
                    continue
                values[i, j], realized[i, j] = regret, realized_sum
            else:
                if snap.used is not None and snap.used > checkpoints[k]:
                    raise RuntimeError(f"{self.name}: snapshot {k} used {snap.used} > budget "
                                       f"{checkpoints[k]}")
                values[i, j] = optimum - last_value
            for key, v in snap.extras.items():
                extras.setdefault(key, np.zeros((n, checkpoints.size)))[i, j] = v
            j += 1
        if j != checkpoints.size:
            raise RuntimeError(f"{self.name}.policies yielded {count} snapshots; "
                               f"expected {expected}")


def _checked(name: str, what: str, arr, shape) -> np.ndarray:
    out = np.asarray(arr, dtype=np.float64)
    if out.shape != shape:
        raise RuntimeError(f"{name}._learn returned {what} of shape {out.shape}; expected {shape}")
    return out


def _same_policy(policy, last: np.ndarray | None) -> bool:
    """Array policies equal to the last one evaluated re-use its value; any
    other policy object is evaluated afresh (it may have changed in place)."""
    return (last is not None and isinstance(policy, np.ndarray) and policy.dtype == last.dtype
            and policy.shape == last.shape and np.array_equal(policy, last))

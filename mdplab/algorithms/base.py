"""Compiled tabular online learners on the learner protocol (:class:`Algorithm`)."""

from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np

from mdplab.algorithms.objectives import EXPECTED_RETURN
from mdplab.algorithms.protocol import Learner, LearningCurve, Trace
from mdplab.models import TabularMDP

__all__ = ["Algorithm", "LearningCurve", "check_stage_dependent"]


def _check_number(name, value, low=None, high=None, low_open=False, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number; got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if integer and int(value) != value:
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}; got {value!r}")
    return int(value) if integer else v


def check_stage_dependent(value):
    """``stage_dependent`` hyperparameter: None (follow the model), True or False."""
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"stage_dependent must be None, True or False; got {value!r}")
    return value


class Algorithm(Learner):
    """A tabular online learner whose whole loop is one numba kernel.

    On the protocol of :mod:`mdplab.algorithms.protocol` with
    ``model_class = TabularMDP``, ``guarantee = "online"`` and the expected
    return as objective. The kernel plans ``pi_k``, evaluates it exactly by
    backward recursion over the true model's successor lists
    (:func:`~mdplab.algorithms.online.policy_value_lists`: the same ``J(pi_k)``
    the objective computes), plays the episode and updates its statistics,
    for every seed in ``prange``. Subclasses set ``name``, validate their
    hyperparameters in ``__init__`` and implement
    ``_run_kernel(P, R, init, H, K, every, seeds, v_star)`` returning
    ``(regret, realized_regret)`` arrays of shape ``(n_seeds, n_checkpoints)``.
    """

    name = "algorithm"
    model_class = TabularMDP
    guarantee = "online"

    def check_model(self, mdp: TabularMDP) -> None:
        # The kernel computes expected-return regret per episode: refuse to
        # label it with another objective or axis.
        if self.objective is not EXPECTED_RETURN or self.axis != "episodes":
            raise TypeError(f"{type(self).__name__}: a compiled tabular Algorithm scores the "
                            "expected return per episode; use a PolicyLearner (or a kernel "
                            f"of its own) for objective {self.objective.name!r} / axis "
                            f"{self.axis!r}")
        if mdp.horizon is None:
            raise ValueError(f"{self.name} learns finite-horizon models; this one is "
                             f"discounted (gamma={mdp.gamma}): use mdp.replace(gamma=None, "
                             "horizon=H)")

    def _learn(self, mdp, K, every, checkpoints, seeds, v_star) -> Trace:
        P = np.ascontiguousarray(mdp.stage_P())
        R = np.ascontiguousarray(mdp.stage_R())
        init = np.ascontiguousarray(mdp.init)
        regret, realized = self._run_kernel(P, R, init, mdp.horizon, K, every, seeds, v_star)
        return Trace(regret, realized)

    @abstractmethod
    def _run_kernel(self, P, R, init, H, K, every, seeds, v_star):
        """Call the learner's compiled loop; see the class docstring."""


def n_checkpoints(K: int, every: int) -> int:
    return -(-K // every)

"""The learner interface: hyperparameters, ``run`` and the learning curve it returns."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from mdplab.kernels.rng import stream_seeds
from mdplab.models import TabularMDP
from mdplab.planning import backward_induction


@dataclass(frozen=True)
class LearningCurve:
    """Cumulative regret of one learner on one model, for several seeds.

    ``regret[i, j]`` is ``sum_{k <= episodes[j]} (V*_0(init) - V^{pi_k}_0(init))``:
    the exact regret of the policies actually executed (by exact policy
    evaluation, not from sampled returns). ``realized_regret`` is the same sum
    with the episode's realized return in place of ``V^{pi_k}``.
    """

    algorithm: str
    episodes: np.ndarray
    regret: np.ndarray
    realized_regret: np.ndarray
    optimal_value: float
    seeds: np.ndarray

    def rows(self, seed_index: int = 0) -> list[dict]:
        """Tidy rows (one per checkpoint) of one seed, for the result store."""
        return [
            {"episode": int(e), "regret": float(r), "realized_regret": float(q)}
            for e, r, q in zip(self.episodes, self.regret[seed_index],
                               self.realized_regret[seed_index], strict=True)
        ]


def _check_number(name, value, low=None, high=None, low_open=False, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number; got {value!r}")
    if integer and int(value) != value:
        raise ValueError(f"{name} must be an integer; got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
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


class Algorithm(ABC):
    """Base class of tabular episodic learners.

    Subclasses set ``name``, validate their hyperparameters in ``__init__``
    and implement ``_run_kernel(P, R, init, H, K, every, seeds, v_star)``
    returning ``(regret, realized_regret)`` arrays of shape ``(n_seeds, n_ckpt)``.
    """

    name = "algorithm"

    def params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def run(self, mdp: TabularMDP, episodes: int, *, seed=0, n_seeds: int = 1,
            checkpoint_every: int | None = None) -> LearningCurve:
        """Learn for ``episodes`` episodes on ``mdp`` with ``n_seeds`` independent seeds.

        Seeds run in parallel (numba ``prange``); seed stream ``i`` is derived
        from ``seed`` with SeedSequence, so results do not depend on the
        thread count. Checkpoints every ``checkpoint_every`` episodes
        (default ``ceil(episodes / 100)``) and at the last episode.
        """
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"{self.name} needs a TabularMDP; got {type(mdp).__name__}")
        if mdp.horizon is None:
            raise ValueError(f"{self.name} learns finite-horizon models; this one is "
                             f"discounted (gamma={mdp.gamma}): use mdp.replace(gamma=None, "
                             "horizon=H)")
        K = _check_number("episodes", episodes, low=1, integer=True)
        n = _check_number("n_seeds", n_seeds, low=1, integer=True)
        every = checkpoint_every if checkpoint_every is not None else max(1, -(-K // 100))
        every = _check_number("checkpoint_every", every, low=1, integer=True)
        P = np.ascontiguousarray(mdp.stage_P())
        R = np.ascontiguousarray(mdp.stage_R())
        init = np.ascontiguousarray(mdp.init)
        v_star = backward_induction(mdp).initial_value
        seeds = stream_seeds(seed, n)
        regret, realized = self._run_kernel(P, R, init, mdp.horizon, K, every, seeds, v_star)
        n_ckpt = regret.shape[1]
        ep = np.minimum(np.arange(1, n_ckpt + 1) * every, K)
        return LearningCurve(self.name, ep, regret, realized, float(v_star), seeds)

    @abstractmethod
    def _run_kernel(self, P, R, init, H, K, every, seeds, v_star):
        """Call the learner's compiled loop; see the class docstring."""


def n_checkpoints(K: int, every: int) -> int:
    return -(-K // every)

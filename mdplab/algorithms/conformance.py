"""``check_algorithm``: the conformance suite every tabular learner must pass.

Like rlberry's ``check_agent``, it is shipped to users: a new learner is
checked with ``check_algorithm(MyLearner)`` in its tests. The class declares

* ``check_kwargs``: hyperparameters that learn quickly on a tiny MDP;
* ``invalid_kwargs``: ``(kwargs, message regex)`` pairs that must raise ``ValueError``;
* ``expect_sublinear``: False for baselines without a regret guarantee.
"""

from __future__ import annotations

import re

import numpy as np

from mdplab.models import TabularMDP


def tiny_mdp(horizon: int = 3, stage_dependent: bool = False) -> TabularMDP:
    """Two states, two actions; action 1 in state 0 reaches the rewarding state 1
    w.p. 0.8 (action 0 w.p. 0.2); state 1 pays 1 per step and is left w.p. 0.1."""
    P = np.zeros((2, 2, 2))
    P[0, 0] = [0.8, 0.2]
    P[0, 1] = [0.2, 0.8]
    P[1, 0] = [0.1, 0.9]
    P[1, 1] = [0.5, 0.5]
    R = np.array([[0.0, 0.0], [1.0, 0.5]]) / horizon
    if stage_dependent:
        P = np.stack([P if h % 2 == 0 else P[:, ::-1] for h in range(horizon)])
        R = np.stack([R if h % 2 == 0 else R[:, ::-1] for h in range(horizon)])
    return TabularMDP(P, R, horizon=horizon, name="conformance-tiny")


def check_algorithm(cls, *, kwargs: dict | None = None, episodes: int = 3000,
                    n_seeds: int = 2) -> None:
    """Raise ``AssertionError`` (with what failed) unless ``cls`` conforms.

    Checks: same seed -> identical curves; different seeds -> different;
    exact per-episode regret >= 0 (cumulative non-decreasing); regret
    sublinear on :func:`tiny_mdp` (last third's mean per-episode regret at most
    half the first third's) unless ``cls.expect_sublinear`` is False; runs on
    stationary and stage-dependent models; every ``cls.invalid_kwargs`` entry
    raises ``ValueError`` matching its message. ``kwargs`` update ``cls.check_kwargs``
    (e.g. to check another variant of the same class).
    """
    kwargs = {**getattr(cls, "check_kwargs", {}), **(kwargs or {})}
    name = cls.__name__
    for stage_dependent in (False, True):
        mdp = tiny_mdp(stage_dependent=stage_dependent)
        a = cls(**kwargs).run(mdp, episodes, seed=11, n_seeds=n_seeds)
        b = cls(**kwargs).run(mdp, episodes, seed=11, n_seeds=n_seeds)
        c = cls(**kwargs).run(mdp, episodes, seed=12, n_seeds=n_seeds)
        label = f"{name} on {'stage-dependent' if stage_dependent else 'stationary'} model"
        assert np.array_equal(a.regret, b.regret), f"{label}: same seed gave different regret"
        assert np.array_equal(a.realized_regret, b.realized_regret), \
            f"{label}: same seed gave different realized regret"
        assert not np.array_equal(a.realized_regret, c.realized_regret), \
            f"{label}: different seeds gave identical trajectories"
        steps = np.diff(np.concatenate([np.zeros((n_seeds, 1)), a.regret], axis=1), axis=1)
        assert (steps >= -1e-9).all(), f"{label}: negative exact regret {steps.min():.3g}"
        assert a.regret.shape == (n_seeds, len(a.episodes)) and a.episodes[-1] == episodes
    if getattr(cls, "expect_sublinear", True):
        curve = cls(**kwargs).run(tiny_mdp(), episodes, seed=5, n_seeds=n_seeds,
                                  checkpoint_every=episodes // 3)
        first = curve.regret[:, 0].mean()
        last = (curve.regret[:, 2] - curve.regret[:, 1]).mean()
        assert last <= 0.5 * first, (
            f"{name}: regret not sublinear on the tiny MDP (first third {first:.3g}, "
            f"last third {last:.3g})")
    for bad, pattern in getattr(cls, "invalid_kwargs", ()):
        try:
            cls(**{**kwargs, **bad})
        except ValueError as exc:
            assert re.search(pattern, str(exc)), f"{name}({bad}): message {exc!s} lacks {pattern}"
        else:
            raise AssertionError(f"{name}({bad}) was accepted; expected ValueError")

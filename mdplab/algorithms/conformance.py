"""``check_algorithm``: the conformance suite every learner must pass.

Like rlberry's ``check_agent``, it is shipped to users: a new learner is
checked with ``check_algorithm(MyLearner)`` in its tests, whatever its model
class and guarantee. The class declares (see :class:`~mdplab.algorithms.Learner`)

* ``check_kwargs``: hyperparameters that learn quickly on a tiny instance;
* ``check_models()``: the tiny instances, ``[(label, model), ...]``;
* ``check_budget``: the budget the suite learns with;
* ``invalid_kwargs``: ``(kwargs, message regex)`` pairs that must raise ``ValueError``;
* ``expect_progress``: False for baselines without a guarantee.
"""

from __future__ import annotations

import re

import numba
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


class _NotAModel:
    """Stands in for a model of a class no learner accepts."""


def _same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None
                                         and np.array_equal(a, b))


def check_algorithm(cls, *, kwargs: dict | None = None, budget: int | None = None,
                    n_seeds: int = 2, episodes: int | None = None) -> None:
    """Raise ``AssertionError`` (with what failed) unless ``cls`` conforms.

    On every instance of ``cls.check_models()``: same seed -> identical curves
    (exact and realized); different seeds -> different trajectories (the
    realized curve, or for learners without one the exact curve or the
    extras: a PAC learner whose output policy is the same for every seed on
    the tiny instance should report an estimate-dependent extra such as its
    model error); the same numbers with 1 numba thread as with all of them; the
    curve has the protocol's shape, axis and metric; the exact metric is
    non-negative (online: the cumulative regret never decreases). On the first
    instance, the curve goes the right way unless ``cls.expect_progress`` is
    False: online, the last third's regret per episode is at most half the
    first third's; PAC / generative, the last checkpoint's mean metric is at
    most half the first's (or zero). Every ``cls.invalid_kwargs`` entry raises
    ``ValueError`` matching its message, and a model of the wrong class raises
    ``TypeError`` naming the class expected. ``kwargs`` update
    ``cls.check_kwargs`` (e.g. to check another variant of the same class);
    ``budget`` (alias ``episodes``) overrides ``cls.check_budget``.
    """
    kwargs = {**getattr(cls, "check_kwargs", {}), **(kwargs or {})}
    budget = budget if budget is not None else episodes
    budget = int(budget if budget is not None else getattr(cls, "check_budget", 3000))
    name = cls.__name__
    learner = cls(**kwargs)
    models = cls.check_models()
    assert models, f"{name}.check_models() returned no instance"
    for label_model, model in models:
        label = f"{name} on {label_model}"
        a = cls(**kwargs).run(model, budget, seed=11, n_seeds=n_seeds)
        b = cls(**kwargs).run(model, budget, seed=11, n_seeds=n_seeds)
        c = cls(**kwargs).run(model, budget, seed=12, n_seeds=n_seeds)
        assert a.guarantee == learner.guarantee and a.axis == learner.axis \
            and a.metric == learner.metric, f"{label}: curve axis/metric disagree with the class"
        assert a.values.shape == (n_seeds, len(a.budget)) and a.budget[-1] == budget, \
            f"{label}: curve shape {a.values.shape}, last budget {a.budget[-1]}"
        assert np.all(np.diff(a.budget) > 0), f"{label}: budget checkpoints not increasing"
        assert np.array_equal(a.values, b.values), f"{label}: same seed gave different curves"
        assert _same(a.realized, b.realized), f"{label}: same seed gave different realized curves"
        for key in a.extras:
            assert np.array_equal(a.extras[key], b.extras[key]), \
                f"{label}: same seed gave different {key}"
        if a.realized is not None:
            differs = not np.array_equal(a.realized, c.realized)
        else:
            differs = not np.array_equal(a.values, c.values) or any(
                not np.array_equal(a.extras[k], c.extras[k]) for k in a.extras)
        assert differs, f"{label}: different seeds gave identical results"
        if n_seeds >= 2:
            ref = a.realized
            streams_differ = (not np.array_equal(ref[0], ref[1])) if ref is not None else (
                not np.array_equal(a.values[0], a.values[1])
                or any(not np.array_equal(v[0], v[1]) for v in a.extras.values()))
            assert streams_differ, f"{label}: seed streams 0 and 1 of one run are identical"
        assert np.all(np.isfinite(a.values)), f"{label}: non-finite {a.metric}"
        if a.guarantee == "online":
            steps = np.diff(np.concatenate([np.zeros((n_seeds, 1)), a.values], axis=1), axis=1)
            assert (steps >= -1e-9).all(), f"{label}: negative exact regret {steps.min():.3g}"
        else:
            assert (a.values >= -1e-9).all(), \
                f"{label}: negative exact {a.metric} {a.values.min():.3g}"
        _check_threads(cls, kwargs, model, budget, n_seeds, a, label)
    if getattr(cls, "expect_progress", True):
        _check_progress(cls, kwargs, models[0][1], budget, n_seeds, name)
    for bad, pattern in getattr(cls, "invalid_kwargs", ()):
        try:
            cls(**{**kwargs, **bad})
        except ValueError as exc:
            assert re.search(pattern, str(exc)), f"{name}({bad}): message {exc!s} lacks {pattern}"
        else:
            raise AssertionError(f"{name}({bad}) was accepted; expected ValueError")
    classes = learner.model_class if isinstance(learner.model_class, tuple) \
        else (learner.model_class,)
    try:
        learner.run(_NotAModel(), budget)
    except TypeError as exc:
        assert any(c.__name__ in str(exc) for c in classes), \
            f"{name}: wrong-model message {exc!s} does not name {classes[0].__name__}"
    else:
        raise AssertionError(f"{name} accepted a model of the wrong class")


def _check_threads(cls, kwargs, model, budget, n_seeds, reference, label) -> None:
    """The curve with one numba thread equals the curve with all of them."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = cls(**kwargs).run(model, budget, seed=11, n_seeds=n_seeds)
    finally:
        numba.set_num_threads(before)
    same = np.array_equal(one.values, reference.values) and _same(
        one.realized, reference.realized) and all(
        np.array_equal(one.extras[k], reference.extras[k]) for k in reference.extras)
    assert same, f"{label}: results depend on the thread count (1 vs {before} threads)"


def _check_progress(cls, kwargs, model, budget, n_seeds, name) -> None:
    probe = cls(**kwargs)
    if probe.guarantee == "online":
        if budget < 3:
            raise ValueError(f"check_algorithm needs a budget >= 3 for the progress check; "
                             f"got {budget}")
        curve = probe.run(model, budget, seed=5, n_seeds=n_seeds,
                          checkpoint_every=max(1, -(-budget // 3)))
        lengths = np.diff(np.concatenate([[0], curve.budget]))
        first = curve.values[:, 0].mean() / lengths[0]            # regret per episode
        last = (curve.values[:, -1] - curve.values[:, -2]).mean() / lengths[-1]
        assert last <= 0.5 * first or last <= 1e-12, (
            f"{name}: regret not sublinear on the tiny instance (per episode: first third "
            f"{first:.3g}, last third {last:.3g})")
    else:
        curve = probe.run(model, budget, seed=5, n_seeds=n_seeds,
                          checkpoint_every=max(1, -(-budget // 4)))
        first, last = curve.values[:, 0].mean(), curve.values[:, -1].mean()
        assert last <= 0.5 * first or last <= 1e-12, (
            f"{name}: {curve.metric} does not fall with the budget on the tiny instance "
            f"(first checkpoint {first:.3g}, last {last:.3g})")

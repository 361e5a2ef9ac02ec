"""MLE oracles for the PSR learners (mdplab.algorithms.psr_estimation), checked against
independent computations: per-model log-likelihoods, enumeration of hidden-state paths
for the E-step, a generic constrained optimiser for the floored M-step, and exact
history probabilities / TV distances (invariant under relabelling of hidden states)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from mdplab.algorithms.psr_estimation import (
    FiniteModelClass,
    FitResult,
    POMDPClass,
    em_estep,
    floor_rows,
)
from mdplab.envs.revealing import random_revealing_pomdp
from mdplab.envs.tiger import tiger
from mdplab.models.pomdp import POMDP
from mdplab.planning.psr import history_probabilities, max_tv_distance


def _revealing(H: int = 3) -> POMDP:
    return random_revealing_pomdp(
        n_states=2, n_observations=3, n_actions=2, horizon=H, alpha=0.5, seed=1
    )


# ------------------------------------------------------------------ finite classes
def test_finite_mle_ranks_truth_first():
    truth = _revealing()
    cls = FiniteModelClass.perturbations(truth, 12, 0.1, seed=0)
    assert len(cls) == 12 and cls.candidates[0] is truth and cls.names[0] == "truth"
    d = truth.sample(4000, seed=1)
    ll = cls.log_likelihoods(d.actions, d.observations)
    ref = [m.log_likelihood(d.actions, d.observations).sum() for m in cls.candidates]
    np.testing.assert_allclose(ll, ref, rtol=1e-12)
    fit = cls.fit(d.actions, d.observations)
    assert isinstance(fit, FitResult) and fit.index == 0 and fit.model is truth
    assert fit.log_likelihood == pytest.approx(ll[0]) and fit.history.size == 0
    assert list(cls.confidence_set(d.actions, d.observations, None, 0.0)) == [0]
    assert len(cls.confidence_set(d.actions, d.observations, None, 1e12)) == 12
    grid = FiniteModelClass.grid(lambda p: tiger(horizon=3, listen_accuracy=p),
                                 [0.6, 0.7, 0.85, 0.95])
    d = tiger(horizon=3).sample(3000, seed=2)
    assert grid.fit(d.actions, d.observations).index == 2
    assert grid.parameters == (0.6, 0.7, 0.85, 0.95)
    # ties go to the lowest index
    twin = FiniteModelClass([truth, truth])
    assert twin.fit(d.actions[:, :3] % 2, d.observations % 3).index == 0


# ------------------------------------------------------------------ EM pieces
def test_estep_matches_path_enumeration():
    m = _revealing(H=3)
    d = m.sample(4, seed=3)
    a, o = d.actions, d.observations
    lengths = np.array([3, 2, 3, 1])
    r = np.random.default_rng(0).random(a.shape)
    T, Z, b0 = np.asarray(m.T), np.asarray(m.O), np.asarray(m.b0)
    cT, cZ, c0, cR, ll = em_estep(T, Z, b0, a, o, lengths, r, True)
    S = 2
    eT, eZ, e0, eR = np.zeros_like(cT), np.zeros_like(cZ), np.zeros(S), np.zeros((S, 2))
    for i, n in enumerate(lengths):
        paths = list(itertools.product(range(S), repeat=n + 1))
        w = np.array([
            b0[p[0]] * np.prod([T[p[t], a[i, t], p[t + 1]] * Z[a[i, t], p[t + 1], o[i, t]]
                                for t in range(n)])
            for p in paths
        ])
        assert ll[i] == pytest.approx(np.log(w.sum()), rel=1e-12)
        w /= w.sum()
        for p, wp in zip(paths, w, strict=True):
            e0[p[0]] += wp
            for t in range(n):
                eT[p[t], a[i, t], p[t + 1]] += wp
                eZ[a[i, t], p[t + 1], o[i, t]] += wp
                eR[p[t], a[i, t]] += wp * r[i, t]
    for got, want in ((cT, eT), (cZ, eZ), (c0, e0), (cR, eR)):
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_floored_mstep_is_the_constrained_maximiser():
    rng = np.random.default_rng(4)
    counts = np.vstack([rng.random((3, 4)) * [[10, 0.01, 0, 3]], np.zeros((1, 4))])
    p = 0.05
    got = floor_rows(counts, p)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    assert (got >= p - 1e-15).all()
    np.testing.assert_allclose(got[3], 0.25)
    for n, q in zip(counts[:3], got[:3], strict=True):
        res = minimize(lambda x, n=n: -(n * np.log(x)).sum(), np.full(4, 0.25),
                       bounds=[(p, 1)] * 4, method="SLSQP", options={"ftol": 1e-14},
                       constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}])
        assert -(n * np.log(q)).sum() <= res.fun + 1e-9
        np.testing.assert_allclose(q, res.x, atol=1e-4)


# ------------------------------------------------------------------ EM
def test_em_is_monotone_and_recovers_history_probabilities():
    truth = _revealing()
    cls = POMDPClass(2, 2, 3, 3, restarts=2, max_iter=100)
    errors = []
    for n, seed in ((250, 5), (5000, 6)):
        d = truth.sample(n, seed=seed)
        fit = cls.fit(d.actions, d.observations, seed=0)
        h = fit.history
        assert (np.diff(h) >= -1e-9 * np.abs(h[1:])).all()  # never decreases
        assert fit.log_likelihood == pytest.approx(
            fit.model.log_likelihood(d.actions, d.observations).sum(), rel=1e-10
        )
        assert fit.index is None and (np.asarray(fit.model.T) >= cls.p_min - 1e-15).all()
        errors.append(max_tv_distance(fit.model, truth)[0])
        if n == 5000:
            again = cls.fit(d.actions, d.observations, seed=0)
            np.testing.assert_array_equal(again.model.T, fit.model.T)  # deterministic
            P, Q = history_probabilities(fit.model), history_probabilities(fit.psr(), 3)
            np.testing.assert_allclose(Q[3], P[3], atol=1e-12)
    # the comparison is invariant under relabelling the hidden states
    perm = [1, 0]
    relabelled = truth.replace(T=truth.T[perm][:, :, perm], O=truth.O[:, perm],
                               R=truth.R[perm], b0=truth.b0[perm])
    assert max_tv_distance(relabelled, truth)[0] < 1e-14
    assert errors[1] < errors[0] and errors[1] < 0.05, errors


def test_em_rewards_are_posterior_means():
    T = np.array([[[0.7, 0.3], [0.5, 0.5]], [[0.2, 0.8], [0.5, 0.5]]])
    R = np.array([[1.0, 5.0], [3.0, 7.0]])
    m = POMDP(T, np.eye(2), R, np.array([1.0, 0.0]), horizon=3)  # states observed
    d = m.sample(500, actions=[0, 0, 0], seed=7)
    cls = POMDPClass(2, 2, 2, 3, p_min=1e-6, restarts=3, max_iter=300, tol=1e-12)
    fit = cls.fit(d.actions, d.observations, rewards=d.rewards, seed=1)
    # sharp posteriors: the posterior-weighted means are the rewards, up to relabelling
    lab = [0, 1] if fit.model.b0[0] > 0.5 else [1, 0]
    np.testing.assert_allclose(fit.model.O[0][lab], np.eye(2), atol=0.01)
    np.testing.assert_allclose(fit.model.R[lab, 0], R[:, 0], atol=0.02)
    np.testing.assert_array_equal(fit.model.R[:, 1], 0.0)  # action 1 never played


# ------------------------------------------------------------------ bad input
def test_bad_inputs_give_clear_errors():
    t = tiger(horizon=3)
    with pytest.raises(ValueError, match=r"candidates\[1\] has actions=2"):
        FiniteModelClass([t, _revealing()])
    with pytest.raises(ValueError, match=r"candidates\[1\] has horizon=4"):
        FiniteModelClass([t, tiger(horizon=4)])
    with pytest.raises(TypeError, match=r"candidates\[0\] must be a POMDP"):
        FiniteModelClass(["x"])
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="p_min must be in"):
            POMDPClass(2, 2, 3, 3, p_min=bad)
    with pytest.raises(ValueError, match=r"p_min \* max\(S, O\) must be < 1"):
        POMDPClass(2, 2, 3, 3, p_min=0.4)
    cls = POMDPClass(2, 3, 2, 3)
    d = t.sample(5, horizon=4, seed=0)
    with pytest.raises(ValueError, match="horizon=3"):
        cls.fit(d.actions, d.observations)
    d = t.sample(5, seed=0)
    with pytest.raises(ValueError, match="rewards must have shape"):
        cls.fit(d.actions, d.observations, rewards=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="warm_start has S=2, A=2"):
        cls.fit(d.actions, d.observations, warm_start=_revealing())
    with pytest.raises(ValueError, match="beta must be"):
        FiniteModelClass([t]).confidence_set(d.actions, d.observations, None, -1.0)
    with pytest.raises(ValueError, match=r"observations\[0, 0\] = \d is not in \[0, 2\)"):
        cls.fit(d.actions, d.observations + 2)


def test_shared_emission_em_from_action_dependent_warm_start_is_monotone():
    # Tiger's emissions depend on the action; the shared-emission class must start EM
    # inside its own (shared, floored) set, or the first M-step lowers the likelihood
    t = tiger(horizon=2)
    d = t.sample(20, seed=0)
    cls = POMDPClass(2, 3, 2, 2, shared_emissions=True, restarts=1, max_iter=5)
    h = cls.fit(d.actions, d.observations, warm_start=t).history
    assert (np.diff(h) >= -1e-9 * np.abs(h[1:])).all(), h

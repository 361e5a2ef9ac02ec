"""LSVI-UCB (mdplab.algorithms.lowrank) on linear MDPs: conformance, the tabular
sanity case, exact-data regression, the numpy transcription, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mdplab import envs
from mdplab.algorithms import ALGORITHMS, EXPECTED_RETURN, LSVIUCB, check_algorithm, tiny_mdp
from mdplab.algorithms.lowrank import _policy_value, lsvi_q, lsvi_ucb_numpy
from mdplab.kernels.rng import stream_seeds
from mdplab.models import LinearMDP, TabularMDP
from mdplab.planning import backward_induction


@pytest.fixture(scope="module")
def linear():
    return envs.random_linear_mdp(6, 3, 4, horizon=4, seed=3)


def test_conformance():
    check_algorithm(LSVIUCB)
    assert isinstance(ALGORITHMS["lsvi-ucb"](bonus_scale=0.1), LSVIUCB)


def test_envs_norms_and_one_hot_round_trip():
    m = envs.random_linear_mdp(7, 2, 3, horizon=3, seed=0)
    assert m.norm_conventions()["satisfied"]
    assert ((m.R >= 0) & (m.R <= 1)).all()
    for tab in (tiny_mdp(4), tiny_mdp(3, stage_dependent=True)):
        lin = envs.tabular_linear_mdp(tab)
        back = lin.to_tabular()
        assert lin.d == tab.S * tab.A
        assert np.array_equal(back.stage_P(), tab.stage_P())
        assert np.allclose(back.R, tab.R, rtol=0, atol=1e-15)
    with pytest.raises(TypeError, match="TabularMDP"):
        envs.tabular_linear_mdp(m)


def test_one_hot_features_act_as_tabular_optimistic_learner():
    """phi = e_(s,a): same optimum as the tabular model, sublinear exact regret,
    and the played policies end optimal (Jin et al.'s tabular sanity case)."""
    tab = envs.random_mdp(4, 2, seed=1, horizon=3)
    lin = envs.tabular_linear_mdp(tab)
    v_tab = backward_induction(tab).initial_value
    assert abs(EXPECTED_RETURN.optimum(lin) - v_tab) < 1e-12
    K = 1500
    curve = LSVIUCB(bonus_scale=0.03).run(lin, K, seed=0, n_seeds=2, checkpoint_every=K // 3)
    assert abs(curve.optimal_value - v_tab) < 1e-12
    per_ep = np.diff(np.concatenate([[0.0], curve.regret.mean(axis=0)])) / (K // 3)
    assert per_ep[-1] <= 0.05 * per_ep[0], per_ep
    # the played policies end optimal: the last third's regret comes from a few episodes
    assert per_ep[-1] < 0.01 * tab.horizon * tab.R.max()


@pytest.mark.parametrize("which", ["random", "one-hot-staged"])
def test_exact_data_and_no_bonus_recover_q_star(linear, which):
    """Targets from the true model for every (s, a) (each s' weighted by P(s'|s,a)),
    beta = 0, tiny ridge: the regression is Bellman-complete and returns Q*."""
    model = linear if which == "random" else envs.tabular_linear_mdp(
        tiny_mdp(3, stage_dependent=True))
    H, S, A = model.horizon, model.S, model.A
    tab = model.to_tabular()
    s, a, t = np.meshgrid(np.arange(S), np.arange(A), np.arange(S), indexing="ij")
    shape = (H, S * A * S)
    states = np.broadcast_to(s.ravel(), shape)
    actions = np.broadcast_to(a.ravel(), shape)
    nxt = np.broadcast_to(t.ravel(), shape)
    weights = np.stack([tab.P_at(h)[s.ravel(), a.ravel(), t.ravel()] for h in range(H)])
    Q, pi = lsvi_q(model, states, actions, nxt, weights, beta=0.0, lam=1e-10)
    ref = backward_induction(tab)
    assert np.abs(Q - ref.q).max() < 1e-7
    assert abs(EXPECTED_RETURN.value(model, pi) - ref.initial_value) < 1e-9


def test_kernel_evaluation_equals_tabular_objective(linear):
    rng = np.random.default_rng(0)
    H, S = linear.horizon, linear.S
    phi = np.ascontiguousarray(linear.phi[None])
    mu = np.ascontiguousarray(linear.mu[None])
    R = np.ascontiguousarray(linear.R[None])
    for _ in range(5):
        pi = rng.integers(0, linear.A, size=(H, S))
        v = _policy_value(phi, mu, R, linear.init, H, pi, np.empty(S), np.empty(S),
                          np.empty(linear.d))
        assert abs(v - EXPECTED_RETURN.value(linear, pi)) < 1e-12


@pytest.mark.parametrize("which", ["random", "one-hot-staged"])
def test_numpy_transcription_equal(linear, which):
    model = linear if which == "random" else envs.tabular_linear_mdp(
        tiny_mdp(3, stage_dependent=True))
    K = 25
    learner = LSVIUCB(bonus_scale=0.05)
    curve = learner.run(model, K, seed=4, n_seeds=2, checkpoint_every=1)
    for i, ss in enumerate(stream_seeds(4, 2)):
        ref = lsvi_ucb_numpy(model, K, ss, learner.beta_for(model, K), learner.lam)
        assert np.allclose(np.cumsum(ref), curve.regret[i], rtol=0, atol=1e-10)


def test_grouped_targets_equal_transition_targets(linear):
    a = LSVIUCB(bonus_scale=0.05).run(linear, 300, seed=1, n_seeds=2)
    b = LSVIUCB(bonus_scale=0.05, targets="grouped").run(linear, 300, seed=1, n_seeds=2)
    assert np.allclose(a.regret, b.regret, rtol=0, atol=1e-8)
    assert np.array_equal(a.realized, b.realized)


def test_misspecified_features_run_and_score_on_true_model(linear):
    extra = np.concatenate([linear.phi, np.full((linear.S, linear.A, 1), 0.5)], axis=-1)
    curve = LSVIUCB(bonus_scale=0.05, features=extra).run(linear, 100, seed=0)
    assert curve.optimal_value == pytest.approx(EXPECTED_RETURN.optimum(linear))
    assert np.all(np.diff(curve.regret[0]) >= -1e-12)


def test_bad_input(linear):
    with pytest.raises(ValueError, match=r"features have \(S, A\) = \(2, 2\)"):
        LSVIUCB(features=np.ones((2, 2, 3))).run(linear, 5)
    with pytest.raises(ValueError, match="features have 2 stages"):
        LSVIUCB(features=np.ones((2, linear.S, linear.A, 3))).run(linear, 5)
    with pytest.raises(TypeError, match="LinearMDP"):
        LSVIUCB().run(tiny_mdp(), 5)
    disc = LinearMDP(linear.phi, linear.mu, linear.theta, gamma=0.9)
    with pytest.raises(ValueError, match="finite-horizon"):
        LSVIUCB().run(disc, 5)
    with pytest.raises(ValueError, match="lam must be > 0"):
        LSVIUCB(lam=-1)
    with pytest.raises(ValueError, match="bonus_scale must be a number"):
        LSVIUCB(bonus_scale="big")
    with pytest.raises(ValueError, match="budget"):
        LSVIUCB().run(linear, 0)
    ok = np.zeros((linear.horizon, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="states must be an integer array"):
        lsvi_q(linear, ok[:1], ok, ok)
    with pytest.raises(ValueError, match="actions has entries outside"):
        lsvi_q(linear, ok, ok + linear.A, ok)
    with pytest.raises(ValueError, match="weights must be"):
        lsvi_q(linear, ok, ok, ok, -np.ones(ok.shape))
    with pytest.raises(TypeError, match="LinearMDP"):
        lsvi_q(TabularMDP(np.ones((1, 1, 1)), np.zeros((1, 1)), horizon=1), ok, ok, ok)

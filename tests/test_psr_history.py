"""Exact planning over history trees (mdplab.planning.psr), checked against independent
computations: the alpha-vector belief DP, exhaustive belief-tree search, enumeration of
hidden-state paths, enumeration of all deterministic policies, per-leaf probabilities,
and Monte Carlo."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mdplab.envs.revealing import random_revealing_pomdp
from mdplab.envs.tiger import tiger
from mdplab.models.pomdp import POMDP
from mdplab.models.psr import PSR
from mdplab.planning import (
    HistoryPolicy,
    history_policy_value,
    history_probabilities,
    history_rewards,
    max_tv_distance,
    maximize_over_histories,
    optimal_history_policy,
    pomdp_value_iteration,
)
from tests.pomdp_brute_force import belief_tree_optimum


def _tiny(seed: int, S: int = 2, A: int = 2, O: int = 2, H: int = 3) -> POMDP:
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.ones(S), size=(S, A))
    Z = rng.dirichlet(np.ones(O), size=(A, S))
    R = rng.random((S, A))
    return POMDP(T, Z, R, rng.dirichlet(np.ones(S)), horizon=H)


def _random_policy(A: int, O: int, H: int, seed: int) -> HistoryPolicy:
    rng = np.random.default_rng(seed)
    return HistoryPolicy([rng.dirichlet(np.ones(A), size=(A * O) ** h) for h in range(H)], A, O)


def _histories(A: int, O: int, H: int):
    """All (actions, observations) of length H in the module's index order."""
    for digits in itertools.product(range(A * O), repeat=H):
        yield [d // O for d in digits], [d % O for d in digits]


def _brute_value(pomdp: POMDP, policy: HistoryPolicy) -> float:
    """Expected return by enumerating trajectories and hidden-state paths."""
    S, H = pomdp.S, policy.horizon
    T, Z, R, b0 = pomdp.T, pomdp.O, pomdp.R, pomdp.b0
    total = 0.0
    for acts, obs in _histories(pomdp.A, pomdp.n_observations, H):
        pi = np.prod([policy.action_probabilities(acts[:t], obs[:t])[acts[t]] for t in range(H)])
        if pi == 0.0:
            continue
        for path in itertools.product(range(S), repeat=H + 1):
            p = b0[path[0]]
            for t in range(H):
                p *= T[path[t], acts[t], path[t + 1]] * Z[acts[t], path[t + 1], obs[t]]
            total += pi * p * sum(R[path[t], acts[t]] for t in range(H))
    return total


# ------------------------------------------------------------------ probabilities
def test_probabilities_match_per_leaf_and_psr():
    m = _tiny(1, S=3, A=2, O=3, H=3)
    P = history_probabilities(m)
    assert [p.shape for p in P] == [(1,), (6,), (36,), (216,)]
    assert P[0][0] == 1.0
    for h in range(1, 4):
        # each action sequence's observation law sums to 1: A^h in total
        assert P[h].sum() == pytest.approx(2.0**h)
        leaf = [m.history_probability(a, o) for a, o in _histories(2, 3, h)]
        np.testing.assert_allclose(P[h], leaf, rtol=1e-12, atol=1e-15)
    Q = history_probabilities(PSR.from_pomdp(m), 3)
    for p, q in zip(P, Q, strict=True):
        np.testing.assert_allclose(q, p, atol=1e-13)

    class Generic:  # only A, n_observations and a batch log-likelihood
        A, n_observations = m.A, m.n_observations

        def log_likelihood(self, actions, observations, lengths=None):
            return m.log_likelihood(actions, observations, lengths)

    G = history_probabilities(Generic(), 3)
    for p, g in zip(P, G, strict=True):
        np.testing.assert_allclose(g, p, rtol=1e-12, atol=1e-15)


def test_empty_history_has_probability_exactly_one():
    # b0 = dirichlet(.) need not sum to 1.0 in floating point; P_0 is [1.0] regardless
    for seed in range(20):
        rng = np.random.default_rng(seed)
        m = POMDP(rng.dirichlet(np.ones(5), size=(5, 2)), rng.dirichlet(np.ones(2), size=(2, 5)),
                  np.zeros((5, 2)), rng.dirichlet(np.ones(5)), horizon=1)
        assert history_probabilities(m)[0].tolist() == [1.0]
        assert history_probabilities(PSR.from_pomdp(m), 1)[0].tolist() == [1.0]


# ------------------------------------------------------------------ values
def test_history_rewards_give_every_policys_return():
    m = _tiny(2)
    W = history_rewards(m)
    for seed in range(2):
        pol = _random_policy(2, 2, 3, seed)
        exact = _brute_value(m, pol)
        assert float(pol.trajectory_weights() @ W) == pytest.approx(exact, rel=1e-12)
        assert history_policy_value(m, pol) == pytest.approx(exact, rel=1e-12)
    det = HistoryPolicy.from_function(lambda a, o: int(o.sum()) % 2, 2, 2, 3)
    assert history_policy_value(m, det) == pytest.approx(_brute_value(m, det), rel=1e-12)
    # rewards given as leaf weights
    assert history_policy_value(m, det, rewards=W) == pytest.approx(_brute_value(m, det))


@pytest.mark.parametrize("H", [2, 3, 4])
def test_tiger_optimum_equals_belief_dp(H):
    m = tiger(horizon=H)
    value, pol = optimal_history_policy(m)
    assert value == pytest.approx(pomdp_value_iteration(m).initial_value, abs=1e-9)
    assert history_policy_value(m, pol) == pytest.approx(value, abs=1e-9)
    assert pol.deterministic and pol.action([], []) == 0  # listen first


def test_random_pomdp_optimum_equals_belief_dp():
    m = random_revealing_pomdp(n_states=2, n_observations=3, n_actions=2, horizon=3, seed=0)
    value, pol = optimal_history_policy(m)
    assert value == pytest.approx(pomdp_value_iteration(m).initial_value, abs=1e-10)
    ref = belief_tree_optimum(np.asarray(m.T), np.asarray(m.O), np.asarray(m.R), m.b0, 3)
    assert value == pytest.approx(ref, abs=1e-10)
    # no policy does better: random stochastic ones are below
    for seed in range(3):
        assert history_policy_value(m, _random_policy(2, 3, 3, seed)) <= value + 1e-12


def test_values_match_monte_carlo():
    m = tiger(horizon=3)
    # open loop through POMDP.sample
    seq = [0, 0, 1]
    exact = history_policy_value(m, HistoryPolicy.open_loop(seq, 3, 2))
    ret = m.sample(40_000, actions=seq, seed=3).returns()
    assert abs(ret.mean() - exact) < 4 * ret.std() / np.sqrt(ret.size)
    # closed loop (the optimal history policy), simulated directly
    value, pol = optimal_history_policy(m)
    rng = np.random.default_rng(4)
    N, A, O = 40_000, 3, 2
    s = (rng.random(N) < m.b0[1]).astype(np.int64)
    node = np.zeros(N, dtype=np.int64)
    ret = np.zeros(N)
    for t in range(3):
        a = np.argmax(pol.probs[t][node], axis=1)
        ret += m.R[s, a]
        s = (rng.random(N)[:, None] > np.cumsum(m.T[s, a], axis=1)).sum(axis=1)
        o = (rng.random(N)[:, None] > np.cumsum(m.O[a, s], axis=1)).sum(axis=1)
        node = node * A * O + a * O + o
    assert abs(ret.mean() - value) < 4 * ret.std() / np.sqrt(N)


# ------------------------------------------------------------------ maximisation and TV
def _all_deterministic(A: int, O: int, H: int):
    sizes = [(A * O) ** h for h in range(H)]
    for choice in itertools.product(range(A), repeat=sum(sizes)):
        cuts = np.cumsum([0, *sizes])
        yield [np.array(choice[cuts[h] : cuts[h + 1]]) for h in range(H)]


def test_maximize_matches_enumeration_and_ties_to_lowest():
    A, O, H = 3, 2, 2
    w = np.random.default_rng(5).normal(size=(A * O) ** H)
    value, pol = maximize_over_histories(w, A, O, H)
    best = max(
        HistoryPolicy.from_actions(acts, A, O).trajectory_weights() @ w
        for acts in _all_deterministic(A, O, H)
    )
    assert value == pytest.approx(best, abs=1e-12)
    assert pol.trajectory_weights() @ w == pytest.approx(value, abs=1e-12)
    v0, p0 = maximize_over_histories(np.zeros((A * O) ** H), A, O, H)
    assert v0 == 0.0 and all((p[:, 0] == 1.0).all() for p in p0.probs)


@pytest.mark.parametrize("scale", [1e-13, 1e-300, 1e13])
def test_maximize_is_scale_invariant(scale):
    # small leaf weights (TV of close models over many leaves, bonus * probability) must
    # not be treated as ties: the maximum scales with the weights
    A, O, H = 3, 2, 2
    w = np.random.default_rng(5).normal(size=(A * O) ** H)
    best = max(
        HistoryPolicy.from_actions(acts, A, O).trajectory_weights() @ w
        for acts in _all_deterministic(A, O, H)
    )
    value, pol = maximize_over_histories(scale * w, A, O, H)
    assert value == pytest.approx(scale * best, rel=1e-12)
    ref = maximize_over_histories(w, A, O, H)[1]
    assert all((p == q).all() for p, q in zip(pol.probs, ref.probs, strict=True))


def test_tv_matches_brute_force_and_is_a_distance():
    a = _tiny(6, S=2, A=2, O=2, H=2)
    b = _tiny(7, S=3, A=2, O=2, H=2)
    tv, pol = max_tv_distance(a, b)
    leaves = list(_histories(2, 2, 2))
    Pa = np.array([a.history_probability(x, y) for x, y in leaves])
    Pb = np.array([b.history_probability(x, y) for x, y in leaves])
    best = 0.0
    for acts in _all_deterministic(2, 2, 2):
        pi = np.array([acts[0][0] == x[0] and acts[1][2 * x[0] + y[0]] == x[1] for x, y in leaves])
        best = max(best, 0.5 * float(pi @ np.abs(Pa - Pb)))
    assert tv == pytest.approx(best, abs=1e-14) and tv > 0.01
    assert max_tv_distance(b, a)[0] == pytest.approx(tv, abs=1e-15)
    assert max_tv_distance(a, a)[0] == 0.0
    assert max_tv_distance(a, PSR.from_pomdp(a), 2)[0] < 1e-12
    # TV bounds every reward's value gap (rewards in [0, 1] on hidden states)
    assert 0.0 <= tv <= 1.0


# ------------------------------------------------------------------ bad input
def test_bad_inputs_give_clear_errors():
    m = tiger(horizon=9)
    with pytest.raises(ValueError, match=r"10077696 leaves, more than max_leaves=2000000"):
        optimal_history_policy(m)
    with pytest.raises(ValueError, match="max_leaves=10"):
        history_probabilities(tiger(horizon=2), max_leaves=10)
    with pytest.raises(ValueError, match="different action or observation sets"):
        max_tv_distance(tiger(horizon=2), _tiny(0, H=2))
    with pytest.raises(TypeError, match="must be a POMDP"):
        history_rewards(PSR.from_pomdp(tiger(horizon=2)), 2)
    with pytest.raises(ValueError, match="no horizon"):
        history_probabilities(tiger())
    with pytest.raises(ValueError, match=r"sum of \|weights\| overflows"):
        maximize_over_histories(np.full(36, 1e308), 3, 2, 2)  # was a garbage action table
    with pytest.raises(ValueError, match=r"weights must have shape"):
        maximize_over_histories(np.zeros(5), 3, 2, 2)
    with pytest.raises(ValueError, match=r"probs\[1\] must have shape"):
        HistoryPolicy([np.ones((1, 2)) / 2, np.ones((3, 2)) / 2], 2, 2)
    with pytest.raises(ValueError, match=r"sums to"):
        HistoryPolicy([np.array([[0.3, 0.3]])], 2, 2)
    with pytest.raises(ValueError, match="action_sequence entries"):
        HistoryPolicy.open_loop([0, 3], 3, 2)
    with pytest.raises(ValueError, match="the policy has A=2"):
        history_policy_value(tiger(horizon=2), HistoryPolicy.uniform(2, 2, 2))
    with pytest.raises(ValueError, match="fn returned action 5"):
        HistoryPolicy.from_function(lambda a, o: 5, 3, 2, 2)

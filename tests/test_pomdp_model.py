"""The POMDP model: belief algebra and history probabilities against brute force
over hidden-state paths, the sampler against exact probabilities, bad input."""

import itertools

import numpy as np
import pytest
from conftest import random_kernel
from scipy import stats

from mdplab.envs.tiger import tiger
from mdplab.models.pomdp import POMDP


def random_pomdp(rng, S=3, A=2, O=2, action_dependent=True, **kw):
    T = random_kernel(rng, (S, A, S), zeros=0.3)
    Z = random_kernel(rng, (A, S, O) if action_dependent else (S, O), zeros=0.2)
    R = rng.random((S, A))
    b0 = rng.dirichlet(np.ones(S))
    return POMDP(T, Z, R, b0, **kw)


def brute_force_probability(p: POMDP, actions, observations) -> float:
    """Sum over all hidden paths s_0..s_L of the joint probability (no recursion)."""
    total = 0.0
    for path in itertools.product(range(p.S), repeat=len(actions) + 1):
        w = p.b0[path[0]]
        for t, (a, o) in enumerate(zip(actions, observations, strict=True)):
            w *= p.T[path[t], a, path[t + 1]] * p.O[a, path[t + 1], o]
        total += w
    return total


@pytest.mark.parametrize("action_dependent", [True, False])
def test_history_probability_equals_brute_force(rng, action_dependent):
    p = random_pomdp(rng, S=3, A=2, O=3, action_dependent=action_dependent)
    for _ in range(40):
        L = int(rng.integers(0, 5))
        a = rng.integers(0, p.A, L)
        o = rng.integers(0, p.n_observations, L)
        assert p.history_probability(a, o) == pytest.approx(
            brute_force_probability(p, a, o), rel=1e-12, abs=1e-15
        )


def test_probabilities_sum_to_one_over_observation_sequences(rng):
    p = random_pomdp(rng, S=3, A=3, O=2)
    for L in (1, 2, 4):
        a = rng.integers(0, p.A, L)
        total = sum(
            p.history_probability(a, o)
            for o in itertools.product(range(p.n_observations), repeat=L)
        )
        assert total == pytest.approx(1.0, abs=1e-13)


def test_belief_update_is_bayes_rule(rng):
    p = random_pomdp(rng, S=4, A=2, O=3)
    b = rng.dirichlet(np.ones(4))
    for a in range(p.A):
        for o in range(p.n_observations):
            joint = np.array(
                [sum(b[s] * p.T[s, a, s2] * p.O[a, s2, o] for s in range(4)) for s2 in range(4)]
            )
            b2, prob = p.belief_update(b, a, o)
            assert prob == pytest.approx(joint.sum(), rel=1e-13)
            np.testing.assert_allclose(b2, joint / joint.sum(), rtol=1e-12)
            np.testing.assert_allclose(p.observable_operator(a, o) @ b, joint, rtol=1e-12)
    ops = p.observable_operators()
    np.testing.assert_allclose(ops[1, 2], p.observable_operator(1, 2))


def test_log_probability_of_long_history_is_chain_of_conditionals(rng):
    p = random_pomdp(rng, S=3, A=2, O=3)
    traj = p.sample(1, horizon=2000, seed=7)
    a, o = traj.actions[0], traj.observations[0]
    logp = p.log_history_probability(a, o)
    b, expected = p.b0, 0.0
    for t in range(len(a)):
        b, prob = p.belief_update(b, a[t], o[t])
        expected += np.log(prob)
    assert np.isfinite(logp) and logp < -500  # far below float underflow of the product
    assert logp == pytest.approx(expected, rel=1e-11)
    assert p.history_probability(a, o) == 0.0  # underflows, which is why the log form exists


def test_batch_log_likelihood_matches_single_histories(rng):
    p = random_pomdp(rng, S=3, A=2, O=2)
    traj = p.sample(50, horizon=6, seed=3)
    lengths = rng.integers(0, 7, 50)
    batch = p.log_likelihood(traj.actions, traj.observations, lengths)
    single = [
        p.log_history_probability(traj.actions[i, :L], traj.observations[i, :L])
        for i, L in enumerate(lengths)
    ]
    np.testing.assert_allclose(batch, single, rtol=1e-13)
    possible = tiger(horizon=2).log_likelihood(np.array([[1, 0]]), np.array([[0, 1]]))
    assert np.isfinite(possible).all()  # opening then listening: every observation possible
    # a perfect listener cannot hear the tiger left, then right: log-probability -inf
    perfect = tiger(listen_accuracy=1.0, horizon=2)
    both = perfect.log_likelihood(np.zeros((2, 2), int), np.array([[0, 1], [0, 0]]))
    assert both[0] == -np.inf and both[1] == pytest.approx(np.log(0.5), abs=1e-15)


def _joint_counts(traj, n_obs):
    o = traj.observations
    return np.bincount(o[:, 0] * n_obs + o[:, 1], minlength=n_obs * n_obs)


def test_sampler_matches_exact_observation_law(rng):
    p = random_pomdp(rng, S=3, A=2, O=3)
    actions = np.array([1, 0])
    traj = p.sample(40000, horizon=2, actions=actions, seed=11)
    assert (traj.actions == actions).all()
    counts = _joint_counts(traj, 3)
    exact = np.array(
        [p.history_probability(actions, [o0, o1]) for o0 in range(3) for o1 in range(3)]
    )
    assert stats.chisquare(counts, counts.sum() * exact).pvalue > 1e-4
    wrong = exact.copy()
    wrong[0], wrong[1] = exact[0] + 0.02, exact[1] - 0.02
    assert stats.chisquare(counts, counts.sum() * wrong).pvalue < 1e-6


def test_sampler_rewards_and_states_are_consistent():
    t = tiger(horizon=5)
    traj = t.sample(2000, seed=5)
    r = t.R[traj.states[:, :-1], traj.actions]
    np.testing.assert_array_equal(traj.rewards, r)
    # listening never moves the tiger; the sampled hidden states respect that
    listen = traj.actions == 0
    assert (traj.states[:, 1:][listen] == traj.states[:, :-1][listen]).all()
    again = t.sample(2000, seed=5)
    np.testing.assert_array_equal(again.observations, traj.observations)
    manual = sum(0.9**t * traj.rewards[:, t] for t in range(5))
    np.testing.assert_allclose(traj.returns(0.9), manual, rtol=1e-13)
    np.testing.assert_array_equal(traj.returns(), traj.rewards.sum(axis=1))


def test_tiger_parameters_and_revealing_constant():
    t = tiger()
    assert t.gamma == 0.95 and t.horizon is None
    assert t.R[0].tolist() == [-1.0, -100.0, 10.0] and t.R[1].tolist() == [-1.0, 10.0, -100.0]
    assert t.history_probability([0], [0]) == pytest.approx(0.5)
    assert t.history_probability([0, 0], [0, 0]) == pytest.approx(0.5 * (0.85**2 + 0.15**2))
    b, _ = t.belief_update([0.5, 0.5], 0, 0)
    np.testing.assert_allclose(b, [0.85, 0.15])
    b, _ = t.belief_update([0.9, 0.1], 1, 1)
    np.testing.assert_allclose(b, [0.5, 0.5])  # opening a door resets the problem
    for p in (0.5, 0.7, 0.85, 1.0):
        assert tiger(listen_accuracy=p).revealing_constant() == pytest.approx(abs(2 * p - 1))
    np.testing.assert_allclose(t.revealing_constants()[1:], 0.0, atol=1e-15)


def test_identity_emissions_make_the_state_observed(rng):
    p = random_pomdp(rng, S=3, A=2, O=3)
    full = p.replace(O=np.eye(3))
    assert not full.observations_depend_on_action
    assert full.revealing_constant() == pytest.approx(1.0)
    mdp = full.replace(horizon=3).underlying_mdp()
    assert mdp.horizon == 3 and np.array_equal(mdp.dense_P(), p.T)


def test_immutable(rng):
    p = random_pomdp(rng)
    with pytest.raises(AttributeError, match="immutable"):
        p.T = p.T
    with pytest.raises(ValueError, match="read-only"):
        p.T[0, 0, 0] = 1.0


BAD = [
    (dict(T=np.ones((2, 1, 2))), r"T\[0, 0, :\] sums to 2"),
    (dict(T=np.ones((2, 1, 3)) / 3), r"T must have shape \(S, A, S\)"),
    (dict(O=[[0.5, 0.6], [0.5, 0.5]]), r"O\[0, :\] sums to 1.1"),
    (dict(O=np.full((2, 2, 2), 0.5)), r"O must have shape \(A, S, O\) = \(1, 2, n_obs\)"),
    (dict(O=[[1.2, -0.2], [0.5, 0.5]]), r"O\[0, 1\] = -0.2 is negative"),
    (dict(R=np.zeros((2, 2))), r"R must have shape \(S, A\) = \(2, 1\)"),
    (dict(R=[[np.nan], [0.0]]), r"R\[0, 0\] is nan"),
    (dict(b0=[0.5, 0.4]), "b0 sums to 0.9"),
    (dict(b0=[1.0, 0.0, 0.0]), r"b0 must have shape \(2,\)"),
    (dict(horizon=0), "horizon must be an integer >= 1"),
    (dict(gamma=1.0), r"gamma must be in \[0, 1\)"),
    (dict(horizon=3, gamma=0.9), "not both"),
    (dict(T="abc"), "T must be a real numeric array"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_bad_input(change, message):
    args = dict(T=np.ones((2, 1, 2)) / 2, O=np.eye(2), R=np.zeros((2, 1)), b0=None)
    args.update(change)
    kw = {k: args.pop(k) for k in ("horizon", "gamma") if k in args}
    with pytest.raises(ValueError, match=message):
        POMDP(args["T"], args["O"], args["R"], args["b0"], **kw)


def test_bad_histories():
    t = tiger(horizon=3)
    with pytest.raises(ValueError, match="equal length"):
        t.history_probability([0, 0], [1])
    with pytest.raises(ValueError, match=r"observations\[1\] = 2 is not in \[0, 2\)"):
        t.history_probability([0, 0], [1, 2])
    with pytest.raises(ValueError, match=r"actions\[0\] = 3 is not in \[0, 3\)"):
        t.history_probability([3], [0])
    with pytest.raises(ValueError, match="probability 0"):
        tiger(listen_accuracy=1.0).belief_update([1.0, 0.0], 0, 1)
    with pytest.raises(ValueError, match="needs a horizon"):
        tiger().sample(3)
    with pytest.raises(ValueError, match=r"actions must be in \[0, 3\)"):
        t.sample(2, actions=[0, 5, 0])
    # regression: these reached numba (TypingError) or were silently truncated
    with pytest.raises(ValueError, match="must be 1-d integer sequences"):
        t.history_probability([[0]], [[0]])
    with pytest.raises(ValueError, match="must be 1-d integer sequences"):
        t.log_history_probability(0, 0)
    with pytest.raises(TypeError, match=r"a \(action\) must be an integer; got 0.7"):
        t.belief_update([0.5, 0.5], 0.7, 0)
    with pytest.raises(ValueError, match="lengths must be 2 integers"):
        t.log_likelihood(np.zeros((2, 3), int), np.zeros((2, 3), int), [1.5, 2])
    with pytest.raises(ValueError, match="n_episodes must be an integer"):
        t.sample(2.5)
    with pytest.raises(ValueError, match="actions must be integers"):
        t.sample(2, actions=[0.5, 1, 0])

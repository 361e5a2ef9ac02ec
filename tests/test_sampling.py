"""Tests of the stream RNG, the sampling kernels and mdplab.sampling.

Statistical tests use fixed seeds, so they are deterministic; each goodness-of-fit
check is paired with one showing the same test rejects a wrong distribution.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from mdplab.kernels import rng
from mdplab.kernels import sampling as ks
from mdplab.models import TabularMDP
from mdplab.sampling import (
    SAMPLE_CHUNK,
    EpisodicSimulator,
    Rollouts,
    rollout,
    sample,
    sample_all,
)

P_MIN = 1e-3  # goodness-of-fit acceptance threshold
P_REJECT = 1e-6  # a wrong distribution must be rejected this clearly


# ------------------------------------------------------------------ fixtures
def _random_P(gen, shape, S, zero_frac=0.3):
    """Random transition rows with some exact zeros (never to be sampled)."""
    P = gen.dirichlet(np.ones(S), size=shape)
    P[gen.random(P.shape) < zero_frac] = 0.0
    P[..., 0] += (P.sum(axis=-1) == 0)  # keep every row non-empty
    return P / P.sum(axis=-1, keepdims=True)


def make_finite(sparse=False, S=6, A=3, H=4, seed=0):
    gen = np.random.default_rng(seed)
    P = _random_P(gen, (H, S, A), S)
    R = gen.random((H, S, A))
    init = gen.dirichlet(np.ones(S))
    m = TabularMDP(P, R, horizon=H, init=init)
    return m.to_sparse() if sparse else m


def make_discounted(sparse=False, S=5, A=2, gamma=0.9, seed=1):
    gen = np.random.default_rng(seed)
    P = _random_P(gen, (S, A), S)
    R = gen.random((S, A))
    m = TabularMDP(P, R, gamma=gamma, init=gen.dirichlet(np.ones(S)))
    return m.to_sparse() if sparse else m


def chi2_pvalue(counts, probs):
    """Chi-square goodness of fit; zero-probability cells must have zero counts."""
    counts = np.asarray(counts, dtype=float)
    probs = np.asarray(probs, dtype=float)
    zero = probs <= 0
    assert counts[zero].sum() == 0, "a zero-probability outcome was sampled"
    c, p = counts[~zero], probs[~zero]
    if c.size == 1:
        return 1.0
    return stats.chisquare(c, c.sum() * p / p.sum()).pvalue


def stage_distributions(mdp, pi_sto, T):
    """Exact ``d_h = init P_pi,0 ... P_pi,h-1`` for h = 0..T (pi_sto: (n_pi, S, A))."""
    d = mdp.init.copy()
    out = [d]
    for h in range(T):
        P = mdp.P_at(0 if mdp.transitions_stationary else h)
        pi = pi_sto[h if pi_sto.shape[0] > 1 else 0]
        d = d @ np.einsum("sa,sat->st", pi, P)
        out.append(d)
    return out


def det_to_sto(pi, A):
    pi = np.atleast_2d(pi)
    return np.eye(A)[pi]


@pytest.fixture
def two_threads():
    """Run a test body at 1 and 2 numba threads (restoring the setting)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)


# ======================================================================= RNG
XOSHIRO_REF = [  # state {1, 2, 3, 4}, Blackman & Vigna's reference implementation
    11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600,
    16172922978634559625, 8476171486693032832, 10595114339597558777, 2904607092377533576,
]


def test_xoshiro_reference_vector():
    state = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert [int(rng.next_uint64(state)) for _ in XOSHIRO_REF] == XOSHIRO_REF


def test_splitmix_seeding_reference_vector():
    # seed_state(x) = the first four splitmix64 outputs of a generator started at x.
    assert [int(w) for w in rng.new_state(0)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC,
    ]
    assert [int(w) for w in rng.new_state(1234567)] == [
        6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431,
    ]


def _state_with_output(word):
    """A xoshiro256** state whose next output is ``word``: invert rotl(s1 * 5, 7) * 9."""
    M = 2**64
    y = word * pow(9, -1, M) % M
    x = ((y >> 7) | (y << 57)) % M
    return np.array([0, x * pow(5, -1, M) % M, 0, 0], dtype=np.uint64)


def test_double_range_and_resolution():
    # The largest output maps to (2^53 - 1) / 2^53 < 1, the smallest to 0.
    for word, expect in [(2**64 - 1, (2**53 - 1) / 2**53), (0, 0.0), (2**11, 2.0**-53),
                         (2**63, 0.5)]:
        assert int(rng.next_uint64(_state_with_output(word))) == word
        assert rng.next_double(_state_with_output(word)) == expect
    state = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert [rng.next_double(state) for _ in XOSHIRO_REF] == [(x >> 11) / 2**53 for x in XOSHIRO_REF]
    u = rng.uniforms(0, 10_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert np.all(np.floor(u * 2.0**53) == u * 2.0**53)  # on the 53-bit grid


def test_uniformity_ks():
    u = rng.uniforms(12345, 200_000)
    assert stats.kstest(u, "uniform").pvalue > P_MIN
    # ...and the test can fail: a squashed sample is rejected.
    assert stats.kstest(u**1.05, "uniform").pvalue < P_REJECT


def test_streams_are_independent_uniforms():
    """First draws of many streams (consecutive seeds) are uniform and uncorrelated."""
    seeds = rng.stream_seeds(7, 50_000)
    first = np.array([rng.next_double(rng.new_state(s)) for s in seeds[:5000]])
    assert stats.kstest(first, "uniform").pvalue > P_MIN
    # Consecutive raw seeds 0, 1, 2, ... through splitmix64 seeding too.
    raw = np.array([rng.next_double(rng.new_state(i)) for i in range(5000)])
    assert stats.kstest(raw, "uniform").pvalue > P_MIN
    assert abs(np.corrcoef(first[:-1], first[1:])[0, 1]) < 0.05
    assert abs(np.corrcoef(raw[:-1], raw[1:])[0, 1]) < 0.05
    assert len(np.unique(seeds)) == seeds.size


def test_rng_determinism_and_seed_kinds():
    a = rng.uniforms(5, 100)
    assert np.array_equal(a, rng.uniforms(5, 100))
    assert not np.array_equal(a, rng.uniforms(6, 100))
    assert np.array_equal(a, rng.uniforms(np.random.SeedSequence(5), 100))
    assert np.array_equal(a, rng.uniforms(np.int64(5), 100))
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    x1, x2 = rng.uniforms(g1, 50), rng.uniforms(g2, 50)
    assert np.array_equal(x1, x2)
    assert not np.array_equal(x1, rng.uniforms(g1, 50))  # the Generator advanced
    assert not np.array_equal(rng.uniforms(None, 50), rng.uniforms(None, 50))


def test_stream_seeds_prefix_stable():
    assert np.array_equal(rng.stream_seeds(9, 1000)[:10], rng.stream_seeds(9, 10))
    assert rng.stream_seeds(9, 0).shape == (0,)
    assert rng.stream_seeds(9, 3).dtype == np.uint64


@pytest.mark.parametrize(
    "bad, exc, match",
    [(-1, ValueError, "non-negative"), (1.5, TypeError, "seed must be"),
     (True, TypeError, "seed must be"), ("7", TypeError, "seed must be"),
     (np.random.RandomState(0), TypeError, "seed must be")],
)
def test_bad_seeds(bad, exc, match):
    with pytest.raises(exc, match=match):
        rng.stream_seeds(bad, 3)


# ============================================================ categorical draws
def test_inverse_cdf_dense_edges():
    p = np.array([0.0, 0.5, 0.0, 0.5])
    assert [ks.inverse_cdf_dense(p, u) for u in (0.0, 0.49, 0.5, 0.999999)] == [1, 1, 3, 3]
    # a row summing to slightly less than 1: u beyond the total -> last positive entry
    q = np.array([0.3, 0.7 - 1e-10, 0.0])
    assert ks.inverse_cdf_dense(q, 1.0 - 1e-12) == 1


def test_dense_csr_and_bisection_agree_bitwise():
    gen = np.random.default_rng(4)
    for _ in range(200):
        p = _random_P(gen, (), 7, zero_frac=0.5)
        nz = np.flatnonzero(p)
        data, indices = p[nz], nz.astype(np.int32)
        cdf = np.cumsum(p)
        fb = int(nz[-1])
        for u in np.concatenate([gen.random(20), [0.0, np.nextafter(1.0, 0.0)]]):
            j = ks.inverse_cdf_dense(p, u)
            assert p[j] > 0
            assert ks.inverse_cdf_csr(indices, data, 0, nz.size, u) == j
            cdf_nz = np.empty(nz.size)
            ks._cumsum(data, 0, nz.size, cdf_nz)
            assert nz[ks.cdf_search(cdf_nz, nz.size, u, nz.size - 1)] == j
            assert ks.cdf_search(cdf, 7, u, fb) == j


# ============================================================ generative model
@pytest.mark.parametrize("sparse", [False, True])
def test_sample_chi_square(sparse):
    mdp = make_finite(sparse=sparse)
    P = mdp.dense_P()
    n = 200_000
    for h, s, a in [(0, 1, 2), (3, 4, 0)]:
        x = sample(mdp, s, a, n, seed=11, h=h)
        assert x.shape == (n,) and x.dtype == np.int64
        counts = np.bincount(x, minlength=mdp.S)
        assert chi2_pvalue(counts, P[h, s, a]) > P_MIN
        # The test has power: a slightly wrong distribution is rejected.
        wrong = P[h, s, a].copy()
        j = np.flatnonzero(wrong)
        wrong[j[0]] += 0.02
        wrong[j[-1]] -= min(0.02, wrong[j[-1]])
        assert chi2_pvalue(counts, np.maximum(wrong, 0)) < P_REJECT
        # The other stage is a different distribution: rejected too.
        other = P[(h + 1) % mdp.horizon, s, a]
        if np.all(counts[other == 0] == 0):
            assert chi2_pvalue(counts, other) < P_REJECT


@pytest.mark.parametrize("sparse", [False, True])
def test_sample_all_chi_square(sparse):
    mdp = make_finite(sparse=sparse)
    P = mdp.dense_P()
    n = 20_000
    for h in (0, 2):
        x = sample_all(mdp, n, seed=5, h=h)
        assert x.shape == (mdp.S, mdp.A, n) and x.dtype == np.int64
        stat, dof = 0.0, 0
        for s in range(mdp.S):
            for a in range(mdp.A):
                counts = np.bincount(x[s, a], minlength=mdp.S)
                p = P[h, s, a]
                assert counts[p == 0].sum() == 0
                e = n * p[p > 0]
                stat += ((counts[p > 0] - e) ** 2 / e).sum()
                dof += (p > 0).sum() - 1
        assert stats.chi2.sf(stat, dof) > P_MIN


def test_sample_dense_equals_sparse_and_is_deterministic():
    d, s = make_finite(), make_finite(sparse=True)
    x = sample(d, 2, 1, 150_000, seed=3, h=1)
    assert np.array_equal(x, sample(s, 2, 1, 150_000, seed=3, h=1))
    assert np.array_equal(x, sample(d, 2, 1, 150_000, seed=3, h=1))
    assert not np.array_equal(x, sample(d, 2, 1, 150_000, seed=4, h=1))
    assert np.array_equal(x[:1000], sample(d, 2, 1, 1000, seed=3, h=1))  # prefix-stable
    assert np.array_equal(sample_all(d, 50, seed=8, h=3), sample_all(s, 50, seed=8, h=3))
    g = sample_all(d, 10, seed=np.random.default_rng(1))
    assert np.array_equal(g, sample_all(d, 10, seed=np.random.default_rng(1)))
    assert sample(d, 0, 0, 0, seed=1).shape == (0,)
    assert sample_all(d, 0, seed=1).shape == (d.S, d.A, 0)


def test_sample_discounted_stationary():
    mdp = make_discounted()
    x = sample(mdp, 3, 1, 100_000, seed=2)
    assert chi2_pvalue(np.bincount(x, minlength=mdp.S), mdp.P[3, 1]) > P_MIN


@pytest.mark.parametrize("sparse", [False, True])
def test_thread_count_invariance(sparse, two_threads):
    mdp = make_finite(sparse=sparse)
    pi_sto = np.random.default_rng(0).dirichlet(np.ones(mdp.A), size=(mdp.horizon, mdp.S))
    out = []
    for k in (1, 2):
        numba.set_num_threads(k)
        out.append((
            sample(mdp, 1, 1, 3 * SAMPLE_CHUNK + 17, seed=9, h=2),
            sample_all(mdp, 300, seed=9, h=1),
            rollout(mdp, pi_sto, 3000, seed=9, reward_noise="bernoulli"),
        ))
    (a1, b1, r1), (a2, b2, r2) = out
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    for f in ("states", "actions", "rewards", "returns"):
        assert np.array_equal(getattr(r1, f), getattr(r2, f))


def test_sample_bad_inputs():
    mdp = make_finite()
    with pytest.raises(ValueError, match=r"state s 6 is not in \[0, 6\)"):
        sample(mdp, 6, 0, 10)
    with pytest.raises(ValueError, match=r"action a -1 is not in \[0, 3\)"):
        sample(mdp, 0, -1, 10)
    with pytest.raises(ValueError, match=r"stage h 4 is not in \[0, 4\)"):
        sample(mdp, 0, 0, 10, h=4)
    with pytest.raises(ValueError, match="discounted model has the single stage 0"):
        sample(make_discounted(), 0, 0, 10, h=1)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        sample(mdp, 0, 0, -1)
    with pytest.raises(TypeError, match="n must be an integer"):
        sample_all(mdp, 2.5)
    with pytest.raises(TypeError, match="state s must be an integer"):
        sample(mdp, 1.0, 0, 3)
    with pytest.raises(TypeError, match="expected a TabularMDP"):
        sample_all(np.zeros((2, 2, 2)), 3)


# =================================================================== rollouts
@pytest.mark.parametrize("sparse", [False, True])
def test_rollout_visit_frequencies_deterministic_policy(sparse):
    mdp = make_finite(sparse=sparse)
    H, S, A = mdp.horizon, mdp.S, mdp.A
    pi = np.random.default_rng(2).integers(0, A, size=(H, S))
    n = 40_000
    res = rollout(mdp, pi, n, seed=21)
    assert res.states.shape == (n, H + 1) and res.actions.shape == (n, H)
    dists = stage_distributions(mdp, det_to_sto(pi, A), H)
    for h in range(H + 1):
        counts = np.bincount(res.states[:, h], minlength=S)
        assert chi2_pvalue(counts, dists[h]) > P_MIN, h
    # power: stage h's frequencies do not fit stage h+1's distribution
    counts = np.bincount(res.states[:, 2], minlength=S)
    assert chi2_pvalue(counts, dists[3] + 1e-12) < P_REJECT
    # actions follow the policy; rewards are the mean rewards
    h_idx = np.arange(H)[None, :]
    assert np.array_equal(res.actions, pi[h_idx, res.states[:, :-1]])
    R = mdp.R
    assert np.array_equal(res.rewards, R[h_idx, res.states[:, :-1], res.actions])
    assert np.allclose(res.returns, res.rewards.sum(axis=1))


@pytest.mark.parametrize("sparse", [False, True])
def test_rollout_stochastic_policy_and_value(sparse):
    mdp = make_finite(sparse=sparse, seed=3)
    H, S, A = mdp.horizon, mdp.S, mdp.A
    pi = np.random.default_rng(5).dirichlet(np.ones(A), size=(S,))  # stationary
    n = 40_000
    res = rollout(mdp, pi, n, seed=np.random.default_rng(8))
    dists = stage_distributions(mdp, pi[None], H)
    for h in range(H + 1):
        assert chi2_pvalue(np.bincount(res.states[:, h], minlength=S), dists[h]) > P_MIN
    # action frequencies given the state at stage 1
    for s in range(S):
        acts = res.actions[res.states[:, 1] == s, 1]
        if acts.size > 200:
            assert chi2_pvalue(np.bincount(acts, minlength=A), pi[s]) > P_MIN
    # mean return vs exact policy evaluation (backward induction)
    V = np.zeros(S)
    for h in reversed(range(H)):
        Q = mdp.R_at(h) + mdp.P_at(h) @ V
        V = (pi * Q).sum(axis=1)
    exact = mdp.init @ V
    assert abs(res.mean_return() - exact) < 4 * res.stderr()


def test_rollout_bernoulli_rewards():
    mdp = make_finite(seed=4)
    pi = np.zeros(mdp.S, dtype=int)
    res = rollout(mdp, pi, 30_000, seed=1, reward_noise="bernoulli")
    assert set(np.unique(res.rewards)) <= {0.0, 1.0}
    mean = mdp.R[np.arange(mdp.horizon)[None, :], res.states[:, :-1], res.actions]
    # sum of Bernoulli(m_i) vs its exact mean and variance (normal approximation)
    z = (res.rewards.sum() - mean.sum()) / np.sqrt((mean * (1 - mean)).sum())
    assert abs(z) < 4
    # per-(h, s) check: P(r = 1 | s_h = s) = R[h, s, 0]
    h, s = 1, int(np.argmax(np.bincount(res.states[:, 1])))
    r = res.rewards[res.states[:, h] == s, h]
    assert stats.binomtest(int(r.sum()), r.size, mdp.R[h, s, 0]).pvalue > P_MIN
    assert stats.binomtest(int(r.sum()), r.size, min(1.0, mdp.R[h, s, 0] + 0.05)).pvalue < 1e-4


def test_rollout_discounted():
    mdp = make_discounted(sparse=True)
    pi = np.array([0, 1, 1, 0, 1])
    res = rollout(mdp, pi, 2000, seed=0, length=25)
    assert isinstance(res, Rollouts) and res.length == 25 and res.n_episodes == 2000
    assert res.gamma == mdp.gamma
    assert np.allclose(res.returns, res.rewards @ (0.9 ** np.arange(25)))
    with pytest.raises(ValueError, match="pass length=T"):
        rollout(mdp, pi, 10, seed=0)


def test_rollout_reproducibility_dense_sparse_prefix():
    d, s = make_finite(seed=6), make_finite(sparse=True, seed=6)
    pi = np.random.default_rng(0).dirichlet(np.ones(d.A), size=(d.horizon, d.S))
    a = rollout(d, pi, 500, seed=13, reward_noise="bernoulli")
    b = rollout(s, pi, 500, seed=13, reward_noise="bernoulli")
    c = rollout(d, pi, 50, seed=13, reward_noise="bernoulli")
    e = rollout(d, pi, 500, seed=14, reward_noise="bernoulli")
    for f in ("states", "actions", "rewards", "returns"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
        assert np.array_equal(getattr(a, f)[:50], getattr(c, f))
    assert not np.array_equal(a.states, e.states)
    short = rollout(d, pi, 500, seed=13, length=2, reward_noise="bernoulli")
    assert np.array_equal(short.states, a.states[:, :3])


def test_simulator_matches_rollout():
    for mdp in (make_finite(seed=2), make_finite(sparse=True, seed=2)):
        pi = np.random.default_rng(1).integers(0, mdp.A, size=(mdp.horizon, mdp.S))
        ref = rollout(mdp, pi, 5, seed=77, reward_noise="bernoulli")
        sim = EpisodicSimulator(mdp, seed=77, reward_noise="bernoulli")
        for k in range(5):
            s = sim.reset()
            assert sim.episode == k and sim.h == 0 and s == ref.states[k, 0]
            for h in range(mdp.horizon):
                assert sim.h == h and not sim.done
                s, r, done = sim.step(pi[h, s])
                assert (s, r) == (ref.states[k, h + 1], ref.rewards[k, h])
                assert done == (h == mdp.horizon - 1)
            assert sim.done


def test_simulator_errors_and_discounted():
    sim = EpisodicSimulator(make_finite(H=2, A=3))
    with pytest.raises(RuntimeError, match="reset"):
        sim.step(0)
    sim.reset(state=4)
    assert sim.state == 4
    with pytest.raises(ValueError, match=r"^action 5 is not in \[0, 3\)$"):
        sim.step(5)
    with pytest.raises(TypeError, match="action must be an integer"):
        sim.step(1.0)
    with pytest.raises(TypeError, match="action must be an integer"):
        sim.step(True)
    sim.step(np.int64(2))
    *_, done = sim.step(0)
    assert done
    with pytest.raises(RuntimeError, match="episode is over"):
        sim.step(0)
    with pytest.raises(ValueError, match=r"state 9 is not in \[0, 6\)"):
        sim.reset(state=9)
    sim.reset()
    assert sim.h == 0 and not sim.done
    dsim = EpisodicSimulator(make_discounted(), seed=0)
    dsim.reset()
    for _ in range(100):
        *_, done = dsim.step(1)
        assert not done
    assert dsim.h == 100
    dsim.reseed(0)
    assert dsim.episode == -1 and dsim.state is None


def test_reward_noise_validation():
    mdp = make_finite()
    R = mdp.R.copy()
    R[1, 2, 0] = 1.5
    bad = mdp.replace(R=R)
    msg = r"needs every mean reward in \[0, 1\]; R\[1, 2, 0\] = 1.5$"
    with pytest.raises(ValueError, match=msg):
        rollout(bad, np.zeros(mdp.S, dtype=int), 3, reward_noise="bernoulli")
    with pytest.raises(ValueError, match="needs every mean reward"):
        EpisodicSimulator(bad, reward_noise="bernoulli")
    with pytest.raises(ValueError, match="reward_noise must be one of"):
        rollout(mdp, np.zeros(mdp.S, dtype=int), 3, reward_noise="gaussian")
    rollout(bad, np.zeros(mdp.S, dtype=int), 3)  # mean rewards: any real R is fine


@pytest.mark.parametrize(
    "policy, match",
    [
        (np.zeros(5, dtype=int), r"must have shape \(6,\) or \(4, 6\)"),
        (np.zeros((3, 6), dtype=int), r"must have shape \(6,\) or \(4, 6\)"),
        (np.full(6, 3), r"policy\[0\] = 3 is not an action in \[0, 3\)"),
        (np.array([[0] * 6] * 3 + [[0, 0, -1, 0, 0, 0]]), r"policy\[3, 2\] = -1"),
        (np.zeros(6), "pass an integer array of actions"),
        (np.full((6, 3), 0.5), r"policy\[0, :\] sums to 1.5"),
        (np.concatenate([[[[0.7, 0.6, -0.3]] * 6], np.full((3, 6, 3), 1 / 3)]),
         r"policy\[0, 0, 2\] = -0.3; action probabilities must be finite and non-negative"),
        (np.full((6, 3), np.nan), "finite and non-negative"),
        (np.zeros(6, dtype=bool), "integer array of actions"),
        (np.array(["a"] * 6), "got dtype <U1"),
    ],
)
def test_rollout_bad_policies(policy, match):
    mdp = make_finite()  # S=6, A=3, H=4
    with pytest.raises(ValueError, match=match):
        rollout(mdp, policy, 4, seed=0)


def test_rollout_bad_arguments():
    mdp = make_finite()
    pi = np.zeros(mdp.S, dtype=int)
    with pytest.raises(ValueError, match="length = 5 exceeds the horizon H = 4"):
        rollout(mdp, pi, 4, length=5)
    with pytest.raises(ValueError, match="length must be an integer >= 1"):
        rollout(mdp, pi, 4, length=0)
    with pytest.raises(ValueError, match="n_episodes must be an integer >= 0"):
        rollout(mdp, pi, -3)
    with pytest.raises(ValueError, match=r"must have shape \(5,\)"):
        rollout(make_discounted(), np.zeros((4, 5), dtype=int), 3, length=3)
    assert rollout(mdp, pi, 0, seed=0).states.shape == (0, mdp.horizon + 1)


def test_sparse_model_samples_only_listed_successors():
    S, A = 50, 2
    base = np.arange(S)[:, None, None]
    succ = (base + np.array([[1, 10], [3, 20]])[None]) % S  # (S, A, 2)
    prob = np.full(succ.shape, 0.5)
    mdp = TabularMDP.from_successors(succ, prob, np.zeros((S, A)), gamma=0.5)
    assert mdp.is_sparse and sp.issparse(mdp.P)
    x = sample_all(mdp, 400, seed=0)
    for s in range(S):
        for a in range(A):
            assert set(np.unique(x[s, a])) == set(succ[s, a])

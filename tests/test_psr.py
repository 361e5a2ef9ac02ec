"""PSRs: exact conversion from POMDPs checked against the POMDP's forward algorithm and
belief updates, the rank against brute-force system-dynamics matrices, the sampler
against the POMDP sampler, exact well-conditioning against policy enumeration and
the derived bound; the random revealing POMDP generator; bad input."""

import itertools

import numpy as np
import pytest
from scipy import stats

from mdplab.envs.revealing import random_revealing_pomdp
from mdplab.envs.tiger import tiger
from mdplab.models.pomdp import POMDP
from mdplab.models.psr import PSR


def reducible_pomdp(rng) -> POMDP:
    """S=4 but PSR rank 2: state 3 is unreachable from b0, and states 0, 1 have the
    same transitions (so the same future given the current state)."""
    S, A, O = 4, 2, 2
    T = np.zeros((S, A, S))
    T[:3, :, :3] = rng.dirichlet(np.full(3, 0.5), size=(3, A))
    T[1] = T[0]
    T[3] = rng.dirichlet(np.ones(S), size=A)
    Z = rng.dirichlet(np.ones(O), size=S)
    return POMDP(T, Z, rng.random((S, A)), [0.2, 0.5, 0.3, 0.0], horizon=3)


def instances():
    rng = np.random.default_rng(7)
    return {
        "tiger": tiger(horizon=4),
        "revealing": random_revealing_pomdp(seed=3),
        "nonrevealing": random_revealing_pomdp(
            n_states=4, n_observations=2, n_actions=2, alpha=0.0, seed=4
        ),
        "reducible": reducible_pomdp(rng),
    }


POMDPS = instances()
PSRS = {key: PSR.from_pomdp(p) for key, p in POMDPS.items()}


def random_histories(rng, p, n, lo, hi):
    for _ in range(n):
        L = int(rng.integers(lo, hi + 1))
        yield rng.integers(0, p.A, L), rng.integers(0, p.n_observations, L)


def sampled_history(rng, p, L):
    """A history with positive probability (observations drawn from the model)."""
    traj = p.sample(1, horizon=L, seed=int(rng.integers(2**31)))
    return traj.actions[0], traj.observations[0]


# ------------------------------------------------------------------ probabilities
@pytest.mark.parametrize("key", ["tiger", "revealing", "nonrevealing", "reducible"])
def test_history_probabilities_equal_forward_algorithm(key):
    p, psr = POMDPS[key], PSRS[key]
    rng = np.random.default_rng(1)
    got, want = [], []
    for a, o in random_histories(rng, p, 1000, 1, 8):
        got.append(psr.history_probability(a, o))
        want.append(p.history_probability(a, o))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # long histories: log-probabilities (no underflow), sampled so they are possible
    for L in (200, 200, 1000):
        a, o = sampled_history(rng, p, L)
        lp = psr.log_history_probability(a, o)
        assert np.isfinite(lp) and lp < -10
        assert lp == pytest.approx(p.log_history_probability(a, o), rel=1e-9)


@pytest.mark.parametrize("key", ["tiger", "revealing", "nonrevealing"])
def test_probabilities_sum_to_one_over_observation_sequences(key):
    p, psr = POMDPS[key], PSRS[key]
    rng = np.random.default_rng(2)
    for L in range(1, 6):
        for _ in range(2):
            a = rng.integers(0, p.A, L)
            obs = np.array(list(itertools.product(range(p.n_observations), repeat=L)))
            acts = np.broadcast_to(a, obs.shape)
            total = np.exp(psr.log_likelihood(acts, obs)).sum()
            assert total == pytest.approx(1.0, abs=1e-12)
            if len(obs) <= 64:  # the single-history path, signed values included
                assert sum(psr.history_probability(a, o) for o in obs) == pytest.approx(
                    1.0, abs=1e-12
                )


def belief_after(p, actions, observations):
    b = p.b0
    for a, o in zip(actions, observations, strict=True):
        b, _ = p.belief_update(b, int(a), int(o))
    return b


def core_test_probability(p, belief, test):
    """Pr(test | belief) as a chain of Bayes updates on hidden states (no PSR involved)."""
    prob, b = 1.0, belief
    for a, o in zip(*test, strict=True):
        joint = p.observable_operator(a, o) @ b
        c = joint.sum()
        if c == 0:
            return 0.0
        prob *= c
        b = joint / c
    return prob


@pytest.mark.parametrize(
    "build",
    [
        lambda k: PSR.from_pomdp(POMDPS[k]),
        lambda k: (
            PSR.from_revealing_pomdp(POMDPS[k])
            if k in ("tiger", "revealing")
            else PSR.from_pomdp(POMDPS[k]).minimal()
        ),
    ],
    ids=["minimal", "revealing-route"],
)
@pytest.mark.parametrize("key", ["tiger", "revealing", "nonrevealing", "reducible"])
def test_predictive_state_is_core_test_probabilities(key, build):
    p = POMDPS[key]
    psr = build(key)
    rng = np.random.default_rng(3)
    for L in (0, 1, 2, 5, 9):
        a, o = sampled_history(rng, p, L) if L else (np.zeros(0, int), np.zeros(0, int))
        b = belief_after(p, a, o)
        want = [core_test_probability(p, b, q) for q in psr.core_tests]
        np.testing.assert_allclose(psr.predictive_state(a, o), want, atol=1e-11)
        # one-step conditionals agree with Bayes' rule
        for act in range(p.A):
            cond = psr.conditional_observation_probs(a, o, act)
            want = [
                core_test_probability(p, b, ((act,), (obs,))) for obs in range(p.n_observations)
            ]
            np.testing.assert_allclose(cond, want, atol=1e-12)


def test_tiger_listen_route_matches_note():
    """Note 2.2: Tiger's core tests are the two 'listen' observations (Q_A = 1)."""
    for acc in (0.85, 0.6):
        p = tiger(listen_accuracy=acc, horizon=3)
        psr = PSR.from_revealing_pomdp(p, action_sequences=[(0,)])
        assert psr.core_tests == (((0,), (0,)), ((0,), (1,)))
        np.testing.assert_allclose(psr.psi0, [0.5, 0.5])
        assert psr.core_action_sequences == ((0,),)
        np.testing.assert_allclose(psr.state_map, np.linalg.inv([[acc, 1 - acc], [1 - acc, acc]]))
    with pytest.raises(ValueError, match="do not reveal the state"):
        PSR.from_revealing_pomdp(tiger(), action_sequences=[(1,)])


# ------------------------------------------------------------------ rank
def system_dynamics_matrix(p, max_hist, max_test):
    """D[h, q] = Pr(h then q) for all histories / tests up to the given lengths."""

    def words(max_len, min_len):
        out = []
        for L in range(min_len, max_len + 1):
            for steps in itertools.product(range(p.A), range(p.n_observations), repeat=L):
                out.append((steps[0::2], steps[1::2]))
        return out

    hist, tests = words(max_hist, 0), words(max_test, 1)
    L = max_hist + max_test
    acts = np.zeros((len(hist) * len(tests), L), dtype=np.int64)
    obs = np.zeros_like(acts)
    lengths = np.zeros(len(acts), dtype=np.int64)
    for k, ((ha, ho), (qa, qo)) in enumerate(itertools.product(hist, tests)):
        n = len(ha) + len(qa)
        acts[k, :n], obs[k, :n], lengths[k] = ha + qa, ho + qo, n
    return np.exp(p.log_likelihood(acts, obs, lengths)).reshape(len(hist), len(tests))


@pytest.mark.parametrize(
    "key, expected", [("tiger", 2), ("revealing", 3), ("nonrevealing", 4), ("reducible", 2)]
)
def test_rank_equals_system_dynamics_rank(key, expected):
    p, psr = POMDPS[key], PSRS[key]
    D = system_dynamics_matrix(p, 2, 2)
    assert np.linalg.matrix_rank(D, tol=1e-10) == expected
    assert psr.rank == psr.dim == expected <= p.S
    if p.revealing_constant() > 0:
        assert psr.rank == p.S
    # an over-complete representation has the same rank and probabilities
    if p.n_observations >= p.S:
        big = PSR.from_revealing_pomdp(p)
        assert big.dim > big.rank == expected
        small = big.minimal()
        rng = np.random.default_rng(4)
        for a, o in random_histories(rng, p, 50, 1, 6):
            assert small.history_probability(a, o) == pytest.approx(
                p.history_probability(a, o), abs=1e-12
            )


def test_core_tests_prefer_short_tests():
    psr = PSRS["nonrevealing"]  # O=2 < S=4: one-step tests cannot span, a 2-step one is needed
    lengths = [len(acts) for acts, _ in psr.core_tests]
    assert lengths == sorted(lengths) and lengths[0] == 1 and max(lengths) == 2


# ------------------------------------------------------------------ batch likelihood
def test_log_likelihood_batch():
    p, psr = POMDPS["revealing"], PSRS["revealing"]
    rng = np.random.default_rng(5)
    traj = p.sample(300, horizon=12, seed=11)
    lengths = rng.integers(0, 13, 300)
    batch = psr.log_likelihood(traj.actions, traj.observations, lengths)
    single = [
        psr.log_history_probability(traj.actions[i, :L], traj.observations[i, :L])
        for i, L in enumerate(lengths)
    ]
    np.testing.assert_allclose(batch, single, rtol=1e-13)
    np.testing.assert_allclose(
        batch, p.log_likelihood(traj.actions, traj.observations, lengths), rtol=1e-10, atol=1e-12
    )
    assert batch.sum() == pytest.approx(
        p.log_likelihood(traj.actions, traj.observations, lengths).sum(), rel=1e-10
    )


# ------------------------------------------------------------------ sampler
def joint_counts(obs, n_obs):
    return np.bincount(obs[:, 0] * n_obs + obs[:, 1], minlength=n_obs * n_obs)


@pytest.mark.parametrize("key, actions", [("tiger", [0, 0]), ("revealing", [1, 0])])
def test_sampler_agrees_with_pomdp_sampler(key, actions):
    p, psr = POMDPS[key], PSRS[key]
    n, O = 20_000, p.n_observations
    a = np.array(actions)
    exact = np.array([p.history_probability(a, o) for o in itertools.product(range(O), repeat=2)])
    c_psr = joint_counts(psr.sample(n, horizon=2, actions=a, seed=1).observations, O)
    c_pomdp = joint_counts(p.sample(n, horizon=2, actions=a, seed=2).observations, O)
    assert stats.chisquare(c_psr, n * exact).pvalue > 1e-3
    both = np.array([c_psr, c_pomdp])
    assert stats.chi2_contingency(both[:, both.sum(0) > 0]).pvalue > 1e-3
    # control: a different model's samples must be rejected by the same test
    other = tiger(listen_accuracy=0.75) if key == "tiger" else random_revealing_pomdp(seed=99)
    c_other = joint_counts(other.sample(n, horizon=2, actions=a, seed=3).observations, O)
    wrong = np.array([c_psr, c_other])
    assert stats.chi2_contingency(wrong[:, wrong.sum(0) > 0]).pvalue < 1e-6


def test_sampler_random_actions_and_reproducibility():
    p, psr = POMDPS["tiger"], PSRS["tiger"]
    probs = np.array([0.5, 0.3, 0.2])
    n = 20_000
    tr = psr.sample(n, horizon=3, action_probs=probs, seed=5)
    # joint law of (a_0, o_0): action_probs[a] * Pr(o_0 | a)
    cells = tr.actions[:, 0] * 2 + tr.observations[:, 0]
    exact = np.array([probs[a] * p.history_probability([a], [o]) for a in range(3) for o in (0, 1)])
    assert stats.chisquare(np.bincount(cells, minlength=6), n * exact).pvalue > 1e-3
    again = psr.sample(n, horizon=3, action_probs=probs, seed=5)
    assert np.array_equal(tr.actions, again.actions)
    assert np.array_equal(tr.observations, again.observations)
    prefix = psr.sample(100, horizon=3, action_probs=probs, seed=5)
    assert np.array_equal(prefix.observations, tr.observations[:100])
    fixed = psr.sample(10, horizon=3, actions=[[2, -1, 0]] * 10, seed=1)
    assert (fixed.actions[:, 0] == 2).all() and (fixed.actions[:, 2] == 0).all()


# ------------------------------------------------------------------ well-conditioning
def future_term_by_policy_enumeration(psr, horizon):
    """max_i max over deterministic adaptive policies of sum_w pi(w) |m(w)^T e_i|."""
    A, O, r = psr.A, psr.n_observations, psr.dim
    # an adaptive policy = one action per observation prefix
    prefixes = [p for L in range(horizon) for p in itertools.product(range(O), repeat=L)]
    best = 0.0
    for choice in itertools.product(range(A), repeat=len(prefixes)):
        pol = dict(zip(prefixes, choice, strict=True))
        for i in range(r):
            total = 0.0
            for obs in itertools.product(range(O), repeat=horizon):
                y = np.eye(r)[i]
                for t in range(horizon):
                    y = psr.M[obs[t], pol[obs[:t]]] @ y
                total += abs(psr.phi @ y)
            best = max(best, total)
    return best


def test_well_conditioning_exact_terms_against_brute_force():
    rng = np.random.default_rng(6)
    for psr in (PSRS["tiger"], PSR.from_revealing_pomdp(POMDPS["tiger"])):
        wc = psr.well_conditioning(horizon=2)
        assert wc.future_term == pytest.approx(future_term_by_policy_enumeration(psr, 2))
    psr = PSRS["revealing"]
    wc = psr.well_conditioning(horizon=2)
    assert wc.future_term == pytest.approx(future_term_by_policy_enumeration(psr, 2))
    # random points of the l1 sphere never exceed the suprema, and some e_i attains them
    for _ in range(200):
        x = rng.standard_normal(psr.dim)
        x /= np.abs(x).sum()
        op = max(
            sum(np.abs(psr.M[o, a] @ x).sum() for o in range(psr.n_observations))
            for a in range(psr.A)
        )
        assert op <= wc.operator_term + 1e-12
    # monotone in the horizon (longer futures only split probabilities further)
    terms = [psr.well_conditioning(horizon=H).future_term for H in (1, 2, 3)]
    assert terms == sorted(terms)


@pytest.mark.parametrize("key", ["tiger", "revealing", "nonrevealing", "reducible"])
def test_well_conditioning_bounds(key):
    p = POMDPS[key]
    variants = [PSRS[key]]
    if p.n_observations >= p.S:
        variants.append(PSR.from_revealing_pomdp(p))
    for psr in variants:
        wc = psr.well_conditioning(horizon=3)
        assert 0 < wc.gamma <= 1 + 1e-12
        assert wc.gamma >= wc.gamma_lower_bound * (1 - 1e-12)


def test_tiger_gamma_decreases_as_listening_gets_noisy():
    accuracies = (0.95, 0.85, 0.75, 0.65, 0.55)
    gammas, bounds = [], []
    for acc in accuracies:
        wc = PSR.from_pomdp(tiger(listen_accuracy=acc)).well_conditioning(horizon=3)
        gammas.append(wc.gamma)
        bounds.append(wc.gamma_lower_bound)
    assert all(g1 > g2 for g1, g2 in zip(gammas, gammas[1:], strict=False))
    # closed form of the cheap bound: 1 / ||U^-1||_{1->1} = 2 p - 1 (core tests = listen)
    np.testing.assert_allclose(bounds, [2 * a - 1 for a in accuracies], rtol=1e-12)
    assert gammas[1] == pytest.approx(1 / 1.255)  # operator term of listen at p = 0.85


def test_well_conditioning_size_guard():
    with pytest.raises(ValueError, match="smaller horizon"):
        PSRS["revealing"].well_conditioning(horizon=12)
    with pytest.raises(ValueError, match="needs a horizon"):
        PSR.from_pomdp(tiger()).well_conditioning()


# ------------------------------------------------------------------ generator
@pytest.mark.parametrize("method", ["mixing", "rejection"])
@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.5])
def test_random_revealing_pomdp_meets_alpha(method, alpha):
    if method == "rejection" and alpha > 0.4:
        alpha = 0.4  # keeps the rejection loop short
    for seed in range(4):
        p = random_revealing_pomdp(alpha=alpha, seed=seed, method=method)
        assert p.revealing_constant() >= alpha
        assert (p.S, p.n_observations, p.A, p.horizon) == (3, 5, 2, 4)
        sv = np.linalg.svd(p.O[0].T, compute_uv=False)
        assert sv[-1] >= alpha
        assert np.allclose(p.O[0], p.O[1])  # action-independent emission
    a = random_revealing_pomdp(alpha=alpha, seed=11, method=method)
    b = random_revealing_pomdp(alpha=alpha, seed=11, method=method)
    assert np.array_equal(a.T, b.T) and np.array_equal(a.O, b.O) and np.array_equal(a.R, b.R)


def test_random_revealing_mixing_is_minimal():
    """Mixing stops as soon as sigma_S reaches alpha: a draw already revealing is kept,
    otherwise the result sits on the boundary sigma_S = alpha (bisection to 1e-9)."""
    loose = random_revealing_pomdp(alpha=0.0, seed=8)
    assert random_revealing_pomdp(alpha=0.01, seed=8).O.tobytes() == loose.O.tobytes()
    tight = random_revealing_pomdp(alpha=0.7, seed=8)
    assert tight.revealing_constant() == pytest.approx(0.7, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(alpha=1.0), r"alpha must be in \[0, 1\)"),
        (dict(alpha=0.2, n_observations=2), "needs n_observations >= n_states"),
        (dict(method="bogus"), "method must be"),
        (dict(alpha=0.95, method="rejection", max_tries=5), "no emission matrix"),
        (dict(n_states=0), "n_states must be an integer >= 1"),
    ],
)
def test_random_revealing_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_revealing_pomdp(**kwargs)


# ------------------------------------------------------------------ bad input
def good_parts():
    psr = PSRS["tiger"]
    return np.array(psr.psi0), np.array(psr.M), np.array(psr.phi)


def _mismatch():
    psi0, M, phi = good_parts()
    return np.append(psi0, 0.0), M, np.append(phi, 0.0)


def _phi_psi():
    psi0, M, phi = good_parts()
    return psi0 * 0.8, M, phi


def _unnormalised():
    psi0, M, phi = good_parts()
    M[:, 1] *= 1.1
    return psi0, M, phi


def _nan():
    psi0, M, phi = good_parts()
    M[1, 0, 0, 1] = np.nan
    return psi0, M, phi


def _phi_shape():
    psi0, M, phi = good_parts()
    return psi0, M, phi[:1]


def _negative():
    # normalised but gives a negative probability: Pr(o=0 | a=0) = -0.25
    M = np.zeros((2, 1, 1, 1))
    M[0, 0] = -0.25
    M[1, 0] = 1.25
    return np.ones(1), M, np.ones(1)


@pytest.mark.parametrize(
    "parts, message",
    [
        (_mismatch, r"M has r=2 but psi0 has r=3"),
        (_phi_psi, r"phi\^T psi0 = 0\.8"),
        (_unnormalised, r"operators of action 1 are not normalised"),
        (_nan, r"M\[1, 0, 0, 1\] is nan"),
        (_phi_shape, r"phi has shape \(1,\) but psi0 has r=2"),
        (_negative, r"Pr\(o=\[0\] \| do a=\[0\]\) = -0\.25 is not a probability"),
    ],
)
def test_bad_model(parts, message):
    with pytest.raises(ValueError, match=message):
        PSR(*parts())


def test_bad_core_tests_and_histories():
    psi0, M, phi = good_parts()
    with pytest.raises(ValueError, match="core_tests has 1 tests but psi0 has r=2"):
        PSR(psi0, M, phi, core_tests=[((0,), (0,))])
    with pytest.raises(ValueError, match=r"core_tests\[1\] must have equally many"):
        PSR(psi0, M, phi, core_tests=[((0,), (0,)), ((0, 1), (0,))])
    psr = PSRS["tiger"]
    with pytest.raises(ValueError, match=r"observations\[1\] = 2 is not in \[0, 2\)"):
        psr.history_probability([0, 0], [0, 2])
    with pytest.raises(ValueError, match="must have equal length"):
        psr.log_history_probability([0, 0, 1], [0, 1])
    with pytest.raises(ValueError, match=r"actions\[0\] = 3 is not in \[0, 3\)"):
        psr.predictive_state([3], [0])
    with pytest.raises(ValueError, match="must be integers"):
        psr.history_probability([0.5], [0])
    with pytest.raises(ValueError, match=r"\(N, L\) arrays of equal shape"):
        psr.log_likelihood(np.zeros((2, 3), int), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="lengths must be 2 integers"):
        psr.log_likelihood(np.zeros((2, 3), int), np.zeros((2, 3), int), [1, 4])
    with pytest.raises(ValueError, match=r"a \(action\) 5 is not in \[0, 3\)"):
        psr.conditional_observation_probs([], [], 5)
    with pytest.raises(ValueError, match="actions must be in"):
        psr.sample(3, horizon=2, actions=[0, 7])
    with pytest.raises(ValueError, match="still growing"):
        PSR.from_pomdp(POMDPS["nonrevealing"], max_test_length=1)
    # regression: a 2-d history reached numba; tol <= 0 gave a garbage model whose
    # error blamed phi^T psi0; float actions were truncated
    with pytest.raises(ValueError, match="must be 1-d integer sequences"):
        psr.history_probability([[0]], [[0]])
    with pytest.raises(ValueError, match=r"tol must be a relative rank tolerance in \(0, 1\)"):
        PSR.from_pomdp(POMDPS["reducible"], tol=0.0)
    with pytest.raises(ValueError, match="tol must be a relative rank tolerance"):
        PSR.from_revealing_pomdp(POMDPS["tiger"], tol=-1.0)
    with pytest.raises(TypeError, match="needs a POMDP"):
        PSR.from_pomdp(psr)
    with pytest.raises(ValueError, match="actions must be integers"):
        psr.sample(2, horizon=2, actions=[0.5, 0])


def test_immutable():
    psr = PSRS["tiger"]
    with pytest.raises(AttributeError, match="immutable"):
        psr.dim = 3
    with pytest.raises(ValueError, match="read-only"):
        psr.M[0, 0, 0, 0] = 1.0

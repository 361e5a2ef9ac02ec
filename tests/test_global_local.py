"""GlobalLocalSystem: the count MDP against the joint MDP, the SUB-SAMPLE-Q induced
policy against brute force over subsets, samplers against exact values, bad inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_kernel
from scipy.stats import multinomial, multivariate_hypergeom

from mdplab.envs.global_local import demand_response, demand_response_local_index, queueing
from mdplab.models.global_local import (
    GlobalLocalSystem,
    _binomial_table,
    composition_index,
    composition_rank,
    composition_unrank,
    compositions,
    count_space_size,
)
from mdplab.planning import (
    evaluate_policy,
    global_local_evaluate,
    global_local_evaluate_subsample,
    global_local_optimal_values,
    global_local_solve,
    policy_iteration,
)


def random_system(seed, n, S_g=2, A_g=2, S_l=3, gamma=0.8, per_agent_init=False):
    rng = np.random.default_rng(seed)
    init_l = (
        random_kernel(rng, (n, S_l), 0.3) if per_agent_init else random_kernel(rng, (S_l,), 0.2)
    )
    return GlobalLocalSystem(
        random_kernel(rng, (S_g, A_g, S_g), 0.3),
        random_kernel(rng, (S_l, S_g, S_l), 0.4),
        rng.random((S_g, A_g)),
        rng.random((S_l, S_g)),
        n,
        gamma,
        init_g=random_kernel(rng, (S_g,), 0.0),
        init_l=init_l,
        name=f"random{seed}",
    )


def aggregation(system):
    """``Agg[j, c] = 1`` when joint state ``j`` has count state ``c`` (independent decode)."""
    n, L = system.n_agents, system.S_l
    rows = []
    for g in range(system.S_g):
        for locs in itertools.product(range(L), repeat=n):
            counts = np.bincount(locs, minlength=L)
            rows.append(system.count_index(g, counts))
    cols = np.array(rows)
    Sj = cols.size
    return cols, sp.csr_matrix(
        (np.ones(Sj), (np.arange(Sj), cols)), shape=(Sj, system.n_count_states)
    )


# ------------------------------------------------------------------ compositions
@pytest.mark.parametrize(("m", "L"), [(0, 3), (4, 1), (3, 4), (5, 3), (4, 6)])
def test_compositions_are_a_ranked_bijection(m, L):
    comps = compositions(m, L)
    assert comps.shape == (math.comb(m + L - 1, L - 1), L) == (count_space_size(m, L), L)
    brute = sorted(
        tuple(np.bincount(np.array(t, dtype=int), minlength=L))
        for t in itertools.combinations_with_replacement(range(L), m)
    )
    assert [tuple(r) for r in comps] == brute  # every composition once, lexicographic
    idx = np.arange(len(comps))
    assert np.array_equal(composition_index(comps), idx)
    B = _binomial_table(max(m, 1), L)
    out = np.empty(L, dtype=np.int64)
    for r, c in enumerate(comps):
        assert composition_rank(c, B) == r
        composition_unrank(r, m, B, out)
        assert np.array_equal(out, c)


# --------------------------------------------------------- count MDP vs joint MDP
SYSTEMS = {
    "random-n2": lambda: random_system(1, 2),
    "random-n3": lambda: random_system(2, 3, S_g=3, A_g=3),
    "random-n3-per-agent-init": lambda: random_system(3, 3, per_agent_init=True),
    "demand-levels2-n3": lambda: demand_response(3, levels=2),
    "demand-levels5-n2": lambda: demand_response(2),
    "queueing-n2": lambda: queueing(2, queue_capacity=2, init_g=None, init_l=None),
    "queueing-n3": lambda: queueing(3, queue_capacity=2, service_probs=(0.3, 0.9)),
}


@pytest.mark.parametrize("key", list(SYSTEMS))
def test_count_optimum_equals_joint_optimum(key):
    system = SYSTEMS[key]()
    count_mdp, joint_mdp = system.count_mdp(), system.joint_mdp()
    if joint_mdp.S <= 1000:  # dense storage for small models: fewer kernels to compile
        joint_mdp = joint_mdp.to_dense()
    count = policy_iteration(count_mdp)
    joint = policy_iteration(joint_mdp)
    to_count = system.joint_to_count()
    np.testing.assert_allclose(count.values[to_count], joint.values, rtol=0, atol=1e-8)
    assert count.initial_value == pytest.approx(joint.initial_value, abs=1e-8)
    assert system.initial_value(count) == pytest.approx(joint.initial_value, abs=1e-8)
    if not count_mdp.is_sparse:  # certified value iteration through the public helper
        vi = global_local_optimal_values(system, eps=1e-9)
        np.testing.assert_allclose(vi.ravel(), count.values, rtol=0, atol=1e-8)


@pytest.mark.parametrize(
    "key", ["random-n3", "random-n3-per-agent-init", "queueing-n3", "demand-levels2-n3"]
)
def test_count_rows_are_aggregated_joint_rows(key):
    system = SYSTEMS[key]()
    cmdp, jmdp = system.count_mdp(), system.joint_mdp()
    cols, agg = aggregation(system)
    assert np.array_equal(cols, system.joint_to_count())
    lumped = (jmdp.transition_matrix() @ agg).toarray().reshape(-1, system.A_g, cols.max() + 1)
    count_P = cmdp.dense_P()
    np.testing.assert_allclose(lumped, count_P[cols], rtol=0, atol=1e-12)
    np.testing.assert_allclose(jmdp.R, cmdp.R[cols], rtol=0, atol=1e-12)
    # Initial laws: joint init pushed through the lumping.
    np.testing.assert_allclose(agg.T @ jmdp.init, cmdp.init, rtol=0, atol=1e-12)
    # The per-s_g count kernel is the global-free part of the same rows.
    g = system.S_g - 1
    M = system.n_counts
    K = system.count_kernel(g).toarray()
    rows = count_P[g * M : (g + 1) * M, 0].reshape(M, system.S_g, M).sum(axis=1)
    np.testing.assert_allclose(K, rows, rtol=0, atol=1e-12)


def test_initial_counts_multinomial_and_per_agent_agree():
    iid = random_system(4, 4, S_l=4)
    comps = iid.compositions()
    q = iid.initial_count_distribution().reshape(iid.S_g, -1)
    np.testing.assert_allclose(
        q, np.outer(iid.init_g, multinomial.pmf(comps, 4, iid.init_l)), rtol=0, atol=1e-14
    )
    per_agent = GlobalLocalSystem(
        iid.P_g,
        iid.P_l,
        iid.r_g,
        iid.r_l,
        4,
        iid.gamma,
        init_g=iid.init_g,
        init_l=np.tile(iid.init_l, (4, 1)),
    )
    np.testing.assert_allclose(per_agent.initial_count_distribution(), q.ravel(), atol=1e-14)
    fixed = GlobalLocalSystem(
        iid.P_g, iid.P_l, iid.r_g, iid.r_l, 4, iid.gamma, init_g=1, init_l=np.eye(4)[[3, 0, 3, 2]]
    )
    point = fixed.initial_count_distribution()
    assert point[fixed.count_index(1, np.array([1, 0, 1, 2]))] == pytest.approx(1.0)


# ------------------------------------------------------ SUB-SAMPLE-Q induced policy
def test_hypergeometric_law_matches_scipy():
    system = random_system(5, 6, S_l=3)
    for N in system.compositions():
        for k in (1, 3, 6):
            ours = system.hypergeometric_law(N, k)
            ref = multivariate_hypergeom.pmf(system.compositions(k), m=N, n=k)
            np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


def brute_force_induced(system, pi_k, k):
    """``pi(a | s)`` averaged over every k-subset of the agents, per joint state."""
    n, L, A = system.n_agents, system.S_l, system.A_g
    out = []
    for g in range(system.S_g):
        for locs in itertools.product(range(L), repeat=n):
            row = np.zeros(A)
            subsets = list(itertools.combinations(range(n), k))
            for sub in subsets:
                F = np.bincount([locs[i] for i in sub], minlength=L)
                row += pi_k[g, composition_index(F)]
            out.append(row / len(subsets))
    return np.array(out)


@pytest.mark.parametrize(
    ("seed", "n", "k", "stochastic"),
    [(6, 3, 2, False), (7, 4, 2, True), (8, 3, 3, False), (9, 3, 1, False)],
)
def test_induced_policy_equals_subset_average_and_its_value(seed, n, k, stochastic):
    system = random_system(seed, n)
    rng = np.random.default_rng(seed)
    Mk = system.count_space_size(k)
    if stochastic:
        pi_k = random_kernel(rng, (system.S_g, Mk, system.A_g), 0.3)
        table = pi_k
    else:
        pi_k = rng.integers(0, system.A_g, size=(system.S_g, Mk))
        table = np.eye(system.A_g)[pi_k]
    induced = system.subsample_policy(pi_k, k)
    brute = brute_force_induced(system, table, k)
    to_count = system.joint_to_count()
    np.testing.assert_allclose(induced.reshape(-1, system.A_g)[to_count], brute, atol=1e-13)
    exact = global_local_evaluate_subsample(system, pi_k, k)
    joint = evaluate_policy(system.joint_mdp().to_dense(), brute)
    np.testing.assert_allclose(exact.values[to_count], joint.values, rtol=0, atol=1e-8)
    if k == n:  # the full sample sees the true counts: a plain count policy
        direct = global_local_evaluate(system, pi_k)
        np.testing.assert_allclose(direct.values, exact.values, atol=1e-10)


# ----------------------------------------------------------------- samplers
def test_simulator_returns_match_exact_values():
    system = random_system(10, 3, S_g=3, A_g=2, S_l=3, gamma=0.8)
    rng = np.random.default_rng(0)
    T, E = 110, 3000  # gamma^T * max|r| / (1 - gamma) < 1e-9
    pi_k = rng.integers(0, system.A_g, size=(system.S_g, system.count_space_size(2)))
    opt = system.solve(method="policy_iteration")
    global_pi = np.array([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]])
    cases = [
        (dict(policy=pi_k, k=2), system.evaluate_subsample(pi_k, 2)),
        (dict(policy=opt.policy), opt),
        (
            dict(policy=global_pi),
            system.evaluate(np.repeat(global_pi[:, None, :], system.n_counts, axis=1)),
        ),
    ]
    for i, (kw, exact) in enumerate(cases):
        traj = system.simulate(kw.pop("policy"), T, E, seed=100 + i, **kw)
        G = traj.discounted_returns()
        se = G.std(ddof=1) / np.sqrt(E)
        assert abs(G.mean() - exact.initial_value) < 4 * se, (i, G.mean(), exact.initial_value)


def test_simulator_records_are_consistent_and_reproducible():
    system = random_system(11, 4, S_l=3)
    pi = system.solve().policy
    a = system.simulate(pi, 20, 7, seed=5, record="both")
    b = system.simulate(pi, 20, 7, seed=5, record="counts")
    assert np.array_equal(a.rewards, b.rewards) and np.array_equal(a.counts, b.counts)
    counts = np.stack([np.bincount(r, minlength=3) for r in a.local_states.reshape(-1, 4)])
    assert np.array_equal(counts, a.counts.reshape(-1, 3))
    M = system.n_counts
    for e in range(7):
        for t in range(20):
            g, locs = a.global_states[e, t], a.local_states[e, t]
            assert a.actions[e, t] == pi[system.count_index(g, a.counts[e, t])]
            assert a.rewards[e, t] == pytest.approx(system.reward(g, locs, a.actions[e, t]))
    assert a.global_states.shape == (7, 21) and M == 15


def test_generative_draws_follow_the_kernels():
    system = random_system(12, 3, S_g=3, S_l=4)
    locs = np.array([3, 0, 3])
    m = 40_000
    g2, l2, rew = system.sample_next(2, locs, 1, m, seed=3)
    assert rew == pytest.approx(system.r_g[2, 1] + system.r_l[locs, 2].mean())
    pairs = [(g2, system.P_g[2, 1])] + [(l2[:, i], system.P_l[s, 2]) for i, s in enumerate(locs)]
    for draws, p in pairs:
        freq = np.bincount(draws, minlength=p.size) / m
        assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / m) + 1e-12)
    # the two agents in the same state move independently
    joint = np.mean((l2[:, 0] == 1) & (l2[:, 2] == 1))
    p = system.P_l[3, 2, 1] ** 2
    assert abs(joint - p) <= 5 * np.sqrt(p * (1 - p) / m) + 1e-12
    again = system.sample_next(2, locs, 1, m, seed=3)
    assert np.array_equal(again[1], l2)


# ---------------------------------------------------------------- instances
def test_demand_response_matches_the_rule():
    D = 5
    system = demand_response(2, levels=D)
    assert (system.S_g, system.A_g, system.S_l) == (5, 3, 25)
    P = np.zeros((25, 5, 25))
    for x, y, sg, delta, y2 in itertools.product(
        range(1, 6), range(1, 6), range(1, 6), (0, 1), range(1, 6)
    ):
        x2 = y if y <= sg else min(max(y + (sg - x) * delta, 1), 5)
        s, s2 = demand_response_local_index(x, y), demand_response_local_index(x2, y2)
        P[s, sg - 1, s2] += 0.5 * 0.2
    np.testing.assert_allclose(system.P_l, P, atol=1e-15)
    for sg, a in itertools.product(range(1, 6), (-1, 0, 1)):
        assert system.P_g[sg - 1, a + 1, min(max(sg + a, 1), 5) - 1] == 1.0
        assert system.r_g[sg - 1, a + 1] == pytest.approx(15 / sg - (a == -1))
    for x, y, sg in itertools.product(range(1, 6), range(1, 6), range(1, 6)):
        assert system.r_l[demand_response_local_index(x, y), sg - 1] == x - 0.5 * (x > sg)
    np.testing.assert_allclose(system.init_l, np.full(25, 1 / 25))


def test_queueing_matches_the_rule():
    system = queueing(2, queue_capacity=3, service_probs=(0.2, 0.7), arrival_prob=0.4)
    for q, g in itertools.product(range(4), range(2)):
        row = np.zeros(4)
        mu = (0.2, 0.7)[g] if q > 0 else 0.0
        for served, arrived in itertools.product((0, 1), (0, 1)):
            row[min(q - served + arrived, 3)] += (mu if served else 1 - mu) * (
                0.4 if arrived else 0.6
            )
        np.testing.assert_allclose(system.P_l[q, g], row, atol=1e-15)
    assert np.array_equal(system.P_g[:, 1].argmax(axis=1), [1, 1])
    np.testing.assert_allclose(system.r_l[:, 0], -np.arange(4) / 3)
    np.testing.assert_allclose(system.r_g, [[0, -0.2], [0, -0.2]])


# -------------------------------------------------------------- bad inputs
def _base():
    return dict(
        P_g=np.full((2, 2, 2), 0.5),
        P_l=np.full((3, 2, 3), 1 / 3),
        r_g=np.zeros((2, 2)),
        r_l=np.zeros((3, 2)),
        n_agents=2,
        gamma=0.9,
    )


def _with(**changes):
    kw = _base()
    for key, fix in changes.items():
        kw[key] = fix(kw[key]) if callable(fix) else fix
    return kw


def _set(idx, value):
    def fix(a):
        a = a.copy()
        a[idx] = value
        return a

    return fix


BAD = [
    (_with(P_g=_set((1, 0), [0.5, 0.4])), r"P_g\[1, 0, :\] sums to 0\.9"),
    (_with(P_g=_set((0, 1, 1), -0.5)), r"P_g\[0, 1, 1\] = -0\.5 is negative"),
    (_with(P_g=np.full((2, 2), 0.5)), r"P_g must have shape \(S_g, A_g, S_g\)"),
    (_with(P_l=_set((2, 1), [0.2, 0.2, 0.2])), r"P_l\[2, 1, :\] sums to 0\.6"),
    (_with(P_l=np.full((3, 4, 3), 1 / 3)), r"P_l has shape \(3, 4, 3\).*S_g = 2"),
    (_with(P_l=np.full((3, 2, 2), 0.5)), r"P_l must have shape \(S_l, S_g, S_l\)"),
    (_with(r_g=np.zeros((2, 3))), r"r_g must have shape \(S_g, A_g\) = \(2, 2\)"),
    (_with(r_l=np.zeros((2, 3))), r"r_l must have shape \(S_l, S_g\) = \(3, 2\)"),
    (_with(r_l=_set((0, 1), np.nan)), r"r_l\[0, 1\] is nan"),
    (_with(n_agents=0), r"n_agents must be an integer >= 1; got 0"),
    (_with(n_agents=2.5), r"n_agents must be an integer"),
    (_with(gamma=1.0), r"gamma must be in \[0, 1\); got 1\.0"),
    (_with(gamma=None), r"gamma must be in \[0, 1\)"),
    (dict(_base(), init_g=[0.5, 0.6]), r"init_g sums to 1\.1; it must sum to 1"),
    (dict(_base(), init_l=[1.2, 0.0, -0.2]), r"init_l\[2\] = -0\.2 is negative"),
    (dict(_base(), init_g=5), r"init_g = 5 is not a state index in \[0, 2\)"),
    (dict(_base(), init_l=np.full((3, 3), 1 / 3)), r"per-agent init_l must have shape .*\(2, 3\)"),
    (dict(_base(), init_l=[1.0, 0.0]), r"init_l must be a state index or a distribution"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD)
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlobalLocalSystem(**kwargs)


def test_bad_use():
    system = GlobalLocalSystem(**_base())
    with pytest.raises(AttributeError, match="immutable"):
        system.n_agents = 3
    with pytest.raises(ValueError, match="read-only"):
        system.P_l[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match=r"k = 3 exceeds n_agents = 2"):
        system.subsample_policy(np.zeros((2, 10), dtype=int), 3)
    with pytest.raises(ValueError, match=r"policy\[1, 2\] = 5 is not an action in \[0, 2\)"):
        system.evaluate(_set((1, 2), 5)(np.zeros((2, 6), dtype=int)))
    with pytest.raises(ValueError, match=r"must have shape \(S_g, M\) = \(2, 6\)"):
        system.evaluate(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match=r"counts sum to 3; there are 2 agents"):
        system.count_index(0, np.array([1, 1, 1]))
    with pytest.raises(ValueError, match=r"local_states\[1\] = 7 is not a local state"):
        system.sample_next(0, np.array([0, 7]), 0, 5)
    with pytest.raises(ValueError, match=r"a_g = 2 is not an action"):
        system.sample_next(0, np.array([0, 1]), 2, 5)
    with pytest.raises(ValueError, match="record must be"):
        system.simulate(np.zeros(2, dtype=int), 5, 2, record="all")
    with pytest.raises(
        ValueError,
        match=r"joint MDP would have .* = 1953125 states, more than "
        r"max_states=50000",
    ):
        demand_response(4).joint_mdp()
    with pytest.raises(ValueError, match=r"count MDP .* more than max_nnz"):
        demand_response(5).count_mdp()
    with pytest.raises(ValueError, match=r"levels must be an integer >= 2; got 1"):
        demand_response(2, levels=1)
    with pytest.raises(ValueError, match=r"service_probs\[1\] must be a probability"):
        queueing(2, service_probs=(0.5, 1.2))
    with pytest.raises(ValueError, match=r"arrival_prob must be a probability"):
        queueing(2, arrival_prob=-0.1)


def test_methods_are_the_planning_solvers():
    """The GlobalLocalSystem methods are thin wrappers of mdplab.planning.global_local_*."""
    system = random_system(12, 3)
    rng = np.random.default_rng(2)
    pi = rng.integers(0, system.A_g, size=(system.S_g, system.n_counts))
    pi_k = rng.integers(0, system.A_g, size=(system.S_g, system.count_space_size(2)))
    for method in ("auto", "value_iteration", "policy_iteration"):
        a, b = system.solve(1e-9, method), global_local_solve(system, 1e-9, method)
        np.testing.assert_array_equal(a.values, b.values)
        assert a.method == b.method
    np.testing.assert_array_equal(system.optimal_values(), global_local_optimal_values(system))
    np.testing.assert_array_equal(
        system.evaluate(pi).values, global_local_evaluate(system, pi).values
    )
    np.testing.assert_array_equal(
        system.evaluate_subsample(pi_k, 2).values,
        global_local_evaluate_subsample(system, pi_k, 2).values,
    )
    assert "mdplab.planning.global_local_solve" in GlobalLocalSystem.solve.__doc__
    with pytest.raises(TypeError, match="expected a GlobalLocalSystem"):
        global_local_solve(system.count_mdp())

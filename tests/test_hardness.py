"""Hardness measures: closed forms, brute-force enumeration, dense/sparse agreement."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import random_kernel

from mdplab import TabularMDP
from mdplab.hardness import (
    COLOSSEUM_GAP_REGULARIZATION,
    diameter,
    environmental_value_norm,
    hardness_report,
    sum_reciprocal_gaps,
    value_span,
)
from mdplab.planning import backward_induction, solve

# ------------------------------------------------------------------ helpers


def chain_hitting_times(M, target):
    """Expected hitting time of the set ``target`` in the Markov chain ``M`` (inf where
    the set is not reached almost surely), by plain linear algebra."""
    n = len(M)
    can = target.copy()
    while True:  # states with a path to the target
        new = can | (M[:, can] > 0).any(axis=1)
        if (new == can).all():
            break
        can = new
    u = target.astype(float)
    idx = can & ~target
    if idx.any():
        Q = M[np.ix_(idx, idx)]
        u[idx] = np.linalg.solve(np.eye(idx.sum()) - Q, M[np.ix_(idx, target)].sum(1))
    sure = (u > 1 - 1e-9) & ~target
    h = np.full(n, np.inf)
    h[target] = 0.0
    if sure.any():
        Q = M[np.ix_(sure, sure)]
        h[sure] = np.linalg.solve(np.eye(sure.sum()) - Q, np.ones(sure.sum()))
    return h


def brute_diameter(P):
    """max_{s != t} min over all deterministic stationary policies of E[hit t | s]."""
    S, A, _ = P.shape
    best = np.full((S, S), np.inf)
    for pi in itertools.product(range(A), repeat=S):
        M = P[np.arange(S), list(pi)]
        for t in range(S):
            best[:, t] = np.minimum(best[:, t], chain_hitting_times(M, np.arange(S) == t))
    off = ~np.eye(S, dtype=bool)
    return float(best[off].max()) if S > 1 else 0.0


def brute_episodic_diameter(P, init, H):
    """Colosseum's episodic diameter on the explicit time-augmented chain with reset,
    minimising over every deterministic Markov policy."""
    S, A = P.shape[-1], P.shape[-2]
    Ps = P if P.ndim == 4 else np.broadcast_to(P, (H, S, A, S))
    reach = np.zeros((H, S), dtype=bool)
    reach[0] = init > 0
    for h in range(H - 1):
        reach[h + 1] = (Ps[h][reach[h]] > 0).any(axis=(0, 1))
    n = H * S
    best = np.full((n, S), np.inf)
    for flat in itertools.product(range(A), repeat=(H - 1) * S):
        pol = np.array(flat, dtype=int).reshape(H - 1, S)
        M = np.zeros((n, n))
        for h in range(H - 1):
            M[h * S:(h + 1) * S, (h + 1) * S:(h + 2) * S] = Ps[h][np.arange(S), pol[h]]
        M[(H - 1) * S:, :S] = init
        for t in range(S):
            target = np.tile(np.arange(S) == t, H)
            best[:, t] = np.minimum(best[:, t], chain_hitting_times(M, target))
    base = reach.any(axis=0)
    D = 0.0
    for t in np.flatnonzero(base):
        for s in np.flatnonzero(base):
            if s != t:
                D = max(D, min(best[h * S + s, t] for h in range(H) if reach[h, s]))
    return D


def ring(n, gamma=0.9):
    """Deterministic ring: action 0 moves s -> s+1 (mod n), action 1 stays."""
    P = np.zeros((n, 2, n))
    for s in range(n):
        P[s, 0, (s + 1) % n] = 1.0
        P[s, 1, s] = 1.0
    return TabularMDP(P, np.zeros((n, 2)), gamma=gamma)


def two_state_move(p, **kw):
    """Action 0 moves to the other state w.p. p (else stays); action 1 stays."""
    P = np.zeros((2, 2, 2))
    P[0, 0] = [1 - p, p]
    P[1, 0] = [p, 1 - p]
    P[0, 1] = [1, 0]
    P[1, 1] = [0, 1]
    return TabularMDP(P, np.zeros((2, 2)), **kw)


def stay_switch(**kw):
    """2 states, deterministic; action 0 stays, 1 switches; only (1, stay) pays 1."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = 1.0
    P[0, 1, 1] = P[1, 1, 0] = 1.0
    R = np.array([[0.0, 0.0], [1.0, 0.0]])
    return TabularMDP(P, R, **kw)


# ----------------------------------------------------------------- diameter


@pytest.mark.parametrize("n", [2, 3, 7, 12])
def test_ring_diameter_is_n_minus_1(n):
    m = ring(n)
    assert diameter(m) == pytest.approx(n - 1, abs=1e-10)
    assert diameter(m.to_sparse()) == pytest.approx(n - 1, abs=1e-10)
    # forward-only ring (A = 1) too
    P1 = np.ascontiguousarray(m.dense_P()[:, :1])
    assert diameter(TabularMDP(P1, np.zeros((n, 1)), gamma=0.5)) == pytest.approx(n - 1)


@pytest.mark.parametrize("p", [1.0, 0.5, 0.3, 0.01])
def test_two_state_diameter_is_one_over_p(p):
    m = two_state_move(p, gamma=0.9)
    assert diameter(m) == pytest.approx(1.0 / p, rel=1e-12)
    assert diameter(m.to_sparse()) == pytest.approx(1.0 / p, rel=1e-12)


def test_policy_iteration_leaves_the_short_risky_route():
    # 0 -> 3 directly w.p. 0.1 (BFS-closest, 10 steps on average) or 0 -> 1 -> 2 -> 3 surely;
    # 3 -> 0 always. Every optimal hitting time is <= 3, so D = 3.
    P = np.zeros((4, 2, 4))
    P[0, 0] = [0.9, 0.0, 0.0, 0.1]
    P[0, 1, 1] = 1.0
    P[1, :, 2] = 1.0
    P[2, :, 3] = 1.0
    P[3, :, 0] = 1.0
    m = TabularMDP(P, np.zeros((4, 2)), gamma=0.9)
    assert diameter(m) == pytest.approx(3.0)
    assert diameter(m.to_sparse()) == pytest.approx(3.0)
    assert brute_diameter(P) == pytest.approx(3.0)


def test_non_communicating_is_inf():
    P = np.zeros((3, 2, 3))
    P[0, :, 1] = 1.0
    P[1, 0, 2] = 1.0
    P[1, 1, 0] = 1.0
    P[2, :, 2] = 1.0  # absorbing
    m = TabularMDP(P, np.zeros((3, 2)), gamma=0.9)
    assert diameter(m) == math.inf
    assert diameter(m.to_sparse()) == math.inf


def test_single_state_has_zero_diameter():
    m = TabularMDP(np.ones((1, 2, 1)), np.zeros((1, 2)), gamma=0.5)
    assert diameter(m) == 0.0


def test_diameter_ignores_rewards_and_gamma():
    rng = np.random.default_rng(0)
    P = random_kernel(rng, (5, 2, 5), zeros=0.3)
    a = diameter(TabularMDP(P, rng.random((5, 2)), gamma=0.1))
    b = diameter(TabularMDP(P, -rng.random((5, 2)), gamma=0.99))
    assert a == b


def test_diameter_matches_brute_force_on_random_tiny_mdps():
    rng = np.random.default_rng(7)
    n_finite = n_inf = 0
    for trial in range(40):
        S = int(rng.integers(2, 5))
        A = int(rng.integers(1, 4))
        P = random_kernel(rng, (S, A, S), zeros=0.55 if trial % 2 else 0.25)
        m = TabularMDP(P, np.zeros((S, A)), gamma=0.9)
        want = brute_diameter(P)
        got, got_sparse = diameter(m), diameter(m.to_sparse())
        if math.isinf(want):
            n_inf += 1
            assert got == math.inf and got_sparse == math.inf
        else:
            n_finite += 1
            assert got == pytest.approx(want, rel=1e-9)
            assert got_sparse == pytest.approx(want, rel=1e-9)
    assert n_finite >= 10 and n_inf >= 3  # both branches exercised


def test_reachable_only_restricts_to_the_closed_reachable_set():
    # states 0, 1 form a 2-state move model; state 2 (unreachable from 0) is absorbing
    P = np.zeros((3, 2, 3))
    P[:2, :, :2] = two_state_move(0.25, gamma=0.5).dense_P()
    P[2, :, 2] = 1.0
    m = TabularMDP(P, np.zeros((3, 2)), gamma=0.5, init=0)
    assert diameter(m) == math.inf
    assert diameter(m, reachable_only=True) == pytest.approx(4.0)
    assert diameter(m.to_sparse(), reachable_only=True) == pytest.approx(4.0)


def test_sparse_larger_model_agrees_with_dense():
    rng = np.random.default_rng(3)
    S, A, k = 60, 3, 4
    succ = rng.integers(0, S, (S, A, k))
    prob = rng.random((S, A, k))
    prob /= prob.sum(-1, keepdims=True)
    m = TabularMDP.from_successors(succ, prob, np.zeros((S, A)), gamma=0.9)
    d_sparse = diameter(m)
    assert math.isfinite(d_sparse)
    assert diameter(m.to_dense()) == pytest.approx(d_sparse, rel=1e-10)


def test_sparse_lu_and_dense_lu_paths_agree(monkeypatch):
    import mdplab.hardness as hd

    rng = np.random.default_rng(4)
    S, A, k = 40, 2, 3
    succ = rng.integers(0, S, (S, A, k))
    succ[:, 0, 0] = (np.arange(S) + 1) % S  # a ring inside keeps it communicating
    prob = rng.random((S, A, k))
    prob /= prob.sum(-1, keepdims=True)
    m = TabularMDP.from_successors(succ, prob, np.zeros((S, A)), gamma=0.9)
    d_dense = diameter(m)
    monkeypatch.setattr(hd, "_DENSE_SOLVE_SMALL_S", 0)  # force sparse LU
    assert math.isfinite(d_dense)
    assert diameter(m) == pytest.approx(d_dense, rel=1e-10)
    assert diameter(m.to_dense()) == pytest.approx(d_dense, rel=1e-10)
    assert diameter(ring(150)) == pytest.approx(149)


# ------------------------------------------------------ episodic diameter


@pytest.mark.parametrize("p", [1.0, 0.5, 0.2])
def test_episodic_diameter_closed_form(p):
    # H = 2, init = state 0. Target 1 from (0, 0): x = 1 + (1-p)(1 + x) -> x = (2-p)/p,
    # and from (1, 0) it is 1 + x; target 0 from (1, 1): one reset step. D = (2-p)/p.
    m = two_state_move(p, horizon=2)
    assert diameter(m) == pytest.approx((2 - p) / p, rel=1e-12)
    assert diameter(m.to_sparse()) == pytest.approx((2 - p) / p, rel=1e-12)


def test_episodic_diameter_horizon_one_is_geometric_reset():
    n = 4
    init = np.array([0.1, 0.2, 0.3, 0.4])
    m = TabularMDP(np.tile(np.eye(n)[:, None, :], (1, 2, 1)), np.zeros((n, 2)), horizon=1,
                   init=init)
    # every step is a reset: from s != t the time to hit t is 1 / init(t)
    assert diameter(m) == pytest.approx(1 / 0.1)


@pytest.mark.parametrize("n", [3, 5])
def test_episodic_diameter_on_a_deterministic_ring(n):
    # init = 0, H = n: state s is reachable at stages h >= s. The worst pair is 0 -> n-1:
    # n-1 forward steps from (0, 0) (from later stages the walk must reset first);
    # e.g. 1 -> 0 costs a single step, from (H-1, 1) through the reset to (0, 0).
    m = ring(n).replace(gamma=None, horizon=n)
    assert diameter(m) == pytest.approx(n - 1)
    if n == 3:
        assert brute_episodic_diameter(m.dense_P(), m.init, n) == pytest.approx(n - 1)


def test_episodic_diameter_matches_brute_force():
    rng = np.random.default_rng(11)
    for trial in range(25):
        S = int(rng.integers(2, 4))
        A = 2 if S == 3 else int(rng.integers(1, 4))
        H = int(rng.integers(1, 4)) if S == 2 else int(rng.integers(1, 3))
        stage_dep = trial % 2 == 0
        P = random_kernel(rng, (H, S, A, S) if stage_dep else (S, A, S), zeros=0.5)
        init = np.zeros(S)
        init[rng.choice(S, size=int(rng.integers(1, S + 1)), replace=False)] = 1.0
        init = init * rng.random(S) + init * 0.1
        init /= init.sum()
        m = TabularMDP(P, np.zeros((S, A)), horizon=H, init=init)
        want = brute_episodic_diameter(P, init, H)
        assert math.isfinite(want)
        assert diameter(m) == pytest.approx(want, rel=1e-9), (trial, S, A, H)
        assert diameter(m.to_sparse()) == pytest.approx(want, rel=1e-9)


def test_episodic_diameter_sparse_products_and_chunking_agree(monkeypatch):
    import mdplab.hardness as hd

    rng = np.random.default_rng(8)
    S, A, H = 7, 3, 4
    m = TabularMDP(random_kernel(rng, (H, S, A, S), zeros=0.6), np.zeros((S, A)), horizon=H,
                   init=np.full(S, 1 / S))
    want = diameter(m)
    # tiny budget: CSR stage products and one target per chunk
    monkeypatch.setattr(hd, "_AUG_CHUNK_ELEMS", 10)
    assert diameter(m) == pytest.approx(want, rel=1e-10)
    assert diameter(m.to_sparse()) == pytest.approx(want, rel=1e-10)


def test_time_augmented_false_gives_the_kernel_diameter():
    m = two_state_move(0.25, horizon=3)
    assert diameter(m, time_augmented=False) == pytest.approx(4.0)
    assert diameter(m, time_augmented=False) == diameter(m.replace(horizon=None, gamma=0.5))


def test_diameter_bad_inputs():
    with pytest.raises(TypeError, match="TabularMDP"):
        diameter(np.eye(2))
    with pytest.raises(ValueError, match="finite-horizon"):
        diameter(ring(3), time_augmented=True)
    rng = np.random.default_rng(0)
    m = TabularMDP(random_kernel(rng, (3, 2, 2, 2)), np.zeros((2, 2)), horizon=3)
    with pytest.raises(ValueError, match="stage-dependent"):
        diameter(m, time_augmented=False)
    assert math.isfinite(diameter(m))  # the time-augmented default is defined


# --------------------------------------------------------------------- gaps


def test_gaps_hand_computed_discounted():
    # gamma = 1/2: V* = (1, 2); Q*(0) = (1/2, 1), Q*(1) = (2, 1/2).
    # Gaps: (0, stay) = 1/2, (1, switch) = 3/2 -> 2 + 2/3.
    m = stay_switch(gamma=0.5)
    assert sum_reciprocal_gaps(m) == pytest.approx(2 + 2 / 3, rel=1e-9)
    # Colosseum: all pairs, 1 / (gap + 0.1): 1/0.6 + 1/0.1 + 1/0.1 + 1/1.6
    want = 1 / 0.6 + 10 + 10 + 1 / 1.6
    got = sum_reciprocal_gaps(m, regularization=COLOSSEUM_GAP_REGULARIZATION)
    assert got == pytest.approx(want, rel=1e-9)
    assert sum_reciprocal_gaps(m.to_sparse()) == pytest.approx(2 + 2 / 3, rel=1e-9)


def test_gaps_hand_computed_finite_horizon():
    # H = 2, init = 0. Stage 1: Q_1 = R -> gaps (0,0) at s=0, (0,1) at s=1.
    # Stage 0 (V_1 = (0, 1)): Q_0(0) = (0, 1), Q_0(1) = (2, 0) -> gaps (1, 0), (0, 2).
    # Reachable: (0, 0), (1, 0), (1, 1) -> 1/1 + 1/1 = 2; all pairs add 1/2.
    m = stay_switch(horizon=2)
    assert sum_reciprocal_gaps(m) == pytest.approx(2.0)
    assert sum_reciprocal_gaps(m, reachable_only=False) == pytest.approx(2.5)
    want = (1 / 1.1 + 10) + 20 + (10 + 1 / 1.1)
    assert sum_reciprocal_gaps(m, regularization=0.1) == pytest.approx(want)


def test_gaps_zero_when_all_actions_tie_and_tol_absorbs_noise():
    m = TabularMDP(np.full((3, 2, 3), 1 / 3), np.ones((3, 2)), gamma=0.9)
    assert sum_reciprocal_gaps(m) == 0.0
    assert sum_reciprocal_gaps(m, regularization=0.1) == pytest.approx(6 / 0.1)
    # a 1e-12 reward difference is below the default tolerance
    R = np.ones((3, 2))
    R[0, 1] -= 1e-12
    assert sum_reciprocal_gaps(m.replace(R=R)) == 0.0
    assert sum_reciprocal_gaps(m.replace(R=R), tol=0.0, eps=1e-14) > 1e11


def test_gaps_reuse_a_solution_and_check_its_shape():
    m = stay_switch(gamma=0.5)
    sol = solve(m, 1e-12)
    assert sum_reciprocal_gaps(m, solution=sol) == pytest.approx(2 + 2 / 3)
    with pytest.raises(ValueError, match="solution"):
        sum_reciprocal_gaps(stay_switch(horizon=2), solution=sol)
    with pytest.raises(TypeError):
        sum_reciprocal_gaps(m, solution="not a result")
    with pytest.raises(ValueError, match="tol"):
        sum_reciprocal_gaps(m, tol=-1.0)
    with pytest.raises(ValueError, match="regularization"):
        sum_reciprocal_gaps(m, regularization=float("nan"))
    with pytest.raises(TypeError):
        sum_reciprocal_gaps([[1.0]])


# --------------------------------------------------------------- value norm


def test_value_norm_hand_computed():
    # State 1 absorbing, reward 1: V*(1) = 2 at gamma = 1/2. State 0: action 0 -> (1/2, 1/2),
    # action 1 stays; V*(0) = 1/4 V*(0) + 1/2 -> 2/3. Std of (2/3, 2) under (1/2, 1/2) = 2/3.
    P = np.zeros((2, 2, 2))
    P[0, 0] = [0.5, 0.5]
    P[0, 1] = [1.0, 0.0]
    P[1, :, 1] = 1.0
    R = np.array([[0.0, 0.0], [1.0, 1.0]])
    m = TabularMDP(P, R, gamma=0.5)
    assert environmental_value_norm(m) == pytest.approx(2 / 3, rel=1e-9)
    assert environmental_value_norm(m.to_sparse()) == pytest.approx(2 / 3, rel=1e-9)
    assert value_span(m) == pytest.approx(2 - 2 / 3, rel=1e-9)


def test_value_norm_is_zero_for_deterministic_transitions():
    assert environmental_value_norm(stay_switch(gamma=0.9)) == pytest.approx(0.0, abs=1e-12)
    assert environmental_value_norm(ring(5)) == 0.0


def test_value_norm_finite_horizon_and_reachability():
    # H = 2, init = 0: V*_1 = (0, 1); stage-0 action 0 at state 0 goes to (1/2, 1/2) -> 1/2.
    P = np.zeros((2, 2, 2))
    P[0, 0] = [0.5, 0.5]
    P[0, 1] = [1.0, 0.0]
    P[1, :, 1] = 1.0
    R = np.array([[0.0, 0.0], [1.0, 1.0]])
    m = TabularMDP(P, R, horizon=2)
    assert environmental_value_norm(m) == pytest.approx(0.5)
    # Discounted: an unreachable state with a stochastic action only counts when asked.
    P3 = np.zeros((3, 2, 3))
    P3[0, :, 0] = 1.0
    P3[1, :, 1] = 1.0
    P3[2, 0, :2] = 0.5
    P3[2, 1, 2] = 1.0
    R3 = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    m3 = TabularMDP(P3, R3, gamma=0.5, init=0)
    assert environmental_value_norm(m3) == pytest.approx(1.0)  # |V(0) - V(1)| / 2 = 2 / 2
    assert environmental_value_norm(m3, reachable_only=True) == 0.0


# --------------------------------------------------------------------- span


def test_value_span():
    assert value_span(stay_switch(gamma=0.5)) == pytest.approx(1.0)  # V* = (1, 2)
    # finite horizon: V*_0 = (1, 2) for H = 2
    m = stay_switch(horizon=2)
    assert np.allclose(backward_induction(m).values[0], [1.0, 2.0])
    assert value_span(m) == pytest.approx(1.0)


# ------------------------------------------------------------------- report


def test_report_keys_and_dense_sparse_agreement():
    rng = np.random.default_rng(5)
    S, A = 6, 3
    disc = TabularMDP(random_kernel(rng, (S, A, S), zeros=0.4), rng.random((S, A)), gamma=0.9,
                      name="rand")
    fin = TabularMDP(random_kernel(rng, (4, S, A, S), zeros=0.4), rng.random((4, S, A)),
                     horizon=4, init=np.full(S, 1 / S))
    for m in (disc, fin):
        a, b = hardness_report(m), hardness_report(m.to_sparse())
        assert set(a) == {
            "name", "S", "A", "gamma", "horizon", "diameter", "sum_reciprocal_gaps",
            "sum_reciprocal_gaps_colosseum", "environmental_value_norm", "value_span",
        }
        for k in a:
            if isinstance(a[k], float):
                assert a[k] == pytest.approx(b[k], rel=1e-7), k
            else:
                assert a[k] == b[k]
        assert a["S"] == S and a["A"] == A
    rep = hardness_report(disc)
    assert rep["name"] == "rand" and rep["gamma"] == 0.9 and rep["horizon"] is None
    assert rep["diameter"] == diameter(disc)
    assert rep["value_span"] == pytest.approx(value_span(disc), abs=1e-7)
    with pytest.raises(TypeError):
        hardness_report(None)

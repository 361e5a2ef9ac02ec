"""Exact solvers against each other and against brute-force enumeration."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import (
    discounted_optimum_by_enumeration,
    finite_horizon_optimum_by_enumeration,
    finite_horizon_value,
)
from conftest import random_dense
from hypothesis import given
from hypothesis import strategies as st

from mdplab.models import TabularMDP
from mdplab.planning import (
    BellmanOperator,
    backward_induction,
    evaluate_policy,
    modified_policy_iteration,
    policy_iteration,
    solve,
    solve_lp,
    value_iteration,
)

TOL = 1e-8


@st.composite
def discounted_mdps(draw):
    S = draw(st.integers(1, 5))
    A = draw(st.integers(1, 3))
    gamma = draw(st.sampled_from([0.0, 0.3, 0.7, 0.9, 0.95]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    P = random_dense(rng, S, A, zeros=draw(st.sampled_from([0.0, 0.5, 0.9])))
    R = rng.uniform(-1, 1, (S, A))
    return TabularMDP(P, R, gamma=gamma)


@given(discounted_mdps())
def test_vi_pi_mpi_lp_and_enumeration_agree(mdp):
    ref = discounted_optimum_by_enumeration(np.asarray(mdp.P), np.asarray(mdp.R), mdp.gamma)
    results = [
        value_iteration(mdp, eps=1e-10),
        value_iteration(mdp, eps=1e-10, stopping_rule="supnorm"),
        policy_iteration(mdp),
        modified_policy_iteration(mdp, eps=1e-10, m=5),
        solve_lp(mdp),
        solve(mdp, eps=1e-10),
    ]
    for res in results:
        err = np.abs(res.values - ref).max()
        assert err <= TOL, (res.method, err)
        # The certificate must hold: the reported bound is never beaten by the truth.
        assert err <= res.error_bound + 1e-12, (res.method, err, res.error_bound)
        assert res.converged
        # The returned policy is optimal: its exact value is V*.
        v_pi = evaluate_policy(mdp, res.policy).values
        assert np.abs(v_pi - ref).max() <= TOL, res.method


@given(discounted_mdps())
def test_sparse_form_gives_the_same_answers(mdp):
    sparse = mdp.to_sparse()
    for solver in (value_iteration, policy_iteration, solve_lp):
        a, b = solver(mdp), solver(sparse)
        assert np.abs(a.values - b.values).max() <= 1e-9
        assert np.abs(a.q - b.q).max() <= 1e-9


@st.composite
def finite_horizon_mdps(draw):
    S = draw(st.integers(1, 3))
    A = draw(st.integers(1, 2))
    H = draw(st.integers(1, 3))
    stage_dependent = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    P = random_dense(rng, S, A, H if stage_dependent else None)
    R = rng.uniform(-1, 1, (H, S, A) if stage_dependent else (S, A))
    return TabularMDP(P, R, horizon=H)


@given(finite_horizon_mdps())
def test_backward_induction_matches_enumeration(mdp):
    P, R, H = np.asarray(mdp.P), np.asarray(mdp.R), mdp.horizon
    ref = finite_horizon_optimum_by_enumeration(P, R, H)
    bi = backward_induction(mdp)
    assert bi.values.shape == (H + 1, mdp.S)
    assert np.all(bi.values[H] == 0)
    assert np.abs(bi.values[0] - ref).max() <= 1e-12
    # The greedy policy achieves it when evaluated independently.
    assert np.abs(finite_horizon_value(P, R, H, bi.policy) - ref).max() <= 1e-12
    for other in (backward_induction(mdp.to_sparse()), solve_lp(mdp)):
        assert np.abs(other.values - bi.values).max() <= TOL
        assert np.abs(other.values[0] - ref).max() <= other.error_bound + TOL


def test_backward_induction_stage_dependent_uses_each_stage():
    # Stage 0 moves deterministically to state 1, stage 1 only pays in state 1.
    P = np.zeros((2, 2, 1, 2))
    P[0, :, 0, 1] = 1.0
    P[1, :, 0, 0] = 1.0
    R = np.zeros((2, 2, 1))
    R[1, 1, 0] = 5.0
    res = backward_induction(TabularMDP(P, R, horizon=2))
    np.testing.assert_array_equal(res.values, [[5.0, 5.0], [0.0, 5.0], [0.0, 0.0]])


def test_evaluate_policy_stochastic_discounted_against_neumann_series(rng):
    S, A, g = 4, 3, 0.8
    mdp = TabularMDP(random_dense(rng, S, A), rng.random((S, A)), gamma=g)
    pi = rng.dirichlet(np.ones(A), size=S)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    r_pi = (pi * mdp.R).sum(1)
    # Independent: truncated Neumann series sum_t gamma^t P_pi^t r_pi.
    V, term = np.zeros(S), r_pi.copy()
    for _ in range(400):
        V += term
        term = g * P_pi @ term
    res = evaluate_policy(mdp, pi)
    assert np.abs(res.values - V).max() <= 1e-12
    assert res.error_bound <= 1e-12
    assert np.abs(evaluate_policy(mdp.to_sparse(), pi).values - V).max() <= 1e-12
    # Q^pi is consistent with V^pi.
    assert np.abs((pi * res.q).sum(1) - res.values).max() <= 1e-12


def test_evaluate_policy_finite_horizon_forms(rng):
    S, A, H = 3, 2, 4
    P = random_dense(rng, S, A, H)
    R = rng.random((H, S, A))
    mdp = TabularMDP(P, R, horizon=H)
    det = rng.integers(0, A, (H, S))
    ref = finite_horizon_value(P, R, H, det)
    assert np.abs(evaluate_policy(mdp, det).values[0] - ref).max() <= 1e-12
    # A one-hot stochastic policy is the same policy.
    onehot = np.eye(A)[det]
    assert np.abs(evaluate_policy(mdp, onehot).values[0] - ref).max() <= 1e-12
    # A stationary deterministic policy broadcasts over stages.
    stat = rng.integers(0, A, S)
    ref_stat = finite_horizon_value(P, R, H, np.tile(stat, (H, 1)))
    assert np.abs(evaluate_policy(mdp, stat).values[0] - ref_stat).max() <= 1e-12


def test_evaluate_policy_finite_horizon_stochastic_by_trajectory_enumeration():
    rng = np.random.default_rng(7)
    S, A, H = 2, 2, 3
    P = random_dense(rng, S, A)
    R = rng.random((S, A))
    pi = rng.dirichlet(np.ones(A), size=(H, S))
    mdp = TabularMDP(P, R, horizon=H, init=0)
    # Sum over every (a_0, s_1, a_1, s_2, a_2) path from s_0 = 0.
    total = 0.0
    import itertools

    for path in itertools.product(range(A), range(S), range(A), range(S), range(A)):
        a0, s1, a1, s2, a2 = path
        p = pi[0, 0, a0] * P[0, a0, s1] * pi[1, s1, a1] * P[s1, a1, s2] * pi[2, s2, a2]
        total += p * (R[0, a0] + R[s1, a1] + R[s2, a2])
    res = evaluate_policy(mdp, pi)
    assert abs(res.initial_value - total) <= 1e-12


def test_gamma_zero_is_myopic(rng):
    mdp = TabularMDP(random_dense(rng, 5, 3), rng.random((5, 3)), gamma=0.0)
    for solver in (value_iteration, policy_iteration, solve_lp):
        res = solver(mdp)
        np.testing.assert_allclose(res.values, mdp.R.max(1), atol=1e-12)


def test_certificate_holds_on_slowly_mixing_chain():
    # A deterministic cycle: span(TV - V) contracts only like gamma, the worst case.
    S, g = 30, 0.99
    P = np.zeros((S, 1, S))
    P[np.arange(S), 0, (np.arange(S) + 1) % S] = 1.0
    R = np.zeros((S, 1))
    R[0, 0] = 1.0
    mdp = TabularMDP(P, R, gamma=g)
    exact = np.array([g ** ((S - s) % S) / (1 - g**S) for s in range(S)])
    for rule in ("bounds", "supnorm"):
        res = value_iteration(mdp, eps=1e-6, stopping_rule=rule)
        err = np.abs(res.values - exact).max()
        assert res.converged and err <= res.error_bound <= 1e-6
    capped = value_iteration(mdp, eps=1e-12, max_iter=10)
    assert not capped.converged and capped.iterations == 10
    assert np.abs(capped.values - exact).max() <= capped.error_bound
    assert np.abs(solve(mdp, eps=1e-10).values - exact).max() <= 1e-10


def test_vi_bounds_stop_far_sooner_than_supnorm_on_mixing_model(rng):
    S, A = 60, 4
    mdp = TabularMDP(random_dense(rng, S, A, zeros=0.0), rng.random((S, A)), gamma=0.99)
    fast = value_iteration(mdp, eps=1e-8)
    slow = value_iteration(mdp, eps=1e-8, stopping_rule="supnorm")
    assert fast.iterations * 20 < slow.iterations
    assert np.abs(fast.values - slow.values).max() <= 2e-8


def test_lp_cvxpy_backend_and_raw_values(rng):
    mdp = TabularMDP(random_dense(rng, 4, 2), rng.random((4, 2)), gamma=0.9)
    ref = policy_iteration(mdp).values
    res = solve_lp(mdp, backend="cvxpy")
    assert np.abs(res.values - ref).max() <= TOL
    raw = solve_lp(mdp, polish=False)
    assert np.abs(raw.values - ref).max() <= raw.error_bound + 1e-12
    np.testing.assert_allclose(raw.info["lp_values"], raw.values)


def test_bellman_operator_matches_numpy(rng):
    S, A, g = 7, 3, 0.9
    mdp = TabularMDP(random_dense(rng, S, A), rng.random((S, A)), gamma=g)
    V = rng.random(S)
    expect = (mdp.R + g * np.einsum("sat,t->sa", mdp.P, V)).max(1)
    np.testing.assert_allclose(BellmanOperator(mdp)(V), expect, atol=1e-14)
    np.testing.assert_allclose(BellmanOperator(mdp.to_sparse())(V), expect, atol=1e-14)


def test_result_shapes_and_methods(rng):
    disc = TabularMDP(random_dense(rng, 3, 2), rng.random((3, 2)), gamma=0.5)
    res = value_iteration(disc)
    assert res.values.shape == (3,) and res.q.shape == (3, 2) and res.policy.shape == (3,)
    assert res.method == "value_iteration" and "MacQueen" in res.stopping_rule
    fin = disc.replace(gamma=None, horizon=4)
    res = backward_induction(fin)
    assert res.values.shape == (5, 3) and res.q.shape == (4, 3, 2) and res.policy.shape == (4, 3)
    assert res.error_bound == 0.0 and res.initial_value == res.values[0, 0]


def test_solver_model_kind_errors(rng):
    disc = TabularMDP(random_dense(rng, 3, 2), rng.random((3, 2)), gamma=0.5)
    fin = disc.replace(gamma=None, horizon=2)
    with pytest.raises(ValueError, match="backward_induction"):
        value_iteration(fin)
    with pytest.raises(ValueError, match="discounted"):
        backward_induction(disc)
    with pytest.raises(ValueError, match="eps"):
        value_iteration(disc, eps=0)
    with pytest.raises(ValueError, match="stopping_rule"):
        value_iteration(disc, stopping_rule="span")
    with pytest.raises(ValueError, match="m "):
        modified_policy_iteration(disc, m=-1)
    with pytest.raises(ValueError, match="backend"):
        solve_lp(disc, backend="gurobi")
    with pytest.raises(TypeError):
        policy_iteration("not a model")


@pytest.mark.parametrize(
    "policy, match",
    [
        (np.array([0, 2, 0]), r"policy\[1\] = 2 is not an action"),
        (np.array([0, 1]), "shape"),
        (np.full((3, 2), 0.6), r"policy\[0, :\] sums to 1.2"),
        (np.array([[0.5, -0.5, 1.0]] * 3)[:, :2], "probability"),
        (np.array(["a", "b", "c"]), "dtype"),
    ],
)
def test_evaluate_policy_rejects_bad_policies(rng, policy, match):
    disc = TabularMDP(random_dense(rng, 3, 2), rng.random((3, 2)), gamma=0.5)
    with pytest.raises(ValueError, match=match):
        evaluate_policy(disc, policy)


@pytest.mark.parametrize("zeros, fixed", [(0.0, True), (0.6, False)])
def test_fixed_width_and_ragged_sparse_kernels_match_dense(rng, zeros, fixed):
    S, A, H = 8, 3, 4
    P = random_dense(rng, S, A, H, zeros=zeros)
    if not fixed:
        P[0, 0, 0] = np.eye(S)[1]  # one single-successor row guarantees ragged rows
    R = rng.random((H, S, A))
    fin = TabularMDP(P, R, horizon=H)
    sparse = fin.to_sparse()
    assert (sparse.csr.width > 0) == fixed
    np.testing.assert_allclose(backward_induction(sparse).q, backward_induction(fin).q,
                               atol=1e-14)
    disc = TabularMDP(P[0], R[0], gamma=0.9)
    for solver in (value_iteration, policy_iteration, modified_policy_iteration):
        a, b = solver(disc), solver(disc.to_sparse())
        np.testing.assert_allclose(a.values, b.values, atol=1e-9)
        np.testing.assert_array_equal(a.policy, b.policy)


def test_bellman_operator_rejects_bad_vectors_and_stages(rng):
    fin = TabularMDP(random_dense(rng, 4, 2, H=3), rng.random((3, 4, 2)), horizon=3)
    for mdp in (fin, fin.to_sparse()):
        with pytest.raises(ValueError, match="stage h"):
            BellmanOperator(mdp, 3)
        with pytest.raises(ValueError, match="stage h"):
            BellmanOperator(mdp, -1)
        op = BellmanOperator(mdp, 2)
        with pytest.raises(ValueError, match=r"V must have shape \(4,\)"):
            op(np.zeros(3))
        with pytest.raises(ValueError, match=r"V must have shape"):
            op(np.zeros((4, 1)))


def test_iteration_budgets_are_validated(rng):
    disc = TabularMDP(random_dense(rng, 3, 2), rng.random((3, 2)), gamma=0.99)
    with pytest.raises(ValueError, match="max_iter"):
        value_iteration(disc, max_iter=0)
    with pytest.raises(ValueError, match="max_iter"):
        policy_iteration(disc, max_iter=0)
    loose = value_iteration(disc, eps=1e4)  # a huge eps still runs one certified sweep
    assert loose.iterations == 1 and loose.converged
    assert modified_policy_iteration(disc, m=np.int64(3)).converged

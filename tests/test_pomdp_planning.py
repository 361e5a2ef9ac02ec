"""POMDP planning: exact alpha-vector VI against policy-tree enumeration, belief-tree
search and the underlying MDP; pruning against no pruning; PBVI's bounds against a
sandwich from exact VI; controller and belief-policy evaluation against forward
propagation and Monte Carlo; bad input."""

import numpy as np
import pytest
from brute_force import discounted_optimum_by_enumeration
from conftest import random_kernel
from pomdp_brute_force import (
    belief_tree_optimum,
    controller_value_forward,
    policy_tree_vectors,
)
from scipy.optimize import linprog

from mdplab.envs.tiger import tiger
from mdplab.models import TabularMDP
from mdplab.models.pomdp import POMDP
from mdplab.planning import backward_induction
from mdplab.planning.pomdp import (
    FiniteStateController,
    evaluate_belief_policy,
    evaluate_controller,
    fib_bound,
    pbvi,
    pomdp_value_iteration,
    prune_alpha_vectors,
    qmdp_bound,
)


def random_pomdp(rng, S, A, n_obs, **kw):
    T = random_kernel(rng, (S, A, S), zeros=0.3)
    Z = random_kernel(rng, (A, S, n_obs), zeros=0.2)
    return POMDP(T, Z, rng.random((S, A)), rng.dirichlet(np.ones(S)), **kw)


def belief_grid(S, rng, n_random=40):
    """A dense grid of the simplex (step 1/20, or 1/200 for two states) plus random points."""
    if S == 2:
        p = np.linspace(0, 1, 201)
        grid = np.column_stack([1 - p, p])
    else:
        k = 20 if S == 3 else 6
        pts = [c for c in np.ndindex(*(k + 1,) * (S - 1)) if sum(c) <= k]
        grid = np.array([[*c, k - sum(c)] for c in pts]) / k
    return np.concatenate([grid, rng.dirichlet(np.ones(S), n_random)])


def envelope(alphas, beliefs):
    return np.max(beliefs @ np.asarray(alphas).T, axis=1)


# ------------------------------------------------------------------ exact VI
@pytest.mark.parametrize("H", [1, 2, 4])
def test_identity_emissions_give_the_underlying_mdp(rng, H):
    """O[a] = I reveals the state after every action. Beliefs e_s get the MDP's V*_0(s);
    a mixed belief gets max_a b . Q*_0(:, a) (no observation precedes the first
    action, so b . V*_0 is only an upper bound there)."""
    for _ in range(3):
        S, A = 3, 2
        T = random_kernel(rng, (S, A, S), zeros=0.3)
        R = rng.random((S, A))
        res = pomdp_value_iteration(POMDP(T, np.eye(S), R, horizon=H))
        mdp = backward_induction(TabularMDP(T, R, horizon=H))
        for h in range(H + 1):
            for s in range(S):
                assert res.value(np.eye(S)[s], stage=h) == pytest.approx(mdp.values[h][s], abs=1e-9)
        for b in rng.dirichlet(np.ones(S), 5):
            assert res.value(b) == pytest.approx(np.max(b @ mdp.q[0]), abs=1e-9)
            assert res.value(b) <= b @ mdp.values[0] + 1e-9


@pytest.mark.parametrize("H", [1, 2, 3])
@pytest.mark.parametrize("discount", [None, 0.95])
def test_tiger_matches_policy_tree_enumeration(rng, H, discount):
    p = tiger(horizon=H)
    res = pomdp_value_iteration(p, discount=discount)
    trees = policy_tree_vectors(p.T, p.O, p.R, H, 1.0 if discount is None else discount)
    beliefs = np.concatenate(
        [[[0.5, 0.5], [0.85, 0.15], [1.0, 0.0], [0.0, 1.0], [0.3, 0.7]], rng.dirichlet([1, 1], 10)]
    )
    np.testing.assert_allclose(res.value(beliefs), envelope(trees, beliefs), atol=1e-9)
    # the same through the LP witness search
    lp = pomdp_value_iteration(p, discount=discount, witness="lp")
    np.testing.assert_allclose(lp.alphas, res.alphas, atol=1e-12)


@pytest.mark.parametrize(
    ("S", "A", "n_obs", "H", "discount"), [(3, 2, 2, 3, 1.0), (3, 3, 2, 2, 0.9), (2, 2, 3, 3, 0.8)]
)
def test_random_pomdps_match_belief_tree_search(rng, S, A, n_obs, H, discount):
    p = random_pomdp(rng, S, A, n_obs, horizon=H)
    res = pomdp_value_iteration(p, discount=discount)
    for b in [p.b0, *rng.dirichlet(np.ones(S), 4), np.eye(S)[0]]:
        assert res.value(b) == pytest.approx(
            belief_tree_optimum(p.T, p.O, p.R, b, H, discount), abs=1e-9
        )


PRUNE_CASES = [(2, 2, 2, 3), (3, 3, 2, 3), (2, 3, 3, 2), (3, 2, 3, 3), (3, 2, 2, 1), (2, 3, 2, 3)]


@pytest.mark.parametrize(("S", "A", "n_obs", "H"), PRUNE_CASES)
def test_pruning_never_changes_the_value_function(rng, S, A, n_obs, H):
    p = random_pomdp(rng, S, A, n_obs, horizon=H)
    full = pomdp_value_iteration(p, prune=None)
    inc = pomdp_value_iteration(p)
    batch = pomdp_value_iteration(p, prune="batch")
    grid = belief_grid(S, rng)
    for h in range(H + 1):
        ref = envelope(full.stage_alphas[h], grid)
        np.testing.assert_allclose(envelope(inc.stage_alphas[h], grid), ref, atol=1e-9)
        np.testing.assert_allclose(envelope(batch.stage_alphas[h], grid), ref, atol=1e-9)
        # a parsimonious set is unique: both pruning schedules keep the same vectors
        np.testing.assert_allclose(batch.stage_alphas[h], inc.stage_alphas[h], atol=1e-9)
    if S == 2:
        lp = pomdp_value_iteration(p, witness="lp")
        for h in range(H + 1):
            np.testing.assert_allclose(lp.stage_alphas[h], inc.stage_alphas[h], atol=1e-12)


def test_pruning_never_changes_tiger(rng):
    p = tiger(horizon=3)
    full = pomdp_value_iteration(p, prune=None)
    assert full.n_vectors[0] == 3 * 27**2  # every policy tree
    inc = pomdp_value_iteration(p)
    grid = belief_grid(2, rng)
    np.testing.assert_allclose(envelope(inc.alphas, grid), envelope(full.alphas, grid), atol=1e-9)


def lp_margin_against_others(alphas, i):
    """max_b min_{j != i} (alpha_i - alpha_j) . b over the simplex (plain LP)."""
    others = np.delete(alphas, i, axis=0)
    if len(others) == 0:
        return np.inf
    S = alphas.shape[1]
    res = linprog(
        np.r_[np.zeros(S), -1.0],
        A_ub=np.column_stack([others - alphas[i], np.ones(len(others))]),
        b_ub=np.zeros(len(others)),
        A_eq=np.r_[np.ones(S), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * S + [(None, None)],
        method="highs",
    )
    return -res.fun


@pytest.mark.parametrize("case", ["tiger", "random3"])
def test_pruned_sets_are_minimal(rng, case):
    """Every kept vector is the unique maximiser somewhere, and is a maximiser at its
    recorded witness belief."""
    if case == "tiger":
        res = pomdp_value_iteration(tiger(horizon=6))
    else:
        res = pomdp_value_iteration(random_pomdp(rng, 3, 3, 2, horizon=3))
    for h in range(res.horizon):
        alphas, wit = res.stage_alphas[h], res.stage_witnesses[h]
        assert len(alphas) == res.n_vectors[h]
        for i in range(len(alphas)):
            assert lp_margin_against_others(alphas, i) > 1e-12
            vals = alphas @ wit[i]
            assert vals[i] >= vals.max() - 1e-9


def test_prune_alpha_vectors_keeps_the_upper_envelope(rng):
    V = rng.random((300, 3))
    V = np.concatenate([V, V[:20]])  # duplicates go too
    kept, wit = prune_alpha_vectors(V)
    grid = belief_grid(3, rng)
    np.testing.assert_allclose(envelope(V[kept], grid), envelope(V, grid), atol=1e-12)
    for i in range(len(kept)):
        assert lp_margin_against_others(V[kept], i) > 0
    assert len({tuple(v) for v in V[kept]}) == len(kept)


# ------------------------------------------------------------------ evaluation
@pytest.mark.parametrize("discount", [None, 0.95])
def test_plan_controller_and_greedy_policy_reproduce_the_planned_values(rng, discount):
    for p in [tiger(horizon=5), random_pomdp(rng, 3, 2, 2, horizon=3)]:
        res = pomdp_value_iteration(p, discount=discount)
        ev = evaluate_controller(p, res.controller(), discount=discount)
        np.testing.assert_allclose(ev.values[: len(res.alphas)], res.alphas, atol=1e-10)
        assert ev.value() == pytest.approx(res.value(), abs=1e-10)
        for b in [p.b0, *rng.dirichlet(np.ones(p.S), 3)]:
            assert res.policy_value(b) == pytest.approx(res.value(b), abs=1e-9)


def random_controller(rng, N, A, n_obs):
    psi = rng.dirichlet(np.ones(A), N)
    eta = rng.dirichlet(np.ones(N), (N, A, n_obs))
    return psi, eta, FiniteStateController(psi, eta, initial=rng.dirichlet(np.ones(N)))


def test_controller_evaluation_matches_forward_propagation(rng):
    p = random_pomdp(rng, 3, 2, 3, gamma=0.8)
    psi, eta, ctrl = random_controller(rng, 4, 2, 3)
    # finite horizon: backward recursion = forward propagation of (node, state)
    ev = evaluate_controller(p, ctrl, horizon=6, discount=0.9)
    fwd = controller_value_forward(p.T, p.O, p.R, psi, eta, ctrl.initial, p.b0, 6, 0.9)
    assert ev.value() == pytest.approx(fwd, abs=1e-12)
    # discounted: linear solve = forward propagation truncated at 120 steps (+ tail)
    ev = evaluate_controller(p, ctrl)
    assert ev.error_bound < 1e-10
    fwd = controller_value_forward(p.T, p.O, p.R, psi, eta, ctrl.initial, p.b0, 120, 0.8)
    assert ev.value() == pytest.approx(fwd, abs=0.8**120 / 0.2 + 1e-10)
    # a deterministic controller through the sparse index path, against its dense twin
    nxt = rng.integers(0, 4, (4, 2, 3))
    det = FiniteStateController(np.array([0, 1, 1, 0]), nxt, initial=2)
    twin = FiniteStateController(np.eye(2)[[0, 1, 1, 0]], np.eye(4)[nxt], initial=2)
    np.testing.assert_allclose(
        evaluate_controller(p, det).values, evaluate_controller(p, twin).values, atol=1e-12
    )


def test_controller_evaluation_matches_monte_carlo(rng):
    p = random_pomdp(rng, 3, 2, 2, horizon=5)
    psi, eta, ctrl = random_controller(rng, 3, 2, 2)
    exact = evaluate_controller(p, ctrl).value()
    n = 40_000
    gen = np.random.default_rng(7)

    def draw(probs):  # one categorical draw per row
        return (
            (gen.random((len(probs), 1)) > probs.cumsum(axis=1))
            .sum(axis=1)
            .clip(max=probs.shape[1] - 1)
        )

    s = draw(np.broadcast_to(p.b0, (n, p.S)))
    node = draw(np.broadcast_to(ctrl.initial, (n, 3)))
    ret = np.zeros(n)
    for _ in range(5):
        a = draw(psi[node])
        ret += p.R[s, a]
        s = draw(p.T[s, a])
        o = draw(p.O[a, s])
        node = draw(eta[node, a, o])
    se = ret.std() / np.sqrt(n)
    assert abs(ret.mean() - exact) < 4 * se


# ------------------------------------------------------------------ PBVI
def sandwich(p, H, discount, beliefs):
    """V* within [V_H + d^H min R/(1-d), V_H + d^H max R/(1-d)] from exact VI."""
    V = pomdp_value_iteration(p, horizon=H, discount=discount).value(beliefs)
    tail = discount**H / (1 - discount)
    return V + tail * p.R.min(), V + tail * p.R.max()


def test_pbvi_brackets_v_star_on_tiger(rng):
    p = tiger()
    res = pbvi(p, max_beliefs=32, seed=1)
    beliefs = np.concatenate([[p.b0], rng.dirichlet([1, 1], 8), res.beliefs[:5]])
    lo, hi = sandwich(p, 150, 0.95, beliefs)
    lower, upper = res.lower(beliefs), res.upper(beliefs)
    assert (lower <= hi + 1e-9).all() and (upper >= lo - 1e-9).all()
    assert (lower <= upper + 1e-9).all()
    # the literature value 19.4 at b0, and a certified gap
    assert 19.3 < res.lower() <= res.upper() < 19.5
    assert res.gap_b0 < 1e-4
    qm, fib = res.qmdp.value(beliefs), res.fib.value(beliefs)
    assert (qm >= fib - 1e-9).all() and (fib >= upper - 1e-9).all()
    gaps = [h["gap_b0"] for h in res.history]
    assert all(b <= a + 1e-9 for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < gaps[0]
    # the PBVI policy as a controller: an executable policy, exactly evaluated
    assert res.lower() - 1e-6 <= res.policy_value() <= res.upper() + 1e-9


@pytest.mark.parametrize("expansion", ["ssea", "farthest"])
def test_pbvi_bounds_sandwich_exact_values_on_a_random_pomdp(rng, expansion):
    p = random_pomdp(rng, 2, 3, 2, gamma=0.7)
    res = pbvi(p, max_beliefs=24, expansion=expansion, seed=5)
    beliefs = np.concatenate([[p.b0], rng.dirichlet([1, 1], 10), res.beliefs])
    lo, hi = sandwich(p, 45, 0.7, beliefs)
    assert hi[0] - lo[0] < 1e-6
    lower, upper = res.lower(beliefs), res.upper(beliefs)
    assert (lower <= hi + 1e-9).all() and (upper >= lo - 1e-9).all()
    assert (lower <= upper).all()
    assert res.gap(p.b0) == pytest.approx(res.gap_b0)
    assert res.max_gap >= res.gap_b0 - 1e-12
    # the certified QMDP / FIB fixed points against the underlying MDP and each other
    qm = qmdp_bound(p, tol=1e-10)
    fib = fib_bound(p, tol=1e-10)
    np.testing.assert_allclose(qm.q, res.qmdp.q, atol=1e-7)
    assert (fib.q <= qm.q + 1e-9).all()
    gaps = [h["gap_b0"] for h in res.history]
    assert all(b <= a + 1e-9 for a, b in zip(gaps, gaps[1:], strict=False))
    assert res.policy_value() <= hi[0] + 1e-9


def test_qmdp_is_a_certified_upper_bound_on_the_mdp_optimum(rng):
    p = random_pomdp(rng, 4, 3, 2, gamma=0.9)
    qm = qmdp_bound(p, tol=1e-9)
    v_star = discounted_optimum_by_enumeration(p.T, p.R, 0.9)  # all A^S policies
    assert (qm.q.max(axis=1) >= v_star - 1e-12).all()
    assert (qm.q.max(axis=1) <= v_star + 1e-9 + 1e-12).all()


def test_pbvi_is_reproducible_and_seed_dependent():
    p = random_pomdp(np.random.default_rng(3), 3, 2, 3, gamma=0.9)
    a = pbvi(p, max_beliefs=16, seed=11, expansion="ssea")
    b = pbvi(p, max_beliefs=16, seed=11, expansion="ssea")
    np.testing.assert_array_equal(a.alphas, b.alphas)
    np.testing.assert_array_equal(a.beliefs, b.beliefs)
    c = pbvi(p, max_beliefs=16, seed=12, expansion="ssea")
    assert not np.array_equal(a.beliefs, c.beliefs)


# ------------------------------------------------------------------ bad input
def test_bad_input_messages():
    p = tiger()
    with pytest.raises(ValueError, match="horizon="):
        pomdp_value_iteration(p)
    with pytest.raises(ValueError, match="discount must be in"):
        pomdp_value_iteration(p, horizon=2, discount=1.5)
    with pytest.raises(ValueError, match="horizon must be an integer"):
        pomdp_value_iteration(p, horizon=0)
    with pytest.raises(ValueError, match="prune must be one of"):
        pomdp_value_iteration(p, horizon=2, prune="all")
    with pytest.raises(ValueError, match="two-state"):
        pomdp_value_iteration(
            random_pomdp(np.random.default_rng(0), 3, 2, 2, horizon=2), witness="interval"
        )
    with pytest.raises(ValueError, match="max_vectors"):
        pomdp_value_iteration(p, horizon=4, prune=None, max_vectors=1000)
    res = pomdp_value_iteration(p, horizon=2)
    with pytest.raises(ValueError, match="sums to"):
        res.value([0.6, 0.6])
    with pytest.raises(ValueError, match="shape"):
        res.value([0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match=r"belief\[0\] = -0.5 is not a probability"):
        res.value([-0.5, 1.5])
    with pytest.raises(ValueError, match="stage must be in"):
        res.value(stage=3)
    with pytest.raises(ValueError, match="discount="):
        pbvi(tiger(horizon=3))
    with pytest.raises(ValueError, match=r"discount must be in \[0, 1\)"):
        pbvi(p, discount=1.0)
    with pytest.raises(ValueError, match=r"beliefs\[1\] sums to"):
        pbvi(p, beliefs=[[0.5, 0.5], [0.5, 0.6]])
    with pytest.raises(ValueError, match="expansion must be one of"):
        pbvi(p, expansion="grid")
    with pytest.raises(ValueError, match="bound_tol must be a positive number"):
        pbvi(p, bound_tol=-1.0)
    with pytest.raises(TypeError, match="needs a POMDP"):
        pomdp_value_iteration(p.underlying_mdp(), horizon=2)


def test_bad_controllers():
    p = tiger(horizon=2)
    with pytest.raises(ValueError, match="N=2"):
        FiniteStateController([0, 1], np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"transitions\[1, 0\] = 5 is not a node"):
        FiniteStateController([0, 1], [[0, 1], [5, 0]])
    with pytest.raises(ValueError, match=r"actions\[1\] sums to"):
        FiniteStateController([[1.0, 0.0, 0.0], [0.5, 0.2, 0.2]], [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="initial node 4"):
        FiniteStateController([0, 1], [[0, 1], [1, 0]], initial=4)
    bad_obs = FiniteStateController([0, 1], [[0, 1, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="O=3 observations but the POMDP has 2"):
        evaluate_controller(p, bad_obs)
    bad_action = FiniteStateController([0, 3], [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"actions\[1\] = 3 is not an action in \[0, 3\)"):
        evaluate_controller(p, bad_action)
    with pytest.raises(ValueError, match="discount must be in"):
        evaluate_controller(tiger(), FiniteStateController([0], [[0, 0]]), discount=1.0)
    with pytest.raises(ValueError, match="policy returned action 7"):
        evaluate_belief_policy(p, lambda b, h: 7)
    with pytest.raises(ValueError, match="horizon="):
        evaluate_belief_policy(tiger(), lambda b, h: 0)

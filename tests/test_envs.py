"""Tests of the environment library ``mdplab.envs`` (semantics, not just validity)."""

from __future__ import annotations

import numpy as np
import pytest

from mdplab import envs
from mdplab.models import TabularMDP

# --------------------------------------------------------------------------- helpers


def finite_horizon_value(mdp: TabularMDP, policy=None) -> float:
    """Expected return from ``init``: optimal (policy None) or of ``policy[h, s]``.

    A self-contained backward induction (the planning module is tested separately).
    """
    P, R = mdp.stage_P(), mdp.stage_R()
    V = np.zeros(mdp.S)
    for h in reversed(range(mdp.horizon)):
        Q = R[min(h, len(R) - 1)] + P[min(h, len(P) - 1)] @ V
        V = Q.max(axis=1) if policy is None else Q[np.arange(mdp.S), policy[h]]
    return float(mdp.init @ V)


def row(mdp, s, a):
    return np.asarray(mdp.dense_P()[s, a])


def onehot_row(n, entries):
    out = np.zeros(n)
    for s, p in entries.items():
        out[s] += p
    return out


# ------------------------------------------------------------------------- riverswim


@pytest.mark.parametrize("n", [2, 3, 6, 10])
def test_riverswim_standard_rows(n):
    m = envs.riverswim(n, "standard")
    assert (m.S, m.A, m.horizon, m.gamma) == (n, 2, 20, None)
    assert m.name == f"riverswim-standard({n})"
    for s in range(n):
        np.testing.assert_array_equal(row(m, s, 0), onehot_row(n, {max(s - 1, 0): 1.0}))
    for s in range(1, n - 1):
        np.testing.assert_array_equal(row(m, s, 1), onehot_row(n, {s + 1: 0.3, s: 0.6, s - 1: 0.1}))
    np.testing.assert_array_equal(row(m, 0, 1), onehot_row(n, {0: 0.3, 1: 0.7}))
    np.testing.assert_array_equal(row(m, n - 1, 1), onehot_row(n, {n - 1: 0.9, n - 2: 0.1}))
    expected_R = np.zeros((n, 2))
    expected_R[0, 0], expected_R[n - 1, 1] = 0.005, 1.0
    np.testing.assert_array_equal(m.R, expected_R)
    np.testing.assert_array_equal(m.init, onehot_row(n, {0: 1.0}))


@pytest.mark.parametrize("n", [2, 3, 6])
def test_riverswim_osband_rows(n):
    m = envs.riverswim(n, "osband", gamma=0.9, left_reward=0.05)
    assert m.gamma == 0.9 and m.name == f"riverswim-osband({n})"
    for s in range(n):
        np.testing.assert_array_equal(row(m, s, 0), onehot_row(n, {max(s - 1, 0): 1.0}))
    for s in range(1, n - 1):
        np.testing.assert_array_equal(
            row(m, s, 1), onehot_row(n, {s + 1: 0.35, s: 0.6, s - 1: 0.05})
        )
    np.testing.assert_array_equal(row(m, 0, 1), onehot_row(n, {0: 0.4, 1: 0.6}))
    np.testing.assert_array_equal(row(m, n - 1, 1), onehot_row(n, {n - 1: 0.6, n - 2: 0.4}))
    assert m.R[0, 0] == 0.05 and m.R[n - 1, 1] == 1.0 and np.count_nonzero(m.R) == 2


def test_riverswim_normalize():
    base = envs.riverswim(6, horizon=40)
    norm = envs.riverswim(6, horizon=40, normalize=True)
    np.testing.assert_allclose(norm.R, base.R / 40)
    # The best episode earns at most 1 after normalisation.
    assert finite_horizon_value(norm) <= 1.0
    disc = envs.riverswim(6, gamma=0.9, normalize=True)
    np.testing.assert_allclose(disc.R, 0.1 * envs.riverswim(6, gamma=0.9).R)


def test_riverswim_bad_arguments():
    with pytest.raises(ValueError, match="n_states"):
        envs.riverswim(1)
    with pytest.raises(ValueError, match="variant"):
        envs.riverswim(6, "strehl")
    with pytest.raises(ValueError, match="left_reward"):
        envs.riverswim(6, left_reward=float("nan"))
    with pytest.raises(ValueError, match="exactly one"):
        envs.riverswim(6, gamma=0.9, horizon=10)


# ----------------------------------------------------------------------------- chain


def test_chain_matches_rlberry_definition():
    f = 0.1
    m = envs.chain(4, f)
    assert (m.S, m.A, m.gamma) == (4, 2, 0.95) and m.name == "chain(4)"
    np.testing.assert_allclose(row(m, 0, 0), [1 - f, f, 0, 0])
    np.testing.assert_allclose(row(m, 0, 1), [f, 1 - f, 0, 0])
    np.testing.assert_allclose(row(m, 2, 0), [0, 1 - f, 0, f])
    np.testing.assert_allclose(row(m, 2, 1), [0, f, 0, 1 - f])
    np.testing.assert_allclose(row(m, 3, 0), [0, 0, 1 - f, f])
    np.testing.assert_allclose(row(m, 3, 1), [0, 0, f, 1 - f])
    np.testing.assert_array_equal(m.R, [[0.05, 0.05], [0, 0], [0, 0], [1, 1]])
    assert envs.chain().S == 10


def test_chain_bad_arguments():
    with pytest.raises(ValueError, match="length"):
        envs.chain(1)
    with pytest.raises(ValueError, match="fail_prob"):
        envs.chain(5, fail_prob=1.5)


# ------------------------------------------------------------------------- gridworld


def test_gridworld_default_layout():
    m = envs.gridworld()
    assert (m.S, m.A, m.gamma) == (23, 4, 0.95)
    lay = envs.gridworld_layout()
    assert lay.index.shape == (5, 5) and len(lay.coords) == 23
    assert lay.index[1, 1] == -1 and lay.index[2, 2] == -1
    assert lay.state(0, 0) == 0 and lay.state(1, 2) == 6 and lay.state(4, 4) == 22
    for s in range(23):
        assert lay.state(*lay.cell(s)) == s
    with pytest.raises(ValueError, match="wall"):
        lay.state(1, 1)
    assert m.init[0] == 1.0
    # Reward on the goal (bottom-right), for every action, and nowhere else.
    expected_R = np.zeros((23, 4))
    expected_R[22] = 1.0
    np.testing.assert_array_equal(m.R, expected_R)
    assert envs.GRIDWORLD_ACTIONS == ("left", "right", "down", "up")


def test_gridworld_deterministic_moves():
    m = envs.gridworld()
    lay = envs.gridworld_layout()
    P = m.dense_P()

    def goes(cell, a, dest):
        assert P[lay.state(*cell), a, lay.state(*dest)] == 1.0

    goes((0, 0), 0, (0, 0))  # left into the edge: stay
    goes((0, 0), 1, (0, 1))  # right
    goes((0, 0), 2, (1, 0))  # down
    goes((0, 0), 3, (0, 0))  # up into the edge: stay
    goes((0, 1), 2, (0, 1))  # down into the wall (1, 1): stay
    goes((1, 2), 0, (1, 2))  # left into the wall (1, 1): stay
    goes((1, 2), 3, (0, 2))
    goes((4, 4), 1, (4, 4))  # the goal is not absorbing by default ...
    goes((4, 4), 0, (4, 3))  # ... the agent can leave it


def test_gridworld_slip_semantics():
    p = 0.2
    m = envs.gridworld(slip_prob=p)
    lay = envs.gridworld_layout()
    s = lay.state(3, 2)
    nb = {0: (3, 1), 1: (3, 3), 2: (4, 2), 3: None}  # up is (2, 2): a wall
    for a in range(4):
        r = row(m, s, a)
        for d in range(4):
            want = (1 - p) * (a == d) + p / 4
            if nb[d] is None:  # blocked: the mass stays on s
                assert r[s] == pytest.approx(want)
            else:
                assert r[lay.state(*nb[d])] == pytest.approx(want)
    assert row(m, s, 1)[lay.state(3, 3)] == pytest.approx(1 - 3 * p / 4)


def test_gridworld_absorbing_goal():
    m = envs.gridworld(slip_prob=0.1, absorbing_goal=True, horizon=30)
    g = envs.gridworld_layout().state(4, 4)
    P = m.dense_P()
    np.testing.assert_array_equal(P[g], np.eye(23)[[g] * 4])
    np.testing.assert_allclose(m.R[np.arange(23) != g], P[np.arange(23) != g][:, :, g])
    assert (m.R[g] == 0).all()
    v = finite_horizon_value(m)
    assert 0.9 < v <= 1.0  # reached once, paid once


def test_gridworld_custom_and_bad_arguments():
    m = envs.gridworld(3, 4, walls=(), start=(2, 0), goal=(0, 3), horizon=10)
    assert m.S == 12 and m.init[8] == 1.0 and m.R[3, 0] == 1.0
    with pytest.raises(ValueError, match="walls"):
        envs.gridworld(walls=((5, 0),))
    with pytest.raises(ValueError, match="walls"):
        envs.gridworld(walls=((-1, 0),))
    with pytest.raises(ValueError, match="start"):
        envs.gridworld(start=(1, 1))
    with pytest.raises(ValueError, match="start"):
        envs.gridworld(start=(0, 9))
    with pytest.raises(ValueError, match="goal"):
        envs.gridworld(goal=(2, 2))
    with pytest.raises(ValueError, match="slip_prob"):
        envs.gridworld(slip_prob=-0.1)
    with pytest.raises(ValueError, match="slip_prob"):
        envs.gridworld(slip_prob=1.01)
    with pytest.raises(ValueError, match="nrows"):
        envs.gridworld(nrows=0)
    with pytest.raises(ValueError, match="whole grid"):
        envs.gridworld(1, 2, walls=((0, 0), (0, 1)))


# ---------------------------------------------------------------------------- garnet


@pytest.mark.parametrize("S,A,b", [(20, 3, 1), (20, 3, 4), (7, 2, 7), (50, 4, 3)])
def test_garnet_branching_and_dense_equals_sparse(S, A, b):
    dense = envs.garnet(S, A, b, seed=5)
    sparse = envs.garnet(S, A, b, sparse=True, seed=5)
    assert sparse.is_sparse and not dense.is_sparse
    np.testing.assert_array_equal(dense.dense_P(), sparse.dense_P())
    np.testing.assert_array_equal(dense.R, sparse.R)
    P = dense.dense_P()
    assert ((P > 0).sum(axis=-1) == b).all()  # exactly b distinct successors
    assert (np.diff(sparse.csr.indptr) == b).all()
    assert (sparse.csr.data > 0).all()
    assert ((dense.R >= 0) & (dense.R <= 1)).all()
    assert dense.name == f"garnet({S},{A},{b};seed=5)"


def test_garnet_seeds():
    a = envs.garnet(30, 2, 3, seed=1)
    b = envs.garnet(30, 2, 3, seed=1)
    c = envs.garnet(30, 2, 3, seed=2)
    np.testing.assert_array_equal(a.dense_P(), b.dense_P())
    np.testing.assert_array_equal(a.R, b.R)
    assert not np.array_equal(a.dense_P(), c.dense_P())
    g = envs.garnet(30, 2, 3, seed=np.random.default_rng(1))
    np.testing.assert_array_equal(a.dense_P(), g.dense_P())
    normal = envs.garnet(20, 2, 2, seed=0, reward="normal").R
    assert normal.min() < 0 < normal.max()


def test_garnet_successors_are_uniform():
    # Each state is a successor of a row w.p. b/S; each probability has mean 1/b.
    S, b = 10, 3
    m = envs.garnet(S, 500, b, sparse=True, seed=0)
    c = m.csr
    freq = np.bincount(c.indices, minlength=S) / (S * 500)
    np.testing.assert_allclose(freq, b / S, atol=0.03)
    assert c.data.mean() == pytest.approx(1 / b)
    # Spacings of sorted uniforms: the largest of b=3 parts has mean 11/18.
    assert c.data.reshape(-1, b).max(axis=1).mean() == pytest.approx(11 / 18, abs=0.01)


def test_garnet_large_sparse_rows_are_distinct():
    m = envs.garnet(100_000, 2, 6, sparse=True, seed=3)
    idx = m.csr.indices.reshape(-1, 6)
    assert (np.diff(idx, axis=1) > 0).all()  # sorted and no repeats
    np.testing.assert_allclose(m.csr.data.reshape(-1, 6).sum(axis=1), 1.0)


def test_garnet_bad_arguments():
    with pytest.raises(ValueError, match="branching"):
        envs.garnet(5, 2, 6)
    with pytest.raises(ValueError, match="branching"):
        envs.garnet(5, 2, 0)
    with pytest.raises(ValueError, match="n_states"):
        envs.garnet(0, 2, 1)
    with pytest.raises(ValueError, match="reward"):
        envs.garnet(5, 2, 2, reward="bernoulli")
    with pytest.raises(ValueError, match="sparse=True"):
        envs.garnet(100_000, 4, 5)


# --------------------------------------------------------------------------- deepsea


@pytest.mark.parametrize("size", [1, 2, 5, 10])
def test_deepsea_optimal_return(size):
    m = envs.deepsea(size)
    assert (m.S, m.A, m.horizon) == (size * size + 1, 2, size)
    assert finite_horizon_value(m) == pytest.approx(1 - 0.01)
    always_right = np.ones((size, m.S), dtype=int)
    assert finite_horizon_value(m, always_right) == pytest.approx(0.99)
    always_left = np.zeros((size, m.S), dtype=int)
    assert finite_horizon_value(m, always_left) == 0.0
    term = size * size
    assert (m.dense_P()[term, :, term] == 1).all() and (m.R[term] == 0).all()


def test_deepsea_randomized_and_stochastic():
    a = envs.deepsea(6, randomize_actions=True, seed=3)
    b = envs.deepsea(6, randomize_actions=True, seed=3)
    c = envs.deepsea(6, randomize_actions=True, seed=4)
    np.testing.assert_array_equal(a.dense_P(), b.dense_P())
    assert not np.array_equal(a.dense_P(), c.dense_P())
    assert finite_horizon_value(a) == pytest.approx(0.99)
    # Which action is "right" at (row, col) is the one that costs 0.01/N.
    m = envs.deepsea(6, randomize_actions=True, seed=3, sparse=True)
    np.testing.assert_array_equal(m.dense_P(), a.dense_P())
    N = 8
    st = envs.deepsea(N, deterministic=False)
    # bsuite's optimal_return is the value of always-right; the true optimum is a
    # little higher (after a failed right move, going left saves the move cost).
    right = np.ones((N, st.S), dtype=int)
    assert finite_horizon_value(st, right) == pytest.approx((1 - 1 / N) ** (N - 1) - 0.01)
    assert finite_horizon_value(st) > finite_horizon_value(st, right)
    assert st.dense_P()[0, 1, N + 1] == pytest.approx(1 - 1 / N)  # (0,0) -> (1,1)
    assert st.dense_P()[0, 1, N] == pytest.approx(1 / N)  # right failed: (1,0)


def test_deepsea_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        envs.deepsea(0)
    with pytest.raises(ValueError, match="move_cost"):
        envs.deepsea(3, move_cost=float("inf"))


# ------------------------------------------------------------------ combination lock


@pytest.mark.parametrize("H", [1, 2, 5])
def test_combination_lock_value(H):
    A = 4
    m = envs.combination_lock(H, A, seed=7)
    opt_a, opt_b = envs.combination_lock_actions(H, A, seed=7)
    assert m.dense_P().shape == (H, 3, A, 3) and m.R.shape == (H, 3, A)
    assert m.horizon == H and not m.stationary
    np.testing.assert_array_equal(m.init, [0.5, 0.5, 0.0])
    policy = np.zeros((H, 3), dtype=int)
    policy[:, 0], policy[:, 1] = opt_a, opt_b
    expected = 5.0 - (1.0 if H > 1 else 0.0)
    assert finite_horizon_value(m, policy) == pytest.approx(expected)
    assert finite_horizon_value(m) == pytest.approx(expected)
    # A wrong action dies (expected anti-shaping 0.5) and dead is absorbing.
    P = m.dense_P()
    wrong = (opt_a[0] + 1) % A
    np.testing.assert_array_equal(P[0, 0, wrong], [0, 0, 1])
    assert m.R[0, 0, wrong] == 0.5
    assert (P[:, 2, :, 2] == 1).all() and (m.R[:, 2] == 0).all()
    np.testing.assert_array_equal(P[0, 0, opt_a[0]], [0.5, 0.5, 0])
    if H > 1:  # the step penalty -1/(H-1) on good -> good moves before the last stage
        assert m.R[0, 0, opt_a[0]] == pytest.approx(-1 / (H - 1))
        assert m.R[H - 1, 1, opt_b[H - 1]] == 5.0


def test_combination_lock_swap_and_block_version():
    H, A = 4, 3
    m = envs.combination_lock(H, A, swap_prob=0.0, spawn_prob=0.0, step_penalty=0.0, seed=1)
    opt_a, _ = envs.combination_lock_actions(H, A, seed=1)
    P = m.dense_P()
    for h in range(H):
        np.testing.assert_array_equal(P[h, 0, opt_a[h]], [1, 0, 0])
    assert finite_horizon_value(m) == pytest.approx(5.0)
    blk = envs.combination_lock(H, A, seed=1, obs_per_latent=3)
    assert blk.S == 9 and blk.init.sum() == pytest.approx(1)
    assert finite_horizon_value(blk) == pytest.approx(finite_horizon_value(
        envs.combination_lock(H, A, seed=1)))


def test_combination_lock_seeds_and_bad_arguments():
    a1, b1 = envs.combination_lock_actions(20, 10, seed=0)
    a2, b2 = envs.combination_lock_actions(20, 10, seed=0)
    a3, _ = envs.combination_lock_actions(20, 10, seed=1)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(a1, a3)
    np.testing.assert_array_equal(
        envs.combination_lock(20, seed=0).dense_P(), envs.combination_lock(20, seed=0).dense_P()
    )
    with pytest.raises(ValueError, match="horizon"):
        envs.combination_lock(0)
    with pytest.raises(ValueError, match="n_actions"):
        envs.combination_lock(3, 1)
    with pytest.raises(ValueError, match="swap_prob"):
        envs.combination_lock(3, swap_prob=2.0)
    with pytest.raises(ValueError, match="spawn_prob"):
        envs.combination_lock(3, spawn_prob=-0.5)
    with pytest.raises(ValueError, match="anti_shaping_reward"):
        envs.combination_lock(3, optimal_reward=1.0, anti_shaping_reward=3.0)


# ------------------------------------------------------------------------ random mdp


def test_random_mdp_shapes_and_seeds():
    m = envs.random_mdp(6, 3, seed=0)
    assert (m.S, m.A, m.gamma) == (6, 3, 0.95) and m.dense_P().shape == (6, 3, 6)
    assert ((m.R >= 0) & (m.R <= 1)).all()
    np.testing.assert_array_equal(m.dense_P(), envs.random_mdp(6, 3, seed=0).dense_P())
    assert not np.array_equal(m.dense_P(), envs.random_mdp(6, 3, seed=1).dense_P())
    st = envs.random_mdp(4, 2, horizon=5, seed=0, stage_dependent=True)
    assert st.dense_P().shape == (5, 4, 2, 4) and st.R.shape == (5, 4, 2)
    assert not np.array_equal(st.dense_P()[0], st.dense_P()[1])
    # Small alpha: nearly deterministic rows.
    peaky = envs.random_mdp(20, 2, seed=0, dirichlet_alpha=0.01)
    assert peaky.dense_P().max(axis=-1).mean() > 0.8


def test_random_mdp_bad_arguments():
    with pytest.raises(ValueError, match="horizon"):
        envs.random_mdp(4, 2, stage_dependent=True)
    with pytest.raises(ValueError, match="dirichlet_alpha"):
        envs.random_mdp(4, 2, dirichlet_alpha=0.0)
    with pytest.raises(ValueError, match="n_actions"):
        envs.random_mdp(4, 0)
    with pytest.raises(ValueError, match="seed"):
        envs.random_mdp(4, 2, seed="abc")


# ---------------------------------------------------------------------------- common


def test_every_env_is_named_and_uses_its_default_objective():
    cases = {
        envs.riverswim(): ("horizon", 20),
        envs.chain(): ("gamma", 0.95),
        envs.gridworld(): ("gamma", 0.95),
        envs.garnet(10, 2, 3, seed=0): ("gamma", 0.95),
        envs.deepsea(7): ("horizon", 7),
        envs.combination_lock(6): ("horizon", 6),
        envs.random_mdp(3, 2, seed=0): ("gamma", 0.95),
    }
    for mdp, (attr, value) in cases.items():
        assert isinstance(mdp, TabularMDP) and mdp.name
        assert getattr(mdp, attr) == value
    assert envs.garnet(10, 2, 3, seed=0, horizon=7).horizon == 7
    assert envs.deepsea(4, gamma=0.9).gamma == 0.9

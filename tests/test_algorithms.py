"""Tabular learners: conformance, a hand-checked UCBVI plan, exact vs Monte-Carlo regret."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from mdplab import envs
from mdplab.algorithms import UCBVI, Greedy, check_algorithm, tiny_mdp
from mdplab.algorithms.ucbvi import plan_ucbvi


@pytest.mark.parametrize(
    "cls, kwargs",
    [(UCBVI, {"bonus": "ch"}), (UCBVI, {"bonus": "bf"}), (Greedy, {}),
     (Greedy, {"epsilon": 0.1})],
    ids=["ucbvi-ch", "ucbvi-bf", "greedy", "epsilon-greedy"],
)
def test_conformance(cls, kwargs):
    check_algorithm(cls, kwargs=kwargs)


def test_ucbvi_ch_plan_matches_hand_computation():
    # S = 2, A = 2, H = 2, pooled counts: (0,0) seen 4 times -> (3 to s0, 1 to s1),
    # (0,1) once -> s1, state 1 never tried.
    H, S, A, K, delta, scale = 2, 2, 2, 10, 0.1, 0.01
    R = np.array([[[0.2, 0.1], [0.5, 0.3]]])
    counts = np.zeros((1, S, A))
    trans = np.zeros((1, S, A, S))
    counts[0, 0, 0], trans[0, 0, 0] = 4, [3, 1]
    counts[0, 0, 1], trans[0, 0, 1] = 1, [0, 1]
    Q = np.full((H, S, A), np.inf)
    pi = np.zeros((H, S), dtype=np.int64)
    L = math.log(5 * S * A * K * H / delta)
    v_range = H * 0.5
    plan_ucbvi(R, H, counts, trans, np.zeros((H + 1, S)), Q, pi, False, scale, L, v_range)
    b = lambda n: scale * 7 * v_range * L / math.sqrt(n)  # noqa: E731
    # Last step (h = 1): v_max = 0.5; unvisited state 1 -> 0.5.
    q1 = {(0, 0): min(0.2 + b(4), 0.5), (0, 1): min(0.1 + b(1), 0.5), (1, 0): 0.5, (1, 1): 0.5}
    V1 = [max(q1[0, 0], q1[0, 1]), 0.5]
    # First step (h = 0): v_max = 1.0.
    q0_00 = min(0.2 + 0.75 * V1[0] + 0.25 * V1[1] + b(4), 1.0)
    q0_01 = min(0.1 + V1[1] + b(1), 1.0)
    np.testing.assert_allclose(Q[1], [[q1[0, 0], q1[0, 1]], [0.5, 0.5]], rtol=0, atol=1e-14)
    np.testing.assert_allclose(Q[0, 0], [q0_00, q0_01], rtol=0, atol=1e-14)
    np.testing.assert_allclose(Q[0, 1], [1.0, 1.0])
    assert pi[0, 0] == int(q0_01 > q0_00) and pi[1, 0] == int(q1[0, 1] > q1[0, 0])


def test_exact_regret_matches_realized_regret_in_expectation():
    mdp = envs.riverswim(n_states=4, variant="osband", horizon=5)
    curve = Greedy(epsilon=0.2).run(mdp, 400, seed=3, n_seeds=64)
    diff = curve.realized_regret[:, -1] - curve.regret[:, -1]
    # E[realized] = exact regret for every episode; the difference is a sum of
    # zero-mean terms, so its seed average is 0 within its confidence interval.
    half = 3.0 * diff.std(ddof=1) / math.sqrt(diff.size)
    assert abs(diff.mean()) <= half
    assert half < 0.1 * curve.regret[:, -1].mean()


def test_results_do_not_depend_on_thread_count():
    mdp = tiny_mdp()
    runs = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        runs.append(UCBVI("bf", bonus_scale=0.05).run(mdp, 300, seed=9, n_seeds=4))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(runs[0].regret, runs[1].regret)


def test_run_rejects_bad_input():
    disc = tiny_mdp().replace(horizon=None, gamma=0.9)
    with pytest.raises(ValueError, match="finite-horizon"):
        UCBVI().run(disc, 10)
    with pytest.raises(ValueError, match=r"budget \(episodes\) must be >= 1"):
        UCBVI().run(tiny_mdp(), 0)
    with pytest.raises(ValueError, match="n_seeds"):
        UCBVI().run(tiny_mdp(), 10, n_seeds=0)
    with pytest.raises(TypeError):
        UCBVI().run("mdp", 10)


def test_learning_curve_rows():
    curve = UCBVI().run(tiny_mdp(), 250, checkpoint_every=100)
    rows = curve.rows(0)
    assert [r["episode"] for r in rows] == [100, 200, 250]
    assert rows[-1]["regret"] == curve.regret[0, -1]


def test_psrl_with_beta_reward_posteriors_conforms_and_learns():
    from mdplab.algorithms import PSRL

    check_algorithm(PSRL, kwargs={"rewards": "beta"})
    bad = tiny_mdp().replace(R=np.full((2, 2), 2.0))
    with pytest.raises(ValueError, match=r"rewards='beta' needs mean rewards in \[0, 1\]"):
        PSRL(rewards="beta").run(bad, 10)

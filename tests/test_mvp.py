"""MVP ([ZJD21] original, [ZCLD24] modified): reproducibility, a pure-Python
reference, learning on tiny models, hyperparameter validation."""

import math

import numpy as np
import pytest

from mdplab.algorithms import check_algorithm
from mdplab.algorithms.mvp import MVP
from mdplab.algorithms.online import play_episode, policy_value_lists, successor_lists
from mdplab.envs import riverswim
from mdplab.kernels.rng import new_state
from mdplab.models import TabularMDP

H = 5
P2 = np.array([[[0.9, 0.1], [0.2, 0.8]],
               [[0.7, 0.3], [0.1, 0.9]]])
R2 = np.array([[0.2, 0.0], [0.1, 1.0]]) / H


def tiny_stationary():
    return TabularMDP(P2, R2, horizon=H, name="tiny")


def tiny_staged():
    PH = np.stack([P2, P2[:, ::-1], P2, P2[:, ::-1], P2])
    RH = np.stack([R2 * (1.0 + 0.1 * h) / 1.5 for h in range(H)])
    return TabularMDP(PH, RH, horizon=H, name="tiny-staged")


def per_episode(curve):
    r = curve.regret
    return np.diff(np.concatenate([np.zeros((r.shape[0], 1)), r], axis=1), axis=1)


def reference_run(alg, mdp, K, seed_value):
    """Straightforward NumPy transcription of the module docstring (one seed)."""
    P, R = mdp.stage_P(), mdp.stage_R()
    init, Hm = mdp.init, mdp.horizon
    S, A = mdp.S, mdp.A
    modified = alg.variant == "modified"
    nC = Hm if modified else 1
    iota = math.log(200 * S * A * Hm**2 * K**2 / alg.delta)
    r_max = max(R.max(), 0.0)
    caps = alg.value_caps(R, Hm)
    c1, c2, c3 = (alg.bonus_scale * c for c in (alg.c1, alg.c2, alg.c3))
    from mdplab.planning import backward_induction
    v_star = backward_induction(mdp).initial_value
    N_all = np.zeros((nC, S, A), dtype=np.int64)
    N_b = np.zeros((nC, S, A, S))
    theta = np.zeros((nC, S, A))
    kappa = np.zeros((nC, S, A))
    n_hat = np.zeros((nC, S, A))
    P_hat = np.zeros((nC, S, A, S))
    r_hat = np.zeros((nC, S, A))
    sig_hat = np.zeros((nC, S, A))
    pi = np.zeros((Hm, S), dtype=np.int64)
    rng = new_state(seed_value)
    lists = successor_lists(P)
    st, ac, rw = np.zeros(Hm + 1, np.int64), np.zeros(Hm, np.int64), np.zeros(Hm)
    out = []
    total = 0.0
    for _ in range(K):
        total += v_star - policy_value_lists(*lists, R, init, Hm, pi, np.zeros(S))
        out.append(total)
        play_episode(P, R, init, Hm, pi, rng, st, ac, rw)
        trig = False
        for h in range(Hm):
            c = h if modified else 0
            s, a = st[h], ac[h]
            N_all[c, s, a] += 1
            N_b[c, s, a, st[h + 1]] += 1
            theta[c, s, a] += rw[h]
            kappa[c, s, a] += rw[h] ** 2
            m = N_all[c, s, a]
            if m & (m - 1) == 0:
                n = N_b[c, s, a].sum()
                n_hat[c, s, a] = n
                P_hat[c, s, a] = N_b[c, s, a] / n
                r_hat[c, s, a] = theta[c, s, a] / n
                sig_hat[c, s, a] = kappa[c, s, a] / n
                if modified:
                    N_b[c, s, a] = 0
                    theta[c, s, a] = kappa[c, s, a] = 0
                trig = True
        if trig:
            V = np.zeros(S)
            for h in range(Hm - 1, -1, -1):
                c = h if modified else 0
                n = n_hat[c]
                ev = P_hat[c] @ V
                var = np.maximum(P_hat[c] @ V**2 - ev**2, 0.0)
                rv = sig_hat[c] - r_hat[c] ** 2 if modified else r_max * r_hat[c]
                rv = np.maximum(rv, 0.0)
                nn = np.maximum(n, 1.0)
                b = (c1 * np.sqrt(var * iota / nn) + c2 * np.sqrt(rv * iota / nn)
                     + c3 * caps[0] * iota / nn)
                Q = np.minimum(r_hat[c] + ev + b, caps[h])
                Q[n == 0] = caps[h]
                pi[h] = np.argmax(Q, axis=1)
                V = Q[np.arange(S), pi[h]]
    return np.array(out)


@pytest.mark.parametrize("variant,model", [("original", tiny_stationary),
                                           ("modified", tiny_staged),
                                           ("modified", tiny_stationary)])
def test_matches_reference(variant, model):
    mdp = model()
    alg = MVP(variant=variant, bonus_scale=0.02)
    K = 200
    curve = alg.run(mdp, K, seed=3, n_seeds=1, checkpoint_every=1)
    ref = reference_run(alg, mdp, K, curve.seeds[0])
    np.testing.assert_allclose(curve.regret[0], ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kwargs", [{}, {"variant": "modified", "bonus_scale": 0.02}],
                         ids=["original", "modified"])
def test_conformance(kwargs):
    check_algorithm(MVP, kwargs=kwargs)


def test_reproducible_and_seed_dependent():
    mdp = riverswim(n_states=4, horizon=H, normalize=True)
    alg = MVP(bonus_scale=0.05)
    a = alg.run(mdp, 500, seed=7, n_seeds=3)
    b = alg.run(mdp, 500, seed=7, n_seeds=3)
    c = alg.run(mdp, 500, seed=8, n_seeds=3)
    np.testing.assert_array_equal(a.regret, b.regret)
    np.testing.assert_array_equal(a.realized_regret, b.realized_regret)
    assert not np.array_equal(a.realized_regret, c.realized_regret)
    assert not np.array_equal(a.realized_regret[0], a.realized_regret[1])


@pytest.mark.parametrize("variant,model,scale", [("original", tiny_stationary, 0.1),
                                                 ("modified", tiny_staged, 0.02)])
def test_regret_monotone_and_sublinear(variant, model, scale):
    mdp = model()
    K = 3000
    curve = MVP(variant=variant, bonus_scale=scale).run(mdp, K, seed=0, n_seeds=4,
                                                        checkpoint_every=1)
    d = per_episode(curve)
    assert d.min() >= -1e-12  # exact per-episode regret is non-negative
    assert np.all(np.diff(curve.regret, axis=1) >= -1e-12)
    first, last = d[:, : K // 3].mean(), d[:, 2 * K // 3:].mean()
    assert last < 0.2 * first, (first, last)
    assert curve.regret.shape == (4, K) and curve.algorithm == "mvp"


def test_default_constants_run_and_value_bound():
    mdp = riverswim(n_states=6, horizon=10, normalize=True)
    for variant in ("original", "modified"):
        curve = MVP(variant=variant).run(mdp, 300, seed=1, n_seeds=2)
        assert np.all(np.isfinite(curve.regret))
        assert np.all(np.diff(curve.regret, axis=1) >= -1e-12)
    alg = MVP(value_bound=0.5)
    caps = alg.value_caps(mdp.stage_R(), 10)
    assert caps[0] == 0.5 and caps[-1] == 0.0 and caps[9] == pytest.approx(0.1)
    np.testing.assert_allclose(MVP().value_caps(mdp.stage_R(), 10), (10 - np.arange(11)) / 10)
    assert alg.params()["variant"] == "original" and "c3" in alg.params()


@pytest.mark.parametrize("kwargs,name", [
    ({"delta": 0.0}, "delta"), ({"delta": 1.0}, "delta"), ({"delta": -0.5}, "delta"),
    ({"delta": float("nan")}, "delta"), ({"c1": -1.0}, "c1"), ({"c2": -1e-3}, "c2"),
    ({"c3": -2}, "c3"), ({"bonus_scale": -1}, "bonus_scale"),
    ({"value_bound": 0.0}, "value_bound"), ({"variant": "fancy"}, "variant"),
    ({"variant": None}, "variant"), ({"c1": "big"}, "c1"),
])
def test_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MVP(**kwargs)


def test_negative_rewards_rejected():
    mdp = TabularMDP(P2, R2 - 0.1, horizon=H)
    with pytest.raises(ValueError, match="rewards"):
        MVP().run(mdp, 10)

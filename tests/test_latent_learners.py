"""LMDP learners of Zhou, Wang, Du (lmdp-vo, lmdp-mo) and their baselines."""

import math

import numpy as np
import pytest

from mdplab.algorithms import ALGORITHMS, MVP, LMDPBlind, LMDPLearner, LMDPOracle, check_algorithm
from mdplab.algorithms.latent import build_history_tree, lmdp_optimistic_plan, max_episode_return
from mdplab.envs import probe_chain_lmdp, random_latent_mdp
from mdplab.models import LatentMDP, TabularMDP
from mdplab.planning import latent_optimal_value, latent_oracle_value, latent_policy_value


def _shared_reward_lmdp(M=2, S=3, A=2, H=3, seed=0):
    """Contexts that differ only in their transitions (beliefs come from states)."""
    lm = random_latent_mdp(M, S, A, H, seed=seed)
    R = np.repeat(lm.R[:1], M, axis=0)
    return LatentMDP(lm.P, R, lm.weights, horizon=H, init=lm.init)


INSTANCES = [
    ("shared-rewards", lambda: _shared_reward_lmdp()),
    ("shared-rewards-M3", lambda: _shared_reward_lmdp(M=3, S=2, H=4, seed=3)),
    ("random", lambda: random_latent_mdp(2, 3, 2, 3, seed=2)),
    ("probe-noisy", lambda: probe_chain_lmdp(2, 4, probe_accuracy=0.8)),
    ("levels", lambda: random_latent_mdp(3, 2, 2, 3, seed=4, reward_levels=2)),
]


def _exact(lm):
    return lm.P.copy(), np.full((lm.M, lm.S, lm.A), 1e6)


@pytest.mark.parametrize("solver", ["vo", "mo"])
@pytest.mark.parametrize("label,make", INSTANCES)
def test_exact_model_zero_bonus_is_belief_optimum(solver, label, make):
    lm = make()
    P_hat, n = _exact(lm)
    plan = lmdp_optimistic_plan(lm, P_hat, n, solver=solver, bonus_scale=0.0, value_bound=None)
    opt = latent_optimal_value(lm)
    assert plan.value == pytest.approx(opt, abs=1e-10)
    assert plan.policy_value == pytest.approx(opt, abs=1e-10)


@pytest.mark.parametrize("solver", ["vo", "mo"])
@pytest.mark.parametrize("label,make", INSTANCES[:4])
def test_optimism_exact_model(solver, label, make):
    lm = make()
    P_hat, n = _exact(lm)
    n[:] = 50.0
    plan = lmdp_optimistic_plan(lm, P_hat, n, solver=solver, bonus_scale=0.05, iota=2.0)
    assert plan.value >= latent_optimal_value(lm) - 1e-12
    live = lm.weights > 0
    assert (plan.context_values[live] >= plan.true_context_values[live] - 1e-12).all()


@pytest.mark.parametrize("label,make", INSTANCES[:4])
def test_optimism_when_confidence_sets_hold(label, make):
    lm = make()
    rng = np.random.default_rng(0)
    n = 400
    counts = np.stack([[[rng.multinomial(n, lm.P[m, s, a]) for a in range(lm.A)]
                        for s in range(lm.S)] for m in range(lm.M)])
    P_hat = counts / n
    iota = math.log(200.0 * lm.M * lm.S * lm.A / 0.05)
    radius = np.sqrt(2 * P_hat * iota / n) + 7 / 3 * iota / n
    assert (np.abs(P_hat - lm.P) <= radius).all()  # the Bernstein sets hold
    plan = lmdp_optimistic_plan(lm, P_hat, np.full((lm.M, lm.S, lm.A), float(n)),
                                solver="mo", iota=iota)
    live = lm.weights > 0
    # optimistic alpha vectors of the planned policy bound its true per-context values
    assert (plan.context_values[live] >= plan.true_context_values[live] - 1e-12).all()
    assert plan.value >= plan.policy_value - 1e-12


def test_single_context_is_mvp():
    P = np.zeros((3, 2, 3))
    P[0, 0] = [0.5, 0.5, 0.0]
    P[0, 1] = [0.25, 0.25, 0.5]
    P[1, 0] = [1.0, 0.0, 0.0]
    P[1, 1] = [0.0, 0.5, 0.5]
    P[2, 0] = [0.0, 0.75, 0.25]
    P[2, 1] = [0.5, 0.0, 0.5]
    R = np.array([[0.0, 0.0], [0.125, 0.0], [0.25, 0.125]])  # dyadic: sums are exact
    mdp = TabularMDP(P, R, horizon=4)
    lm = LatentMDP(P[None], R[None], [1.0], horizon=4)
    kw = dict(bonus_scale=0.1, value_bound=1.0)
    a = MVP(**kw).run(mdp, 600, seed=3, n_seeds=2)
    b = LMDPLearner("vo", **kw).run(lm, 600, seed=3, n_seeds=2)
    np.testing.assert_allclose(b.values, a.values, atol=1e-9)
    np.testing.assert_allclose(b.realized, a.realized, atol=1e-9)
    c = LMDPOracle(**kw).run(lm, 600, seed=3, n_seeds=2)
    np.testing.assert_allclose(c.values, a.values, atol=1e-9)


@pytest.mark.parametrize("cls,kw", [(LMDPLearner, {"solver": "vo"}),
                                    (LMDPLearner, {"solver": "mo"}),
                                    (LMDPOracle, {}), (LMDPBlind, {})])
def test_check_algorithm(cls, kw):
    check_algorithm(cls, kwargs=kw)


def test_registered_and_baselines():
    lm = probe_chain_lmdp(2, 4)
    for name in ("lmdp-vo", "lmdp-mo", "lmdp-oracle", "lmdp-blind"):
        assert ALGORITHMS[name]().name == name
    oracle = ALGORITHMS["lmdp-oracle"](bonus_scale=0.02).run(lm, 300)
    assert oracle.optimal_value == pytest.approx(latent_oracle_value(lm))
    # the blind learner plays Markov policies: linear regret on the probe chain
    blind = ALGORITHMS["lmdp-blind"](bonus_scale=0.02).run(lm, 600, checkpoint_every=200)
    vo = ALGORITHMS["lmdp-vo"](bonus_scale=0.02).run(lm, 600, checkpoint_every=200)
    assert blind.values[0, -1] - blind.values[0, -2] > 10 * (vo.values[0, -1] - vo.values[0, -2])


def test_bad_inputs():
    big = random_latent_mdp(2, 2, 2, 3, seed=0, normalize=False)
    assert max_episode_return(big) > 1
    with pytest.raises(ValueError, match="total reward .* > max_return"):
        LMDPLearner("vo").run(big, 10)
    LMDPLearner("vo", max_return=None).run(big, 10)  # the check can be switched off
    staged = random_latent_mdp(2, 2, 2, 3, seed=0, stage_dependent=True)
    with pytest.raises(ValueError, match="time-homogeneous"):
        LMDPLearner("mo").run(staged, 10)
    with pytest.raises(ValueError, match="solver must be"):
        LMDPLearner("fancy")
    with pytest.raises(ValueError, match="bonus_scale must be >= 0"):
        ALGORITHMS["lmdp-mo"](bonus_scale=-0.1)
    with pytest.raises(ValueError, match="max_nodes"):
        build_history_tree(_shared_reward_lmdp(M=2, S=4, A=2, H=6), max_nodes=1000)
    with pytest.raises(TypeError, match="LatentMDP"):
        LMDPLearner("vo").run(TabularMDP(np.ones((1, 1, 1)), np.zeros((1, 1)), horizon=2), 5)
    lm = _shared_reward_lmdp()
    with pytest.raises(ValueError, match="P_hat must have shape"):
        lmdp_optimistic_plan(lm, np.zeros((1, 2)), np.zeros((lm.M, lm.S, lm.A)))


@pytest.mark.parametrize("name", ["lmdp-vo", "lmdp-mo", "lmdp-oracle", "lmdp-blind"])
def test_first_episode_regret_is_exact(name):
    """Before any data every optimistic value is the cap, so every learner plays
    action 0 everywhere: its first-episode regret is J* - V(pi = 0), computed
    independently by the Markov evaluator (the in-kernel tree evaluation)."""
    lm = probe_chain_lmdp(2, 4, probe_accuracy=0.8)
    curve = ALGORITHMS[name](bonus_scale=0.1).run(lm, 3, checkpoint_every=1)
    v0 = latent_policy_value(lm, np.zeros((lm.horizon, lm.S), dtype=np.int64))
    assert curve.values[0, 0] == pytest.approx(curve.optimal_value - v0, abs=1e-12)


def test_context_oracle_objective():
    from mdplab.algorithms.latent import CONTEXT_ORACLE_RETURN
    from mdplab.planning import latent_context_optimal

    lm = probe_chain_lmdp(2, 4, probe_accuracy=0.8)
    best = np.stack([r.policy for r in latent_context_optimal(lm)])
    assert CONTEXT_ORACLE_RETURN.value(lm, best) == pytest.approx(latent_oracle_value(lm))
    assert CONTEXT_ORACLE_RETURN.value(lm, np.zeros_like(best)) < latent_oracle_value(lm)


def _plan_arrays(lm, P_hat, n_hat, solver, bonus_scale, iota):
    """The planner's policy arrays (``pibar``, ``act``) and the kernel's exact value."""
    from mdplab.algorithms.latent import _eval_tree, _plan_tree

    ref = LMDPLearner(solver, bonus_scale=bonus_scale, max_return=None)
    M, S, H = lm.M, lm.S, lm.horizon
    tree = build_history_tree(lm).arrays()
    N = tree[0].shape[0]
    R = np.ascontiguousarray(lm.stage_R(), dtype=np.float64)
    caps = ref.value_caps(R, H)
    w, init = np.ascontiguousarray(lm.weights), np.ascontiguousarray(lm.init)
    pibar, act = np.zeros((M, H, S), dtype=np.int64), np.zeros(N, dtype=np.int64)
    sc = bonus_scale
    _plan_tree(ref.mode, R, np.ascontiguousarray(P_hat[:, None]),
               np.ascontiguousarray(n_hat[:, None]), w, init, H, caps, sc * ref.c1,
               sc * ref.c2, sc * ref.c3, sc * ref.r1, sc * ref.r2, iota, float(R.max()),
               caps[0], *tree, np.zeros((M, H + 1, S)), pibar, np.zeros((N, M)),
               np.zeros((N, M)), act, False)
    J = _eval_tree(np.ascontiguousarray(lm.P), R, w, init, H, *tree, pibar, act,
                   np.zeros((M, H + 1, S)), np.zeros((N, M)), np.zeros(M))
    return tree, pibar, act, J


def _walk_value(lm, tree, pibar, act):
    """Exact value of the played policy by walking every history in the true LMDP
    (the node pointers the online loop follows), independently of ``_eval_tree``."""
    _, _, mask, single, base, nk, rank, root = tree
    R, H = lm.stage_R(), lm.horizon

    def walk(m, h, s, node, ctx):
        a = pibar[ctx, h, s] if ctx >= 0 else act[node]
        v = R[m, h if R.shape[1] > 1 else 0, s, a]
        if h == H - 1:
            return v
        for s2 in np.flatnonzero(lm.P[m, s, a] > 0):
            if ctx >= 0:
                child, c2 = -1, ctx
            else:
                child = base[node, a] + s2 * nk[node, a] + rank[node, a, m]
                assert (mask[child] >> m) & 1
                c2 = single[child]
            v += lm.P[m, s, a, s2] * walk(m, h + 1, s2, child, c2)
        return v

    return sum(lm.weights[m] * lm.init[m, s] * walk(m, 0, s, root[s], single[root[s]])
               for m in range(lm.M) for s in range(lm.S) if lm.init[m, s] > 0)


@pytest.mark.parametrize("solver", ["vo", "mo"])
@pytest.mark.parametrize("label,make", INSTANCES)
def test_played_policy_value_is_exact_on_noisy_models(solver, label, make):
    """The in-kernel evaluation of a policy planned on a *wrong* model (few samples,
    or a random model) equals the value of that history-dependent policy in the
    true LMDP, and never exceeds J*."""
    lm = make()
    rng = np.random.default_rng(7)
    opt = latent_optimal_value(lm)
    for trial in range(4):
        if trial % 2:
            P_hat = rng.dirichlet(np.ones(lm.S), size=(lm.M, lm.S, lm.A))
            n_hat = np.full((lm.M, lm.S, lm.A), 5.0)
        else:
            counts = np.stack([[[rng.multinomial(4, lm.P[m, s, a]) for a in range(lm.A)]
                                for s in range(lm.S)] for m in range(lm.M)]).astype(float)
            n_hat = counts.sum(-1)
            n_hat[0, 0, 0] = 0.0  # an unvisited pair too
            P_hat = counts / np.maximum(n_hat[..., None], 1.0)
        tree, pibar, act, J = _plan_arrays(lm, P_hat, n_hat, solver, 0.02 * trial, 3.0)
        assert J == pytest.approx(_walk_value(lm, tree, pibar, act), abs=1e-12)
        assert J <= opt + 1e-12


@pytest.mark.parametrize("label,make", INSTANCES[:4])
def test_mo_optimism_bounds_the_optimum(label, make):
    """When the Bernstein sets hold, the model-optimistic value bounds J* itself
    (not only the planned policy's own value)."""
    lm = make()
    rng = np.random.default_rng(1)
    opt = latent_optimal_value(lm)
    for n in (30, 300):
        counts = np.stack([[[rng.multinomial(n, lm.P[m, s, a]) for a in range(lm.A)]
                            for s in range(lm.S)] for m in range(lm.M)])
        P_hat = counts / n
        iota = math.log(200.0 * lm.M * lm.S * lm.A / 0.05)
        assert (np.abs(P_hat - lm.P) <= np.sqrt(2 * P_hat * iota / n) + 7 / 3 * iota / n).all()
        plan = lmdp_optimistic_plan(lm, P_hat, np.full((lm.M, lm.S, lm.A), float(n)),
                                    solver="mo", iota=iota)
        assert plan.value >= opt - 1e-12

"""Rep-UCB, ELA and ELLA (mdplab.algorithms.lowrank_representation) and the budget DP
with a per-(h, s, a) bonus (mdplab.planning.cvar.bonus_cvar_dp)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mdplab import envs
from mdplab.algorithms import ALGORITHMS, EXPECTED_RETURN, check_algorithm
from mdplab.algorithms.lowrank_representation import (
    ELA,
    ELLA,
    RepUCB,
    ella_plan,
    ella_policy,
    lowrank_cvar_objective,
    lowrank_policy_value,
)
from mdplab.models import BlockMDP, FeatureClass, LowRankMDP, TabularMDP
from mdplab.planning import cvar_of_policy, evaluate_policy, solve_cvar, solve_cvar_with_bonus
from mdplab.planning.cvar import cvar_grid, cvar_max_remaining


def lattice(model, step=0.25):
    """The same low-rank model with rewards rounded to multiples of ``step``."""
    R = np.round(np.asarray(model.R) / step) * step
    if isinstance(model, BlockMDP):
        return BlockMDP(model.latent_T, model.emission, R, decoder=model.decoder,
                        horizon=model.horizon, init=model.init)
    return LowRankMDP(model.phi, model.mu, R, horizon=model.horizon, init=model.init)


@pytest.fixture(scope="module")
def block():
    return lattice(envs.block_mdp(3, 2, 2, horizon=3, seed=3))


# ------------------------------------------------------------ planning pieces
def brute_bonus_dp(mdp, tau, bonus):
    """Independent loops: U = sum_s' P V(s', c - r) - b, V = clip(min_a U, [(c - rem)^+, c^+])."""
    grid = cvar_grid(mdp)
    H, S, A, n = mdp.horizon, mdp.S, mdp.A, grid.n
    P = mdp.stage_P()
    R = mdp.stage_R()
    c = grid.budgets
    rem = [sum(R[min(k, R.shape[0] - 1)].max() for k in range(h, H)) for h in range(H)]
    V = np.zeros((H + 1, S, n))
    V[H] = np.maximum(c, 0)[None]
    for h in range(H - 1, -1, -1):
        Ph, Rh = P[min(h, P.shape[0] - 1)], R[min(h, R.shape[0] - 1)]
        for s, j in itertools.product(range(S), range(n)):
            best = np.inf
            for a in range(A):
                k = j - int(round(Rh[s, a] / grid.eta))
                nxt = V[h + 1, :, k] if k >= 0 else np.zeros(S)
                best = min(best, Ph[s, a] @ nxt - bonus[h, s, a])
            V[h, s, j] = min(max(best, c[j] - rem[h], 0.0), max(c[j], 0.0))
    obj = c - mdp.init @ V[0] / tau
    return V, obj.max()


def test_bonus_dp_matches_solve_cvar_and_brute_force():
    mdp = envs.safe_risky_chain(horizon=4)
    rng = np.random.default_rng(0)
    for tau in (0.2, 0.6, 1.0):
        zero = solve_cvar_with_bonus(mdp, tau, np.zeros((4, mdp.S, mdp.A)))
        exact = solve_cvar(mdp, tau)
        assert np.allclose(zero.shortfall, exact.shortfall, atol=1e-12)
        assert abs(zero.value - exact.value) < 1e-12
    det = envs.block_mdp(2, 2, 2, horizon=3, seed=1)
    tab = lattice(det).to_tabular()
    bonus = rng.uniform(0, 0.3, size=(3, tab.S, tab.A))
    res = solve_cvar_with_bonus(tab, 0.3, bonus)
    V, best = brute_bonus_dp(tab, 0.3, bonus)
    assert np.allclose(res.shortfall, V, atol=1e-12) and abs(res.value - best) < 1e-12
    assert res.value >= solve_cvar(tab, 0.3).value - 1e-12     # a bonus is optimistic
    with pytest.raises(ValueError, match="bonus"):
        solve_cvar_with_bonus(tab, 0.3, np.zeros((2, tab.S, tab.A)))
    with pytest.raises(ValueError, match="bonus"):
        solve_cvar_with_bonus(tab, 0.3, -bonus)


def test_ella_planner_equals_exact_budget_dp_on_true_transitions():
    """Fed every (s, a, s') of the true model with weight P(s'|s, a), the true
    features, lambda = 0 and no bonus, the regression planner is the exact DP."""
    model = lattice(envs.random_lowrank(6, 2, 3, horizon=3, stage_dependent=True, seed=2))
    tab = model.to_tabular()
    H, S, A = 3, model.S, model.A
    grid = cvar_grid(tab)
    steps = grid.steps[..., 0]
    maxrem = cvar_max_remaining(grid.steps, grid.probs, grid.eta, H)
    s, a, t = (x.ravel() for x in np.meshgrid(range(S), range(A), range(S), indexing="ij"))
    phi = model.phi
    X = np.stack([phi[h][s, a] for h in range(H)])
    wts = np.stack([tab.stage_P()[h][s, a, t] for h in range(H)])
    nxt = [min(h + 1, H - 1) for h in range(H)]
    Fn = np.stack([phi[nxt[h]][t] for h in range(H)])
    Kn = np.stack([steps[nxt[h]][t] for h in range(H)])
    Bn = np.zeros(Kn.shape)
    W = ella_plan(X, Fn, Kn, Bn, grid.c0, grid.eta, grid.n, maxrem, weights=wts, lam=0.0)
    V, pol = ella_policy(phi, W, steps, np.zeros((H, S, A)), grid.c0, grid.eta, maxrem)
    for tau in (0.25, 1.0):
        exact = solve_cvar(tab, tau)
        assert np.allclose(V, exact.shortfall, atol=1e-9)
        obj = grid.budgets - tab.init @ V[0] / tau
        j = int(np.argmax(obj))
        assert abs(cvar_of_policy(tab, pol, tau, budget=grid.budgets[j]) - exact.value) < 1e-9
    with pytest.raises(ValueError, match="next_features"):
        ella_plan(X, Fn[:, :, :, :2], Kn, Bn, grid.c0, grid.eta, grid.n, maxrem)


def test_lowrank_objectives_are_exact():
    model = envs.random_lowrank(5, 2, 2, horizon=3, seed=0)
    tab = model.to_tabular()
    pi = np.random.default_rng(0).integers(0, 2, size=(3, 5))
    assert abs(lowrank_policy_value(model, pi) - evaluate_policy(tab, pi).initial_value) < 1e-12
    lat = lattice(model)
    obj = lowrank_cvar_objective(1.0)
    assert abs(obj.optimum(lat) - EXPECTED_RETURN.optimum(lat)) < 1e-9


# ------------------------------------------------------------------ learners
def test_rep_ucb_true_features_and_distractors_reach_small_suboptimality(block):
    opt = EXPECTED_RETURN.optimum(block)
    fc = envs.feature_class(block, 5, kinds=("swap", "dirichlet", "mixture"), seed=0)
    for klass in (None, fc):
        curve = RepUCB(klass, alpha=0.1).run(block, 720, seed=0, n_seeds=2,
                                              checkpoint_every=180)
        assert curve.suboptimality[:, -1].max() <= 0.02 * opt, curve.suboptimality
        assert (curve.mle_true[:, -1] == 1.0).all()
    assert isinstance(ALGORITHMS["rep-ucb"](), RepUCB)


def test_ela_at_tau_one_matches_rep_ucb(block):
    ela = ELA(tau=1.0, alpha=0.1).run(block, 720, seed=0, n_seeds=2, checkpoint_every=360)
    rep = RepUCB(alpha=0.1).run(block, 720, seed=0, n_seeds=2, checkpoint_every=360)
    assert abs(ela.optimal_value - rep.optimal_value) < 1e-9
    assert ela.objective == "cvar-1" and rep.objective == "expected-return"
    assert ela.suboptimality[:, -1].max() <= 0.02 * rep.optimal_value
    assert rep.suboptimality[:, -1].max() <= 0.02 * rep.optimal_value
    ella = ELLA(tau=1.0, alpha=0.1).run(block, 720, seed=0, n_seeds=2, checkpoint_every=360)
    assert ella.suboptimality[:, -1].max() <= 0.05 * rep.optimal_value


@pytest.mark.parametrize("cls", [RepUCB, ELA, ELLA])
def test_check_algorithm(cls):
    check_algorithm(cls)
    assert isinstance(ALGORITHMS[cls.name](), cls)


def test_bad_inputs(block):
    with pytest.raises(ValueError, match="alpha"):
        RepUCB(alpha=-0.1)
    with pytest.raises(ValueError, match="tau"):
        ELA(tau=0.0)
    with pytest.raises(ValueError, match="lam"):
        ELLA(lam=-1.0)
    with pytest.raises(ValueError, match="feature_class"):
        RepUCB(np.zeros((2, 2, 2)))
    other = envs.block_mdp(3, 2, 3, horizon=3, seed=0)                 # S = 9, not 6
    with pytest.raises(ValueError, match=r"feature_class has \(S, A\)"):
        RepUCB(envs.feature_class(other, 1, seed=0)).run(block, 12)
    wrong_d = FeatureClass([np.full((6, 2, 2), 0.5)], true_index=0)   # d = 2 vs the model's 3
    with pytest.raises(ValueError, match="dimension"):
        RepUCB(wrong_d).run(block, 12)
    with pytest.raises(ValueError, match="one dimension"):
        RepUCB(FeatureClass([block.phi, np.full((6, 2, 2), 0.5)]))
    staged = FeatureClass([np.stack([block.phi] * 2)])
    with pytest.raises(ValueError, match="stages"):
        RepUCB(staged).run(block, 12)
    unrounded = envs.block_mdp(3, 2, 2, horizon=3, seed=3)             # U[0, 1] rewards
    with pytest.raises(ValueError, match="lattice"):
        ELA(tau=0.5).run(unrounded, 12)
    with pytest.raises(ValueError, match="finite-horizon"):
        RepUCB().run(envs.random_lowrank(4, 2, 2, gamma=0.9, seed=0), 12)
    with pytest.raises(TypeError, match="LowRankMDP"):
        RepUCB().run(TabularMDP(np.full((2, 1, 2), 0.5), np.zeros((2, 1)), horizon=2), 12)


def test_ela_bonus_shrinks_with_data_and_output_is_the_optimistic_pair(block):
    """The elliptical bonus uses the accumulated Gram matrix (16x the data: the
    bonus shrinks by about 4), and the output is the (policy, budget) pair of the
    bonus DP in the learned model (the theorem's optimistic iterate)."""

    class Rec(ELA):
        def _plan(self, env, phis, mus, bonus, ds, da, dt, n):
            out = super()._plan(env, phis, mus, bonus, ds, da, dt, n)
            self.seen.append((bonus.copy(), phis, mus, env))
            return out

    ela = Rec(tau=0.5, alpha=0.3)
    ela.seen = []
    ela.check_model(block)
    snaps = list(ela.policies(block, 768, [48, 768], 0))
    b_small, b_big = ela.seen[7][0], ela.seen[-1][0]
    assert len(ela.seen) == 128
    assert b_big.max() <= 0.5 * b_small.max() and b_big.mean() <= 0.5 * b_small.mean()
    _, phis, mus, env = ela.seen[-1]
    g = env["grid"]
    P_hat = np.ascontiguousarray(np.einsum("hsad,hdt->hsat", phis, mus))
    from mdplab.planning.cvar import bonus_cvar_dp
    V, pol = bonus_cvar_dp(P_hat, g.steps, g.probs, 3, g.c0, g.eta, g.n, b_big, env["maxrem"])
    j = int(np.argmax(g.budgets - env["tab"].init @ V[0] / 0.5))
    out_pol, out_c = snaps[-1].policy
    assert np.array_equal(out_pol, pol) and out_c == g.budgets[j]

"""CVaR planning: random rewards on TabularMDP, the budget DP against brute force,
exact return laws against Monte Carlo, and the error messages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from mdplab.models import TabularMDP
from mdplab.planning import (
    backward_induction,
    cvar_of_policy,
    cvar_of_samples,
    evaluate_policy,
    return_distribution,
    solve_cvar,
)
from mdplab.sampling import EpisodicSimulator, rollout

TAUS = (0.05, 0.1, 0.25, 0.3, 0.5, 0.77, 1.0)


def random_model(seed, S=2, A=2, H=2, atoms=(0.0, 0.5, 1.0), stage_dependent=False):
    rng = np.random.default_rng(seed)
    shape = (H, S, A) if stage_dependent else (S, A)
    P = rng.dirichlet(np.ones(S), size=shape)
    J = len(atoms)
    at = np.broadcast_to(np.asarray(atoms, float), shape + (J,)).copy()
    pr = rng.dirichlet(np.ones(J) * 0.7, size=shape)
    init = rng.dirichlet(np.ones(S))
    return TabularMDP(P, None, horizon=H, init=init, reward_atoms=at, reward_probs=pr)


# ------------------------------------------------------------ brute force
def _cvar_sup(law: dict, tau: float) -> float:
    """sup_b { b - E[(b - X)^+] / tau }, attained at an atom of X."""
    xs = np.array(list(law))
    ps = np.array(list(law.values()))
    return max(b - ps @ np.maximum(b - xs, 0.0) / tau for b in xs)


def _law(mdp, act):
    """Return law of the policy ``act[(h, s, return so far)]`` by enumerating paths."""
    atoms, probs = mdp.stage_reward_law()
    P = mdp.stage_P()
    law: dict = {}

    def go(h, s, x, w):
        if h == mdp.horizon:
            key = round(x, 12)
            law[key] = law.get(key, 0.0) + w
            return
        a = act[(h, s, round(x, 12))]
        g, gr = (h if P.shape[0] > 1 else 0), (h if atoms.shape[0] > 1 else 0)
        for j in range(atoms.shape[-1]):
            pj = probs[gr, s, a, j]
            if pj == 0:
                continue
            for t in range(mdp.S):
                if P[g, s, a, t] > 0:
                    go(h + 1, t, x + atoms[gr, s, a, j], w * pj * P[g, s, a, t])

    for s in range(mdp.S):
        if mdp.init[s] > 0:
            go(0, s, 0.0, mdp.init[s])
    return law


def _nodes(mdp):
    atoms, _ = mdp.stage_reward_law()
    nodes = []
    xs = {0.0}
    for h in range(mdp.horizon):
        nodes += [(h, s, x) for s in range(mdp.S) for x in sorted(xs)]
        gr = h if atoms.shape[0] > 1 else 0
        xs = {round(x + r, 12) for x in xs for r in np.unique(atoms[gr])}
    return nodes


def brute_force_cvar(mdp, taus):
    """max over every deterministic policy of (stage, state, return so far)."""
    nodes = _nodes(mdp)
    best = {tau: -np.inf for tau in taus}
    for choice in itertools.product(range(mdp.A), repeat=len(nodes)):
        law = _law(mdp, dict(zip(nodes, choice, strict=True)))
        for tau in taus:
            best[tau] = max(best[tau], _cvar_sup(law, tau))
    return best


@pytest.mark.parametrize("seed,H,atoms,sd", [
    (0, 2, (0.0, 0.5, 1.0), False),
    (1, 2, (0.0, 0.5, 1.0), True),
    (2, 3, (0.0, 1.0), False),
    (3, 2, (-0.5, 0.25, 1.0), False),
])
def test_dp_equals_brute_force(seed, H, atoms, sd):
    mdp = random_model(seed, H=H, atoms=atoms, stage_dependent=sd)
    best = brute_force_cvar(mdp, TAUS)
    for tau in TAUS:
        res = solve_cvar(mdp, tau)
        assert res.exact and res.error_bound == 0.0
        assert abs(res.value - best[tau]) < 1e-10, (tau, res.value, best[tau])
        # The optimal augmented policy started at c* attains it, exactly.
        assert abs(cvar_of_policy(mdp, res.policy, tau, budget=res.budget) - res.value) < 1e-10
        assert abs(cvar_of_policy(mdp, res, tau) - res.value) < 1e-10
        assert res.policy.shape == (H, mdp.S, res.budgets.size)


def test_rounding_is_certified():
    mdp = random_model(5, H=2, atoms=(0.0, 0.3137, 1 / 3))
    best = brute_force_cvar(mdp, TAUS)
    for tau in TAUS:
        res = solve_cvar(mdp, tau, budgets=41)
        assert not res.exact and res.error_bound > 0
        assert res.value - 1e-12 <= best[tau] <= res.value + res.error_bound + 1e-12
        achieved = cvar_of_policy(mdp, res, tau)     # in the true (unrounded) model
        assert res.value - 1e-10 <= achieved <= best[tau] + 1e-10
    # Finer grids tighten the bound.
    assert solve_cvar(mdp, 0.3, budgets=401).error_bound < solve_cvar(mdp, 0.3,
                                                                      budgets=41).error_bound


def test_offset_grid_bound():
    mdp = random_model(0, H=2)
    for tau in TAUS:
        exact = solve_cvar(mdp, tau).value
        for offset in (0.1, 0.25, 0.4):
            res = solve_cvar(mdp, tau, budgets=np.arange(-offset, 2.5, 0.5))
            assert res.error_bound == pytest.approx(res.eta * (1 - tau))
            assert res.value <= exact + 1e-12 <= res.value + res.error_bound + 1e-12


def test_tau_one_is_risk_neutral_and_monotone():
    for seed in range(3):
        mdp = random_model(seed, S=3, A=3, H=4, stage_dependent=seed == 1)
        bi = backward_induction(mdp)
        assert abs(solve_cvar(mdp, 1.0).value - bi.initial_value) < 1e-10
        assert abs(cvar_of_policy(mdp, bi.policy, 1.0)
                   - evaluate_policy(mdp, bi.policy).initial_value) < 1e-10
        vals = [solve_cvar(mdp, t).value for t in np.linspace(0.02, 1.0, 15)]
        assert np.all(np.diff(vals) >= -1e-12)
        law = return_distribution(mdp, bi.policy)
        cv = [law.cvar(t) for t in np.linspace(0.02, 1.0, 15)]
        assert np.all(np.diff(cv) >= -1e-12)
        assert abs(law.probs.sum() - 1) < 1e-12


def test_law_matches_monte_carlo():
    mdp = random_model(7, S=3, A=2, H=3)
    pi = np.array([[0, 1, 1], [1, 0, 1], [0, 0, 1]])
    law = return_distribution(mdp, pi)
    n = 200_000
    ret = rollout(mdp, pi, n, seed=3).returns
    idx = np.searchsorted(law.values, np.round(ret, 9) - 1e-9)
    assert np.allclose(law.values[idx], ret, atol=1e-9)
    observed = np.bincount(idx, minlength=law.values.size)
    keep = law.probs * n >= 5
    exp = law.probs[keep] * n
    obs = observed[keep]
    chi = stats.chisquare(obs, exp * obs.sum() / exp.sum())
    assert chi.pvalue > 1e-4
    for tau in (0.1, 0.3, 1.0):
        batches = [cvar_of_samples(b, tau) for b in ret.reshape(20, -1)]
        se = np.std(batches, ddof=1) / np.sqrt(20)
        assert abs(np.mean(batches) - law.cvar(tau)) < 4 * se + 1e-3
        assert abs(cvar_of_samples(ret, tau) - law.cvar(tau)) < 4 * se * np.sqrt(20) / 4 + 5e-3


def test_augmented_policy_matches_simulation():
    mdp = random_model(4, S=2, A=2, H=3)
    tau = 0.25
    res = solve_cvar(mdp, tau)
    law = return_distribution(mdp, res)
    sim = EpisodicSimulator(mdp, seed=0)
    eta, c0 = res.budgets[1] - res.budgets[0], res.budgets[0]
    out = []
    for _ in range(20_000):
        s, c, total = sim.reset(), res.budget, 0.0
        for h in range(mdp.horizon):
            j = int(np.clip(round((c - c0) / eta), 0, res.budgets.size - 1))
            s2, r, _ = sim.step(res.policy[h, s, j])
            s, c, total = s2, c - r, total + r
        out.append(total)
    out = np.array(out)
    for v, p in zip(law.values, law.probs, strict=True):
        freq = np.mean(np.abs(out - v) < 1e-9)
        assert abs(freq - p) < 5 * np.sqrt(p * (1 - p) / out.size) + 1e-9
    assert abs(cvar_of_samples(out, tau) - res.value) < 0.05


def test_one_atom_models_unchanged():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), size=(4, 2))
    R = rng.random((4, 2))
    plain = TabularMDP(P, R, horizon=5)
    law = TabularMDP(P, None, horizon=5, reward_atoms=R[..., None],
                     reward_probs=np.ones((4, 2, 1)))
    assert np.array_equal(plain.R, law.R) and law.has_reward_distribution
    assert np.array_equal(backward_induction(plain).values, backward_induction(law).values)
    pi = backward_induction(plain).policy
    a, b = rollout(plain, pi, 50, seed=1), rollout(law, pi, 50, seed=1)
    assert np.array_equal(a.states, b.states) and np.array_equal(a.rewards, b.rewards)
    # Off-lattice rewards: the rounded DP brackets the optimum.
    res, v = solve_cvar(plain, 1.0), backward_induction(plain).initial_value
    assert not res.exact and res.value - 1e-12 <= v <= res.value + res.error_bound


def test_sampler_draws_rewards_from_law():
    mdp = random_model(2, S=2, A=2, H=2)
    pi = np.zeros((2, 2), dtype=int)
    ro = rollout(mdp, pi, 100_000, seed=0)
    mean_only = rollout(mdp, pi, 100_000, seed=0, reward_noise="none")
    assert np.array_equal(ro.states, mean_only.states)
    assert set(np.unique(ro.rewards)) <= {0.0, 0.5, 1.0}
    assert abs(ro.returns.mean() - evaluate_policy(mdp, pi).initial_value) < 0.01
    sim = EpisodicSimulator(mdp, seed=0)
    sim_ret = []
    for _ in range(50):
        sim.reset()
        sim_ret.append(sum(sim.step(0)[1] for _ in range(2)))
    assert np.allclose(sim_ret, ro.returns[:50])


def test_reward_law_validation():
    P = np.full((2, 2, 2), 0.5)
    at = np.zeros((2, 2, 2))
    pr = np.full((2, 2, 2), 0.5)
    bad = pr.copy()
    bad[1, 0] = [1.5, -0.5]
    with pytest.raises(ValueError, match=r"reward_probs\[1, 0, 1\] = -0.5 is negative"):
        TabularMDP(P, None, horizon=2, reward_atoms=at, reward_probs=bad)
    bad = pr.copy()
    bad[0, 1] = [0.5, 0.6]
    with pytest.raises(ValueError, match=r"reward_probs\[0, 1, :\] sums to"):
        TabularMDP(P, None, horizon=2, reward_atoms=at, reward_probs=bad)
    nan = at.copy()
    nan[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"reward_atoms\[1, 1, 0\] is nan"):
        TabularMDP(P, None, horizon=2, reward_atoms=nan, reward_probs=pr)
    with pytest.raises(ValueError, match="must match reward_atoms"):
        TabularMDP(P, None, horizon=2, reward_atoms=at, reward_probs=pr[..., :1])
    with pytest.raises(ValueError, match="both reward_atoms and reward_probs"):
        TabularMDP(P, None, horizon=2, reward_atoms=at)
    with pytest.raises(ValueError, match=r"R\[0, 0\] = 1 is not the mean"):
        TabularMDP(P, np.ones((2, 2)), horizon=2, reward_atoms=at, reward_probs=pr)
    with pytest.raises(ValueError, match="R .mean rewards. is required"):
        TabularMDP(P, None, horizon=2)
    with pytest.raises(ValueError, match="reward_atoms has 3 stages"):
        TabularMDP(P, None, horizon=2, reward_atoms=np.zeros((3, 2, 2, 1)),
                   reward_probs=np.ones((3, 2, 2, 1)))
    m = TabularMDP(P, None, horizon=2, reward_atoms=at, reward_probs=pr)
    assert m.replace(horizon=3).has_reward_distribution
    assert not m.replace(R=np.ones((2, 2))).has_reward_distribution


def test_cvar_errors():
    mdp = random_model(0)
    for tau in (0, 0.0, -0.1, 1.5, float("nan"), "x", True):
        with pytest.raises(ValueError, match="tau must be"):
            solve_cvar(mdp, tau)
        with pytest.raises(ValueError, match="tau must be"):
            cvar_of_policy(mdp, np.zeros((2, 2), dtype=int), tau)
    with pytest.raises(ValueError, match="does not cover the return range"):
        solve_cvar(mdp, 0.5, budgets=np.linspace(0.0, 1.0, 3))
    with pytest.raises(ValueError, match="evenly spaced"):
        solve_cvar(mdp, 0.5, budgets=[0.0, 0.5, 2.0])
    res = solve_cvar(mdp, 0.5)
    with pytest.raises(ValueError, match="needs its initial budget"):
        cvar_of_policy(mdp, res.policy, 0.5)
    with pytest.raises(ValueError, match="not on the budget grid"):
        cvar_of_policy(mdp, res.policy, 0.5, budget=0.3)
    with pytest.raises(ValueError, match="Markov policy ignores it"):
        cvar_of_policy(mdp, np.zeros((2, 2), dtype=int), 0.5, budget=0.5)
    with pytest.raises(ValueError, match="discounted"):
        solve_cvar(mdp.replace(horizon=None, gamma=0.9), 0.5)
    with pytest.raises(TypeError, match="TabularMDP"):
        solve_cvar("mdp", 0.5)


def test_envs_have_their_risk_trade_off():
    from mdplab import envs

    chain = envs.safe_risky_chain(5)
    mean_pi = backward_induction(chain).policy
    assert (mean_pi[:, 0] == 1).all()                       # mean-optimal: always risky
    for tau in (0.05, 0.075, 0.1):                          # all safe (the flat-rate claim)
        assert solve_cvar(chain, tau).value == pytest.approx(0.5, abs=1e-12)
    assert cvar_of_policy(chain, mean_pi, 0.05) < 0.2
    mid = solve_cvar(chain, 0.3)
    assert mid.value > max(0.5, cvar_of_policy(chain, mean_pi, 0.3)) + 1e-3
    # history dependence: better than every Markov policy (2^5 on the live state 0;
    # the absorbing crash state's action does not matter)
    import itertools

    for tau in (0.2, 0.3):
        best_markov = max(
            cvar_of_policy(chain, np.array([[a, 0] for a in acts]), tau)
            for acts in itertools.product((0, 1), repeat=5))
        assert solve_cvar(chain, tau).value > best_markov + 1e-3, tau
    for tau, gap in ((0.25, 0.1), (0.05, 0.2), (1.0, 0.01)):
        hard = envs.cvar_lower_bound(3, tau, n_states=2, gap=gap)
        assert solve_cvar(hard, tau).value == pytest.approx(0.5 + gap, abs=1e-12)
        # any arm but the best in one context costs gap / 2
        pi = np.zeros((2, 4), dtype=int)
        pi[:, 1] = 2
        assert cvar_of_policy(hard, pi, tau) == pytest.approx(0.5 + gap / 2, abs=1e-12)
    grid = envs.random_grid_mdp(4, 2, 3, seed=1)
    assert solve_cvar(grid, 0.2).exact
    with pytest.raises(ValueError, match="safe_reward"):
        envs.safe_risky_chain(3, safe_reward=0.33)

"""CVaR-UCBVI with learned reward laws (``rewards="learned"``)."""

from __future__ import annotations

import numpy as np
import pytest

from mdplab import envs
from mdplab.algorithms import CVaRUCBVI, check_algorithm
from mdplab.models import TabularMDP


def test_conformance_learned():
    check_algorithm(CVaRUCBVI, kwargs={"rewards": "learned"})


def _staged_rewards(mdp):
    """``mdp`` with its reward law repeated per stage (a stage-dependent reward law)."""
    H = mdp.horizon
    atoms, probs = mdp.stage_reward_law()
    atoms = np.concatenate([atoms] * H) if atoms.shape[0] == 1 else atoms
    probs = np.concatenate([probs] * H) if probs.shape[0] == 1 else probs
    return TabularMDP(mdp.P, None, horizon=H, init=mdp.init, reward_atoms=atoms,
                      reward_probs=probs)


@pytest.mark.parametrize("bonus", ["hoeffding", "bernstein"])
def test_one_atom_rewards_give_the_known_runs(bonus):
    """Deterministic rewards: the empirical law is exact after one visit, and the
    joint-variance Bernstein bonus equals the known-law one, so the runs are identical."""
    for mdp in (envs.cvar_lower_bound(2, 0.5, n_states=2, horizon=3, gap=0.3),
                envs.safe_risky_chain(3, p_miss=0.0, p_crash=0.2)):
        kw = {"tau": 0.5, "bonus_scale": 0.1}
        known = CVaRUCBVI(bonus, **kw).run(mdp, 400, seed=3, n_seeds=2)
        learned = CVaRUCBVI(bonus, rewards="learned", **kw).run(mdp, 400, seed=3, n_seeds=2)
        assert np.array_equal(known.regret, learned.regret)
        assert np.array_equal(known.return_sum, learned.return_sum)


def test_random_rewards_learned_and_sublinear():
    """Random rewards (the risky step may pay nothing): learning the law costs regret
    early, the runs differ from the known-law ones, and the learner still settles on
    the CVaR-optimal policy (zero regret per episode at the end)."""
    mdp = envs.safe_risky_chain(4)
    kw = {"tau": 0.3, "bonus_scale": 0.1}
    known = CVaRUCBVI("bernstein", **kw).run(mdp, 3000, seed=1, n_seeds=2)
    learned = CVaRUCBVI("bernstein", rewards="learned", **kw).run(mdp, 3000, seed=1, n_seeds=2)
    assert not np.array_equal(known.regret, learned.regret)
    per_episode = np.diff(learned.regret, axis=1)[:, -10:] / np.diff(learned.episodes)[-10:]
    assert (per_episode < 1e-9).all()
    # a stage-dependent reward law (per-stage counts forced): regret per episode falls
    staged = _staged_rewards(envs.safe_risky_chain(3))
    curve = CVaRUCBVI("bernstein", tau=0.3, bonus_scale=0.1, rewards="learned").run(
        staged, 6000, seed=0, n_seeds=2, checkpoint_every=2000)
    steps = np.diff(np.concatenate([np.zeros((2, 1)), curve.regret], axis=1), axis=1).mean(0)
    assert steps[-1] <= 0.5 * steps[0]


def test_learned_needs_per_stage_counts_for_staged_rewards():
    staged = _staged_rewards(envs.safe_risky_chain(3))
    with pytest.raises(ValueError, match="stage_dependent=True or None"):
        CVaRUCBVI(rewards="learned", stage_dependent=False).run(staged, 5)
    CVaRUCBVI(rewards="known", stage_dependent=False).run(staged, 5)
    with pytest.raises(ValueError, match="rewards must be one of"):
        CVaRUCBVI(rewards="sampled")
    assert CVaRUCBVI(rewards="learned").params()["rewards"] == "learned"


def test_joint_variance_bonus_matches_a_direct_dp():
    """``optimistic_dp`` mode 3 (learned rewards: variance of ``V(s', c - r)`` under the
    joint law of ``(r, s')``) against a direct loop over (stage, state, budget, action)."""
    from mdplab.planning.cvar import cvar_grid, optimistic_dp

    mdp = envs.random_grid_mdp(3, 2, 3, levels=2, seed=4)
    g = cvar_grid(mdp)
    H, S, A = mdp.horizon, mdp.S, mdp.A
    rng = np.random.default_rng(1)
    trans = rng.integers(0, 4, size=(1, S, A, S)).astype(float)
    trans[0, 1, 0] = 0.0                                    # one unvisited pair
    counts = trans.sum(-1)
    Phat = trans / np.maximum(counts, 1.0)[..., None]
    rhat = rng.dirichlet(np.ones(g.probs.shape[-1]), size=(1, S, A))
    maxrem = g.steps.max() * g.eta * np.arange(H, -1, -1, dtype=float)
    L, scale, vrange = 3.0, 0.3, maxrem[0]
    V = np.zeros((H + 1, S, g.n))
    pol = np.zeros((H, S, g.n), dtype=np.int64)
    optimistic_dp(Phat, counts, np.ascontiguousarray(g.steps), rhat, H, 0.0, g.eta,
                  np.zeros((H + 1, S)), 3, scale, L, vrange, maxrem, V, pol)
    ref = np.zeros_like(V)
    c = g.eta * np.arange(g.n)
    ref[H] = c
    for h in range(H - 1, -1, -1):
        for s in range(S):
            for j in range(g.n):
                best = np.inf
                for a in range(A):
                    n = counts[0, s, a]
                    if n == 0:
                        best = -np.inf
                        continue
                    vals, w = [], []
                    for t in range(S):
                        for jj, k in enumerate(g.steps[0, s, a]):
                            vals.append(ref[h + 1, t, j - k] if j - k >= 0 else 0.0)
                            w.append(Phat[0, s, a, t] * rhat[0, s, a, jj])
                    vals, w = np.array(vals), np.array(w)
                    mean = w @ vals
                    var = max(w @ vals**2 - mean**2, 0.0)
                    u = mean - scale * (np.sqrt(2 * L * var / n) + vrange * L / n)
                    best = min(best, u)
                ref[h, s, j] = min(max(best, c[j] - maxrem[h], 0.0), c[j])
    assert np.abs(V - ref).max() < 1e-12

"""LatentMDP: every exact quantity against an independent computation.

Brute-force references here are plain Python/numpy recursions over explicit
trajectories and explicit policy trees (no belief merging, no vectorised DAG).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from brute_force import finite_horizon_optimum_by_enumeration, finite_horizon_value

from mdplab.envs.latent import probe_chain_lmdp, random_latent_mdp
from mdplab.envs.random_mdp import random_mdp
from mdplab.models.latent import LatentMDP
from mdplab.models.tabular import TabularMDP
from mdplab.planning import (
    backward_induction,
    evaluate_policy,
    latent_best_markov_policy,
    latent_optimal_value,
    latent_oracle_value,
    latent_policy_value,
    latent_reachable,
    latent_var_star,
)
from mdplab.sampling import EpisodicSimulator


# ------------------------------------------------------------------ references
def staged(lm: LatentMDP):
    """``P (M, H, S, A, S)`` and ``R (M, H, S, A)`` with an explicit stage per step."""
    H = lm.horizon
    P = lm.P if lm.P.ndim == 5 else np.broadcast_to(lm.P[:, None], (lm.M, H, *lm.P.shape[1:]))
    R = lm.R if lm.R.ndim == 4 else np.broadcast_to(lm.R[:, None], (lm.M, H, *lm.R.shape[1:]))
    return P, R


def markov_trajectories(P, R, nu, pi):
    """``[(prob, return, sum of squared rewards)]`` of every trajectory of a Markov policy.

    ``P (H, S, A, S)``, ``R (H, S, A)``, ``pi (H, S, A)`` action probabilities.
    """
    H, S, A = R.shape
    out = []

    def rec(h, s, p, g):
        if h == H:
            out.append((p, g))
            return
        for a in range(A):
            for s2 in range(S):
                q = p * pi[h, s, a] * P[h, s, a, s2]
                if q > 0:
                    rec(h + 1, s2, q, g + R[h, s, a])

    for s0 in range(S):
        if nu[s0] > 0:
            rec(0, s0, nu[s0], 0.0)
    return out


def moments(traj):
    p = np.array([t[0] for t in traj])
    g = np.array([t[1] for t in traj])
    mean = p @ g
    return mean, p @ (g - mean) ** 2


def observations(lm, P, R, h, s, a, like, observe_rewards):
    """Children ``(s', class, like')`` of a history with likelihood vector ``like``."""
    out = []
    for s2 in range(lm.S):
        if observe_rewards:
            classes = {}
            for m in range(lm.M):
                classes.setdefault(round(R[m, h, s, a] * 1e9), []).append(m)
            groups = list(classes.values())
        else:
            groups = [list(range(lm.M))]
        for members in groups:
            mask = np.zeros(lm.M)
            mask[members] = 1.0
            child = like * P[:, h, s, a, s2] * mask
            if child.sum() > 0:
                out.append((s2, min(members), child))
    return out


def tree_values(lm, observe_rewards, objective=None):
    """The value of EVERY deterministic history-dependent policy tree, as an array.

    ``objective(h, s, a, like, children)`` optionally replaces the immediate term
    ``sum_m like_m R_m(h, s, a)`` (used for the Var* objective). Trees are
    enumerated explicitly: a tree picks an action at the history and a subtree
    for each observable continuation, so the list at a history is the sum of the
    immediate term and one entry per child, over the Cartesian product.
    """
    P, R = staged(lm)
    H = lm.horizon

    def rec(h, s, like):
        vals = []
        for a in range(lm.A):
            kids = observations(lm, P, R, h, s, a, like, observe_rewards) if h < H - 1 else []
            imm = like @ R[:, h, s, a] if objective is None else objective(h, s, a, like, kids)
            lists = [rec(h + 1, s2, c) for s2, _, c in kids]
            for combo in itertools.product(*lists):
                vals.append(imm + sum(combo))
        return vals

    total = np.zeros(1)
    for s0 in range(lm.S):
        like = lm.weights * lm.init[:, s0]
        if like.sum() > 0:
            total = np.add.outer(total, np.array(rec(0, s0, like))).ravel()
    return total


def alpha_star(lm, observe_rewards):
    """Alpha vectors of the optimal policy at every history, by plain recursion.

    Returns a function ``alpha(h, s, like) -> (M,)`` (memoised on the history's
    likelihood vector bytes; no merging of nearby beliefs).
    """
    P, R = staged(lm)
    H = lm.horizon
    memo = {}

    def alpha(h, s, like):
        key = (h, s, like.tobytes())
        if key in memo:
            return memo[key]
        best, best_alpha = -np.inf, None
        for a in range(lm.A):
            al = R[:, h, s, a].copy()
            if h < H - 1:
                for s2, _k, child in observations(lm, P, R, h, s, a, like, observe_rewards):
                    ca = alpha(h + 1, s2, child)
                    # context m follows the child of its own reward class
                    for m in range(lm.M):
                        if child[m] > 0:
                            al[m] += P[m, h, s, a, s2] * ca[m]
            v = like @ al
            if v > best + 1e-12:
                best, best_alpha = v, al
        memo[key] = best_alpha
        return best_alpha

    return alpha


def small_lmdp(seed, M=2, S=2, A=2, H=3, random_init=True, **kw):
    rng = np.random.default_rng(seed)
    lm = random_latent_mdp(M, S, A, H, seed=rng, **kw)
    # per-context random starts make s_0 informative (but multiply the policy trees)
    init = rng.dirichlet(np.ones(S), size=M) if random_init else None
    w = rng.dirichlet(np.ones(M))
    return LatentMDP(lm.P, lm.R, w, horizon=H, init=init)


# ------------------------------------------------------------------------ tests
def test_single_context_is_its_mdp():
    mdp = random_mdp(3, 2, horizon=4, seed=3, stage_dependent=True, init=np.array([0.2, 0.5, 0.3]))
    lm = LatentMDP([mdp], [1.0])
    assert lm.context(0).S == 3 and lm.P.shape == (1, 4, 3, 2, 3)
    opt = backward_induction(mdp)
    rng = np.random.default_rng(0)
    det = rng.integers(0, 2, size=(4, 3))
    sto = rng.dirichlet(np.ones(2), size=(4, 3))
    for pi in (det, sto):
        assert lm.policy_value(pi) == pytest.approx(evaluate_policy(mdp, pi).initial_value)
    for obs in (False, True):
        assert lm.optimal_value(observe_rewards=obs) == pytest.approx(opt.initial_value, abs=1e-12)
    assert lm.oracle_value() == pytest.approx(opt.initial_value)
    assert lm.best_markov_policy().value == pytest.approx(opt.initial_value, abs=1e-12)
    # Var* with one context: max_pi E[sum_h Var_{P(s_h, a_h)} V*_{h+1}], an ordinary
    # MDP whose reward is the one-step variance of V* (solved by backward induction).
    V = opt.values
    var_r = np.stack(
        [mdp.P_at(h) @ V[h + 1] ** 2 - (mdp.P_at(h) @ V[h + 1]) ** 2 for h in range(4)]
    )
    var_mdp = TabularMDP(mdp.P, var_r, horizon=4, init=mdp.init)
    start = mdp.init @ V[0] ** 2 - (mdp.init @ V[0]) ** 2  # the random start's share
    ref = backward_induction(var_mdp).initial_value + start
    assert lm.var_star() == pytest.approx(ref, abs=1e-12)
    # The sampler: M = 1 consumes no draw for the context, so episode k is bitwise
    # episode k of mdplab's step-by-step simulator of the single MDP (same streams).
    ep = lm.sample(det, 200, seed=7)
    sim = EpisodicSimulator(mdp, seed=7)
    assert (ep.contexts == 0).all()
    for k in range(200):
        s = sim.reset()
        assert s == ep.states[k, 0]
        for h in range(4):
            s, r, _ = sim.step(det[h, s])
            assert (s, r) == (ep.states[k, h + 1], ep.rewards[k, h])
    ep = lm.sample(sto, 20_000, seed=7)
    assert abs(ep.mean_return() - evaluate_policy(mdp, sto).initial_value) < 4 * ep.stderr()


def test_markov_policies_against_enumeration():
    lm = small_lmdp(1, M=2, S=2, A=2, H=3)
    P, R = staged(lm)
    values = []
    for flat in itertools.product(range(2), repeat=6):
        pi = np.array(flat).reshape(3, 2)
        ref = sum(
            lm.weights[m] * lm.init[m] @ finite_horizon_value(P[m], R[m], 3, pi) for m in range(2)
        )
        values.append(ref)
        if flat[:3] == (0, 1, 1):  # a few direct comparisons of policy_value
            assert latent_policy_value(lm, pi) == pytest.approx(ref, abs=1e-14)
    best = max(values)
    for method in ("enumerate", "branch_and_bound"):
        sol = latent_best_markov_policy(lm, method=method)
        assert sol.value == pytest.approx(best, abs=1e-12)
        assert latent_policy_value(lm, sol.policy) == pytest.approx(best, abs=1e-12)
    assert latent_best_markov_policy(lm, method="enumerate").n_evaluated == 64
    oracle = sum(
        lm.weights[m] * lm.init[m] @ finite_horizon_optimum_by_enumeration(P[m], R[m], 3)
        for m in range(2)
    )
    assert latent_oracle_value(lm) == pytest.approx(oracle, abs=1e-12)
    for obs in (False, True):
        v = latent_optimal_value(lm, observe_rewards=obs)
        assert best - 1e-12 <= v <= oracle + 1e-12


@pytest.mark.parametrize(
    ("seed", "H", "observe_rewards", "levels", "random_init"),
    [(2, 3, False, None, True), (3, 2, True, 2, True), (4, 3, True, None, False)],
)
def test_belief_planning_equals_policy_tree_enumeration(
    seed, H, observe_rewards, levels, random_init
):
    lm = small_lmdp(seed, M=2, S=2, A=2, H=H, reward_levels=levels, random_init=random_init)
    trees = tree_values(lm, observe_rewards)
    bp = lm.solve_belief(observe_rewards=observe_rewards)
    assert bp.optimal_value == pytest.approx(trees.max(), abs=1e-12)
    assert trees.size > 60  # really many trees
    if observe_rewards:  # more information never hurts
        assert bp.optimal_value >= lm.optimal_value(observe_rewards=False) - 1e-12
    # The policy object: following action_after on every history earns the optimum.
    P, R = staged(lm)
    total = 0.0
    for m in range(lm.M):
        for s0 in range(lm.S):
            stack = [([s0], [], [], lm.weights[m] * lm.init[m, s0], 0.0)]
            while stack:
                ss, aa, rr, p, g = stack.pop()
                if p == 0:
                    continue
                h = len(aa)
                if h == H:
                    total += p * g
                    continue
                a = bp.action_after(ss, aa, rr if observe_rewards else None)
                r = R[m, h, ss[-1], a]
                for s2 in range(lm.S):
                    stack.append((ss + [s2], aa + [a], rr + [r], p * P[m, h, ss[-1], a, s2], g + r))
    assert total == pytest.approx(bp.optimal_value, abs=1e-12)
    # Var*: the same explicit trees, scoring the one-step variances of the optimal
    # alpha vectors (from a separate history recursion) instead of rewards.
    if levels is None:  # continuous rewards: no ties, so alpha* is unique
        alpha = alpha_star(lm, observe_rewards)

        def var_term(h, s, a, like, kids):
            out = 0.0
            for m in range(lm.M):
                e1 = e2 = 0.0
                for s2, _k, child in kids:
                    if child[m] > 0:
                        v = alpha(h + 1, s2, child)[m]
                        e1 += P[m, h, s, a, s2] * v
                        e2 += P[m, h, s, a, s2] * v * v
                out += like[m] * (e2 - e1 * e1)
            return out

        ref = tree_values(lm, observe_rewards, objective=var_term).max()
        for s0 in range(lm.S):  # the random start's share, the same for every tree
            a0 = alpha(0, s0, lm.weights * lm.init[:, s0])
            ref += lm.weights @ (lm.init[:, s0] * a0**2)
        means = np.array(
            [
                sum(
                    lm.init[m, s0] * alpha(0, s0, lm.weights * lm.init[:, s0])[m]
                    for s0 in range(lm.S)
                )
                for m in range(lm.M)
            ]
        )
        ref -= lm.weights @ means**2
        assert lm.var_star(observe_rewards=observe_rewards) == pytest.approx(ref, abs=1e-12)


def test_law_of_total_variance_against_trajectories():
    lm = small_lmdp(5, M=2, S=3, A=2, H=3)
    P, R = staged(lm)
    rng = np.random.default_rng(1)
    det = rng.integers(0, 2, size=(3, 3))
    sto = rng.dirichlet(np.ones(2), size=(3, 3))
    for pi in (det, sto):
        probs = pi[..., None] == np.arange(2) if pi.dtype.kind == "i" else pi
        rv = lm.return_variance(pi)
        mix = []
        for m in range(lm.M):
            traj = markov_trajectories(P[m], R[m], lm.init[m], probs.astype(float))
            mean, var = moments(traj)
            # law of total variance in one MDP: Var(G) = Var(V_0(s_0)) + E[sum of
            # conditional variances of the next value and of the action's Q]
            assert rv.context_means[m] == pytest.approx(mean, abs=1e-14)
            assert rv.context_variances[m] == pytest.approx(var, abs=1e-14)
            parts = rv.initial_terms[m] + rv.transition_terms[m] + rv.action_terms[m]
            assert parts == pytest.approx(var, abs=1e-14)
            assert rv.initial_terms[m] > 0
            mix += [(lm.weights[m] * p, g) for p, g in traj]
        if pi is det:
            assert np.all(rv.action_terms == 0)
        else:
            assert np.all(rv.action_terms > 0)
        assert rv.total == pytest.approx(moments(mix)[1], abs=1e-14)
        assert rv.within + rv.between == pytest.approx(rv.total)
    # The belief-optimal policy: DAG moments against walking every history.
    bp = lm.solve_belief()
    rv = lm.return_variance(bp)
    for m in range(lm.M):
        traj = []
        stack = [([s0], [], [], lm.init[m, s0], 0.0) for s0 in range(lm.S)]
        while stack:
            ss, aa, rr, p, g = stack.pop()
            if p == 0:
                continue
            if len(aa) == lm.horizon:
                traj.append((p, g))
                continue
            h, s = len(aa), ss[-1]
            a = bp.action_after(ss, aa, rr)
            for s2 in range(lm.S):
                stack.append(
                    (
                        ss + [s2],
                        aa + [a],
                        rr + [R[m, h, s, a]],
                        p * P[m, h, s, a, s2],
                        g + R[m, h, s, a],
                    )
                )
        mean, var = moments(traj)
        assert rv.context_means[m] == pytest.approx(mean, abs=1e-14)
        assert rv.context_variances[m] == pytest.approx(var, abs=1e-14)
        assert rv.initial_terms[m] + rv.transition_terms[m] == pytest.approx(var, abs=1e-14)
    # Var* maximises over policies what pi* achieves: E[Var^{pi*}(G | m)].
    assert lm.var_star() >= rv.within - 1e-14
    assert lm.var_star() > 0


def test_var_star_zero_for_deterministic_lmdp():
    lm = random_latent_mdp(3, 3, 2, 4, seed=11, deterministic=True, weights=[0.5, 0.3, 0.2])
    P, R = staged(lm)
    for obs in (False, True):
        assert lm.var_star(observe_rewards=obs) == 0.0
        bp = lm.solve_belief(observe_rewards=obs)
        rv = lm.return_variance(bp)
        # Given m the trajectory is deterministic: walk it and read the return.
        returns = []
        for m in range(lm.M):
            ss, aa, rr = [0], [], []
            for h in range(lm.horizon):
                a = bp.action_after(ss, aa, rr if obs else None)
                rr.append(R[m, h, ss[-1], a])
                aa.append(a)
                ss.append(int(np.argmax(P[m, h, ss[-1], a])))
            returns.append(sum(rr))
        returns = np.array(returns)
        assert rv.within == pytest.approx(0.0, abs=1e-14)
        np.testing.assert_allclose(rv.context_means, returns, atol=1e-14)
        # The context itself is random: the return's variance is all "between".
        ref_between = lm.weights @ (returns - lm.weights @ returns) ** 2
        assert rv.between == pytest.approx(ref_between, abs=1e-14) and rv.between > 0
        assert rv.total == pytest.approx(ref_between, abs=1e-14)
    # deterministic beliefs are uniform-on-subset posteriors: few nodes
    assert lm.solve_belief().n_nodes < 3 * 4 * 2**3


def test_probe_chain_closed_forms():
    H, w = 5, np.array([0.6, 0.4])
    u = 1 / (H - 1)
    for q in (1.0, 0.9):
        lm = probe_chain_lmdp(2, H, weights=w, probe_accuracy=q)
        info = max(w[0] * q, w[1] * (1 - q)) + max(w[1] * q, w[0] * (1 - q))
        markov = latent_best_markov_policy(lm)
        assert markov.value == pytest.approx(u * (info + (H - 2) * w.max()), abs=1e-12)
        enumerated = latent_best_markov_policy(lm, method="enumerate")
        assert enumerated.value == pytest.approx(markov.value)
        assert latent_optimal_value(lm, observe_rewards=False) == pytest.approx(info, abs=1e-12)
        assert latent_optimal_value(lm, observe_rewards=True) == pytest.approx(u * (info + H - 2))
        assert latent_oracle_value(lm) == pytest.approx(1.0)
        assert markov.value < latent_optimal_value(lm, observe_rewards=False) - 0.1
        if q == 1.0:  # the probe reveals m before any reward: belief = oracle
            assert latent_optimal_value(lm, observe_rewards=False) == pytest.approx(1.0)
            assert latent_var_star(lm) == 0.0
        else:
            assert latent_optimal_value(lm, observe_rewards=True) < 1.0 - 1e-3
            assert latent_var_star(lm) > 0
    # three contexts, random rewarding actions: the gaps persist
    lm = probe_chain_lmdp(3, 4, weights=[0.5, 0.3, 0.2], probe_accuracy=0.8, seed=3)
    assert lm.A == 3 and lm.S == 5
    markov = latent_best_markov_policy(lm)
    # 7 reachable (h, s) pairs (start; 3 signals and c; c; c): 3^7 policies, not 3^20
    assert latent_reachable(lm).sum() == 7
    assert latent_best_markov_policy(lm, method="enumerate").n_evaluated == 3**7
    assert markov.n_evaluated < 3**7
    b, m = latent_optimal_value(lm, observe_rewards=False), markov.value
    assert m < b - 0.05 and b < latent_oracle_value(lm) - 0.05
    assert (lm.R.sum(axis=(1, 2, 3)) > 0).all() and lm.R.max() == pytest.approx(1 / 3)


def test_sampler_statistics_and_reproducibility():
    lm = random_latent_mdp(3, 4, 2, 4, seed=21, weights=[0.2, 0.3, 0.5], dirichlet_alpha=0.5)
    rng = np.random.default_rng(2)
    pi = rng.dirichlet(np.ones(2), size=(4, 4))
    n = 40_000
    ep = lm.sample(pi, n, seed=5)
    assert abs(ep.mean_return() - lm.policy_value(pi)) < 4 * ep.stderr()
    freq = np.bincount(ep.contexts, minlength=3) / n
    assert np.all(np.abs(freq - lm.weights) < 4 * np.sqrt(lm.weights * (1 - lm.weights) / n))
    again = lm.sample(pi, n, seed=5)
    np.testing.assert_array_equal(ep.states, again.states)
    np.testing.assert_array_equal(ep.contexts, again.contexts)
    assert not np.array_equal(ep.states, lm.sample(pi, n, seed=6).states)
    # Rewards are R[m, s, a] along the sampled path.
    np.testing.assert_array_equal(
        ep.rewards, lm.R[ep.contexts[:, None], ep.states[:, :-1], ep.actions]
    )
    bp = lm.solve_belief()
    eb = bp.sample(n, seed=8)
    assert abs(eb.mean_return() - bp.optimal_value) < 4 * eb.stderr()
    assert abs(eb.returns.var() - lm.return_variance(bp).total) < 0.1 * eb.returns.var()
    # The kernel walks the same DAG as the Python policy object.
    for k in range(20):
        for h in range(lm.horizon):
            hist = (eb.states[k, : h + 1], eb.actions[k, :h], eb.rewards[k, :h])
            assert eb.actions[k, h] == bp.action_after(*hist)


def test_policy_object_lookup():
    lm = small_lmdp(6, M=3, S=2, A=2, H=3)
    bp = lm.solve_belief(observe_rewards=False)
    for i in range(bp.n_nodes):
        assert bp.act(bp.stage[i], bp.state[i], 3.0 * bp.belief[i]) == bp.action[i]
        assert bp.value[i] == pytest.approx(bp.belief[i] @ bp.alpha[i], abs=1e-14)
    with pytest.raises(ValueError, match="not a belief the planner reached"):
        bp.act(1, 0, [0.123, 0.456, 0.421])
    with pytest.raises(ValueError, match="t\\+1 states and t actions"):
        bp.node_after([0, 1], [])


def test_size_guards():
    lm = random_latent_mdp(2, 4, 3, 6, seed=0)
    with pytest.raises(ValueError, match=r"= 3\^21 = .*exceed max_policies"):
        lm.best_markov_policy()
    with pytest.raises(ValueError, match="too large for exact planning"):
        lm.solve_belief(observe_rewards=False, max_nodes=500)


def _P(M=2, S=2, A=2):
    return np.full((M, S, A, S), 1.0 / S)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(weights=[1.2, -0.2]), r"weights\[1\] = -0.2 is negative"),
        (dict(weights=[0.5, 0.4]), r"weights sum to 0.9; they must sum to 1"),
        (dict(weights=[1.0]), r"weights must have shape \(M,\) = \(2,\)"),
        (dict(horizon=None), r"episodic: give horizon=H"),
        (dict(horizon=0), r"horizon must be an integer >= 1"),
        (dict(P=np.full((2, 2, 2, 2, 2), 0.5)), r"P has 2 stages .* but horizon=3"),
        (dict(P=np.full((2, 2, 2, 3), 1 / 3)), r"next-state axis has 3 entries but there are 2"),
        (dict(R=np.zeros((2, 3, 2))), r"R must have shape \(M, S, A\) = \(2, 2, 2\)"),
        (dict(R=np.full((2, 2, 2), np.nan)), r"R\[0, 0, 0\] is nan; rewards must be finite"),
        (dict(init=[[1.0, 0.0], [0.5, 0.6]]), r"init\[1, :\] \(context m=1\) sums to 1.1"),
        (dict(init=5), r"init = 5 is not a state index"),
    ],
)
def test_bad_model_inputs(kwargs, match):
    args = dict(P=_P(), R=np.zeros((2, 2, 2)), weights=[0.5, 0.5], horizon=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LatentMDP(args.pop("P"), args.pop("R"), args.pop("weights"), **args)


def test_bad_transition_rows_name_the_context():
    P = _P()
    P[1, 0, 1] = [0.7, 0.2]
    with pytest.raises(ValueError, match=r"P\[1, 0, 1, :\] \(context m=1, s=0, a=1\) sums to 0.9"):
        LatentMDP(P, np.zeros((2, 2, 2)), [0.5, 0.5], horizon=3)
    P = np.full((2, 3, 2, 2, 2), 0.5)
    P[0, 2, 1, 0] = [1.5, -0.5]
    with pytest.raises(ValueError, match=r"context m=0, h=2, s=1, a=0\) has a negative entry"):
        LatentMDP(P, np.zeros((2, 2, 2)), [0.5, 0.5], horizon=3)


def test_bad_inputs_elsewhere():
    a = random_mdp(2, 2, horizon=3, seed=0)
    b = random_mdp(3, 2, horizon=3, seed=1)
    with pytest.raises(ValueError, match=r"mdps\[1\] has S=3 \(states\) but mdps\[0\] has S=2"):
        LatentMDP.from_mdps([a, b], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"mdps\[1\] has S=3 \(states\)"):
        LatentMDP([a, b], [0.5, 0.5])
    with pytest.raises(ValueError, match="do not pass weights=, horizon= or init="):
        LatentMDP([a, a], [0.5, 0.5], horizon=3)
    with pytest.raises(ValueError, match=r"mdps\[0\] is discounted"):
        LatentMDP.from_mdps([random_mdp(2, 2, gamma=0.9, seed=0)], [1.0])
    lm = LatentMDP.from_mdps([a, random_mdp(2, 2, horizon=3, seed=2)], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"m \(context index\)"):
        lm.context(2)
    with pytest.raises(ValueError, match=r"policy has shape \(5,\); S=2"):
        lm.sample(np.zeros(5, dtype=int), 10)
    with pytest.raises(ValueError, match="n_episodes must be an integer >= 0"):
        lm.sample(np.zeros(2, dtype=int), -1)
    with pytest.raises(ValueError, match="method must be"):
        lm.best_markov_policy(method="lp")
    with pytest.raises(ValueError, match="n_contexts must be an integer >= 1"):
        random_latent_mdp(0, 2, 2, 3)
    with pytest.raises(ValueError, match=r"n_actions must be an integer >= 3"):
        probe_chain_lmdp(3, 4, n_actions=2)
    with pytest.raises(ValueError, match="probe_accuracy must be a probability"):
        probe_chain_lmdp(2, 4, probe_accuracy=1.5)
    with pytest.raises(AttributeError, match="immutable"):
        lm.horizon = 4
    assert not lm.P.flags.writeable and not lm.weights.flags.writeable


def test_from_mdps_mixes_stationary_and_staged_contexts():
    a = random_mdp(3, 2, horizon=4, seed=0, init=np.array([1.0, 0.0, 0.0]))
    b = random_mdp(3, 2, horizon=4, seed=1, stage_dependent=True, init=np.array([0, 0.5, 0.5]))
    lm = LatentMDP.from_mdps([a, b], [0.3, 0.7], name="ab")
    assert lm.P.shape == (2, 4, 3, 2, 3) and lm.R.shape == (2, 4, 3, 2)
    np.testing.assert_array_equal(lm.init, [[1, 0, 0], [0, 0.5, 0.5]])
    pi = np.random.default_rng(0).integers(0, 2, size=(4, 3))
    ref = [evaluate_policy(m, pi).initial_value for m in (a, b)]
    np.testing.assert_allclose(lm.context_values(pi), ref, atol=1e-14)
    assert lm.policy_value(pi) == pytest.approx(0.3 * ref[0] + 0.7 * ref[1])
    assert lm.oracle_value() == pytest.approx(
        0.3 * backward_induction(a).initial_value + 0.7 * backward_induction(b).initial_value
    )


def test_methods_are_the_planning_solvers():
    """Each LatentMDP method is a thin wrapper of its mdplab.planning.latent_* solver."""
    import inspect

    import mdplab.models.latent as model_module
    from mdplab import planning
    from mdplab.planning import latent as solvers

    lm = small_lmdp(5, M=2, S=2, A=2, H=3, random_init=True)
    pi = np.random.default_rng(1).integers(0, 2, size=(3, 2))
    np.testing.assert_array_equal(lm.context_values(pi), planning.latent_context_values(lm, pi))
    assert lm.policy_value(pi) == planning.latent_policy_value(lm, pi)
    assert lm.context_optimal() is planning.latent_context_optimal(lm)  # memoised on the model
    assert lm.oracle_value() == latent_oracle_value(lm)
    np.testing.assert_array_equal(lm.reachable(), latent_reachable(lm))
    a = lm.best_markov_policy(method="enumerate")
    b = latent_best_markov_policy(lm, method="enumerate")
    assert (a.value, a.n_evaluated) == (b.value, b.n_evaluated)
    np.testing.assert_array_equal(a.policy, b.policy)
    for obs in (False, True):
        bp = lm.solve_belief(observe_rewards=obs)
        assert bp is planning.latent_solve_belief(lm, observe_rewards=obs)
        v = latent_optimal_value(lm, observe_rewards=obs)
        assert lm.optimal_value(observe_rewards=obs) == v
        assert lm.var_star(observe_rewards=obs) == latent_var_star(lm, observe_rewards=obs)
        rv, ref = lm.return_variance(bp), planning.latent_return_variance(lm, bp)
        assert (rv.within, rv.between) == (ref.within, ref.between)
        np.testing.assert_array_equal(rv.context_variances, ref.context_variances)
    assert lm.return_variance(pi).total == planning.latent_return_variance(lm, pi).total
    assert isinstance(a, planning.MarkovSolution)
    assert model_module.MarkovSolution is planning.MarkovSolution  # old name still works
    assert model_module.ReturnVariance is planning.ReturnVariance
    assert model_module.DEFAULT_MAX_NODES == solvers.DEFAULT_MAX_NODES
    assert planning.BeliefPolicy is model_module.BeliefPolicy
    sig = inspect.signature(LatentMDP.best_markov_policy)
    assert list(sig.parameters) == ["self", "method", "max_policies"]
    assert "mdplab.planning.latent_best_markov_policy" in LatentMDP.best_markov_policy.__doc__

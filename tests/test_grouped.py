"""Action-grouped MDPs: lifted model, lifting identity, dissimilarity, loss bound, estimator."""

import numpy as np
import pytest
from scipy import stats

from mdplab.envs.grouped import action_similar_mdp
from mdplab.models.grouped import (
    GroupedMDP,
    group_by_coefficients,
    group_by_kmeans,
    is_refinement,
    sample_grouped_model,
    single_group,
    singleton_groups,
)
from mdplab.models.tabular import TabularMDP
from mdplab.planning import (
    backward_induction,
    evaluate_policy,
    grouped_approximation_loss,
    grouped_optimal_group_policy,
    policy_iteration,
)
from tests.conftest import random_dense


def _random_model(rng, S=4, A=6, H=None):
    P = random_dense(rng, S, A, H)
    R = rng.random((S, A) if H is None else (H, S, A))
    if H is None:
        return TabularMDP(P, R, gamma=0.8, init=rng.dirichlet(np.ones(S)))
    return TabularMDP(P, R, horizon=H, init=rng.dirichlet(np.ones(S)))


def _random_groups(rng, A, M):
    g = np.concatenate([np.arange(M), rng.integers(0, M, A - M)])
    return rng.permutation(g)


def _random_nu(rng, groups, S, H=None):
    """A random dense nu (S, M, A) / (H, S, M, A) supported on the groups, with zeros."""
    M = groups.max() + 1
    lead = (S,) if H is None else (H, S)
    nu = rng.random(lead + (M, len(groups))) * (rng.random(lead + (M, len(groups))) > 0.3)
    nu *= groups[None, :] == np.arange(M)[:, None]
    for m in range(M):  # make sure each row has mass
        first = np.flatnonzero(groups == m)[0]
        nu[..., m, first] += 0.1
    return nu / nu.sum(-1, keepdims=True)


# ----------------------------------------------------------------- lifted model
@pytest.mark.parametrize("H", [None, 3])
def test_singletons_give_the_original_model(rng, H):
    mdp = _random_model(rng, H=H)
    G = GroupedMDP(mdp, singleton_groups(mdp.A))
    lifted = G.grouped_mdp()
    np.testing.assert_allclose(lifted.P, mdp.P, rtol=0, atol=1e-15)
    np.testing.assert_allclose(lifted.R, mdp.R, rtol=0, atol=1e-15)
    d, diam = G.dissimilarity(), G.diameter()
    assert d.eps_P < 1e-15 and d.eps_R < 1e-15 and diam.diam_P == 0.0 and diam.diam_R == 0.0
    assert abs(G.approximation_loss()) < 1e-12
    # The lifted form of a deterministic policy is its one-hot encoding.
    pi = rng.integers(0, mdp.A, mdp.S)
    np.testing.assert_array_equal(G.lift_policy(pi), np.eye(mdp.A)[pi])


def test_one_group_is_the_uniform_policy_model(rng):
    mdp = _random_model(rng, S=5, A=7)
    G = GroupedMDP(mdp, single_group(mdp.A))
    lifted = G.grouped_mdp()
    assert lifted.A == 1
    np.testing.assert_allclose(lifted.P[:, 0], mdp.P.mean(axis=1), atol=1e-14)
    np.testing.assert_allclose(lifted.R[:, 0], mdp.R.mean(axis=1), atol=1e-14)
    # V of the only grouped policy = V of the uniform policy on the original MDP.
    uniform = np.full((mdp.S, mdp.A), 1.0 / mdp.A)
    v_uniform = evaluate_policy(mdp, uniform).values
    np.testing.assert_allclose(policy_iteration(lifted).values, v_uniform, atol=1e-10)
    # The loss is V* minus the value of acting uniformly at random.
    expected = policy_iteration(mdp).initial_value - mdp.init @ v_uniform
    assert G.approximation_loss() == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("H", [None, 4])
def test_lifted_model_matches_a_loop(rng, H):
    mdp = _random_model(rng, S=3, A=5, H=H)
    g = np.array([1, 0, 1, 2, 0])
    nu = _random_nu(rng, g, mdp.S, H)
    G = GroupedMDP(mdp, g, nu)
    lifted = G.grouped_mdp()
    P, R = mdp.stage_P(), mdp.stage_R()
    n = 1 if H is None else H
    Pg = np.zeros((n, mdp.S, 3, mdp.S))
    Rg = np.zeros((n, mdp.S, 3))
    for h in range(n):
        for s in range(mdp.S):
            for m in range(3):
                for a in range(mdp.A):
                    w = (nu if H is None else nu[h])[s, m, a]
                    Pg[h, s, m] += w * P[h if P.shape[0] > 1 else 0, s, a]
                    Rg[h, s, m] += w * R[h if R.shape[0] > 1 else 0, s, a]
    np.testing.assert_allclose(lifted.stage_P(), Pg, atol=1e-14)
    np.testing.assert_allclose(lifted.stage_R(), Rg, atol=1e-14)
    np.testing.assert_allclose(G.nu, nu, atol=1e-15)
    # Sparse storage of the same model gives the same lifted model.
    G_sparse = GroupedMDP(mdp.to_sparse(), g, nu)
    np.testing.assert_allclose(G_sparse.grouped_mdp().stage_P(), Pg, atol=1e-14)


@pytest.mark.parametrize("H", [None, 4])
@pytest.mark.parametrize("nu_kind", ["uniform", "representative", "given"])
def test_value_of_lifted_policy_equals_value_in_grouped_mdp(rng, H, nu_kind):
    mdp = _random_model(rng, S=5, A=9, H=H)
    g = _random_groups(rng, mdp.A, 4)
    nu = _random_nu(rng, g, mdp.S, H) if nu_kind == "given" else nu_kind
    G = GroupedMDP(mdp, g, nu)
    lifted = G.grouped_mdp()
    shapes = [(mdp.S,)] if H is None else [(mdp.S,), (H, mdp.S)]
    policies = [rng.integers(0, G.n_groups, shape) for shape in shapes]
    policies += [rng.dirichlet(np.ones(G.n_groups), size=shape) for shape in shapes]
    for pi in policies:
        v_lift = evaluate_policy(mdp, G.lift_policy(pi)).values
        v_group = evaluate_policy(lifted, pi).values
        np.testing.assert_allclose(v_lift, v_group, rtol=0, atol=1e-10)


# ----------------------------------------------------------------- dissimilarity
@pytest.mark.parametrize("H", [None, 2])
def test_dissimilarity_and_diameter_match_brute_force(rng, H):
    mdp = _random_model(rng, S=3, A=7, H=H)
    g = _random_groups(rng, mdp.A, 3)
    G = GroupedMDP(mdp, g, _random_nu(rng, g, mdp.S, H))
    P, R = mdp.stage_P(), mdp.stage_R()
    Pg, Rg = G.grouped_mdp().stage_P(), G.grouped_mdp().stage_R()
    epsP, epsR, diamP, diamR = (np.zeros(3) for _ in range(4))
    for h in range(1 if H is None else H):
        ph, pgh = P[min(h, len(P) - 1)], Pg[min(h, len(Pg) - 1)]
        rh, rgh = R[min(h, len(R) - 1)], Rg[min(h, len(Rg) - 1)]
        for s in range(mdp.S):
            for a in range(mdp.A):
                m = g[a]
                epsP[m] = max(epsP[m], sum(abs(ph[s, a, t] - pgh[s, m, t]) for t in range(mdp.S)))
                epsR[m] = max(epsR[m], abs(rh[s, a] - rgh[s, m]))
                for b in range(mdp.A):
                    if g[b] == m:
                        diamP[m] = max(diamP[m], np.abs(ph[s, a] - ph[s, b]).sum())
                        diamR[m] = max(diamR[m], abs(rh[s, a] - rh[s, b]))
    d, diam = G.dissimilarity(), G.diameter()
    np.testing.assert_allclose(d.eps_P_group, epsP, atol=1e-14)
    np.testing.assert_allclose(d.eps_R_group, epsR, atol=1e-14)
    np.testing.assert_allclose(diam.diam_P_group, diamP, atol=1e-14)
    np.testing.assert_allclose(diam.diam_R_group, diamR, atol=1e-14)
    assert d.eps_P == pytest.approx(epsP.max()) and d.eps_R == pytest.approx(epsR.max())
    # eps <= diam <= 2 eps for any nu supported on the groups.
    assert np.all(d.eps_P_group <= diam.diam_P_group + 1e-14)
    assert np.all(diam.diam_P_group <= 2 * d.eps_P_group + 1e-14)
    assert np.all(diam.diam_R_group <= 2 * d.eps_R_group + 1e-14)


def test_generator_dissimilarity_has_the_closed_form():
    # With nu uniform, P - P_g = d (w_a - wbar_group) . D: check eps_P, eps_R in closed form.
    for K in (1, 2):
        inst = action_similar_mdp(6, 30, n_components=K, dissimilarity=0.7, seed=K)
        g = inst.grouping(3)
        d = GroupedMDP(inst.mdp, g).dissimilarity()
        w = inst.coefficients
        wbar = np.stack([w[g == m].mean(axis=0) for m in range(g.max() + 1)])[g]  # (A, K)
        dev = np.einsum("ak,ksx->sax", w - wbar, inst.directions_P) * 0.7
        dev_R = 0.7 * np.einsum("ak,ks->sa", w - wbar, inst.directions_R)
        assert d.eps_P == pytest.approx(np.abs(dev).sum(-1).max(), rel=1e-10)
        assert d.eps_R == pytest.approx(np.abs(dev_R).max(), rel=1e-10)
        # The stored decomposition reproduces the model.
        P = inst.base_P[:, None, :] + 0.7 * np.einsum("ak,ksx->sax", w, inst.directions_P)
        np.testing.assert_allclose(inst.mdp.P, P, atol=1e-14)
        np.testing.assert_allclose(inst.directions_P.sum(-1), 0.0, atol=1e-15)


def test_loss_and_eps_vanish_with_the_generators_dissimilarity():
    eps, losses, diam = [], [], []
    for d in (1.0, 0.3, 0.1, 0.03, 0.0):
        inst = action_similar_mdp(8, 40, dissimilarity=d, seed=7)
        G = inst.grouped(3)
        eps.append(G.dissimilarity().eps_P)
        diam.append(G.diameter())
        losses.append(G.approximation_loss())
    # Same seed: same w, Dirichlet rows and e, so eps_P is exactly linear in d.
    np.testing.assert_allclose(np.array(eps[:4]) / [1.0, 0.3, 0.1, 0.03], eps[0], rtol=1e-9)
    # d = 0: actions bitwise identical (diameter exactly 0); eps_P only sees the
    # rounding of the group mean.
    assert diam[-1].diam_P == 0.0 and diam[-1].diam_R == 0.0 and eps[-1] < 1e-14
    assert abs(losses[-1]) < 1e-12
    assert losses[0] > 1e-3 and 0 <= losses[3] < losses[0]


@pytest.mark.parametrize("objective", [dict(gamma=0.9), dict(horizon=6)])
def test_loss_bound_upper_bounds_the_exact_loss(objective):
    ratios = []
    for seed in range(5):
        inst = action_similar_mdp(6, 24, n_components=1 + seed % 2, seed=seed, **objective)
        v_star = (policy_iteration if "gamma" in objective else backward_induction)(inst.mdp)
        rng = np.random.default_rng(seed)
        groupings = [inst.grouping(b) for b in (1, 2, 4)]
        groupings += [group_by_kmeans(inst.mdp, 3, seed=seed)]
        for g in groupings:
            for nu in ("uniform", "representative"):
                G = GroupedMDP(inst.mdp, g, nu)
                loss = G.approximation_loss(v_star.initial_value)
                assert loss >= -1e-12
                # leading = 1 is our derivation's constant; the note's default 2 is looser.
                assert loss <= G.loss_bound(leading=1.0) + 1e-12
                assert G.loss_bound() == pytest.approx(2 * G.loss_bound(leading=1.0))
                ratios.append(loss / max(G.loss_bound(leading=1.0), 1e-300))
        # A random nu on a random grouping too.
        g = _random_groups(rng, inst.mdp.A, 5)
        G = GroupedMDP(inst.mdp, g, _random_nu(rng, g, inst.mdp.S))
        loss = G.approximation_loss()
        assert loss == pytest.approx(G.approximation_loss(v_star.initial_value), abs=1e-12)
        assert loss <= G.loss_bound(leading=1.0) + 1e-12
    assert max(ratios) > 1e-3  # the check is not vacuous


def test_loss_is_exact_against_enumeration(rng):
    # Brute force: V* of M_g by enumerating all deterministic group policies.
    mdp = _random_model(rng, S=3, A=5)
    g = np.array([0, 1, 0, 2, 1])
    G = GroupedMDP(mdp, g)
    lifted = G.grouped_mdp()
    best = max(
        lifted.init @ evaluate_policy(lifted, np.array(pi)).values for pi in np.ndindex(3, 3, 3)
    )
    v_star = policy_iteration(mdp).initial_value
    assert grouped_approximation_loss(G) == pytest.approx(v_star - best, abs=1e-10)
    pi_g = grouped_optimal_group_policy(G)
    assert lifted.init @ evaluate_policy(lifted, pi_g).values == pytest.approx(best, abs=1e-12)


# ----------------------------------------------------------------- refinement
def test_refinement_shrinks_the_diameter_but_eps_only_within_factor_two():
    inst = action_similar_mdp(6, 60, n_components=2, seed=3)
    previous = None
    for b in (1, 2, 4, 8):
        g = inst.grouping(b)
        G = GroupedMDP(inst.mdp, g)
        cur = (g, G.diameter(), G.dissimilarity())
        if previous is not None:
            g0, diam0, d0 = previous
            assert is_refinement(g, g0) and not is_refinement(g0, g)
            assert cur[1].diam_P <= diam0.diam_P + 1e-15
            assert cur[1].diam_R <= diam0.diam_R + 1e-15
            assert cur[2].eps_P <= 2 * d0.eps_P + 1e-15
        previous = cur
    # Refinement can *increase* eps_P: a group {x_0 = 0 (k+1 times), x_1 = 1 (k times)}
    # has its mean near 1/2 (eps ~ 1/2), but its part {0, 1 x k} has mean near 1.
    k = 8
    p0, p1 = np.array([1.0, 0.0]), np.array([0.5, 0.5])  # ||p0 - p1||_1 = 1
    rows = [p0] * (k + 1) + [p1] * k
    P = np.stack([np.stack(rows)] * 2)
    mdp = TabularMDP(P, np.zeros((2, len(rows))), gamma=0.5)
    coarse = np.zeros(len(rows), dtype=int)
    fine = np.array([0] + [1] * k + [0] * k)  # {a_0, the k p1-actions}, {the other p0s}
    assert is_refinement(fine, coarse)
    eps_coarse = GroupedMDP(mdp, coarse).dissimilarity().eps_P
    eps_fine = GroupedMDP(mdp, fine).dissimilarity().eps_P
    assert eps_coarse == pytest.approx((k + 1) / (2 * k + 1))
    assert eps_fine == pytest.approx(k / (k + 1)) and eps_fine > eps_coarse


# ----------------------------------------------------------------- groupings
def test_group_by_coefficients_matches_a_brute_force_binning(rng):
    w = rng.uniform(-1, 1, 50)
    g = group_by_coefficients(w, 7, bounds=(-1, 1))
    edges = np.linspace(-1, 1, 8)
    cell = np.array([max(i for i in range(7) if x >= edges[i]) for x in w])
    _, expect = np.unique(cell, return_inverse=True)
    np.testing.assert_array_equal(g, expect)
    # Labels follow w; 2-D coefficients use the product grid, empty cells dropped.
    assert np.all(np.diff(g[np.argsort(w)]) >= 0)
    w2 = np.array([[-0.9, -0.9], [0.9, -0.9], [0.9, 0.9], [0.8, 0.7], [1.0, 1.0]])
    np.testing.assert_array_equal(group_by_coefficients(w2, 2, bounds=(-1, 1)), [0, 1, 2, 2, 2])
    np.testing.assert_array_equal(group_by_coefficients(np.zeros(4), 3), [0, 0, 0, 0])


def test_group_by_kmeans_recovers_planted_clusters():
    # Three planted action types, each copied with a tiny perturbation.
    base = action_similar_mdp(5, 3, seed=11).mdp
    rng = np.random.default_rng(0)
    types = rng.permutation(np.repeat(np.arange(3), 6))
    P = base.P[:, types] * (1 + 1e-4 * rng.random((5, 18, 5)))
    P /= P.sum(-1, keepdims=True)
    mdp = TabularMDP(P, base.R[:, types], gamma=0.9)
    g = group_by_kmeans(mdp, 3, seed=1)
    assert is_refinement(g, types) and is_refinement(types, g)
    # Identical actions are grouped exactly (fewer distinct actions than groups asked).
    same = action_similar_mdp(4, 10, dissimilarity=0.0, seed=2).mdp
    np.testing.assert_array_equal(group_by_kmeans(same, 3, seed=0), np.zeros(10))


# ----------------------------------------------------------------- estimator
def test_sampled_grouped_model_converges_at_rate_root_n():
    inst = action_similar_mdp(6, 20, seed=5)
    G = inst.grouped(4)
    exact = G.grouped_mdp().P
    ns = np.array([64, 256, 1024, 4096])
    errs = []
    for n in ns:
        err = [
            np.abs(sample_grouped_model(G, int(n), seed=rep).P - exact).sum(-1).mean()
            for rep in range(4)
        ]
        errs.append(np.mean(err))
    slope = np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert -0.6 < slope < -0.4
    # The large-n constant: E|p_hat - p| ~ sqrt(2 p (1 - p) / (pi n)) per entry.
    predicted = np.sqrt(2 * exact * (1 - exact) / (np.pi * ns[-1])).sum(-1).mean()
    assert errs[-1] == pytest.approx(predicted, rel=0.15)


def test_sampled_row_passes_chi_square_and_a_wrong_row_fails():
    inst = action_similar_mdp(5, 12, seed=9)
    G = GroupedMDP(inst.mdp, inst.grouping(3), "uniform")
    n = 20000
    emp = sample_grouped_model(G, n, seed=4)
    counts = np.rint(emp.P[2, 1] * n)
    p = G.grouped_mdp().P[2, 1]
    assert stats.chisquare(counts, p * n).pvalue > 1e-3
    # Control: the kernel of a single action of the group (not the nu-mixture) is rejected.
    a = G.members(1)[0]
    assert stats.chisquare(counts, inst.mdp.P[2, a] * n).pvalue < 1e-6
    # Rewards: the mean of R(s, a_i) over a_i ~ nu; its std over n draws is tiny.
    assert np.allclose(emp.R, G.grouped_mdp().R, atol=0.01)


def test_sampling_is_seeded_and_respects_stages(rng):
    mdp = _random_model(rng, S=3, A=4, H=2)
    G = GroupedMDP(mdp, np.array([0, 0, 1, 1]))
    a = sample_grouped_model(G, 50, seed=3)
    b = sample_grouped_model(G, 50, seed=3)
    c = sample_grouped_model(G, 50, seed=4)
    np.testing.assert_array_equal(a.P, b.P)
    assert not np.array_equal(a.P, c.P)
    assert a.P.shape == (2, 3, 2, 3) and a.horizon == 2
    # A state whose group actions all go to one state is sampled exactly.
    P = np.array(mdp.P)
    P[:, 1, :2] = np.eye(3)[2]
    G2 = GroupedMDP(TabularMDP(P, mdp.R, horizon=2), np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(sample_grouped_model(G2, 7, seed=0).P[:, 1, 0], [[0, 0, 1]] * 2)
    # Bernoulli rewards: counts of ones over n draws.
    bern = sample_grouped_model(G, 40, seed=0, reward_noise="bernoulli")
    np.testing.assert_allclose(bern.R * 40, np.rint(bern.R * 40), atol=1e-9)


# ----------------------------------------------------------------- bad input
def test_bad_groupings_are_rejected(rng):
    mdp = _random_model(rng, S=3, A=4)
    with pytest.raises(ValueError, match=r"shape \(4,\); got shape \(3,\)"):
        GroupedMDP(mdp, [0, 1, 0])
    with pytest.raises(ValueError, match="group 1 is empty"):
        GroupedMDP(mdp, [0, 2, 0, 2])
    with pytest.raises(ValueError, match=r"groups\[2\] = -1 is negative"):
        GroupedMDP(mdp, [0, 1, -1, 0])
    with pytest.raises(ValueError, match="integer array"):
        GroupedMDP(mdp, [0.0, 1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        group_by_coefficients(np.zeros(3), 0)
    with pytest.raises(ValueError, match="n_groups = 5 exceeds"):
        group_by_kmeans(mdp, 5)


def test_bad_lower_level_policies_are_rejected(rng):
    mdp = _random_model(rng, S=3, A=4)
    g = np.array([0, 0, 1, 1])
    nu = np.zeros((3, 2, 4))
    nu[:, 0, :2] = 0.5
    nu[:, 1, 2:] = 0.5
    GroupedMDP(mdp, g, nu)  # valid
    bad = nu.copy()
    bad[1, 0, 2] = 0.2
    bad[1, 0, 0] = 0.3
    with pytest.raises(ValueError, match=r"nu\[1, 0, 2\].*state 1, group 0.*outside group 0"):
        GroupedMDP(mdp, g, bad)
    bad = nu.copy()
    bad[2, 1, 3] = 0.4
    with pytest.raises(ValueError, match=r"nu\[2, 1, :\] \(state 2, group 1\) sums to 0.9"):
        GroupedMDP(mdp, g, bad)
    bad = nu.copy()
    bad[0, 1, 2] = -0.5
    with pytest.raises(ValueError, match=r"nu\[0, 1, 2\] = -0.5 .*not a probability"):
        GroupedMDP(mdp, g, bad)
    with pytest.raises(ValueError, match=r"nu must have shape \(S, M, A\) = \(3, 2, 4\)"):
        GroupedMDP(mdp, g, nu[:, :1])
    with pytest.raises(ValueError, match=r"representative nu\[1\] = 0 is in group 0"):
        GroupedMDP(mdp, g, np.array([1, 0]))
    with pytest.raises(ValueError, match="nu must be 'uniform'"):
        GroupedMDP(mdp, g, "greedy")


def test_bad_group_policies_and_estimator_inputs_are_rejected(rng):
    mdp = _random_model(rng, S=3, A=4)
    G = GroupedMDP(mdp, np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"group_policy\[1\] = 2 is not a group in \[0, 2\)"):
        G.lift_policy(np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"group_policy\[2, :\] sums to 0.5"):
        G.lift_policy(np.array([[1.0, 0.0], [0.5, 0.5], [0.25, 0.25]]))
    with pytest.raises(ValueError, match=r"shape \(3, 2\); got \(3, 4\)"):
        G.lift_policy(np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="n_samples_per_pair must be an integer >= 1"):
        sample_grouped_model(G, 0)
    neg = GroupedMDP(mdp.replace(R=-np.ones((3, 4))), np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"reward in \[0, 1\]"):
        sample_grouped_model(neg, 5, reward_noise="bernoulli")
    with pytest.raises(ValueError, match="dissimilarity must be a probability"):
        action_similar_mdp(3, 4, dissimilarity=1.5)
    with pytest.raises(ValueError, match="leading must be a positive"):
        G.loss_bound(leading=0.0)
    with pytest.raises(AttributeError, match="immutable"):
        G.groups = np.zeros(4)


def test_methods_are_the_planning_solvers(rng):
    """GroupedMDP.approximation_loss / optimal_group_policy wrap mdplab.planning.grouped_*."""
    for H in (None, 4):
        G = GroupedMDP(_random_model(rng, H=H), _random_groups(rng, 6, 3))
        np.testing.assert_array_equal(G.optimal_group_policy(), grouped_optimal_group_policy(G))
        assert G.approximation_loss() == grouped_approximation_loss(G)
        assert G.approximation_loss(1.5) == grouped_approximation_loss(G, 1.5)
    assert "mdplab.planning.grouped_approximation_loss" in GroupedMDP.approximation_loss.__doc__
    with pytest.raises(TypeError, match="expected a GroupedMDP"):
        grouped_approximation_loss(G.mdp)

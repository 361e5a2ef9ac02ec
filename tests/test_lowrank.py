"""Low-rank, linear, block and linear-mixture MDPs: each test checks the structured
object against an independent computation (the tabular planners, brute-force sums,
numpy's matrix rank, cvxpy, a chi-square test, a closed form)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy import stats

from mdplab.envs.combination_lock import combination_lock, combination_lock_actions
from mdplab.envs.lowrank import (
    block_mdp,
    feature_class,
    random_linear_mixture,
    random_lowrank,
    rich_combination_lock,
)
from mdplab.models import TabularMDP
from mdplab.models.lowrank import (
    BlockMDP,
    FeatureClass,
    LinearMDP,
    LinearMixtureMDP,
    LowRankMDP,
    mle_mu,
)
from mdplab.planning import (
    backward_induction,
    lowrank_backward_induction,
    lowrank_value_iteration,
    policy_iteration,
    value_iteration,
)


def assert_same_solution(structured, tabular, atol=1e-10):
    np.testing.assert_allclose(structured.values, tabular.values, rtol=0, atol=atol)
    np.testing.assert_allclose(structured.q, tabular.q, rtol=0, atol=atol)
    assert structured.values.shape == tabular.values.shape
    assert structured.initial_value == pytest.approx(tabular.initial_value, abs=atol)


# ------------------------------------------------------------------ planning
@pytest.mark.parametrize("stage_dependent", [False, True])
def test_structured_backward_induction_matches_tabular(stage_dependent):
    m = random_lowrank(9, 3, 4, horizon=6, stage_dependent=stage_dependent, seed=11)
    tab = m.to_tabular()
    assert tab.stationary != stage_dependent
    # Independent product: P[s, a, s'] = sum_j phi[s, a, j] mu[j, s'] by broadcasting.
    phi, mu = (m.phi, m.mu) if stage_dependent else (m.phi[None], m.mu[None])
    P = (phi[..., :, None] * mu[:, None, None, :, :]).sum(axis=-2)
    np.testing.assert_allclose(tab.stage_P(), P, atol=1e-15)
    assert_same_solution(lowrank_backward_induction(m), backward_induction(tab))


def test_mixed_stage_factors_and_stage_rewards():
    """Stationary phi with stage-dependent mu and rewards (and the reverse)."""
    rng = np.random.default_rng(0)
    S, A, d, H = 5, 2, 3, 4
    phi = rng.dirichlet(np.ones(d), size=(S, A))
    mu = rng.dirichlet(np.ones(S), size=(H, d))
    R = rng.random((H, S, A))
    m = LowRankMDP(phi, mu, R, horizon=H, init=rng.dirichlet(np.ones(S)))
    assert_same_solution(m.backward_induction(), backward_induction(m.to_tabular()))
    m2 = LowRankMDP(rng.dirichlet(np.ones(d), size=(H, S, A)), mu[0], R[0], horizon=H)
    assert_same_solution(m2.backward_induction(), backward_induction(m2.to_tabular()))


def test_discounted_structured_value_iteration():
    m = random_lowrank(12, 3, 3, gamma=0.9, seed=5)
    tab = m.to_tabular()
    pi = policy_iteration(tab)
    vi = value_iteration(tab, eps=1e-10)
    ours = lowrank_value_iteration(m, eps=1e-10)
    np.testing.assert_allclose(vi.values, pi.values, atol=1e-9)
    np.testing.assert_allclose(ours.values, pi.values, atol=1e-9)
    assert ours.error_bound <= 1e-10 and ours.converged
    np.testing.assert_array_equal(ours.policy, pi.policy)
    sup = m.value_iteration(eps=1e-8, stopping_rule="supnorm")
    assert np.abs(sup.values - pi.values).max() <= sup.error_bound + 1e-12


def test_signed_factorisation_from_svd():
    """An SVD of a kernel with exact zeros: signed factors, rounding negatives clipped."""
    blk = block_mdp(3, 2, 3, horizon=4, seed=2)
    P = blk.to_tabular().dense_P()
    S, A = blk.S, blk.A
    U, sv, Vt = np.linalg.svd(P.reshape(S * A, S))
    phi = (U[:, :3] * sv[:3]).reshape(S, A, 3)
    m = LowRankMDP(phi, Vt[:3], blk.R, horizon=4, init=blk.init)
    assert not m.is_nonnegative and (phi < 0).any()
    np.testing.assert_allclose(m.to_tabular().dense_P(), P, atol=1e-12)
    assert_same_solution(m.backward_induction(), backward_induction(blk.to_tabular()))
    with pytest.raises(ValueError, match="needs non-negative factors.*to_tabular"):
        m.sample(0, 0, 10, seed=0)


# ---------------------------------------------------------------------- rank
def test_rank_equals_numpy_matrix_rank():
    for d in (1, 2, 4):
        m = random_lowrank(10, 3, d, horizon=3, stage_dependent=True, seed=d)
        P = m.to_tabular().dense_P()
        for h in range(3):
            assert np.linalg.matrix_rank(P[h].reshape(30, 10)) == m.rank(h) == d
        assert m.rank() == d
    # A degenerate factorisation: two equal rows of mu, so rank 2 < d = 3.
    rng = np.random.default_rng(1)
    mu = rng.dirichlet(np.ones(6), size=3)
    mu[2] = mu[1]
    m = LowRankMDP(rng.dirichlet(np.ones(3), size=(6, 2)), mu, np.zeros((6, 2)), gamma=0.5)
    assert m.rank() == np.linalg.matrix_rank(m.to_tabular().dense_P().reshape(12, 6)) == 2


# ----------------------------------------------------------------- block MDP
def test_block_mdp_decoder_and_rank():
    b = block_mdp(4, 3, 5, horizon=3, seed=8)
    assert isinstance(b, BlockMDP) and b.S == 20 and b.d == 4
    P = b.to_tabular().dense_P()
    # Observations of one latent have identical transition rows (phi depends on f(x)
    # only); generic latents differ. Group observations by their rows.
    rows = np.round(P.reshape(b.S, -1), 12)
    _, groups = np.unique(rows, axis=0, return_inverse=True)
    same_group = groups[:, None] == groups[None, :]
    same_latent = b.decoder[:, None] == b.decoder[None, :]
    np.testing.assert_array_equal(same_group, same_latent)
    # Each observation is reached only through its own latent's emission.
    for x in range(b.S):
        col = P[..., x].ravel()
        latent_prob = b.latent_T[b.decoder][..., b.decoder[x]].ravel()
        np.testing.assert_allclose(col, latent_prob * b.emission[b.decoder[x], x], atol=1e-15)
    assert np.bincount(b.decoder).tolist() == [5] * 4
    assert np.linalg.matrix_rank(P.reshape(b.S * b.A, b.S)) <= 4
    assert b.rank() == np.linalg.matrix_rank(P.reshape(b.S * b.A, b.S))
    assert_same_solution(b.backward_induction(), backward_induction(b.to_tabular()))


@pytest.mark.parametrize(
    "H, kwargs",
    [
        (4, {}),
        (3, dict(step_penalty=0.0, swap_prob=0.2)),
        (1, {}),
        (5, dict(optimal_reward=1.0, step_penalty=0.9, emission_concentration=0.5)),
    ],
)
def test_rich_combination_lock_value(H, kwargs):
    A, m = 4, 3
    lock = rich_combination_lock(H, A, m, seed=9, **kwargs)
    assert lock.S == 3 * (H + 1) * m and lock.d == 3 and lock.horizon == H
    assert all(lock.rank(h) <= 3 for h in range(H))
    opt = kwargs.get("optimal_reward", 5.0)
    pen = kwargs.get("step_penalty", 1.0)
    closed = opt if H == 1 else max(opt - pen, 0.5)
    res = lock.backward_induction()
    assert res.initial_value == pytest.approx(closed, abs=1e-12)
    latent_kwargs = {k: v for k, v in kwargs.items() if k != "emission_concentration"}
    latent = backward_induction(combination_lock(H, A, seed=9, **latent_kwargs))
    assert res.initial_value == pytest.approx(latent.initial_value, abs=1e-12)
    assert_same_solution(res, backward_induction(lock.to_tabular()))
    # The optimal action on a good observation of level h is the secret action.
    if closed > 0.5:
        opt_a, opt_b = combination_lock_actions(H, A, seed=9)
        for h in range(H):
            assert res.policy[h, (3 * h + 0) * m] == opt_a[h]
            assert res.policy[h, (3 * h + 1) * m + m - 1] == opt_b[h]


# ----------------------------------------------------------------- MLE oracle
def _uniform_data(model, n, seed, h=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, model.S, n)
    a = rng.integers(0, model.A, n)
    return s, a, model.sample_next_states(s, a, seed=seed + 1, h=h)


def _cvxpy_loglik(X, t, S):
    d = X.shape[1]
    M = cp.Variable((d, S), nonneg=True)
    p = cp.sum(cp.multiply(X.T, M[:, t]), axis=0)
    cp.Problem(cp.Maximize(cp.sum(cp.log(p))), [cp.sum(M, axis=1) == 1]).solve(solver="CLARABEL")
    Mv = np.maximum(M.value, 0.0)
    Mv /= Mv.sum(axis=1, keepdims=True)
    return float(np.log((X * Mv[:, t].T).sum(axis=1)).sum())


def test_em_matches_cvxpy():
    m = random_lowrank(6, 2, 3, horizon=2, seed=4)
    fc = feature_class(m, 3, seed=4)
    s, a, t = _uniform_data(m, 500, seed=3)
    for k in range(len(fc)):
        fit = fc.fit(k, s, a, t)
        ll_cvx = _cvxpy_loglik(fc[k][s, a], t, m.S)
        assert fit.converged and fit.gap <= 1e-6
        plain = fc.fit(k, s, a, t, accelerate=False)  # unaccelerated EM, same certificate
        assert plain.gap <= 1e-6 and plain.log_likelihood == pytest.approx(
            fit.log_likelihood, abs=2e-6
        )
        # EM is certified within its gap of the optimum, which cvxpy cannot beat.
        assert ll_cvx <= fit.log_likelihood + fit.gap + 1e-9
        assert fit.log_likelihood == pytest.approx(ll_cvx, abs=1e-5)
        np.testing.assert_allclose(fit.mu.sum(axis=1), 1.0, atol=1e-12)
        brute = np.log(np.einsum("nd,dn->n", fc[k][s, a], fit.mu[:, t])).sum()
        assert fit.log_likelihood == pytest.approx(brute, rel=1e-12)
    # A loose tolerance stops early but its certificate still covers the optimum.
    loose = mle_mu(fc[0][s, a], t, m.S, tol=1.0)
    assert loose.gap <= 1.0 and loose.iterations < fc.fit(0, s, a, t).iterations
    assert _cvxpy_loglik(fc[0][s, a], t, m.S) <= loose.log_likelihood + loose.gap + 1e-9


def test_mle_ranks_true_features_first():
    m = random_lowrank(10, 3, 3, horizon=3, seed=21)
    fc = feature_class(m, 11, seed=1)
    assert fc.names[fc.true_index] == "true"
    s, a, t = _uniform_data(m, 4000, seed=5)
    res = fc.mle(s, a, t)
    assert res.best == fc.true_index == res.ranking[0]
    assert np.all(np.diff(res.log_likelihoods[res.ranking]) <= 0)
    # The true model's own mu has lower likelihood than the MLE's (it is a feasible point).
    true_ll = np.log(np.einsum("nd,dn->n", m.phi[s, a], m.mu[:, t])).sum()
    assert true_ll <= res.log_likelihoods[fc.true_index] + 1e-9

    blk = rich_combination_lock(3, 3, 2, swap_prob=0.3, seed=2)
    fcb = feature_class(blk, 4, kinds=("swap", "mixture"), seed=3)
    s, a, t = _uniform_data(blk, 3000, seed=7, h=1)
    assert fcb.mle(s, a, t, h=1).best == fcb.true_index


# ---------------------------------------------------------------- sampler
def test_direct_sampler_chi_square():
    m = random_lowrank(8, 3, 3, horizon=4, stage_dependent=True, seed=6)
    P = m.to_tabular().dense_P()
    n = 4000
    s = np.repeat(np.arange(m.S), m.A * n)
    a = np.tile(np.repeat(np.arange(m.A), n), m.S)
    nxt = m.sample_next_states(s, a, seed=13, h=2).reshape(m.S, m.A, n)
    counts = (nxt[..., None] == np.arange(m.S)).sum(axis=2)
    chi2 = ((counts - n * P[2]) ** 2 / (n * P[2])).sum()
    dof = m.S * m.A * (m.S - 1)
    assert stats.chi2.sf(chi2, dof) > 1e-3
    # Control: the same counts against the wrong stage are rejected.
    chi2_wrong = ((counts - n * P[0]) ** 2 / (n * P[0])).sum()
    assert stats.chi2.sf(chi2_wrong, dof) < 1e-6
    # One pair, many draws; a perturbed distribution is rejected.
    draws = m.sample(5, 1, 50_000, seed=2, h=3)
    obs = np.bincount(draws, minlength=m.S)
    assert stats.chisquare(obs, 50_000 * P[3, 5, 1]).pvalue > 1e-3
    wrong = 0.9 * P[3, 5, 1] + 0.1 / m.S
    assert stats.chisquare(obs, 50_000 * wrong).pvalue < 1e-6
    # Seeds: identical output for equal int seeds, different for different seeds.
    np.testing.assert_array_equal(draws, m.sample(5, 1, 50_000, seed=2, h=3))
    assert not np.array_equal(draws, m.sample(5, 1, 50_000, seed=3, h=3))
    np.testing.assert_array_equal(draws[:1000], m.sample(5, 1, 1000, seed=2, h=3))
    assert np.bincount(m.sample_init(20_000, seed=0), minlength=m.S)[0] == 20_000


# ------------------------------------------------------------ linear MDP
def test_linear_mdp_one_hot_is_the_tabular_mdp():
    rng = np.random.default_rng(3)
    S, A, H = 4, 3, 5
    P = rng.dirichlet(np.ones(S), size=(S, A))
    R = rng.random((S, A))
    phi = np.eye(S * A).reshape(S, A, S * A)
    lin = LinearMDP(phi, P.reshape(S * A, S), R.ravel(), horizon=H)
    np.testing.assert_allclose(lin.R, R, atol=1e-15)
    assert_same_solution(lin.backward_induction(), backward_induction(TabularMDP(P, R, horizon=H)))
    norms = lin.norm_conventions()
    assert norms["phi_norm"] == pytest.approx(1.0)
    assert norms["mu_norm"] == pytest.approx(np.sqrt(S * A))  # every mu_j has mass 1
    assert norms["theta_norm"] == pytest.approx(np.linalg.norm(R))
    assert norms["satisfied"]


def test_linear_mdp_rewards_and_norms_brute_force():
    rng = np.random.default_rng(4)
    S, A, d, H = 5, 2, 3, 3
    phi = rng.dirichlet(np.ones(d), size=(H, S, A))
    mu = rng.dirichlet(np.ones(S), size=(H, d))
    theta = rng.normal(size=(H, d)) * 3
    lin = LinearMDP(phi, mu, theta, horizon=H)
    for h in range(H):
        for s in range(S):
            for a in range(A):
                assert lin.R[h, s, a] == pytest.approx(
                    sum(phi[h, s, a, j] * theta[h, j] for j in range(d))
                )
    assert lin.feature_norm_bound() == pytest.approx(
        max(np.linalg.norm(phi[h, s, a]) for h in range(H) for s in range(S) for a in range(A))
    )
    assert lin.measure_norm_bound() == pytest.approx(np.sqrt(d))
    assert lin.theta_norm_bound() == pytest.approx(max(np.linalg.norm(t) for t in theta))
    assert lin.norm_conventions()["satisfied"] == (lin.theta_norm_bound() <= np.sqrt(d))
    assert_same_solution(lin.backward_induction(), backward_induction(lin.to_tabular()))


# ---------------------------------------------------------- linear mixture
def test_linear_mixture_planners():
    m = random_linear_mixture(7, 3, 4, horizon=6, seed=12)
    assert isinstance(m, LinearMixtureMDP)
    kernels = np.moveaxis(m.features, -1, 0)
    np.testing.assert_allclose(
        m.to_tabular().dense_P(), sum(m.theta[i] * kernels[i] for i in range(m.d)), atol=1e-15
    )
    assert np.all(m.theta >= 0) and m.theta.sum() == pytest.approx(1.0)
    V = np.arange(m.S, dtype=float)
    brute = np.array(
        [
            [
                [sum(m.features[s, a, t, i] * V[t] for t in range(m.S)) for i in range(m.d)]
                for a in range(m.A)
            ]
            for s in range(m.S)
        ]
    )
    np.testing.assert_allclose(m.value_targeted_features(V), brute, atol=1e-12)
    assert_same_solution(m.backward_induction(), backward_induction(m.to_tabular()))

    g = random_linear_mixture(6, 2, 3, gamma=0.8, seed=1)
    pi = policy_iteration(g.to_tabular())
    np.testing.assert_allclose(value_iteration(g.to_tabular()).values, pi.values, atol=1e-8)
    ours = g.value_iteration(eps=1e-10)
    np.testing.assert_allclose(ours.values, pi.values, atol=1e-9)
    np.testing.assert_array_equal(ours.policy, pi.policy)


def test_linear_mixture_with_signed_weights():
    """Negative weights are allowed as long as the mixture stays a kernel."""
    rng = np.random.default_rng(2)
    uniform = np.full((4, 2, 4), 0.25)
    base = 0.5 * rng.dirichlet(np.ones(4), size=(4, 2)) + 0.5 * uniform  # entries >= 1/8
    F = np.stack([base, uniform], axis=-1)
    m = LinearMixtureMDP(F, [1.2, -0.2], np.zeros((4, 2)), horizon=2)
    np.testing.assert_allclose(m.P, 1.2 * base - 0.05, atol=1e-15)
    with pytest.raises(ValueError, match=r"features\[\d, \d, \d, :\] @ theta = -.* is negative"):
        LinearMixtureMDP(F, [3.0, -2.0], np.zeros((4, 2)), horizon=2)


# ---------------------------------------------------------------- bad input
S_, A_, D_ = 4, 2, 3
_rng = np.random.default_rng(0)
PHI = _rng.dirichlet(np.ones(D_), size=(S_, A_))
MU = _rng.dirichlet(np.ones(S_), size=D_)
R0 = np.zeros((S_, A_))


def _edit(arr, fn):
    out = arr.copy()
    fn(out)
    return out


def _short_mu(mu):
    mu[:, 0] -= 0.1


def _nan_phi(phi):
    phi[0, 1, 2] = np.nan


def _signed_phi(phi):
    phi[2, 1] = [1.5, -0.5, 0.0]


def _neg_mu_row(mu):
    mu[1] = [1.2, -0.2, 0.0, 0.0]


LOWRANK_CATALOGUE = [
    (
        dict(phi=PHI, mu=_edit(MU, _short_mu), R=R0, gamma=0.9),
        r"P\(\.\|s=0, a=0\) = phi\[0, 0\] @ mu sums to 0\.9",
    ),
    (
        dict(
            phi=np.stack([PHI, _edit(PHI, _signed_phi)]), mu=_edit(MU, _neg_mu_row), R=R0, horizon=2
        ),
        r"P_\d\(s'=\d \| s=\d, a=\d\) = phi\[\d, \d, \d\] @ mu\[:, \d\] = -0\.\d+ is negative",
    ),
    (dict(phi=np.ones((S_, A_, 4)) / 4, mu=MU, R=R0, gamma=0.9), r"phi has d=4 but mu has d=3"),
    (dict(phi=PHI, mu=MU[:, :3], R=R0, gamma=0.9), r"phi has S=4 states but mu has 3"),
    (
        dict(phi=_edit(PHI, _nan_phi), mu=MU, R=R0, gamma=0.9),
        r"phi\[0, 1, 2\] is nan; features must be finite",
    ),
    (dict(phi=np.stack([PHI] * 4), mu=MU, R=R0, horizon=3), r"phi has 4 stages .* horizon=3"),
    (dict(phi=PHI, mu=np.stack([MU] * 2), R=R0, horizon=3), r"mu has 2 stages .* horizon=3"),
    (
        dict(phi=PHI, mu=np.stack([MU] * 2), R=R0, gamma=0.9),
        r"stage-dependent mu of shape \(H, d, S\) needs horizon",
    ),
    (dict(phi=PHI, mu=MU, R=np.zeros((S_, 3)), gamma=0.9), r"R has shape \(4, 3\)"),
    (dict(phi=PHI, mu=MU, R=np.zeros((5, S_, A_)), horizon=3), r"R has 5 stages"),
    (dict(phi=PHI, mu=MU, R=R0), r"give exactly one of gamma"),
    (dict(phi=PHI, mu=MU, R=R0, gamma=0.9, init=[0.5, 0.5, 0.5, -0.5]), r"init\[3\] = -0\.5"),
    (dict(phi=PHI[0], mu=MU, R=R0, gamma=0.9), r"phi must have shape"),
]


@pytest.mark.parametrize("kwargs, match", LOWRANK_CATALOGUE)
def test_lowrank_bad_input(kwargs, match):
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=match):
        LowRankMDP(kwargs.pop("phi"), kwargs.pop("mu"), kwargs.pop("R"), **kwargs)


def test_other_models_bad_input():
    K = _rng.dirichlet(np.ones(S_), size=(2, S_, A_))
    F = np.moveaxis(K, 0, -1)
    with pytest.raises(ValueError, match=r"features has d=2 but theta has d=3"):
        LinearMixtureMDP(F, [0.3, 0.3, 0.4], R0, gamma=0.9)
    with pytest.raises(ValueError, match=r"P\[0, 0, :\] = features\[0, 0\] @ theta sums to 0\.9"):
        LinearMixtureMDP(F, [0.5, 0.4], R0, gamma=0.9)
    with pytest.raises(ValueError, match=r"weights\[1\] = -0\.5 is negative"):
        LinearMixtureMDP.from_kernels(K, [1.5, -0.5], R0, gamma=0.9)
    with pytest.raises(ValueError, match=r"kernels\[1, 0, 0, :\] sums to"):
        LinearMixtureMDP.from_kernels(K * [[[[1.0]]], [[[0.5]]]], [0.5, 0.5], R0, gamma=0.9)
    with pytest.raises(ValueError, match=r"theta\[1\] is nan"):
        LinearMixtureMDP(F, [0.5, np.nan], R0, gamma=0.9)
    with pytest.raises(ValueError, match=r"phi has d=3 but theta has d=2"):
        LinearMDP(PHI, MU, [1.0, 2.0], gamma=0.9)
    with pytest.raises(ValueError, match=r"stage-dependent theta .* needs horizon"):
        LinearMDP(PHI, MU, np.ones((2, 3)), gamma=0.9)
    T = _rng.dirichlet(np.ones(2), size=(2, A_))
    q = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.4, 0.6, 0.0]])
    with pytest.raises(ValueError, match=r"observation 3 is never emitted"):
        BlockMDP(T, q, R0, gamma=0.9)
    with pytest.raises(ValueError, match=r"emission\[1, 1\] = 0\.4 > 0 .* disjoint emission"):
        BlockMDP(T, q, R0, decoder=[0, 0, 1, 1], gamma=0.9)
    with pytest.raises(ValueError, match=r"latent_T has d=2 latents but emission has 3 rows"):
        BlockMDP(T, np.full((3, 4), 0.25), R0, gamma=0.9)
    with pytest.raises(ValueError, match=r"candidates\[1\]\[0, 0, :\] sums to 0\.5"):
        FeatureClass([PHI, PHI * 0.5])
    with pytest.raises(ValueError, match=r"candidates\[1\] has \(S, A\) = \(3, 2\)"):
        FeatureClass([PHI, PHI[:3]])
    with pytest.raises(ValueError, match=r"next_states\[2\] = 7 is not in \[0, 4\)"):
        FeatureClass([PHI]).fit(0, [0, 1, 2], [0, 1, 0], [0, 1, 7])
    with pytest.raises(ValueError, match=r"states\[0\] = 9 is not in \[0, 4\)"):
        LowRankMDP(PHI, MU, R0, gamma=0.9).sample_next_states([9], [0], seed=0)
    with pytest.raises(ValueError, match=r"stage h must be an integer in \[0, 1\)"):
        LowRankMDP(PHI, MU, R0, gamma=0.9).sample(0, 0, 5, seed=0, h=1)
    with pytest.raises(ValueError, match=r"needs horizon=H"):
        random_lowrank(4, 2, 2, stage_dependent=True, seed=0)
    with pytest.raises(ValueError, match=r"'swap' .* needs a BlockMDP"):
        feature_class(random_lowrank(4, 2, 2, seed=0), 2, kinds=("swap",), seed=0)
    with pytest.raises(ValueError, match=r"discounted.*use value_iteration"):
        LowRankMDP(PHI, MU, R0, gamma=0.9).backward_induction()
    with pytest.raises(ValueError, match=r"solves discounted models.*use backward_induction"):
        lowrank_value_iteration(LowRankMDP(PHI, MU, R0, horizon=3))
    with pytest.raises(TypeError, match="expected a LowRankMDP"):
        lowrank_backward_induction(LowRankMDP(PHI, MU, R0, horizon=3).to_tabular())


def test_models_are_immutable():
    m = LowRankMDP(PHI, MU, R0, gamma=0.9)
    with pytest.raises(AttributeError, match="immutable"):
        m.gamma = 0.5
    with pytest.raises(ValueError, match="read-only"):
        m.phi[0, 0, 0] = 1.0
    src = PHI.copy()
    LowRankMDP(src, MU, R0, gamma=0.9)
    src[0, 0, 0] = 0.0  # the caller's array stays writable (the model copied it)


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: random_lowrank(10, 3, 3, seed=3, **kw),
        lambda **kw: block_mdp(8, 3, 2, seed=4, **kw),
        lambda **kw: random_linear_mixture(7, 2, 3, seed=5, **kw),
    ],
    ids=["lowrank", "block", "linear_mixture"],
)
def test_methods_are_the_planning_solvers(make):
    """model.backward_induction / value_iteration wrap mdplab.planning.lowrank_*, bitwise."""
    fh, disc = make(horizon=5), make(gamma=0.85)
    a, b = fh.backward_induction(), lowrank_backward_induction(fh)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.policy, b.policy)
    assert a.method == b.method == f"{type(fh).__name__}.backward_induction"
    a = disc.value_iteration(1e-9, stopping_rule="supnorm")
    b = lowrank_value_iteration(disc, 1e-9, stopping_rule="supnorm")
    np.testing.assert_array_equal(a.values, b.values)
    assert (a.iterations, a.error_bound, a.method) == (b.iterations, b.error_bound, b.method)
    assert "mdplab.planning.lowrank_backward_induction" in type(fh).backward_induction.__doc__

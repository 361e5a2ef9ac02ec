"""HF-O2PS (adversarial linear mixture MDPs): occupancy measures, mirror steps, learner."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mdplab.algorithms import ALGORITHMS, check_algorithm
from mdplab.algorithms.linear_mixture import HFO2PS, RewardAdversary
from mdplab.envs.lowrank import random_linear_mixture
from mdplab.models import LinearMixtureMDP, TabularMDP
from mdplab.planning import backward_induction, evaluate_policy
from mdplab.planning.linear_mixture import (
    MirrorStep,
    best_fixed_policy,
    flow_residual,
    mirror_step_cvxpy,
    mirror_step_known,
    occupancy_kernel,
    occupancy_measure,
    occupancy_policy,
    policy_value,
)


def _model(S=3, A=2, d=2, H=4, seed=0):
    m = random_linear_mixture(S, A, d, horizon=H, seed=seed)
    return LinearMixtureMDP(m.features, m.theta, m.R / H, horizon=H)


def _rewards(rng, H, S, A):
    return rng.uniform(size=(H, S, A)) / H


def test_occupancy_measure_flow_and_value_match_tabular_evaluation():
    m = _model()
    rng = np.random.default_rng(1)
    pi = rng.dirichlet(np.ones(m.A), size=(m.horizon, m.S))
    z = occupancy_measure(m.P, m.init, pi)
    assert flow_residual(z, m.init) < 1e-12
    reached = z.sum(axis=(2, 3)) > 0          # elsewhere the induced policy is uniform
    np.testing.assert_allclose(occupancy_policy(z)[reached], pi[reached], atol=1e-12)
    r = _rewards(rng, m.horizon, m.S, m.A)
    exact = evaluate_policy(TabularMDP(m.P, r, horizon=m.horizon, init=m.init), pi)
    assert abs((z * r[..., None]).sum() - exact.initial_value) < 1e-12
    assert abs(policy_value(m.P, r, pi, m.init) - exact.initial_value) < 1e-12


@pytest.mark.parametrize("known", [True, False])
def test_mirror_step_is_an_occupancy_measure_whose_policy_is_worth_z_dot_r(known):
    """Flow constraints to 1e-8; the induced policy, in the kernel the occupancy
    measure induces (the true one when known), is worth exactly <z, r>."""
    m = _model()
    rng = np.random.default_rng(2)
    H, S, A = m.horizon, m.S, m.A
    z_prev = occupancy_measure(m.P, m.init, rng.dirichlet(np.ones(A), size=(H, S)))
    r = _rewards(rng, H, S, A)
    if known:
        z = mirror_step_cvxpy(z_prev, r, 3.0, m.features, m.init, m.theta)
    else:
        z = mirror_step_cvxpy(z_prev, r, 3.0, m.features, m.init, np.full(m.d, 1 / m.d),
                              2.0 * np.eye(m.d), 1.0)
    assert flow_residual(z, m.init) < 1e-8
    pi = occupancy_policy(z)
    zr = float((z * r[..., None]).sum())
    assert abs(policy_value(occupancy_kernel(z), r, pi, m.init) - zr) < 1e-8
    if known:
        assert abs(policy_value(m.P, r, pi, m.init) - zr) < 1e-7
    else:  # the kernel of z is a mixture <phi, theta_h(s,a)> with theta in the ellipsoid
        kern = occupancy_kernel(z)
        for h, s, a in itertools.product(range(H), range(S), range(A)):
            if z[h, s, a].sum() < 1e-6:       # unreached: the kernel is a placeholder
                continue
            th, *_ = np.linalg.lstsq(m.features[s, a], kern[h, s, a], rcond=None)
            assert np.linalg.norm(m.features[s, a] @ th - kern[h, s, a]) < 1e-6
            # sqrt_sigma = 2 I is L^T of Sigma = 4 I: the set is ||2 (th - 1/d)|| <= 1
            # (active here: the largest block sits on the boundary).
            assert np.linalg.norm(2.0 * (th - 1 / m.d)) <= 1.0 + 1e-6


def test_newton_mirror_step_equals_cvxpy_reference():
    """The specialised known-kernel path gives the cvxpy iterate to 1e-6 (the conic
    solver's accuracy), over a few chained steps with changing rewards."""
    m = _model(S=3, A=3, d=2, H=4, seed=4)
    rng = np.random.default_rng(3)
    H, S, A = m.horizon, m.S, m.A
    z_new = z_ref = occupancy_measure(m.P, m.init, np.full((H, S, A), 1 / A))
    for _ in range(3):
        r = _rewards(rng, H, S, A)
        z_new = mirror_step_known(z_new.sum(axis=-1), r, 4.0, m.P, m.init)
        z_ref = mirror_step_cvxpy(z_ref, r, 4.0, m.features, m.init, m.theta)
        assert flow_residual(z_new, m.init) < 1e-11
        np.testing.assert_allclose(z_new, z_ref, atol=1e-6)


def test_compiled_mirror_step_equals_fresh_cvxpy_reference():
    """The learner's compiled (parametrised) program gives the reference iterate to 1e-5
    over chained steps with a moving ellipsoid."""
    m = _model(S=3, A=2, d=2, H=3, seed=9)
    rng = np.random.default_rng(4)
    H, S, A = m.horizon, m.S, m.A
    step = MirrorStep(m.features, m.init, H)
    z_a = z_b = occupancy_measure(m.P, m.init, np.full((H, S, A), 1 / A))
    for k in range(3):
        r = _rewards(rng, H, S, A)
        Lt, th = np.sqrt(5.0 + 10 * k) * np.eye(m.d), np.full(m.d, 1 / m.d) + 0.05 * k
        z_a = mirror_step_cvxpy(z_a, r, 3.0, m.features, m.init, th, Lt, 1.0)
        z_b = step(z_b, r, 3.0, th, Lt, 1.0)
        assert flow_residual(z_b, m.init) < 1e-8
        np.testing.assert_allclose(z_b, z_a, atol=1e-5)


def test_learner_paths_agree():
    m = _model(S=2, A=2, d=2, H=3, seed=5)
    kw = {"adversary": "alternating", "learning_rate": 2.0}
    a = HFO2PS("known", path="newton", **kw).run(m, 8, seed=0, checkpoint_every=2)
    b = HFO2PS("known", path="cvxpy", **kw).run(m, 8, seed=0, checkpoint_every=2)
    np.testing.assert_allclose(a.values, b.values, atol=1e-5)


def test_learner_regret_equals_an_independent_replay():
    """The known-kernel learner's curve, recomputed outside it: the same mirror steps,
    each played policy scored by the tabular evaluator, the comparator by tabular
    backward induction on the summed rewards (alternating adversary)."""
    m = _model(S=3, A=2, d=2, H=3, seed=10)
    H, S, A, K = m.horizon, m.S, m.A, 6
    curve = HFO2PS("known", adversary="alternating", learning_rate=3.0).run(
        m, K, seed=0, checkpoint_every=1)
    R0 = np.broadcast_to(m.R, (H, S, A))
    R1 = np.roll(R0, -1, axis=1)
    z = mirror_step_known(np.ones((H, S, A)), np.zeros((H, S, A)), 0.0, m.P, m.init)
    played, total, want = 0.0, np.zeros((H, S, A)), []
    for k in range(K):
        r = R0 if k % 2 == 0 else R1
        played += evaluate_policy(TabularMDP(m.P, r, horizon=H, init=m.init),
                                  occupancy_policy(z)).initial_value
        total = total + r
        best = backward_induction(TabularMDP(m.P, total, horizon=H, init=m.init))
        want.append(best.initial_value - played)
        z = mirror_step_known(z.sum(axis=-1), r, 3.0, m.P, m.init)
    np.testing.assert_allclose(curve.regret[0], want, atol=1e-10)


def test_best_fixed_policy_in_hindsight_equals_brute_force():
    m = _model(S=2, A=2, d=2, H=3, seed=6)
    rng = np.random.default_rng(7)
    H, S, A = m.horizon, m.S, m.A
    rewards = [_rewards(rng, H, S, A) for _ in range(5)]
    best = -np.inf
    for flat in itertools.product(range(A), repeat=H * S):
        pol = np.array(flat, dtype=np.int64).reshape(H, S)
        tab = [TabularMDP(m.P, r, horizon=H, init=m.init) for r in rewards]
        best = max(best, sum(evaluate_policy(t, pol).initial_value for t in tab))
    pol, value = best_fixed_policy(m.P, m.init, np.sum(rewards, axis=0))
    assert abs(value - best) < 1e-12
    assert abs(sum(policy_value(m.P, r, pol, m.init) for r in rewards) - best) < 1e-12


def test_fixed_reward_regret_is_sublinear():
    m = _model(S=3, A=2, d=2, H=4, seed=8)
    for variant, K in (("known", 400), ("weighted", 40)):
        c = HFO2PS(variant, lr_scale=2.0).run(m, K, seed=1, checkpoint_every=K // 4)
        per = np.diff(np.concatenate([[0.0], c.values[0]])) / (K // 4)
        assert per[-1] < 0.5 * per[0], (variant, per)
        assert (np.diff(c.values[0]) >= -1e-9).all()


def test_adversaries():
    R0, R1 = np.zeros((1, 1, 1)), np.ones((1, 1, 1))
    seq = lambda kind, **kw: [RewardAdversary(kind, **kw).reward(  # noqa: E731
        k, 9, R0, R1, lambda R: float(R.sum()))[0, 0, 0] for k in range(6)]
    assert seq("fixed") == [0] * 6
    assert seq("alternating") == [0, 1, 0, 1, 0, 1]
    assert seq("blocks") == [0, 0, 0, 1, 1, 1]
    assert seq("blocks", block=2) == [0, 0, 1, 1, 0, 0]
    assert seq("adaptive") == [0] * 6      # the reward the policy scores lower on


def test_registered_and_conformant():
    assert ALGORITHMS["hf-o2ps"]().variant == "weighted"
    assert ALGORITHMS["hf-o2ps-known"]().variant == "known"
    assert ALGORITHMS["o2ps-unweighted"]().variant == "unweighted"
    check_algorithm(HFO2PS)
    check_algorithm(HFO2PS, kwargs={"variant": "known"}, budget=60)
    check_algorithm(HFO2PS, kwargs={"variant": "unweighted"})


def test_bad_inputs():
    m = _model(S=2, A=2, d=2, H=3)
    with pytest.raises(ValueError, match="learning_rate"):
        HFO2PS(learning_rate=0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        HFO2PS(learning_rate=-0.5)
    with pytest.raises(ValueError, match="adversary"):
        HFO2PS(adversary="sneaky")
    big = LinearMixtureMDP(m.features, m.theta, m.R * m.horizon, horizon=m.horizon)
    with pytest.raises(ValueError, match="total reward .* > 1"):
        HFO2PS().run(big, 3)
    with pytest.raises(ValueError, match="second_reward"):
        HFO2PS(adversary="alternating", second_reward=np.ones((2, 2))).run(m, 3)
    # A third feature with other row sums and weight 0: theta* gives a kernel, but
    # <phi, theta> is not a kernel for every theta of the confidence set.
    scale = 1.0 + np.add.outer(np.arange(m.S), np.arange(m.A))[:, :, None, None]
    F = np.concatenate([m.features, scale * m.features[..., :1]], axis=-1)
    odd = LinearMixtureMDP(F, np.append(m.theta, 0.0), m.R, horizon=m.horizon)
    with pytest.raises(ValueError, match="not a transition kernel for every theta"):
        HFO2PS().run(odd, 3)
    disc = LinearMixtureMDP(m.features, m.theta, m.R, gamma=0.9)
    with pytest.raises(ValueError, match="finite-horizon"):
        HFO2PS().run(disc, 3)
    with pytest.raises(ValueError, match="path"):
        HFO2PS("weighted", path="newton")


def test_weight_uses_twice_the_error_of_the_squared_first_moment():
    """sigma_0^2 = Var_0 + min(1, 2 beta ||phi_0||_{Sigma_0^-1}) + min(1, beta
    ||phi_1||_{Sigma_1^-1}): the 2 goes with the squared order-0 estimate."""
    m = _model(S=3, A=2, d=2, H=2, seed=11)
    F, d, lam, beta = np.asarray(m.features), m.d, 4.0, 0.3
    V = np.array([[0.0, 0.0, 0.0], [0.9, 0.2, 0.5], [0.0, 0.0, 0.0]])
    traj = np.array([[0, 1, 2], [2, 0, 1]])
    Sig = np.stack([lam * np.eye(d)] * 2)
    th = np.array([[0.6, 0.4], [0.5, 0.5]])
    HFO2PS._regress(F, traj, V, Sig, np.zeros((2, d)), th.copy(), True, 1e-3, 1e-3, beta)
    phi0, phi1 = F[0, 1].T @ V[1], F[0, 1].T @ V[1] ** 2
    w0, w1 = np.linalg.norm(phi0) / np.sqrt(lam), np.linalg.norm(phi1) / np.sqrt(lam)
    var = min(max(phi1 @ th[1], 0), 1) - min(max(phi0 @ th[0], 0), 1) ** 2
    want = var + min(1, 2 * beta * w0) + min(1, beta * w1)
    got = (phi0 @ phi0) / np.trace(Sig[0] - lam * np.eye(d))
    assert abs(got - want) < 1e-12, (got, want)


def test_horizon_sweep_instance_lets_the_regression_reach_the_policy():
    """On the hf-o2ps-regret-vs-horizon instance the confidence set binds, so the
    weighted and unweighted regressions give different policies and regrets (on flat
    kernels both equal the no-learning iterates to solver tolerance)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "experiments" / "horizon_free_adversarial.py"
    spec = importlib.util.spec_from_file_location("_hfa", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    exp = next(e for e in mod.EXPERIMENTS if e.name == "hf-o2ps-regret-vs-horizon")
    cell = {**exp.defaults(), **{k: v[0] for k, v in exp.grid.items()},
            "horizon": 12, "episodes": 96}
    final = {}
    for alg in ("hf-o2ps", "o2ps-unweighted"):
        final[alg] = mod.run({**cell, "algorithm": alg}, 0)[-1]["regret"]
    assert abs(final["hf-o2ps"] - final["o2ps-unweighted"]) > 1e-2, final

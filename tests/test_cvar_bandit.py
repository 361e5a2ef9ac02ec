"""The CVaR bandit (Bernstein-UCB, H = 1): conformance, exact regret, Theorem 4.1's bound."""

from __future__ import annotations

import numpy as np
import pytest

from mdplab import envs
from mdplab.algorithms import (
    ALGORITHMS,
    CVaRBandit,
    check_algorithm,
    cvar_bandit_regret_bound,
    cvar_objective,
)
from mdplab.algorithms.cvar import _hist_cvar
from mdplab.planning import cvar_of_samples, solve_cvar


def test_conformance():
    check_algorithm(CVaRBandit)


def test_name_objective_and_arm_cvars():
    learner = ALGORITHMS["cvar-bandit"](tau=0.3)
    assert learner.name == "cvar-bandit" and learner.objective is cvar_objective(0.3)
    mdp = envs.cvar_bandit(3, 0.3, gap=0.1)
    # Bernoulli arm with P(0) = p <= tau: CVaR_tau = 1 - p / tau
    assert np.allclose(learner.arm_cvars(mdp), [0.6, 0.5, 0.5], atol=1e-12)
    assert abs(solve_cvar(mdp, 0.3).value - 0.6) < 1e-12
    rnd = envs.random_cvar_bandit(4, seed=3)
    assert abs(learner.arm_cvars(rnd).max() - solve_cvar(rnd, 0.3).value) < 1e-12
    mdp_k = envs.cvar_bandit(2, 0.25, episodes=800)
    assert np.allclose(CVaRBandit(tau=0.25).arm_cvars(mdp_k), [0.5 + 0.05, 0.5])


def test_empirical_cvar_helper_matches_sorted_samples():
    rng = np.random.default_rng(0)
    x = np.array([[0.75, 0.0, 0.25, 1.0, 0.5]])
    order = np.argsort(x, axis=1)
    for _ in range(50):
        counts = rng.integers(0, 4, size=5).astype(float)
        if counts.sum() == 0:
            continue
        samples = np.repeat(x[0], counts.astype(int))
        for tau in (0.05, 0.3, 0.5, 1.0):
            got = _hist_cvar(counts[None], x, order, 0, counts.sum(), tau)
            assert abs(got - cvar_of_samples(samples, tau)) < 1e-12


def test_first_rounds_pull_every_arm_once():
    mdp = envs.random_cvar_bandit(4, seed=2)
    tau = 0.2
    learner = CVaRBandit(tau=tau)
    curve = learner.run(mdp, 4, seed=0, checkpoint_every=1)
    gaps = curve.optimal_value - learner.arm_cvars(mdp)
    assert np.allclose(curve.regret[0], np.cumsum(gaps), atol=1e-12)


# (instance, tau): a large gap (the bound is far below linear regret), the hard
# gap, many arms, and grid atoms whose CVaR-optimal arm is not the mean-optimal one.
BOUND_CASES = [
    (envs.cvar_bandit(2, 0.5, gap=0.45), 0.5),
    (envs.cvar_bandit(4, 0.25, episodes=200_000), 0.25),
    (envs.random_cvar_bandit(3, seed=0), 0.1),
]


@pytest.mark.parametrize("case", range(len(BOUND_CASES)))
def test_regret_below_theorem_bound(case):
    """Theorem 4.1 (constants as implemented, delta = 0.1): every seed's exact regret
    stays below the bound at every checkpoint, and the good event (every arm's index
    above its true CVaR) never fails."""
    mdp, tau = BOUND_CASES[case]
    K, delta = 200_000, 0.1
    curve = CVaRBandit(tau=tau, delta=delta).run(mdp, K, seed=case, n_seeds=8)
    bound = cvar_bandit_regret_bound(curve.episodes, mdp.A, tau, delta, horizon=K)
    assert (curve.regret <= bound).all()
    assert (curve.optimism_failures == 0).all()
    assert (np.diff(curve.regret, axis=1) >= -1e-9).all()


def test_bound_discriminates():
    """On the large-gap instance the bound is below linear regret, and a learner that
    does not learn (round robin: an enormous bonus) breaks it."""
    mdp, tau = BOUND_CASES[0]
    K = 1_000_000
    gap = 0.45
    bound = cvar_bandit_regret_bound(K, 2, tau, 0.1)
    assert bound < 0.5 * gap * K
    rr = CVaRBandit(tau=tau, bonus_scale=1e6).run(mdp, K, seed=0)
    assert rr.regret[0, -1] > bound
    good = CVaRBandit(tau=tau).run(mdp, K, seed=0)
    assert good.regret[0, -1] < 0.01 * bound


def test_bound_formula():
    L = np.log(2 * 1000 / 0.1)
    assert np.isclose(cvar_bandit_regret_bound(1000, 2, 0.25),
                      4 * np.sqrt(2 * 1000 / 0.25) * L + 16 * 2 * L**2 / 0.25)
    assert np.isclose(cvar_bandit_regret_bound(10, 2, 0.25, horizon=1000, c_main=1, c_lower=0),
                      np.sqrt(2 * 10 / 0.25) * L)


def test_bad_models_and_envs():
    learner = CVaRBandit()
    with pytest.raises(ValueError, match="horizon=1"):
        learner.run(envs.safe_risky_chain(3), 10)
    two = envs.cvar_bandit(2, 0.5, gap=0.1)
    with pytest.raises(ValueError, match="one state"):
        learner.run(envs.random_grid_mdp(2, 2, 1, seed=0).replace(init=np.array([0.5, 0.5])),
                    10)
    big = two.replace(reward_atoms=two.reward_atoms * 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        learner.run(big, 10)
    with pytest.raises(ValueError, match="gap= or episodes="):
        envs.cvar_bandit(2, 0.5)
    with pytest.raises(ValueError, match="gap must be"):
        envs.cvar_bandit(2, 0.5, gap=0.5)
    with pytest.raises(ValueError, match="tau must be"):
        envs.cvar_bandit(2, 0.0, gap=0.1)


def test_experiment_rows():
    from experiments.cvar import EXPERIMENTS, run_bandit

    exp = next(e for e in EXPERIMENTS if e.name == "cvar-bandit-regret")
    params = {p.name: p.default for p in exp.params}
    rows = run_bandit({**params, "episodes": 2000}, 0)
    last = rows[-1]
    assert last["final"] and last["episode"] == 2000
    assert 0 < last["regret"] <= last["bound"]
    assert abs(last["regret_over_bound"] - last["regret"] / last["bound"]) < 1e-15
    assert {r.name for r in exp.rates} == {"cvar-bandit-regret-vs-k",
                                           "cvar-bandit-regret-vs-k-lower"}

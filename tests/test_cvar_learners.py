"""CVaR-UCBVI on the learner protocol: conformance, exact CVaR regret, objective."""

from __future__ import annotations

import numpy as np
import pytest

from mdplab import envs
from mdplab.algorithms import ALGORITHMS, CVaRUCBVI, check_algorithm, cvar_objective
from mdplab.planning import backward_induction, cvar_of_policy, solve_cvar


def test_conformance_bernstein():
    check_algorithm(CVaRUCBVI)


def test_conformance_hoeffding():
    check_algorithm(CVaRUCBVI, kwargs={"bonus": "hoeffding", "bonus_scale": 0.01})


def test_names_and_objective():
    assert ALGORITHMS["cvar-ucbvi-h"]().name == "cvar-ucbvi-h"
    assert ALGORITHMS["cvar-ucbvi-b"](tau=0.1).objective is cvar_objective(0.1)
    mdp = envs.safe_risky_chain(4)
    obj = cvar_objective(0.3)
    res = solve_cvar(mdp, 0.3)
    assert obj.optimum(mdp) == res.value
    assert abs(obj.value(mdp, (res.policy, res.budget)) - res.value) < 1e-12
    assert abs(obj.value(mdp, res) - res.value) < 1e-12
    pi = backward_induction(mdp).policy
    assert obj.value(mdp, pi) == cvar_of_policy(mdp, pi, 0.3) < res.value


@pytest.mark.parametrize("bonus", ["hoeffding", "bernstein"])
def test_first_episode_regret_is_exact(bonus):
    """Before any data every pair is unvisited: the plan is action 0 everywhere from
    the largest budget; its exact CVaR gives the first episode's regret."""
    mdp = envs.safe_risky_chain(4, p_miss=0.2, p_crash=0.1)
    tau = 0.4
    curve = CVaRUCBVI(bonus, tau=tau).run(mdp, 5, seed=0, checkpoint_every=1)
    res = solve_cvar(mdp, tau)
    pol = np.zeros_like(res.policy)
    first = res.value - cvar_of_policy(mdp, pol, tau, budget=res.budgets[-1])
    assert abs(curve.regret[0, 0] - first) < 1e-12
    assert curve.optimal_value == res.value


def test_learns_the_cvar_optimum():
    mdp = envs.safe_risky_chain(5)
    curve = CVaRUCBVI("bernstein", tau=0.3, bonus_scale=0.1).run(mdp, 3000, seed=1,
                                                                 n_seeds=2)
    per_episode = np.diff(curve.regret, axis=1)[:, -10:] / np.diff(curve.episodes)[-10:]
    assert (per_episode < 1e-9).all()


def test_bad_models():
    learner = CVaRUCBVI()
    with pytest.raises(ValueError, match="common grid"):
        learner.run(envs.random_mdp(3, 2, horizon=3, seed=0), 10)
    with pytest.raises(ValueError, match="discounted"):
        learner.run(envs.riverswim(n_states=3, gamma=0.9), 10)


def test_risk_neutral_baseline():
    from mdplab.algorithms import RiskNeutralUCBVI

    check_algorithm(RiskNeutralUCBVI)
    mdp = envs.safe_risky_chain(5)
    tau = 0.05
    curve = ALGORITHMS["ucbvi-bf-cvar"](tau=tau, bonus_scale=0.01).run(mdp, 2000, seed=0,
                                                                       checkpoint_every=1)
    assert curve.algorithm == "ucbvi-bf-cvar"
    # First episode: UCBVI's first plan (optimistic, ties to action 0) is all-safe.
    res = solve_cvar(mdp, tau)
    assert curve.regret[0, 0] == pytest.approx(
        res.value - cvar_of_policy(mdp, np.zeros((5, 2), dtype=int), tau), abs=1e-12)
    mean_pi = backward_induction(mdp).policy
    gap = res.value - cvar_of_policy(mdp, mean_pi, tau)
    # Once it has learned the mean-optimal (always risky) policy it pays the CVaR gap
    # every episode: linear regret.
    per_episode = np.diff(curve.regret[0])[-100:]
    assert np.allclose(per_episode, gap, atol=1e-12)


def test_too_fine_lattice_and_zero_probability_atoms():
    from mdplab.algorithms import CVaRUCBVI
    from mdplab.models import TabularMDP

    P = np.zeros((1, 2, 1))
    P[0, :, 0] = 1.0
    # atoms {0, 0.001, 1} on a lattice of step 0.001: H = 5 needs 5001 budgets
    atoms = np.array([[[0.0, 0.001, 1.0], [0.0, 0.001, 1.0]]])
    probs = np.array([[[0.5, 0.25, 0.25], [0.2, 0.4, 0.4]]])
    fine = TabularMDP(P, None, horizon=5, reward_atoms=atoms, reward_probs=probs)
    with pytest.raises(ValueError, match="needs 5001 budgets"):
        CVaRUCBVI("hoeffding", tau=0.5).run(fine, 10)
    # a zero-probability, off-lattice padding atom changes nothing
    base = TabularMDP(P, None, horizon=3, reward_atoms=np.array([[[0.0, 0.5], [0.5, 1.0]]]),
                      reward_probs=np.array([[[0.5, 0.5], [0.5, 0.5]]]))
    padded = TabularMDP(P, None, horizon=3,
                        reward_atoms=np.array([[[0.0, 0.5, 0.3137], [0.5, 1.0, -7.0]]]),
                        reward_probs=np.array([[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]]))
    a, b = solve_cvar(base, 0.3), solve_cvar(padded, 0.3)
    assert b.exact and a.value == b.value and np.array_equal(a.budgets, b.budgets)

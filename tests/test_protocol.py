"""The learner protocol: one run / curve type for every guarantee, exact evaluation
of what was played or output, unchanged numbers for the tabular learners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdplab import envs
from mdplab.algorithms import (
    ALGORITHMS,
    EXPECTED_RETURN,
    UCBVI,
    Learner,
    PolicyLearner,
    Snapshot,
    check_algorithm,
    tiny_mdp,
)
from mdplab.models import TabularMDP
from mdplab.planning import backward_induction, evaluate_policy
from mdplab.sampling import EpisodicSimulator, sample_all

DATA = Path(__file__).parent / "data" / "learner_curves_before_protocol.npz"


def test_tabular_learners_bitwise_unchanged_by_the_protocol():
    """Curves stored by the pre-protocol code (commit 1e53680) are reproduced bit for bit."""
    ref = np.load(DATA)
    models = {"tiny": tiny_mdp(), "tiny-staged": tiny_mdp(stage_dependent=True),
              "riverswim": envs.riverswim(n_states=5, variant="osband", horizon=12)}
    checked = 0
    stored = {key.split("|")[0] for key in ref.files}  # the pre-protocol tabular learners
    assert stored <= set(ALGORITHMS)
    for name, factory in ALGORITHMS.items():
        if name not in stored:
            continue
        for mname, mdp in models.items():
            curve = factory().run(mdp, 400, seed=7, n_seeds=2, checkpoint_every=20)
            for field, arr in (("episodes", curve.episodes), ("regret", curve.regret),
                               ("realized_regret", curve.realized_regret)):
                want = ref[f"{name}|{mname}|{field}"]
                assert arr.dtype == want.dtype and np.array_equal(arr, want), (name, mname, field)
                checked += 1
    assert checked == 3 * len(models) * len(stored) == len(ref.files)


# ----------------------------------------------------------------- test learners
class CertaintyEquivalence(PolicyLearner):
    """Generative model: ``n = b // (S A)`` draws per pair, plan in the empirical model."""

    name = "certainty-equivalence"
    guarantee = "generative"
    check_budget = 4000
    invalid_kwargs = (({"stochastic": "yes"}, "stochastic"),)

    def __init__(self, stochastic: bool = False):
        if not isinstance(stochastic, bool):
            raise ValueError(f"stochastic must be True or False; got {stochastic!r}")
        self.stochastic = stochastic

    @classmethod
    def check_models(cls):
        return [("tiny", tiny_mdp())]

    def check_model(self, mdp):
        if not mdp.transitions_stationary or mdp.horizon is None:
            raise ValueError("needs a stationary finite-horizon model")

    def policies(self, mdp, budget, checkpoints, seed):
        S, A = mdp.S, mdp.A
        draws = sample_all(mdp, max(1, budget // (S * A)), seed=seed)
        for b in checkpoints:
            n = b // (S * A)
            if n == 0:
                yield Snapshot(np.full((mdp.horizon, S, A), 1.0 / A), used=0,
                               extras={"per_pair": 0, "model_tv": 1.0})
                continue
            P = np.zeros((S, A, S))
            for s in range(S):
                for a in range(A):
                    P[s, a] = np.bincount(draws[s, a, :n], minlength=S) / n
            plan = backward_induction(TabularMDP(P, mdp.R, horizon=mdp.horizon, init=mdp.init))
            policy = plan.policy
            if self.stochastic:  # mix 1/n of uniform in: a stochastic output policy
                policy = np.full((mdp.horizon, S, A), 1.0 / (n * A))
                for h in range(mdp.horizon):
                    policy[h, np.arange(S), plan.policy[h]] += 1.0 - 1.0 / n
            tv = 0.5 * np.abs(P - mdp.P).sum(-1).max()  # the seed shows in the estimate
            yield Snapshot(policy, used=n * S * A, extras={"per_pair": n, "model_tv": tv})


class FixedPolicy(PolicyLearner):
    """Plays one given policy forever (regret exactly linear)."""

    name = "fixed"
    expect_progress = False

    def __init__(self, policy=None):
        self.policy = policy

    def policies(self, mdp, budget, checkpoints, seed):
        pi = self.policy if self.policy is not None else np.zeros((mdp.horizon, mdp.S), int)
        sim = EpisodicSimulator(mdp, seed=seed)
        for _ in range(budget):
            s, total, done = sim.reset(), 0.0, False
            while not done:
                s, r, done = sim.step(int(pi[sim.h, s]))
                total += r
            yield Snapshot(pi, realized=total)


class IgnoresSeed(CertaintyEquivalence):
    name = "ignores-seed"

    def policies(self, mdp, budget, checkpoints, seed):
        return super().policies(mdp, budget, checkpoints, 0)


def test_generative_learner_conforms_and_its_loss_is_exact():
    check_algorithm(CertaintyEquivalence)
    check_algorithm(CertaintyEquivalence, kwargs={"stochastic": True})
    mdp = tiny_mdp()
    curve = CertaintyEquivalence().run(mdp, 800, seed=3, n_seeds=2, checkpoint_every=200)
    assert (curve.guarantee, curve.axis, curve.metric) == ("generative", "samples", "loss")
    assert curve.samples is curve.budget and curve.loss is curve.values
    v_star = backward_induction(mdp).initial_value
    # Recompute the output policy of the last checkpoint by hand and evaluate it.
    n = 800 // 4
    draws = sample_all(mdp, n, seed=int(curve.seeds[1]))
    P = np.stack([[np.bincount(draws[s, a], minlength=2) / n for a in range(2)]
                  for s in range(2)])
    pi = backward_induction(TabularMDP(P, mdp.R, horizon=3)).policy
    assert curve.loss[1, -1] == v_star - evaluate_policy(mdp, pi).initial_value
    rows = curve.rows(1)
    assert [r["sample"] for r in rows] == [200, 400, 600, 800]
    assert rows[-1]["loss"] == curve.loss[1, -1] and rows[-1]["per_pair"] == n
    assert "realized_loss" not in rows[0]


def test_online_policy_learner_regret_is_the_exact_value_gap():
    mdp = envs.riverswim(n_states=4, variant="osband", horizon=6)
    pi = np.zeros((6, 4), dtype=int)
    curve = FixedPolicy(pi).run(mdp, 50, seed=1, n_seeds=3, checkpoint_every=10)
    gap = backward_induction(mdp).initial_value - evaluate_policy(mdp, pi).initial_value
    np.testing.assert_allclose(curve.regret, np.outer(np.ones(3), gap * curve.episodes),
                               rtol=1e-12)
    assert curve.realized_regret.shape == (3, 5)
    assert curve.rows(0)[0].keys() == {"episode", "regret", "realized_regret"}


def test_suite_catches_a_learner_that_ignores_its_seed():
    with pytest.raises(AssertionError, match="different seeds gave identical"):
        check_algorithm(IgnoresSeed)


def test_suite_catches_accepted_bad_hyperparameters():
    class Lenient(CertaintyEquivalence):
        invalid_kwargs = (({"stochastic": False}, "stochastic"),)

    with pytest.raises(AssertionError, match="was accepted"):
        check_algorithm(Lenient)


def test_wrong_model_class_and_bad_budgets_are_clear_errors():
    with pytest.raises(TypeError, match="learns on a TabularMDP; got POMDP"):
        UCBVI("bf").run(envs.tiger(horizon=3), 10)
    with pytest.raises(ValueError, match="finite-horizon"):
        UCBVI("bf").run(envs.riverswim(n_states=3, gamma=0.9), 10)
    for bad, msg in ((0, r"budget \(episodes\) must be >= 1"),
                     (2.5, r"budget \(episodes\) must be an integer"),
                     (True, r"budget \(episodes\) must be an integer")):
        with pytest.raises(ValueError, match=msg):
            UCBVI("bf").run(tiny_mdp(), bad)
    with pytest.raises(ValueError, match=r"budget \(samples\) must be >= 1"):
        CertaintyEquivalence().run(tiny_mdp(), 0)
    with pytest.raises(ValueError, match="n_seeds"):
        UCBVI("bf").run(tiny_mdp(), 10, n_seeds=0)


def test_objective_evaluates_stochastic_policies_and_rejects_unknown_models():
    mdp = tiny_mdp()
    uniform = np.full((3, 2, 2), 0.5)
    direct = evaluate_policy(mdp, uniform).initial_value
    assert EXPECTED_RETURN.value(mdp, uniform) == direct
    assert EXPECTED_RETURN.optimum(mdp) == backward_induction(mdp).initial_value
    from mdplab.models import PSR

    with pytest.raises(TypeError, match="cannot evaluate a PSR; it knows: .*LatentMDP, .*POMDP"):
        EXPECTED_RETURN.optimum(PSR.from_pomdp(envs.tiger(horizon=2)))


def test_protocol_rejects_a_learner_returning_the_wrong_shape():
    class Broken(Learner):
        name = "broken"

        def _learn(self, model, budget, every, checkpoints, seeds, optimum):
            from mdplab.algorithms import Trace
            return Trace(np.zeros((1, 1)))

    with pytest.raises(RuntimeError, match="shape"):
        Broken().run(tiny_mdp(), 10, n_seeds=2)


def test_objective_scores_latent_and_pomdp_policies_exactly():
    from mdplab.planning import (
        latent_best_markov_policy,
        latent_solve_belief,
        pomdp_value_iteration,
    )

    lmdp = envs.probe_chain_lmdp(n_contexts=2, horizon=4, probe_accuracy=0.9)
    belief = latent_solve_belief(lmdp)
    assert abs(EXPECTED_RETURN.value(lmdp, belief) - EXPECTED_RETURN.optimum(lmdp)) < 1e-12
    markov = latent_best_markov_policy(lmdp)
    assert abs(EXPECTED_RETURN.value(lmdp, markov.policy) - markov.value) < 1e-12
    assert EXPECTED_RETURN.value(lmdp, markov.policy) <= EXPECTED_RETURN.optimum(lmdp) + 1e-12
    tiger = envs.tiger(horizon=3)
    plan = pomdp_value_iteration(tiger)
    assert EXPECTED_RETURN.optimum(tiger) == plan.value(tiger.b0)
    listen = EXPECTED_RETURN.value(tiger, lambda b, h: 0)  # always listen: -1 per step
    assert abs(listen - (-3.0)) < 1e-12
    with pytest.raises(ValueError, match="discounted POMDP"):
        EXPECTED_RETURN.optimum(envs.tiger(gamma=0.9))


def test_extras_may_not_shadow_curve_columns():
    class Shadowing(CertaintyEquivalence):
        def policies(self, mdp, budget, checkpoints, seed):
            for snap in super().policies(mdp, budget, checkpoints, seed):
                yield Snapshot(snap.policy, used=snap.used, extras={"sample": 1.0})

    with pytest.raises(RuntimeError, match="'sample' would shadow"):
        Shadowing().run(tiny_mdp(), 40)


def test_discounted_optimum_is_the_exact_value_of_the_optimal_policy():
    mdp = envs.riverswim(n_states=5, gamma=0.99)
    from mdplab.planning import solve

    pi = solve(mdp).policy
    assert EXPECTED_RETURN.optimum(mdp) - EXPECTED_RETURN.value(mdp, pi) == 0.0


def test_compiled_algorithm_refuses_an_objective_it_does_not_compute():
    from mdplab.algorithms import Objective

    class Relabelled(UCBVI):
        objective = Objective("cvar-0.1")

    with pytest.raises(TypeError, match="expected return"):
        Relabelled("bf").run(tiny_mdp(), 10)

"""Q-learning UCB (Jin et al. 2018) and PSRL (Osband et al. 2013)."""

import numpy as np
import pytest

from mdplab.algorithms.conformance import check_algorithm, tiny_mdp
from mdplab.algorithms.psrl import PSRL, _sample_dirichlet_rows, _sample_gammas
from mdplab.algorithms.qlearning import QLearningUCB
from mdplab.envs import random_mdp, riverswim

LEARNERS = [
    lambda: PSRL(),
    lambda: QLearningUCB("hoeffding", c=0.05),
    lambda: QLearningUCB("bernstein", c=0.05),
]


def test_conformance_psrl():
    check_algorithm(PSRL)


@pytest.mark.parametrize("bonus", ["hoeffding", "bernstein"])
def test_conformance_qlearning(bonus):
    check_algorithm(QLearningUCB, kwargs={"bonus": bonus})


def test_names_and_params():
    assert PSRL().name == "psrl"
    assert QLearningUCB().name == "qlearning-ucb-h"
    assert QLearningUCB("bernstein").name == "qlearning-ucb-b"
    assert "bonus='bernstein'" in repr(QLearningUCB("bernstein", c=0.1, c2=0.5))
    assert PSRL(0.5).params() == {"prior_alpha": 0.5, "rewards": "known"}


@pytest.mark.parametrize("make", LEARNERS)
@pytest.mark.parametrize("stage_dependent", [False, True])
def test_reproducible_nonnegative_sublinear(make, stage_dependent):
    # stationary: a short RiverSwim (needs exploration); stage-dependent: random P_h, R_h
    if stage_dependent:
        mdp = random_mdp(3, 2, horizon=4, seed=2, stage_dependent=True)
        assert mdp.stage_P().shape[0] == 4
    else:
        mdp = riverswim(3, horizon=5)
    K = 3000
    a = make().run(mdp, K, seed=7, n_seeds=3, checkpoint_every=1)
    b = make().run(mdp, K, seed=7, n_seeds=3, checkpoint_every=1)
    c = make().run(mdp, K, seed=8, n_seeds=3, checkpoint_every=1)
    assert np.array_equal(a.regret, b.regret)
    assert np.array_equal(a.realized_regret, b.realized_regret)
    assert not np.array_equal(a.realized_regret, c.realized_regret)
    # seed streams are independent of n_seeds: the first stream is the same alone
    one = make().run(mdp, K, seed=7, n_seeds=1, checkpoint_every=1)
    assert np.array_equal(one.regret[0], a.regret[0])
    steps = np.diff(a.regret, axis=1, prepend=0.0)
    assert steps.min() >= -1e-12
    first = steps[:, : K // 3].mean()
    last = steps[:, -(K // 3):].mean()
    assert first > 0
    assert last < 0.35 * first, (first, last)


def test_theory_constant_runs_and_is_more_exploratory():
    mdp = tiny_mdp()
    small = QLearningUCB(c=0.05).run(mdp, 500, seed=1, n_seeds=2)
    big = QLearningUCB(c=1.0).run(mdp, 500, seed=1, n_seeds=2)
    assert big.regret[:, -1].mean() > small.regret[:, -1].mean()


def test_riverswim_runs():
    mdp = riverswim(6, horizon=10)
    for make in LEARNERS:
        curve = make().run(mdp, 200, seed=0, n_seeds=2, checkpoint_every=50)
        assert curve.regret.shape == (2, 4)
        assert np.all(np.isfinite(curve.regret))
        assert np.all(np.diff(curve.regret, axis=1) >= -1e-12)


@pytest.mark.parametrize("a", [0.05, 0.4, 1.0, 2.5, 30.0])
def test_gamma_sampler_moments(a):
    n = 100_000
    x = _sample_gammas(a, np.uint64(123), n)
    assert np.all(x >= 0)
    # Gamma(a, 1): mean a, variance a; the sample mean has sd sqrt(a / n)
    assert abs(x.mean() - a) < 5 * np.sqrt(a / n)
    # Var of the sample variance ~ (mu4 - a^2)/n with mu4 = 3a^2 + 6a
    assert abs(x.var() - a) < 5 * np.sqrt((2 * a * a + 6 * a) / n)
    assert not np.array_equal(x, _sample_gammas(a, np.uint64(124), n))
    assert np.array_equal(x, _sample_gammas(a, np.uint64(123), n))


def test_dirichlet_sampler_moments():
    alpha = np.array([0.2, 1.0, 3.0, 0.01])
    n = 100_000
    x = _sample_dirichlet_rows(alpha, np.uint64(5), n)
    assert np.allclose(x.sum(1), 1.0)
    assert np.all(x >= 0) and np.all(np.isfinite(x))
    a0 = alpha.sum()
    mean = alpha / a0
    var = alpha * (a0 - alpha) / (a0 * a0 * (a0 + 1))
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / n))
    assert np.allclose(x.var(0), var, rtol=0.05, atol=1e-4)


def test_dirichlet_tiny_alpha_never_degenerate():
    x = _sample_dirichlet_rows(np.full(5, 1e-4), np.uint64(9), 2000)
    assert np.all(np.isfinite(x)) and np.allclose(x.sum(1), 1.0)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: QLearningUCB(bonus="ucb"), "bonus"),
        (lambda: QLearningUCB(c=-0.1), "c must be"),
        (lambda: QLearningUCB(c=float("inf")), "c must be"),
        (lambda: QLearningUCB(delta=0), "delta"),
        (lambda: QLearningUCB(delta=1), "delta"),
        (lambda: QLearningUCB(c2=-1), "c2"),
        (lambda: PSRL(prior_alpha=0), "prior_alpha"),
        (lambda: PSRL(prior_alpha=True), "prior_alpha"),
    ],
)
def test_bad_hyperparameters(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_discounted_model_rejected():
    with pytest.raises(ValueError, match="finite-horizon"):
        PSRL().run(riverswim(4, gamma=0.9), 10)

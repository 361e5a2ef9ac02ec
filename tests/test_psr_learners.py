"""UCB-PSR, PSR-LCB and OMLE (mdplab.algorithms.psr): the tree quantities against
brute force, the bonus against a per-history transcription, the key lemma
(bonus value >= exact TV) numerically, the protocol, learning progress, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mdplab.algorithms import ALGORITHMS, OMLE, PSRLCB, UCBPSR, check_algorithm
from mdplab.algorithms.psr import (
    _Finite,
    _offsets,
    class_log_likelihoods,
    line_class,
    rollout_kernel,
    trajectory_bonus,
    tree_states,
)
from mdplab.envs import random_revealing_pomdp, tiger
from mdplab.models import PSR
from mdplab.planning import (
    history_policy_value,
    history_probabilities,
    max_tv_distance,
    maximize_over_histories,
    optimal_history_policy,
)


class _Episodes:
    def __init__(self, actions, observations):
        self.actions, self.observations = actions, observations


def _sample(pomdp, n, horizon, seed):
    """Uniform-action episodes from the learners' own sampler (no other kernel to compile)."""
    A, O, H = pomdp.A, pomdp.n_observations, horizon
    off = _offsets(A * O, H)
    table = np.full((off[H], A), 1.0 / A)
    seeds = np.random.default_rng(seed).integers(0, 2**62, size=n).astype(np.uint64)
    acts, obs, _ = rollout_kernel(np.asarray(pomdp.T), np.asarray(pomdp.O), np.asarray(pomdp.R),
                                  np.asarray(pomdp.b0), H, table, off,
                                  np.full(n, H, dtype=np.int64),
                                  np.full((n, H), -1, dtype=np.int64), seeds)
    return _Episodes(acts, obs)


def _histories(A, O, h):
    """All length-h histories in the tree order (first step most significant)."""
    for steps in itertools.product(range(A * O), repeat=h):
        yield [s // O for s in steps], [s % O for s in steps]


def test_tree_states_match_predictive_state():
    pomdp = random_revealing_pomdp(2, 3, 2, horizon=3, seed=3)
    psr = PSR.from_pomdp(pomdp)
    states, probs, off = tree_states(np.asarray(psr.psi0), np.asarray(psr.M),
                                     np.asarray(psr.W), 3)
    for h in range(3):
        for n, (a, o) in enumerate(_histories(pomdp.A, pomdp.n_observations, h)):
            assert probs[off[h] + n] == pytest.approx(pomdp.history_probability(a, o), abs=1e-12)
            np.testing.assert_allclose(states[off[h] + n], psr.predictive_state(a, o), atol=1e-10)


def test_class_log_likelihoods_match_forward_algorithm():
    pomdp = tiger(horizon=3)
    cands = line_class(pomdp, 7, seed=2)
    tr = _sample(pomdp, 20, 3, 0)
    fin = _Finite(cands)
    fin.add(tr.actions, tr.observations)
    ref = np.array([sum(c.log_history_probability(a, o)
                        for a, o in zip(tr.actions, tr.observations, strict=True))
                    for c in cands])
    np.testing.assert_allclose(fin.totals, ref, rtol=1e-12)
    Ts = np.stack([c.T for c in cands])
    Os = np.stack([c.O for c in cands])
    b0 = np.stack([c.b0 for c in cands])
    ll = class_log_likelihoods(Ts, Os, b0, tr.actions, tr.observations)
    np.testing.assert_allclose(ll[3], [cands[3].log_history_probability(a, o)
                                       for a, o in zip(tr.actions, tr.observations,
                                                       strict=True)])


def test_line_class_holds_truth_in_the_middle():
    pomdp = tiger(horizon=2)
    cands = line_class(pomdp, 5, seed=0)
    assert cands[2] is pomdp and len(cands) == 5
    tvs = [max_tv_distance(c, pomdp, 2)[0] for c in cands]
    assert tvs[2] == 0.0 and min(tvs[:2] + tvs[3:]) > 0
    with pytest.raises(ValueError, match="n_models must be odd"):
        line_class(pomdp, 4)


def _naive_bonus(model, data_by_step, H, alpha, lam):
    """Per-history transcription: U_h from the data's prefixes, then each leaf."""
    psr = PSR.from_pomdp(model)
    A, O, r = model.A, model.n_observations, psr.dim
    U = []
    for h in range(H):
        acts, obs = data_by_step[h]
        Uh = lam * np.eye(r)
        for a, o in zip(acts, obs, strict=True):
            y = psr.predictive_state(a[:h], o[:h])
            Uh += np.outer(y, y)
        U.append(np.linalg.inv(Uh))
    out = []
    for a, o in _histories(A, O, H):
        if model.history_probability(a[:H - 1], o[:H - 1]) <= 0:
            out.append(np.nan)
            continue
        s = sum(psr.predictive_state(a[:h], o[:h]) @ U[h] @ psr.predictive_state(a[:h], o[:h])
                for h in range(H))
        out.append(min(alpha * np.sqrt(s), 1.0))
    return np.array(out)


def test_bonus_matches_per_history_transcription():
    pomdp = tiger(horizon=3)
    model = line_class(pomdp, 5, seed=1)[1]
    data = []
    for h in range(3):
        tr = _sample(pomdp, 5 + h, 3, h)
        data.append((tr.actions, tr.observations))
    fast = trajectory_bonus(model, data, 3, alpha=0.7, lam=0.5)
    slow = _naive_bonus(model, data, 3, 0.7, 0.5)
    ok = ~np.isnan(slow)
    np.testing.assert_allclose(fast[ok], slow[ok], rtol=1e-10)
    assert np.all((fast >= 0) & (fast <= 1))


@pytest.mark.parametrize("n", [200, 1000])
def test_bonus_upper_bounds_tv_after_enough_data(n):
    """The key lemma, numerically: for the policy attaining max_pi TV(P_hat, P*),
    V^pi_{theta_hat, b} >= TV^pi, and the bonus-optimal value >= max TV; the bound
    is not vacuous (well below 1) and shrinks with n."""
    H = 2
    pomdp = tiger(horizon=H)
    values = []
    for seed in range(8):
        tr = _sample(pomdp, n, H, seed)
        fin = _Finite(line_class(pomdp, 41))
        fin.add(tr.actions, tr.observations)
        model = fin.candidates[fin.mle(np.log(1e-6))]
        b = trajectory_bonus(model, (tr.actions, tr.observations), H, alpha=2.0, lam=1.0)
        P = history_probabilities(model, H)[H]
        tv, pol = max_tv_distance(model, pomdp, H)
        v_tv_policy = float(pol.trajectory_weights() @ (P * b))
        v_best, _ = maximize_over_histories(P * b, pomdp.A, pomdp.n_observations, H)
        assert v_tv_policy >= tv - 1e-12, (seed, v_tv_policy, tv)
        assert v_best >= tv - 1e-12
        values.append(v_best)
    assert max(values) < (0.5 if n == 200 else 0.25)


def test_learners_registered():
    for name, cls in (("ucb-psr", UCBPSR), ("psr-lcb", PSRLCB), ("omle", OMLE)):
        assert isinstance(ALGORITHMS[name](), cls)


@pytest.mark.parametrize("cls", [UCBPSR, OMLE, PSRLCB])
def test_check_algorithm(cls):
    check_algorithm(cls)


def test_tv_error_and_suboptimality_shrink_on_tiger():
    pomdp = tiger(horizon=2)
    curve = UCBPSR(n_models=41).run(pomdp, 240, seed=0, n_seeds=6, checkpoint_every=8)
    first = curve.tv_error[:, :2].mean()
    last = curve.tv_error[:, -4:].mean()
    assert last <= 0.5 * first, (first, last)
    assert curve.suboptimality[:, -4:].mean() <= 0.5 * curve.suboptimality[:, :2].mean()
    # The output policy's value is the exact history-tree value in the true model.
    v_star = optimal_history_policy(pomdp, 2)[0]
    assert curve.optimal_value == pytest.approx(v_star)
    assert np.all(curve.suboptimality >= -1e-12)


def test_psr_lcb_policy_is_exactly_evaluated():
    pomdp = tiger(horizon=2)
    learner = PSRLCB(n_models=9, bonus_scale=0.1)
    snaps = list(learner.policies(pomdp, 100, np.array([50, 100]), 3))
    for snap in snaps:
        assert snap.used <= 100 and "tv_error" in snap.extras and "lcb" in snap.extras
        v = history_policy_value(pomdp, snap.policy)
        assert v <= optimal_history_policy(pomdp, 2)[0] + 1e-12


def test_em_class_path_runs():
    pytest.importorskip("mdplab.algorithms.psr_estimation")
    curve = PSRLCB(models="em", bonus_scale=0.1).run(tiger(horizon=2), 40, seed=1,
                                                     checkpoint_every=20)
    assert curve.values.shape == (1, 2) and np.all(np.isfinite(curve.tv_error))


def test_bad_inputs_say_what_limit_was_hit():
    pomdp = tiger(horizon=2)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        UCBPSR(alpha=-0.1)
    with pytest.raises(ValueError, match=r"p_min must be in \(0, 1\)"):
        UCBPSR(p_min=0.0)
    with pytest.raises(ValueError, match=r"p_min must be in \(0, 1\)"):
        PSRLCB(p_min=1.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        OMLE(beta=-1.0)
    with pytest.raises(ValueError, match="OMLE needs a finite class"):
        OMLE(models="em")
    # A class over other action / observation sets.
    other = random_revealing_pomdp(2, 3, 2, horizon=2, seed=0)
    with pytest.raises(ValueError, match=r"models\[0\] has A=2, O=3 but the POMDP has A=3, O=2"):
        UCBPSR(models=[other]).run(pomdp, 4)
    # A horizon above the exact planner's limit.
    long = tiger(horizon=9)
    with pytest.raises(ValueError, match=r"\(A\*O\)\^H = .*10077696 histories, above the exact "
                                         r"planner's limit max_leaves=200000"):
        UCBPSR().run(long, 4)
    with pytest.raises(ValueError, match="max_leaves=1000"):
        OMLE(max_leaves=1000).run(tiger(horizon=4), 4)
    with pytest.raises(ValueError, match="finite-horizon"):
        UCBPSR().run(tiger(gamma=0.9), 4)
    with pytest.raises(TypeError, match="POMDP"):
        UCBPSR().run(np.zeros(3), 4)


def test_offsets():
    np.testing.assert_array_equal(_offsets(6, 3), [0, 1, 7, 43])


def test_ucb_psr_rolls_in_with_its_policy_and_accumulates_gram_counts():
    """Episode h of an iteration follows pi^{k-1} for its first h steps, and the
    counts behind U_h are those of every episode collected so far (D_h grows)."""
    pomdp = tiger(horizon=3)
    A, O, H = pomdp.A, pomdp.n_observations, 3
    learner = UCBPSR(n_models=9)
    seen, episodes = [], []
    collect, bonus_policy = learner._collect, learner._bonus_policy

    def spy_collect(truth, policy, core, rng):
        out = collect(truth, policy, core, rng)
        if policy is not None:
            for h in range(H):
                for t in range(h):
                    assert out[0][h, t] == policy.action(out[0][h, :t], out[1][h, :t])
        episodes.append(out[:2])
        return out

    def spy_bonus(info, counts, H_):
        seen.append(counts.copy())
        return bonus_policy(info, counts, H_)

    learner._collect, learner._bonus_policy = spy_collect, spy_bonus
    list(learner.policies(pomdp, 30, np.array([30]), 0))
    assert len(seen) == 10
    off = _offsets(A * O, H)
    for k, counts in enumerate(seen):
        data = [(np.concatenate([e[0][h:h + 1] for e in episodes[:k + 1]]),
                 np.concatenate([e[1][h:h + 1] for e in episodes[:k + 1]])) for h in range(H)]
        ref = np.zeros(off[H], dtype=np.int64)
        for h in range(H):
            idx = (data[h][0][:, :h] * O + data[h][1][:, :h]) @ (A * O) ** np.arange(h)[::-1] \
                if h else np.zeros(k + 1, dtype=np.int64)
            ref[off[h]:off[h + 1]] += np.bincount(idx, minlength=off[h + 1] - off[h])
        np.testing.assert_array_equal(counts, ref)

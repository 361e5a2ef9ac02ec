"""Property tests (issue 16): random valid and invalid inputs to the model
constructors and the exact solvers.

Promises checked: only ValueError / TypeError escape on invalid input; valid
input gives finite results; documented invariants hold (stochastic rows, the
value-iteration certificate bounds the true error against policy iteration,
POMDP and PSR history probabilities over all observation sequences sum to 1).

Profiles: the default keeps this file at a few tens of seconds on 2 cores;
``HYPOTHESIS_PROFILE=long`` (registered in conftest.py and here) runs many more
examples, outside CI.
"""

from __future__ import annotations

import itertools
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mdplab  # noqa: F401  (attaches the planning methods)
from mdplab.models import POMDP, PSR, LatentMDP, LowRankMDP, TabularMDP
from mdplab.planning import (
    backward_induction,
    evaluate_policy,
    policy_iteration,
    solve_cvar,
    value_iteration,
)

settings.register_profile("properties", deadline=None, max_examples=150, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("properties-long", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(
    "properties-long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "properties"
)
prop = settings(PROFILE)

BAD = (ValueError, TypeError)


def _expect_clean(fn, *args, **kwargs):
    """Call ``fn``; return its result, or None if it raised ValueError / TypeError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # non-convergence warnings
            return fn(*args, **kwargs)
    except BAD:
        return None


def _simplex(rng, shape, zeros=0.3):
    x = rng.random(shape) * (rng.random(shape) > zeros)
    flat = x.reshape(-1, shape[-1])
    empty = flat.sum(1) == 0
    flat[empty, rng.integers(0, shape[-1], empty.sum())] = 1.0
    x = flat.reshape(shape)
    return x / x.sum(-1, keepdims=True)


# Corruptions of an array argument: each returns something a constructor must refuse.
CORRUPTIONS = ("nan", "inf", "negative", "unnormalised", "extra_axis", "str", "complex",
               "object", "none", "short_last", "ragged")


def _corrupt(arr: np.ndarray, how: str, rng, *, stochastic: bool):
    a = np.array(arr, dtype=np.float64, copy=True)
    idx = tuple(int(rng.integers(0, n)) for n in a.shape)
    if how == "nan":
        a[idx] = np.nan
    elif how == "inf":
        a[idx] = np.inf
    elif how == "negative":
        a[idx] = -0.5 if stochastic else -np.inf
    elif how == "unnormalised":
        if not stochastic:
            a[idx] = np.nan
        else:
            a[idx] += 0.25
    elif how == "ragged":
        return [a.tolist(), [0.0]]
    elif how == "extra_axis":
        return a[None, None]
    elif how == "str":
        return a.astype(str)
    elif how == "complex":
        return a + 1j
    elif how == "object":
        return np.array([a, None], dtype=object)
    elif how == "none":
        return None
    elif how == "short_last":
        return a[..., :-1] if a.shape[-1] > 1 else a[..., :0]
    return a


JUNK_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.booleans(),
    st.integers(-5, 5), st.none(), st.just([1]), st.complex_numbers(max_magnitude=2),
)


# ----------------------------------------------------------------- tabular
@st.composite
def tabular_args(draw, *, episodic=None):
    S = draw(st.integers(1, 4))
    A = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ep = draw(st.booleans()) if episodic is None else episodic
    scale = draw(st.sampled_from([1.0, 1e3, 1e-6]))
    if ep:
        H = draw(st.integers(1, 4))
        stage = draw(st.booleans())
        P = _simplex(rng, (H, S, A, S) if stage else (S, A, S))
        R = rng.uniform(-1, 1, (H, S, A) if stage else (S, A)) * scale
        return P, R, {"horizon": H}, rng
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    return _simplex(rng, (S, A, S)), rng.uniform(-1, 1, (S, A)) * scale, {"gamma": gamma}, rng


@prop
@given(tabular_args())
def test_tabular_valid_is_stochastic(args):
    P, R, kw, _ = args
    mdp = TabularMDP(P, R, **kw)
    for h in range(mdp.horizon or 1):
        Ph = np.asarray(mdp.P_at(h))
        assert np.all(Ph >= 0)
        np.testing.assert_allclose(Ph.sum(-1), 1.0, atol=1e-9)


@prop
@given(tabular_args(), st.sampled_from(CORRUPTIONS), st.sampled_from(["P", "R"]))
def test_tabular_invalid_arrays_raise_clean(args, how, which):
    P, R, kw, rng = args
    if which == "P":
        P = _corrupt(P, how, rng, stochastic=True)
    else:
        R = _corrupt(R, how, rng, stochastic=False)
    with pytest.raises(BAD):
        TabularMDP(P, R, **kw)


@prop
@given(tabular_args(), JUNK_SCALARS, st.sampled_from(["gamma", "horizon"]))
def test_tabular_scalar_args_only_clean_errors(args, junk, key):
    P, R, _, _ = args
    if P.ndim == 4:
        return
    mdp = _expect_clean(TabularMDP, P, R, **{key: junk})
    if mdp is not None:  # accepted: it must be a valid value
        if key == "gamma":
            assert 0.0 <= mdp.gamma < 1.0
        else:
            assert isinstance(mdp.horizon, int) and mdp.horizon >= 1


# ----------------------------------------------------------------- solvers
@prop
@given(tabular_args(episodic=False), st.sampled_from([1e-2, 1e-5, 1e-8]))
def test_vi_certificate_bounds_true_error(args, eps):
    P, R, kw, _ = args
    mdp = TabularMDP(P, R, **kw)
    vi = value_iteration(mdp, eps=eps)
    pi = policy_iteration(mdp)
    for res in (vi, pi):
        assert np.all(np.isfinite(res.values)) and np.all(np.isfinite(res.q))
        assert np.isfinite(res.error_bound)
    scale = 1.0 + np.abs(pi.values).max()
    err = np.abs(vi.values - pi.values).max()
    assert err <= vi.error_bound + pi.error_bound + 1e-12 * scale
    # the greedy policy's exact value is within the certificate too
    ev = evaluate_policy(mdp, vi.policy)
    assert np.all(np.isfinite(ev.values))


@prop
@given(tabular_args(episodic=True))
def test_backward_induction_finite_and_consistent(args):
    P, R, kw, _ = args
    mdp = TabularMDP(P, R, **kw)
    res = backward_induction(mdp)
    H = mdp.horizon
    assert res.values.shape == (H + 1, mdp.S)
    assert np.all(np.isfinite(res.values)) and np.all(res.values[H] == 0)
    ev = evaluate_policy(mdp, res.policy)
    scale = 1.0 + np.abs(res.values).max()
    np.testing.assert_allclose(ev.values, res.values, atol=1e-9 * scale)


@prop
@given(tabular_args(), JUNK_SCALARS, st.sampled_from(["eps", "max_iter", "V0",
                                                       "stopping_rule"]))
def test_solver_options_only_clean_errors(args, junk, key):
    P, R, kw, _ = args
    mdp = TabularMDP(P, R, **kw)
    if key == "eps" and isinstance(junk, float) and 0 < junk < 1e-6:
        junk = -junk  # tiny tolerances are valid but slow to reach; keep the run short
    if mdp.horizon is not None:
        _expect_clean(backward_induction, mdp)
        return
    res = _expect_clean(value_iteration, mdp, **{key: junk})
    if res is not None:
        assert np.all(np.isfinite(res.values))
    res = _expect_clean(policy_iteration, mdp, **({"V0": junk} if key == "V0" else {}))
    assert res is None or np.all(np.isfinite(res.values))


@prop
@given(st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.integers(0, 2**32 - 1),
       st.sampled_from([0.05, 0.25, 0.5, 1.0]))
def test_solve_cvar_finite_and_bracketed(S, A, H, seed, tau):
    rng = np.random.default_rng(seed)
    R = rng.integers(0, 3, (S, A)) / 2.0  # rewards on a small lattice
    mdp = TabularMDP(_simplex(rng, (S, A, S)), R, horizon=H)
    res = solve_cvar(mdp, tau)
    assert np.isfinite(res.value)
    assert H * R.min() - 1e-9 <= res.value <= H * R.max() + 1e-9
    if tau == 1.0:  # CVaR at tau = 1 is the expectation
        np.testing.assert_allclose(res.value, backward_induction(mdp).values[0] @ mdp.init,
                                   atol=1e-9)


@prop
@given(tabular_args(episodic=True), JUNK_SCALARS)
def test_solve_cvar_tau_only_clean_errors(args, junk):
    P, R, kw, _ = args
    res = _expect_clean(solve_cvar, TabularMDP(np.round(P, 12) / np.round(P, 12).sum(-1,
                                                                                    keepdims=True),
                                               np.round(R, 1), **kw), junk)
    if res is not None:
        assert np.isfinite(res.value)


# ----------------------------------------------------------------- POMDP / PSR
@st.composite
def pomdp_args(draw):
    S = draw(st.integers(1, 3))
    A = draw(st.integers(1, 2))
    O = draw(st.integers(1, 3))
    H = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    Om = _simplex(rng, (A, S, O)) if draw(st.booleans()) else _simplex(rng, (S, O))
    return S, A, O, H, _simplex(rng, (S, A, S)), Om, rng.uniform(-1, 1, (S, A)), \
        _simplex(rng, (S,)), rng


@prop
@given(pomdp_args())
def test_pomdp_and_psr_history_probabilities_sum_to_one(args):
    S, A, O, H, T, Om, R, b0, rng = args
    pomdp = POMDP(T, Om, R, b0, horizon=H)
    psr = PSR.from_pomdp(pomdp)
    actions = [int(a) for a in rng.integers(0, A, H)]
    total_pomdp = total_psr = 0.0
    for obs in itertools.product(range(O), repeat=H):
        p = pomdp.history_probability(actions, list(obs))
        q = psr.history_probability(actions, list(obs))
        assert np.isfinite(p) and -1e-12 <= p <= 1 + 1e-12
        assert abs(p - q) <= 1e-9
        total_pomdp += p
        total_psr += q
    assert abs(total_pomdp - 1.0) <= 1e-9
    assert abs(total_psr - 1.0) <= 1e-9


@prop
@given(pomdp_args(), st.sampled_from(CORRUPTIONS), st.sampled_from(["T", "O", "R", "b0"]))
def test_pomdp_invalid_only_clean_errors(args, how, which):
    S, A, O, H, T, Om, R, b0, rng = args
    parts = {"T": T, "O": Om, "R": R, "b0": b0}
    parts[which] = _corrupt(parts[which], how, rng, stochastic=which != "R")
    _expect_clean(POMDP, parts["T"], parts["O"], parts["R"], parts["b0"], horizon=H)


@prop
@given(pomdp_args(), st.lists(JUNK_SCALARS, min_size=1, max_size=3),
       st.lists(st.integers(-2, 4), min_size=1, max_size=4))
def test_history_probability_bad_sequences_only_clean_errors(args, actions, observations):
    S, A, O, H, T, Om, R, b0, rng = args
    pomdp = POMDP(T, Om, R, b0, horizon=H)
    psr = PSR.from_pomdp(pomdp)
    for model in (pomdp, psr):
        p = _expect_clean(model.history_probability, actions, observations)
        assert p is None or np.isfinite(p)


# ----------------------------------------------------------------- latent / low rank
@st.composite
def latent_args(draw):
    Mc = draw(st.integers(1, 3))
    S = draw(st.integers(1, 3))
    A = draw(st.integers(1, 2))
    H = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return _simplex(rng, (Mc, S, A, S)), rng.uniform(0, 1, (Mc, S, A)), \
        _simplex(rng, (Mc,), zeros=0.0), H, rng


@prop
@given(latent_args(), st.sampled_from(CORRUPTIONS + ("valid",)),
       st.sampled_from(["P", "R", "weights"]))
def test_latent_constructor(args, how, which):
    P, R, w, H, rng = args
    parts = {"P": P, "R": R, "weights": w}
    if how != "valid":
        parts[which] = _corrupt(parts[which], how, rng, stochastic=which != "R")
    lm = _expect_clean(LatentMDP, parts["P"], parts["R"], parts["weights"], horizon=H)
    if how == "valid":
        assert lm is not None
        np.testing.assert_allclose(lm.weights.sum(), 1.0, atol=1e-9)
        for m in range(lm.M):
            np.testing.assert_allclose(lm.context(m).P_at(0).sum(-1), 1.0, atol=1e-9)
        assert np.isfinite(lm.oracle_value())


@st.composite
def lowrank_args(draw):
    S = draw(st.integers(1, 4))
    A = draw(st.integers(1, 3))
    d = draw(st.integers(1, 3))
    H = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return _simplex(rng, (S, A, d)), _simplex(rng, (d, S)), rng.uniform(-1, 1, (S, A)), H, rng


@prop
@given(lowrank_args(), st.sampled_from(CORRUPTIONS + ("valid",)),
       st.sampled_from(["phi", "mu", "R"]))
def test_lowrank_constructor(args, how, which):
    phi, mu, R, H, rng = args
    parts = {"phi": phi, "mu": mu, "R": R}
    if how != "valid":
        parts[which] = _corrupt(parts[which], how, rng, stochastic=which != "R")
    lr = _expect_clean(LowRankMDP, parts["phi"], parts["mu"], parts["R"], horizon=H)
    if how == "valid":
        assert lr is not None
        P = lr.P_at(0)
        assert np.all(P >= -1e-12)
        np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-9)
        res = backward_induction(lr.to_tabular())
        assert np.all(np.isfinite(res.values))

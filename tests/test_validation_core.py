"""Issue 16: the shared validation layer (mdplab.models._validation) and the bad-input
cases of the tabular model, the planners, the samplers and the hardness measures.

Every case checks the exception type and that the message names the argument.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from mdplab import hardness, sampling
from mdplab.models import TabularMDP
from mdplab.models._validation import (
    VALUE_LIMIT,
    ArgumentTypeError,
    check_bool,
    check_index,
    check_int,
    check_model,
    check_probability,
    check_real,
    check_tolerance,
    check_value_range,
    check_value_vector,
)
from mdplab.planning import (
    BellmanOperator,
    PlanningResult,
    backward_induction,
    evaluate_policy,
    modified_policy_iteration,
    policy_iteration,
    solve,
    solve_lp,
    value_iteration,
)
from mdplab.planning.discounted import DEFAULT_MAX_SWEEPS

P2 = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5], [0.0, 1.0]]])
R2 = np.array([[0.0, 1.0], [1.0, 0.5]])


def disc(R=R2, gamma=0.9):
    return TabularMDP(P2, R, gamma=gamma)


def stagewise():
    return TabularMDP(np.stack([P2] * 3), np.stack([R2, 2 * R2, 3 * R2]), horizon=3)


# ------------------------------------------------------------------ helpers
@pytest.mark.parametrize("value, exc", [
    (True, TypeError), ("0.5", TypeError), (None, TypeError), (float("nan"), ValueError),
    (float("inf"), ValueError), (-0.1, ValueError), (1.5, ValueError),
])
def test_check_real_and_probability_refuse(value, exc):
    with pytest.raises(exc, match="p_arg"):
        check_probability(value, "p_arg")
    with pytest.raises(exc, match="x_arg"):
        check_real(value, "x_arg", lo=0.0, hi=1.0)


def test_check_real_accepts_and_converts():
    assert check_real(np.float32(0.25), "x", lo=0) == 0.25
    assert check_real(3, "x") == 3.0 and isinstance(check_real(3, "x"), float)
    assert check_probability(1, "p") == 1.0
    with pytest.raises(ValueError, match=r"x must be in \[0, 1\); got 1.0"):
        check_real(1.0, "x", lo=0.0, hi=1.0, hi_open=True)


@pytest.mark.parametrize("value, exc", [
    (True, TypeError), (2.5, TypeError), (2.0, TypeError), ("3", TypeError),
    (np.float64(1.0), TypeError), (-1, ValueError), (11, ValueError),
])
def test_check_int_refuses(value, exc):
    with pytest.raises(exc, match="n_arg must be an integer >= 0 <= 10"):
        check_int(value, "n_arg", lo=0, hi=10)


def test_check_int_accepts_numpy_ints():
    assert check_int(np.int64(4), "n", lo=0) == 4 and type(check_int(np.int64(4), "n")) is int


def test_type_errors_are_also_value_errors():
    # Older callers catch ValueError for every bad input: both still work.
    with pytest.raises(ValueError):
        check_int(1.5, "n")
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)


@pytest.mark.parametrize("value, exc", [
    (0.0, ValueError), (-1e-3, ValueError), (float("nan"), ValueError), ("1e-3", TypeError),
    (True, TypeError), (2.0, ValueError),
])
def test_check_tolerance(value, exc):
    with pytest.raises(exc, match="tol_arg"):
        check_tolerance(value, "tol_arg", upper=1.0)
    assert check_tolerance(1e-12, "tol") == 1e-12


@pytest.mark.parametrize("value, exc", [
    (-1, ValueError), (3, ValueError), (0.5, TypeError), (1.0, TypeError), (True, TypeError),
    ("1", TypeError),
])
def test_check_index_no_wraparound_no_truncation(value, exc):
    with pytest.raises(exc, match="idx_arg"):
        check_index(value, "idx_arg", 3)
    assert check_index(np.int32(2), "i", 3) == 2


def test_check_model_and_bool():
    with pytest.raises(TypeError, match="f_name: expected a TabularMDP as mdp; got str"):
        check_model("not an mdp", TabularMDP, "f_name")
    with pytest.raises(TypeError, match="flag_arg must be True or False"):
        check_bool("yes", "flag_arg")
    assert check_bool(np.bool_(True), "flag") is True


def test_check_value_vector_and_range():
    with pytest.raises(ValueError, match=r"V_arg\[1\] is nan"):
        check_value_vector([0.0, np.nan], (2,), "V_arg")
    with pytest.raises(ValueError, match="V_arg must have shape"):
        check_value_vector([0.0], (2,), "V_arg")
    with pytest.raises(ValueError, match="V_arg must be a real numeric array"):
        check_value_vector("ab", (2,), "V_arg")
    assert check_value_range([1.0], gamma=0.5) == 2.0
    assert check_value_range([2.0], horizon=4) == 8.0
    with pytest.raises(ValueError, match="gamma=0.9.*overflows float64"):
        check_value_range([1e308], gamma=0.9, fn="f")
    with pytest.raises(ValueError, match="horizon=10"):
        check_value_range([VALUE_LIMIT / 20], horizon=10)


# --------------------------------------------------------------- the model
def test_stage_accessors_refuse_bad_stages():
    m = stagewise()
    np.testing.assert_array_equal(m.R_at(2), 3 * R2)
    for bad in (99, 3, -1):
        with pytest.raises(ValueError, match=f"stage h {bad} is not in"):
            m.P_at(bad)
        with pytest.raises(ValueError, match=f"stage h {bad} is not in"):
            m.R_at(bad)
    with pytest.raises(TypeError, match="stage h must be an integer"):
        m.P_at(1.5)
    with pytest.raises(ValueError, match="single stage 0"):
        disc().R_at(1)


def test_complex_sparse_P_refused_like_dense():
    Pc = sp.csr_matrix(P2.reshape(4, 2).astype(complex) + 1e-3j)
    with pytest.raises(ValueError, match="P must be a real numeric array.*complex"):
        TabularMDP(Pc, R2, gamma=0.9)
    with pytest.raises(ValueError, match="P must be a real numeric array.*complex"):
        TabularMDP(P2.astype(complex), R2, gamma=0.9)


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match="name must be a string"):
        TabularMDP(P2, R2, gamma=0.9, name=3)


def test_ragged_policy_names_policy():
    with pytest.raises(ValueError, match="policy must be an array"):
        evaluate_policy(disc(), [[0.5], [0.5, 0.5]])


# ---------------------------------------------------------------- planning
SOLVERS = [
    ("evaluate_policy", lambda m: evaluate_policy(m, np.array([0, 0]))),
    ("solve", solve),
    ("value_iteration", value_iteration),
    ("policy_iteration", policy_iteration),
    ("modified_policy_iteration", modified_policy_iteration),
    ("solve_lp", solve_lp),
    ("backward_induction", backward_induction),
    ("BellmanOperator", BellmanOperator),
]


@pytest.mark.parametrize("name, fn", SOLVERS, ids=[s[0] for s in SOLVERS])
def test_planners_refuse_non_models(name, fn):
    with pytest.raises(TypeError, match=f"{name}: expected a TabularMDP as mdp; got str"):
        fn("not an mdp")


def test_solve_lp_nan_tolerance_refused_before_highs():
    with pytest.raises(ValueError, match="tol must be a finite real number"):
        solve_lp(disc(), tol=float("nan"))
    # The crash was a SIGSEGV inside HiGHS: check a fresh interpreter survives.
    code = ("from mdplab.models import TabularMDP; from mdplab.planning import solve_lp\n"
            "import numpy as np\n"
            "m = TabularMDP(np.full((2, 2, 2), 0.5), np.eye(2), gamma=0.9)\n"
            "try:\n    solve_lp(m, tol=float('nan'))\nexcept ValueError as e:\n"
            "    print('refused', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused tol" in out.stdout


@pytest.mark.parametrize("tol, exc", [(5.0, ValueError), (1e-12, ValueError),
                                      ("1e-9", TypeError), (0.0, ValueError)])
def test_solve_lp_tolerance_range(tol, exc):
    with pytest.raises(exc, match="tol must be"):
        solve_lp(disc(), tol=tol)


def test_solve_lp_polish_must_be_bool():
    with pytest.raises(TypeError, match="polish must be True or False"):
        solve_lp(disc(), polish="no")


@pytest.mark.parametrize("fn", [value_iteration, modified_policy_iteration, solve])
@pytest.mark.parametrize("eps, exc", [("1e-3", TypeError), (True, TypeError),
                                      (float("nan"), ValueError), (0.0, ValueError),
                                      (-1.0, ValueError)])
def test_eps_is_a_positive_finite_real(fn, eps, exc):
    with pytest.raises(exc, match="eps must be"):
        fn(disc(), eps=eps)


def test_integer_arguments_refuse_floats():
    with pytest.raises(TypeError, match="max_iter must be an integer"):
        value_iteration(disc(), max_iter=10.0)
    with pytest.raises(TypeError, match="m .partial evaluation sweeps. must be an integer"):
        modified_policy_iteration(disc(), m=1.5)


HUGE = np.array([[1e308, -1e308], [1e308, 1e308]])


@pytest.mark.parametrize("name, fn", [
    ("value_iteration", value_iteration), ("policy_iteration", policy_iteration),
    ("modified_policy_iteration", modified_policy_iteration), ("solve_lp", solve_lp),
    ("solve", solve), ("evaluate_policy", lambda m: evaluate_policy(m, np.array([0, 1]))),
])
def test_value_range_overflow_refused_up_front(name, fn):
    with pytest.raises(ValueError, match=f"{name}: rewards up to max.R. = 1e\\+308.*overflows"):
        fn(disc(R=HUGE))
    # 1e290 fits: finite results.
    res = fn(disc(R=HUGE * 1e-18))
    assert np.isfinite(res.values).all()


def test_value_range_finite_horizon():
    m = TabularMDP(P2, HUGE, horizon=5)
    with pytest.raises(ValueError, match="backward_induction: .*horizon=5"):
        backward_induction(m)
    with pytest.raises(ValueError, match="V0 has entries up to"):
        value_iteration(disc(), V0=np.array([1e308, 0.0]))


def test_bellman_operator_refuses_nan_values():
    op = BellmanOperator(disc())
    with pytest.raises(ValueError, match=r"V\[0\] is nan"):
        op(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="V must be a real numeric array"):
        op("ab")
    with pytest.raises(ValueError, match="out must be"):
        op(np.zeros(2), out="x")
    with pytest.raises(ValueError, match="gamma must be a finite real"):
        BellmanOperator(disc(), gamma=float("nan"))
    with pytest.raises(ValueError, match="stage h -1 is not in"):
        BellmanOperator(stagewise(), -1)


def test_value_span_and_gaps_refuse_nan_solutions():
    m = disc()
    good = value_iteration(m)
    bad = PlanningResult(np.array([np.nan, 0.0]), good.q, good.policy, 1, 0.0, "x", "y")
    for fn in (hardness.value_span, hardness.sum_reciprocal_gaps,
               hardness.environmental_value_norm):
        with pytest.raises(ValueError, match=r"solution.values\[0\] is nan"):
            fn(m, solution=bad)
    with pytest.raises(TypeError, match="time_augmented must be True or False"):
        hardness.diameter(m, time_augmented="yes")
    with pytest.raises(TypeError, match="diameter: expected a TabularMDP"):
        hardness.diameter("x")
    with pytest.raises(TypeError, match="tol must be a real number"):
        hardness.hardness_report(m, tol="x")


def test_supnorm_near_one_gamma_has_a_sane_cap_and_warns(monkeypatch):
    import mdplab.planning.discounted as d

    assert DEFAULT_MAX_SWEEPS <= 100_000  # the uncapped formula gave ~4.6e13 sweeps here
    monkeypatch.setattr(d, "DEFAULT_MAX_SWEEPS", 500)  # keep the test fast: same code path
    m = disc(gamma=1 - 1e-12)
    with pytest.warns(RuntimeWarning, match=r"certified error of the returned values is"):
        res = value_iteration(m, stopping_rule="supnorm")
    assert not res.converged
    assert res.iterations == 510
    assert np.isfinite(res.values).all() and np.isfinite(res.error_bound)


def test_mpi_unconverged_warns_with_certificate():
    with pytest.warns(RuntimeWarning, match="modified_policy_iteration stopped after 2"):
        res = modified_policy_iteration(disc(R=np.array([[0.0, 1.0], [0.2, 0.5]]), gamma=0.999),
                                        eps=1e-14, max_iter=2, m=1)
    assert not res.converged and np.isfinite(res.error_bound)


def test_converged_solvers_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value_iteration(disc())
        modified_policy_iteration(disc())
        solve(disc())


# ---------------------------------------------------------------- sampling
def test_samplers_refuse_float_indices():
    m = stagewise()
    with pytest.raises(TypeError, match="state s must be an integer; got 0.5"):
        sampling.sample(m, 0.5, 0, 3, seed=0)
    with pytest.raises(TypeError, match="action a must be an integer; got 1.5"):
        sampling.sample(m, 0, 1.5, 3, seed=0)
    with pytest.raises(ValueError, match="state s -1 is not in"):
        sampling.sample(m, -1, 0, 3, seed=0)
    with pytest.raises(ValueError, match="stage h -1 is not in"):
        sampling.sample_all(m, 2, seed=0, h=-1)
    sim = sampling.EpisodicSimulator(m, seed=0)
    sim.reset()
    with pytest.raises(TypeError, match="action must be an integer; got 0.5"):
        sim.step(0.5)
    with pytest.raises(TypeError, match="state must be an integer; got 1.5"):
        sim.reset(state=1.5)
    with pytest.raises(TypeError, match="n_episodes must be an integer"):
        sampling.rollout(m, np.zeros(2, dtype=int), 2.0)
    with pytest.raises(TypeError, match="rollout: expected a TabularMDP"):
        sampling.rollout("x", np.zeros(2, dtype=int), 2)


def test_samplers_refuse_oversized_output_up_front():
    m = disc()
    with pytest.raises(ValueError, match=r"sample: n = 10000000000000 draws would need"):
        sampling.sample(m, 0, 0, 10**13)
    with pytest.raises(ValueError, match=r"sample_all: n = 1000000000000 draws"):
        sampling.sample_all(m, 10**12)
    with pytest.raises(ValueError, match=r"rollout: n_episodes = 100000000000 episodes"):
        sampling.rollout(m, np.zeros(2, dtype=int), 10**11, length=10)


def test_hardness_value_measures_refuse_overflowing_rewards_diameter_does_not():
    m = disc(R=HUGE)
    assert np.isfinite(hardness.diameter(m))  # rewards play no part in the diameter
    for name in ("sum_reciprocal_gaps", "environmental_value_norm", "value_span",
                 "hardness_report"):
        with pytest.raises(ValueError, match=f"{name}: rewards up to"):
            getattr(hardness, name)(m)

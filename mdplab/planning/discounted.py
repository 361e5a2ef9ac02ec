"""Certified solvers for discounted MDPs: VI, PI, modified PI and an auto solver.

All three rest on the same certificate. For any ``V``, with ``delta = T V - V``,
the Bellman operator's monotonicity and ``T(V + c) = T V + gamma c`` give
(MacQueen 1966; Puterman 1994, Thm 6.6.3)

    T V + gamma/(1-gamma) min(delta)  <=  V*  <=  T V + gamma/(1-gamma) max(delta).

Two stopping rules follow, both bounding ``||V_returned - V*||_inf``:

* ``"bounds"`` (default): return the midpoint ``T V + gamma/(1-gamma) (max+min)/2 delta``
  with ``error_bound = gamma/(1-gamma) * span(delta) / 2``. On well-mixing
  models the span of ``delta`` contracts far faster than ``gamma``, so this
  stops after a handful of sweeps with a certified sup-norm bound.
* ``"supnorm"``: return ``T V`` with ``error_bound = gamma/(1-gamma) * ||delta||_inf``
  (the classical rule; needs about ``log(1/eps) / (1-gamma)`` sweeps).

The span of ``delta`` alone never decides anything: it only enters through the
bound above, which is a bound on the returned values. The returned policy is
greedy with respect to the returned values; it is ``2 gamma eps/(1-gamma)``-optimal
when the values are ``eps``-accurate (``info["policy_error_bound"]``).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from mdplab.models import TabularMDP
from mdplab.models._validation import (
    VALUE_LIMIT,
    check_int,
    check_model,
    check_tolerance,
    check_value_range,
    check_value_vector,
)
from mdplab.planning.evaluation import normalize_policy, solve_policy_values
from mdplab.planning.finite_horizon import backward_induction
from mdplab.planning.operator import BellmanOperator
from mdplab.planning.result import PlanningResult

_RULES = ("bounds", "supnorm")

DEFAULT_MAX_SWEEPS = 100_000
"""Cap on the *default* sweep budget of :func:`value_iteration` (the
``log(scale/eps)/(1-gamma)`` formula gives ~4.6e13 sweeps at gamma = 1 - 1e-12).
When the capped default budget runs out before ``eps`` is certified, a
``RuntimeWarning`` reports the certificate reached (``converged`` is False)."""


def _require_discounted(mdp: TabularMDP, fn: str) -> None:
    check_model(mdp, TabularMDP, fn)
    if not mdp.discounted:
        raise ValueError(
            f"{fn} solves discounted models; this one has horizon={mdp.horizon}: "
            "use backward_induction"
        )
    check_value_range(mdp.R, gamma=mdp.gamma, fn=fn)


def _check_eps(eps) -> float:
    return check_tolerance(eps, "eps")


def _check_max_iter(max_iter) -> int:
    return check_int(max_iter, "max_iter", lo=1)


def _warn_unconverged(fn: str, it: int, bound: float, eps: float, what: str) -> None:
    warnings.warn(
        f"{fn} stopped after {it} {what} without reaching eps = {eps:.3g}: the certified "
        f"error of the returned values is {bound:.3g} (converged=False); pass a larger "
        "max_iter or a larger eps",
        RuntimeWarning,
        stacklevel=3,
    )


def _certify(V, TV, gamma, rule):
    """Returned values and their certified error for one ``(V, T V)`` pair."""
    delta = TV - V
    lo, hi = float(delta.min()), float(delta.max())
    c = gamma / (1.0 - gamma)
    if rule == "bounds":
        return TV + c * 0.5 * (lo + hi), c * 0.5 * (hi - lo), (c * lo, c * hi)
    return TV.copy(), c * max(abs(lo), abs(hi)), (c * lo, c * hi)


def _finish(mdp, stage, V, iterations, bound, method, rule, converged, info):
    Q, _, pi = stage.full_q(V)
    g = mdp.gamma
    info.setdefault("policy_error_bound", 2.0 * g * bound / (1.0 - g))
    return PlanningResult(
        V, Q, pi, iterations, float(bound), method, rule, converged, init=mdp.init, info=info
    )


def _initial_values(mdp, V0):
    if V0 is None:
        # The value of "collect the worst reward forever": T V0 >= V0, so the
        # iterates increase monotonically towards V*.
        return np.full(mdp.S, float(mdp.R.min()) / (1.0 - mdp.gamma))
    V = check_value_vector(V0, (mdp.S,), "V0")
    big = float(np.abs(V).max()) * (1.0 + 1.0 / (1.0 - mdp.gamma))
    if not big <= VALUE_LIMIT:
        raise ValueError(
            f"V0 has entries up to {float(np.abs(V).max()):.3g}; at gamma={mdp.gamma} the "
            f"certificate needs max|V0| * (1 + 1/(1-gamma)) <= {VALUE_LIMIT:g}"
        )
    return V


def value_iteration(
    mdp: TabularMDP,
    eps: float = 1e-8,
    *,
    max_iter: int | None = None,
    stopping_rule: str = "bounds",
    V0=None,
) -> PlanningResult:
    """Value iteration ``V <- T V`` until ``||V_returned - V*||_inf <= eps`` is certified.

    Parameters
    ----------
    mdp : TabularMDP
        A discounted model, dense or sparse.
    eps : float
        Target certified sup-norm error of the returned values.
    max_iter : int, optional
        Sweep budget; default ``ceil(log(span-free bound / eps) / (1-gamma)) + 10``,
        enough for the supnorm rule from any start, capped at
        :data:`DEFAULT_MAX_SWEEPS` (a ``RuntimeWarning`` with the certificate
        reached when that default runs out). ``converged`` is False when hit.
    stopping_rule : {"bounds", "supnorm"}
        See the module docstring: MacQueen-bound midpoint (default) or plain ``T V``.
    V0 : array_like, optional
        Starting values (default ``min R / (1 - gamma)`` everywhere).

    Returns
    -------
    PlanningResult
        ``values (S,)``, greedy ``q`` and ``policy``, ``error_bound``, and in
        ``info`` the lower/upper bound offsets and the per-sweep bound history.
    """
    _require_discounted(mdp, "value_iteration")
    eps = _check_eps(eps)
    if stopping_rule not in _RULES:
        raise ValueError(f"stopping_rule must be one of {_RULES}; got {stopping_rule!r}")
    g = mdp.gamma
    stage = BellmanOperator(mdp)
    V = _initial_values(mdp, V0)
    default_cap = max_iter is None
    if default_cap:
        scale = float(np.ptp(mdp.R)) / (1.0 - g) + float(np.abs(V).max()) + 1.0
        sweeps = math.log(scale / eps) / max(1.0 - g, 1e-12) if g > 0 else 0.0
        max_iter = (min(DEFAULT_MAX_SWEEPS, max(0, math.ceil(min(sweeps, 1e18)))) + 10
                    if g > 0 else 2)
    max_iter = _check_max_iter(max_iter)
    TV = np.empty(mdp.S)
    pi = np.empty(mdp.S, dtype=np.int64)
    history = []
    bound = math.inf
    offsets = (-math.inf, math.inf)
    out = V
    t0 = time.perf_counter()
    it = 0
    while it < max_iter:
        stage.greedy(V, TV, pi)
        it += 1
        out, bound, offsets = _certify(V, TV, g, stopping_rule)
        history.append(bound)
        if bound <= eps:
            break
        V, TV = TV, V
    info = {"bound_history": np.array(history), "bound_offsets": offsets,
            "time_s": time.perf_counter() - t0}
    rule = ("MacQueen bounds: ||V - V*|| <= gamma/(1-gamma) span(TV - V)/2"
            if stopping_rule == "bounds"
            else "sup-norm: ||TV - V*|| <= gamma/(1-gamma) ||TV - V||")
    if default_cap and bound > eps:
        _warn_unconverged("value_iteration", it, bound, eps, "sweeps (the default budget)")
    return _finish(mdp, stage, out, it, bound, "value_iteration", rule, bound <= eps, info)


def _improve(stage, V, pi, Q_buf, V_buf, pi_buf, tol):
    """Greedy improvement that keeps the current action on (near-)ties.

    Keeping ``pi(s)`` whenever ``Q(s, pi(s)) >= max_a Q(s, a) - tol`` prevents
    cycling between equally good actions through rounding noise.
    """
    stage.q(V, Q_buf, V_buf, pi_buf)
    rows = np.arange(len(pi))
    keep = Q_buf[rows, pi] >= V_buf - tol
    return np.where(keep, pi, pi_buf)


def policy_iteration(
    mdp: TabularMDP,
    *,
    max_iter: int = 1000,
    init_policy=None,
) -> PlanningResult:
    """Howard's policy iteration with exact (linear-solve) policy evaluation.

    ``pi_0`` is greedy for the immediate reward (or ``init_policy``); then
    ``V_k = V^{pi_k}`` by a direct solve of ``(I - gamma P_pi) V = r_pi`` and
    ``pi_{k+1} = greedy(V_k)`` until the policy is stable. The policy is then
    optimal and ``error_bound = ||T V - V||_inf / (1 - gamma)`` certifies the
    values against rounding in the solve (it is ~1e-12 in practice).
    """
    _require_discounted(mdp, "policy_iteration")
    max_iter = _check_max_iter(max_iter)
    stage = BellmanOperator(mdp)
    S, A = mdp.S, mdp.A
    if init_policy is None:
        pi = np.argmax(mdp.R, axis=1).astype(np.int64)
    else:
        det, arr = normalize_policy(mdp, np.asarray(init_policy))
        if not det:
            raise ValueError("init_policy must be deterministic (integer dtype, shape (S,))")
        pi = arr[0].copy()
    Q = np.empty((S, A))
    TV = np.empty(S)
    greedy = np.empty(S, dtype=np.int64)
    scale = float(np.abs(mdp.R).max()) / (1.0 - mdp.gamma) + 1.0
    tol = 1e-12 * scale
    converged = False
    it = 0
    while it < max_iter:
        V, _ = solve_policy_values(mdp, True, pi)
        it += 1
        new_pi = _improve(stage, V, pi, Q, TV, greedy, tol)
        if np.array_equal(new_pi, pi):
            converged = True
            break
        pi = new_pi
    residual = float(np.max(np.abs(TV - V)))
    bound = residual / (1.0 - mdp.gamma)
    rule = "policy stable; bound = ||TV - V|| / (1 - gamma)"
    info = {"residual": residual}
    return _finish(mdp, stage, V, it, bound, "policy_iteration", rule, converged, info)


def modified_policy_iteration(
    mdp: TabularMDP,
    eps: float = 1e-8,
    *,
    m: int = 20,
    max_iter: int = 100_000,
    V0=None,
) -> PlanningResult:
    """Modified policy iteration (Puterman & Shin 1978) with certified stopping.

    Each outer step computes ``T V`` and its greedy ``pi``, checks the
    MacQueen bound on the midpoint (module docstring) and, if it exceeds
    ``eps``, applies ``T_pi`` a further ``m`` times (partial evaluation).
    ``m = 0`` is value iteration; ``m -> inf`` approaches policy iteration.
    """
    _require_discounted(mdp, "modified_policy_iteration")
    eps = _check_eps(eps)
    max_iter = _check_max_iter(max_iter)
    m = check_int(m, "m (partial evaluation sweeps)", lo=0)
    g = mdp.gamma
    stage = BellmanOperator(mdp)
    V = _initial_values(mdp, V0)
    TV = np.empty(mdp.S)
    buf = np.empty(mdp.S)
    pi = np.empty(mdp.S, dtype=np.int64)
    bound = math.inf
    out = V
    it = 0
    sweeps = 0
    while it < max_iter:
        stage.greedy(V, TV, pi)
        it += 1
        sweeps += 1
        out, bound, _ = _certify(V, TV, g, "bounds")
        if bound <= eps:
            break
        V, TV = TV, V
        for _ in range(m):
            stage.policy(pi, V, buf)
            V, buf = buf, V
        sweeps += m
    if bound > eps:
        _warn_unconverged("modified_policy_iteration", it, bound, eps, "improvement steps")
    rule = "MacQueen bounds after each improvement step"
    info = {"sweeps": sweeps, "m": m}
    return _finish(mdp, stage, out, it, bound, "modified_policy_iteration", rule,
                   bound <= eps, info)


def solve(mdp: TabularMDP, eps: float = 1e-8) -> PlanningResult:
    """Optimal values with certified error ``<= eps``, by the fastest sound route.

    Finite-horizon models go to :func:`backward_induction` (exact). Discounted
    models first run value iteration with MacQueen bounds for a few dozen
    sweeps (enough on well-mixing models); if the bound is not yet ``eps``,
    policy iteration starts from VI's greedy policy (usually 1-2 solves) when
    the model is small enough for a direct solve, else VI continues.
    """
    check_model(mdp, TabularMDP, "solve")
    eps = _check_eps(eps)
    if not mdp.discounted:
        return backward_induction(mdp)
    check_value_range(mdp.R, gamma=mdp.gamma, fn="solve")
    probe = value_iteration(mdp, eps, max_iter=64)
    if probe.converged:
        return probe
    if mdp.S <= 5000:
        res = policy_iteration(mdp, init_policy=probe.policy)
        if res.error_bound <= eps:
            return res
    return value_iteration(mdp, eps, V0=probe.values)

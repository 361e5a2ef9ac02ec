"""Linear-programming solution of MDPs (HiGHS through scipy, or cvxpy).

Discounted primal (d'Epenoux 1963; Puterman 1994, section 6.9), with positive
state weights ``w`` (uniform), so that every state's value is pinned:

    minimise   sum_s w(s) V(s)
    subject to V(s) - gamma sum_{s'} P(s'|s,a) V(s') >= R(s, a)   for all (s, a).

Finite horizon: variables ``V_h(s)`` for ``h < H`` (``V_H = 0``), constraints
``V_h(s) - sum_{s'} P_h(s'|s,a) V_{h+1}(s') >= R_h(s,a)``, objective
``sum_{h,s} V_h(s)``.

The constraint matrix is built sparse, so sparse models stay sparse. LP
solvers stop at a feasibility tolerance (~1e-9 here), so by default the
solution is *polished*: the LP's greedy policy is evaluated exactly (linear
solve or backward recursion) and those values are returned, with the LP's raw
values kept in ``info["lp_values"]``. The certificate is then the same as for
policy iteration, ``||T V - V||_inf / (1 - gamma)`` (0 for finite horizon).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from mdplab.models import TabularMDP
from mdplab.models._validation import (
    check_bool,
    check_model,
    check_tolerance,
    check_value_range,
)
from mdplab.planning.evaluation import evaluate_policy
from mdplab.planning.operator import BellmanOperator
from mdplab.planning.result import PlanningResult

_BACKENDS = ("highs", "cvxpy")

LP_TOL_RANGE = (1e-10, 1e-3)
"""Accepted ``tol`` of :func:`solve_lp`: HiGHS refuses feasibility tolerances
below 1e-10, and above 1e-3 the LP's policy is no longer a useful start (the
polished values are exact either way, but the raw LP is not)."""


def _constraints(mdp: TabularMDP):
    """``(G, b)`` with ``G x >= b`` for the primal in module docstring, x flattened."""
    S, A = mdp.S, mdp.A
    sa_state = np.repeat(np.arange(S), A)
    if mdp.discounted:
        E = sp.csr_matrix((np.ones(S * A), (np.arange(S * A), sa_state)), shape=(S * A, S))
        P = mdp.transition_matrix()
        return (E - mdp.gamma * P).tocsr(), np.asarray(mdp.R, dtype=float).ravel()
    H = mdp.horizon
    n = H * S
    blocks_rows, blocks_b = [], []
    Pm = mdp.transition_matrix()
    stat_P = mdp.transitions_stationary
    for h in range(H):
        Ph = Pm if stat_P else Pm[h * S * A:(h + 1) * S * A]
        E = sp.csr_matrix(
            (np.ones(S * A), (np.arange(S * A), h * S + sa_state)), shape=(S * A, n)
        )
        if h + 1 < H:
            nxt = sp.hstack([sp.csr_matrix((S * A, (h + 1) * S)), Ph,
                             sp.csr_matrix((S * A, n - (h + 2) * S))]).tocsr()
            E = E - nxt
        blocks_rows.append(E)
        blocks_b.append(np.asarray(mdp.R_at(h), dtype=float).ravel())
    return sp.vstack(blocks_rows).tocsr(), np.concatenate(blocks_b)


LP_REWARD_SCALE = 1e10
"""Rewards beyond this magnitude are divided by ``max|R|`` before HiGHS sees them (HiGHS
treats numbers above 1e20 as infinite); the LP is homogeneous in ``R``, so the solution
is scaled back."""


def _solve_highs(G, b, n, tol):
    big = float(np.abs(b).max()) if b.size else 0.0
    scale = big if big > LP_REWARD_SCALE else 1.0
    res = linprog(
        c=np.ones(n) / n, A_ub=-G, b_ub=-b / scale, bounds=(None, None), method="highs",
        options={"primal_feasibility_tolerance": tol, "dual_feasibility_tolerance": tol},
    )
    if res.status != 0:
        raise RuntimeError(f"HiGHS did not solve the MDP LP: {res.message}")
    return res.x * scale, res.nit


def _solve_cvxpy(G, b, n, tol):
    import cvxpy as cp

    x = cp.Variable(n)
    prob = cp.Problem(cp.Minimize(cp.sum(x) / n), [G @ x >= b])
    prob.solve()
    if prob.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"cvxpy did not solve the MDP LP: status {prob.status}")
    return np.asarray(x.value, dtype=float), prob.solver_stats.num_iters or 0


def solve_lp(
    mdp: TabularMDP, *, backend: str = "highs", polish: bool = True, tol: float = 1e-10
) -> PlanningResult:
    """Solve ``mdp`` as a linear program (see module docstring).

    Parameters
    ----------
    backend : {"highs", "cvxpy"}
        scipy's HiGHS (default), or cvxpy with its default solver.
    polish : bool
        Replace the LP's values by the exact values of its greedy policy.
    tol : float
        Primal/dual feasibility tolerance passed to HiGHS, in
        :data:`LP_TOL_RANGE` (checked before HiGHS sees it: a NaN tolerance
        crashes it).
    """
    check_model(mdp, TabularMDP, "solve_lp")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}; got {backend!r}")
    polish = check_bool(polish, "polish")
    tol = check_tolerance(tol, "tol", lower=LP_TOL_RANGE[0], upper=LP_TOL_RANGE[1])
    check_value_range(mdp.R, gamma=mdp.gamma, horizon=mdp.horizon, fn="solve_lp")
    G, b = _constraints(mdp)
    n = G.shape[1]
    x, nit = (_solve_highs if backend == "highs" else _solve_cvxpy)(G, b, n, tol)
    S = mdp.S
    if mdp.discounted:
        lp_values = x
        Q, _, pi = BellmanOperator(mdp).full_q(lp_values)
    else:
        H = mdp.horizon
        lp_values = np.vstack([x.reshape(H, S), np.zeros((1, S))])
        Q = np.empty((H, S, mdp.A))
        pi = np.empty((H, S), dtype=np.int64)
        V_buf = np.empty(S)
        for h in range(H):
            BellmanOperator(mdp, h, gamma=1.0).q(lp_values[h + 1], Q[h], V_buf, pi[h])
    info = {"lp_values": lp_values, "backend": backend}
    if not polish:
        if mdp.discounted:
            bound = float(np.max(np.abs(Q.max(1) - lp_values))) / (1.0 - mdp.gamma)
        else:
            # Backward error propagation: each stage adds its own residual.
            bound = float(sum(np.max(np.abs(Q[h].max(1) - lp_values[h])) for h in range(H)))
        return PlanningResult(lp_values, Q, pi, nit, bound, f"solve_lp[{backend}]",
                              "raw LP solution; bound from the Bellman residual",
                              init=mdp.init, info=info)
    ev = evaluate_policy(mdp, pi)
    if mdp.discounted:
        Qp, TV, greedy = BellmanOperator(mdp).full_q(ev.values)
        bound = float(np.max(np.abs(TV - ev.values))) / (1.0 - mdp.gamma)
        # A greedy step that improves on the LP's policy means the LP tolerance hid
        # a better action; the certified bound reports it (it will not be ~0).
        pi_out, Q_out = pi, Qp
    else:
        Q_out, pi_out = ev.q, pi
        bound = float(sum(np.max(ev.q[h].max(1) - ev.values[h]) for h in range(mdp.horizon)))
    return PlanningResult(ev.values, Q_out, pi_out, nit, bound, f"solve_lp[{backend}]",
                          "LP policy evaluated exactly; bound from the Bellman residual",
                          init=mdp.init, info=info)

"""Exact evaluation of deterministic and stochastic policies.

Discounted: ``V^pi`` solves ``(I - gamma P_pi) V = r_pi`` with
``P_pi(s, s') = sum_a pi(a|s) P(s'|s,a)`` and ``r_pi(s) = sum_a pi(a|s) R(s,a)``;
the system is solved directly (LAPACK for dense models, SuperLU for sparse
ones up to ``DIRECT_SPARSE_LIMIT`` states, GMRES beyond). The reported bound
follows from the residual ``rho = ||r_pi + gamma P_pi V - V||_inf``: since
``V^pi - V = (I - gamma P_pi)^{-1} rho_vec`` and ``||(I - gamma P_pi)^{-1}||_inf
= 1/(1-gamma)``, ``||V - V^pi||_inf <= rho / (1 - gamma)``.

Finite horizon: ``V_H = 0`` and ``V_h = sum_a pi_h(a|s) (R_h + P_h V_{h+1})(s, a)``,
computed exactly by backward recursion.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from mdplab.models import TabularMDP
from mdplab.models._validation import check_model, check_value_range
from mdplab.models.tabular import normalize_policy
from mdplab.planning.operator import BellmanOperator
from mdplab.planning.result import PlanningResult

DIRECT_SPARSE_LIMIT = 20_000
"""Largest sparse model whose policy is evaluated with a sparse LU."""


def _policy_system(mdp: TabularMDP, deterministic: bool, pi: np.ndarray):
    """``(P_pi, r_pi)`` of a stationary policy (dense array or CSR matrix)."""
    S, A = mdp.S, mdp.A
    R = mdp.R_at(0)
    rows = np.arange(S)
    if deterministic:
        r = R[rows, pi]
    else:
        r = (pi * R).sum(axis=1)
    if not mdp.is_sparse:
        P = mdp.P_at(0)
        P_pi = P[rows, pi] if deterministic else np.einsum("sa,sat->st", pi, P)
        return P_pi, r
    weights = np.ones(S) if deterministic else pi.ravel()
    cols = rows * A + pi if deterministic else np.arange(S * A)
    mix_rows = rows if deterministic else np.repeat(rows, A)
    mix = sp.csr_matrix((weights, (mix_rows, cols)), shape=(S, S * A))
    return (mix @ mdp.transition_matrix()).tocsr(), r


def solve_policy_values(mdp: TabularMDP, deterministic: bool, pi: np.ndarray):
    """Exact ``V^pi`` of a stationary policy of a discounted model, and its bound."""
    g = mdp.gamma
    P_pi, r = _policy_system(mdp, deterministic, pi)
    S = mdp.S
    if not sp.issparse(P_pi):
        V = np.linalg.solve(np.eye(S) - g * P_pi, r)
    else:
        system = (sp.identity(S, format="csr") - g * P_pi).tocsc()
        if S <= DIRECT_SPARSE_LIMIT:
            V = spla.spsolve(system, r)
        else:
            V, status = spla.gmres(system, r, rtol=1e-14, atol=0.0, restart=50, maxiter=10_000)
            if status < 0:
                raise RuntimeError(f"GMRES failed on policy evaluation (status {status})")
    residual = float(np.max(np.abs(r + g * (P_pi @ V) - V)))
    return V, residual / (1.0 - g)


def evaluate_policy(mdp: TabularMDP, policy) -> PlanningResult:
    """Exact value ``V^pi`` and action values ``Q^pi`` of a policy.

    Parameters
    ----------
    mdp : TabularMDP
        Dense or sparse, discounted or finite horizon.
    policy : array_like
        Deterministic (integer dtype) ``(S,)`` or ``(H, S)``, or stochastic
        ``(S, A)`` or ``(H, S, A)`` with rows summing to 1. Stationary policies
        of a finite-horizon model act the same at every stage.

    Returns
    -------
    PlanningResult
        ``values`` ``(S,)`` (discounted) or ``(H+1, S)`` (finite horizon,
        ``values[H] = 0``); ``q`` ``(S, A)`` or ``(H, S, A)``; ``policy`` as given
        (with integer dtype int64). ``error_bound``: residual bound
        ``rho / (1 - gamma)`` when discounted, 0 for the exact recursion.
    """
    check_model(mdp, TabularMDP, "evaluate_policy")
    check_value_range(mdp.R, gamma=mdp.gamma, horizon=mdp.horizon, fn="evaluate_policy")
    deterministic, pi = normalize_policy(mdp, policy)
    given = np.asarray(policy)
    out_policy = given.astype(np.int64) if deterministic else np.asarray(given, dtype=float)
    if mdp.discounted:
        V, bound = solve_policy_values(mdp, deterministic, pi[0])
        Q, _, _ = BellmanOperator(mdp).full_q(V)
        return PlanningResult(
            V, Q, out_policy, 1, bound, "evaluate_policy",
            "direct linear solve; bound = residual / (1 - gamma)", init=mdp.init,
        )
    H, S = mdp.horizon, mdp.S
    values = np.zeros((H + 1, S))
    Q = np.empty((H, S, mdp.A))
    rows = np.arange(S)
    for h in range(H - 1, -1, -1):
        Q[h], _, _ = BellmanOperator(mdp, h, gamma=1.0).full_q(values[h + 1])
        p = pi[0] if pi.shape[0] == 1 else pi[h]
        values[h] = Q[h][rows, p] if deterministic else (p * Q[h]).sum(axis=1)
    return PlanningResult(
        values, Q, out_policy, H, 0.0, "evaluate_policy", "exact backward recursion",
        init=mdp.init,
    )

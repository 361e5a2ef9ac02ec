"""Independent reference computations for the tests: plain numpy, no mdplab kernels."""

from __future__ import annotations

import itertools

import numpy as np


def discounted_optimum_by_enumeration(P, R, gamma):
    """``V*`` as the componentwise max over all ``A^S`` deterministic policies.

    Each policy is evaluated by ``np.linalg.solve``; an optimal stationary
    deterministic policy exists and is optimal from every state, so the
    componentwise maximum is ``V*``.
    """
    S, A = R.shape
    rows = np.arange(S)
    best = np.full(S, -np.inf)
    for pi in itertools.product(range(A), repeat=S):
        pi = np.array(pi)
        V = np.linalg.solve(np.eye(S) - gamma * P[rows, pi], R[rows, pi])
        best = np.maximum(best, V)
    return best


def finite_horizon_value(P, R, H, policy):
    """Value of a deterministic Markov policy ``policy[h, s]`` by forward propagation.

    ``V_0(s0) = sum_h sum_s Pr(s_h = s | s_0 = s0) R_h(s, pi_h(s))``: the state
    distribution is pushed forward from each start state (no backward recursion).
    """
    S = P.shape[-1]
    Ps = P if P.ndim == 4 else np.broadcast_to(P, (H, *P.shape))
    Rs = R if R.ndim == 3 else np.broadcast_to(R, (H, *R.shape))
    rows = np.arange(S)
    dist = np.eye(S)  # row = start state
    total = np.zeros(S)
    for h in range(H):
        total += dist @ Rs[h][rows, policy[h]]
        dist = dist @ Ps[h][rows, policy[h]]
    return total


def finite_horizon_optimum_by_enumeration(P, R, H):
    """``V*_0`` as the componentwise max over all deterministic Markov policies."""
    S, A = P.shape[-1], P.shape[-2]
    best = np.full(S, -np.inf)
    for flat in itertools.product(range(A), repeat=S * H):
        policy = np.array(flat).reshape(H, S)
        best = np.maximum(best, finite_horizon_value(P, R, H, policy))
    return best

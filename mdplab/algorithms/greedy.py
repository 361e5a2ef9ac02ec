"""Certainty-equivalence baseline: plan on the empirical model, act (epsilon-)greedily.

Each episode solves the empirical MDP ``(P_hat, R)`` by backward induction
(pairs never tried are valued ``v_max_h = (H - h) max R``, an optimistic
initialisation without which a greedy learner never leaves its first
action) and plays the greedy policy, or, with probability ``epsilon`` at
each step, a uniformly random action. No regret guarantee: with
``epsilon = 0`` it can lock onto a suboptimal policy forever (linear regret),
which is what the optimistic algorithms are measured against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mdplab.algorithms.base import Algorithm, _check_number, check_stage_dependent
from mdplab.algorithms.online import greedy_row, record, stage
from mdplab.kernels.rng import new_state, next_double
from mdplab.kernels.sampling import inverse_cdf_dense


@njit(cache=True)
def plan_empirical(R, H, counts, trans, vmax_step, Q, pi):
    """Backward induction on the empirical model; fills ``Q (H,S,A)`` and ``pi (H,S)``."""
    nst, S, A = counts.shape
    nR = R.shape[0]
    V = np.zeros(S)
    for h in range(H - 1, -1, -1):
        j = stage(nst, h)
        Rh = R[stage(nR, h)]
        for s in range(S):
            for a in range(A):
                n = counts[j, s, a]
                if n == 0:
                    Q[h, s, a] = (H - h) * vmax_step
                else:
                    acc = 0.0
                    for t in range(S):
                        acc += trans[j, s, a, t] * V[t]
                    Q[h, s, a] = Rh[s, a] + acc / n
        for s in range(S):
            pi[h, s] = greedy_row(Q[h, s])
            V[s] = Q[h, s, pi[h, s]]


@njit(cache=True)
def epsilon_greedy_value(P, R, init, H, pi, eps, V):
    """Exact value of "greedy ``pi`` w.p. ``1-eps``, uniform action w.p. ``eps``"."""
    S, A = P.shape[1], P.shape[2]
    nP, nR = P.shape[0], R.shape[0]
    nxt = np.zeros(S)
    for h in range(H - 1, -1, -1):
        Ph = P[stage(nP, h)]
        Rh = R[stage(nR, h)]
        for s in range(S):
            mean_q = 0.0
            greedy_q = 0.0
            for a in range(A):
                q = Rh[s, a]
                for t in range(S):
                    q += Ph[s, a, t] * nxt[t]
                mean_q += q / A
                if a == pi[h, s]:
                    greedy_q = q
            V[s] = (1.0 - eps) * greedy_q + eps * mean_q
        nxt[:] = V
    total = 0.0
    for s in range(S):
        total += init[s] * nxt[s]
    return total


@njit(parallel=True, cache=True)
def _greedy_kernel(P, R, init, H, K, every, seeds, v_star, nst, eps):
    n_seeds = seeds.shape[0]
    S, A = P.shape[1], P.shape[2]
    nP, nR = P.shape[0], R.shape[0]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n_seeds, n_ckpt))
    out_real = np.zeros((n_seeds, n_ckpt))
    vmax_step = max(R.max(), 0.0)
    for i in prange(n_seeds):
        rng = new_state(seeds[i])
        counts = np.zeros((nst, S, A))
        trans = np.zeros((nst, S, A, S))
        Q = np.empty((H, S, A))
        pi = np.zeros((H, S), dtype=np.int64)
        Vbuf = np.empty(S)
        reg = 0.0
        real = 0.0
        for k in range(K):
            plan_empirical(R, H, counts, trans, vmax_step, Q, pi)
            reg += v_star - epsilon_greedy_value(P, R, init, H, pi, eps, Vbuf)
            s = inverse_cdf_dense(init, next_double(rng))
            ret = 0.0
            for h in range(H):
                a = pi[h, s]
                if eps > 0.0 and next_double(rng) < eps:
                    a = min(int(next_double(rng) * A), A - 1)
                ret += R[stage(nR, h), s, a]
                s2 = inverse_cdf_dense(P[stage(nP, h), s, a], next_double(rng))
                j = stage(nst, h)
                counts[j, s, a] += 1.0
                trans[j, s, a, s2] += 1.0
                s = s2
            real += v_star - ret
            record(k, K, every, reg, real, out_regret, out_real, i)
    return out_regret, out_real


class Greedy(Algorithm):
    """Certainty-equivalence (``epsilon = 0``) or epsilon-greedy learner (module docstring)."""

    name = "greedy"
    check_kwargs = {"epsilon": 0.0}
    expect_progress = False  # no guarantee: it may lock onto a suboptimal policy
    invalid_kwargs = (
        ({"epsilon": -0.1}, "epsilon must be >= 0"),
        ({"epsilon": 1.5}, "epsilon must be <= 1"),
        ({"epsilon": "a"}, "epsilon must be a number"),
    )

    def __init__(self, *, epsilon: float = 0.0, stage_dependent: bool | None = None):
        self.epsilon = _check_number("epsilon", epsilon, low=0.0, high=1.0)
        self.stage_dependent = check_stage_dependent(stage_dependent)

    def params(self) -> dict:
        return {"epsilon": self.epsilon, "stage_dependent": self.stage_dependent}

    def _run_kernel(self, P, R, init, H, K, every, seeds, v_star):
        sd = self.stage_dependent if self.stage_dependent is not None else P.shape[0] > 1
        return _greedy_kernel(P, R, init, H, K, every, seeds, v_star, H if sd else 1,
                              self.epsilon)

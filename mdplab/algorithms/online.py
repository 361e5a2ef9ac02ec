"""Building blocks of the compiled online loop shared by every tabular learner.

A learner's kernel runs, for each seed in ``prange``, ``K`` episodes of:
plan a policy ``pi_k`` (shape ``(H, S)``) from its statistics; record the exact
regret ``V*_0(init) - V^{pi_k}_0(init)`` (:func:`policy_value_lists`); play the
episode in the true model (:func:`play_episode`); update its statistics. The
helpers here are plain ``njit`` functions (no inner parallelism: the
parallelism is over seeds), so kernels compose them freely.

Arrays use an explicit stage axis: ``P (nP, S, A, S)``, ``R (nR, S, A)`` with
``nP, nR`` either 1 (stationary) or ``H``; stage ``h`` reads index
``h if n > 1 else 0``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mdplab.kernels.rng import next_double
from mdplab.kernels.sampling import inverse_cdf_dense


@njit(cache=True)
def stage(n, h):
    """Index of stage ``h`` in an array with ``n`` stages (1 = stationary)."""
    return h if n > 1 else 0


@njit(cache=True)
def play_episode(P, R, init, H, pi, rng_state, states, actions, rewards):
    """Roll out ``pi`` for ``H`` steps; fill ``states (H+1,)``, ``actions (H,)``,
    ``rewards (H,)`` (mean rewards) and return the episode's total reward."""
    nP, nR = P.shape[0], R.shape[0]
    s = inverse_cdf_dense(init, next_double(rng_state))
    total = 0.0
    for h in range(H):
        a = pi[h, s]
        states[h] = s
        actions[h] = a
        r = R[stage(nR, h), s, a]
        rewards[h] = r
        total += r
        s = inverse_cdf_dense(P[stage(nP, h), s, a], next_double(rng_state))
    states[H] = s
    return total


@njit(cache=True)
def greedy_row(Q_row):
    """First maximiser of a row of Q (ties broken towards the lowest action)."""
    best = Q_row[0]
    arg = 0
    for a in range(1, Q_row.shape[0]):
        if Q_row[a] > best:
            best = Q_row[a]
            arg = a
    return arg


@njit(cache=True)
def record(k, K, every, regret_sum, return_sum, out_regret, out_return, i):
    """Store the running sums at checkpoints ``every, 2 every, ..., K``."""
    if (k + 1) % every == 0 or k + 1 == K:
        j = (k + 1 + every - 1) // every - 1
        out_regret[i, j] = regret_sum
        out_return[i, j] = return_sum


@njit(cache=True)
def successor_lists(P):
    """Non-zero successors of every ``(stage, s, a)`` row of ``P (nP, S, A, S)``.

    Returns ``(idx, prob, count)``: row ``(g, s, a)`` has successors
    ``idx[g, s, a, :count[g, s, a]]`` with probabilities ``prob[...]`` (in
    increasing state order). Tabular benchmarks are sparse (RiverSwim, Chain,
    GridWorld have <= 5 successors), so exact evaluation over these lists is
    several times cheaper than over dense rows, with identical sums (adding an
    exact 0.0 never changes a float sum).
    """
    nP, S, A = P.shape[0], P.shape[1], P.shape[2]
    idx = np.zeros((nP, S, A, S), dtype=np.int64)
    prob = np.zeros((nP, S, A, S))
    count = np.zeros((nP, S, A), dtype=np.int64)
    for g in range(nP):
        for s in range(S):
            for a in range(A):
                c = 0
                for t in range(S):
                    if P[g, s, a, t] != 0.0:
                        idx[g, s, a, c] = t
                        prob[g, s, a, c] = P[g, s, a, t]
                        c += 1
                count[g, s, a] = c
    return idx, prob, count


@njit(cache=True)
def policy_value_lists(idx, prob, count, R, init, H, pi, V):
    """Exact ``sum_s init(s) V^pi_0(s)`` of a deterministic policy ``pi (H, S)``.

    Backward recursion over the successor lists of :func:`successor_lists`:
    ``V_h(s) = R_h(s, pi_h(s)) + sum_j prob[h, s, pi_h(s), j] V_{h+1}(idx[h, s, pi_h(s), j])``;
    ``V`` is an ``(S,)`` work buffer.
    """
    S = init.shape[0]
    nP, nR = idx.shape[0], R.shape[0]
    nxt = np.zeros(S)
    for h in range(H - 1, -1, -1):
        g = stage(nP, h)
        Rh = R[stage(nR, h)]
        for s in range(S):
            a = pi[h, s]
            acc = 0.0
            for j in range(count[g, s, a]):
                acc += prob[g, s, a, j] * nxt[idx[g, s, a, j]]
            V[s] = Rh[s, a] + acc
        nxt[:] = V
    total = 0.0
    for s in range(S):
        total += init[s] * nxt[s]
    return total

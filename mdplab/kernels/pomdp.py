"""Numba kernels for POMDP beliefs and planning on alpha-vectors and belief points.

* :func:`belief_step` -- the unnormalised belief update ``A(o, a) b`` (used by the
  POMDP model as well);
* :func:`pointwise_filter` -- drop alpha-vectors weakly dominated componentwise by
  another (the cheap first pass of every prune);
* :func:`interval_prune` -- the exact parsimonious set of a two-state value
  function: beliefs are ``(1 - p, p)``, each vector is the line
  ``alpha_0 + p (alpha_1 - alpha_0)`` on ``[0, 1]``, and the maximum of
  ``phi . b - max_W w . b`` over the interval is attained at ``0``, ``1`` or a kink of
  ``max_W``, so Lark's filter needs no LP;
* :func:`point_backup` (and :func:`point_backup_parallel` for large sets) -- the
  point-based Bellman backup of PBVI over belief points x actions x observations
  x alpha-vectors;
* :func:`sawtooth_values` / :func:`sawtooth_sweep` -- the sawtooth upper bound over
  corners and a point set, and its Gauss-Seidel improvement by Bellman backups.

Conventions: ``T (S, A, S)``, ``O (A, S', O)``, ``R (S, A)`` as in
:mod:`mdplab.models.pomdp`; alpha-vectors are rows of ``(n, S)`` arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


# ------------------------------------------------------------------ dominance
@njit(cache=True)
def pointwise_filter(V):
    """``keep[i]`` is False when an earlier kept row ``j`` has ``V[j] >= V[i]`` everywhere.

    ``V`` must be sorted lexicographically descending: a dominator (or an exact
    duplicate) then always comes first, and checking kept rows only is enough
    because weak dominance is transitive.
    """
    n, S = V.shape
    keep = np.zeros(n, dtype=np.bool_)
    if S == 2:
        # Earlier rows have V[:, 0] at least as large: dominated iff V[:, 1] is not a new high.
        top = -np.inf
        for i in range(n):
            if V[i, 1] > top:
                keep[i] = True
                top = V[i, 1]
        return keep
    kept = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        dominated = False
        for k in range(m):
            j = kept[k]
            below = True
            for s in range(S):
                if V[j, s] < V[i, s]:
                    below = False
                    break
            if below:
                dominated = True
                break
        if not dominated:
            keep[i] = True
            kept[m] = i
            m += 1
    return keep


# ------------------------------------------------------------------ two states
@njit(cache=True)
def _upper_hull(c, m, idx, k, out):
    """Indices (from ``idx[:k]``, slopes increasing) of the lines on the upper envelope.

    A middle line is dropped when the outer two meet at or above it
    (it is maximal at most at one point).
    """
    r = 0
    for t in range(k):
        j = idx[t]
        while r >= 2:
            i1 = out[r - 2]
            i2 = out[r - 1]
            # line i2 irrelevant iff x(i1, j) <= x(i1, i2)
            if (c[i1] - c[j]) * (m[i2] - m[i1]) <= (c[i1] - c[i2]) * (m[j] - m[i1]):
                r -= 1
            else:
                break
        out[r] = j
        r += 1
    return r


@njit(cache=True)
def interval_prune(V, tol):
    """Lark's filter for two-state vectors with exact witness search.

    ``V (n, 2)`` must be sorted lexicographically descending and pointwise
    filtered, so ``V[:, 0]`` decreases and the slopes ``V[:, 1] - V[:, 0]``
    increase. Returns ``(kept, witness_p)``: indices of the kept rows (in input
    order) and, for each, the belief ``p = b[1]`` at which it was added. A row
    is dropped only when it is below the kept envelope plus ``tol`` on all of
    ``[0, 1]``; a row is added at a witness ``p`` where it is the maximum (first
    index on ties) and beats the kept envelope by more than ``tol``.
    """
    n = V.shape[0]
    c = V[:, 0].copy()
    m = V[:, 1] - V[:, 0]
    order = np.arange(n)
    hull = np.empty(n, dtype=np.int64)
    k = _upper_hull(c, m, order, n, hull)
    # Lines off the exact envelope are below it everywhere; Lark runs on the rest.
    in_w = np.zeros(k, dtype=np.bool_)
    remaining = np.ones(k, dtype=np.bool_)
    witness = np.zeros(k)
    in_w[0] = True  # hull[0] = row 0: the maximum at p = 0
    remaining[0] = False
    w_idx = np.empty(k, dtype=np.int64)
    env = np.empty(k, dtype=np.int64)
    n_env = 0
    dirty = True
    for j in range(1, k):
        while remaining[j]:
            if dirty:
                nw = 0
                for t in range(k):
                    if in_w[t]:
                        w_idx[nw] = hull[t]
                        nw += 1
                n_env = _upper_hull(c, m, w_idx, nw, env)
                dirty = False
            # margin of line j over the envelope at 0, the kinks in (0, 1), and 1
            lj = hull[j]
            best_gap = c[lj] - c[env[0]]
            best_p = 0.0
            last = env[0]
            for t in range(1, n_env):
                a = env[t - 1]
                b = env[t]
                x = (c[a] - c[b]) / (m[b] - m[a])
                if x >= 1.0:
                    break
                last = b
                if x > 0.0:
                    gap = (c[lj] + m[lj] * x) - (c[b] + m[b] * x)
                    if gap > best_gap:
                        best_gap = gap
                        best_p = x
            gap = (c[lj] + m[lj]) - (c[last] + m[last])
            if gap > best_gap:
                best_gap = gap
                best_p = 1.0
            if best_gap > tol:
                # add the maximiser at the witness among the remaining lines
                arg = -1
                top = -np.inf
                for t in range(k):
                    if remaining[t]:
                        v = c[hull[t]] + m[hull[t]] * best_p
                        if v > top:
                            top = v
                            arg = t
                in_w[arg] = True
                remaining[arg] = False
                witness[arg] = best_p
                dirty = True
            else:
                remaining[j] = False
    count = 0
    for t in range(k):
        if in_w[t]:
            count += 1
    kept = np.empty(count, dtype=np.int64)
    wp = np.empty(count)
    count = 0
    for t in range(k):
        if in_w[t]:
            kept[count] = hull[t]
            wp[count] = witness[t]
            count += 1
    return kept, wp


# ------------------------------------------------------------------ point-based
@njit(cache=True)
def belief_step(T, O, b, a, o, out):
    """Unnormalised next belief ``A(o, a) b`` into ``out``; returns ``Pr(o | b, a)``."""
    S = b.shape[0]
    total = 0.0
    for s2 in range(S):
        acc = 0.0
        for s in range(S):
            acc += b[s] * T[s, a, s2]
        acc *= O[a, s2, o]
        out[s2] = acc
        total += acc
    return total


@njit(cache=True)
def _backup_point(R, G, discount, b, cand, arg, out_alpha, out_succ):
    """Best backed-up vector at belief ``b`` into ``out_alpha`` and its chosen
    projection per observation into ``out_succ``; returns ``(value, action)``."""
    A, n_obs, n, S = G.shape
    best_val = -np.inf
    best_a = 0
    for a in range(A):
        for s in range(S):
            cand[s] = R[s, a]
        for o in range(n_obs):
            arg[o] = 0
            top = -np.inf
            for i in range(n):
                v = 0.0
                for s in range(S):
                    v += b[s] * G[a, o, i, s]
                if v > top:
                    top = v
                    arg[o] = i
            for s in range(S):
                cand[s] += discount * G[a, o, arg[o], s]
        val = 0.0
        for s in range(S):
            val += b[s] * cand[s]
        if val > best_val:
            best_val = val
            best_a = a
            for s in range(S):
                out_alpha[s] = cand[s]
            for o in range(n_obs):
                out_succ[o] = arg[o]
    return best_val, best_a


@njit(cache=True)
def point_backup(R, G, discount, beliefs, out_alphas, out_actions, out_succ, out_values):
    """PBVI backup at every belief point.

    ``G[a, o, i, s] = sum_{s'} T[s, a, s'] O[a, s', o] alpha_i(s')`` (the projected
    vectors). For belief ``b``: per action the best projection ``i*(a, o, b)`` of every
    observation, ``alpha_{a,b} = R[:, a] + discount * sum_o G[a, o, i*(a, o, b)]``;
    the best action's vector goes to ``out_alphas[j]``, its action to
    ``out_actions[j]`` and ``i*`` to ``out_succ[j]`` (first maximiser on ties).
    """
    cand = np.empty(G.shape[3])
    arg = np.empty(G.shape[1], dtype=np.int64)
    for j in range(beliefs.shape[0]):
        v, a = _backup_point(R, G, discount, beliefs[j], cand, arg, out_alphas[j], out_succ[j])
        out_values[j] = v
        out_actions[j] = a


@njit(parallel=True, cache=True)
def point_backup_parallel(R, G, discount, beliefs, out_alphas, out_actions, out_succ, out_values):
    """:func:`point_backup` with the belief points spread over threads (large sets)."""
    for j in prange(beliefs.shape[0]):
        cand = np.empty(G.shape[3])
        arg = np.empty(G.shape[1], dtype=np.int64)
        v, a = _backup_point(R, G, discount, beliefs[j], cand, arg, out_alphas[j], out_succ[j])
        out_values[j] = v
        out_actions[j] = a


@njit(cache=True)
def _gains(points, values, corner, gains):
    """``gains_i = max(b_i . corner - v_i, 0)``: how far each point sits below the corners."""
    for i in range(points.shape[0]):
        v = 0.0
        for s in range(points.shape[1]):
            v += points[i, s] * corner[s]
        g = v - values[i]
        gains[i] = g if g > 0.0 else 0.0


@njit(cache=True)
def _upper_at(b, corner, points, gains, Qup):
    """``min(sawtooth(b), max_a b . Qup[:, a])`` where
    ``sawtooth(b) = min(b . c, min_i [b . c - ratio_i(b) gains_i])`` and
    ``ratio_i(b) = min_{s: points_i(s) > 0} b(s) / points_i(s)``."""
    S, A = Qup.shape
    best = -np.inf
    for a in range(A):
        v = 0.0
        for s in range(S):
            v += b[s] * Qup[s, a]
        if v > best:
            best = v
    base = 0.0
    for s in range(S):
        base += b[s] * corner[s]
    saw = base
    for i in range(points.shape[0]):
        ratio = np.inf
        for s in range(S):
            p = points[i, s]
            if p > 0.0 and b[s] / p < ratio:
                ratio = b[s] / p
        v = base - ratio * gains[i]
        if v < saw:
            saw = v
    return saw if saw < best else best


@njit(cache=True)
def sawtooth_values(beliefs, corner, points, values, Qup):
    """The combined upper bound at each row of ``beliefs``."""
    gains = np.empty(points.shape[0])
    _gains(points, values, corner, gains)
    out = np.empty(beliefs.shape[0])
    for j in range(beliefs.shape[0]):
        out[j] = _upper_at(beliefs[j], corner, points, gains, Qup)
    return out


@njit(cache=True)
def _upper_backup(T, O, R, discount, b, corner, points, gains, Qup, nxt):
    """``max_a [b . R_a + discount * sum_o Pr(o | b, a) U(b'_{a,o})]``."""
    S, A = R.shape
    best = -np.inf
    for a in range(A):
        q = 0.0
        for s in range(S):
            q += b[s] * R[s, a]
        for o in range(O.shape[2]):
            p = belief_step(T, O, b, a, o, nxt)
            if p > 0.0:
                for s in range(S):
                    nxt[s] /= p
                q += discount * p * _upper_at(nxt, corner, points, gains, Qup)
        if q > best:
            best = q
    return best


@njit(cache=True)
def sawtooth_sweep(T, O, R, discount, corner, points, values, Qup):
    """One Gauss-Seidel sweep of Bellman backups on the upper bound, in place.

    The corners first (``corner[s] <- min(corner[s], backup(e_s))``), then every
    point (``values[i] <- min(values[i], backup(points[i]))``), each backup using
    the current combined upper bound. By monotonicity of the Bellman operator every
    update stays above ``V*``. Returns the largest decrease.
    """
    k, S = points.shape
    gains = np.empty(k)
    _gains(points, values, corner, gains)
    nxt = np.empty(S)
    e = np.zeros(S)
    biggest = 0.0
    for s in range(S):
        for t in range(S):
            e[t] = 0.0
        e[s] = 1.0
        v = _upper_backup(T, O, R, discount, e, corner, points, gains, Qup, nxt)
        if v < corner[s]:
            if corner[s] - v > biggest:
                biggest = corner[s] - v
            corner[s] = v
            _gains(points, values, corner, gains)
    for i in range(k):
        b = points[i]
        v = _upper_backup(T, O, R, discount, b, corner, points, gains, Qup, nxt)
        if v < values[i]:
            if values[i] - v > biggest:
                biggest = values[i] - v
            values[i] = v
            c = 0.0
            for s in range(S):
                c += b[s] * corner[s]
            gains[i] = c - v if c > v else 0.0
    return biggest

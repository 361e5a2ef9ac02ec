"""One global agent and ``n`` homogeneous local agents (the SUB-SAMPLE-Q setting).

The model (Anand & Qu, arXiv 2403.00222; local actions removed from SUBSAMPLE-MFQ):

* state ``s = (s_g, s_1, ..., s_n)`` in ``S_g x S_l^n``; only the global agent acts,
  ``a_g`` in ``A_g``;
* ``s_g' ~ P_g(. | s_g, a_g)`` and, independently for each ``i`` and of the global
  move, ``s_i' ~ P_l(. | s_i, s_g)`` (local moves ignore ``a_g``);
* reward ``r(s, a_g) = r_g(s_g, a_g) + (1/n) sum_i r_l(s_i, s_g)``;
* objective ``V^pi(s) = E[sum_t gamma^t r(s_t, a_t) | s_0 = s]``, ``gamma in [0, 1)``.

Array conventions: ``P_g[s_g, a_g, s_g']`` ``(S_g, A_g, S_g)``, ``P_l[s_l, s_g, s_l']``
``(S_l, S_g, S_l)``, ``r_g[s_g, a_g]`` ``(S_g, A_g)``, ``r_l[s_l, s_g]`` ``(S_l, S_g)``.

Count representation (exact lumping). The agents are exchangeable, so the
process ``(s_g, N)`` with ``N_x = #{i : s_i = x}`` is itself a Markov decision
process with the same values: ``V*(s) = V*_count(s_g, N(s))``. ``N`` ranges over
the compositions of ``n`` into ``|S_l|`` non-negative parts, of which there are
``C(n + |S_l| - 1, |S_l| - 1)`` (polynomial in ``n``). Given ``s_g``,

    N' = sum_x sum_{i : s_i = x} e_{X_i},   X_i ~ P_l(. | x, s_g) independently,

a sum of independent multinomials ``Mult(N_x, P_l(. | x, s_g))``; its law is
computed exactly by convolving one agent at a time (:func:`_convolve_agents`). The
count MDP has transitions ``P((s_g', N') | (s_g, N), a) = P_g(s_g'|s_g,a) K_{s_g}(N, N')``
and rewards ``r_g(s_g, a) + (1/n) sum_x N_x r_l(x, s_g)``. Its size is
``|S_g| C(n+|S_l|-1, |S_l|-1)`` states and, per row, up to
``prod_x C(N_x + k_x - 1, k_x - 1)`` successors (``k_x`` = support size of
``P_l(. | x, s_g)``), so it is tractable for small ``|S_l|`` or small ``n``.

Composition order and index. Compositions of ``m`` into ``L`` parts are listed in
lexicographic order, ``(0,..,0,m)`` first and ``(m,0,..,0)`` last; the index of
``c`` is

    rank(c) = sum_{i=0}^{L-2} [ C(T_i + p_i, p_i) - C(T_{i+1} + p_i, p_i) ],
    T_i = c_i + ... + c_{L-1},  p_i = L - 1 - i,

(the number of compositions with the same prefix and a smaller ``i``-th part,
summed by the hockey-stick identity). Count state ``(s_g, N)`` has index
``s_g * M + rank(N)`` with ``M = C(n + L - 1, L - 1)``; joint state
``(s_g, s_1, ..., s_n)`` has index ``s_g * L^n + sum_i s_i L^(n-i)`` (agent 1 most
significant).

SUB-SAMPLE-Q execution. A table ``pi_k(s_g, F)`` over the counts ``F`` of ``k``
agents, applied to the counts of a uniformly random ``k``-subset of the ``n``
agents, is the stationary policy on counts

    pi(a | s_g, N) = sum_F Hyp(F; N, k) 1{pi_k(s_g, F) = a},
    Hyp(F; N, k) = prod_x C(N_x, F_x) / C(n, k)   (multivariate hypergeometric),

(:meth:`GlobalLocalSystem.subsample_policy`), so its value is computed exactly by
a linear solve on the count MDP. The induced policy is the one of SUB-SAMPLE-Q's
execution algorithm (structure verified, notation reconstructed [R] in the paper
notes); its exact evaluation through counts is our design [D].

This module holds the model, its count and joint representations, the
conversions of policies to counts and the samplers. Exact solvers:
:mod:`mdplab.planning.global_local` (``V*`` of the count MDP, exact values of
count and sub-sampled policies); ``import mdplab`` also attaches them as methods
(``system.solve()``, ``system.evaluate_subsample(pi_k, k)``, ...).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit, prange
from scipy.stats import multinomial

from mdplab.kernels.rng import next_double, seed_state, stream_seeds
from mdplab.kernels.sampling import categorical_dense
from mdplab.models._validation import (
    ROW_SUM_TOL,
    as_real_array,
    check_finite,
    check_gamma,
    check_probability_rows,
    freeze,
)
from mdplab.models.tabular import TabularMDP

__all__ = [
    "GlobalLocalSystem",
    "GlobalLocalTrajectories",
    "composition_index",
    "compositions",
    "count_space_size",
    "generative_draw",
]

DEFAULT_MAX_JOINT_STATES = 50_000
"""Largest joint state space :meth:`GlobalLocalSystem.joint_mdp` builds by default."""

DEFAULT_MAX_NNZ = 300_000_000
"""Default cap on stored transition entries of a count or joint MDP (12 bytes each while
building, and as much again in the TabularMDP's own copy)."""

_BOUND_SLACK = 8  # refuse at once when the support bound exceeds this times max_nnz
_DENSE_BYTES = 32 * 1024**2  # count MDPs whose dense P fits here are stored dense


# ================================================================ compositions
def count_space_size(n_agents: int, n_local_states: int) -> int:
    """``C(n + L - 1, L - 1)``: the number of count vectors of ``n`` agents over ``L`` states."""
    n = _check_int(n_agents, "n_agents", 0)
    L = _check_int(n_local_states, "n_local_states", 1)
    return math.comb(n + L - 1, L - 1)


def _binomial_table(n: int, L: int) -> np.ndarray:
    """``B[m, p] = C(m, p)`` for ``m < n + L``, ``p < L`` (int64; its max is ``C(n+L-1, L-1)``)."""
    if math.comb(n + L - 1, L - 1) >= 2**62:
        raise ValueError(
            f"C({n + L - 1}, {L - 1}) count vectors overflow 64-bit indices; "
            "the count space is far too large"
        )
    B = np.zeros((n + L, L), dtype=np.int64)
    for m in range(n + L):
        for p in range(min(m, L - 1) + 1):
            B[m, p] = math.comb(m, p)
    return B


@njit(cache=True)
def composition_rank(c, B):
    """Lexicographic index of the composition ``c`` among those with the same sum and length."""
    L = c.shape[0]
    rem = 0
    for x in range(L):
        rem += c[x]
    r = 0
    for i in range(L - 1):
        p = L - 1 - i
        ci = c[i]
        if ci > 0:
            r += B[rem + p, p] - B[rem - ci + p, p]
        rem -= ci
    return r


@njit(cache=True)
def composition_unrank(r, m, B, out):
    """Write into ``out`` (length ``L``) the composition of ``m`` with index ``r``."""
    L = out.shape[0]
    rem = m
    for i in range(L - 1):
        p = L - 1 - i
        v = 0
        while True:
            cnt = B[rem - v + p - 1, p - 1]  # compositions of rem - v into p parts
            if r < cnt:
                break
            r -= cnt
            v += 1
        out[i] = v
        rem -= v
    out[L - 1] = rem


@njit(cache=True)
def _enumerate_compositions(m, L, M):
    out = np.zeros((M, L), dtype=np.int64)
    c = np.zeros(L, dtype=np.int64)
    c[L - 1] = m
    out[0, L - 1] = m
    for r in range(1, M):
        # Rightmost i < L-1 with mass to its right: bump c_i, put the rest last.
        tail = c[L - 1]
        i = L - 2
        while tail == 0:
            tail += c[i]
            i -= 1
        c[i] += 1
        for j in range(i + 1, L):
            c[j] = 0
        c[L - 1] = tail - 1
        for j in range(L):  # element-wise: a row-slice assignment costs seconds of compile
            out[r, j] = c[j]
    return out


def compositions(m: int, parts: int) -> np.ndarray:
    """All compositions of ``m`` into ``parts`` parts >= 0: ``(C(m+parts-1, parts-1), parts)``.

    Row ``r`` is the composition with index ``r`` (lexicographic order, see the
    module docstring); :func:`composition_index` is the inverse map.
    """
    m = _check_int(m, "m", 0)
    L = _check_int(parts, "parts", 1)
    M = count_space_size(m, L)
    if M * L > 500_000_000:
        raise ValueError(f"{M} compositions of {m} into {L} parts are too many to list")
    return _enumerate_compositions(m, L, M)


def composition_index(counts) -> np.ndarray | int:
    """Index of each composition (rows of ``counts``) in :func:`compositions` order.

    Vectorised numpy twin of the numba ``composition_rank``; a 1-d input gives an int.
    """
    c = np.asarray(counts)
    if not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"counts must be an integer array; got dtype {c.dtype}")
    single = c.ndim == 1
    c = np.atleast_2d(c).astype(np.int64)
    if (c < 0).any():
        raise ValueError("counts must be non-negative")
    L = c.shape[1]
    if L == 0:
        raise ValueError("counts must have at least one part")
    # Suffix sums T_i = c_i + ... + c_{L-1}.
    T = np.cumsum(c[:, ::-1], axis=1)[:, ::-1]
    r = np.zeros(c.shape[0], dtype=np.int64)
    for i in range(L - 1):
        p = L - 1 - i
        r += _comb_vec(T[:, i] + p, p) - _comb_vec(T[:, i + 1] + p, p)
    return int(r[0]) if single else r


def _comb_vec(m: np.ndarray, p: int) -> np.ndarray:
    out = np.ones(m.shape, dtype=np.int64)
    for j in range(p):  # C(m, p) = prod_{j<p} (m - j) / (j + 1), exact in integers
        out = out * (m - j) // (j + 1)
    return out


# ============================================================== convolution
@njit(cache=True)
def _successor_table(n, L, B):
    """``succ[off[t] + r, y]`` = index of ``c + e_y`` among compositions of ``t + 1``,
    where ``c`` is composition ``r`` of ``t`` (``t < n``): adding one agent in O(1)."""
    off = np.zeros(n + 1, dtype=np.int64)
    for t in range(n):
        off[t + 1] = off[t] + B[t + L - 1, L - 1]
    succ = np.empty((off[n], L), dtype=np.int64)
    for t in range(n):
        comps = _enumerate_compositions(t, L, off[t + 1] - off[t])
        for r in range(comps.shape[0]):
            c = comps[r]
            for y in range(L):
                c[y] += 1
                succ[off[t] + r, y] = composition_rank(c, B)
                c[y] -= 1
    return off, succ


@njit(cache=True)
def _convolve_agents(agent_rows, row_idx, row_val, row_nnz, succ, off, spa, cp, cr, npr, nr):
    """Exact law of ``sum_t e_{X_t}``, ``X_t ~ row agent_rows[t]`` independent.

    Rows are sparse: row ``j`` puts mass ``row_val[j, e]`` on state ``row_idx[j, e]``,
    ``e < row_nnz[j]``. One agent is added at a time; the partial law after ``t``
    agents lives on the compositions of ``t`` (held by index, moved on by the
    successor table) and is merged through the sparse accumulator ``spa`` (indexed
    by composition index, reset to -1 after each step). Returns
    ``(size, probs, ranks)``: the support of the final law.
    """
    size = 1
    cp[0] = 1.0
    cr[0] = 0
    for t in range(agent_rows.shape[0]):
        row = agent_rows[t]
        base = off[t]
        nsize = 0
        for s in range(size):
            ps = cp[s]
            srow = base + cr[s]
            for e in range(row_nnz[row]):
                r = succ[srow, row_idx[row, e]]
                pos = spa[r]
                if pos < 0:
                    spa[r] = nsize
                    npr[nsize] = ps * row_val[row, e]
                    nr[nsize] = r
                    nsize += 1
                else:
                    npr[pos] += ps * row_val[row, e]
        for j in range(nsize):
            spa[nr[j]] = -1
        cp, npr = npr, cp
        cr, nr = nr, cr
        size = nsize
    return size, cp, cr


@njit(parallel=True, cache=True)
def _count_kernel_pass(
    comps,
    n_global,
    row_idx,
    row_val,
    row_nnz,
    succ,
    off,
    max_support,
    n_chunks,
    indptr,
    out_idx,
    out_val,
    fill,
):
    """Rows ``g * M + i`` of the count kernels ``K_g(N_i, .)``.

    First pass (``fill=False``) writes each row's support size into ``indptr[r+1]``;
    second pass writes the row into ``out_idx / out_val`` from ``indptr[r]``.
    Rows are split into ``n_chunks`` blocks, each with its own work buffers.
    """
    M, L = comps.shape
    n = 0
    for x in range(L):
        n += comps[0, x]
    n_rows = n_global * M
    for ch in prange(n_chunks):
        lo = ch * n_rows // n_chunks
        hi = (ch + 1) * n_rows // n_chunks
        spa = np.empty(M, dtype=np.int64)
        for j in range(M):
            spa[j] = -1
        cp = np.empty(max_support)
        npr = np.empty(max_support)
        cr = np.empty(max_support, dtype=np.int64)
        nr = np.empty(max_support, dtype=np.int64)
        agents = np.empty(n, dtype=np.int64)
        for r in range(lo, hi):
            g = r // M
            i = r - g * M
            t = 0
            for x in range(L):
                for _ in range(comps[i, x]):
                    agents[t] = g * L + x
                    t += 1
            size, p, rk = _convolve_agents(
                agents, row_idx, row_val, row_nnz, succ, off, spa, cp, cr, npr, nr
            )
            if fill:
                base = indptr[r]
                for j in range(size):
                    out_idx[base + j] = rk[j]
                    out_val[base + j] = p[j]
            else:
                indptr[r + 1] = size


@njit(cache=True)
def _assemble_count_mdp(k_indptr, k_idx, k_val, pg_idx, pg_val, pg_nnz, M, A, indptr, idx, val):
    """Row ``(g M + i) A + a`` = ``sum_{g'} P_g(g'|g,a) e_{g'} (x) K_g(N_i, .)`` (CSR).

    Serial: a memory-bound copy (threads gain little) that compiles faster.
    """
    n_rows = k_indptr.shape[0] - 1
    for r in range(n_rows):
        g = r // M
        for a in range(A):
            pos = indptr[r * A + a]
            ga = g * A + a
            for e in range(pg_nnz[ga]):
                g2 = pg_idx[ga, e]
                w = pg_val[ga, e]
                for k in range(k_indptr[r], k_indptr[r + 1]):
                    idx[pos] = g2 * M + k_idx[k]
                    val[pos] = w * k_val[k]
                    pos += 1


# ============================================================ hypergeometric
@njit(cache=True)
def _hypergeom_row(N, k, B, Bf, ranks, weights):
    """Law of the counts of a uniform ``k``-subset of a population with counts ``N``.

    Enumerates the ``F <= N`` with ``sum F = k`` (lexicographic, bounded parts) and
    writes ``rank(F)`` and ``prod_x C(N_x, F_x) / C(n, k)``; returns how many.
    """
    L = N.shape[0]
    n = 0
    for x in range(L):
        n += N[x]
    total = Bf[n, k]
    F = np.zeros(L, dtype=np.int64)
    rem = k
    for x in range(L - 1, -1, -1):  # lexicographically first: mass as far right as fits
        F[x] = min(N[x], rem)
        rem -= F[x]
    count = 0
    while True:
        w = 1.0
        for x in range(L):
            w *= Bf[N[x], F[x]]
        ranks[count] = composition_rank(F, B)
        weights[count] = w / total
        count += 1
        # Next: rightmost i < L-1 that can grow while there is mass to its right.
        tail = F[L - 1]
        i = L - 2
        while i >= 0 and not (tail > 0 and F[i] < N[i]):
            tail += F[i]
            i -= 1
        if i < 0:
            break
        F[i] += 1
        rem = tail - 1
        for x in range(L - 1, i, -1):
            F[x] = min(N[x], rem)
            rem -= F[x]
    return count


@njit(cache=True)
def _subsample_policy_kernel(comps, k, B, Bf, pi_k, max_terms, out):
    """``out[g, i, a] = sum_F Hyp(F; N_i, k) pi_k[g, rank(F), a]``."""
    M = comps.shape[0]
    G = pi_k.shape[0]
    A = pi_k.shape[2]
    ranks = np.empty(max_terms, dtype=np.int64)
    weights = np.empty(max_terms)
    for i in range(M):  # serial: cheap next to the evaluation, and compiles 2x faster
        cnt = _hypergeom_row(comps[i], k, B, Bf, ranks, weights)
        for g in range(G):
            for a in range(A):
                out[g, i, a] = 0.0
            for j in range(cnt):
                for a in range(A):
                    out[g, i, a] += weights[j] * pi_k[g, ranks[j], a]


# =================================================================== sampling
@njit(cache=True)
def generative_draw(P_g, P_l, s_g, local_states, a_g, m, state):
    """``m`` independent draws of ``(s_g', s_1', ..., s_k')`` given ``(s_g, s_1..s_k, a_g)``.

    Numba kernel (callable from other kernels): ``state`` is a
    :mod:`mdplab.kernels.rng` stream. Per draw: ``s_g'`` first, then the locals in order.
    Returns ``(next_global (m,), next_local (m, k))``.
    """
    k = local_states.shape[0]
    g_out = np.empty(m, dtype=np.int64)
    l_out = np.empty((m, k), dtype=np.int64)
    for j in range(m):
        g_out[j] = categorical_dense(P_g[s_g, a_g], state)
        for i in range(k):
            l_out[j, i] = categorical_dense(P_l[local_states[i], s_g], state)
    return g_out, l_out


@njit(cache=True)
def _simulate_kernel(
    P_g,
    P_l,
    r_g,
    r_l,
    init_g,
    init_l,
    pi,
    mode,
    k,
    B,
    T,
    seeds,
    rec_locals,
    rec_counts,
    g_out,
    a_out,
    r_out,
):
    """Roll out the full ``n``-agent system; episode ``e`` uses stream ``seeds[e]``.

    Serial over episodes (one episode is ~n draws per step; sweeps parallelise over
    seeds/cells above this level, and a prange here triples the compile time).

    ``mode`` 0: ``pi[g, 0]`` (global-state policy); 1: ``pi[g, rank(N)]`` (counts of
    all ``n`` agents); 2: ``pi[g, rank(F)]`` with ``F`` the counts of a fresh uniform
    ``k``-subset (partial Fisher-Yates) each step (SUB-SAMPLE-Q execution).
    Draw order per episode: ``s_g``, ``s_1..s_n`` from the initial laws; then per
    step the subset (mode 2), ``a ~ pi``, ``s_g'``, ``s_1'..s_n'``.
    """
    E = seeds.shape[0]
    n = init_l.shape[0]
    L = P_l.shape[0]
    keep_locals = rec_locals.shape[0] == E
    keep_counts = rec_counts.shape[0] == E
    for e in range(E):
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[e], st)
        loc = np.empty(n, dtype=np.int64)
        nxt = np.empty(n, dtype=np.int64)
        perm = np.arange(n)
        cnt = np.zeros(L, dtype=np.int64)
        sub = np.zeros(L, dtype=np.int64)
        g = categorical_dense(init_g, st)
        for i in range(n):
            loc[i] = categorical_dense(init_l[i], st)
        for t in range(T + 1):
            for x in range(L):
                cnt[x] = 0
            for i in range(n):
                cnt[loc[i]] += 1
            g_out[e, t] = g
            if keep_locals:
                for i in range(n):
                    rec_locals[e, t, i] = loc[i]
            if keep_counts:
                for x in range(L):
                    rec_counts[e, t, x] = cnt[x]
            if t == T:
                break
            if mode == 0:
                row = 0
            elif mode == 1:
                row = composition_rank(cnt, B)
            else:
                for x in range(L):
                    sub[x] = 0
                for j in range(k):
                    m = j + int(next_double(st) * (n - j))
                    if m >= n:
                        m = n - 1
                    tmp = perm[j]
                    perm[j] = perm[m]
                    perm[m] = tmp
                    sub[loc[perm[j]]] += 1
                row = composition_rank(sub, B)
            a = categorical_dense(pi[g, row], st)
            rew = r_g[g, a]
            for x in range(L):
                rew += cnt[x] * r_l[x, g] / n
            a_out[e, t] = a
            r_out[e, t] = rew
            g2 = categorical_dense(P_g[g, a], st)
            for i in range(n):
                nxt[i] = categorical_dense(P_l[loc[i], g], st)
            for i in range(n):
                loc[i] = nxt[i]
            g = g2


@njit(cache=True)
def _generative_entry(P_g, P_l, s_g, local_states, a_g, m, seed):
    st = np.empty(4, dtype=np.uint64)
    seed_state(seed, st)
    return generative_draw(P_g, P_l, s_g, local_states, a_g, m, st)


@dataclass(frozen=True)
class GlobalLocalTrajectories:
    """Simulated episodes of a :class:`GlobalLocalSystem`.

    ``global_states (E, T+1)``, ``actions (E, T)``, ``rewards (E, T)`` (the mean
    reward ``r(s_t, a_t)``, which is deterministic given the state and action);
    ``local_states (E, T+1, n)`` and ``counts (E, T+1, S_l)`` when recorded, else None.
    """

    global_states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    local_states: np.ndarray | None
    counts: np.ndarray | None
    gamma: float

    def discounted_returns(self, gamma: float | None = None) -> np.ndarray:
        """``sum_{t<T} gamma^t r_t`` per episode, shape ``(E,)``."""
        g = self.gamma if gamma is None else float(gamma)
        return self.rewards @ (g ** np.arange(self.rewards.shape[1]))


# ====================================================================== model
def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def _sparse_rows(P2: np.ndarray):
    """Fixed-width sparse rows of a 2-d row-stochastic array: ``(idx, val, nnz)``."""
    nnz = (P2 > 0).sum(axis=1).astype(np.int64)
    width = max(int(nnz.max()), 1)
    idx = np.zeros((P2.shape[0], width), dtype=np.int64)
    val = np.zeros((P2.shape[0], width))
    for j in range(P2.shape[0]):
        (nz,) = np.nonzero(P2[j] > 0)
        idx[j, : nz.size] = nz
        val[j, : nz.size] = P2[j, nz]
    return idx, val, nnz


def _n_chunks(n_rows: int) -> int:
    import numba

    return max(1, min(n_rows, 8 * numba.get_num_threads()))


class GlobalLocalSystem:
    """A global agent and ``n`` homogeneous local agents (see the module docstring).

    Parameters
    ----------
    P_g : array_like, ``(S_g, A_g, S_g)``
        Global transitions ``P_g[s_g, a_g, s_g']``.
    P_l : array_like, ``(S_l, S_g, S_l)``
        Local transitions ``P_l[s_l, s_g, s_l']`` (the same for every agent).
    r_g : array_like, ``(S_g, A_g)``
        Global reward.
    r_l : array_like, ``(S_l, S_g)``
        Local reward; the system reward averages it over the agents.
    n_agents : int
        Number of local agents ``n >= 1``.
    gamma : float
        Discount in ``[0, 1)``.
    init_g : int or array_like ``(S_g,)``, optional
        Initial global state or distribution (default uniform).
    init_l : int or array_like ``(S_l,)`` or ``(n, S_l)``, optional
        Initial local state of every agent, or an i.i.d. per-agent distribution
        ``(S_l,)``, or one distribution per agent ``(n, S_l)`` (one-hot rows give a
        fixed initial joint state). Default uniform i.i.d.
    name : str, optional
        A label for reprs and reports.

    Immutable: arrays are read-only and attributes cannot be rebound. The count
    MDP is built on first use and cached.
    """

    __slots__ = (
        "P_g",
        "P_l",
        "r_g",
        "r_l",
        "n_agents",
        "gamma",
        "init_g",
        "init_l",
        "name",
        "S_g",
        "A_g",
        "S_l",
        "_cache",
    )

    def __init__(
        self,
        P_g,
        P_l,
        r_g,
        r_l,
        n_agents,
        gamma,
        *,
        init_g=None,
        init_l=None,
        name: str | None = None,
    ):
        set_ = object.__setattr__
        n = _check_int(n_agents, "n_agents", 1)
        if gamma is None:
            raise ValueError("gamma must be in [0, 1); got None")
        g = check_gamma(gamma)

        P_g = as_real_array(P_g, "P_g")
        if P_g.ndim != 3 or P_g.shape[0] != P_g.shape[2] or min(P_g.shape) < 1:
            raise ValueError(f"P_g must have shape (S_g, A_g, S_g); got {P_g.shape}")
        S_g, A_g = P_g.shape[:2]
        check_probability_rows(P_g, "P_g")

        P_l = as_real_array(P_l, "P_l")
        if P_l.ndim != 3 or P_l.shape[0] != P_l.shape[2] or min(P_l.shape) < 1:
            raise ValueError(f"P_l must have shape (S_l, S_g, S_l); got {P_l.shape}")
        if P_l.shape[1] != S_g:
            raise ValueError(
                f"P_l has shape {P_l.shape}: its axis 1 (global state) has {P_l.shape[1]} "
                f"entries but P_g has S_g = {S_g}"
            )
        S_l = P_l.shape[0]
        check_probability_rows(P_l, "P_l")

        r_g = as_real_array(r_g, "r_g")
        if r_g.shape != (S_g, A_g):
            raise ValueError(f"r_g must have shape (S_g, A_g) = ({S_g}, {A_g}); got {r_g.shape}")
        check_finite(r_g, "r_g", "rewards")
        r_l = as_real_array(r_l, "r_l")
        if r_l.shape != (S_l, S_g):
            raise ValueError(f"r_l must have shape (S_l, S_g) = ({S_l}, {S_g}); got {r_l.shape}")
        check_finite(r_l, "r_l", "rewards")

        init_g = self._init_vector(init_g, S_g, "init_g")
        if init_l is not None and np.ndim(init_l) == 2:
            init_l = as_real_array(init_l, "init_l")
            if init_l.shape != (n, S_l):
                raise ValueError(
                    f"a per-agent init_l must have shape (n_agents, S_l) = ({n}, {S_l}); "
                    f"got {init_l.shape}"
                )
            check_probability_rows(init_l, "init_l")
        else:
            init_l = self._init_vector(init_l, S_l, "init_l")

        freeze(P_g, P_l, r_g, r_l, init_g, init_l)
        for key, value in dict(
            P_g=P_g,
            P_l=P_l,
            r_g=r_g,
            r_l=r_l,
            n_agents=n,
            gamma=g,
            init_g=init_g,
            init_l=init_l,
            name=name,
            S_g=int(S_g),
            A_g=int(A_g),
            S_l=int(S_l),
            _cache={},
        ).items():
            set_(self, key, value)

    @staticmethod
    def _init_vector(init, size: int, name: str) -> np.ndarray:
        if init is None:
            return np.full(size, 1.0 / size)
        if isinstance(init, numbers.Integral) and not isinstance(init, bool):
            if not 0 <= init < size:
                raise ValueError(f"{name} = {init} is not a state index in [0, {size})")
            out = np.zeros(size)
            out[int(init)] = 1.0
            return out
        arr = as_real_array(init, name)
        if arr.shape != (size,):
            raise ValueError(
                f"{name} must be a state index or a distribution of shape ({size},); "
                f"got shape {arr.shape}"
            )
        check_finite(arr, name, "probabilities")
        if (arr < 0).any():
            i = int(np.argmax(arr < 0))
            raise ValueError(f"{name}[{i}] = {arr[i]:.6g} is negative")
        if abs(arr.sum() - 1.0) > ROW_SUM_TOL:
            raise ValueError(
                f"{name} sums to {arr.sum():.12g}; it must sum to 1 within {ROW_SUM_TOL:g}"
            )
        return arr

    def __setattr__(self, key, value):
        raise AttributeError("GlobalLocalSystem is immutable; build a new one")

    def __delattr__(self, key):
        raise AttributeError("GlobalLocalSystem is immutable")

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return (
            f"GlobalLocalSystem({label}S_g={self.S_g}, A_g={self.A_g}, S_l={self.S_l}, "
            f"n_agents={self.n_agents}, gamma={self.gamma}, count states={self.n_count_states})"
        )

    def with_agents(self, n_agents: int) -> GlobalLocalSystem:
        """The same system with ``n_agents`` local agents (a per-agent ``init_l`` is refused)."""
        if self.init_l.ndim == 2:
            raise ValueError("with_agents needs an i.i.d. init_l of shape (S_l,)")
        return GlobalLocalSystem(
            self.P_g,
            self.P_l,
            self.r_g,
            self.r_l,
            n_agents,
            self.gamma,
            init_g=self.init_g,
            init_l=self.init_l,
            name=self.name,
        )

    # ------------------------------------------------------------ sizes / maps
    def count_space_size(self, n: int | None = None) -> int:
        """Number of count vectors ``C(n + S_l - 1, S_l - 1)`` (default ``n = n_agents``)."""
        return count_space_size(self.n_agents if n is None else n, self.S_l)

    @property
    def n_counts(self) -> int:
        """``M``: count vectors of the ``n`` agents."""
        return self.count_space_size()

    @property
    def n_count_states(self) -> int:
        """``S_g * M``: states of the count MDP."""
        return self.S_g * self.n_counts

    @property
    def n_joint_states(self) -> int:
        """``S_g * S_l^n``: states of the joint MDP."""
        return self.S_g * self.S_l**self.n_agents

    def compositions(self, k: int | None = None) -> np.ndarray:
        """Count vectors of ``k`` agents (default ``n``), index order: ``(C(k+S_l-1, k), S_l)``."""
        k = self.n_agents if k is None else _check_int(k, "k", 0)
        key = ("comps", k)
        if key not in self._cache:
            arr = compositions(k, self.S_l)
            freeze(arr)
            self._cache[key] = arr
        return self._cache[key]

    def _binomials(self) -> np.ndarray:
        if "B" not in self._cache:
            self._cache["B"] = _binomial_table(self.n_agents, self.S_l)
        return self._cache["B"]

    def _successors(self):
        if "succ" not in self._cache:
            self._cache["succ"] = _successor_table(self.n_agents, self.S_l, self._binomials())
        return self._cache["succ"]

    def count_index(self, s_g: int, counts) -> int:
        """Index ``s_g * M + rank(counts)`` of a count state."""
        c = np.asarray(counts)
        if c.shape != (self.S_l,) or not np.issubdtype(c.dtype, np.integer) or (c < 0).any():
            raise ValueError(f"counts must be {self.S_l} non-negative integers; got {counts!r}")
        if int(c.sum()) != self.n_agents:
            raise ValueError(f"counts sum to {int(c.sum())}; there are {self.n_agents} agents")
        return self._check_global(s_g) * self.n_counts + composition_index(c)

    def count_state(self, index: int) -> tuple[int, np.ndarray]:
        """``(s_g, counts)`` of a count-state index (inverse of :meth:`count_index`)."""
        M = self.n_counts
        if not 0 <= int(index) < self.S_g * M:
            raise ValueError(f"count-state index {index} is not in [0, {self.S_g * M})")
        g, r = divmod(int(index), M)
        out = np.empty(self.S_l, dtype=np.int64)
        composition_unrank(r, self.n_agents, self._binomials(), out)
        return g, out

    def _check_global(self, s_g) -> int:
        if isinstance(s_g, bool) or not isinstance(s_g, numbers.Integral):
            raise ValueError(f"s_g must be an integer global state; got {s_g!r}")
        if not 0 <= s_g < self.S_g:
            raise ValueError(f"s_g = {s_g} is not a global state in [0, {self.S_g})")
        return int(s_g)

    def _check_locals(self, local_states, length=None) -> np.ndarray:
        loc = np.asarray(local_states)
        if loc.ndim != 1 or not np.issubdtype(loc.dtype, np.integer):
            raise ValueError(f"local_states must be a 1-d integer array; got {local_states!r}")
        if length is not None and loc.size != length:
            raise ValueError(f"local_states has {loc.size} entries; expected {length}")
        bad = (loc < 0) | (loc >= self.S_l)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"local_states[{i}] = {loc[i]} is not a local state in [0, {self.S_l})"
            )
        return loc.astype(np.int64)

    def joint_index(self, s_g: int, local_states) -> int:
        """Index ``s_g * S_l^n + sum_i s_i S_l^(n-i)`` of a joint state."""
        loc = self._check_locals(local_states, self.n_agents)
        idx = 0
        for s in loc:
            idx = idx * self.S_l + int(s)
        return self._check_global(s_g) * self.S_l**self.n_agents + idx

    def joint_to_count(self, joint_indices=None) -> np.ndarray:
        """Count-state index of each joint-state index (default: all joint states, in order)."""
        n, L = self.n_agents, self.S_l
        Ln = L**n
        if joint_indices is None:
            self._check_joint_size(DEFAULT_MAX_JOINT_STATES * 20)
            j = np.arange(self.S_g * Ln, dtype=np.int64)
        else:
            j = np.asarray(joint_indices, dtype=np.int64)
            if ((j < 0) | (j >= self.S_g * Ln)).any():
                raise ValueError(f"joint indices must lie in [0, {self.S_g * Ln})")
        shape = j.shape
        g, rest = np.divmod(j.ravel(), Ln)
        counts = np.zeros((g.size, L), dtype=np.int64)
        for _ in range(n):
            rest, digit = np.divmod(rest, L)
            np.add.at(counts, (np.arange(g.size), digit), 1)
        return (g * self.n_counts + composition_index(counts)).reshape(shape)

    # -------------------------------------------------------------- count MDP
    def count_kernel(self, s_g: int) -> sp.csr_matrix:
        """``K_{s_g}(N, N')``: the law of the next counts given ``s_g``, a CSR ``(M, M)``."""
        g = self._check_global(s_g)
        indptr, idx, val = self._kernels()
        M = self.n_counts
        lo, hi = indptr[g * M], indptr[(g + 1) * M]
        return sp.csr_matrix(
            (val[lo:hi], idx[lo:hi], indptr[g * M : (g + 1) * M + 1] - lo), shape=(M, M)
        )

    def _support_bounds(self) -> np.ndarray:
        """Per row ``(g, i)``: ``min(M, prod_x C(N_x + k_x - 1, k_x - 1))``, an upper bound
        on the support of ``K_g(N_i, .)``."""
        comps = self.compositions()
        k = (self.P_l > 0).sum(axis=2).T  # (S_g, S_l) support sizes
        lg = np.zeros((self.S_g, comps.shape[0]))
        from scipy.special import gammaln

        for g in range(self.S_g):
            kk = k[g][None, :]
            lg[g] = (gammaln(comps + kk) - gammaln(comps + 1) - gammaln(kk)).sum(axis=1)
        return np.minimum(np.exp(lg) * (1 + 1e-9) + 1, comps.shape[0]).astype(np.int64)

    def _kernels(self, max_nnz: int = DEFAULT_MAX_NNZ):
        if "kernels" in self._cache:
            return self._cache["kernels"]
        comps = self.compositions()
        M, L, G = comps.shape[0], self.S_l, self.S_g
        bounds = self._support_bounds()
        gsupp = (self.P_g > 0).sum(axis=2).sum(axis=1)  # (S_g,) summed over actions
        # The product-of-supports bound is 1-4x the truth on the shipped instances: refuse
        # hopeless sizes at once, decide borderline ones on the exact count below.
        nnz_bound = int((bounds * gsupp[:, None]).sum())
        if nnz_bound > _BOUND_SLACK * max_nnz:
            self._too_many(nnz_bound, max_nnz, "up to ")
        P2 = np.ascontiguousarray(self.P_l.transpose(1, 0, 2).reshape(G * L, L))
        ridx, rval, rnnz = _sparse_rows(P2)
        off, succ = self._successors()
        max_support = int(bounds.max())
        chunks = _n_chunks(G * M)
        indptr = np.zeros(G * M + 1, dtype=np.int64)
        dummy_i = np.empty(0, dtype=np.int64)
        dummy_v = np.empty(0)
        # Two passes (sizes, then values) keep memory at the exact nnz.
        _count_kernel_pass(
            comps,
            G,
            ridx,
            rval,
            rnnz,
            succ,
            off,
            max_support,
            chunks,
            indptr,
            dummy_i,
            dummy_v,
            False,
        )
        np.cumsum(indptr, out=indptr)
        nnz = int((np.diff(indptr).reshape(G, M) * gsupp[:, None]).sum())
        if nnz > max_nnz:
            self._too_many(nnz, max_nnz, "")
        idx = np.empty(indptr[-1], dtype=np.int64)
        val = np.empty(indptr[-1])
        _count_kernel_pass(
            comps, G, ridx, rval, rnnz, succ, off, max_support, chunks, indptr, idx, val, True
        )
        # Sorted rows make the assembled count MDP canonical (no re-sort in TabularMDP).
        K = sp.csr_matrix((val, idx, indptr), shape=(G * M, M))
        K.sort_indices()
        out = (
            np.asarray(K.indptr, dtype=np.int64),
            np.asarray(K.indices, dtype=np.int64),
            np.asarray(K.data, dtype=np.float64),
        )
        self._cache["kernels"] = out
        return out

    def _too_many(self, nnz: int, max_nnz: int, qualifier: str):
        raise ValueError(
            f"the count MDP (n_agents={self.n_agents}, S_l={self.S_l}: {self.n_count_states} "
            f"count states) has {qualifier}{nnz:.3g} transition entries, more than "
            f"max_nnz={max_nnz:.3g}; use fewer agents or local states, or raise max_nnz"
        )

    def count_rewards(self) -> np.ndarray:
        """``R[(s_g, N), a] = r_g(s_g, a) + (1/n) sum_x N_x r_l(x, s_g)``, ``(S_g * M, A_g)``."""
        local = (self.compositions() @ self.r_l).T / self.n_agents  # (S_g, M)
        R = self.r_g[:, None, :] + local[:, :, None]
        return R.reshape(-1, self.A_g)

    def initial_count_distribution(self) -> np.ndarray:
        """Law of the initial count state, ``(S_g * M,)``: ``init_g (x) law(N_0)``.

        ``N_0`` is multinomial ``Mult(n, init_l)`` for an i.i.d. ``init_l``, and the
        exact convolution of the per-agent laws for an ``(n, S_l)`` ``init_l``.
        """
        comps = self.compositions()
        if self.init_l.ndim == 1:
            q = multinomial.pmf(comps, self.n_agents, self.init_l)
            q = np.where(np.isfinite(q), q, 0.0)
        else:
            q = np.zeros(comps.shape[0])
            ridx, rval, rnnz = _sparse_rows(self.init_l)
            ms = comps.shape[0]
            off, succ = self._successors()
            size, p, r = _convolve_agents(
                np.arange(self.n_agents, dtype=np.int64),
                ridx,
                rval,
                rnnz,
                succ,
                off,
                np.full(ms, -1, dtype=np.int64),
                np.empty(ms),
                np.empty(ms, dtype=np.int64),
                np.empty(ms),
                np.empty(ms, dtype=np.int64),
            )
            q[r[:size]] = p[:size]
        return np.outer(self.init_g, q).ravel()

    def count_mdp(
        self, *, sparse: bool | None = None, max_nnz: int = DEFAULT_MAX_NNZ
    ) -> TabularMDP:
        """The count MDP on states ``(s_g, N)`` (index ``s_g * M + rank(N)``), actions ``A_g``.

        ``sparse=None`` stores ``P`` dense when it fits in 32 MiB, else CSR. Built on
        first call and cached per storage form. Raises ValueError when an upper bound
        on the number of transition entries exceeds ``max_nnz``.
        """
        S, A = self.n_count_states, self.A_g
        if sparse is None:
            sparse = S * S * A * 8 > _DENSE_BYTES
        key = ("count_mdp", bool(sparse))
        if key in self._cache:
            return self._cache[key]
        k_indptr, k_idx, k_val = self._kernels(max_nnz)
        M = self.n_counts
        pg_idx, pg_val, pg_nnz = _sparse_rows(self.P_g.reshape(-1, self.S_g))
        k_len = np.diff(k_indptr)  # (S_g * M,)
        g_of_row = np.repeat(np.arange(self.S_g), M)
        row_len = k_len[:, None] * pg_nnz.reshape(self.S_g, A)[g_of_row]  # (S, A)
        indptr = np.zeros(S * A + 1, dtype=np.int64)
        np.cumsum(row_len.ravel(), out=indptr[1:])
        idx = np.empty(indptr[-1], dtype=np.int32 if S < 2**31 else np.int64)
        val = np.empty(indptr[-1])
        _assemble_count_mdp(k_indptr, k_idx, k_val, pg_idx, pg_val, pg_nnz, M, A, indptr, idx, val)
        P = sp.csr_matrix((val, idx, indptr), shape=(S * A, S))
        if not sparse:
            P = P.toarray().reshape(S, A, S)
        label = f"{self.name or 'global-local'} counts n={self.n_agents}"
        mdp = TabularMDP(
            P,
            self.count_rewards(),
            gamma=self.gamma,
            init=self.initial_count_distribution(),
            name=label,
        )
        self._cache[key] = mdp
        return mdp

    # -------------------------------------------------------------- joint MDP
    def _check_joint_size(self, max_states: int) -> None:
        S = self.n_joint_states
        if S > max_states:
            raise ValueError(
                f"the joint MDP would have S_g * S_l^n = {self.S_g} * {self.S_l}^{self.n_agents}"
                f" = {S} states, more than max_states={max_states}; use count_mdp() "
                "(states (s_g, counts)) or raise max_states"
            )

    def joint_mdp(
        self, *, max_states: int = DEFAULT_MAX_JOINT_STATES, max_nnz: int = DEFAULT_MAX_NNZ
    ) -> TabularMDP:
        """The MDP on the full joint state ``(s_g, s_1, ..., s_n)`` (sparse CSR).

        Built directly from Kronecker products ``P_g(.|s_g,a) (x) P_l(.|s_1,s_g) (x) ...
        (x) P_l(.|s_n,s_g)`` (no counts involved): the independent ground truth for
        the count MDP. Refuses more than ``max_states`` joint states.
        """
        self._check_joint_size(max_states)
        n, L, G, A = self.n_agents, self.S_l, self.S_g, self.A_g
        kmax = int((self.P_l > 0).sum(axis=2).max())
        gmax = int((self.P_g > 0).sum(axis=2).max())
        nnz_bound = self.n_joint_states * A * gmax * kmax**n
        if nnz_bound > max_nnz:
            raise ValueError(
                f"the joint MDP may have up to {nnz_bound:.3g} transition entries, more than "
                f"max_nnz={max_nnz:.3g}"
            )
        Ln = L**n
        blocks = []
        for g in range(G):
            Kg = sp.csr_matrix(np.ones((1, 1)))
            Pl_g = sp.csr_matrix(self.P_l[:, g, :])
            for _ in range(n):
                Kg = sp.kron(Kg, Pl_g, format="csr")
            for a in range(A):
                blocks.append(sp.kron(sp.csr_matrix(self.P_g[g, a][None, :]), Kg, format="csr"))
        stacked = sp.vstack(blocks, format="csr")  # rows ordered (g, a, l)
        g_, l_, a_ = np.meshgrid(np.arange(G), np.arange(Ln), np.arange(A), indexing="ij")
        P = stacked[((g_ * A + a_) * Ln + l_).ravel()]  # rows ordered (g, l, a)
        R = np.empty((G, Ln, A))
        digits = np.indices((L,) * n).reshape(n, -1)  # digits[i, l] = s_{i+1}
        for g in range(G):
            local = self.r_l[digits, g].mean(axis=0)
            R[g] = self.r_g[g][None, :] + local[:, None]
        init_l = self.init_l if self.init_l.ndim == 2 else np.broadcast_to(self.init_l, (n, L))
        q = np.ones(1)
        for i in range(n):
            q = np.kron(q, init_l[i])
        label = f"{self.name or 'global-local'} joint n={n}"
        return TabularMDP(
            P, R.reshape(-1, A), gamma=self.gamma, init=np.kron(self.init_g, q), name=label
        )

    # ----------------------------------------------------- policies on counts
    def initial_value(self, values) -> float:
        """``E[V(s_g, N_0)]`` under the initial law; ``values`` ``(S_g*M,)``, ``(S_g, M)``
        or a PlanningResult of the count MDP."""
        v = np.asarray(getattr(values, "values", values), dtype=float).ravel()
        if v.size != self.n_count_states:
            raise ValueError(f"values must have {self.n_count_states} entries; got {v.size}")
        return float(self.initial_count_distribution() @ v)

    def count_policy(self, policy, k: int | None = None) -> np.ndarray:
        """A policy on the counts of ``k`` agents (default ``n``) as ``(S_g, M_k, A_g)`` floats.

        ``policy``: deterministic ``(S_g, M_k)`` / ``(S_g*M_k,)`` integer, or stochastic
        ``(S_g, M_k, A_g)`` / ``(S_g*M_k, A_g)``; validated (a bad entry is named).
        """
        M = self.count_space_size(k)
        G, A = self.S_g, self.A_g
        pol = np.asarray(policy)
        what = f"a policy on the counts of {self.n_agents if k is None else k} agents"
        if np.issubdtype(pol.dtype, np.integer):
            if pol.shape not in ((G * M,), (G, M)):
                raise ValueError(
                    f"{what} (deterministic) must have shape (S_g, M) = ({G}, {M}) or "
                    f"({G * M},); got {pol.shape}"
                )
            pol = pol.reshape(G, M)
            bad = (pol < 0) | (pol >= A)
            if bad.any():
                g, i = np.argwhere(bad)[0]
                raise ValueError(f"policy[{g}, {i}] = {pol[g, i]} is not an action in [0, {A})")
            out = np.zeros((G, M, A))
            np.put_along_axis(out, pol[..., None], 1.0, axis=2)
            return out
        pol = as_real_array(pol, "policy")
        if pol.shape not in ((G * M, A), (G, M, A)):
            raise ValueError(
                f"{what} (stochastic) must have shape (S_g, M, A_g) = ({G}, {M}, {A}) or "
                f"({G * M}, {A}); got {pol.shape} (deterministic policies need an integer dtype)"
            )
        pol = pol.reshape(G, M, A)
        check_probability_rows(pol, "policy")
        return pol

    def subsample_policy(self, pi_k, k: int) -> np.ndarray:
        """The policy SUB-SAMPLE-Q execution induces on counts, ``(S_g, M, A_g)``.

        ``pi(a | s_g, N) = sum_F Hyp(F; N, k) pi_k(a | s_g, F)`` with ``F`` over the
        count vectors of ``k`` agents (index order of :meth:`compositions`). ``pi_k``:
        deterministic ``(S_g, M_k)`` / ``(S_g*M_k,)`` integer or stochastic
        ``(S_g, M_k, A_g)`` / ``(S_g*M_k, A_g)``; ``1 <= k <= n``.
        """
        k = _check_int(k, "k", 1)
        if k > self.n_agents:
            raise ValueError(f"k = {k} exceeds n_agents = {self.n_agents}")
        table = self.count_policy(pi_k, k)
        comps = self.compositions()
        Bf = _float_binomials(self.n_agents)
        max_terms = min(
            self.count_space_size(k),
            int(np.prod(np.minimum(comps.max(axis=0), k) + 1, dtype=np.float64)) + 1,
        )
        out = np.empty((self.S_g, comps.shape[0], self.A_g))
        _subsample_policy_kernel(comps, k, self._binomials(), Bf, table, max_terms, out)
        return out

    def hypergeometric_law(self, counts, k: int) -> np.ndarray:
        """``Hyp(F; N, k)`` for every count vector ``F`` of ``k`` agents, ``(M_k,)``."""
        N = np.asarray(counts, dtype=np.int64)
        if N.shape != (self.S_l,) or (N < 0).any() or N.sum() != self.n_agents:
            raise ValueError(
                f"counts must be {self.S_l} non-negative integers summing to {self.n_agents}"
            )
        k = _check_int(k, "k", 0)
        if k > self.n_agents:
            raise ValueError(f"k = {k} exceeds n_agents = {self.n_agents}")
        Mk = self.count_space_size(k)
        ranks = np.empty(Mk, dtype=np.int64)
        w = np.empty(Mk)
        cnt = _hypergeom_row(N, k, self._binomials(), _float_binomials(self.n_agents), ranks, w)
        out = np.zeros(Mk)
        out[ranks[:cnt]] = w[:cnt]
        return out

    # ----------------------------------------------------------------- sampling
    def reward(self, s_g: int, local_states, a_g: int) -> float:
        """``r_g(s_g, a_g) + mean_i r_l(s_i, s_g)`` over the given local states."""
        g = self._check_global(s_g)
        loc = self._check_locals(local_states)
        if loc.size == 0:
            raise ValueError("local_states must list at least one agent")
        return float(self.r_g[g, self._check_action(a_g)] + self.r_l[loc, g].mean())

    def _check_action(self, a_g) -> int:
        if (
            isinstance(a_g, bool)
            or not isinstance(a_g, numbers.Integral)
            or not (0 <= a_g < self.A_g)
        ):
            raise ValueError(f"a_g = {a_g!r} is not an action in [0, {self.A_g})")
        return int(a_g)

    def sample_next(self, s_g: int, local_states, a_g: int, m: int, seed=None):
        """Generative-model query: ``m`` draws of the next global and local states.

        ``local_states`` may list any number of agents (``k`` for SUB-SAMPLE-Q).
        Returns ``(next_global (m,), next_local (m, k), reward)`` with the
        deterministic ``reward = r_g(s_g, a_g) + mean_i r_l(s_i, s_g)``.
        """
        rew = self.reward(s_g, local_states, a_g)
        m = _check_int(m, "m", 1)
        seed0 = stream_seeds(seed, 1)[0]
        g_out, l_out = _generative_entry(
            self.P_g, self.P_l, int(s_g), self._check_locals(local_states), int(a_g), m, seed0
        )
        return g_out, l_out, rew

    def simulate(
        self,
        policy,
        n_steps: int,
        n_episodes: int,
        seed=None,
        *,
        k: int | None = None,
        record: str = "counts",
    ) -> GlobalLocalTrajectories:
        """Simulate the full ``n``-agent system (all ``n + 1`` agents move every step).

        ``policy`` acts on, with ``k=None``: the global state only (``(S_g,)`` integer
        or ``(S_g, A_g)`` float), or the counts of all agents (as in :meth:`count_policy`);
        with ``k`` given: a table on the counts of ``k`` agents applied to a fresh
        uniform ``k``-subset each step (SUB-SAMPLE-Q execution, Algorithm 2).
        ``record``: ``"counts"``, ``"locals"``, ``"both"`` or ``"none"``. Episodes start
        from ``init_g`` / ``init_l``; episode ``e`` uses its own random stream, so
        results do not depend on the number of threads.
        """
        T = _check_int(n_steps, "n_steps", 1)
        E = _check_int(n_episodes, "n_episodes", 1)
        if record not in ("counts", "locals", "both", "none"):
            raise ValueError(f"record must be 'counts', 'locals', 'both' or 'none'; got {record!r}")
        G, A, n, L = self.S_g, self.A_g, self.n_agents, self.S_l
        pol = np.asarray(policy)
        if k is not None:
            k = _check_int(k, "k", 1)
            if k > n:
                raise ValueError(f"k = {k} exceeds n_agents = {n}")
            mode, table = 2, self.count_policy(policy, k)
        elif (np.issubdtype(pol.dtype, np.integer) and pol.shape == (G,)) or (
            not np.issubdtype(pol.dtype, np.integer) and pol.shape == (G, A) and self.n_counts > 1
        ):
            mode, table = 0, self._global_policy(pol)
        else:
            mode, table = 1, self.count_policy(policy)
        init_l = (
            self.init_l
            if self.init_l.ndim == 2
            else np.ascontiguousarray(np.broadcast_to(self.init_l, (n, L)))
        )
        seeds = stream_seeds(seed, E)
        g_out = np.empty((E, T + 1), dtype=np.int64)
        a_out = np.empty((E, T), dtype=np.int64)
        r_out = np.empty((E, T))
        keep_l = record in ("locals", "both")
        keep_c = record in ("counts", "both")
        rec_l = np.empty((E, T + 1, n) if keep_l else (0, 0, 0), dtype=np.int64)
        rec_c = np.empty((E, T + 1, L) if keep_c else (0, 0, 0), dtype=np.int64)
        _simulate_kernel(
            self.P_g,
            self.P_l,
            self.r_g,
            self.r_l,
            self.init_g,
            init_l,
            np.ascontiguousarray(table),
            mode,
            0 if k is None else k,
            self._binomials(),
            T,
            seeds,
            rec_l,
            rec_c,
            g_out,
            a_out,
            r_out,
        )
        return GlobalLocalTrajectories(
            g_out, a_out, r_out, rec_l if keep_l else None, rec_c if keep_c else None, self.gamma
        )

    def _global_policy(self, pol: np.ndarray) -> np.ndarray:
        G, A = self.S_g, self.A_g
        if np.issubdtype(pol.dtype, np.integer):
            bad = (pol < 0) | (pol >= A)
            if bad.any():
                g = int(np.argmax(bad))
                raise ValueError(f"policy[{g}] = {pol[g]} is not an action in [0, {A})")
            out = np.zeros((G, 1, A))
            out[np.arange(G), 0, pol] = 1.0
            return out
        arr = as_real_array(pol, "policy")
        check_probability_rows(arr, "policy")
        return arr[:, None, :]


def _float_binomials(n: int) -> np.ndarray:
    """``Bf[m, j] = C(m, j)`` as float64 for ``m, j <= n`` (0 for ``j > m``)."""
    Bf = np.zeros((n + 1, n + 1))
    for m in range(n + 1):
        for j in range(m + 1):
            Bf[m, j] = float(math.comb(m, j))
    return Bf

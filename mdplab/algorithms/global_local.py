"""SUB-SAMPLE-Q: learn a global policy on ``k`` of the ``n`` local agents (Anand & Qu).

Paper: E. Anand and G. Qu, "Efficient Reinforcement Learning for Global Decision
Making in the Presence of Local Agents at Scale", arXiv 2403.00222 (v1 2024 to
v3; ICLR 2025 submission). Model: :mod:`mdplab.models.global_local` (one global
agent acts; ``n`` homogeneous local agents move by ``P_l(. | s_i, s_g)``; reward
``r_g(s_g, a_g) + (1/n) sum_i r_l(s_i, s_g)``).

Learning (Algorithm 1, mean-field form). The table ``Q(s_g, F, a_g)`` is indexed
by the global state, the *count vector* ``F`` of ``k`` local states (one of the
``M_k = C(k + |S_l| - 1, |S_l| - 1)`` compositions of ``k``, index order of
:func:`mdplab.models.global_local.compositions`) and the global action. From
``Q^0 = 0``, ``T`` times, for every entry (in parallel): take any ``s_Delta``
with counts ``F``, draw ``m`` generative samples ``s_g^j ~ P_g(. | s_g, a_g)``,
``s_i^j ~ P_l(. | s_i, s_g)`` for the ``k`` agents, and set

    Q^{t+1}(s_g, F, a_g) = r_g(s_g, a_g) + (1/k) sum_{i in Delta} r_l(s_i, s_g)
                           + (gamma / m) sum_j max_a' Q^t(s_g^j, F(s_Delta^j), a').

This empirical operator ``T_{k,m}`` is an unbiased, gamma-contractive estimate of
the exact ``k``-agent operator ``T_k``, which is the Bellman operator of the
count MDP of the same system with ``k`` agents; its fixed point is ``Q*_k``.
The certainty-equivalent variant (``method="exact"``) applies ``T_k`` itself
(exact expectations, the ``epsilon_{k,m} = 0`` reference). The Bellman noise
``epsilon_{k,m} = ||Q_est - Q*_k||_inf`` is computed exactly against ``Q*_k``
(:func:`subsample_q_star`, certified value iteration on the ``k``-agent count MDP).

Execution (Algorithm 2). ``pi_k(s_g, F) = argmax_a Q_est`` (first maximiser) is
applied to the counts of a fresh uniform ``k``-subset of the ``n`` agents each
step; the induced policy on ``n``-agent counts mixes ``pi_k`` with multivariate
hypergeometric weights, so its value is exact by a linear solve on the count
MDP (:func:`subsample_gap`, through
:func:`mdplab.planning.global_local_evaluate_subsample`) where ``n`` allows it,
and simulated with a 95% CI otherwise (:func:`subsample_value_simulated`).

Theorem (SUBSAMPLE-MFQ, arXiv 2412.00661, Thm 4.2, with local actions removed:
the SUB-SAMPLE-Q form is *reconstructed* [R] in the paper notes). With
``r~ = ||r_g||_inf + ||r_l||_inf``, with high probability, for every ``s_0``:

    V*(s_0) - V^{pi_k}(s_0)
        <= r~/(1-gamma)^2 sqrt( (n-k+1)/(2nk) ln(c r~ |S_l||A_g| sqrt(k)/(1-gamma)^2) )
           + O(1/sqrt(k)) + 2 epsilon_{k,m},

(the printed constants: ``c = 40``, ``O(1/sqrt k) = 1/(10 sqrt k)``; the placement
of the square root is inferred from a flattened text, and ``2 epsilon`` may have
lost a ``1/(1-gamma)``), and ``epsilon_{k,m} = O~(1/sqrt(m))`` at fixed ``k``,
``gamma`` (Lemma 4.3). The verified headline rate is ``O~(1/sqrt(k) + epsilon_{k,m})``
(``1/sqrt(k)``, not ``1/k``). :func:`gap_bound` evaluates the first term with
these constants as parameters.

Cost. One iteration draws ``m`` samples of ``k + 1`` agents for each of the
``|S_g| M_k |A_g|`` entries: ``O(m T k |S_g| |A_g| k^{|S_l|-1})`` for the
mean-field table (``M_k <= (k+1)^{|S_l|-1}``), against ``|S_g| |S_l|^k |A_g|``
entries for the ordered ``k``-tuple table of v1; nothing depends on ``n``. Here
a sample costs ``k + 1`` alias-table draws (O(1) each, one uniform), an
insertion sort of the ``k`` new local states and ``k`` look-ups in a small
binomial table (the rank of the new counts), and one look-up of
``V^t = max_a Q^t``. Randomness: entry ``e`` at iteration ``t`` uses its own
:mod:`mdplab.kernels.rng` stream, so results do not depend on the thread count.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from mdplab.algorithms.objectives import EXPECTED_RETURN
from mdplab.algorithms.protocol import PolicyLearner, Snapshot
from mdplab.kernels.bellman import q_backup_csr
from mdplab.kernels.rng import next_double, seed_state, splitmix64_mix, stream_key
from mdplab.models.global_local import GlobalLocalSystem, composition_unrank
from mdplab.planning.global_local import (
    global_local_evaluate,
    global_local_evaluate_subsample,
    global_local_solve,
)

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "SubsamplePolicy",
    "SubsampleQ",
    "SubsampleQResult",
    "exact_k_operator",
    "empirical_k_operator",
    "gap_bound",
    "k_agent_system",
    "learn_subsample_q",
    "subsample_gap",
    "subsample_optimal_value",
    "subsample_q",
    "subsample_q_star",
    "subsample_value_simulated",
    "table_bytes",
    "tuple_table_entries",
]

DEFAULT_MEMORY_LIMIT = 2 * 1024**3
"""Largest working set (bytes) of the ``k``-agent table :func:`learn_subsample_q` allocates."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# ============================================================== validation
def _int_arg(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value}")
    return int(value)


def _check_system(system) -> GlobalLocalSystem:
    if not isinstance(system, GlobalLocalSystem):
        P_l = getattr(system, "P_l", None)
        if P_l is not None and np.ndim(P_l) == 4:
            raise ValueError(
                "the local transition P_l has 4 axes, i.e. it depends on the global action; "
                "SUB-SAMPLE-Q needs P_l(. | s_l, s_g) of shape (S_l, S_g, S_l) (local moves "
                "independent of a_g), as in GlobalLocalSystem"
            )
        raise TypeError(f"expected a GlobalLocalSystem; got {type(system).__name__}")
    return system


def _check_k(system: GlobalLocalSystem, k) -> int:
    k = _int_arg(k, "k", 1)
    if k > system.n_agents:
        raise ValueError(f"k = {k} exceeds n_agents = {system.n_agents} (need 1 <= k <= n)")
    return k


def table_bytes(system: GlobalLocalSystem, k: int) -> int:
    """Working set of the learner: ``Q`` (``|S_g| M_k |A_g|``) and two ``V`` tables, float64."""
    M = math.comb(k + system.S_l - 1, system.S_l - 1)
    return system.S_g * M * (system.A_g + 2) * 8


def tuple_table_entries(system: GlobalLocalSystem, k: int) -> int:
    """Entries of the ordered ``k``-tuple table of v1: ``|S_g| |S_l|^k |A_g|`` (for comparison)."""
    return system.S_g * system.S_l**k * system.A_g


def _check_memory_limit(memory_limit) -> None:
    if isinstance(memory_limit, bool) or not isinstance(memory_limit, numbers.Real) \
            or not 0 < memory_limit < math.inf:
        raise ValueError(f"memory_limit must be a positive finite number of bytes; "
                         f"got {memory_limit!r}")


def _check_memory(system: GlobalLocalSystem, k: int, memory_limit) -> None:
    _check_memory_limit(memory_limit)
    need = table_bytes(system, k)
    if need > memory_limit:
        M = system.count_space_size(k)
        raise ValueError(
            f"the k = {k} table has |S_g| M_k |A_g| = {system.S_g} * {M} * {system.A_g} = "
            f"{system.S_g * M * system.A_g:.3g} entries and needs {need / 2**20:.1f} MiB, more "
            f"than memory_limit = {memory_limit / 2**20:.1f} MiB; use a smaller k or raise "
            "memory_limit"
        )


def k_agent_system(system: GlobalLocalSystem, k: int) -> GlobalLocalSystem:
    """The same system with ``k`` agents: its count MDP is ``T_k``'s. The local start
    law is kept when it is i.i.d. ``(S_l,)``; a per-agent ``(n, S_l)`` law has no
    ``k``-agent version, and the uniform i.i.d. law is used (Q*_k does not depend on it,
    only the k-agent system's own initial value does)."""
    system = _check_system(system)
    k = _check_k(system, k)
    init_l = system.init_l if system.init_l.ndim == 1 else None
    return GlobalLocalSystem(system.P_g, system.P_l, system.r_g, system.r_l, k, system.gamma,
                             init_g=system.init_g, init_l=init_l,
                             name=f"{system.name or 'global-local'} k={k}")


# ============================================================ alias tables
def _alias_tables(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias tables of each row: ``(prob, alias)``, both ``(R, W)``.

    A draw: ``u ~ U[0,1)``, ``j = floor(u W)``, keep ``j`` if ``u W - j < prob[j]``
    else ``alias[j]`` (exact law up to float rounding of the table).
    """
    R, W = rows.shape
    prob = np.ones((R, W))
    alias = np.tile(np.arange(W, dtype=np.int64), (R, 1))
    for r in range(R):
        p = rows[r] / rows[r].sum() * W
        small = [j for j in range(W) if p[j] < 1.0]
        large = [j for j in range(W) if p[j] >= 1.0]
        while small and large:
            s = small.pop()
            g = large.pop()
            prob[r, s] = p[s]
            alias[r, s] = g
            p[g] = p[g] + p[s] - 1.0
            (small if p[g] < 1.0 else large).append(g)
        # Leftovers keep prob 1 (their mass is 1 up to rounding); a zero-probability
        # column left over by rounding must never be returned: send it to the mode.
        for j in range(W):
            if rows[r, j] <= 0 and prob[r, j] > 0:
                prob[r, j] = 0.0
                alias[r, j] = int(np.argmax(rows[r]))
    return prob, alias


def _binomials(k: int, L: int) -> np.ndarray:
    """``B[a, b] = C(a, b)`` for ``a < k + L``, ``b < L`` (int64)."""
    B = np.zeros((k + L, L), dtype=np.int64)
    for a in range(k + L):
        for b in range(min(a, L - 1) + 1):
            B[a, b] = math.comb(a, b)
    return B


@dataclass(frozen=True)
class _Prepared:
    g_prob: np.ndarray
    g_alias: np.ndarray
    l_prob: np.ndarray
    l_alias: np.ndarray
    B: np.ndarray
    r_g: np.ndarray
    r_l: np.ndarray


def _prepare(system: GlobalLocalSystem, k: int) -> _Prepared:
    G, A, L = system.S_g, system.A_g, system.S_l
    gp, ga = _alias_tables(np.asarray(system.P_g).reshape(G * A, G))
    # local rows ordered (s_l, s_g): row s_l * G + s_g
    lp, la = _alias_tables(np.asarray(system.P_l).reshape(L * G, L))
    return _Prepared(gp, ga, lp, la, _binomials(k, L), np.ascontiguousarray(system.r_g),
                     np.ascontiguousarray(system.r_l))


# ================================================================= kernels
@njit(cache=True, inline="always")
def _alias_draw(prob, alias, row, state):
    W = prob.shape[1]
    u = next_double(state) * W
    j = int(u)
    if j >= W:
        j = W - 1
    if u - j < prob[row, j]:
        return j
    return alias[row, j]


@njit(cache=True, inline="always")
def _sorted_rank(srt, k, L, B):
    """Index of the counts of the sorted local states ``srt[:k]`` (see :func:`_rank_of_states`).

    ``rank(c) = sum_j C(k - j + p_j - 1, p_j - 1)`` over the sorted states
    ``s_(0) <= ... <= s_(k-1)`` with ``p_j = L - 1 - s_(j) > 0``: the hockey-stick
    expansion of :func:`mdplab.models.global_local.composition_rank`, term by agent.
    """
    r = 0
    for j in range(k):
        p = L - 1 - srt[j]
        if p > 0:
            r += B[k - j + p - 1, p - 1]
    return r


@njit(cache=True)
def _rank_of_states(states, L, B):
    """Rank of the count vector of ``states`` (any order), via :func:`_sorted_rank`."""
    k = states.shape[0]
    srt = np.sort(states)
    return _sorted_rank(srt, k, L, B)


@njit(cache=True, inline="always")
def _entry_seed(k0, k1, index):
    return splitmix64_mix(k0 + np.uint64(index + 1) * _GOLDEN) ^ k1


@njit(parallel=True, cache=True)
def _empirical_sweep(V, r_g, r_l, g_prob, g_alias, l_prob, l_alias, B, k, m, gamma,
                     k0, k1, stream0, n_chunks, Q_out, V_out):
    """``Q_out = T_{k,m} V`` (one sampled Bellman iteration) and ``V_out = max_a Q_out``.

    ``V (G, M)``; entry ``(g, i, a)`` (``e = (g M + i) A + a``) draws its ``m``
    samples from stream ``stream0 + e`` (per sample: ``s_g'`` then the ``k`` locals
    in the order of the composition's agents). Rows ``(g, i)`` are split into
    ``n_chunks`` blocks with their own buffers; each entry's sum is sequential.
    """
    G, M = V.shape
    A = r_g.shape[1]
    L = r_l.shape[0]
    n_rows = G * M
    for ch in prange(n_chunks):
        lo = ch * n_rows // n_chunks
        hi = (ch + 1) * n_rows // n_chunks
        comp = np.empty(L, dtype=np.int64)
        loc = np.empty(k, dtype=np.int64)
        srt = np.empty(k, dtype=np.int64)
        st = np.empty(4, dtype=np.uint64)
        for row in range(lo, hi):
            g = row // M
            i = row - g * M
            composition_unrank(i, k, B, comp)
            t = 0
            rloc = 0.0
            for x in range(L):
                for _ in range(comp[x]):
                    loc[t] = x * G + g  # alias row of P_l(. | x, g)
                    rloc += r_l[x, g]
                    t += 1
            rloc /= k
            best = -np.inf
            for a in range(A):
                seed_state(_entry_seed(k0, k1, stream0 + row * A + a), st)
                grow = g * A + a
                acc = 0.0
                for _ in range(m):
                    g2 = _alias_draw(g_prob, g_alias, grow, st)
                    for j in range(k):
                        y = _alias_draw(l_prob, l_alias, loc[j], st)
                        pos = j
                        while pos > 0 and srt[pos - 1] > y:
                            srt[pos] = srt[pos - 1]
                            pos -= 1
                        srt[pos] = y
                    acc += V[g2, _sorted_rank(srt, k, L, B)]
                q = r_g[g, a] + rloc + gamma * (acc / m)
                Q_out[g, i, a] = q
                if q > best:
                    best = q
            V_out[g, i] = best


@njit(parallel=True, cache=True)
def _empirical_sweep_coupled(V, r_g, r_l, g_prob, g_alias, l_prob, l_alias, B, k, m, gamma,
                             k0, k1, stream0, n_chunks, Q_out, V_out):
    """:func:`_empirical_sweep` with the local draws shared by the actions of a row.

    The local moves do not depend on ``a_g``, so sample ``j`` of row ``(g, i)`` draws
    the ``k`` next local states once (stream ``stream0 + (g M + i) A``) and then one
    ``s_g' ~ P_g(. | g, a)`` per action: every entry still averages ``m`` independent
    samples of its own next state (the estimate of each entry has the same law as
    in :func:`_empirical_sweep`); the entries of one row are coupled (common random
    numbers), which the theorem's per-entry bound and union bound allow.
    """
    G, M = V.shape
    A = r_g.shape[1]
    L = r_l.shape[0]
    n_rows = G * M
    for ch in prange(n_chunks):
        lo = ch * n_rows // n_chunks
        hi = (ch + 1) * n_rows // n_chunks
        comp = np.empty(L, dtype=np.int64)
        loc = np.empty(k, dtype=np.int64)
        srt = np.empty(k, dtype=np.int64)
        acc = np.empty(A)
        st = np.empty(4, dtype=np.uint64)
        for row in range(lo, hi):
            g = row // M
            i = row - g * M
            composition_unrank(i, k, B, comp)
            t = 0
            rloc = 0.0
            for x in range(L):
                for _ in range(comp[x]):
                    loc[t] = x * G + g
                    rloc += r_l[x, g]
                    t += 1
            rloc /= k
            seed_state(_entry_seed(k0, k1, stream0 + row * A), st)
            for a in range(A):
                acc[a] = 0.0
            for _ in range(m):
                for j in range(k):
                    y = _alias_draw(l_prob, l_alias, loc[j], st)
                    pos = j
                    while pos > 0 and srt[pos - 1] > y:
                        srt[pos] = srt[pos - 1]
                        pos -= 1
                    srt[pos] = y
                r = _sorted_rank(srt, k, L, B)
                for a in range(A):
                    acc[a] += V[_alias_draw(g_prob, g_alias, g * A + a, st), r]
            best = -np.inf
            for a in range(A):
                q = r_g[g, a] + rloc + gamma * (acc[a] / m)
                Q_out[g, i, a] = q
                if q > best:
                    best = q
            V_out[g, i] = best


def _n_chunks(n_rows: int) -> int:
    import numba

    return max(1, min(n_rows, 16 * numba.get_num_threads()))


# ======================================================== exact k operator
class _ExactOperator:
    """``T_k`` as the Bellman operator of the ``k``-agent count MDP (CSR)."""

    def __init__(self, system: GlobalLocalSystem, k: int):
        self.ksys = k_agent_system(system, k)
        mdp = self.ksys.count_mdp(sparse=True)
        csr = mdp.csr
        self.indptr, self.indices, self.data = csr.indptr, csr.indices, csr.data
        self.R = np.ascontiguousarray(mdp.R)
        self.gamma = system.gamma
        self.S, self.A = self.R.shape

    def apply(self, V: np.ndarray):
        Q = np.empty((self.S, self.A))
        V_out = np.empty(self.S)
        pi = np.empty(self.S, dtype=np.int64)
        q_backup_csr(self.indptr, self.indices, self.data, 0, self.R, self.gamma,
                     np.ascontiguousarray(V.ravel()), Q, V_out, pi)
        return Q, V_out

    def iterate(self, T: int):
        """``Q^T = T_k^T 0`` in one serial kernel call (no per-iteration thread launch)."""
        return _exact_iterations(self.indptr, self.indices, self.data, self.R, self.gamma, T)


@njit(cache=True)
def _exact_iterations(indptr, indices, data, R, gamma, T):
    S, A = R.shape
    V = np.zeros(S)
    V2 = np.empty(S)
    Q = np.empty((S, A))
    for _ in range(T):
        for s in range(S):
            best = -np.inf
            for a in range(A):
                r = s * A + a
                acc = 0.0
                for e in range(indptr[r], indptr[r + 1]):
                    acc += data[e] * V[indices[e]]
                q = R[s, a] + gamma * acc
                Q[s, a] = q
                if q > best:
                    best = q
            V2[s] = best
        V, V2 = V2, V
    return Q


def exact_k_operator(system: GlobalLocalSystem, k: int, V) -> np.ndarray:
    """``(T_k V)(s_g, F, a)``, exact, ``(S_g, M_k, A_g)``; ``V`` is ``(S_g, M_k)``.

    Built on the ``k``-agent count MDP (tractable where ``count_mdp`` is, e.g.
    ``k <= 3`` at ``|S_l| = 25``).
    """
    system = _check_system(system)
    op = _ExactOperator(system, _check_k(system, k))
    Q, _ = op.apply(_check_values(system, k, V))
    return Q.reshape(system.S_g, -1, system.A_g)


def _check_values(system, k, V) -> np.ndarray:
    V = np.ascontiguousarray(np.asarray(V, dtype=np.float64))
    shape = (system.S_g, system.count_space_size(k))
    if V.shape != shape:
        raise ValueError(f"V must have shape (S_g, M_k) = {shape}; got {V.shape}")
    return V


def empirical_k_operator(system: GlobalLocalSystem, k: int, V, m: int, seed=0,
                         iteration: int = 0) -> np.ndarray:
    """One application of the empirical operator ``T_{k,m}`` to ``V``: ``(S_g, M_k, A_g)``.

    The draws of iteration ``iteration`` of :func:`learn_subsample_q` with ``seed``.
    """
    system = _check_system(system)
    k = _check_k(system, k)
    m = _int_arg(m, "m", 1)
    V = _check_values(system, k, V)
    prep = _prepare(system, k)
    G, M, A = system.S_g, V.shape[1], system.A_g
    Q = np.empty((G, M, A))
    V_out = np.empty((G, M))
    k0, k1 = stream_key(seed)
    _empirical_sweep(V, prep.r_g, prep.r_l, prep.g_prob, prep.g_alias, prep.l_prob,
                     prep.l_alias, prep.B, k, m, system.gamma, k0, k1,
                     _int_arg(iteration, "iteration", 0) * G * M * A, _n_chunks(G * M), Q, V_out)
    return Q


# ================================================================ learner
@dataclass(frozen=True)
class SubsamplePolicy:
    """A table ``pi_k (S_g, M_k)`` (int) on the counts of ``k`` agents, executed on a
    fresh uniform ``k``-subset each step (SUB-SAMPLE-Q Algorithm 2)."""

    table: np.ndarray
    k: int


@dataclass(frozen=True)
class SubsampleQResult:
    """What :func:`learn_subsample_q` learned.

    ``q (S_g, M_k, A_g)`` is ``Q_est = Q^T``; ``policy (S_g, M_k)`` its greedy table;
    ``samples`` the generative queries used (``T |S_g| M_k |A_g| m``, 0 for the exact
    variant); ``learn_s`` the wall time of the ``T`` iterations.
    """

    q: np.ndarray
    policy: np.ndarray
    k: int
    m: int | None
    T: int
    method: str
    samples: int
    learn_s: float

    def subsample_policy(self) -> SubsamplePolicy:
        return SubsamplePolicy(self.policy, self.k)


def _greedy(Q: np.ndarray) -> np.ndarray:
    return np.argmax(Q, axis=-1).astype(np.int64)


def learn_subsample_q(system: GlobalLocalSystem, k: int, m: int | None, T: int, seed=0, *,
                      method: str = "sampled", coupled: bool = False,
                      memory_limit: float = DEFAULT_MEMORY_LIMIT) -> SubsampleQResult:
    """SUB-SAMPLE-Q learning (Algorithm 1): ``T`` iterations of ``T_{k,m}`` from ``Q = 0``.

    ``method="sampled"``: ``m`` generative samples per entry per iteration (numba,
    parallel over entries); ``method="exact"``: the certainty-equivalent operator
    ``T_k`` (``m`` ignored, may be None). ``coupled=True`` shares each sample's local
    draws among the actions of a row (:func:`_empirical_sweep_coupled`: the same law
    per entry, ~|A_g| times fewer local draws). Raises ValueError for ``k`` outside
    ``[1, n]``, ``m < 1``, ``T < 1`` or a table over ``memory_limit`` bytes.
    """
    system = _check_system(system)
    k = _check_k(system, k)
    T = _int_arg(T, "T", 1)
    if method not in ("sampled", "exact"):
        raise ValueError(f"method must be 'sampled' or 'exact'; got {method!r}")
    if method == "sampled" or m is not None:
        m = _int_arg(m, "m", 1)
    if not isinstance(coupled, bool):
        raise ValueError(f"coupled must be True or False; got {coupled!r}")
    _check_memory(system, k, memory_limit)
    G, A = system.S_g, system.A_g
    M = system.count_space_size(k)
    if method == "exact":
        op = _ExactOperator(system, k)
        op.iterate(0)  # load the compiled kernel outside the timed region
        t0 = time.perf_counter()
        Q = op.iterate(T)
        learn_s = time.perf_counter() - t0
        Q = Q.reshape(G, M, A)
        return SubsampleQResult(Q, _greedy(Q), k, m, T, "exact", 0, learn_s)
    prep = _prepare(system, k)
    k0, k1 = stream_key(seed)
    chunks = _n_chunks(G * M)
    V = np.zeros((G, M))
    V2 = np.empty((G, M))
    Q = np.empty((G, M, A))
    # Load the compiled kernel outside the timed region (m = 0: one row, no draws).
    sweep = _empirical_sweep_coupled if coupled else _empirical_sweep
    sweep(np.zeros((1, 1)), prep.r_g, prep.r_l, prep.g_prob, prep.g_alias,
          prep.l_prob, prep.l_alias, prep.B, k, 0, system.gamma, k0, k1, 0, 1,
          np.empty((1, 1, A)), np.empty((1, 1)))
    t0 = time.perf_counter()
    for t in range(T):
        sweep(V, prep.r_g, prep.r_l, prep.g_prob, prep.g_alias, prep.l_prob,
              prep.l_alias, prep.B, k, m, system.gamma, k0, k1, t * G * M * A,
              chunks, Q, V2)
        V, V2 = V2, V
    learn_s = time.perf_counter() - t0
    return SubsampleQResult(Q, _greedy(Q), k, m, T, "sampled", T * G * M * A * m, learn_s)


def subsample_q(system: GlobalLocalSystem, k: int, m: int | None, T: int, seed=0, *,
                method: str = "sampled", coupled: bool = False,
                memory_limit: float = DEFAULT_MEMORY_LIMIT) -> np.ndarray:
    """The learned ``k``-agent policy ``pi_k (S_g, M_k)`` of :func:`learn_subsample_q`."""
    return learn_subsample_q(system, k, m, T, seed, method=method, coupled=coupled,
                             memory_limit=memory_limit).policy


def subsample_q_star(system: GlobalLocalSystem, k: int, eps: float = 1e-11) -> np.ndarray:
    """``Q*_k (S_g, M_k, A_g)``: the fixed point of ``T_k`` (certified VI on the ``k``-agent
    count MDP to ``eps`` in ``V``, then one exact backup: error ``<= gamma eps``)."""
    system = _check_system(system)
    k = _check_k(system, k)
    key = ("subsample_q_star", k, float(eps))
    cache = system._cache  # the model's own cache dict (derived data only)
    if key not in cache:
        op = _ExactOperator(system, k)
        res = global_local_solve(op.ksys, eps, method="value_iteration")
        Q, _ = op.apply(res.values)
        cache[key] = Q.reshape(system.S_g, -1, system.A_g)
    return cache[key]


def bellman_noise(system: GlobalLocalSystem, k: int, q_est) -> float:
    """``epsilon_{k,m} = ||Q_est - Q*_k||_inf`` (exact, against :func:`subsample_q_star`)."""
    return float(np.abs(np.asarray(q_est) - subsample_q_star(system, k)).max())


__all__.append("bellman_noise")


# ============================================================== execution
def subsample_optimal_value(system: GlobalLocalSystem) -> float:
    """``V*(s_0)`` under the initial law: the exact value of the optimal count policy
    (evaluated like any other policy, so an optimal ``pi_k`` has gap exactly 0)."""
    system = _check_system(system)
    key = ("subsample_optimal_value",)
    cache = system._cache
    if key not in cache:
        res = global_local_solve(system)
        cache[key] = global_local_evaluate(system, res.policy.astype(np.int64)).initial_value
    return cache[key]


def subsample_value(system: GlobalLocalSystem, policy, k: int | None = None) -> float:
    """Exact ``V^{pi}(s_0)`` of SUB-SAMPLE-Q execution of a ``k``-agent table (or a
    :class:`SubsamplePolicy`)."""
    system = _check_system(system)
    if isinstance(policy, SubsamplePolicy):
        policy, k = policy.table, policy.k
    if k is None:
        raise ValueError("k is needed with a bare policy table")
    return global_local_evaluate_subsample(system, policy, k).initial_value


__all__.append("subsample_value")


def subsample_gap(system: GlobalLocalSystem, policy, k: int | None = None) -> float:
    """Exact optimality gap ``V*(s_0) - V^{pi_k}(s_0)`` of sub-sampled execution."""
    return subsample_optimal_value(system) - subsample_value(system, policy, k)


def subsample_value_simulated(system: GlobalLocalSystem, policy, k: int | None = None, *,
                              n_episodes: int = 400, n_steps: int | None = None,
                              seed=0, tol: float = 1e-4) -> tuple[float, float]:
    """Monte-Carlo ``V^{pi_k}(s_0)`` on the full system: ``(mean, 95% CI half-width)``.

    ``n_steps`` defaults to the horizon where ``gamma^t max|r| / (1 - gamma) < tol``.
    """
    system = _check_system(system)
    if isinstance(policy, SubsamplePolicy):
        policy, k = policy.table, policy.k
    if k is None:
        raise ValueError("k is needed with a bare policy table")
    if n_steps is None:
        rmax = float(np.abs(system.r_g).max() + np.abs(system.r_l).max())
        g = system.gamma
        n_steps = 1 if g == 0 else max(1, math.ceil(
            math.log(max(tol * (1 - g) / max(rmax, 1e-300), 1e-300)) / math.log(g)))
    traj = system.simulate(np.asarray(policy, dtype=np.int64), n_steps, n_episodes, seed,
                           k=k, record="none")
    ret = traj.discounted_returns()
    half = 1.96 * ret.std(ddof=1) / math.sqrt(ret.size) if ret.size > 1 else math.inf
    return float(ret.mean()), float(half)


def gap_bound(n: int, k: int, gamma: float, r_max: float, S_l: int, A_g: int, *,
              c: float = 40.0, sqrt_k_const: float = 0.1, epsilon: float = 0.0,
              k_power: float = 0.5) -> float:
    """The reconstructed bound ``r~/(1-g)^2 sqrt((n-k+1)/(2nk) ln(c r~ S_l A_g k^p/(1-g)^2))
    + sqrt_k_const / sqrt(k) + 2 epsilon`` (constants as parameters; see the module).

    ``k_power`` [R]: the notes' schematic writes ``sqrt(k)`` (p = 1/2) inside the log,
    while SUBSAMPLE-MFQ's Thm 4.2 has ``k^{|A_l| + 1/2}``, i.e. ``k^{3/2}`` with the one
    trivial local action; the log makes the difference small, but it is a parameter."""
    log_arg = max(c * r_max * S_l * A_g * float(k) ** k_power / (1 - gamma) ** 2, math.e)
    return (r_max / (1 - gamma) ** 2 * math.sqrt((n - k + 1) / (2 * n * k) * math.log(log_arg))
            + sqrt_k_const / math.sqrt(k) + 2 * epsilon)


# ============================================================== protocol
def _subsample_objective_value(system: GlobalLocalSystem, policy) -> float:
    if isinstance(policy, SubsamplePolicy):
        return subsample_value(system, policy)
    return global_local_evaluate(system, policy).initial_value


EXPECTED_RETURN.register(GlobalLocalSystem, subsample_optimal_value, _subsample_objective_value)


def _tiny_system() -> GlobalLocalSystem:
    """Two global states (a myopic trap: action 0 pays now, action 1 reaches the paying
    state), two local states whose drift follows the global state, three agents."""
    P_g = np.zeros((2, 2, 2))
    P_g[0, 0, 0] = P_g[0, 1, 1] = P_g[1, 0, 1] = P_g[1, 1, 0] = 1.0
    r_g = np.array([[0.5, 0.0], [1.0, 0.0]])
    P_l = np.zeros((2, 2, 2))
    P_l[:, 0] = [0.7, 0.3]
    P_l[:, 1] = [0.2, 0.8]
    r_l = np.array([[0.0, 0.0], [0.3, 0.3]])
    return GlobalLocalSystem(P_g, P_l, r_g, r_l, 3, 0.9, init_g=0, name="subsample-tiny")


class SubsampleQ(PolicyLearner):
    """SUB-SAMPLE-Q on the learner protocol (``generative``: loss = exact gap vs samples).

    Budget ``b`` samples buys ``T = b // (|S_g| M_k |A_g| m)`` iterations of the
    empirical operator (one sample = one generative query of the next state of
    ``k + 1`` agents); at each checkpoint the greedy ``k``-agent table is executed
    on the full system and scored exactly (:func:`subsample_gap`). Extras:
    ``epsilon`` (``||Q^T - Q*_k||_inf``, exact) and ``iterations`` (``T``).
    """

    name = "subsample-q"
    model_class = GlobalLocalSystem
    guarantee = "generative"
    check_kwargs = {"k": 2, "m": 4}
    invalid_kwargs = (({"k": 0}, "k"), ({"m": 0}, "m"), ({"memory_limit": 0}, "memory_limit"),
                      ({"k": 1.5}, "k"))
    check_budget = 4 * 2 * 3 * 2 * 4  # four iterations on the tiny system

    def __init__(self, k: int = 2, m: int = 10, memory_limit: float = DEFAULT_MEMORY_LIMIT):
        self.k = _int_arg(k, "k", 1)
        self.m = _int_arg(m, "m", 1)
        _check_memory_limit(memory_limit)
        self.memory_limit = memory_limit

    def params(self) -> dict:
        return {"k": self.k, "m": self.m}

    @classmethod
    def check_models(cls):
        return [("tiny global-local", _tiny_system())]

    def check_model(self, system: GlobalLocalSystem) -> None:
        _check_k(system, self.k)
        _check_memory(system, self.k, self.memory_limit)

    def samples_per_iteration(self, system: GlobalLocalSystem) -> int:
        return system.S_g * system.count_space_size(self.k) * system.A_g * self.m

    def policies(self, system, budget: int, checkpoints: np.ndarray,
                 seed: int) -> Iterable[Snapshot]:
        k, m = self.k, self.m
        G, A = system.S_g, system.A_g
        M = system.count_space_size(k)
        per = G * M * A * m
        prep = _prepare(system, k)
        k0, k1 = stream_key(seed)
        chunks = _n_chunks(G * M)
        V = np.zeros((G, M))
        V2 = np.empty((G, M))
        Q = np.zeros((G, M, A))
        q_star = subsample_q_star(system, k)
        t = 0
        for b in checkpoints:
            while (t + 1) * per <= b:
                _empirical_sweep(V, prep.r_g, prep.r_l, prep.g_prob, prep.g_alias,
                                 prep.l_prob, prep.l_alias, prep.B, k, m, system.gamma, k0, k1,
                                 t * G * M * A, chunks, Q, V2)
                V, V2 = V2, V
                t += 1
            eps = float(np.abs(Q - q_star).max())
            yield Snapshot(SubsamplePolicy(_greedy(Q), k), used=t * per,
                           extras={"epsilon": eps, "iterations": float(t)})

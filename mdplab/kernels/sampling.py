"""Sampling kernels: categorical draws, episode rollouts, generative-model calls.

All randomness comes from :mod:`mdplab.kernels.rng` streams. Parallel kernels
give each unit of work (an episode, a state-action pair, a chunk of draws) its
own stream, seeded from a caller-provided ``uint64`` seed array, so outputs are
bitwise identical for any number of threads.

Categorical draws use the inverse CDF: with ``u ~ U[0, 1)`` (one
:func:`~mdplab.kernels.rng.next_double`), return the first index ``j`` with
``u < c_j``, where ``c_j = p_0 + ... + p_j`` is accumulated left to right.
Zero-probability entries are never returned. Rows are validated to sum to 1
only within ``1e-9``; if ``u`` exceeds the accumulated total (probability at
most that tolerance) the last positive entry is returned. Because adding an
exact ``0.0`` does not change a float sum, a dense row and its CSR form (zeros
dropped) map every ``u`` to the same state: dense and sparse models give
bitwise identical samples. Repeated draws from one row (:func:`sample_dense`,
:func:`sample_all_dense` and CSR twins) precompute ``c`` once and binary-search
it, which returns exactly the same index as the linear scan.

Model arrays, with an explicit stage axis (``n_X = 1`` for stationary parts;
stage ``h`` uses index ``h if n_X > 1 else 0``):

* dense ``P``: ``(n_P, S, A, S)``; CSR: ``indptr, indices, data`` with row
  ``(h * S + s) * A + a`` (``h`` omitted when stationary);
* ``R``: ``(n_R, S, A)`` mean rewards;
* policies: deterministic ``pi_det (n_pi, S)`` int64 or stochastic
  ``pi_sto (n_pi, S, A)`` float64 (the unused one is a dummy array).

Random draws of one episode, in order: ``s_0 ~ init``; then for each step
``t``: ``a_t ~ pi_t(. | s_t)`` (stochastic policies only), ``r_t ~
Bernoulli(R_t(s_t, a_t))`` (Bernoulli rewards only), ``s_{t+1} ~ P_t(. | s_t, a_t)``.

Reward laws (models with ``reward_atoms`` / ``reward_probs``) are drawn from a
second stream per episode (:func:`reward_stream_seed` of the episode's seed),
one uniform per step (:func:`draw_rewards`), so the states and actions of an
episode are the same whether its rewards are drawn or set to their means.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mdplab.kernels.rng import next_double, seed_state, splitmix64_mix

__all__ = [
    "categorical_csr",
    "categorical_dense",
    "cdf_search",
    "draw_reward",
    "draw_rewards",
    "inverse_cdf_csr",
    "inverse_cdf_dense",
    "rollout_csr",
    "rollout_dense",
    "sample_all_csr",
    "sample_all_dense",
    "sample_csr",
    "sample_dense",
    "step_csr",
    "step_dense",
]


# ----------------------------------------------------------- categorical draws
@njit(cache=True)
def inverse_cdf_dense(p, u):
    """First ``j`` with ``u < p_0 + ... + p_j`` (rounding fallback: last ``j`` with ``p_j > 0``)."""
    c = 0.0
    m = p.shape[0]
    for j in range(m):
        c += p[j]
        if u < c:
            return j
    for j in range(m - 1, -1, -1):
        if p[j] > 0.0:
            return j
    return m - 1


@njit(cache=True)
def categorical_dense(p, state):
    """Draw ``j ~ p`` from a dense probability vector with one uniform of ``state``."""
    return inverse_cdf_dense(p, next_double(state))


@njit(cache=True)
def inverse_cdf_csr(indices, data, start, end, u):
    """Inverse CDF over the CSR segment ``[start, end)``; returns ``indices[k]``."""
    c = 0.0
    for k in range(start, end):
        c += data[k]
        if u < c:
            return np.int64(indices[k])
    for k in range(end - 1, start - 1, -1):
        if data[k] > 0.0:
            return np.int64(indices[k])
    return np.int64(indices[end - 1])


@njit(cache=True)
def categorical_csr(indices, data, start, end, state):
    """Draw a successor from the CSR row segment ``[start, end)`` with one uniform."""
    return inverse_cdf_csr(indices, data, start, end, next_double(state))


@njit(cache=True)
def _cumsum(p, start, end, cdf):
    """``cdf[k] = p[start] + ... + p[start + k]`` accumulated left to right."""
    c = 0.0
    for k in range(end - start):
        c += p[start + k]
        cdf[k] = c


@njit(cache=True)
def _last_positive(p, start, end):
    for k in range(end - 1, start - 1, -1):
        if p[k] > 0.0:
            return k - start
    return end - 1 - start


@njit(cache=True)
def cdf_search(cdf, m, u, fallback):
    """Smallest ``k < m`` with ``u < cdf[k]`` by bisection, or ``fallback`` if none."""
    if not u < cdf[m - 1]:
        return fallback
    lo = 0
    hi = m - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if u < cdf[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ------------------------------------------------------------------ one step
@njit(cache=True)
def _stage(h, n):
    return h if n > 1 else 0


@njit(cache=True)
def _action(pi_det, pi_sto, stochastic, h, s, state):
    if stochastic:
        return categorical_dense(pi_sto[_stage(h, pi_sto.shape[0]), s], state)
    return np.int64(pi_det[_stage(h, pi_det.shape[0]), s])


@njit(cache=True)
def _reward(R, h, s, a, bernoulli, state):
    m = R[_stage(h, R.shape[0]), s, a]
    if bernoulli:
        return 1.0 if next_double(state) < m else 0.0
    return m


@njit(cache=True)
def step_dense(P, R, h, s, a, bernoulli, state):
    """One transition at stage ``h``: ``(s', r)``, ``r`` drawn first, then ``s' ~ P_h(.|s,a)``."""
    r = _reward(R, h, s, a, bernoulli, state)
    s2 = categorical_dense(P[_stage(h, P.shape[0]), s, a], state)
    return s2, r


@njit(cache=True)
def step_csr(indptr, indices, data, S, A, R, h, s, a, bernoulli, state):
    """CSR twin of :func:`step_dense`."""
    hp = h if indptr.shape[0] - 1 > S * A else 0  # stage-dependent rows: H*S*A > S*A
    row = (hp * S + s) * A + a
    r = _reward(R, h, s, a, bernoulli, state)
    s2 = categorical_csr(indices, data, indptr[row], indptr[row + 1], state)
    return s2, r


# ------------------------------------------------------------------ rollouts
@njit(parallel=True, cache=True)
def rollout_dense(P, R, init, pi_det, pi_sto, stochastic, bernoulli, T, seeds):
    """Roll out ``len(seeds)`` episodes of ``T`` steps; episode ``i`` uses stream ``seeds[i]``.

    Returns ``states (n, T+1)``, ``actions (n, T)`` (int64) and ``rewards (n, T)``
    (float64): ``s_0 ~ init``, ``a_t ~ pi_t(s_t)``, ``r_t`` = ``R_t(s_t, a_t)`` or a
    Bernoulli draw of it, ``s_{t+1} ~ P_t(. | s_t, a_t)``.
    """
    n = seeds.shape[0]
    states = np.empty((n, T + 1), dtype=np.int64)
    actions = np.empty((n, T), dtype=np.int64)
    rewards = np.empty((n, T), dtype=np.float64)
    for i in prange(n):
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[i], st)
        s = categorical_dense(init, st)
        states[i, 0] = s
        for t in range(T):
            a = _action(pi_det, pi_sto, stochastic, t, s, st)
            s2, r = step_dense(P, R, t, s, a, bernoulli, st)
            actions[i, t] = a
            rewards[i, t] = r
            states[i, t + 1] = s2
            s = s2
    return states, actions, rewards


@njit(parallel=True, cache=True)
def rollout_csr(indptr, indices, data, S, A, R, init, pi_det, pi_sto, stochastic, bernoulli,
                T, seeds):
    """CSR twin of :func:`rollout_dense` (same streams give the same episodes)."""
    n = seeds.shape[0]
    states = np.empty((n, T + 1), dtype=np.int64)
    actions = np.empty((n, T), dtype=np.int64)
    rewards = np.empty((n, T), dtype=np.float64)
    for i in prange(n):
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[i], st)
        s = categorical_dense(init, st)
        states[i, 0] = s
        for t in range(T):
            a = _action(pi_det, pi_sto, stochastic, t, s, st)
            s2, r = step_csr(indptr, indices, data, S, A, R, t, s, a, bernoulli, st)
            actions[i, t] = a
            rewards[i, t] = r
            states[i, t + 1] = s2
            s = s2
    return states, actions, rewards


# ---------------------------------------------------------- generative model
@njit(parallel=True, cache=True)
def sample_dense(P, h, s, a, n, chunk, seeds):
    """``n`` i.i.d. draws of ``s' ~ P_h(. | s, a)``.

    Draw ``k`` belongs to chunk ``k // chunk``, which uses stream
    ``seeds[k // chunk]`` (``len(seeds) >= ceil(n / chunk)``); chunks run in parallel.
    """
    p = P[_stage(h, P.shape[0]), s, a]
    m = p.shape[0]
    cdf = np.empty(m, dtype=np.float64)
    _cumsum(p, 0, m, cdf)
    fb = _last_positive(p, 0, m)
    out = np.empty(n, dtype=np.int64)
    n_chunks = (n + chunk - 1) // chunk
    for c in prange(n_chunks):
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[c], st)
        for k in range(c * chunk, min(n, (c + 1) * chunk)):
            out[k] = cdf_search(cdf, m, next_double(st), fb)
    return out


@njit(parallel=True, cache=True)
def sample_csr(indptr, indices, data, row, n, chunk, seeds):
    """CSR twin of :func:`sample_dense` for the CSR row ``row``."""
    start = indptr[row]
    end = indptr[row + 1]
    m = end - start
    cdf = np.empty(m, dtype=np.float64)
    _cumsum(data, start, end, cdf)
    fb = _last_positive(data, start, end)
    out = np.empty(n, dtype=np.int64)
    n_chunks = (n + chunk - 1) // chunk
    for c in prange(n_chunks):
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[c], st)
        for k in range(c * chunk, min(n, (c + 1) * chunk)):
            out[k] = indices[start + cdf_search(cdf, m, next_double(st), fb)]
    return out


@njit(parallel=True, cache=True)
def sample_all_dense(P, h, n, seeds):
    """``out[s, a, k] ~ P_h(. | s, a)`` i.i.d.; pair ``(s, a)`` uses stream ``seeds[s * A + a]``.

    Parallel over the ``S * A`` pairs.
    """
    _, S, A, _ = P.shape
    hp = _stage(h, P.shape[0])
    out = np.empty((S, A, n), dtype=np.int64)
    for r in prange(S * A):
        s = r // A
        a = r - s * A
        p = P[hp, s, a]
        cdf = np.empty(S, dtype=np.float64)
        _cumsum(p, 0, S, cdf)
        fb = _last_positive(p, 0, S)
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[r], st)
        for k in range(n):
            out[s, a, k] = cdf_search(cdf, S, next_double(st), fb)
    return out


@njit(parallel=True, cache=True)
def sample_all_csr(indptr, indices, data, S, A, h, n, seeds):
    """CSR twin of :func:`sample_all_dense`."""
    n_stages = (indptr.shape[0] - 1) // (S * A)
    row0 = _stage(h, n_stages) * S * A
    out = np.empty((S, A, n), dtype=np.int64)
    for r in prange(S * A):
        s = r // A
        a = r - s * A
        start = indptr[row0 + r]
        end = indptr[row0 + r + 1]
        m = end - start
        cdf = np.empty(m, dtype=np.float64)
        _cumsum(data, start, end, cdf)
        fb = _last_positive(data, start, end)
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[r], st)
        for k in range(n):
            out[s, a, k] = indices[start + cdf_search(cdf, m, next_double(st), fb)]
    return out


# ------------------------------------------------------------- reward laws
_REWARD_SALT = np.uint64(0x5DEECE66DA3B9F1)


@njit(cache=True)
def reward_stream_seed(seed):
    """Seed of the reward stream of the episode whose stream seed is ``seed``."""
    return splitmix64_mix(seed ^ _REWARD_SALT)


@njit(cache=True)
def reward_stream_seeds(seeds):
    """:func:`reward_stream_seed` of every entry of a ``uint64`` array."""
    out = np.empty_like(seeds)
    for i in range(seeds.shape[0]):
        out[i] = reward_stream_seed(seeds[i])
    return out


@njit(cache=True)
def atom_index(probs, g, s, a, u):
    """Inverse CDF of the atom law ``probs[g, s, a, :]`` at ``u in [0, 1)``: the first
    atom whose cumulative probability exceeds ``u`` (zero-probability atoms are never
    drawn; rounding past the total falls back to the last live atom)."""
    J = probs.shape[3]
    c = 0.0
    last = 0
    for j in range(J):
        p = probs[g, s, a, j]
        if p > 0.0:
            last = j
            c += p
            if u < c:
                return j
    return last


@njit(cache=True)
def draw_reward(atoms, probs, h, s, a, state):
    """One reward ``r ~ sum_j probs[h, s, a, j] delta(atoms[h, s, a, j])`` (inverse CDF)."""
    g = h if atoms.shape[0] > 1 else 0
    if atoms.shape[3] == 1:
        return atoms[g, s, a, 0]
    return atoms[g, s, a, atom_index(probs, g, s, a, next_double(state))]


@njit(parallel=True, cache=True)
def draw_rewards(atoms, probs, states, actions, seeds):
    """Rewards of rolled-out episodes from the reward law: ``out[i, t] ~ law(t, s_t, a_t)``,
    episode ``i`` on the reward stream of ``seeds[i]``."""
    n, T = actions.shape
    out = np.empty((n, T), dtype=np.float64)
    for i in prange(n):
        st = np.empty(4, dtype=np.uint64)
        seed_state(reward_stream_seed(seeds[i]), st)
        for t in range(T):
            out[i, t] = draw_reward(atoms, probs, t, states[i, t], actions[i, t], st)
    return out

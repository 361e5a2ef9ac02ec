"""Q-learning with UCB exploration (Hoeffding or Bernstein bonus).

Reference: C. Jin, Z. Allen-Zhu, S. Bubeck, M. I. Jordan, "Is Q-learning
provably efficient?", NeurIPS 2018 (arXiv 1807.03765), Algorithms 1 and 2.

Setting. Episodic tabular MDP, ``S`` states, ``A`` actions, horizon ``H``,
``K`` episodes, ``T = K H`` steps, rewards in ``[0, 1]``, possibly
stage-dependent transitions. Model-free: the learner keeps stage-dependent
``Q_h(s, a)`` and visit counts ``N_h(s, a)`` (``O(H S A)`` memory) whatever the
model's stationarity.

Update (the paper's rule; Colosseum's episodic code swaps the two weights --
not replicated here). On ``(s_h, a_h, r_h, s_{h+1})`` at stage ``h``::

    t = ++N_h(s, a);   alpha_t = (H + 1) / (H + t)
    Q_h(s, a) <- (1 - alpha_t) Q_h(s, a) + alpha_t [r_h + V_{h+1}(s_{h+1}) + b_t]
    V_h(s)    =  min(v_max_h, max_a Q_h(s, a)),     V_H = 0

with ``iota = log(S A T / delta)`` and

* Hoeffding (Alg. 1): ``b_t = c sqrt(H^3 iota / t)``.
* Bernstein (Alg. 2): ``beta_t = min(c (sqrt(H (W_t + H) iota / t)
  + sqrt(H^7 S A) iota / t), c2 sqrt(H^3 iota / t))`` and
  ``b_t = (beta_t - (1 - alpha_t) beta_{t-1}) / (2 alpha_t)``, ``beta_0 = 0``,
  where ``W_t`` is the empirical variance of the ``t`` observed targets
  ``V_{h+1}(s_{h+1})`` at ``(s, a, h)`` (each taken with the ``V_{h+1}`` of its
  visit time). The paper's ``c1, c2`` are unspecified absolute constants: here
  they are the parameters ``c`` and ``c2`` (default ``c2 = c``) -- the exact
  form above is reconstructed from memory of the paper [R].

Initialisation and cap (our generalisation of the paper's ``Q = H``,
``V = min(H, .)``): ``v_max_h = (H - h) max R``, the largest achievable value
from stage ``h`` (``= H - h`` for rewards in ``[0, 1]`` with max 1). ``Q_h`` is
initialised to ``v_max_h``. The bonus is not rescaled by the reward range:
for rewards outside ``[0, 1]`` scale ``c`` accordingly.

Regret (with probability ``1 - delta``, rewards in ``[0, 1]``, for suitable
absolute constants ``c, c2``):

* Hoeffding: ``Regret(K) = O(sqrt(H^4 S A T iota)) = O(H^{2.5} sqrt(S A K iota))``;
* Bernstein: ``Regret(K) = O(sqrt(H^3 S A T iota) + sqrt(H^9 S^3 A^3) iota^2)``;

against the lower bound ``Omega(sqrt(H^2 S A T))``.

Constant ``c`` in practice. The theorem needs a large ``c`` (the proof's
constant is far above 1) and with ``c = 1`` the bonus ``sqrt(H^3 iota / t)``
dominates the value scale for a long time, so the regret curve looks linear
for small ``K``. Empirical studies use ``c`` of order 0.01 - 0.1; the tests use
``c = 0.05`` to see sublinear regret in a few thousand episodes.

Executed policy. ``Q_h`` changes only at step ``h`` of an episode, after the
action at ``h`` has been taken, so the greedy policy w.r.t. ``Q`` at the start
of episode ``k`` (ties to the lowest action) is exactly the policy executed in
episode ``k``; its exact value gives the regret.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mdplab.algorithms.base import Algorithm, _check_number, n_checkpoints
from mdplab.algorithms.online import greedy_row, policy_value_lists, record, stage, successor_lists
from mdplab.kernels.rng import new_state, next_double
from mdplab.kernels.sampling import inverse_cdf_dense

_BONUSES = {"hoeffding": 0, "bernstein": 1}


@njit(cache=True)
def _capped_max(Q_row, cap):
    m = Q_row[0]
    for a in range(1, Q_row.shape[0]):
        if Q_row[a] > m:
            m = Q_row[a]
    return min(cap, m)


@njit(cache=True)
def _run_seed(P, R, init, H, K, every, seed, v_star, bernstein, c, c2, iota,
              out_regret, out_return, i):
    sidx, sprob, scount = successor_lists(P)
    S, A = P.shape[1], P.shape[2]
    nP, nR = P.shape[0], R.shape[0]
    r_max = R.max()
    sqrt_h7sa = math.sqrt(float(H) ** 7 * S * A)
    rng = new_state(seed)
    vmax = np.empty(H + 1)
    for h in range(H + 1):
        vmax[h] = (H - h) * r_max
    Q = np.empty((H, S, A))
    for h in range(H):
        Q[h, :, :] = vmax[h]
    N = np.zeros((H, S, A), dtype=np.int64)
    sum_v = np.zeros((H, S, A))
    sum_v2 = np.zeros((H, S, A))
    beta_prev = np.zeros((H, S, A))
    pi = np.zeros((H, S), dtype=np.int64)
    Vbuf = np.empty(S)
    regret_sum = 0.0
    return_sum = 0.0
    for k in range(K):
        # Greedy policy w.r.t. Q at the start of the episode = the executed policy.
        for h in range(H):
            for s in range(S):
                pi[h, s] = greedy_row(Q[h, s])
        regret_sum += v_star - policy_value_lists(sidx, sprob, scount, R, init, H, pi, Vbuf)
        s = inverse_cdf_dense(init, next_double(rng))
        ret = 0.0
        for h in range(H):
            a = pi[h, s]
            r = R[stage(nR, h), s, a]
            ret += r
            s_next = inverse_cdf_dense(P[stage(nP, h), s, a], next_double(rng))
            v_next = _capped_max(Q[h + 1, s_next], vmax[h + 1]) if h + 1 < H else 0.0
            N[h, s, a] += 1
            t = N[h, s, a]
            alpha = (H + 1.0) / (H + t)
            if bernstein:
                sum_v[h, s, a] += v_next
                sum_v2[h, s, a] += v_next * v_next
                mean = sum_v[h, s, a] / t
                W = max(0.0, sum_v2[h, s, a] / t - mean * mean)
                beta = min(c * (math.sqrt(H * (W + H) * iota / t) + sqrt_h7sa * iota / t),
                           c2 * math.sqrt(H ** 3 * iota / t))
                b = (beta - (1.0 - alpha) * beta_prev[h, s, a]) / (2.0 * alpha)
                beta_prev[h, s, a] = beta
            else:
                b = c * math.sqrt(H ** 3 * iota / t)
            Q[h, s, a] = (1.0 - alpha) * Q[h, s, a] + alpha * (r + v_next + b)
            s = s_next
        return_sum += v_star - ret
        record(k, K, every, regret_sum, return_sum, out_regret, out_return, i)


@njit(parallel=True, cache=True)
def _qlearning_kernel(P, R, init, H, K, every, seeds, v_star, bernstein, c, c2, iota):
    n = seeds.shape[0]
    n_ck = (K + every - 1) // every
    out_regret = np.zeros((n, n_ck))
    out_return = np.zeros((n, n_ck))
    for i in prange(n):
        _run_seed(P, R, init, H, K, every, seeds[i], v_star, bernstein, c, c2, iota,
                  out_regret, out_return, i)
    return out_regret, out_return


class QLearningUCB(Algorithm):
    """Q-learning with UCB-Hoeffding or UCB-Bernstein bonus (Jin et al., 2018).

    Parameters
    ----------
    bonus : {"hoeffding", "bernstein"}
        Exploration bonus (Algorithm 1 or 2 of the paper).
    c : float, >= 0
        Bonus constant (Hoeffding ``c``; Bernstein ``c1``). See the module
        docstring: the theory constant is very conservative; ``0.01 - 0.1``
        gives sensible learning curves at small ``K``.
    delta : float in (0, 1)
        Confidence level inside ``iota = log(S A K H / delta)``.
    c2 : float >= 0, optional
        Bernstein only (ignored by Hoeffding): constant of the cap
        ``c2 sqrt(H^3 iota / t)`` (default ``c``).
    """

    check_kwargs = {"c": 0.05}
    invalid_kwargs = (
        ({"bonus": "xx"}, "bonus must be"),
        ({"c": -1.0}, "c must be >= 0"),
        ({"delta": 0.0}, "delta must be"),
        ({"delta": 1.0}, "delta must be"),
        ({"delta": 1.5}, "delta must be"),
        ({"c2": -0.1}, "c2 must be"),
    )

    def __init__(self, bonus: str = "hoeffding", c: float = 1.0, delta: float = 0.1,
                 c2: float | None = None):
        if not isinstance(bonus, str) or bonus not in _BONUSES:
            raise ValueError(f"bonus must be 'hoeffding' or 'bernstein'; got {bonus!r}")
        self.bonus = bonus
        self.c = _check_number("c", c, low=0.0)
        self.delta = _check_number("delta", delta, low=0.0, high=1.0, low_open=True)
        if self.delta == 1.0:
            raise ValueError(f"delta must be < 1; got {delta!r}")
        if c2 is not None:
            c2 = _check_number("c2", c2, low=0.0)
        self.c2 = c2

    @property
    def name(self) -> str:
        return "qlearning-ucb-h" if self.bonus == "hoeffding" else "qlearning-ucb-b"

    def params(self) -> dict:
        p = {"bonus": self.bonus, "c": self.c, "delta": self.delta}
        if self.c2 is not None:
            p["c2"] = self.c2
        return p

    def _run_kernel(self, P, R, init, H, K, every, seeds, v_star):
        c2 = self.c if self.c2 is None else self.c2
        S, A = P.shape[1], P.shape[2]
        iota = math.log(S * A * K * H / self.delta)  # T = K H
        regret, realized = _qlearning_kernel(
            P, R, init, int(H), int(K), int(every), seeds, float(v_star),
            self.bonus == "bernstein", self.c, float(c2), float(iota))
        assert regret.shape[1] == n_checkpoints(K, every)
        return regret, realized

"""UCBVI with Chernoff-Hoeffding (UCBVI-CH) or Bernstein-Freedman (UCBVI-BF) bonuses.

Azar, Osband, Munos, "Minimax Regret Bounds for Reinforcement Learning",
ICML 2017. Episodic MDP, horizon ``H``, ``K`` episodes, ``T = K H`` steps,
known mean rewards in ``[0, 1]``, unknown transitions, ``L = ln(5 S A T / delta)``.
Each episode plans by optimistic backward induction on the empirical model,

    Q_{k,h}(s,a) = min{ Q_{k-1,h}(s,a), v_max_h, R_h(s,a) + P_hat_k(.|s,a)^T V_{k,h+1} + b },
    V_{k,h}(s) = max_a Q_{k,h}(s,a),        Q = v_max_h for unvisited (s, a),

and acts greedily. Bonuses (the paper's constants; ``bonus_scale`` multiplies b):

* CH: ``b = 7 H L sqrt(1 / N)``;
* BF: ``b = sqrt(8 L Var_{P_hat}(V_{h+1}) / N) + 14 H L / (3 N)
  + sqrt(8 sum_y P_hat(y) min(100^2 H^3 S^2 A L^2 / N'_{h+1}(y), H^2) / N)``,
  ``N'_{h+1}(y)`` the visits to ``y`` at step ``h+1``.

Theorem (homogeneous P, with probability 1 - delta): CH regret
``O~(H sqrt(S A T) + H^2 S^2 A)``; BF regret ``O~(sqrt(H S A T) + H^2 S^2 A + H sqrt(T))``,
minimax-optimal ``sqrt(H S A T)`` for ``T >= H^3 S^3 A``.

Reconstructed, not read from the paper (../shared/papers/cvar_psr_horizonfree.md
section 3.2 marks them): the bonus constants (7, 8, 14/3, 100^2), exposed
through ``bonus_scale``. Generalisation: ``H`` in the bonuses stands for the
value range ``v_range = H max R`` (equal to ``H`` for rewards in [0, 1] with
max 1), so rewards normalised to total at most 1 keep a scale-consistent bonus
(``H^3`` in the BF term becomes ``v_range^2 H``). Transition statistics are
pooled over stages for stationary models and kept per stage for
stage-dependent ones (``stage_dependent=None`` follows the model).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mdplab.algorithms.base import Algorithm, _check_number, check_stage_dependent
from mdplab.algorithms.online import (
    play_episode,
    policy_value_lists,
    record,
    stage,
    successor_lists,
)
from mdplab.kernels.rng import new_state

_BONUSES = ("ch", "bf")


@njit(cache=True)
def plan_ucbvi_lists(R, H, counts, trans, seen, n_seen, visits, Q, pi, bf, scale, L, v_range):
    """One optimistic backward induction (module docstring); updates ``Q`` and ``pi``.

    ``counts (nst, S, A)``, ``trans (nst, S, A, S)`` transition counts, and the
    observed successors of each row, ``seen[j, s, a, :n_seen[j, s, a]]``, so the
    empirical expectations cost the number of observed successors rather than S;
    ``visits (H+1, S)`` state visits per step (used by BF only).
    """
    nst, S, A = counts.shape
    nR = R.shape[0]
    rmax = v_range / H
    cap = v_range * v_range
    corr_scale = 1e4 * v_range * v_range * H * S * S * A * L * L
    V = np.zeros(S)
    Vn = np.empty(S)
    for h in range(H - 1, -1, -1):
        j = stage(nst, h)
        Rh = R[stage(nR, h)]
        vmax = (H - h) * rmax
        for s in range(S):
            best = -np.inf
            arg = 0
            for a in range(A):
                n = counts[j, s, a]
                if n == 0:
                    q = vmax
                else:
                    pv = 0.0
                    pv2 = 0.0
                    corr = 0.0
                    for m in range(n_seen[j, s, a]):
                        t = seen[j, s, a, m]
                        p = trans[j, s, a, t] / n
                        pv += p * V[t]
                        pv2 += p * V[t] * V[t]
                        if bf:
                            nv = visits[h + 1, t]
                            corr += p * (cap if nv == 0 else min(corr_scale / nv, cap))
                    if bf:
                        var = max(pv2 - pv * pv, 0.0)
                        b = (math.sqrt(8.0 * L * var / n) + 14.0 * v_range * L / (3.0 * n)
                             + math.sqrt(8.0 * corr / n))
                    else:
                        b = 7.0 * v_range * L * math.sqrt(1.0 / n)
                    q = min(Rh[s, a] + pv + scale * b, vmax)
                q = min(q, Q[h, s, a])
                Q[h, s, a] = q
                if q > best:
                    best = q
                    arg = a
            pi[h, s] = arg
            Vn[s] = best
        V[:] = Vn


@njit(cache=True)
def plan_ucbvi(R, H, counts, trans, visits, Q, pi, bf, scale, L, v_range):
    """:func:`plan_ucbvi_lists` from dense transition counts (for checks and tests)."""
    nst, S, A = counts.shape
    seen = np.zeros((nst, S, A, S), dtype=np.int64)
    n_seen = np.zeros((nst, S, A), dtype=np.int64)
    for j in range(nst):
        for s in range(S):
            for a in range(A):
                for t in range(S):
                    if trans[j, s, a, t] > 0:
                        seen[j, s, a, n_seen[j, s, a]] = t
                        n_seen[j, s, a] += 1
    plan_ucbvi_lists(R, H, counts, trans, seen, n_seen, visits, Q, pi, bf, scale, L, v_range)


@njit(cache=True)
def update_statistics(H, states, actions, counts, trans, seen, n_seen, visits):
    """Add one episode to UCBVI's statistics: pair counts, transition counts with the
    observed-successor lists of :func:`plan_ucbvi_lists`, and per-step state visits."""
    nst = counts.shape[0]
    for h in range(H):
        j = stage(nst, h)
        s, a, t = states[h], actions[h], states[h + 1]
        counts[j, s, a] += 1.0
        if trans[j, s, a, t] == 0.0:  # a successor seen for the first time
            seen[j, s, a, n_seen[j, s, a]] = t
            n_seen[j, s, a] += 1
        trans[j, s, a, t] += 1.0
        visits[h + 1, states[h + 1]] += 1.0


@njit(parallel=True, cache=True)
def _ucbvi_kernel(P, R, init, H, K, every, seeds, v_star, nst, bf, scale, delta):
    n_seeds = seeds.shape[0]
    S, A = P.shape[1], P.shape[2]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n_seeds, n_ckpt))
    out_real = np.zeros((n_seeds, n_ckpt))
    L = math.log(5.0 * S * A * K * H / delta)
    v_range = H * max(R.max(), 1e-300)
    sidx, sprob, scount = successor_lists(P)
    for i in prange(n_seeds):
        rng = new_state(seeds[i])
        counts = np.zeros((nst, S, A))
        trans = np.zeros((nst, S, A, S))
        seen = np.zeros((nst, S, A, S), dtype=np.int64)
        n_seen = np.zeros((nst, S, A), dtype=np.int64)
        visits = np.zeros((H + 1, S))
        Q = np.empty((H, S, A))
        for h in range(H):
            Q[h] = (H - h) * v_range / H
        pi = np.zeros((H, S), dtype=np.int64)
        Vbuf = np.empty(S)
        states = np.empty(H + 1, dtype=np.int64)
        actions = np.empty(H, dtype=np.int64)
        rewards = np.empty(H)
        reg = 0.0
        real = 0.0
        for k in range(K):
            plan_ucbvi_lists(R, H, counts, trans, seen, n_seen, visits, Q, pi, bf, scale, L,
                             v_range)
            reg += v_star - policy_value_lists(sidx, sprob, scount, R, init, H, pi, Vbuf)
            real += v_star - play_episode(P, R, init, H, pi, rng, states, actions, rewards)
            update_statistics(H, states, actions, counts, trans, seen, n_seen, visits)
            record(k, K, every, reg, real, out_regret, out_real, i)
    return out_regret, out_real


class UCBVI(Algorithm):
    """UCBVI-CH (``bonus="ch"``) or UCBVI-BF (``bonus="bf"``); see the module docstring.

    Parameters
    ----------
    bonus : {"ch", "bf"}
    delta : float in (0, 1)
        Confidence level inside ``L = ln(5 S A T / delta)``.
    bonus_scale : float >= 0
        Multiplies the bonus (1 = the paper's constants; 0 = greedy on the
        optimistic initialisation).
    stage_dependent : bool, optional
        Keep transition counts per stage; default: iff the model's P is stage-dependent.
    """

    check_kwargs = {"bonus_scale": 0.02}
    invalid_kwargs = (
        ({"bonus": "xx"}, "bonus must be one of"),
        ({"delta": 0.0}, "delta must be"),
        ({"delta": 1.5}, "delta must be"),
        ({"bonus_scale": -1.0}, "bonus_scale must be >= 0"),
        ({"stage_dependent": "yes"}, "stage_dependent must be"),
    )

    def __init__(self, bonus: str = "ch", *, delta: float = 0.1, bonus_scale: float = 1.0,
                 stage_dependent: bool | None = None):
        if bonus not in _BONUSES:
            raise ValueError(f"bonus must be one of {_BONUSES}; got {bonus!r}")
        self.bonus = bonus
        self.delta = _check_number("delta", delta, low=0.0, high=1.0, low_open=True)
        if self.delta >= 1.0:
            raise ValueError(f"delta must be in (0, 1); got {delta!r}")
        self.bonus_scale = _check_number("bonus_scale", bonus_scale, low=0.0)
        self.stage_dependent = check_stage_dependent(stage_dependent)
        self.name = f"ucbvi-{bonus}"

    def params(self) -> dict:
        return {"bonus": self.bonus, "delta": self.delta, "bonus_scale": self.bonus_scale,
                "stage_dependent": self.stage_dependent}

    def _run_kernel(self, P, R, init, H, K, every, seeds, v_star):
        sd = self.stage_dependent if self.stage_dependent is not None else P.shape[0] > 1
        return _ucbvi_kernel(P, R, init, H, K, every, seeds, v_star, H if sd else 1,
                             self.bonus == "bf", self.bonus_scale, self.delta)

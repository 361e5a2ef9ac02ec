"""MVP (Monotonic Value Propagation): the horizon-free original and the modified MVP.

Papers
------
* [ZJD21] Z. Zhang, X. Ji, S. S. Du, "Is Reinforcement Learning More Difficult
  Than Bandits? A Near-optimal Algorithm Escaping the Curse of Horizon",
  COLT 2021, arXiv:2009.13503. (``variant="original"``)
* [ZCLD24] Z. Zhang, Y. Chen, J. D. Lee, S. S. Du, "Settling the Sample
  Complexity of Online Reinforcement Learning", arXiv:2307.13586
  (COLT 2024). Algorithm 1, the *modified* MVP. (``variant="modified"``)

Theorems (as stated in the project notes, ``shared/papers/cvar_psr_horizonfree.md``
section 3.3; the notes' provenance marks are kept: [verified] = checked against the
paper's text, [reconstructed] = from memory and not checked against the PDF)
---------------------------------------------------------------------------------
* [ZJD21], original MVP [reconstructed]. Assumptions: the transitions are
  time-homogeneous, each per-step reward is in [0, 1] and the total reward of
  every episode is at most 1 (the horizon-free setting of Jiang and Agarwal,
  2018). Regret over K episodes ``O~((sqrt(S A K) + S^2 A) polylog(H))`` with
  probability ``1 - delta``. [ZCLD24, Table 1] lists it, in per-step scaling
  (r_h in [0, 1]), as ``min{sqrt(S A H^3 K) + S^2 A H^2, H K}`` [verified].
* [ZCLD24], modified MVP [verified]. Assumptions: transitions and rewards may
  depend on the stage, r_h in [0, 1] per step. Regret
  ``O~(min{sqrt(S A H^3 K), H K})`` for every ``K >= 1`` (no burn-in), which
  matches the lower bound ``min{sqrt(S A H^3 K), H K}``. (Variance- and
  cost-dependent refinements also exist; not reproduced here.)

The modified MVP is not horizon-free on homogeneous models (the counts are split
over the H stages); use the original variant for H-sweeps.

Algorithm, as implemented (per seed)
------------------------------------
Statistics are kept per *count stage* ``c``: ``c = 0`` for every step (pooled
over h) in the original variant, ``c = h`` in the modified one. For each
``(c, s, a)``: ``N_all`` (all visits), batch next-state counts ``N(s'|s, a)``,
reward sum ``theta`` and squared-reward sum ``kappa`` (rewards are the mean
rewards that :func:`mdplab.algorithms.online.play_episode` plays back; the
learner does not read ``R`` otherwise, only ``max R`` as a known reward bound).

After each step, ``N_all += 1`` and the batch statistics are updated. When
``N_all`` becomes a power of two (1, 2, 4, ...; for the modified variant these
are at most ``2^floor(log2 K)`` since ``N_all <= K``) the estimates of that pair
are frozen: ``n = sum_s' N(s'|s,a)``, ``P_hat = N(.|s,a) / n``,
``r_hat = theta / n``, ``sigma_hat = kappa / n``. The original variant uses all
samples so far; the modified one then resets ``N(.|s,a)``, ``theta``, ``kappa``
to 0, so each frozen estimate uses only the latest batch (samples
``2^(i-1)+1 .. 2^i``). If any pair triggered during an episode, the policy is
re-planned at the end of the episode (before the next one) by

    V_H = 0;  for h = H-1, ..., 0:
      Q_h(s, a) = min{ r_hat + <P_hat, V_{h+1}> + b_h(s, a), v_max(h) }   (n >= 1)
      Q_h(s, a) = v_max(h)                                                 (n = 0)
      V_h(s) = max_a Q_h(s, a),   pi_h(s) = first argmax_a Q_h(s, a)

with ``iota = log(1 / delta')``, ``delta' = delta / (200 S A H^2 K^2)`` and

    original: b = bonus_scale * ( c1 sqrt(Var_{P_hat}(V_{h+1}) iota / n)
                                + c2 sqrt(r_max r_hat iota / n) + c3 B iota / n )
    modified: b = bonus_scale * ( c1 sqrt(Var_{P_hat}(V_{h+1}) iota / n)
                                + c2 sqrt((sigma_hat - r_hat^2)_+ iota / n) + c3 B iota / n )

where ``Var_p(V) = max(p.V^2 - (p.V)^2, 0)``. Before the first trigger every Q is
``v_max``, so the first policy plays action 0 everywhere.

Scaling. The papers assume values in [0, 1] ([ZJD21]) or [0, H] ([ZCLD24]). Here
``r_max = max R`` (a known bound on the per-step reward, >= 0),
``v_max(h) = (H - h) r_max`` if ``value_bound is None`` and
``min(value_bound, (H - h) r_max)`` otherwise (for example ``value_bound=1`` for
the horizon-free setting; ``riverswim(..., normalize=True)`` already gives
``(H - h) r_max <= 1``), and ``B = v_max(0)`` is the value range used in the
``c3`` term. With ``r_max = 1`` this is the papers' ``c3 H iota / n`` ([ZCLD24],
``B = H``) and ``c3 iota / n`` ([ZJD21], ``B = 1``). The reward term
``sqrt(r_max r_hat iota / n)`` of the original variant bounds the reward's standard
deviation through ``Var(r) <= r_max E[r]``; with ``r_max = 1`` it is the paper's
``sqrt(r_hat iota / n)``.

Constants and their provenance
------------------------------
* ``c1 = 460/9``, ``c2 = 2 sqrt 2``, ``c3 = 544/9`` and
  ``delta' = delta / (200 S A H^2 K^2)``: [verified] for the modified MVP
  ([ZCLD24], Algorithm 1). For the original MVP they are [reconstructed]: the
  notes do not give [ZJD21]'s constants or log term; the same defaults are used.
* The exact algebra of the bonus (additive sum of the three terms, the ``c2``
  reward term) is [reconstructed] for both variants (notes, section 3.3 and gap 7);
  [ZJD21]'s analysis uses the monotone map
  ``f(p, v, n) = p.v + max{c1 sqrt(V(p, v) iota / n), c3 iota / n}``.
* ``bonus_scale`` multiplies the whole bonus (1 = the papers'). The worst-case
  constants make the bonus exceed ``v_max`` until ``n`` is in the thousands, so
  small-K experiments usually need ``bonus_scale < 1``. While the bonuses exceed
  the caps, every Q equals ``v_max(h)`` and the lowest action is played (ties go
  to the lowest index, :func:`greedy_row`); exploration of the other actions
  starts once the visited pairs' bonuses fall below the caps. Too small a
  ``bonus_scale`` loses optimism and can lock in a suboptimal action.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mdplab.algorithms.base import Algorithm, _check_number, n_checkpoints
from mdplab.algorithms.online import (
    greedy_row,
    play_episode,
    policy_value_lists,
    record,
    stage,
    successor_lists,
)
from mdplab.kernels.rng import new_state

__all__ = ["MVP", "VARIANTS"]

VARIANTS = ("original", "modified")

C1_DEFAULT = 460.0 / 9.0
C2_DEFAULT = 2.0 * math.sqrt(2.0)
C3_DEFAULT = 544.0 / 9.0


@njit(cache=True)
def _plan(P_hat, n_hat, r_hat, sig_hat, modified, H, coef1, coef2, coef3, iota, r_max,
          v_max, B, pi, Q_row, V_next, V_cur):
    """Backward induction with the MVP bonus on the frozen estimates; fills ``pi``."""
    nC, S, A = n_hat.shape
    for s in range(S):
        V_next[s] = 0.0
    for h in range(H - 1, -1, -1):
        c = stage(nC, h)
        cap = v_max[h]
        for s in range(S):
            for a in range(A):
                n = n_hat[c, s, a]
                if n <= 0.0:
                    Q_row[a] = cap
                    continue
                ev = 0.0
                ev2 = 0.0
                for t in range(S):
                    p = P_hat[c, s, a, t]
                    ev += p * V_next[t]
                    ev2 += p * V_next[t] * V_next[t]
                var = ev2 - ev * ev
                if var < 0.0:
                    var = 0.0
                r = r_hat[c, s, a]
                if modified:
                    rvar = sig_hat[c, s, a] - r * r
                else:
                    rvar = r_max * r
                if rvar < 0.0:
                    rvar = 0.0
                b = (coef1 * math.sqrt(var * iota / n) + coef2 * math.sqrt(rvar * iota / n)
                     + coef3 * B * iota / n)
                q = r + ev + b
                Q_row[a] = q if q < cap else cap
            a_best = greedy_row(Q_row)
            pi[h, s] = a_best
            V_cur[s] = Q_row[a_best]
        V_next[:] = V_cur


@njit(cache=True)
def _run_seed(P, R, init, H, K, every, seed, v_star, modified, coef1, coef2, coef3, iota,
              r_max, v_max, out_regret, out_return, i):
    sidx, sprob, scount = successor_lists(P)
    S, A = R.shape[1], R.shape[2]
    nC = H if modified else 1
    rng = new_state(seed)
    N_all = np.zeros((nC, S, A), dtype=np.int64)
    N_b = np.zeros((nC, S, A, S))
    theta = np.zeros((nC, S, A))
    kappa = np.zeros((nC, S, A))
    n_hat = np.zeros((nC, S, A))
    P_hat = np.zeros((nC, S, A, S))
    r_hat = np.zeros((nC, S, A))
    sig_hat = np.zeros((nC, S, A))
    pi = np.zeros((H, S), dtype=np.int64)
    Vbuf = np.zeros(S)
    Q_row = np.zeros(A)
    V_next = np.zeros(S)
    V_cur = np.zeros(S)
    states = np.zeros(H + 1, dtype=np.int64)
    actions = np.zeros(H, dtype=np.int64)
    rewards = np.zeros(H)
    B = v_max[0]
    regret_sum = 0.0
    return_sum = 0.0
    for k in range(K):
        regret_sum += v_star - policy_value_lists(sidx, sprob, scount, R, init, H, pi, Vbuf)
        ret = play_episode(P, R, init, H, pi, rng, states, actions, rewards)
        return_sum += v_star - ret
        triggered = False
        for h in range(H):
            c = stage(nC, h)
            s = states[h]
            a = actions[h]
            r = rewards[h]
            N_all[c, s, a] += 1
            N_b[c, s, a, states[h + 1]] += 1.0
            theta[c, s, a] += r
            kappa[c, s, a] += r * r
            m = N_all[c, s, a]
            if (m & (m - 1)) == 0:  # m is a power of two
                n = 0.0
                for t in range(S):
                    n += N_b[c, s, a, t]
                n_hat[c, s, a] = n
                for t in range(S):
                    P_hat[c, s, a, t] = N_b[c, s, a, t] / n
                r_hat[c, s, a] = theta[c, s, a] / n
                sig_hat[c, s, a] = kappa[c, s, a] / n
                if modified:  # keep only the latest doubling batch
                    for t in range(S):
                        N_b[c, s, a, t] = 0.0
                    theta[c, s, a] = 0.0
                    kappa[c, s, a] = 0.0
                triggered = True
        if triggered:
            _plan(P_hat, n_hat, r_hat, sig_hat, modified, H, coef1, coef2, coef3, iota,
                  r_max, v_max, B, pi, Q_row, V_next, V_cur)
        record(k, K, every, regret_sum, return_sum, out_regret, out_return, i)


@njit(parallel=True, cache=True)
def _mvp_kernel(P, R, init, H, K, every, seeds, v_star, modified, coef1, coef2, coef3, iota,
                r_max, v_max):
    n = seeds.shape[0]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n, n_ckpt))
    out_return = np.zeros((n, n_ckpt))
    for i in prange(n):
        _run_seed(P, R, init, H, K, every, seeds[i], v_star, modified, coef1, coef2, coef3,
                  iota, r_max, v_max, out_regret, out_return, np.int64(i))
    return out_regret, out_return


class MVP(Algorithm):
    """Monotonic Value Propagation ([ZJD21]; modified MVP of [ZCLD24]); see the module docstring.

    Parameters
    ----------
    variant : {"original", "modified"}
        ``"original"``: counts pooled over stages, all samples (horizon-free,
        assumes homogeneous transitions). ``"modified"``: stage-dependent counts,
        only the latest doubling batch.
    delta : float in (0, 1)
        Confidence; ``iota = log(200 S A H^2 K^2 / delta)``.
    bonus_scale : float >= 0
        Multiplies the whole bonus (1 = the papers' constants).
    c1, c2, c3 : float >= 0
        Bonus constants (defaults 460/9, 2 sqrt 2, 544/9).
    value_bound : float > 0 or None
        Clip level of the values: ``v_max(h) = (H - h) max R`` if None, else
        ``min(value_bound, (H - h) max R)``.
    """

    name = "mvp"
    # conformance suite (mdplab.algorithms.check_algorithm): the papers' worst-case
    # constants do not learn within 3000 episodes, so the check scales the bonus down
    # (the modified variant needs bonus_scale=0.02, see tests/test_mvp.py).
    check_kwargs = {"bonus_scale": 0.1}
    invalid_kwargs = (
        ({"variant": "fancy"}, "variant must be one of"),
        ({"delta": 0.0}, "delta must be"),
        ({"delta": 1.0}, "delta must be < 1"),
        ({"bonus_scale": -1.0}, "bonus_scale must be >= 0"),
        ({"c1": -1.0}, "c1 must be >= 0"),
        ({"c2": -1.0}, "c2 must be >= 0"),
        ({"c3": -1.0}, "c3 must be >= 0"),
        ({"value_bound": 0.0}, "value_bound must be > 0"),
    )

    def __init__(self, variant: str = "original", delta: float = 0.1, bonus_scale: float = 1.0,
                 c1: float = C1_DEFAULT, c2: float = C2_DEFAULT, c3: float = C3_DEFAULT,
                 value_bound: float | None = None):
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}; got {variant!r}")
        self.variant = variant
        self.delta = _check_number("delta", delta, low=0.0, low_open=True)
        if self.delta >= 1.0:
            raise ValueError(f"delta must be < 1; got {delta!r}")
        self.bonus_scale = _check_number("bonus_scale", bonus_scale, low=0.0)
        self.c1 = _check_number("c1", c1, low=0.0)
        self.c2 = _check_number("c2", c2, low=0.0)
        self.c3 = _check_number("c3", c3, low=0.0)
        if value_bound is None:
            self.value_bound = None
        else:
            self.value_bound = _check_number("value_bound", value_bound, low=0.0, low_open=True)

    def params(self) -> dict:
        return {"variant": self.variant, "delta": self.delta, "bonus_scale": self.bonus_scale,
                "c1": self.c1, "c2": self.c2, "c3": self.c3, "value_bound": self.value_bound}

    def iota(self, S: int, A: int, H: int, K: int) -> float:
        """``log(1 / delta')`` with ``delta' = delta / (200 S A H^2 K^2)``."""
        return math.log(200.0 * S * A * float(H) ** 2 * float(K) ** 2 / self.delta)

    def value_caps(self, R: np.ndarray, H: int) -> np.ndarray:
        """``v_max(h)`` for ``h = 0, ..., H`` (see the class docstring)."""
        r_max = max(float(np.max(R)), 0.0)
        caps = (H - np.arange(H + 1, dtype=np.float64)) * r_max
        if self.value_bound is not None:
            caps = np.minimum(caps, self.value_bound)
        return caps

    def _run_kernel(self, P, R, init, H, K, every, seeds, v_star):
        if float(np.min(R)) < 0.0:
            raise ValueError(f"{self.name} assumes rewards in [0, max R]; got min R = "
                             f"{float(np.min(R))!r}")
        S, A = R.shape[1], R.shape[2]
        s = self.bonus_scale
        regret, realized = _mvp_kernel(
            P, R, init, int(H), int(K), int(every), seeds, float(v_star),
            self.variant == "modified", s * self.c1, s * self.c2, s * self.c3,
            self.iota(S, A, H, K), max(float(np.max(R)), 0.0), self.value_caps(R, H))
        assert regret.shape == (seeds.shape[0], n_checkpoints(K, every))
        return regret, realized

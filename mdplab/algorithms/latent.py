"""Learners for latent MDPs with the context revealed in hindsight (Zhou, Wang, Du).

Paper
-----
* [ZWD23] R. Zhou, R. Wang, S. S. Du, "Horizon-Free and Variance-Dependent
  Reinforcement Learning for Latent Markov Decision Processes", ICML 2023
  (arXiv:2210.11604). Setting, theorems and framework as in the project notes,
  ``shared/papers/cvar_psr_horizonfree.md`` section 3.4 (provenance marks of
  the notes kept: [verified] = checked against the paper's text,
  [reconstructed] = from the notes' description, not checked against the PDF).

Theorem [verified]
------------------
An LMDP (:class:`~mdplab.models.LatentMDP`): ``M`` MDPs over shared ``S``, ``A``,
horizon ``H``, mixed by weights ``w``; the context ``m ~ w`` of each episode is
hidden while acting and revealed when the episode ends; every episode's total
reward is at most 1; policies are history-dependent. Then the learner of
[ZWD23] has regret ``O~(sqrt(Var* M Gamma S A K))`` over ``K`` episodes, with
only logarithmic dependence on ``H`` ("horizon-free"), ``Gamma <= S`` the
largest transition support and ``Var*`` the variance quantity of the LMDP
(:func:`mdplab.planning.latent_var_star`, itself [reconstructed]); the lower
bound is ``Omega(sqrt(Var* M S A K))`` (with ``Gamma = 2``). On a deterministic
LMDP (``Var* = 0``) the regret is polylogarithmic in ``K``.

Learners (``ALGORITHMS`` names)
-------------------------------
* ``lmdp-vo`` -- value-optimistic [reconstructed]. Per-context statistics
  ``N_m(s, a)``, ``N_m(s, a, s')`` (pooled over stages), updated only when
  ``m`` is revealed at the episode's end, with MVP's doubling trigger: the
  estimate ``P_hat_m(. | s, a)`` is frozen whenever ``N_m(s, a)`` reaches a power
  of two, and the policy is re-planned after an episode in which any pair
  triggered. The planner is a DP over the history tree (histories
  ``tau_h = (s_0, a_0, k_0, ..., s_h)``, ``k`` the reward class observed):
  beliefs ``b_m(tau_h) ∝ w_m nu_m(s_0) prod P_hat_m(s_{t+1} | s_t, a_t)
  [class of R_m(t, s_t, a_t) = k_t]``, optimistic alpha vectors

  ``Q_m(tau, a) = min{ R_m(h, s, a) + <P_hat_m(.|s, a), alpha_m(tau a .)> + b_m, v_max(h) }``
  ``b_m = c1 sqrt(Var_{P_hat_m}(alpha_m(tau a .)) iota / n) + c2 sqrt(r_max R iota / n)``
  ``      + c3 B iota / n``

  (MVP's bonus, [ZJD21]), ``a*(tau) = argmax_a sum_m b_m(tau) Q_m(tau, a)`` and
  ``alpha_m(tau) = Q_m(tau, a*)``. With ``M = 1`` this is the original MVP
  (:class:`mdplab.algorithms.MVP`) on that MDP: the same counts, triggers, bonus,
  caps and random draws; MVP's empirical mean reward equals the known
  deterministic reward (to rounding), and the curves agree
  (``tests/test_latent_learners.py``).
* ``lmdp-mo`` -- model-optimistic [reconstructed]. Same statistics and tree;
  the backup is an extended value iteration step over the per-context
  Bernstein confidence set
  ``|p(s') - P_hat_m(s'|s, a)| <= r1 sqrt(P_hat_m(s'|s, a) iota / n) + r2 iota / n``
  (intersected with the simplex): ``Q_m(tau, a) = min{R + max_p <p, alpha_m>, v_max}``,
  the inner max by the greedy mass shift toward high-alpha next states (as in
  UCRL2's EVI). Pairs with ``n = 0`` are optimistic (``v_max``).
* ``lmdp-oracle`` -- baseline: the context is revealed at the *start*; one
  original-MVP learner per context. Its regret is measured against the oracle
  value ``sum_m w_m V_m*`` (:func:`mdplab.planning.latent_oracle_value`), the
  best an agent told the context can do; so it is an upper bound on what a
  context-in-hindsight learner can achieve.
* ``lmdp-blind`` -- baseline: MVP on the context-mixed data (counts ignore the
  context, a Markov policy ``pi_h(s)``), scored against the LMDP's
  history-dependent optimum. No guarantee: a history-independent policy can be
  strictly suboptimal, so its regret can grow linearly.

The executed policy of every learner is evaluated exactly in the true LMDP
after each re-plan (per-context alpha vectors of the played history-dependent
policy, by backward recursion over the same history tree), so the curves are
exact regrets of the policies played.

Scope and simplifications (stated, not hidden)
----------------------------------------------
* Rewards ``R_m(h, s, a)``, the weights ``w`` and the initial distributions
  ``nu_m`` are known to the learner (rewards are deterministic in [ZWD23]); what
  is learned are the per-context transitions. Observed rewards refine the
  belief through their reward class (as in the LMDP's optimum, which
  observes rewards), so the history tree only expands histories consistent
  with at least one context; a history consistent with a single context is a
  per-context MDP from there on and is solved by the per-context DP.
* Transitions must be time-homogeneous (the horizon-free setting);
  ``stage_counts=True`` splits the statistics over stages (the counts of the
  modified MVP of [ZCLD24]): this is the *non*-horizon-free baseline of the
  H-sweep (effective state space ``S H``).
* The tree has up to ``S (S A K)^h`` nodes per stage; ``max_nodes`` bounds it
  (tiny instances: ``M <= 3, S <= 4, A <= 2, H <= 6``).
* The truncation technique of [ZWD23] for the variance and the exact form of
  their bonus and confidence-set constants are not reproduced: the constants
  (``c1, c2, c3`` of MVP, ``r1, r2`` of the Bernstein set, ``delta``) are
  parameters; ``bonus_scale`` multiplies every bonus / radius (the worst-case
  constants explore far beyond the episode budgets used here).
  ``iota = log(200 M S A H^2 K^2 / delta)`` ([reconstructed], MVP's with the
  extra factor ``M``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mdplab.algorithms.base import _check_number
from mdplab.algorithms.objectives import EXPECTED_RETURN, Objective
from mdplab.algorithms.online import greedy_row
from mdplab.algorithms.protocol import Learner, Trace
from mdplab.kernels.rng import new_state, next_double
from mdplab.kernels.sampling import inverse_cdf_dense
from mdplab.models import LatentMDP
from mdplab.models.latent import REWARD_TOL
from mdplab.planning import latent_oracle_value, latent_policy_value

__all__ = [
    "CONTEXT_ORACLE_RETURN",
    "DEFAULT_MAX_NODES",
    "HistoryTree",
    "LMDPBlind",
    "LMDPLearner",
    "LMDPOracle",
    "OptimisticPlan",
    "build_history_tree",
    "lmdp_optimistic_plan",
    "max_episode_return",
]

C1_DEFAULT = 460.0 / 9.0
C2_DEFAULT = 2.0 * math.sqrt(2.0)
C3_DEFAULT = 544.0 / 9.0
R1_DEFAULT = math.sqrt(2.0)
R2_DEFAULT = 7.0 / 3.0
DEFAULT_MAX_NODES = 2_000_000

MODE_VO, MODE_MO, MODE_ORACLE, MODE_BLIND = 0, 1, 2, 3

CONTEXT_ORACLE_RETURN = Objective("context-oracle-return")
"""Expected return of an agent told the context at the start; optimum
``sum_m w_m V_m*``. Values are per-context Markov policies ``(M, H, S)``."""


def _oracle_value(lmdp: LatentMDP, policies) -> float:
    pols = np.asarray(policies)
    return float(sum(w * latent_policy_value(
        LatentMDP(lmdp.P[m:m + 1], lmdp.R[m:m + 1], [1.0], horizon=lmdp.horizon,
                  init=lmdp.init[m]), pols[m])
        for m, w in enumerate(lmdp.weights)))


CONTEXT_ORACLE_RETURN.register(LatentMDP, latent_oracle_value, _oracle_value)


# ================================================================ history tree
@njit(cache=True)
def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


@njit(cache=True)
def _lowest_bit(x):
    i = 0
    while (x >> i) & 1 == 0:
        i += 1
    return i


@njit(cache=True)
def _build_tree(signal, root_mask, S, A, H, cap):
    """Nodes in BFS order; returns ``n`` (or -1 when more than ``cap`` nodes)."""
    M = signal.shape[0]
    nR = signal.shape[1]
    stage = np.zeros(cap, dtype=np.int64)
    state = np.zeros(cap, dtype=np.int64)
    mask = np.zeros(cap, dtype=np.int64)
    single = np.full(cap, -1, dtype=np.int64)
    base = np.full((cap, A), -1, dtype=np.int64)
    nk = np.zeros((cap, A), dtype=np.int64)
    rank = np.full((cap, A, M), -1, dtype=np.int64)
    root = np.full(S, -1, dtype=np.int64)
    n = 0
    for s in range(S):
        if root_mask[s] != 0:
            if n >= cap:
                return -1, stage, state, mask, single, base, nk, rank, root
            root[s] = n
            stage[n] = 0
            state[n] = s
            mask[n] = root_mask[s]
            if _popcount(root_mask[s]) == 1:
                single[n] = _lowest_bit(root_mask[s])
            n += 1
    classes = np.zeros(M, dtype=np.int64)
    i = 0
    while i < n:
        h = stage[i]
        if single[i] >= 0 or h >= H - 1:
            i += 1
            continue
        s = state[i]
        rh = h if nR > 1 else 0
        mk = mask[i]
        for a in range(A):
            # distinct reward classes among the consistent contexts, increasing
            nc = 0
            for m in range(M):
                if (mk >> m) & 1:
                    k = signal[m, rh, s, a]
                    found = False
                    for j in range(nc):
                        if classes[j] == k:
                            found = True
                    if not found:
                        # insert sorted
                        j = nc
                        while j > 0 and classes[j - 1] > k:
                            classes[j] = classes[j - 1]
                            j -= 1
                        classes[j] = k
                        nc += 1
            for m in range(M):
                if (mk >> m) & 1:
                    k = signal[m, rh, s, a]
                    for j in range(nc):
                        if classes[j] == k:
                            rank[i, a, m] = j
            if n + S * nc > cap:
                return -1, stage, state, mask, single, base, nk, rank, root
            base[i, a] = n
            nk[i, a] = nc
            for s2 in range(S):
                for j in range(nc):
                    cm = 0
                    for m in range(M):
                        if (mk >> m) & 1 and rank[i, a, m] == j:
                            cm |= np.int64(1) << m
                    stage[n] = h + 1
                    state[n] = s2
                    mask[n] = cm
                    if _popcount(cm) == 1:
                        single[n] = _lowest_bit(cm)
                    n += 1
        i += 1
    return n, stage, state, mask, single, base, nk, rank, root


class HistoryTree:
    """The histories an LMDP learner plans over (fixed by ``S, A, H``, the
    reward classes and the start supports; see the module docstring).

    Node ``i``: ``stage[i]``, ``state[i]``, ``mask[i]`` (bit ``m`` set when
    context ``m`` is consistent with the observed reward classes),
    ``single[i]`` (the context when only one is consistent, else -1; such a
    node is not expanded). The child after action ``a``, next state ``s'``, in
    context ``m`` is ``base[i, a] + s' * nk[i, a] + rank[i, a, m]``.
    """

    def __init__(self, arrays, n: int):
        stage, state, mask, single, base, nk, rank, root = arrays
        self.n_nodes = int(n)
        self.stage = stage[:n].copy()
        self.state = state[:n].copy()
        self.mask = mask[:n].copy()
        self.single = single[:n].copy()
        self.base = base[:n].copy()
        self.nk = nk[:n].copy()
        self.rank = rank[:n].copy()
        self.root = root

    def arrays(self):
        return (self.stage, self.state, self.mask, self.single, self.base, self.nk,
                self.rank, self.root)


def _signal(lmdp: LatentMDP) -> np.ndarray:
    R = lmdp.stage_R()
    M = R.shape[0]
    sig = np.zeros(R.shape, dtype=np.int64)
    for m in range(M):
        sig[m] = m
        for j in range(m):
            same = (np.abs(R[j] - R[m]) <= REWARD_TOL) & (sig[m] == m)
            sig[m][same] = j
    return sig


def build_history_tree(lmdp: LatentMDP, max_nodes: int = DEFAULT_MAX_NODES) -> HistoryTree:
    """The :class:`HistoryTree` of ``lmdp`` (ValueError above ``max_nodes`` nodes)."""
    if not isinstance(lmdp, LatentMDP):
        raise TypeError(f"lmdp must be a LatentMDP; got {type(lmdp).__name__}")
    M, S, A, H = lmdp.M, lmdp.S, lmdp.A, lmdp.horizon
    if M > 62:
        raise ValueError(f"at most 62 contexts are supported; got M = {M}")
    start = lmdp.weights[:, None] * lmdp.init  # (M, S)
    root_mask = np.zeros(S, dtype=np.int64)
    for m in range(M):
        root_mask[start[m] > 0] |= np.int64(1) << m
    bound = int(min(max_nodes, _tree_bound(lmdp)))
    cap, signal = min(bound, 4096), _signal(lmdp)
    while True:  # grow the buffers geometrically rather than allocating the bound
        out = _build_tree(signal, root_mask, S, A, H, cap + 1)
        n = int(out[0])
        if n >= 0 or cap >= bound:
            break
        cap = min(bound, cap * 8)
    if n < 0:
        raise ValueError(
            f"the history tree of this LMDP (M={M}, S={S}, A={A}, H={H}) has more than "
            f"max_nodes={max_nodes} nodes; use a smaller instance (M <= 3, S <= 4, A <= 2, "
            "H <= 6 is typical) or raise max_nodes")
    return HistoryTree(out[1:], n)


def _tree_bound(lmdp: LatentMDP) -> int:
    S, A, K = lmdp.S, lmdp.A, lmdp.M
    total, level = 0, S
    for _ in range(lmdp.horizon):
        total += level
        level *= S * A * K
        if total > 10**9:
            break
    return total


# ================================================================= backups
@njit(cache=True)
def _backup(mode, r, phat, n, g, cap, coef1, coef2, coef3, r1, r2, iota, r_max, B, order,
            work):
    """Optimistic ``Q`` of one (context, history, action): VO (MVP bonus) or MO (EVI).

    ``order`` ``(S,)`` int and ``work`` ``(2, S)`` float are scratch buffers.
    """
    if n <= 0.0:
        return cap
    S = g.shape[0]
    if mode == MODE_MO:
        lo_sum = 0.0
        lo = work[0]
        hi = work[1]
        for t in range(S):
            eps = r1 * math.sqrt(phat[t] * iota / n) + r2 * iota / n
            lo[t] = phat[t] - eps if phat[t] - eps > 0.0 else 0.0
            hi[t] = phat[t] + eps if phat[t] + eps < 1.0 else 1.0
            lo_sum += lo[t]
        mass = 1.0 - lo_sum
        # insertion sort of the next states by decreasing g
        for t in range(S):
            order[t] = t
        for t in range(1, S):
            j = t
            while j > 0 and g[order[j - 1]] < g[order[j]]:
                tmp = order[j - 1]
                order[j - 1] = order[j]
                order[j] = tmp
                j -= 1
        for j in range(S):
            t = order[j]
            if mass <= 0.0:
                break
            add = hi[t] - lo[t]
            if add > mass:
                add = mass
            lo[t] += add
            mass -= add
        ev = 0.0
        for t in range(S):
            ev += lo[t] * g[t]
        q = r + ev
    else:
        ev = 0.0
        ev2 = 0.0
        for t in range(S):
            p = phat[t]
            ev += p * g[t]
            ev2 += p * g[t] * g[t]
        var = ev2 - ev * ev
        if var < 0.0:
            var = 0.0
        rvar = r_max * r
        if rvar < 0.0:
            rvar = 0.0
        b = (coef1 * math.sqrt(var * iota / n) + coef2 * math.sqrt(rvar * iota / n)
             + coef3 * B * iota / n)
        q = r + ev + b
    return q if q < cap else cap


@njit(cache=True)
def _context_dp(mode, R, Rm_idx, P_hat, n_hat, ms, nC, H, cap_h, coef1, coef2, coef3, r1, r2,
                iota, r_max, B, Vbar, pibar, m_out, rbar, rcount):
    """Per-context optimistic DP: fills ``Vbar[m_out]`` ``(H+1, S)`` and ``pibar[m_out]``.

    ``R[Rm_idx]`` are the known rewards of context ``Rm_idx`` (``Rm_idx < 0``:
    the empirical rewards ``rbar / rcount`` per stage, for the blind learner).
    """
    S = P_hat.shape[2]
    A = P_hat.shape[3]
    nR = R.shape[1]
    Q_row = np.zeros(A)
    g = np.zeros(S)
    order = np.zeros(S, dtype=np.int64)
    work = np.zeros((2, S))
    for s in range(S):
        Vbar[m_out, H, s] = 0.0
    for h in range(H - 1, -1, -1):
        c = h if nC > 1 else 0
        rh = h if nR > 1 else 0
        for t in range(S):
            g[t] = Vbar[m_out, h + 1, t]
        for s in range(S):
            for a in range(A):
                if Rm_idx >= 0:
                    r = R[Rm_idx, rh, s, a]
                    nn = n_hat[ms, c, s, a]
                else:
                    if rcount[h, s, a] > 0:
                        r = rbar[h, s, a] / rcount[h, s, a]
                        nn = n_hat[ms, c, s, a]
                    else:
                        r = 0.0
                        nn = 0.0
                Q_row[a] = _backup(mode, r, P_hat[ms, c, s, a], nn, g, cap_h[h], coef1,
                                   coef2, coef3, r1, r2, iota, r_max, B, order, work)
            a_best = greedy_row(Q_row)
            pibar[m_out, h, s] = a_best
            Vbar[m_out, h, s] = Q_row[a_best]


@njit(cache=True)
def _context_eval(P, R, m, pi_m, H, Vp):
    """``Vp[m]`` ``(H+1, S)``: values of the Markov policy ``pi_m (H, S)`` in context ``m``."""
    S = P.shape[1]
    nR = R.shape[1]
    for s in range(S):
        Vp[m, H, s] = 0.0
    for h in range(H - 1, -1, -1):
        rh = h if nR > 1 else 0
        for s in range(S):
            a = pi_m[h, s]
            acc = 0.0
            for t in range(S):
                acc += P[m, s, a, t] * Vp[m, h + 1, t]
            Vp[m, h, s] = R[m, rh, s, a] + acc


@njit(cache=True)
def _plan_tree(mode, R, P_hat, n_hat, w, init, H, cap_h, coef1, coef2, coef3, r1, r2, iota,
               r_max, B, t_stage, t_state, t_mask, t_single, t_base, t_nk, t_rank, t_root,
               Vbar, pibar, belief, alpha, act, stage_counts):
    """Plan the value- or model-optimistic history-dependent policy; return its value."""
    M = P_hat.shape[0]
    nC = P_hat.shape[1]
    S = P_hat.shape[2]
    A = P_hat.shape[3]
    nR = R.shape[1]
    N = t_stage.shape[0]
    dummy = np.zeros((1, 1, 1))
    for m in range(M):
        _context_dp(mode, R, m, P_hat, n_hat, m, nC, H, cap_h, coef1, coef2, coef3, r1, r2,
                    iota, r_max, B, Vbar, pibar, m, dummy, dummy)
    # forward: beliefs (normalised) of the expanded nodes' children
    for s in range(S):
        i = t_root[s]
        if i >= 0 and t_single[i] < 0:
            z = 0.0
            for m in range(M):
                belief[i, m] = w[m] * init[m, s] if (t_mask[i] >> m) & 1 else 0.0
                z += belief[i, m]
            for m in range(M):
                belief[i, m] /= z
    u = np.zeros(M)
    for i in range(N):
        if t_single[i] >= 0 or t_base[i, 0] < 0:
            continue
        h = t_stage[i]
        s = t_state[i]
        c = h if nC > 1 else 0
        for a in range(A):
            nc = t_nk[i, a]
            for s2 in range(S):
                for j in range(nc):
                    ch = t_base[i, a] + s2 * nc + j
                    if t_single[ch] >= 0:
                        continue
                    z = 0.0
                    for m in range(M):
                        u[m] = 0.0
                        if t_rank[i, a, m] == j:
                            lik = P_hat[m, c, s, a, s2] if n_hat[m, c, s, a] > 0 else 1.0 / S
                            u[m] = belief[i, m] * lik
                            z += u[m]
                    if z <= 0.0:  # unseen under every estimate: keep the prior belief
                        for m in range(M):
                            u[m] = belief[i, m] if t_rank[i, a, m] == j else 0.0
                            z += u[m]
                    if z <= 0.0:
                        for m in range(M):
                            u[m] = w[m] if t_rank[i, a, m] == j else 0.0
                            z += u[m]
                    for m in range(M):
                        belief[ch, m] = u[m] / z
    # backward: optimistic alpha vectors and belief-greedy actions; the VO bonus
    # terms that do not depend on the next values, per pair
    bconst = np.zeros((M, nC, S, A))
    for m in range(M):
        for c in range(nC):
            for s in range(S):
                for a in range(A):
                    n = n_hat[m, c, s, a]
                    if n > 0.0:
                        rvar = r_max * R[m, 0, s, a] if nR == 1 else 0.0
                        if rvar < 0.0:
                            rvar = 0.0
                        bconst[m, c, s, a] = (coef2 * math.sqrt(rvar * iota / n)
                                              + coef3 * B * iota / n)
    g = np.zeros(S)
    order = np.zeros(S, dtype=np.int64)
    work = np.zeros((2, S))
    Q = np.zeros((A, M))
    score = np.zeros(A)
    for i in range(N - 1, -1, -1):
        if t_single[i] >= 0:
            continue
        h = t_stage[i]
        s = t_state[i]
        c = h if nC > 1 else 0
        rh = h if nR > 1 else 0
        mk = t_mask[i]
        for a in range(A):
            score[a] = 0.0
            for m in range(M):
                if not (mk >> m) & 1:
                    continue
                n = n_hat[m, c, s, a]
                r = R[m, rh, s, a]
                if mode == MODE_VO:
                    # the VO backup inline (same sums as _backup; zero-probability
                    # next states add exact zeros, so they are skipped)
                    if n <= 0.0:
                        q = cap_h[h]
                    else:
                        ev = 0.0
                        ev2 = 0.0
                        if h < H - 1:
                            b0 = t_base[i, a] + t_rank[i, a, m]
                            nk = t_nk[i, a]
                            for s2 in range(S):
                                p = P_hat[m, c, s, a, s2]
                                if p != 0.0:
                                    ch = b0 + s2 * nk
                                    gv = Vbar[m, h + 1, s2] if t_single[ch] >= 0 else alpha[ch, m]
                                    ev += p * gv
                                    ev2 += p * gv * gv
                        var = ev2 - ev * ev
                        if var < 0.0:
                            var = 0.0
                        b = coef1 * math.sqrt(var * iota / n) + bconst[m, c, s, a]
                        if nR > 1 and r > 0.0 and r_max > 0.0:
                            b += coef2 * math.sqrt(r_max * r * iota / n)
                        q = r + ev + b
                        if q > cap_h[h]:
                            q = cap_h[h]
                    Q[a, m] = q
                elif h == H - 1:  # no next values: any p in the set gives r
                    Q[a, m] = cap_h[h] if n <= 0.0 or r > cap_h[h] else r
                else:
                    for s2 in range(S):
                        ch = t_base[i, a] + s2 * t_nk[i, a] + t_rank[i, a, m]
                        g[s2] = Vbar[m, h + 1, s2] if t_single[ch] >= 0 else alpha[ch, m]
                    Q[a, m] = _backup(mode, r, P_hat[m, c, s, a], n, g, cap_h[h], coef1, coef2,
                                      coef3, r1, r2, iota, r_max, B, order, work)
                score[a] += belief[i, m] * Q[a, m]
        a_best = greedy_row(score)
        act[i] = a_best
        for m in range(M):
            alpha[i, m] = Q[a_best, m] if (mk >> m) & 1 else 0.0
    total = 0.0
    for s in range(S):
        i = t_root[s]
        if i < 0:
            continue
        for m in range(M):
            if (t_mask[i] >> m) & 1:
                v = Vbar[m, 0, s] if t_single[i] >= 0 else alpha[i, m]
                total += w[m] * init[m, s] * v
    return total


@njit(cache=True)
def _eval_tree(P, R, w, init, H, t_stage, t_state, t_mask, t_single, t_base, t_nk, t_rank,
               t_root, pibar, act, Vp, val, ctx):
    """Exact value of the played history-dependent policy; ``ctx[m]`` per context."""
    M = P.shape[0]
    S = P.shape[1]
    nR = R.shape[1]
    N = t_stage.shape[0]
    for m in range(M):
        _context_eval(P, R, m, pibar[m], H, Vp)
    for i in range(N - 1, -1, -1):
        if t_single[i] >= 0:
            continue
        h = t_stage[i]
        s = t_state[i]
        rh = h if nR > 1 else 0
        a = act[i]
        for m in range(M):
            if not (t_mask[i] >> m) & 1:
                continue
            acc = 0.0
            if h < H - 1:
                for s2 in range(S):
                    ch = t_base[i, a] + s2 * t_nk[i, a] + t_rank[i, a, m]
                    v = Vp[m, h + 1, s2] if t_single[ch] >= 0 else val[ch, m]
                    acc += P[m, s, a, s2] * v
            val[i, m] = R[m, rh, s, a] + acc
    total = 0.0
    for m in range(M):
        ctx[m] = 0.0
    for s in range(S):
        i = t_root[s]
        if i < 0:
            continue
        for m in range(M):
            if (t_mask[i] >> m) & 1:
                v = Vp[m, 0, s] if t_single[i] >= 0 else val[i, m]
                ctx[m] += init[m, s] * v
                total += w[m] * init[m, s] * v
    return total


# ============================================================== online loop
@njit(cache=True)
def _run_seed(mode, P, R, w, init, H, K, every, seed, v_star, stage_counts, coef1, coef2,
              coef3, r1, r2, iota, r_max, cap_h, t_stage, t_state, t_mask, t_single, t_base,
              t_nk, t_rank, t_root, out_regret, out_return, i_out):
    M = P.shape[0]
    S = P.shape[1]
    A = P.shape[2]
    nR = R.shape[1]
    nC = H if stage_counts else 1
    Ms = 1 if mode == MODE_BLIND else M
    tree = mode == MODE_VO or mode == MODE_MO
    N = t_stage.shape[0] if tree else 1
    rng = new_state(seed)
    N_all = np.zeros((Ms, nC, S, A), dtype=np.int64)
    N_b = np.zeros((Ms, nC, S, A, S))
    n_hat = np.zeros((Ms, nC, S, A))
    P_hat = np.zeros((Ms, nC, S, A, S))
    rsum = np.zeros((H, S, A))
    rcnt = np.zeros((H, S, A))
    Vbar = np.zeros((M, H + 1, S))
    pibar = np.zeros((M, H, S), dtype=np.int64)
    Vp = np.zeros((M, H + 1, S))
    belief = np.zeros((N, M))
    alpha = np.zeros((N, M))
    val = np.zeros((N, M))
    act = np.zeros(N, dtype=np.int64)
    ctx = np.zeros(M)
    states = np.zeros(H + 1, dtype=np.int64)
    actions = np.zeros(H, dtype=np.int64)
    rewards = np.zeros(H)
    B = cap_h[0]
    J = 0.0
    regret_sum = 0.0
    return_sum = 0.0
    triggered = False
    for k in range(K + 1):
        if k == 0 or triggered:
            # re-plan, then evaluate the new policy exactly
            if tree:
                _plan_tree(mode, R, P_hat, n_hat, w, init, H, cap_h, coef1, coef2, coef3, r1,
                           r2, iota, r_max, B, t_stage, t_state, t_mask, t_single, t_base, t_nk,
                           t_rank, t_root, Vbar, pibar, belief, alpha, act, stage_counts)
                J = _eval_tree(P, R, w, init, H, t_stage, t_state, t_mask, t_single, t_base,
                               t_nk, t_rank, t_root, pibar, act, Vp, val, ctx)
            elif mode == MODE_ORACLE:
                J = 0.0
                for m in range(M):
                    _context_dp(MODE_VO, R, m, P_hat, n_hat, m, nC, H, cap_h, coef1, coef2,
                                coef3, r1, r2, iota, r_max, B, Vbar, pibar, m, rsum, rcnt)
                    _context_eval(P, R, m, pibar[m], H, Vp)
                    acc = 0.0
                    for s in range(S):
                        acc += init[m, s] * Vp[m, 0, s]
                    J += w[m] * acc
            else:
                _context_dp(MODE_VO, R, -1, P_hat, n_hat, 0, nC, H, cap_h, coef1, coef2, coef3,
                            r1, r2, iota, r_max, B, Vbar, pibar, 0, rsum, rcnt)
                J = 0.0
                for m in range(M):
                    _context_eval(P, R, m, pibar[0], H, Vp)
                    acc = 0.0
                    for s in range(S):
                        acc += init[m, s] * Vp[m, 0, s]
                    J += w[m] * acc
        if k == K:
            break
        regret_sum += v_star - J
        # play one episode
        m = 0
        if M > 1:
            m = inverse_cdf_dense(w, next_double(rng))
        s = inverse_cdf_dense(init[m], next_double(rng))
        node = t_root[s] if tree else -1
        single = t_single[node] if tree else -1
        total = 0.0
        for h in range(H):
            if mode == MODE_ORACLE:
                a = pibar[m, h, s]
            elif mode == MODE_BLIND:
                a = pibar[0, h, s]
            elif single >= 0:
                a = pibar[single, h, s]
            else:
                a = act[node]
            r = R[m, h if nR > 1 else 0, s, a]
            states[h] = s
            actions[h] = a
            rewards[h] = r
            total += r
            s2 = inverse_cdf_dense(P[m, s, a], next_double(rng))
            if tree and single < 0 and h + 1 < H:
                node = t_base[node, a] + s2 * t_nk[node, a] + t_rank[node, a, m]
                single = t_single[node]
            s = s2
        states[H] = s
        return_sum += v_star - total
        # the context is revealed: update its statistics (doubling trigger)
        ms = 0 if mode == MODE_BLIND else m
        triggered = False
        for h in range(H):
            c = h if nC > 1 else 0
            s = states[h]
            a = actions[h]
            rsum[h, s, a] += rewards[h]
            rcnt[h, s, a] += 1.0
            N_all[ms, c, s, a] += 1
            N_b[ms, c, s, a, states[h + 1]] += 1.0
            cnt = N_all[ms, c, s, a]
            if (cnt & (cnt - 1)) == 0:
                nn = 0.0
                for t in range(S):
                    nn += N_b[ms, c, s, a, t]
                n_hat[ms, c, s, a] = nn
                for t in range(S):
                    P_hat[ms, c, s, a, t] = N_b[ms, c, s, a, t] / nn
                triggered = True
        if (k + 1) % every == 0 or k + 1 == K:
            j = (k + 1 + every - 1) // every - 1
            out_regret[i_out, j] = regret_sum
            out_return[i_out, j] = return_sum


@njit(cache=True)
def _lmdp_kernel(mode, P, R, w, init, H, K, every, seeds, v_star, stage_counts, coef1, coef2,
                 coef3, r1, r2, iota, r_max, cap_h, t_stage, t_state, t_mask, t_single, t_base,
                 t_nk, t_rank, t_root):
    n = seeds.shape[0]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n, n_ckpt))
    out_return = np.zeros((n, n_ckpt))
    # Seeds run one after the other (each on its own stream, so the curves do not
    # depend on the thread count); a parallel loop here would triple the compile time.
    for i in range(n):
        _run_seed(mode, P, R, w, init, H, K, every, seeds[i], v_star, stage_counts, coef1,
                  coef2, coef3, r1, r2, iota, r_max, cap_h, t_stage, t_state, t_mask, t_single,
                  t_base, t_nk, t_rank, t_root, out_regret, out_return, np.int64(i))
    return out_regret, out_return


# ================================================================= checks
def max_episode_return(lmdp: LatentMDP) -> float:
    """The largest total reward of any feasible episode (any context, any actions)."""
    P, R = lmdp.stage_P(), lmdp.stage_R()
    H, best = lmdp.horizon, 0.0
    for m in range(lmdp.M):
        V = np.zeros(lmdp.S)
        for h in range(H - 1, -1, -1):
            Ph = P[m, h if P.shape[1] > 1 else 0] > 0
            Rh = R[m, h if R.shape[1] > 1 else 0]
            nxt = np.where(Ph, V[None, None, :], -np.inf).max(axis=-1)
            V = (Rh + nxt).max(axis=1)
        best = max(best, float(V[lmdp.init[m] > 0].max()))
    return best


def _tiny_lmdps():
    from mdplab.envs import probe_chain_lmdp, random_latent_mdp

    return [("probe-chain", probe_chain_lmdp(2, 4)),
            ("random", random_latent_mdp(2, 2, 2, 3, seed=1))]


class _LMDPBase(Learner):
    """Shared validation of the LMDP learners (see the module docstring)."""

    model_class = LatentMDP
    guarantee = "online"
    objective = EXPECTED_RETURN
    mode = MODE_VO
    check_kwargs = {"bonus_scale": 0.02}
    check_budget = 2000
    invalid_kwargs = (
        ({"delta": 0.0}, "delta must be"),
        ({"delta": 1.0}, "delta must be < 1"),
        ({"bonus_scale": -1.0}, "bonus_scale must be >= 0"),
        ({"c1": -1.0}, "c1 must be >= 0"),
        ({"c2": float("nan")}, "c2 must be finite"),
        ({"c3": -1.0}, "c3 must be >= 0"),
        ({"r1": -1.0}, "r1 must be >= 0"),
        ({"r2": -1.0}, "r2 must be >= 0"),
        ({"value_bound": 0.0}, "value_bound must be > 0"),
        ({"stage_counts": 1}, "stage_counts must be True or False"),
        ({"max_nodes": 0}, "max_nodes must be >= 1"),
        ({"max_return": 0.0}, "max_return must be > 0"),
    )

    def __init__(self, delta: float = 0.1, bonus_scale: float = 1.0, c1: float = C1_DEFAULT,
                 c2: float = C2_DEFAULT, c3: float = C3_DEFAULT, r1: float = R1_DEFAULT,
                 r2: float = R2_DEFAULT, value_bound: float | None = 1.0,
                 stage_counts: bool = False, max_nodes: int = DEFAULT_MAX_NODES,
                 max_return: float | None = 1.0):
        self.delta = _check_number("delta", delta, low=0.0, low_open=True)
        if self.delta >= 1.0:
            raise ValueError(f"delta must be < 1; got {delta!r}")
        self.bonus_scale = _check_number("bonus_scale", bonus_scale, low=0.0)
        self.c1 = _check_number("c1", c1, low=0.0)
        self.c2 = _check_number("c2", c2, low=0.0)
        self.c3 = _check_number("c3", c3, low=0.0)
        self.r1 = _check_number("r1", r1, low=0.0)
        self.r2 = _check_number("r2", r2, low=0.0)
        self.value_bound = None if value_bound is None else _check_number(
            "value_bound", value_bound, low=0.0, low_open=True)
        if not isinstance(stage_counts, bool):
            raise ValueError(f"stage_counts must be True or False; got {stage_counts!r}")
        self.stage_counts = stage_counts
        self.max_nodes = _check_number("max_nodes", max_nodes, low=1, integer=True)
        self.max_return = None if max_return is None else _check_number(
            "max_return", max_return, low=0.0, low_open=True)

    def params(self) -> dict:
        return {"delta": self.delta, "bonus_scale": self.bonus_scale, "c1": self.c1,
                "c2": self.c2, "c3": self.c3, "r1": self.r1, "r2": self.r2,
                "value_bound": self.value_bound, "stage_counts": self.stage_counts,
                "max_nodes": self.max_nodes, "max_return": self.max_return}

    @classmethod
    def check_models(cls):
        return _tiny_lmdps()

    def check_model(self, lmdp: LatentMDP) -> None:
        if lmdp.P.ndim != 4:
            raise ValueError(f"{self.name} assumes time-homogeneous transitions P[m, s, a, s'] "
                             "(the horizon-free setting); this LMDP's transitions depend on "
                             "the stage")
        if float(lmdp.R.min()) < 0.0:
            raise ValueError(f"{self.name} assumes rewards >= 0; got min R = "
                             f"{float(lmdp.R.min())!r}")
        if self.max_return is not None:
            top = max_episode_return(lmdp)
            if top > self.max_return + 1e-9:
                raise ValueError(
                    f"{self.name}: some episode's total reward is {top:.6g} > max_return = "
                    f"{self.max_return:g}; the horizon-free bound assumes sum_h r_h <= 1: "
                    "rescale the rewards (e.g. by 1/H) or pass max_return=None")

    def iota(self, M: int, S: int, A: int, H: int, K: int) -> float:
        """``log(200 M S A H^2 K^2 / delta)``."""
        return math.log(200.0 * M * S * A * float(H) ** 2 * float(K) ** 2 / self.delta)

    def value_caps(self, R: np.ndarray, H: int) -> np.ndarray:
        r_max = max(float(np.max(R)), 0.0)
        caps = (H - np.arange(H + 1, dtype=np.float64)) * r_max
        if self.value_bound is not None:
            caps = np.minimum(caps, self.value_bound)
        return caps

    def _tree(self, lmdp):
        if self.mode in (MODE_VO, MODE_MO):
            return build_history_tree(lmdp, self.max_nodes).arrays()
        z = np.zeros(1, dtype=np.int64)
        return (z, z, z, z, np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64),
                np.zeros((1, 1, 1), np.int64), np.zeros(lmdp.S, np.int64))

    def _learn(self, lmdp, K, every, checkpoints, seeds, v_star) -> Trace:
        P = np.ascontiguousarray(lmdp.P, dtype=np.float64)
        R = np.ascontiguousarray(lmdp.stage_R(), dtype=np.float64)
        H = lmdp.horizon
        sc = self.bonus_scale
        regret, realized = _lmdp_kernel(
            self.mode, P, R, np.ascontiguousarray(lmdp.weights), np.ascontiguousarray(lmdp.init),
            int(H), int(K), int(every), seeds, float(v_star), self.stage_counts, sc * self.c1,
            sc * self.c2, sc * self.c3, sc * self.r1, sc * self.r2,
            self.iota(lmdp.M, lmdp.S, lmdp.A, H, K), max(float(np.max(R)), 0.0),
            self.value_caps(R, H), *self._tree(lmdp))
        return Trace(regret, realized)


class LMDPLearner(_LMDPBase):
    """The LMDP learner of [ZWD23]: ``solver="vo"`` (value-optimistic, ``lmdp-vo``)
    or ``"mo"`` (model-optimistic, ``lmdp-mo``); see the module docstring.

    Parameters
    ----------
    solver : {"vo", "mo"}
    delta : float in (0, 1)
        Confidence; ``iota = log(200 M S A H^2 K^2 / delta)``.
    bonus_scale : float >= 0
        Multiplies every bonus (VO) or confidence radius (MO).
    c1, c2, c3 : float >= 0
        VO bonus constants (MVP's defaults 460/9, 2 sqrt 2, 544/9; [reconstructed]).
    r1, r2 : float >= 0
        MO Bernstein radius ``r1 sqrt(P_hat iota / n) + r2 iota / n`` (defaults
        sqrt 2, 7/3, the empirical-Bernstein constants; [reconstructed]).
    value_bound : float > 0 or None
        Clip of the optimistic values (default 1: episode return <= 1); it must
        be at least the largest episode return, or the values stop being
        optimistic (None clips at ``(H - h) max R`` only).
    stage_counts : bool
        Statistics per stage (the non-horizon-free baseline).
    max_nodes : int
        Bound on the history tree's size.
    max_return : float > 0 or None
        Refuse LMDPs with an episode whose total reward exceeds it (default 1,
        the assumption of the horizon-free bound); None skips the check.
    """

    def __init__(self, solver: str = "vo", **kwargs):
        if solver not in ("vo", "mo"):
            raise ValueError(f"solver must be 'vo' or 'mo'; got {solver!r}")
        super().__init__(**kwargs)
        self.solver = solver
        self.mode = MODE_VO if solver == "vo" else MODE_MO
        self.name = f"lmdp-{solver}"

    def params(self) -> dict:
        return {"solver": self.solver, **super().params()}


class LMDPOracle(_LMDPBase):
    """Baseline ``lmdp-oracle``: the context revealed at the start, one MVP per
    context; regret against ``sum_m w_m V_m*`` (see the module docstring)."""

    name = "lmdp-oracle"
    mode = MODE_ORACLE
    objective = CONTEXT_ORACLE_RETURN


class LMDPBlind(_LMDPBase):
    """Baseline ``lmdp-blind``: MVP on the context-mixed data (a Markov policy),
    scored against the history-dependent optimum; no guarantee."""

    name = "lmdp-blind"
    mode = MODE_BLIND
    expect_progress = False


# ============================================================ planner access
class OptimisticPlan:
    """What :func:`lmdp_optimistic_plan` returns.

    ``value``: the planner's optimistic value ``sum_{s0, m} w_m nu_m(s0)
    alpha_m(root)``; ``context_values[m]``: its optimistic per-context value
    ``sum_{s0} nu_m(s0) alpha_m(root)``; ``policy_value`` and
    ``true_context_values``: the exact value (and per-context values) of the
    planned history-dependent policy in the true LMDP.
    """

    def __init__(self, value, context_values, policy_value, true_context_values):
        self.value = float(value)
        self.context_values = context_values
        self.policy_value = float(policy_value)
        self.true_context_values = true_context_values

    def __repr__(self):
        return (f"OptimisticPlan(value={self.value:.6g}, "
                f"policy_value={self.policy_value:.6g})")


def lmdp_optimistic_plan(lmdp: LatentMDP, P_hat, n_hat, *, solver: str = "vo",
                         bonus_scale: float = 1.0, iota: float = 1.0, **kwargs) -> OptimisticPlan:
    """Run the learner's planner once on given estimates ``P_hat (M, S, A, S)``
    with counts ``n_hat (M, S, A)`` and evaluate the planned policy exactly.

    ``kwargs``: the constants of :class:`LMDPLearner` (``c1, c2, c3, r1, r2,
    value_bound``); ``iota`` is passed as is.
    """
    learner = LMDPLearner(solver, bonus_scale=bonus_scale, max_return=None, **kwargs)
    learner.check_model(lmdp)
    M, S, A, H = lmdp.M, lmdp.S, lmdp.A, lmdp.horizon
    P_hat = np.asarray(P_hat, dtype=np.float64)
    n_hat = np.asarray(n_hat, dtype=np.float64)
    if P_hat.shape != (M, S, A, S):
        raise ValueError(f"P_hat must have shape {(M, S, A, S)}; got {P_hat.shape}")
    if n_hat.shape != (M, S, A) or (n_hat < 0).any():
        raise ValueError(f"n_hat must be a non-negative array of shape {(M, S, A)}")
    iota = _check_number("iota", iota, low=0.0)
    tree = build_history_tree(lmdp, learner.max_nodes).arrays()
    N = tree[0].shape[0]
    R = np.ascontiguousarray(lmdp.stage_R(), dtype=np.float64)
    caps = learner.value_caps(R, H)
    sc = bonus_scale
    w, init = np.ascontiguousarray(lmdp.weights), np.ascontiguousarray(lmdp.init)
    Vbar = np.zeros((M, H + 1, S))
    pibar = np.zeros((M, H, S), dtype=np.int64)
    belief, alpha, val = np.zeros((N, M)), np.zeros((N, M)), np.zeros((N, M))
    act = np.zeros(N, dtype=np.int64)
    value = _plan_tree(learner.mode, R, np.ascontiguousarray(P_hat[:, None]),
                       np.ascontiguousarray(n_hat[:, None]), w, init, H, caps,
                       sc * learner.c1, sc * learner.c2, sc * learner.c3, sc * learner.r1,
                       sc * learner.r2, iota, max(float(R.max()), 0.0), caps[0], *tree, Vbar,
                       pibar, belief, alpha, act, False)
    opt_ctx = np.zeros(M)
    stage_, _, mask, single, *_rest, root = tree
    for s in range(S):
        i = root[s]
        if i < 0:
            continue
        for m in range(M):
            if (mask[i] >> m) & 1:
                opt_ctx[m] += init[m, s] * (Vbar[m, 0, s] if single[i] >= 0 else alpha[i, m])
    ctx = np.zeros(M)
    Vp = np.zeros((M, H + 1, S))
    J = _eval_tree(np.ascontiguousarray(lmdp.P, dtype=np.float64), R, w, init, H, *tree, pibar,
                   act, Vp, val, ctx)
    return OptimisticPlan(value, opt_ctx, J, ctx)

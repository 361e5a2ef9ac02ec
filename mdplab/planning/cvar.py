"""Exact CVaR planning and evaluation on finite-horizon tabular MDPs.

The objective is the conditional value at risk of the episode return
``X = sum_h r_h`` at level ``tau`` in (0, 1]:

    CVaR_tau(X) = sup_b { b - E[(b - X)^+] / tau }

(``tau = 1`` is ``E[X]``; the sup is attained at the ``tau``-quantile VaR_tau).
Rewards are random with the model's discrete law (``TabularMDP(...,
reward_atoms=..., reward_probs=...)``; deterministic rewards are one atom).

Budget dynamic programme (Bauerle and Ott 2011, "Markov decision processes
with average-value-at-risk criteria"; the augmented-MDP form of
../shared/papers/cvar_psr_horizonfree.md section 1.1): on the augmented state
``(s, c)``, ``c`` the budget left, ``c_{h+1} = c_h - r_h``,

    V_H(s, c)      = max(c, 0)
    U_h(s, c, a)   = sum_j p_j(h, s, a) sum_s' P_h(s'|s, a) V_{h+1}(s', c - r_j(h, s, a))
    V_h(s, c)      = min_a U_h(s, c, a),   pi_h(s, c) = argmin_a U_h(s, c, a)
    c*             = argmax_c { c - sum_s init(s) V_0(s, c) / tau },   CVaR* = that max

``V_h(s, c) = min E[(c - X_h)^+]`` is the least expected shortfall of the
return ``X_h`` from stage ``h`` below ``c``; the optimum over every
history-dependent policy is attained by the augmented (Markov in (s, c))
policy ``pi`` started at ``c*``.

Exactness. Budgets live on the grid ``c_j = c_0 + j eta``. When every reward
atom is a multiple of ``eta`` (``budgets=None`` finds the coarsest such grid,
e.g. ``eta = 0.5`` for atoms {0, 0.5, 1}), ``c - r`` stays on the grid and the
DP is exact: the budget grid covers the return range ``[H min(0, r_min),
H max(0, r_max)]``; below it the shortfall is 0, above it
``V_h(s, c) = c - V*_h(s)`` (risk-neutral optimum), both exact. Since
``b -> b - E[(b - X)^+]/tau`` is concave and piecewise linear with kinks at the
atoms of ``X`` (multiples of ``eta``), the grid maximum is the exact sup.
Otherwise rewards are rounded *down* to the grid (``r_down <= r < r_down +
eta``); every return drops by at most ``e = sum_h max_{s,a,j}(r - r_down)``,
so (CVaR is monotone and translation-equivariant, and extra randomisation never
raises CVaR, which is convex in the law) ``value <= CVaR* <= value + e``, and
the returned policy, tracking the rounded budget, attains at least ``value``
in the true model. A grid whose offset ``c_0`` is not a multiple of ``eta`` adds
``eta (1 - tau)`` (the concave maximum moves by less than one grid step).
``result.error_bound`` is that certified total (0 when exact).

Evaluation. :func:`return_distribution` propagates the joint law of (state,
return so far) forward for a Markov policy ``(H, S)`` / ``(S,)`` (int) or
``(H, S, A)`` (float), or an augmented policy ``(H, S, n_budgets)`` started at
a budget; its :class:`ReturnDistribution` gives the exact CVaR (sorted-atom
formula ``CVaR = [sum_{x<q} x p(x) + q (tau - P(X<q))]/tau``, ``q = VaR_tau``),
VaR, mean and CDF. Exact on a reward lattice; otherwise the law is propagated
atom by atom (exact, for small models).

Kernels are numba, parallel (``prange``) over the states of a stage (each with
all its budgets) in the DP and over states in the forward pass; no reduction crosses threads.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numba import njit, prange

from mdplab.models import TabularMDP

__all__ = ["CVaRResult", "ReturnDistribution", "bonus_cvar_dp", "cvar_grid", "cvar_max_remaining",
           "cvar_of_policy", "cvar_of_samples", "return_distribution", "solve_cvar",
           "solve_cvar_with_bonus"]

MAX_EXACT_BUDGETS = 4001
"""``budgets=None`` uses the exact reward lattice if it needs at most this many budgets."""
DEFAULT_BUDGETS = 201
"""Budgets of the rounding grid ``budgets=None`` falls back to (and of ``budgets=int``)."""
_LATTICE_TOL = 1e-9


# ------------------------------------------------------------------ checks
def check_tau(tau) -> float:
    """``tau`` as a float in (0, 1], else ValueError naming it."""
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise ValueError(f"tau must be a number in (0, 1]; got {tau!r}")
    t = float(tau)
    if not math.isfinite(t) or not 0.0 < t <= 1.0:
        raise ValueError(f"tau must be in (0, 1] (the CVaR risk level); got {tau!r}")
    return t


def _check_mdp(mdp) -> None:
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"expected a finite-horizon TabularMDP; got {type(mdp).__name__}")
    if mdp.horizon is None:
        raise ValueError("CVaR planning needs a finite-horizon model (horizon=H); this one is "
                         f"discounted (gamma={mdp.gamma})")


def _lattice_step(atoms: np.ndarray) -> float | None:
    """The coarsest ``eta`` with every atom a multiple of it (None if none is found)."""
    vals = np.unique(np.abs(atoms[atoms != 0.0]))
    if vals.size == 0:
        return 1.0
    num = 0
    den = 1
    for x in vals[:2000]:
        f = Fraction(float(x)).limit_denominator(10**6)
        if abs(float(f) - x) > _LATTICE_TOL * max(1.0, abs(x)):
            return None
        # gcd of fractions num/den and f: gcd(num*f.den, f.num*den) / (den*f.den)
        num, den = math.gcd(num * f.denominator, f.numerator * den), den * f.denominator
        g = math.gcd(num, den)
        num, den = num // g, den // g
    if vals.size > 2000:
        eta = num / den
        k = vals / eta
        if np.abs(k - np.round(k)).max() > _LATTICE_TOL * max(1.0, k.max()):
            return None
    return num / den


@dataclass(frozen=True)
class _Grid:
    """Budget grid ``c_j = c0 + j eta`` (``n`` points) and the rounded reward steps."""

    c0: float
    eta: float
    n: int
    steps: np.ndarray        # (nR, S, A, J) int64: reward atoms rounded down, in units of eta
    probs: np.ndarray        # (nR, S, A, J)
    round_error: float       # sum_h max (r - r_down): 0 iff the rewards lie on the lattice
    offset: bool             # c0 is not a multiple of eta

    @property
    def exact(self) -> bool:
        return self.round_error == 0.0 and not self.offset

    def error_bound(self, tau: float) -> float:
        return self.round_error + (self.eta * (1.0 - tau) if self.offset else 0.0)

    @property
    def budgets(self) -> np.ndarray:
        return self.c0 + self.eta * np.arange(self.n)


def cvar_grid(mdp: TabularMDP, budgets=None) -> _Grid:
    """The budget grid :func:`solve_cvar` uses (see the module docstring)."""
    _check_mdp(mdp)
    atoms, probs = mdp.stage_reward_law()
    H = mdp.horizon
    # Only atoms with positive probability shape the grid: zero-probability padding
    # must neither break the lattice nor widen the budget range.
    live = probs > 0
    atoms = np.where(live, atoms, 0.0)
    rmin = float(min(0.0, atoms[live].min()))
    rmax = float(max(0.0, atoms[live].max()))
    offset = False
    if budgets is None or isinstance(budgets, numbers.Integral) and not isinstance(budgets,
                                                                                  bool):
        eta = _lattice_step(atoms[live]) if budgets is None else None
        n_pts = DEFAULT_BUDGETS if budgets is None else int(budgets)
        if budgets is not None and n_pts < 2:
            raise ValueError(f"budgets must be None, an integer >= 2 or an array; got {budgets}")
        if eta is not None and H * (rmax - rmin) / eta + 1 > MAX_EXACT_BUDGETS:
            eta = None
        if eta is None:
            span = H * (rmax - rmin)
            eta = span / (n_pts - 1) if span > 0 else 1.0
        steps = np.floor(atoms / eta + _LATTICE_TOL).astype(np.int64)
        kmin, kmax = min(0, int(steps.min())), max(0, int(steps.max()))
        c0 = H * kmin * eta
        n = H * (kmax - kmin) + 1
    else:
        b = np.asarray(budgets, dtype=np.float64)
        if b.ndim != 1 or b.size < 2 or not np.isfinite(b).all():
            raise ValueError("budgets must be a 1-D array of at least 2 finite, evenly spaced "
                             f"values; got shape {b.shape}")
        d = np.diff(b)
        eta = float(d[0])
        if eta <= 0 or np.abs(d - eta).max() > 1e-9 * max(1.0, abs(eta)):
            raise ValueError("budgets must be increasing and evenly spaced (step eta); got "
                             f"steps from {d.min():.6g} to {d.max():.6g}")
        steps = np.floor(atoms / eta + _LATTICE_TOL).astype(np.int64)
        lo_needed = H * min(0, int(steps.min())) * eta
        hi_needed = H * max(0, int(steps.max())) * eta
        tol = 1e-9 * max(1.0, abs(eta))
        if b[0] > lo_needed + tol or b[-1] < hi_needed - tol:
            raise ValueError(f"the budget grid [{b[0]:.6g}, {b[-1]:.6g}] does not cover the "
                             f"return range [{lo_needed:.6g}, {hi_needed:.6g}] (H times the "
                             "smallest / largest reward on the grid, with 0)")
        c0, n = float(b[0]), int(b.size)
        k0 = c0 / eta
        if abs(k0 - round(k0)) > 1e-9 * max(1.0, abs(k0)):
            offset = True
    gap = atoms - steps * eta
    gap = np.where(probs > 0, gap, 0.0)
    per_stage = gap.reshape(gap.shape[0], -1).max(axis=1)
    round_err = float(per_stage.sum() if per_stage.size == H else H * per_stage[0])
    if round_err <= 1e-12 * max(1.0, abs(rmax), abs(rmin)):
        round_err = 0.0
    steps.flags.writeable = False
    probs = np.ascontiguousarray(probs, dtype=np.float64)
    return _Grid(float(c0), float(eta), int(n), steps, probs, round_err, offset)


# ------------------------------------------------------------------ kernels
@njit(cache=True)
def _risk_neutral(P, steps, probs, eta, H):
    """Optimal expected return ``V*_h(s)`` of the rounded model, ``(H+1, S)``."""
    nP, S, A = P.shape[0], P.shape[1], P.shape[2]
    nR, J = steps.shape[0], steps.shape[3]
    V = np.zeros((H + 1, S))
    for h in range(H - 1, -1, -1):
        g = h if nP > 1 else 0
        gr = h if nR > 1 else 0
        for s in range(S):
            best = -np.inf
            for a in range(A):
                q = 0.0
                for j in range(J):
                    q += probs[gr, s, a, j] * steps[gr, s, a, j] * eta
                for t in range(S):
                    q += P[g, s, a, t] * V[h + 1, t]
                if q > best:
                    best = q
            V[h, s] = best
    return V


@njit(cache=True)
def _lookup(V, Vn, h1, t, jn, c0, eta):
    """``V_{h1}(t, c0 + jn eta)`` with the exact closed forms off the grid."""
    n = V.shape[2]
    if jn < 0:
        return 0.0
    if jn >= n:
        return c0 + jn * eta - Vn[h1, t]
    return V[h1, t, jn]


@njit(parallel=True, cache=True)
def _cvar_dp(P, steps, probs, H, c0, eta, n, Vn, bonus, maxrem, clip):
    """Shortfall values ``V (H+1, S, n)`` and the augmented policy ``(H, S, n)``.

    ``U_h(s, c, a)`` is lowered by ``bonus[h, s, a]`` (``(H, S, A)``; zeros for the
    exact DP) and, with ``clip``, ``V_h(s, c)`` is clipped to
    ``[(c - maxrem[h])^+, c^+]`` (the range of a shortfall with non-negative
    rewards, ``maxrem`` the largest return from stage ``h`` on): one kernel for
    :func:`solve_cvar` and the optimistic planner :func:`bonus_cvar_dp`.

    By linearity ``U(s, c, a) = sum_j p_j Z_{s,a}(c - r_j)`` with ``Z_{s,a}(c) =
    sum_s' P(s'|s, a) V_{h+1}(s', c)``: each stage runs one loop, parallel over
    states, that forms ``Z_{s,a}`` for the state's actions and then its cells
    (every budget); off the grid
    ``Z`` is 0 below and ``c - P V*_{h+1}`` above (exact closed forms).
    """
    nP, S, A = P.shape[0], P.shape[1], P.shape[2]
    nR, J = steps.shape[0], steps.shape[3]
    V = np.zeros((H + 1, S, n))
    pol = np.zeros((H, S, n), dtype=np.int64)
    Z = np.zeros((S * A, n))
    PV = np.zeros(S * A)
    for s in range(S):
        for j in range(n):
            V[H, s, j] = max(c0 + j * eta, 0.0)
    for h in range(H - 1, -1, -1):
        g = h if nP > 1 else 0
        gr = h if nR > 1 else 0
        for s in prange(S):
            # Z_{s,a} = P_h(.|s,a)^T V_{h+1}: only read by the cells of state s, so each
            # state forms its own (budget axis innermost; no BLAS, whose threads would
            # fight numba's)
            for a in range(A):
                sa = s * A + a
                for j in range(n):
                    Z[sa, j] = 0.0
                acc = 0.0
                for t in range(S):
                    q = P[g, s, a, t]
                    if q != 0.0:
                        acc += q * Vn[h + 1, t]
                        for j in range(n):
                            Z[sa, j] += q * V[h + 1, t, j]
                PV[sa] = acc
            for j in range(n):
                best = np.inf
                arg = 0
                for a in range(A):
                    sa = s * A + a
                    u = -bonus[h, s, a]
                    for jj in range(J):
                        p = probs[gr, s, a, jj]
                        if p == 0.0:
                            continue
                        jn = j - steps[gr, s, a, jj]
                        if jn < 0:
                            z = 0.0
                        elif jn >= n:
                            z = c0 + jn * eta - PV[sa]
                        else:
                            z = Z[sa, jn]
                        u += p * z
                    if u < best:
                        best = u
                        arg = a
                if clip:
                    c = c0 + j * eta
                    best = min(max(best, c - maxrem[h], 0.0), max(c, 0.0))
                V[h, s, j] = best
                pol[h, s, j] = arg
    return V, pol


@njit(cache=True)
def optimistic_dp(P, counts, steps, probs, H, c0, eta, Vn, mode, scale, L, vrange, maxrem,
                  V, pol):
    """A learner's optimistic budget DP, serial (for a compiled loop over seeds);
    fills ``V`` and ``pol``. ``P`` is the empirical model and ``counts`` the
    visits; ``U`` is lowered by the Hoeffding bonus ``scale vrange sqrt(2 L / n)``
    (``mode`` 1) or the Bernstein bonus ``scale (sqrt(2 L Var_P[W] / n) + vrange L
    / n)`` (2), ``W(s') = E_r V_{h+1}(s', c - r)``, or the same with the variance of
    ``V_{h+1}(s', c - r)`` under the joint law of ``(r, s')`` (3: for a learned,
    empirical reward law ``probs``); unvisited pairs are fully
    optimistic, and ``V_h`` is clipped to ``[(c - maxrem[h])^+, c^+]``.

    Organised per pair ``(s, a)`` with the budget axis innermost: ``W_t(c) =
    E_r V_{h+1}(t, c - r)`` for each successor ``t``, accumulated into
    ``U(c) = sum_t P W_t(c)`` and ``sum_t P W_t(c)^2`` (the Bernstein variance).
    Budgets below the grid have shortfall 0; rewards must be non-negative (the
    grid is never left from above).
    """
    nP, S, A = P.shape[0], P.shape[1], P.shape[2]
    nR, J = steps.shape[0], steps.shape[3]
    n = V.shape[2]
    W = np.empty(n)
    W2 = np.empty(n)
    U = np.empty(n)
    U2 = np.empty(n)
    best = np.empty(n)
    for s in range(S):
        for j in range(n):
            V[H, s, j] = max(c0 + j * eta, 0.0)
    for h in range(H - 1, -1, -1):
        g = h if nP > 1 else 0
        gr = h if nR > 1 else 0
        for s in range(S):
            for j in range(n):
                best[j] = np.inf
                pol[h, s, j] = 0
            for a in range(A):
                cnt = counts[g, s, a]
                if cnt == 0.0:
                    for j in range(n):
                        if -np.inf < best[j]:
                            best[j] = -np.inf
                            pol[h, s, j] = a
                    continue
                for j in range(n):
                    U[j] = 0.0
                    U2[j] = 0.0
                for t in range(S):
                    q = P[g, s, a, t]
                    if q == 0.0:
                        continue
                    for j in range(n):
                        W[j] = 0.0
                        W2[j] = 0.0
                    for jj in range(J):
                        p = probs[gr, s, a, jj]
                        if p == 0.0:
                            continue
                        k = steps[gr, s, a, jj]
                        if mode == 3:
                            for j in range(max(k, 0), n):
                                v = V[h + 1, t, j - k]
                                W[j] += p * v
                                W2[j] += p * v * v
                        else:
                            for j in range(max(k, 0), n):
                                W[j] += p * V[h + 1, t, j - k]
                    if mode == 3:
                        for j in range(n):
                            U[j] += q * W[j]
                            U2[j] += q * W2[j]
                    else:
                        for j in range(n):
                            U[j] += q * W[j]
                            U2[j] += q * W[j] * W[j]
                if mode == 1:
                    b = scale * vrange * math.sqrt(2.0 * L / cnt)
                    for j in range(n):
                        u = U[j] - b
                        if u < best[j]:
                            best[j] = u
                            pol[h, s, j] = a
                else:
                    for j in range(n):
                        var = max(U2[j] - U[j] * U[j], 0.0)
                        u = U[j] - scale * (math.sqrt(2.0 * L * var / cnt) + vrange * L / cnt)
                        if u < best[j]:
                            best[j] = u
                            pol[h, s, j] = a
            for j in range(n):
                c = c0 + j * eta
                V[h, s, j] = min(max(best[j], c - maxrem[h], 0.0), max(c, 0.0))


def bonus_cvar_dp(P, steps, probs, H, c0, eta, n, bonus, maxrem):
    """Budget DP with a per-``(h, s, a)`` bonus lowering the shortfall (ELA's planner).

    ``U_h(s, c, a) = sum_j p_j sum_s' P_h(s'|s, a) V_{h+1}(s', c - r_j) - bonus[h, s, a]``,
    ``V_h(s, c) = clip(min_a U_h, [(c - maxrem[h])^+, c^+])``, ``V_H(s, c) = c^+``;
    returns ``V (H+1, S, n)`` and the augmented policy ``pol (H, S, n)`` (first
    minimiser). ``P (nP, S, A, S)``, ``steps``/``probs (nR, S, A, J)`` as in
    :func:`cvar_grid` (non-negative rewards: the grid starts at ``c0 <= 0`` and is
    never left from above; budgets below it have shortfall 0), ``bonus (H, S, A)``,
    ``maxrem (H,)`` the largest return from stage ``h`` on. With ``bonus = 0`` and a
    large ``maxrem`` it is the exact DP of :func:`solve_cvar` (the same kernel).
    """
    S = P.shape[1]
    # non-negative rewards never leave the grid from above, so the risk-neutral
    # values behind the closed form there are never read
    unused = np.zeros((H + 1, S))
    return _cvar_dp(P, steps, probs, H, c0, eta, n, unused, bonus, maxrem, True)


@njit(cache=True)
def _forward_target(L, new, t, h, P, steps, probs, det, pi_det, pi_sto, aug, pol, j0, off):
    """Fill ``new[t, :]``, the stage-(h+1) mass at state ``t`` (pull form)."""
    nP, S, A = P.shape[0], P.shape[1], P.shape[2]
    nR, J = steps.shape[0], steps.shape[3]
    M = L.shape[1]
    n_budget = pol.shape[2]
    g = h if nP > 1 else 0
    gr = h if nR > 1 else 0
    for m2 in range(M):
        new[t, m2] = 0.0
    for s in range(S):
        for a in range(A):
            q = P[g, s, a, t]
            if q == 0.0:
                continue
            for m in range(M):
                w = L[s, m]
                if w == 0.0:
                    continue
                if aug:
                    jb = j0 - (m - off)
                    jb = 0 if jb < 0 else (n_budget - 1 if jb >= n_budget else jb)
                    pa = 1.0 if pol[h, s, jb] == a else 0.0
                elif det:
                    pa = 1.0 if pi_det[h if pi_det.shape[0] > 1 else 0, s] == a else 0.0
                else:
                    pa = pi_sto[h if pi_sto.shape[0] > 1 else 0, s, a]
                if pa == 0.0:
                    continue
                for jj in range(J):
                    p = probs[gr, s, a, jj]
                    if p != 0.0:
                        new[t, m + steps[gr, s, a, jj]] += w * pa * q * p


@njit(cache=True)
def _forward_init(init, M, off):
    S = init.shape[0]
    L = np.zeros((S, M))
    for s in range(S):
        L[s, off] = init[s]
    return L


@njit(cache=True)
def _marginal(L):
    S, M = L.shape
    out = np.zeros(M)
    for m in range(M):
        acc = 0.0
        for s in range(S):
            acc += L[s, m]
        out[m] = acc
    return out


@njit(parallel=True, cache=True)
def _forward(P, steps, probs, init, H, det, pi_det, pi_sto, aug, pol, j0, kmin, kmax):
    """Law of the lattice return index ``m`` (return ``(m + H kmin) eta``), length
    ``H (kmax - kmin) + 1``. Markov (``det``: ``pi_det (nh, S)``, else ``pi_sto
    (nh, S, A)``) or augmented (``pol (H, S, n)`` from budget index ``j0``: the
    action at return so far ``x`` is ``pol[h, s, clip(j0 - x / eta)]``); parallel
    over next states."""
    S = P.shape[1]
    M = H * (kmax - kmin) + 1
    off = -H * kmin
    L = _forward_init(init, M, off)
    new = np.zeros((S, M))
    for h in range(H):
        for t in prange(S):
            _forward_target(L, new, t, h, P, steps, probs, det, pi_det, pi_sto, aug, pol, j0,
                            off)
        L, new = new, L
    return _marginal(L)


@njit(cache=True)
def augmented_law(P, steps, probs, init, H, pol, j0, kmin, kmax, L, new):
    """Serial :func:`_forward` of an augmented policy (``L``, ``new``: ``(S, M)``
    buffers), in push form: each occupied (state, return) cell sends its mass
    along its one action."""
    nP, S = P.shape[0], P.shape[1]
    nR, J = steps.shape[0], steps.shape[3]
    M = L.shape[1]
    n_budget = pol.shape[2]
    off = -H * kmin
    for s in range(S):
        for m in range(M):
            L[s, m] = 0.0
        L[s, off] = init[s]
    for h in range(H):
        g = h if nP > 1 else 0
        gr = h if nR > 1 else 0
        for s in range(S):
            for m in range(M):
                new[s, m] = 0.0
        for s in range(S):
            for m in range(M):
                w = L[s, m]
                if w == 0.0:
                    continue
                jb = j0 - (m - off)
                jb = 0 if jb < 0 else (n_budget - 1 if jb >= n_budget else jb)
                a = pol[h, s, jb]
                for jj in range(J):
                    p = probs[gr, s, a, jj]
                    if p == 0.0:
                        continue
                    m2 = m + steps[gr, s, a, jj]
                    wp = w * p
                    for t in range(S):
                        q = P[g, s, a, t]
                        if q != 0.0:
                            new[t, m2] += wp * q
        for s in range(S):
            for m in range(M):
                L[s, m] = new[s, m]
    return _marginal(L)


@njit(cache=True)
def lattice_cvar(law, x0, eta, tau):
    """``CVaR_tau`` of the law ``law[m]`` on the values ``x0 + m eta`` (ascending)."""
    target = tau - 1e-12 * max(1.0, tau)
    cum = 0.0
    acc = 0.0
    for m in range(law.shape[0]):
        p = law[m]
        if p <= 0.0:
            continue
        x = x0 + m * eta
        if cum + p >= target:
            return (acc + x * (tau - cum)) / tau
        cum += p
        acc += x * p
    # numerically all mass below tau: the top atom
    return acc / cum if cum > 0 else 0.0


# ------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class ReturnDistribution:
    """A discrete law of the return: ``values`` (sorted ascending) with ``probs``."""

    values: np.ndarray
    probs: np.ndarray

    @classmethod
    def from_atoms(cls, values, probs, tol: float = 1e-15) -> ReturnDistribution:
        v = np.asarray(values, dtype=np.float64)
        p = np.asarray(probs, dtype=np.float64)
        keep = p > tol
        v, p = v[keep], p[keep]
        order = np.argsort(v, kind="stable")
        v, p = v[order], p[order]
        if v.size:
            # merge equal values (floating sums of the same atoms in other orders)
            key = np.round(v, 12)
            uniq, inv = np.unique(key, return_inverse=True)
            pv = np.bincount(inv, weights=p)
            vv = np.bincount(inv, weights=p * v) / pv
            v, p = vv, pv
        return cls(v, p)

    def mean(self) -> float:
        return float(self.values @ self.probs)

    def cdf(self, x) -> np.ndarray:
        """``P(X <= x)``."""
        c = np.cumsum(self.probs)
        idx = np.searchsorted(self.values, np.asarray(x, dtype=float), side="right")
        return np.where(idx > 0, c[np.maximum(idx - 1, 0)], 0.0)

    def var(self, tau) -> float:
        """``VaR_tau = min{x : P(X <= x) >= tau}`` (the lower tau-quantile)."""
        t = check_tau(tau)
        c = np.cumsum(self.probs)
        i = int(np.searchsorted(c, t - 1e-12 * max(1.0, t)))
        return float(self.values[min(i, self.values.size - 1)])

    def cvar(self, tau) -> float:
        """``CVaR_tau = [sum_{x<q} x p(x) + q (tau - P(X < q))] / tau``, ``q = VaR_tau``."""
        t = check_tau(tau)
        q = self.var(t)
        below = self.values < q
        pb = float(self.probs[below].sum())
        return float((self.values[below] @ self.probs[below] + q * (t - pb)) / t)


@dataclass(frozen=True, eq=False)
class CVaRResult:
    """Output of :func:`solve_cvar`.

    ``value``: CVaR* (exact when ``exact``; else ``value <= CVaR* <= value +
    error_bound``); ``budget``: the optimal initial budget c*; ``budget_index``:
    its index in ``budgets``; ``policy``: the augmented policy ``[h, s, j]``
    (action at stage h, state s, budget left ``budgets[j]``); ``shortfall``:
    ``V_h(s, c_j)``, ``(H+1, S, n)``; ``objective``: ``c_j - V_0(init, c_j)/tau``.
    """

    value: float
    budget: float
    budget_index: int
    policy: np.ndarray
    budgets: np.ndarray
    shortfall: np.ndarray
    objective: np.ndarray
    tau: float
    eta: float
    error_bound: float
    exact: bool


def solve_cvar(mdp: TabularMDP, tau, budgets=None) -> CVaRResult:
    """``max`` over history-dependent policies of ``CVaR_tau`` of the return (module docstring).

    ``budgets``: None (the exact reward lattice, else a rounding grid of
    :data:`DEFAULT_BUDGETS` points), an integer (a rounding grid with that many
    points over the return range) or an evenly spaced array covering the return
    range.
    """
    _check_mdp(mdp)
    tau = check_tau(tau)
    grid = cvar_grid(mdp, budgets)
    P = np.ascontiguousarray(mdp.stage_P())
    H = mdp.horizon
    Vn = _risk_neutral(P, grid.steps, grid.probs, grid.eta, H)
    V, pol = _cvar_dp(P, grid.steps, grid.probs, H, grid.c0, grid.eta, grid.n, Vn,
                      np.zeros((H, mdp.S, mdp.A)), np.zeros(H), False)
    b = grid.budgets
    obj = b - (mdp.init @ V[0]) / tau
    j = int(np.argmax(obj))
    err = grid.error_bound(tau)
    for arr in (pol, V, obj, b):
        arr.flags.writeable = False
    return CVaRResult(float(obj[j]), float(b[j]), j, pol, b, V, obj, tau, grid.eta,
                      float(max(err, 0.0)), grid.exact)


def solve_cvar_with_bonus(mdp: TabularMDP, tau, bonus, budgets=None) -> CVaRResult:
    """:func:`solve_cvar` with a per-``(h, s, a)`` bonus lowering the shortfall
    (:func:`bonus_cvar_dp`; the optimistic planner of ELA in a learned model).

    ``bonus``: ``(H, S, A)`` non-negative. ``value`` is the optimistic objective
    ``max_c c - V_0(init, c) / tau`` (an upper bound on the CVaR the policy attains
    when the bonus dominates the model error); ``bonus = 0`` gives :func:`solve_cvar`'s
    answer. Rewards must be non-negative.
    """
    _check_mdp(mdp)
    tau = check_tau(tau)
    H, S, A = mdp.horizon, mdp.S, mdp.A
    b = np.asarray(bonus, dtype=np.float64)
    if b.shape != (H, S, A):
        raise ValueError(f"bonus must have shape (H, S, A) = ({H}, {S}, {A}); got {b.shape}")
    if not np.isfinite(b).all() or (b < 0).any():
        raise ValueError("bonus must be finite and non-negative")
    grid = cvar_grid(mdp, budgets)
    if (grid.steps < 0).any():
        raise ValueError("solve_cvar_with_bonus needs non-negative rewards")
    maxrem = cvar_max_remaining(grid.steps, grid.probs, grid.eta, H)
    V, pol = bonus_cvar_dp(np.ascontiguousarray(mdp.stage_P()), grid.steps, grid.probs, H,
                           grid.c0, grid.eta, grid.n, np.ascontiguousarray(b), maxrem)
    bud = grid.budgets
    obj = bud - (mdp.init @ V[0]) / tau
    j = int(np.argmax(obj))
    for arr in (pol, V, obj, bud):
        arr.flags.writeable = False
    return CVaRResult(float(obj[j]), float(bud[j]), j, pol, bud, V, obj, tau, grid.eta,
                      float(max(grid.error_bound(tau), 0.0)), grid.exact)


def cvar_max_remaining(steps, probs, eta, H) -> np.ndarray:
    """``maxrem[h]``: the largest possible return from stage ``h`` on, ``(H,)``
    (sum over later stages of the largest live reward atom on the grid)."""
    live = np.where(probs > 0, steps, np.iinfo(np.int64).min)
    per = live.reshape(live.shape[0], -1).max(axis=1).astype(np.float64) * eta
    per = np.broadcast_to(per, (H,)) if per.size == 1 else per
    return np.ascontiguousarray(np.cumsum(per[::-1])[::-1])


# ---------------------------------------------------------------- evaluation
def _prepare_markov(mdp, policy):
    from mdplab.models.tabular import normalize_policy

    det, arr = normalize_policy(mdp, policy)
    if det:
        return True, arr, np.zeros((1, 1, 1))
    return False, np.zeros((1, 1), dtype=np.int64), arr


def return_distribution(mdp: TabularMDP, policy, budget=None, budgets=None
                        ) -> ReturnDistribution:
    """Exact law of the return of a Markov policy, or of an augmented policy
    ``(H, S, n)`` (or a :class:`CVaRResult`) started at ``budget`` (default: the
    result's c*). ``budgets`` is the augmented policy's grid (default: the one
    :func:`solve_cvar` infers with ``budgets=None``)."""
    _check_mdp(mdp)
    H, S = mdp.horizon, mdp.S
    if isinstance(policy, CVaRResult):
        budgets = policy.budgets if budgets is None else budgets
        budget = policy.budget if budget is None else budget
        policy = policy.policy
    arr = np.asarray(policy)
    aug = arr.ndim == 3 and np.issubdtype(arr.dtype, np.integer)
    if aug:
        grid = cvar_grid(mdp, budgets)
        if arr.shape != (H, S, grid.n):
            raise ValueError(f"an augmented policy must have shape (H, S, n_budgets) = ({H}, {S}, "
                             f"{grid.n}) for this budget grid; got {arr.shape}")
        if ((arr < 0) | (arr >= mdp.A)).any():
            idx = tuple(int(i) for i in np.argwhere((arr < 0) | (arr >= mdp.A))[0])
            raise ValueError(f"policy{list(idx)} = {arr[idx]} is not an action in [0, {mdp.A})")
        if budget is None:
            raise ValueError("an augmented policy needs its initial budget: "
                             "cvar_of_policy(mdp, policy, tau, budget=c)")
        if isinstance(budget, bool) or not isinstance(budget, numbers.Real) \
                or not math.isfinite(float(budget)):
            raise ValueError(f"budget must be a finite number; got {budget!r}")
        jf = (float(budget) - grid.c0) / grid.eta
        j0 = int(round(jf))
        if abs(jf - j0) > 1e-6:
            raise ValueError(f"budget = {budget!r} is not on the budget grid (c0 = "
                             f"{grid.c0:.6g}, step eta = {grid.eta:.6g})")
        det, pi_det, pi_sto = True, np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1, 1))
        pol = np.ascontiguousarray(arr, dtype=np.int64)
    else:
        if budget is not None:
            raise ValueError("budget applies to augmented policies (H, S, n_budgets) only; a "
                             "Markov policy ignores it")
        det, pi_det, pi_sto = _prepare_markov(mdp, arr)
        pol = np.zeros((1, 1, 1), dtype=np.int64)
        j0 = 0
        grid = cvar_grid(mdp, None)
    P = np.ascontiguousarray(mdp.stage_P())
    if grid.round_error > 0.0:
        return _forward_atoms(mdp, aug, det, pi_det, pi_sto, pol, grid, j0)
    kmin = min(0, int(grid.steps.min()))
    kmax = max(0, int(grid.steps.max()))
    law = _forward(P, grid.steps, grid.probs, np.ascontiguousarray(mdp.init), H, det, pi_det,
                   pi_sto, aug, pol, j0, kmin, kmax)
    values = (np.arange(law.size) + H * kmin) * grid.eta
    return ReturnDistribution.from_atoms(values, law)


def _forward_atoms(mdp, aug, det, pi_det, pi_sto, pol, grid, j0) -> ReturnDistribution:
    """Exact law when rewards are off the budget lattice: states carry (s, budget
    index, true return so far); for small models."""
    atoms, probs = mdp.stage_reward_law()
    P = mdp.stage_P()
    H, A = mdp.horizon, mdp.A
    n = pol.shape[2]
    law = {}
    for s in np.flatnonzero(mdp.init):
        law[(int(s), 0, 0.0)] = float(mdp.init[s])
    for h in range(H):
        g, gr = (h if P.shape[0] > 1 else 0), (h if atoms.shape[0] > 1 else 0)
        new: dict = {}
        for (s, m, x), w in law.items():
            for a in range(A):
                if aug:
                    jb = min(max(j0 - m, 0), n - 1)
                    pa = 1.0 if pol[h, s, jb] == a else 0.0
                elif det:
                    pa = 1.0 if pi_det[h if pi_det.shape[0] > 1 else 0, s] == a else 0.0
                else:
                    pa = pi_sto[h if pi_sto.shape[0] > 1 else 0, s, a]
                if pa == 0.0:
                    continue
                for j in range(atoms.shape[3]):
                    p = probs[gr, s, a, j]
                    if p == 0.0:
                        continue
                    m2 = m + int(grid.steps[gr, s, a, j])
                    x2 = round(x + float(atoms[gr, s, a, j]), 12)
                    for t in np.flatnonzero(P[g, s, a]):
                        key = (int(t), m2, x2)
                        new[key] = new.get(key, 0.0) + w * pa * p * P[g, s, a, t]
        law = new
    vals = np.array([k[2] for k in law])
    ps = np.array(list(law.values()))
    return ReturnDistribution.from_atoms(vals, ps)


def cvar_of_policy(mdp: TabularMDP, policy, tau, budget=None, budgets=None) -> float:
    """Exact ``CVaR_tau`` of the return of a Markov policy ``(H, S)`` (or ``(S,)``,
    ``(H, S, A)`` float), or of an augmented policy ``(H, S, n)`` started at
    ``budget`` (a :class:`CVaRResult` is accepted too); see :func:`return_distribution`."""
    tau = check_tau(tau)
    return return_distribution(mdp, policy, budget, budgets).cvar(tau)


def cvar_of_samples(x, tau) -> float:
    """The sorted-sample (empirical) CVaR: ``CVaR_tau`` of the empirical law of ``x``."""
    tau = check_tau(tau)
    x = np.sort(np.asarray(x, dtype=np.float64))
    return ReturnDistribution.from_atoms(x, np.full(x.size, 1.0 / x.size)).cvar(tau)

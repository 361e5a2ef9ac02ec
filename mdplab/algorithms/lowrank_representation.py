"""Representation learning in low-rank MDPs: Rep-UCB, and CVaR with ELA and ELLA.

Setting: a finite-horizon low-rank MDP ``P_h(s'|s,a) = phi*_h(s,a)^T mu*_h(s')``
(:class:`~mdplab.models.LowRankMDP`; block MDPs and the rich-observation
combination lock included) whose features are unknown but lie in a finite
class ``Phi`` (:class:`~mdplab.models.FeatureClass`, simplex features; its EM
oracle fits ``mu`` for every candidate and ranks them by likelihood). Rewards
are known.

* :class:`RepUCB` (``rep-ucb``; Uehara, Zhang, Sun, "Representation Learning
  for Online and Offline RL in Low-rank MDPs", ICLR 2022, arXiv 2110.04652).
  Theorem (verified rate, discounted statement): sample complexity
  ``O~(A^2 d^4 / (eps^2 (1 - gamma)^5))`` for an eps-optimal (mixture) policy,
  i.e. suboptimality ``~ N^-1/2`` in the number of samples. This episodic
  version (reconstructed, ../shared/papers/grouping_subsample_lowrank.md
  section 3.3 and cvar_psr_horizonfree.md section 1.4): iteration ``n`` collects,
  for every stage ``h``, two tuples with the previous policy ``pi^{n-1}``:
  (i) roll in to ``s_h``, ``a_h ~ U(A)``, observe ``s_{h+1}`` (into ``D_h``);
  (ii) roll in to ``s_{h-1}``, two uniform actions, keep
  ``(s_h, a_h, s_{h+1})`` (into ``D'_h``; ``s_0 ~ init`` when ``h = 0``), so
  ``2 H`` roll-in episodes per iteration. Then per stage the MLE oracle
  ``(phi_h, mu_h) = argmax_{Phi x simplex} sum_{D_h u D'_h} log phi(s,a)^T mu(s')``,
  ``Sigma_h = sum_{D_h} phi_h phi_h^T + lambda I``, the elliptical bonus
  ``b_h(s,a) = min(alpha ||phi_h(s,a)||_{Sigma_h^-1}, clip)`` and optimistic
  backward induction in ``P_hat_h = phi_h mu_h`` with reward ``r + b`` (values
  clipped to the range of the remaining return). The curve is the exact
  suboptimality ``J* - J(pi^n)`` of the iterate after the ``2 H n`` episodes it
  used (the theorem's output is the uniform mixture of the iterates; the last
  iterate is reported, as the issue asks). Extras per checkpoint:
  ``log_likelihood`` (of the chosen candidates), ``iterations`` and ``mle_true``
  (fraction of stage groups whose MLE picked the class's true candidate; -1 when
  the class does not mark one).
* :class:`ELA` (``ela``; Zhao, Zhan, Hu, Leung, Farnia, Sun, Lee, "Provably
  Efficient CVaR RL in Low-rank MDPs", ICLR 2024, arXiv 2311.11965).
  Theorem (verified from the abstract): ELA outputs ``(pi, c)`` with
  ``CVaR*_tau - CVaR_tau(pi, c) <= eps`` after
  ``O~(H^7 A^2 d^4 / (tau^2 eps^2))`` episodes (returns in ``[0, H]``;
  ``log |M|``, ``log 1/delta`` hidden): suboptimality ``~ N^-1/2`` and ``~ 1/tau``
  at fixed ``N``. Algorithm (reconstructed, note section 1.4): Rep-UCB's data,
  MLE and bonus on the budget-augmented MDP (roll-ins follow the augmented
  policy from its budget, ``c_{h+1} = c_h - r_h``); planning is the Bauerle-Ott
  budget DP in the learned model with the bonus lowering the shortfall
  (:func:`mdplab.planning.cvar.bonus_cvar_dp`):
  ``U_h(s,c,a) = P_hat_h(.|s,a)^T V_{h+1}(., c - r_h(s,a)) - b_h(s,a)``,
  ``V_h = clip(min_a U_h, [(c - maxrem_h)^+, c^+])``,
  ``c^n = argmax_c c - V_0(init, c) / tau``. Output: one ``(policy, budget)``
  pair, the last iterate (never a mixture: CVaR is not linear in the law). The
  paper outputs one optimistic iterate ``(pi^n^, c^n^)`` with ``n^`` uniform or of
  smallest estimated bonus value; reporting the last one is a deviation (the
  bound controls the average iterate, not the last). The output is the
  optimistic (exploration) plan, so its exact gap is a sum of action flips on
  near-ties whose true gap is below the bonus differences: a step-like curve
  that reaches 0 only once the bonus (``~ n^-1/2``) falls below the gaps.
  Rewards must be non-negative and lie on a lattice (the exact budget grid of
  :func:`mdplab.planning.cvar_grid`).
* :class:`ELLA` (``ella``; same paper): ELA with the discretised LSVI planner
  (reconstructed, note section 1.4): backward over ``h``, for every budget ``c``
  of the grid, ridge-regress ``y_i = V_{h+1}(s'_i, c)`` on ``phi_h(s_i, a_i)``
  over ``D_h u D'_h``: ``w_h(c) = G_h^-1 sum_i phi_h(s_i,a_i) y_i`` with
  ``G_h = sum_i phi phi^T + lambda I``; then
  ``Q_h(s,a,c) = phi_h(s,a)^T w_h(c - r_h(s,a)) - b_h(s,a)`` (clipped as in ELA)
  and ``V_h = min_a Q_h``. ``V_{h+1}`` is needed only at the sampled next states,
  so planning costs ``O(H |C| N A d + H |C| d^2)`` for ``N`` tuples per stage and
  ``|C|`` budgets, independent of ``S`` (:func:`ella_plan`). One deviation from
  the note, on purpose: the note regresses ``V_{h+1}(s'_i, c - r(s_i, a_i))``
  per ``c``; with a reward that depends on ``(s, a)`` that regression function is
  not linear in ``phi``, so here the regression is per *next* budget and the
  known reward shifts the budget afterwards (exact when fed the true model,
  :func:`ella_plan` with weights ``P(s'|s,a)``). The policy table over all states
  (for roll-ins and exact evaluation, not for planning) is read off the
  regression weights.

Constants (reconstructed, all parameters): the bonus scale ``alpha`` (theory
``Theta~(H sqrt((A + d^2) log(|M| n H / delta)))``; the default 0.1 is a tuned
scale, as the notes suggest sweeping ``{0.01, 0.1, 1} x`` theory), the ridge
``lam`` (theory ``Theta(d log(|M| n H / delta))``; default 1), the bonus clip
(default ``2 x`` the largest return) and the MLE tolerance. The MLE oracle is the
EM of :class:`~mdplab.models.FeatureClass` (certified: the Frank-Wolfe gap bounds
``L* - L`` by ``mle_tol`` per tuple), warm-started from the previous iteration's ``mu`` of
each candidate (floored on newly seen next states), which cuts its cost without
changing what it certifies. When the model's
transitions and the feature class are stationary the MLE and the Gram matrix
pool all stages (``pool_stages=None`` follows the model).
Kernels (roll-ins, Gram matrices, bonuses, optimistic backward induction, the
ELLA regression) are serial numba: one call costs milliseconds on the learned
models, and the per-seed runs are independent (results do not depend on threads).
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

from mdplab.algorithms.base import _check_number
from mdplab.algorithms.cvar import cvar_objective
from mdplab.algorithms.objectives import EXPECTED_RETURN, Objective
from mdplab.algorithms.protocol import PolicyLearner, Snapshot
from mdplab.kernels.rng import new_state, next_double
from mdplab.kernels.sampling import inverse_cdf_dense
from mdplab.models.lowrank import BlockMDP, FeatureClass, LowRankMDP, _em_solve
from mdplab.planning.cvar import bonus_cvar_dp, check_tau, cvar_grid, cvar_max_remaining
from mdplab.planning.lowrank import lowrank_backward_induction

__all__ = ["ELA", "ELLA", "RepUCB", "ella_plan", "ella_policy", "lowrank_cvar_objective",
           "lowrank_policy_value"]


# --------------------------------------------------------------- objectives
def lowrank_policy_value(model: LowRankMDP, policy) -> float:
    """Exact ``J(pi)`` of a deterministic Markov policy ``(H, S)`` (or ``(S,)``) on a
    finite-horizon low-rank model, through ``q_backup`` (O(H S A d), no ``P``)."""
    if model.horizon is None:
        raise ValueError("lowrank_policy_value needs a finite-horizon model")
    H, S = model.horizon, model.S
    pi = np.asarray(policy)
    if pi.ndim == 1:
        pi = np.broadcast_to(pi, (H, S))
    if pi.shape != (H, S) or not np.issubdtype(pi.dtype, np.integer):
        raise ValueError(f"policy must be an integer array of shape (H, S) = ({H}, {S}); "
                         f"got {pi.dtype} {pi.shape}")
    if ((pi < 0) | (pi >= model.A)).any():
        raise ValueError(f"policy has an action outside [0, {model.A})")
    V = np.zeros(S)
    rows = np.arange(S)
    for h in range(H - 1, -1, -1):
        V = model.q_backup(V, h)[rows, pi[h]]
    return float(model.init @ V)


def _lowrank_optimum(model: LowRankMDP) -> float:
    return float(lowrank_backward_induction(model).initial_value)


if LowRankMDP not in EXPECTED_RETURN._table:
    EXPECTED_RETURN.register(LowRankMDP, _lowrank_optimum, lowrank_policy_value)

_TABULAR: dict[int, tuple] = {}


def _tabular_of(model: LowRankMDP):
    """``model.to_tabular()``, cached for the few models in use (models are immutable)."""
    hit = _TABULAR.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    tab = model.to_tabular()
    if len(_TABULAR) >= 8:
        _TABULAR.pop(next(iter(_TABULAR)))
    _TABULAR[id(model)] = (model, tab)
    return tab


def lowrank_cvar_objective(tau) -> Objective:
    """:func:`~mdplab.algorithms.cvar_objective` taught low-rank models (through
    their exact tabular form): optimum ``CVaR*_tau``, value of an ``(augmented
    policy, budget)`` pair or a Markov policy."""
    obj = cvar_objective(tau)
    if LowRankMDP not in obj._table:
        obj.register(LowRankMDP, lambda m, _o=obj: _o.optimum(_tabular_of(m)),
                     lambda m, p, _o=obj: _o.value(_tabular_of(m), p))
    return obj


# ------------------------------------------------------------------ kernels
@njit(cache=True)
def _collect(P, init, steps, pol, j0, H, A, rng, out_s, out_a, out_t, col):
    """Rep-UCB's two tuples per stage with the (augmented) policy ``pol (H, S, n_b)``
    from budget index ``j0`` (``n_b = 1``, ``steps = 0``: a Markov policy).

    ``out_*[0, h, col]``: roll in to ``s_h``, uniform ``a_h``, ``s_{h+1}``;
    ``out_*[1, h, col]``: roll in to ``s_{h-1}``, two uniform actions, the tuple at
    ``h``. ``P (nP, S, A, S)`` true, ``steps (nR, S, A)`` reward steps."""
    nP, nR = P.shape[0], steps.shape[0]
    n_b = pol.shape[2]
    for h in range(H):
        for kind in range(2):
            s = inverse_cdf_dense(init, next_double(rng))
            jb = j0
            stop = h if kind == 0 else max(h - 1, 0)
            for t in range(stop):
                jc = 0 if jb < 0 else (n_b - 1 if jb >= n_b else jb)
                a = pol[t, s, jc]
                jb -= steps[t if nR > 1 else 0, s, a]
                s = inverse_cdf_dense(P[t if nP > 1 else 0, s, a], next_double(rng))
            if kind == 1 and h >= 1:
                a = min(int(next_double(rng) * A), A - 1)
                s = inverse_cdf_dense(P[h - 1 if nP > 1 else 0, s, a], next_double(rng))
            a = min(int(next_double(rng) * A), A - 1)
            out_s[kind, h, col] = s
            out_a[kind, h, col] = a
            out_t[kind, h, col] = inverse_cdf_dense(P[h if nP > 1 else 0, s, a],
                                                    next_double(rng))


@njit(cache=True)
def _gram(phi, states, actions, lam):
    """``sum_i phi(s_i, a_i) phi(s_i, a_i)^T + lam I`` (serial, fixed order)."""
    d = phi.shape[2]
    G = np.zeros((d, d))
    for i in range(states.shape[0]):
        x = phi[states[i], actions[i]]
        for k in range(d):
            for m in range(d):
                G[k, m] += x[k] * x[m]
    for k in range(d):
        G[k, k] += lam
    return G


@njit(cache=True)
def _elliptical_bonus(phi, Ginv, alpha, clip, out):
    """``out[s, a] = min(alpha sqrt(phi(s,a)^T Ginv phi(s,a)), clip)``."""
    S, A, d = phi.shape
    for s in range(S):
        for a in range(A):
            q = 0.0
            for k in range(d):
                acc = 0.0
                for m in range(d):
                    acc += Ginv[k, m] * phi[s, a, m]
                q += phi[s, a, k] * acc
            out[s, a] = min(alpha * math.sqrt(max(q, 0.0)), clip)


@njit(cache=True)
def _optimistic_backward(P, R, bonus, lo, hi):
    """Backward induction with reward ``R + bonus`` in ``P (nP, S, A, S)``; ``V_h``
    clipped to ``[lo[h], hi[h]]``, policy the first maximiser of the unclipped
    ``Q``. Returns ``V (H+1, S)`` and ``pol (H, S, 1)`` (an augmented table with one
    budget, the form the roll-in kernel takes)."""
    nP, S, A = P.shape[0], P.shape[1], P.shape[2]
    nR = R.shape[0]
    H = bonus.shape[0]
    V = np.zeros((H + 1, S))
    pol = np.zeros((H, S, 1), dtype=np.int64)
    for h in range(H - 1, -1, -1):
        g = h if nP > 1 else 0
        gr = h if nR > 1 else 0
        for s in range(S):
            best = -np.inf
            arg = 0
            for a in range(A):
                q = R[gr, s, a] + bonus[h, s, a]
                for t in range(S):
                    p = P[g, s, a, t]
                    if p != 0.0:
                        q += p * V[h + 1, t]
                if q > best:
                    best = q
                    arg = a
            V[h, s] = min(max(best, lo[h]), hi[h])
            pol[h, s, 0] = arg
    return V, pol


@njit(cache=True)
def _ella_regression(X, wts, Ginv, Fn, Kn, Bn, c0, eta, n, maxrem):
    """The discretised LSVI backward pass; ``W (H, d, n)`` (see :func:`ella_plan`).
    Serial (the budgets' regressions are independent, but one call is milliseconds)."""
    H, N, d = X.shape
    A = Fn.shape[2]
    W = np.zeros((H, d, n))
    for h in range(H - 1, -1, -1):
        for j in range(n):
            c = c0 + j * eta
            hi = max(c, 0.0)
            r = np.zeros(d)
            for i in range(N):
                w = wts[h, i]
                if w == 0.0:
                    continue
                if h == H - 1:
                    y = hi
                else:
                    best = np.inf
                    for a in range(A):
                        u = -Bn[h, i, a]
                        jn = j - Kn[h, i, a]
                        if jn >= 0:
                            jn = min(jn, n - 1)
                            for k in range(d):
                                u += Fn[h, i, a, k] * W[h + 1, k, jn]
                        if u < best:
                            best = u
                    y = min(max(best, c - maxrem[h + 1], 0.0), hi)
                for k in range(d):
                    r[k] += w * X[h, i, k] * y
            for k in range(d):
                acc = 0.0
                for m in range(d):
                    acc += Ginv[h, k, m] * r[m]
                W[h, k, j] = acc
    return W


@njit(cache=True)
def _ella_table(phi, W, steps, bonus, c0, eta, maxrem):
    """Shortfall values ``(H+1, S, n)`` and augmented policy ``(H, S, n)`` read off
    the ELLA weights at every state (``phi (nP, S, A, d)``, ``steps (nR, S, A)``)."""
    nP, S, A, d = phi.shape
    nR = steps.shape[0]
    H, _, n = W.shape
    V = np.zeros((H + 1, S, n))
    pol = np.zeros((H, S, n), dtype=np.int64)
    for s in range(S):
        for j in range(n):
            V[H, s, j] = max(c0 + j * eta, 0.0)
    for h in range(H):
        g = h if nP > 1 else 0
        gr = h if nR > 1 else 0
        for s in range(S):
            for j in range(n):
                c = c0 + j * eta
                best = np.inf
                arg = 0
                for a in range(A):
                    u = -bonus[h, s, a]
                    jn = j - steps[gr, s, a]
                    if jn >= 0:
                        jn = min(jn, n - 1)
                        for k in range(d):
                            u += phi[g, s, a, k] * W[h, k, jn]
                    if u < best:
                        best = u
                        arg = a
                V[h, s, j] = min(max(best, c - maxrem[h], 0.0), max(c, 0.0))
                pol[h, s, j] = arg
    return V, pol


# ------------------------------------------------------------- ELLA planner
def ella_plan(X, next_features, next_steps, next_bonus, c0, eta, n_budgets, maxrem, *,
              weights=None, lam: float = 1.0):
    """ELLA's discretised LSVI planner on data only; returns ``W (H, d, n_budgets)``.

    For stage ``h`` the data are ``N`` tuples ``(s_i, a_i, s'_i)``: ``X[h, i] =
    phi_h(s_i, a_i)`` ``(H, N, d)``; ``next_features[h, i, a] = phi_{h+1}(s'_i, a)``
    ``(H, N, A, d)``, ``next_steps[h, i, a] = r_{h+1}(s'_i, a) / eta`` (int) and
    ``next_bonus[h, i, a] = b_{h+1}(s'_i, a)`` (``(H, N, A)``; row ``H-1`` unused);
    ``weights (H, N)`` (default 1; 0 drops a row). With ``c_j = c0 + j eta``,
    ``W[h, :, j] = G_h^-1 sum_i w_i X[h, i] V_{h+1}(s'_i, c_j)``, ``G_h = sum_i w_i
    X X^T + lam I`` and ``V_{h+1}(s', c) = clip(min_a phi_{h+1}(s',a)^T
    W_{h+1}(c - r_{h+1}(s',a)) - b_{h+1}(s',a), [(c - maxrem[h+1])^+, c^+])``
    (``V_H = c^+``). Cost ``O(H n (N A d + d^2) + H N d^2)``: no state count anywhere.
    Non-negative reward steps (budgets below the grid have shortfall 0).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"X must have shape (H, N, d); got {X.shape}")
    H, N, d = X.shape
    Fn = np.ascontiguousarray(next_features, dtype=np.float64)
    if Fn.ndim != 4 or Fn.shape[:2] != (H, N) or Fn.shape[3] != d:
        raise ValueError(f"next_features must have shape (H, N, A, d) = ({H}, {N}, A, {d}); "
                         f"got {Fn.shape}")
    A = Fn.shape[2]
    Kn = np.ascontiguousarray(next_steps, dtype=np.int64)
    Bn = np.ascontiguousarray(next_bonus, dtype=np.float64)
    if Kn.shape != (H, N, A) or Bn.shape != (H, N, A):
        raise ValueError(f"next_steps and next_bonus must have shape (H, N, A) = ({H}, {N}, "
                         f"{A}); got {Kn.shape} and {Bn.shape}")
    if (Kn < 0).any():
        raise ValueError("next_steps must be non-negative (non-negative rewards)")
    wts = np.ones((H, N)) if weights is None else np.ascontiguousarray(weights, np.float64)
    if wts.shape != (H, N) or (wts < 0).any():
        raise ValueError(f"weights must be non-negative of shape (H, N) = ({H}, {N})")
    lam = _check_number("lam", lam, low=0.0)
    n = _check_number("n_budgets", n_budgets, low=1, integer=True)
    eta = _check_number("eta", eta, low=0.0, low_open=True)
    c0 = _check_number("c0", c0)
    maxrem = np.ascontiguousarray(maxrem, dtype=np.float64)
    if maxrem.shape != (H,):
        raise ValueError(f"maxrem must have shape (H,) = ({H},); got {maxrem.shape}")
    Ginv = np.empty((H, d, d))
    for h in range(H):
        G = (X[h].T * wts[h]) @ X[h] + lam * np.eye(d)
        Ginv[h] = np.linalg.pinv(G) if lam == 0.0 else np.linalg.inv(G)
    return _ella_regression(X, wts, Ginv, Fn, Kn, Bn, c0, eta, n, maxrem)


def ella_policy(phi, W, steps, bonus, c0, eta, maxrem):
    """Shortfall table ``(H+1, S, n)`` and augmented policy ``(H, S, n)`` of the
    ELLA weights ``W`` at every state: ``phi (S, A, d)`` or ``(H, S, A, d)``,
    ``steps`` reward steps ``(S, A)`` or ``(H, S, A)``, ``bonus (H, S, A)``."""
    phi = np.asarray(phi, dtype=np.float64)
    phi = np.ascontiguousarray(phi[None] if phi.ndim == 3 else phi)
    steps = np.asarray(steps, dtype=np.int64)
    steps = np.ascontiguousarray(steps[None] if steps.ndim == 2 else steps)
    return _ella_table(phi, np.ascontiguousarray(W, dtype=np.float64), steps,
                       np.ascontiguousarray(bonus, dtype=np.float64), float(c0), float(eta),
                       np.ascontiguousarray(maxrem, dtype=np.float64))


# ----------------------------------------------------------------- learners
def _check_feature_class(fc):
    if fc is not None and not isinstance(fc, FeatureClass):
        raise ValueError(f"feature_class must be a FeatureClass or None (the true features "
                         f"only); got {type(fc).__name__}")
    if fc is not None:
        dims = {c.shape[-1] for c in fc.candidates}
        if len(dims) > 1:
            raise ValueError(f"feature_class candidates must share one dimension d; got "
                             f"dimensions {sorted(dims)}")
    return fc


class RepUCB(PolicyLearner):
    """Rep-UCB in a finite-horizon low-rank MDP (module docstring): PAC, exact
    suboptimality of each iterate against the ``2 H n`` episodes it used.

    Parameters
    ----------
    feature_class : FeatureClass, optional
        The candidate class ``Phi`` (``(S, A)`` and stages matching the model, one
        dimension ``d`` for all candidates). Default: the model's own ``phi`` only
        (a one-element class; ``phi`` must be in the simplex).
    alpha : float
        Bonus scale (reconstructed constant; >= 0).
    lam : float
        Ridge ``lambda`` of the Gram matrix (> 0).
    bonus_clip : float, optional
        Clip of the bonus (default twice the largest return).
    mle_tol, mle_max_iter :
        MLE oracle: certified tolerance *per tuple* (EM stops once the Frank-Wolfe
        gap, a bound on ``L* - L``, is at most ``mle_tol`` times the number of
        tuples fitted) and the cap on EM evaluations.
    pool_stages : bool, optional
        Pool the MLE and Gram data over stages (default: when the model's
        transitions and the class are stationary).
    """

    name = "rep-ucb"
    model_class = LowRankMDP
    guarantee = "pac"
    objective = EXPECTED_RETURN
    check_kwargs = {"alpha": 0.1}
    check_budget = 240
    invalid_kwargs = (({"alpha": -1.0}, "alpha"), ({"lam": 0.0}, "lam"),
                      ({"mle_tol": 0.0}, "mle_tol"), ({"feature_class": "phi"}, "feature_class"),
                      ({"bonus_clip": -1.0}, "bonus_clip"), ({"pool_stages": 1}, "pool_stages"))
    risk = False

    def __init__(self, feature_class=None, *, alpha: float = 0.1, lam: float = 1.0,
                 bonus_clip=None, mle_tol: float = 1e-4, mle_max_iter: int = 20_000,
                 pool_stages=None):
        self.feature_class = _check_feature_class(feature_class)
        self.alpha = _check_number("alpha", alpha, low=0.0)
        self.lam = _check_number("lam", lam, low=0.0, low_open=True)
        self.bonus_clip = None if bonus_clip is None else _check_number(
            "bonus_clip", bonus_clip, low=0.0)
        self.mle_tol = _check_number("mle_tol", mle_tol, low=0.0, low_open=True)
        self.mle_max_iter = _check_number("mle_max_iter", mle_max_iter, low=1, integer=True)
        if pool_stages is not None and not isinstance(pool_stages, bool):
            raise ValueError(f"pool_stages must be None, True or False; got {pool_stages!r}")
        self.pool_stages = pool_stages
        self.timings: dict[str, float] = {}

    def params(self) -> dict:
        return {"alpha": self.alpha, "lam": self.lam, "bonus_clip": self.bonus_clip,
                "mle_tol": self.mle_tol, "n_candidates": len(self._fc_or_none())}

    def _fc_or_none(self):
        return self.feature_class.candidates if self.feature_class is not None else (None,)

    @classmethod
    def check_models(cls) -> list[tuple[str, object]]:
        """A tiny block MDP (2 latents seen through 2 observations each, 2 actions,
        H = 3, rewards on the grid 0.5) and a stage-dependent variant."""
        T = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.7, 0.3], [0.1, 0.9]]])
        q = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]])
        R = np.array([[0.0, 0.0], [0.0, 0.0], [0.5, 0.25], [0.5, 0.25]])
        init = np.array([0.5, 0.5, 0.0, 0.0])
        stat = BlockMDP(T, q, R, horizon=3, init=init, name="rep-ucb-tiny")
        Ts = np.stack([T, T[:, ::-1], T])
        staged = BlockMDP(Ts, q, R, horizon=3, init=init, name="rep-ucb-tiny-staged")
        return [("block", stat), ("block stage-dependent", staged)]

    # ------------------------------------------------------------ set-up
    def check_model(self, model) -> None:
        if model.horizon is None:
            raise ValueError(f"{self.name} learns finite-horizon models (horizon=H); this one "
                             f"is discounted (gamma={model.gamma})")
        fc = self._class_for(model)
        if (fc.S, fc.A) != (model.S, model.A):
            raise ValueError(f"feature_class has (S, A) = ({fc.S}, {fc.A}) but the model has "
                             f"({model.S}, {model.A})")
        if fc.horizon is not None and fc.horizon != model.horizon:
            raise ValueError(f"feature_class has {fc.horizon} stages but the model has horizon "
                             f"{model.horizon}")
        if fc.true_index is not None and fc.candidates[fc.true_index].shape[-1] != model.d:
            raise ValueError(f"feature_class marks candidate {fc.true_index} as the true "
                             f"features but its dimension d = "
                             f"{fc.candidates[fc.true_index].shape[-1]} does not match the "
                             f"model's d = {model.d}")

    def _class_for(self, model) -> FeatureClass:
        if self.feature_class is not None:
            return self.feature_class
        try:
            return FeatureClass([model.phi], true_index=0, names=["true"])
        except ValueError as exc:
            raise ValueError(f"{self.name}: the default feature class is the model's own phi, "
                             f"which must lie in the simplex ({exc}); pass feature_class=")\
                from None

    def _setup(self, model) -> dict:
        tab = _tabular_of(model)
        fc = self._class_for(model)
        H = model.horizon
        pool = self.pool_stages
        if pool is None:
            pool = bool(model.transitions_stationary and fc.horizon is None)
        R = np.ascontiguousarray(tab.stage_R())
        rmax = R.reshape(R.shape[0], -1).max(axis=1)
        rmin = R.reshape(R.shape[0], -1).min(axis=1)
        rmax = np.broadcast_to(rmax, (H,)) if rmax.size == 1 else rmax
        rmin = np.broadcast_to(rmin, (H,)) if rmin.size == 1 else rmin
        hi = np.ascontiguousarray(np.cumsum(rmax[::-1])[::-1], dtype=np.float64)
        lo = np.ascontiguousarray(np.cumsum(rmin[::-1])[::-1], dtype=np.float64)
        vmax = float(max(abs(hi[0]), abs(lo[0]), 1e-12))
        clip = self.bonus_clip if self.bonus_clip is not None else 2.0 * vmax
        return {"tab": tab, "fc": fc, "H": H, "pool": pool, "P": np.ascontiguousarray(
            tab.stage_P()), "R": R, "hi": hi, "lo": lo, "clip": clip,
            "d": fc.candidates[0].shape[-1]}

    def _initial(self, env) -> tuple:
        """``(augmented policy (H, S, n_b), budget index)`` of ``pi^0`` (action 0)."""
        return np.zeros((env["H"], env["tab"].S, 1), dtype=np.int64), 0

    def _roll_steps(self, env) -> np.ndarray:
        return np.zeros((1, env["tab"].S, env["tab"].A), dtype=np.int64)

    def _output(self, env, pol, j0):
        return np.ascontiguousarray(pol[:, :, 0])

    # ------------------------------------------------------------ learning
    def policies(self, model, budget, checkpoints, seed):
        env = self._setup(model)
        H, A = env["H"], model.A
        per = 2 * H
        n_max = int(budget) // per
        cap = max(n_max, 1)
        ds = np.zeros((2, H, cap), dtype=np.int64)
        da = np.zeros((2, H, cap), dtype=np.int64)
        dt = np.zeros((2, H, cap), dtype=np.int64)
        rng = new_state(np.uint64(seed))
        init = np.ascontiguousarray(env["tab"].init)
        steps = self._roll_steps(env)
        pol, j0 = self._initial(env)
        self._mle_true = -1.0 if env["fc"].true_index is None else 0.0
        self._warm: dict = {}
        timings = {"collect_s": 0.0, "mle_s": 0.0, "bonus_s": 0.0, "plan_s": 0.0,
                   "iterations": 0}
        self.timings = timings
        n = 0
        ll = 0.0
        for c in checkpoints:
            target = int(c) // per
            while n < target:
                t0 = time.perf_counter()
                _collect(env["P"], init, steps, pol, j0, H, A, rng, ds, da, dt, n)
                n += 1
                t1 = time.perf_counter()
                phis, mus, ll = self._mle(env, ds, da, dt, n)
                t2 = time.perf_counter()
                bonus = self._bonus(env, phis, ds, da, n)
                t3 = time.perf_counter()
                pol, j0 = self._plan(env, phis, mus, bonus, ds, da, dt, n)
                t4 = time.perf_counter()
                timings["collect_s"] += t1 - t0
                timings["mle_s"] += t2 - t1
                timings["bonus_s"] += t3 - t2
                timings["plan_s"] += t4 - t3
                timings["iterations"] = n
            yield Snapshot(self._output(env, pol, j0), used=n * per,
                           extras={"log_likelihood": float(ll), "iterations": float(n),
                                   "mle_true": self._mle_true})

    def _groups(self, env):
        """Stage groups ``[(stage used for phi_at, stages pooled)]``."""
        H = env["H"]
        return [(0, list(range(H)))] if env["pool"] else [(h, [h]) for h in range(H)]

    def _mle(self, env, ds, da, dt, n):
        """MLE per stage group; returns ``phis (H, S, A, d)``, ``mus (H, d, S)``, log-lik."""
        fc = env["fc"]
        H = env["H"]
        S, A, d = fc.S, fc.A, env["d"]
        phis = np.empty((H, S, A, d))
        mus = np.empty((H, d, S))
        total = 0.0
        hits = []
        for g, (h_fit, stages) in enumerate(self._groups(env)):
            s = ds[:, stages, :n].ravel()
            a = da[:, stages, :n].ravel()
            t = dt[:, stages, :n].ravel()
            key = (s * A + a) * S + t
            uniq, counts = np.unique(key, return_counts=True)
            sa, tt = np.divmod(uniq, S)
            ss, aa = np.divmod(sa, A)
            observed, t_local = np.unique(tt, return_inverse=True)
            t_local = t_local.astype(np.int64)
            c = counts.astype(np.float64)
            best, best_ll, best_mu = 0, -np.inf, None
            for k in range(len(fc)):
                prev = self._warm.get((g, k))
                if prev is None:
                    mu_local = np.full((d, observed.size), 1.0 / observed.size)
                else:
                    # warm start: last iteration's fit on the observed next states, floored
                    # so that EM can move mass to states seen for the first time
                    mu_local = prev[:, observed] + 1e-3 / observed.size
                    mu_local /= mu_local.sum(axis=1, keepdims=True)
                rows = np.ascontiguousarray(fc.phi_at(k, h_fit)[ss, aa])
                ll, _, _ = _em_solve(rows, t_local, c, mu_local, self.mle_tol * s.size,
                                     self.mle_max_iter, True)
                mu = np.zeros((d, S))
                mu[:, observed] = mu_local
                self._warm[(g, k)] = mu
                if ll > best_ll:
                    best, best_ll, best_mu = k, ll, mu
            total += best_ll
            hits.append(best == fc.true_index)
            phi = fc.phi_at(best, h_fit)
            for h in stages:
                phis[h] = phi if fc.horizon is None else fc.phi_at(best, h)
                mus[h] = best_mu
        self._mle_true = -1.0 if fc.true_index is None else float(np.mean(hits))
        return phis, mus, total

    def _bonus(self, env, phis, ds, da, n):
        H = env["H"]
        S, A = phis.shape[1], phis.shape[2]
        bonus = np.empty((H, S, A))
        for _, stages in self._groups(env):
            phi = np.ascontiguousarray(phis[stages[0]])
            G = _gram(phi, np.ascontiguousarray(ds[0, stages, :n].ravel()),
                      np.ascontiguousarray(da[0, stages, :n].ravel()), self.lam)
            Ginv = np.linalg.inv(G)
            out = np.empty((S, A))
            _elliptical_bonus(phi, Ginv, self.alpha, env["clip"], out)
            for h in stages:
                bonus[h] = out
        return bonus

    def _plan(self, env, phis, mus, bonus, ds, da, dt, n):
        P_hat = np.ascontiguousarray(np.einsum("hsad,hdt->hsat", phis, mus))
        _, pol = _optimistic_backward(P_hat, env["R"], bonus, env["lo"], env["hi"])
        return pol, 0


class ELA(RepUCB):
    """ELA: Rep-UCB's data, MLE and bonus on the budget-augmented MDP, with the
    optimistic CVaR budget DP in the learned model; outputs one ``(policy,
    budget)`` pair scored by its exact ``CVaR_tau`` (module docstring). ``tau``
    in (0, 1]; other parameters as :class:`RepUCB`. Rewards must be non-negative
    and on a lattice (the exact budget grid)."""

    name = "ela"
    check_kwargs = {"alpha": 0.1, "tau": 0.5}
    invalid_kwargs = RepUCB.invalid_kwargs + (({"tau": 0.0}, "tau"), ({"tau": 1.5}, "tau"))
    risk = True

    def __init__(self, feature_class=None, *, tau: float = 0.25, **kwargs):
        super().__init__(feature_class, **kwargs)
        self.tau = check_tau(tau)
        self.objective = lowrank_cvar_objective(self.tau)

    def params(self) -> dict:
        return {"tau": self.tau, **super().params()}

    def check_model(self, model) -> None:
        super().check_model(model)
        grid = cvar_grid(_tabular_of(model))
        if not grid.exact:
            raise ValueError(f"{self.name} needs rewards on a lattice (the exact budget grid); "
                             "this model's rewards are not multiples of a common step")
        if (grid.steps < 0).any():
            raise ValueError(f"{self.name} needs non-negative rewards")

    def _setup(self, model) -> dict:
        env = super()._setup(model)
        grid = cvar_grid(env["tab"])
        env["grid"] = grid
        env["steps3"] = np.ascontiguousarray(grid.steps[..., 0])   # deterministic rewards
        env["maxrem"] = cvar_max_remaining(grid.steps, grid.probs, grid.eta, env["H"])
        return env

    def _initial(self, env):
        return np.zeros((env["H"], env["tab"].S, env["grid"].n), dtype=np.int64), 0

    def _roll_steps(self, env):
        st = env["grid"].steps
        if st.shape[3] != 1:
            # a reward law with several atoms: roll-ins track the mean step (LowRankMDP
            # rewards are deterministic means, so this does not arise)
            raise ValueError(f"{self.name} needs deterministic rewards")
        return env["steps3"]

    def _output(self, env, pol, j0):
        return (pol, float(env["grid"].budgets[j0]))

    def _choose_budget(self, env, V0) -> int:
        obj = env["grid"].budgets - (env["tab"].init @ V0) / self.tau
        return int(np.argmax(obj))

    def _plan(self, env, phis, mus, bonus, ds, da, dt, n):
        grid = env["grid"]
        P_hat = np.ascontiguousarray(np.einsum("hsad,hdt->hsat", phis, mus))
        V, pol = bonus_cvar_dp(P_hat, grid.steps, grid.probs, env["H"], grid.c0, grid.eta,
                               grid.n, bonus, env["maxrem"])
        return pol, self._choose_budget(env, V[0])


class ELLA(ELA):
    """ELLA: ELA with the discretised LSVI planner (:func:`ella_plan`), whose cost
    does not depend on ``S``; the regression uses ``D_h u D'_h`` with ridge
    ``lam``. Parameters as :class:`ELA`."""

    name = "ella"
    check_budget = 600

    def _plan(self, env, phis, mus, bonus, ds, da, dt, n):
        grid = env["grid"]
        H = env["H"]
        s = ds[:, :, :n].transpose(1, 0, 2).reshape(H, 2 * n)
        a = da[:, :, :n].transpose(1, 0, 2).reshape(H, 2 * n)
        t = dt[:, :, :n].transpose(1, 0, 2).reshape(H, 2 * n)
        hh = np.arange(H)[:, None]
        X = phis[hh, s, a]                                   # (H, N, d)
        nxt = np.minimum(hh + 1, H - 1)
        Fn = phis[nxt, t]                                    # (H, N, A, d)
        st = env["steps3"]
        st = np.broadcast_to(st, (H,) + st.shape[1:]) if st.shape[0] == 1 else st
        Kn = st[nxt, t]                                      # (H, N, A)
        Bn = bonus[nxt, t]
        W = ella_plan(X, Fn, Kn, Bn, grid.c0, grid.eta, grid.n, env["maxrem"], lam=self.lam)
        V, pol = ella_policy(phis, W, st, bonus, grid.c0, grid.eta, env["maxrem"])
        return pol, self._choose_budget(env, V[0])

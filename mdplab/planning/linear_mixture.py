"""Occupancy measures of finite-horizon MDPs and the HF-O2PS mirror step.

Exact pieces used by the HF-O2PS learner (:mod:`mdplab.algorithms.linear_mixture`):

* :func:`occupancy_measure` -- ``z_h(s, a, s') = Pr(s_h = s, a_h = a, s_{h+1} = s')``
  of a Markov policy (shape ``(H, S, A, S)``), its :func:`occupancy_policy`
  ``pi_h(a|s) = sum_s' z / sum_{a,s'} z``, :func:`occupancy_kernel`
  ``p_h(s'|s,a) = z / sum_s' z`` and :func:`flow_residual` (the largest violation
  of ``sum_{a,s'} z_0(s,.,.) = init(s)``, ``sum_{a,s'} z_{h+1}(s,.,.) = sum z_h(.,.,s)``);
* :func:`policy_value` -- the exact value of a Markov policy (backward recursion),
  and :func:`best_fixed_policy` -- the optimal deterministic policy and value for a
  (summed) reward, the comparator of regret against the best fixed policy in hindsight;
* the online-mirror-descent step over occupancy measures,
  ``z+ = argmin_{z in D} -alpha <z, r> + KL(z || z_prev)`` (unnormalised KL), with
  ``D`` the occupancy measures whose kernels are ``p_h(.|s,a) = <phi(.|s,a), theta>``
  for ``theta`` in the ellipsoid ``||Sigma^{1/2} (theta - theta_hat)|| <= beta``
  (written with ``y_{h,s,a} = zbar_h(s,a) theta``, a second-order cone), or for the
  known ``theta`` (``Sigma=None``):

  - :func:`mirror_step_cvxpy`: the reference, the conic program built afresh and
    solved by cvxpy (``rel_entr``: exponential cones; Clarabel by default);
  - :class:`MirrorStep`: the same program compiled once (disciplined-parametrised)
    and re-solved with new parameters, the path the learner uses;
  - :func:`mirror_step_known`: known kernel only, a specialised solver. With
    ``z = q P`` the KL reduces to ``sum q log(q / q_prev) - q + q_prev`` and the
    step has the Gibbs form ``q_h(s,a) = q_prev_h(s,a) exp(alpha r_h(s,a) +
    (P v_{h+1})(s,a) - v_h(s))``; the ``H S`` multipliers ``v`` minimise the smooth
    convex dual ``sum q(v) + <init, v_0>``, solved by damped Newton to a flow
    residual of ``tol``.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit

__all__ = [
    "MirrorStep",
    "as_stage_rewards",
    "best_fixed_policy",
    "flow_residual",
    "mirror_step_cvxpy",
    "mirror_step_known",
    "occupancy_kernel",
    "occupancy_measure",
    "occupancy_policy",
    "policy_value",
]


# ------------------------------------------------------------------ kernels
@njit(cache=True)
def _occupancy(P, init, pi, z):
    """``z[h, s, a, s'] = rho_h(s) pi_h(a|s) P(s'|s,a)``; ``P`` is ``(S, A, S)``."""
    H, S, A = pi.shape
    rho = init.copy()
    for h in range(H):
        nxt = np.zeros(S)
        for s in range(S):
            for a in range(A):
                w = rho[s] * pi[h, s, a]
                for t in range(S):
                    v = w * P[s, a, t]
                    z[h, s, a, t] = v
                    nxt[t] += v
        rho = nxt


@njit(cache=True)
def _evaluate(P, R, pi, V):
    """``V[h] = sum_a pi_h(a|.) (R_h + P V[h+1])``, ``V[H] = 0``; ``P`` is ``(S, A, S)``."""
    H, S, A = pi.shape
    for h in range(H - 1, -1, -1):
        for s in range(S):
            acc = 0.0
            for a in range(A):
                q = R[h, s, a]
                for t in range(S):
                    q += P[s, a, t] * V[h + 1, t]
                acc += pi[h, s, a] * q
            V[h, s] = acc


@njit(cache=True)
def _optimal(P, R, V, pol):
    H, S, A = R.shape
    for h in range(H - 1, -1, -1):
        for s in range(S):
            best = -np.inf
            arg = 0
            for a in range(A):
                q = R[h, s, a]
                for t in range(S):
                    q += P[s, a, t] * V[h + 1, t]
                if q > best:
                    best = q
                    arg = a
            V[h, s] = best
            pol[h, s] = arg


# ------------------------------------------------------------- validation
def _kernel(P) -> np.ndarray:
    P = np.ascontiguousarray(P, dtype=np.float64)
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must be a time-homogeneous kernel of shape (S, A, S); got {P.shape}")
    return P


def _stochastic_policy(policy, H: int, S: int, A: int) -> np.ndarray:
    pi = np.asarray(policy)
    if np.issubdtype(pi.dtype, np.integer) and pi.shape == (H, S):
        out = np.zeros((H, S, A))
        np.put_along_axis(out, pi[..., None].astype(np.int64), 1.0, axis=-1)
        return out
    pi = np.ascontiguousarray(pi, dtype=np.float64)
    if pi.shape != (H, S, A):
        raise ValueError(f"policy must have shape (H, S) (int) or (H, S, A); got {pi.shape}")
    return pi


def as_stage_rewards(R, H: int, S: int, A: int, name: str = "rewards") -> np.ndarray:
    """``R`` as a contiguous ``(H, S, A)`` array (a stationary ``(S, A)`` is repeated)."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape == (S, A):
        R = np.broadcast_to(R, (H, S, A))
    if R.shape != (H, S, A):
        raise ValueError(f"{name} must have shape (S, A) or (H, S, A) = ({H}, {S}, {A}); "
                         f"got {R.shape}")
    return np.ascontiguousarray(R)


# ---------------------------------------------------------- occupancy maps
def occupancy_measure(P, init, policy) -> np.ndarray:
    """``z (H, S, A, S)`` of a Markov policy (``(H, S)`` int or ``(H, S, A)`` float)
    from ``init`` under the homogeneous kernel ``P (S, A, S)``."""
    P = _kernel(P)
    S, A = P.shape[:2]
    pol = np.asarray(policy)
    if pol.ndim < 2:
        raise ValueError(f"policy must have shape (H, S) or (H, S, A); got {pol.shape}")
    pi = _stochastic_policy(pol, pol.shape[0], S, A)
    z = np.empty((pi.shape[0], S, A, S))
    _occupancy(P, np.ascontiguousarray(init, dtype=np.float64), pi, z)
    return z


def occupancy_policy(z) -> np.ndarray:
    """``pi_h(a|s) = sum_s' z_h(s,a,s') / sum_{a,s'} z_h(s,.,.)``; uniform where the
    state has no mass. Negative rounding (a conic solver's ``-1e-12``) is clipped."""
    z = np.maximum(np.asarray(z, dtype=np.float64), 0.0)
    q = z.sum(axis=-1)
    tot = q.sum(axis=-1, keepdims=True)
    A = q.shape[-1]
    return np.where(tot > 0, q / np.where(tot > 0, tot, 1.0), 1.0 / A)


def occupancy_kernel(z) -> np.ndarray:
    """``p_h(s'|s,a) = z_h(s,a,s') / sum_s' z_h(s,a,.)`` (uniform where unvisited)."""
    z = np.maximum(np.asarray(z, dtype=np.float64), 0.0)
    tot = z.sum(axis=-1, keepdims=True)
    S = z.shape[-1]
    return np.where(tot > 0, z / np.where(tot > 0, tot, 1.0), 1.0 / S)


def flow_residual(z, init) -> float:
    """Largest violation of the flow constraints of ``z (H, S, A, S)`` from ``init``."""
    z = np.asarray(z, dtype=np.float64)
    out = z.sum(axis=(2, 3))                      # mass leaving s at stage h
    inflow = np.concatenate([np.asarray(init, dtype=np.float64)[None],
                             z.sum(axis=(1, 2))[:-1]])
    return float(np.abs(out - inflow).max())


def policy_value(P, R, policy, init=None, *, stages: bool = False):
    """Exact value of a Markov policy: ``init @ V_0`` (or ``V (H+1, S)`` with
    ``stages=True``). ``P (S, A, S)`` or ``(H, S, A, S)`` (a stage-dependent kernel,
    e.g. an occupancy measure's), rewards ``(S, A)`` or ``(H, S, A)``."""
    P = np.ascontiguousarray(P, dtype=np.float64)
    pol = np.asarray(policy)
    H = pol.shape[0]
    S, A = P.shape[-3], P.shape[-2]
    pi = _stochastic_policy(pol, H, S, A)
    R = as_stage_rewards(R, H, S, A)
    V = np.zeros((H + 1, S))
    if P.ndim == 4:
        for h in range(H - 1, -1, -1):
            V[h] = np.einsum("sa,sa->s", pi[h], R[h] + P[h] @ V[h + 1])
    else:
        _evaluate(_kernel(P), R, pi, V)
    if stages:
        return V
    if init is None:
        raise ValueError("policy_value needs init (or stages=True)")
    return float(np.asarray(init, dtype=np.float64) @ V[0])


def best_fixed_policy(P, init, R) -> tuple[np.ndarray, float]:
    """The optimal deterministic policy ``(H, S)`` and its value for rewards ``R
    (H, S, A)`` under ``P (S, A, S)``: backward induction, first maximiser on ties.
    With ``R = sum_k r^k`` this is the best fixed policy in hindsight (values are
    linear in the reward, so it maximises ``sum_k V^pi(r^k)``)."""
    P = _kernel(P)
    R = np.ascontiguousarray(R, dtype=np.float64)
    H, S, A = R.shape
    V = np.zeros((H + 1, S))
    pol = np.zeros((H, S), dtype=np.int64)
    _optimal(P, R, V, pol)
    return pol, float(np.asarray(init, dtype=np.float64) @ V[0])


# ------------------------------------------------------------ mirror steps
def _support(F: np.ndarray) -> np.ndarray:
    """Entries ``(s, a, s')`` some feature reaches (elsewhere ``z = 0`` for every theta)."""
    return np.abs(F).sum(axis=-1) > 0


def _flow_matrix(F: np.ndarray, H: int):
    """Linear flow constraints on ``y (H, S, A, d)`` flattened: rows ``(h, s)``."""
    S, A, _, d = F.shape
    n = H * S * A * d
    u = F.sum(axis=2)                              # (S, A, d): zbar = u . y
    M = np.zeros((H * S, n))
    idx = np.arange(n).reshape(H, S, A, d)
    for h in range(H):
        for s in range(S):
            for a in range(A):
                M[h * S + s, idx[h, s, a]] += u[s, a]          # outflow of (h, s)
            if h > 0:
                for s2 in range(S):
                    for a2 in range(A):
                        M[h * S + s, idx[h - 1, s2, a2]] -= F[s2, a2, s]  # inflow
    return M


def _z_map(F: np.ndarray, H: int):
    """Sparse ``G`` with ``G vec(y) = z`` on the support (row-major over h, s, a, s')."""
    import scipy.sparse as sp

    S, A, _, d = F.shape
    mask = _support(F)
    rows, cols, vals = [], [], []
    r = 0
    for h in range(H):
        for s in range(S):
            for a in range(A):
                base = ((h * S + s) * A + a) * d
                for t in range(S):
                    if not mask[s, a, t]:
                        continue
                    for j in range(d):
                        if F[s, a, t, j] != 0.0:
                            rows.append(r)
                            cols.append(base + j)
                            vals.append(F[s, a, t, j])
                    r += 1
    return sp.csr_matrix((vals, (rows, cols)), shape=(r, H * S * A * d))


Z_FLOOR = 1e-12
"""The conic paths floor ``z_prev`` at this value on the support (conditioning: a
``log z_prev`` of -700 makes Clarabel stall); entries that small stay negligible."""

_TIGHT = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "max_iter": 400}


def _solve(prob, y, solver: str, opts: dict) -> None:
    """Solve with ``opts``; if the solver fails or stops short, once more with its
    default tolerances (then a ``RuntimeError``). "optimal_inaccurate" is accepted:
    the tests hold the iterates to 1e-6. No warm start, so an iterate never depends
    on what the problem object solved before."""
    import cvxpy as cp

    for attempt in (opts, {}):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                prob.solve(solver=solver, warm_start=False, **attempt)
        except cp.error.SolverError:
            continue
        if prob.status in ("optimal", "optimal_inaccurate") and y.value is not None:
            return
    raise RuntimeError(f"mirror step: cvxpy/{solver} failed (status {prob.status!r}); "
                       "is the confidence set empty (beta too small)?")


def mirror_step_cvxpy(z_prev, reward, alpha: float, features, init, theta_hat,
                      sqrt_sigma=None, beta: float | None = None, *,
                      solver: str = "CLARABEL", solver_opts: dict | None = None) -> np.ndarray:
    """The reference mirror step: ``argmin_{z in D} -alpha <z, r> + KL(z || z_prev)``
    built afresh with ``rel_entr`` and solved by cvxpy (see the module docstring).
    ``sqrt_sigma=None`` means the kernel is known: ``theta_hat`` is the true theta.
    ``sqrt_sigma`` is an upper factor ``L^T`` of ``Sigma = L L^T``. Clarabel runs with
    tolerances of 1e-10 (``solver_opts`` overrides), which puts the iterate within
    about 1e-7 of the exact minimiser."""
    import cvxpy as cp

    F = np.asarray(features, dtype=np.float64)
    S, A, _, d = F.shape
    zp = np.asarray(z_prev, dtype=np.float64)
    H = zp.shape[0]
    r = np.broadcast_to(np.asarray(reward, dtype=np.float64)[..., None], (H, S, A, S))
    mask = np.broadcast_to(_support(F), (H, S, A, S))
    n_blocks = H * S * A
    y = cp.Variable(n_blocks * d)
    G = _z_map(F, H)
    z = G @ y
    u = F.sum(axis=2).reshape(S * A, d)
    Y = cp.reshape(y, (n_blocks, d), order="C")
    zbar = cp.sum(cp.multiply(Y, np.tile(u, (H, 1))), axis=1)
    b0 = np.zeros(H * S)
    b0[:S] = init
    cons = [_flow_matrix(F, H) @ y == b0]
    theta_hat = np.asarray(theta_hat, dtype=np.float64)
    if sqrt_sigma is None:
        cons.append(Y == cp.reshape(zbar, (n_blocks, 1), order="C") @ theta_hat[None, :])
    else:
        Lt = np.asarray(sqrt_sigma, dtype=np.float64)
        diff = (Y - cp.reshape(zbar, (n_blocks, 1), order="C") @ theta_hat[None, :]) @ Lt.T
        cons.append(cp.norm(diff, 2, axis=1) <= float(beta) * zbar)
    objective = cp.sum(cp.rel_entr(z, np.maximum(zp[mask], Z_FLOOR))) - cp.sum(z) \
        - alpha * (r[mask] @ z)
    prob = cp.Problem(cp.Minimize(objective), cons)
    opts = dict(_TIGHT) if solver == "CLARABEL" else {}
    opts.update(solver_opts or {})
    _solve(prob, y, solver, opts)
    out = np.zeros((H, S, A, S))
    out[mask] = G @ y.value
    return np.maximum(out, 0.0)


class MirrorStep:
    """:func:`mirror_step_cvxpy` compiled once: a disciplined-parametrised cvxpy problem.

    Built for one ``features``, ``init`` and ``horizon`` (``known=True``: the kernel
    is known, ``theta`` given per call); :meth:`__call__` takes the arguments of
    :func:`mirror_step_cvxpy` from ``z_prev`` on and re-solves with new parameter
    values, skipping the per-step canonicalisation that dominates small instances.
    The objective is written ``-sum entr(z) - <c, z>`` with ``c = log z_prev + 1 +
    alpha r``, equal to ``-alpha <z, r> + KL(z || z_prev)`` up to a constant: the
    same program, so the same iterate (tested to 1e-6 against the reference).
    """

    def __init__(self, features, init, horizon: int, *, known: bool = False,
                 solver: str = "CLARABEL", solver_opts: dict | None = None):
        import cvxpy as cp

        F = np.asarray(features, dtype=np.float64)
        S, A, _, d = F.shape
        H = int(horizon)
        self.shape = (H, S, A, d)
        self.known = known
        self.solver = solver
        self.opts = dict(_TIGHT) if solver == "CLARABEL" else {}
        self.opts.update(solver_opts or {})
        self._mask = np.broadcast_to(_support(F), (H, S, A, S))
        n_blocks = H * S * A
        self._G = _z_map(F, H)
        y = cp.Variable(n_blocks * d)
        z = self._G @ y
        Y = cp.reshape(y, (n_blocks, d), order="C")
        u = np.tile(F.sum(axis=2).reshape(S * A, d), (H, 1))
        zbar = cp.sum(cp.multiply(Y, u), axis=1)
        b0 = np.zeros(H * S)
        b0[:S] = np.asarray(init, dtype=np.float64)
        cons = [_flow_matrix(F, H) @ y == b0]
        col = cp.reshape(zbar, (n_blocks, 1), order="C")
        if known:
            self._theta = cp.Parameter(d)
            cons.append(Y == col @ cp.reshape(self._theta, (1, d), order="C"))
        else:
            self._Lt = cp.Parameter((d, d))
            self._w = cp.Parameter(d)
            self._beta = cp.Parameter(nonneg=True)
            diff = Y @ self._Lt.T - col @ cp.reshape(self._w, (1, d), order="C")
            cons.append(cp.norm(diff, 2, axis=1) <= self._beta * zbar)
        self._c = cp.Parameter(self._G.shape[0])
        self._y = y
        self._prob = cp.Problem(cp.Minimize(-cp.sum(cp.entr(z)) - self._c @ z), cons)

    def __call__(self, z_prev, reward, alpha: float, theta_hat, sqrt_sigma=None,
                 beta: float | None = None) -> np.ndarray:
        H, S, A, d = self.shape
        zp = np.asarray(z_prev, dtype=np.float64)[self._mask]
        r = np.broadcast_to(np.asarray(reward, dtype=np.float64)[..., None], (H, S, A, S))
        self._c.value = np.log(np.maximum(zp, Z_FLOOR)) + 1.0 + alpha * r[self._mask]
        theta_hat = np.asarray(theta_hat, dtype=np.float64)
        if self.known:
            self._theta.value = theta_hat
        else:
            Lt = np.asarray(sqrt_sigma, dtype=np.float64)
            self._Lt.value = Lt
            self._w.value = Lt @ theta_hat
            self._beta.value = float(beta)
        _solve(self._prob, self._y, self.solver, self.opts)
        out = np.zeros((H, S, A, S))
        out[self._mask] = self._G @ self._y.value
        return np.maximum(out, 0.0)


@njit(cache=True)
def _gibbs(qp, ar, P, v, q):
    """``q_h(s,a) = qp exp(ar + P v_{h+1} - v_h(s))`` (``v`` is ``(H+1, S)``, ``v_H = 0``)."""
    H, S, A = qp.shape
    for h in range(H):
        for s in range(S):
            for a in range(A):
                c = ar[h, s, a] - v[h, s]
                for t in range(S):
                    c += P[s, a, t] * v[h + 1, t]
                q[h, s, a] = qp[h, s, a] * np.exp(c) if qp[h, s, a] > 0.0 else 0.0


@njit(cache=True)
def _dual_grad_hess(q, P, init, g, Hm):
    """Gradient and Hessian of ``G(v) = sum q(v) + <init, v_0>`` in ``v[:H]`` flattened."""
    H, S, A = q.shape
    n = H * S
    for i in range(n):
        g[i] = 0.0
        for j in range(n):
            Hm[i, j] = 0.0
    for s in range(S):
        g[s] += init[s]
    for h in range(H):
        for s in range(S):
            i = h * S + s
            for a in range(A):
                w = q[h, s, a]
                if w == 0.0:
                    continue
                g[i] -= w
                Hm[i, i] += w
                if h + 1 < H:
                    for t in range(S):
                        pt = P[s, a, t]
                        if pt == 0.0:
                            continue
                        jt = (h + 1) * S + t
                        g[jt] += w * pt
                        Hm[i, jt] -= w * pt
                        Hm[jt, i] -= w * pt
                        for t2 in range(S):
                            Hm[jt, (h + 1) * S + t2] += w * pt * P[s, a, t2]


@njit(cache=True)
def _cholesky_solve(Hm, g, ridge, x):
    """``x = -(Hm + ridge I)^{-1} g`` by a dense Cholesky factorisation in place of
    ``Hm`` (symmetric positive semi-definite; the ridge covers zero-mass states)."""
    n = g.shape[0]
    for j in range(n):
        Hm[j, j] += ridge
        acc = Hm[j, j]
        for k in range(j):
            acc -= Hm[j, k] * Hm[j, k]
        d = np.sqrt(acc) if acc > 0.0 else np.sqrt(ridge)
        Hm[j, j] = d
        for i in range(j + 1, n):
            acc = Hm[i, j]
            for k in range(j):
                acc -= Hm[i, k] * Hm[j, k]
            Hm[i, j] = acc / d
    for i in range(n):                     # L y = -g
        acc = -g[i]
        for k in range(i):
            acc -= Hm[i, k] * x[k]
        x[i] = acc / Hm[i, i]
    for i in range(n - 1, -1, -1):         # L^T x = y
        acc = x[i]
        for k in range(i + 1, n):
            acc -= Hm[k, i] * x[k]
        x[i] = acc / Hm[i, i]


def mirror_step_known(q_prev, reward, alpha: float, P, init, *, tol: float = 1e-12,
                      max_iter: int = 200, v0=None, stats: dict | None = None) -> np.ndarray:
    """Known-kernel mirror step by Newton on the dual (see the module docstring).

    ``q_prev (H, S, A)`` are the state-action occupancies ``sum_s' z_prev``; returns
    ``z (H, S, A, S) = q P`` whose flow residual is at most ``tol`` (``RuntimeError``
    if Newton has not got there in ``max_iter`` steps). ``v0 (H + 1, S)`` warm-starts
    the multipliers (updated in place with the solution when given);
    ``stats`` receives the Newton iteration count. Equal to
    ``mirror_step_cvxpy(..., sqrt_sigma=None)`` up to the conic solver's tolerance.
    """
    P = _kernel(P)
    qp = np.ascontiguousarray(q_prev, dtype=np.float64)
    H, S, A = qp.shape
    ar = alpha * as_stage_rewards(reward, H, S, A)
    init = np.ascontiguousarray(init, dtype=np.float64)
    n = H * S
    v = np.zeros((H + 1, S)) if v0 is None else np.array(v0, dtype=np.float64)
    q = np.empty_like(qp)
    g = np.empty(n)
    Hm = np.empty((n, n))
    step = np.empty(n)

    def objective(vv):
        _gibbs(qp, ar, P, vv, q)
        return q.sum() + init @ vv[0]

    f = objective(v)
    it = 0
    for it in range(max_iter):  # noqa: B007 - the count is reported
        _dual_grad_hess(q, P, init, g, Hm)
        if np.abs(g).max() <= tol:
            break
        # Zero-mass states have zero rows; a tiny ridge keeps the system solvable.
        _cholesky_solve(Hm, g, 1e-14, step)
        t = 1.0
        dec = g @ step
        while True:
            vt = v.copy()
            vt[:H] += t * step.reshape(H, S)
            ft = objective(vt)
            # Near the optimum the decrease is below rounding: take the full step.
            if ft <= f + 0.25 * t * dec or -dec < 1e-14 or t < 1e-12:
                break
            t *= 0.5
        v, f = vt, ft
    else:
        _dual_grad_hess(q, P, init, g, Hm)
        if np.abs(g).max() > tol:
            raise RuntimeError(f"mirror_step_known: Newton stopped at flow residual "
                               f"{np.abs(g).max():.3g} > tol = {tol:g}")
    _gibbs(qp, ar, P, v, q)
    if v0 is not None:
        v0[...] = v
    if stats is not None:
        stats["iterations"] = it
    return q[..., None] * P[None]

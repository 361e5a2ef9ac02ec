"""Point-based value iteration (PBVI) for discounted POMDPs, with certified bounds.

Lower bound (Pineau, Gordon & Thrun 2003). Alpha-vectors start at the single
vector ``min R / (1 - gamma)``, the value of collecting the worst reward forever,
which no policy does worse than. The point-based backup at a belief ``b``,

    alpha_b = R[:, a*] + gamma * sum_o argmax_{g in G_{a*,o}} g . b,
    G_{a,o} = { T[:, a, :] (O[a, :, o] * alpha) : alpha in Gamma },

builds the value of "play ``a*``, then follow the plan of the chosen vector", so
every vector is the value of some policy and ``max_alpha alpha . b <= V*(b)`` for
every belief. If a backup would lower the value at its own point the old vector is
kept there (Perseus' rule, Spaan & Vlassis 2005), so the bound at the belief set
never decreases. The belief set grows by stochastic simulation with explorative
actions (one sampled successor per action, keep the one farthest in L1 from the
set) or by the greedy farthest successor over all ``(a, o)`` (Pineau et al.).

Upper bounds (Hauskrecht 2000), all ``>= V*``:

* QMDP: ``Q(s,a) = R + gamma sum_{s'} T(s,a,s') max_{a'} Q(s',a')``;
* FIB (fast informed bound): ``Q(s,a) = R + gamma sum_o max_{a'} sum_{s'}
  T(s,a,s') O(a,s',o) Q(s',a')``; ``V*(b) <= max_a b . Q_FIB <= max_a b . Q_QMDP``.
  Both operators are monotone and shift constants by ``gamma``, so after
  ``Q' = F Q`` with ``delta = Q' - Q``,
  ``Q' + gamma/(1-gamma) min delta <= Q_F <= Q' + gamma/(1-gamma) max delta``; the
  returned ``q`` is the upper end, iterated until the two ends are within ``tol``;
* sawtooth (Hauskrecht 2000; Smith & Simmons 2004): upper values ``v_i`` at the
  belief points interpolated by
  ``U(b) = min(b . c, min_i [b . c - min_{s: b_i(s)>0} (b(s)/b_i(s)) (b_i . c - v_i)])``
  with corner values ``c_s = max_a Q_FIB(s, a)``. ``V*`` is convex, so ``U >= V*``;
  the points are improved by Gauss-Seidel Bellman backups
  ``v_i <- min(v_i, max_a [b_i . R_a + gamma sum_o Pr(o|b_i,a) U(b'_{a,o})])``, which stay
  above ``V*`` by monotonicity.

``upper(b) = min(sawtooth(b), max_a b . min(Q_FIB, Q_QMDP))``.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from mdplab.kernels.pomdp import (
    point_backup,
    point_backup_parallel,
    sawtooth_sweep,
    sawtooth_values,
)
from mdplab.models._validation import check_int
from mdplab.models.pomdp import POMDP
from mdplab.planning.pomdp_exact import check_beliefs, check_discount, check_pomdp

__all__ = ["PBVIResult", "QValueBound", "fib_bound", "pbvi", "qmdp_bound"]

EXPANSIONS = ("ssea", "farthest", None)
_PARALLEL_WORK = 2_000_000
"""Backups with more multiply-adds than this run on all threads."""
_NEW_POINT_DIST = 1e-7
"""Smallest L1 distance from the set for a successor belief to count as new."""


# ------------------------------------------------------------------ Q-vector bounds
@dataclass(frozen=True)
class QValueBound:
    """A certified upper bound ``V*(b) <= max_a b . q[:, a]``.

    ``q`` is the upper end of the certificate, at most ``error_bound`` above the
    operator's fixed point (QMDP or FIB) everywhere.
    """

    q: np.ndarray
    method: str
    discount: float
    iterations: int
    error_bound: float
    converged: bool

    def value(self, belief):
        """``max_a b . q[:, a]`` (float, or ``(N,)`` for a batch of beliefs)."""
        b, single = check_beliefs(belief, self.q.shape[0])
        v = np.max(b @ self.q, axis=1)
        return float(v[0]) if single else v


def _discount_of(pomdp: POMDP, discount, fn: str) -> float:
    if discount is None:
        if pomdp.gamma is None:
            raise ValueError(
                f"{fn} needs a discount: {pomdp.name} has horizon={pomdp.horizon}; pass discount="
            )
        return pomdp.gamma
    return check_discount(discount, allow_one=False)


def _check_positive(x, name: str, integer: bool = False):
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(x, bool) or not isinstance(x, kind) or not 0 < x < np.inf:
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}; got {x!r}")
    return int(x) if integer else float(x)


def _certified_fixed_point(step, Q, discount, tol, max_iter):
    c = discount / (1.0 - discount)
    for it in range(1, max_iter + 1):
        Qn = step(Q)
        delta = Qn - Q
        hi, lo = float(delta.max()), float(delta.min())
        if c * (hi - lo) <= tol:
            return Qn + c * hi, it, c * (hi - lo), True
        Q = Qn
    return Qn + c * hi, max_iter, c * (hi - lo), False


def qmdp_bound(pomdp: POMDP, *, discount=None, tol: float = 1e-8, max_iter: int = 100_000):
    """The QMDP upper bound (the underlying MDP's optimal Q), certified to ``tol``."""
    check_pomdp(pomdp, "qmdp_bound")
    d = _discount_of(pomdp, discount, "qmdp_bound")
    tol = _check_positive(tol, "tol")
    max_iter = _check_positive(max_iter, "max_iter", integer=True)
    T, R = pomdp.T, pomdp.R

    def step(Q):
        return R + d * np.einsum("sat,t->sa", T, Q.max(axis=1))

    Q0 = np.full_like(R, R.max() / (1.0 - d))
    q, it, err, ok = _certified_fixed_point(step, Q0, d, tol, max_iter)
    q.setflags(write=False)
    return QValueBound(q, "qmdp", d, it, err, ok)


def fib_bound(pomdp: POMDP, *, discount=None, tol: float = 1e-8, max_iter: int = 100_000):
    """The fast informed bound (Hauskrecht 2000), certified to ``tol``."""
    check_pomdp(pomdp, "fib_bound")
    d = _discount_of(pomdp, discount, "fib_bound")
    tol = _check_positive(tol, "tol")
    max_iter = _check_positive(max_iter, "max_iter", integer=True)
    R = pomdp.R
    M = np.einsum("sat,ato->saot", pomdp.T, pomdp.O)  # Pr(s', o | s, a)

    def step(Q):
        return R + d * np.einsum("saot,tb->saob", M, Q).max(axis=3).sum(axis=2)

    Q0 = np.full_like(R, R.max() / (1.0 - d))
    q, it, err, ok = _certified_fixed_point(step, Q0, d, tol, max_iter)
    q.setflags(write=False)
    return QValueBound(q, "fib", d, it, err, ok)


# ------------------------------------------------------------------ result
@dataclass(frozen=True)
class PBVIResult:
    """Bounds ``lower(b) <= V*(b) <= upper(b)`` from :func:`pbvi`.

    Attributes
    ----------
    alphas : array (n, S), actions : int array (n,)
        The lower-bound vectors and the first action of each one's plan.
    beliefs : array (m, S)
        The final belief set (``b0`` first).
    upper_points, upper_values, corner_values
        The sawtooth upper bound's points, values and corner values.
    qmdp, fib : QValueBound
    controller_actions, controller_successors : int arrays (n,), (n, O)
        A policy graph on the vectors (see :meth:`controller`).
    history : tuple of dicts
        Per expansion round: ``n_beliefs``, ``n_alphas``, ``lower_b0``, ``upper_b0``,
        ``gap_b0``, ``max_gap`` (over the belief set), ``sweeps`` / ``upper_sweeps``
        (backup sweeps of each bound), ``converged`` (both stopped by ``tol``, not
        ``max_iter``), ``time_s``.
    discount, iterations (lower-bound sweeps in all), time_s.
    """

    alphas: np.ndarray
    actions: np.ndarray
    beliefs: np.ndarray
    upper_points: np.ndarray
    upper_values: np.ndarray
    corner_values: np.ndarray
    qmdp: QValueBound
    fib: QValueBound
    history: tuple
    controller_actions: np.ndarray
    controller_successors: np.ndarray
    discount: float
    iterations: int
    time_s: float
    pomdp: POMDP = field(repr=False)

    def _b(self, belief):
        return check_beliefs(self.pomdp.b0 if belief is None else belief, self.pomdp.S)

    def lower(self, belief=None):
        """Certified lower bound ``max_i alpha_i . b`` (default ``b0``)."""
        b, single = self._b(belief)
        v = np.max(b @ self.alphas.T, axis=1)
        return float(v[0]) if single else v

    def upper(self, belief=None):
        """Certified upper bound ``min(sawtooth(b), FIB(b), QMDP(b))``."""
        b, single = self._b(belief)
        q = np.minimum(self.fib.q, self.qmdp.q)
        v = sawtooth_values(b, self.corner_values, self.upper_points, self.upper_values, q)
        return float(v[0]) if single else v

    def gap(self, belief=None):
        """``upper(b) - lower(b)``."""
        return self.upper(belief) - self.lower(belief)

    def action(self, belief=None):
        """The first action of the best lower-bound vector at ``b``."""
        b, single = self._b(belief)
        act = self.actions[np.argmax(b @ self.alphas.T, axis=1)]
        return int(act[0]) if single else act

    def controller(self, belief=None):
        """The PBVI policy as a finite-state controller on the final vectors.

        Node ``i`` plays the action of one more point-based backup at the belief that
        produced vector ``i`` and, on observation ``o``, moves to the vector that
        backup chose for ``o``. Starts at the best vector at ``belief`` (default
        ``b0``). It is an executable policy, so its value is a lower bound of ``V*``.
        """
        from mdplab.planning.pomdp import FiniteStateController  # avoids an import cycle

        b, _ = self._b(belief)
        start = int(np.argmax(self.alphas @ b[0]))
        return FiniteStateController(
            self.controller_actions, self.controller_successors, initial=start
        )

    def policy_value(self, belief=None) -> float:
        """Exact discounted value of :meth:`controller` from ``belief`` (linear solve)."""
        from mdplab.planning.pomdp import evaluate_controller  # avoids an import cycle

        model = self.pomdp
        if model.horizon is not None or model.gamma != self.discount:
            model = model.replace(gamma=self.discount)
        b, _ = self._b(belief)
        return evaluate_controller(model, self.controller(b[0])).value(b[0])

    @property
    def gap_b0(self) -> float:
        return self.gap(self.pomdp.b0)

    @property
    def max_gap(self) -> float:
        """Largest gap over the belief set."""
        return float(np.max(self.gap(self.beliefs)))


# ------------------------------------------------------------------ PBVI
def _projections(pomdp: POMDP, alphas: np.ndarray) -> np.ndarray:
    """``G[a, o, i, s] = sum_{s'} T[s, a, s'] O[a, s', o] alphas[i, s']``."""
    weighted = pomdp.O.transpose(0, 2, 1)[:, :, None, :] * alphas[None, None]
    return np.ascontiguousarray(np.einsum("sat,aoit->aois", pomdp.T, weighted))


def _successors(pomdp: POMDP, b: np.ndarray):
    """All ``(b'_{a,o}, Pr(o | b, a))`` with positive probability, as arrays."""
    pred = np.einsum("s,sat->at", b, pomdp.T)  # (A, S')
    joint = pred[:, :, None] * pomdp.O  # (A, S', O)
    p = joint.sum(axis=1)  # (A, O)
    a_i, o_i = np.nonzero(p > 0)
    nxt = joint[a_i, :, o_i] / p[a_i, o_i][:, None]
    return nxt, a_i


def _expand(pomdp: POMDP, B: np.ndarray, rule: str, rng, limit: int) -> np.ndarray:
    """New beliefs: per point of ``B`` the successor farthest (L1) from the set."""
    points = list(B)
    for b in B:
        if len(points) >= limit:
            break
        if rule == "ssea":
            cands = []
            for a in range(pomdp.A):
                s = rng.choice(pomdp.S, p=b)
                s2 = rng.choice(pomdp.S, p=pomdp.T[s, a])
                o = rng.choice(pomdp.n_observations, p=pomdp.O[a, s2])
                nxt = pomdp.T[:, a, :].T @ b * pomdp.O[a, :, o]
                cands.append(nxt / nxt.sum())
            cands = np.array(cands)
        else:
            cands, _ = _successors(pomdp, b)
        P = np.array(points)
        dist = np.abs(cands[:, None, :] - P[None]).sum(axis=2).min(axis=1)
        j = int(np.argmax(dist))
        if dist[j] > _NEW_POINT_DIST:
            points.append(cands[j])
    return np.array(points)


def pbvi(
    pomdp: POMDP,
    *,
    discount: float | None = None,
    beliefs=None,
    max_beliefs: int = 64,
    expansions: int | None = None,
    expansion: str | None = "ssea",
    max_iter: int = 2000,
    tol: float = 1e-7,
    bound_tol: float = 1e-8,
    seed: int = 0,
) -> PBVIResult:
    """Point-based value iteration with certified lower and upper bounds.

    Parameters
    ----------
    pomdp : POMDP
    discount : float, optional
        In ``[0, 1)``; defaults to ``pomdp.gamma`` (required for a finite-horizon model).
    beliefs : array (m, S), optional
        Initial belief set; default ``[b0]``. ``b0`` is always put first.
    max_beliefs : int
        The belief set stops growing at this size.
    expansions : int, optional
        Number of expansion rounds (each adds at most one successor per point, so
        at most doubles the set); default: until ``max_beliefs`` or no new belief.
    expansion : {"ssea", "farthest", None}
        Stochastic simulation with explorative actions (seeded), the greedy farthest
        successor over all ``(a, o)``, or a fixed belief set.
    max_iter : int
        Backup sweeps per round, for each bound.
    tol : float
        A round's sweeps stop once no point's bound moves by more than ``tol``.
    bound_tol : float
        Certified accuracy of the QMDP and FIB fixed points.
    seed : int
        Seeds the stochastic expansion; equal seeds give identical results.
    """
    check_pomdp(pomdp, "pbvi")
    d = _discount_of(pomdp, discount, "pbvi")
    max_beliefs = _check_positive(max_beliefs, "max_beliefs", integer=True)
    max_iter = _check_positive(max_iter, "max_iter", integer=True)
    tol = _check_positive(tol, "tol")
    bound_tol = _check_positive(bound_tol, "bound_tol")
    if expansion not in EXPANSIONS:
        raise ValueError(f"expansion must be one of {EXPANSIONS}; got {expansion!r}")
    if expansions is not None:
        expansions = check_int(expansions, "expansions", lo=0)
    seed = check_int(seed, "seed")
    S = pomdp.S
    B = pomdp.b0[None].copy()
    if beliefs is not None:
        extra, _ = check_beliefs(beliefs, S, "beliefs")
        keep = np.abs(extra - pomdp.b0).sum(axis=1) > 0
        B = np.concatenate([B, extra[keep]])
    rng = np.random.default_rng(int(seed))
    t_start = time.perf_counter()
    qm = qmdp_bound(pomdp, discount=d, tol=bound_tol)
    fb = fib_bound(pomdp, discount=d, tol=bound_tol)
    q_up = np.minimum(qm.q, fb.q)
    corner = q_up.max(axis=1)
    T, O, R = pomdp.T, pomdp.O, pomdp.R

    alphas = np.full((1, S), R.min() / (1.0 - d))
    acts = np.zeros(1, dtype=np.int64)
    up_vals = sawtooth_values(B, corner, np.empty((0, S)), np.empty(0), q_up)
    history = []
    total_sweeps = 0
    rounds = 0
    while True:
        t0 = time.perf_counter()
        m = len(B)
        new = np.empty((m, S))
        new_acts = np.empty(m, dtype=np.int64)
        succ = np.empty((m, pomdp.n_observations), dtype=np.int64)
        vals = np.empty(m)
        sweeps = 0
        for _ in range(max_iter):
            sweeps += 1
            G = _projections(pomdp, alphas)
            backup = point_backup_parallel if m * G.size > _PARALLEL_WORK else point_backup
            backup(R, G, d, B, new, new_acts, succ, vals)
            old_vals = B @ alphas.T
            old_arg = np.argmax(old_vals, axis=1)
            old = old_vals[np.arange(m), old_arg]
            worse = vals < old
            new[worse] = alphas[old_arg[worse]]
            new_acts[worse] = acts[old_arg[worse]]
            moved = float(np.max(np.maximum(vals, old) - old))
            alphas, first = np.unique(new, axis=0, return_index=True)
            acts = new_acts[first]
            sources = B[first]
            if moved <= tol:
                break
        total_sweeps += sweeps
        points = np.ascontiguousarray(B)
        upper_sweeps = 0
        for _ in range(max_iter):
            upper_sweeps += 1
            dropped = sawtooth_sweep(T, O, R, d, corner, points, up_vals, q_up)
            if dropped <= tol:
                break
        lower = np.max(B @ alphas.T, axis=1)
        upper = sawtooth_values(B, corner, points, up_vals, q_up)
        history.append(
            dict(
                n_beliefs=m,
                n_alphas=len(alphas),
                lower_b0=float(lower[0]),
                upper_b0=float(upper[0]),
                gap_b0=float(upper[0] - lower[0]),
                max_gap=float(np.max(upper - lower)),
                sweeps=sweeps,
                upper_sweeps=upper_sweeps,
                converged=bool(moved <= tol and dropped <= tol),
                time_s=time.perf_counter() - t0,
            )
        )
        done = expansion is None or m >= max_beliefs
        if expansions is not None and rounds >= expansions:
            done = True
        if done:
            break
        B = _expand(pomdp, B, expansion, rng, max_beliefs)
        rounds += 1
        if len(B) == m:
            break
        # New points start at the current upper bound there.
        fresh = sawtooth_values(B[m:], corner, points, up_vals, q_up)
        up_vals = np.concatenate([up_vals, fresh])
    # A policy graph on the final vectors: node i replays the backup at the belief
    # that produced it, with successors among the final vectors.
    n = len(alphas)
    ctrl_acts = np.empty(n, dtype=np.int64)
    ctrl_next = np.empty((n, pomdp.n_observations), dtype=np.int64)
    point_backup(
        R,
        _projections(pomdp, alphas),
        d,
        np.ascontiguousarray(sources),
        np.empty((n, S)),
        ctrl_acts,
        ctrl_next,
        np.empty(n),
    )
    for arr in (alphas, acts, B, up_vals, corner, ctrl_acts, ctrl_next):
        arr.setflags(write=False)
    return PBVIResult(
        alphas=alphas,
        actions=acts,
        beliefs=B,
        upper_points=B,
        upper_values=up_vals,
        corner_values=corner,
        qmdp=qm,
        fib=fb,
        history=tuple(history),
        controller_actions=ctrl_acts,
        controller_successors=ctrl_next,
        discount=d,
        iterations=total_sweeps,
        time_s=time.perf_counter() - t_start,
        pomdp=pomdp,
    )

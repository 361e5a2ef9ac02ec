"""Exact finite-horizon POMDP planning: alpha-vector value iteration with incremental pruning.

With ``h`` indexing stages (``H - h`` actions left) the optimal value from belief
``b`` is piecewise linear and convex (Sondik 1971),
``V_h(b) = max_{alpha in Gamma_h} alpha . b`` with ``Gamma_H = {0}``. One exact
backup builds, for every action ``a`` and observation ``o``, the projections

    Gamma_{a,o} = { R[:, a] / |O| + discount * T[:, a, :] (O[a, :, o] * alpha') :
                    alpha' in Gamma_{h+1} },

then ``Gamma_h = prune( union_a  Gamma_{a,0} (+) Gamma_{a,1} (+) ... )`` where
``(+)`` is the cross-sum ``{x + y}``. *Incremental pruning* (Cassandra, Littman &
Zhang 1997) prunes every projection set and every pairwise cross-sum as it is
formed: ``prune(prune(X (+) Y) (+) Z) = prune(X (+) Y (+) Z)`` because the max of a
cross-sum is the sum of the maxes, so the intermediate sets stay small.

Pruning keeps a vector iff some belief sees it beat every other vector by more
than ``tol``:

1. pointwise filter: drop vectors weakly dominated componentwise (exact duplicates
   too; candidates are sorted lexicographically descending, which is the tie-break);
2. Lark's filter (White 1991): grow a kept set ``W``, seeded with the best vector at
   the first corner and at sample beliefs where one vector wins by more than
   ``tol``. For each other candidate ``phi``, find the belief maximising
   ``phi . b - max_{w in W} w . b`` -- an LP (``scipy.optimize.linprog``, HiGHS) in
   general; for two states the maximum sits at ``0``, ``1`` or a kink of ``max_W``
   and is found exactly (:func:`mdplab.kernels.pomdp.interval_prune`). If the margin
   exceeds ``tol`` the best *remaining* candidate at that witness (first in
   lexicographic order on ties) joins ``W``; otherwise ``phi`` is dropped.

A dropped vector is below the final kept set plus ``tol`` everywhere, so each prune
changes the value function by at most ``tol`` (at most ``2 |O| H tol`` over a whole
solve); the LP route re-checks every LP witness against the exact margin at the
returned belief, so HiGHS' own tolerances never admit a vector.

Every kept vector stores the index of its successor in ``Gamma_{h+1}`` per
observation, so the vectors of stage 0 are the values of explicit conditional
plans (:meth:`POMDPPlanningResult.controller`).
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from mdplab.kernels.pomdp import interval_prune, pointwise_filter
from mdplab.models._validation import (
    ROW_SUM_TOL,
    as_real_array,
    check_horizon,
    check_real,
)
from mdplab.models.pomdp import POMDP

__all__ = ["POMDPPlanningResult", "pomdp_value_iteration", "prune_alpha_vectors"]

PRUNE_METHODS = ("incremental", "batch", None)
WITNESS_METHODS = ("auto", "lp", "interval")
DEFAULT_MAX_VECTORS = 200_000
"""Largest set (a stage or an intermediate cross-sum) held before raising."""

_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
_N_SAMPLE_BELIEFS = 64


# ------------------------------------------------------------------ shared checks
def check_pomdp(pomdp, fn: str) -> None:
    if not isinstance(pomdp, POMDP):
        raise TypeError(f"{fn} needs a POMDP; got {type(pomdp).__name__}")


def check_discount(discount, *, allow_one: bool) -> float:
    """A real discount in ``[0, 1]`` (``[0, 1)`` when ``allow_one`` is False)."""
    return check_real(discount, "discount", lo=0.0, hi=1.0, hi_open=not allow_one)


def check_beliefs(beliefs, S: int, name: str = "belief") -> tuple[np.ndarray, bool]:
    """``(array (N, S), single)``: one belief ``(S,)`` or a batch ``(N, S)`` of them."""
    arr = as_real_array(beliefs, name)
    single = arr.ndim == 1
    if single:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != S or arr.shape[0] == 0:
        raise ValueError(f"{name} must have shape ({S},) or (N, {S}); got {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i, s = np.argwhere(bad)[0]
        where = f"{name}[{s}]" if single else f"{name}[{i}, {s}]"
        raise ValueError(f"{where} = {arr[i, s]:.6g} is not a probability")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if off.any():
        i = int(np.argmax(off))
        where = name if single else f"{name}[{i}]"
        raise ValueError(f"{where} sums to {sums[i]:.12g}; a belief must sum to 1")
    return arr, single


def _check_tol(tol) -> float:
    return check_real(tol, "tol", lo=0.0)


# ------------------------------------------------------------------ pruning
def _lex_desc(V: np.ndarray) -> np.ndarray:
    """Row order sorting ``V`` lexicographically descending (column 0 first)."""
    return np.lexsort(V.T[::-1])[::-1]


def _lp_margin(phi: np.ndarray, W: np.ndarray):
    """``max_b min_{w in W} (phi - w) . b`` over the simplex and its maximiser, or
    ``(None, None)`` if HiGHS reports a failure (numerical trouble)."""
    k, S = W.shape
    A_ub = np.empty((k, S + 1))
    A_ub[:, :S] = W - phi
    A_ub[:, S] = 1.0
    A_eq = np.ones((1, S + 1))
    A_eq[0, S] = 0.0
    cost = np.zeros(S + 1)
    cost[S] = -1.0
    res = linprog(
        cost,
        A_ub=A_ub,
        b_ub=np.zeros(k),
        A_eq=A_eq,
        b_eq=[1.0],
        bounds=[(0.0, None)] * S + [(None, None)],
        method="highs",
        options=_LP_OPTIONS,
    )
    if res.status != 0 or res.x is None:  # pragma: no cover - a bounded feasible LP
        return None, None
    b = np.clip(res.x[:S], 0.0, None)
    b /= b.sum()
    # The exact margin at the returned belief, not the solver's objective.
    return float(np.min((W - phi) @ -b)), b


def _lark_lp(F: np.ndarray, tol: float, samples: np.ndarray, stats: dict):
    """Lark's filter with LP witnesses on ``F`` (sorted lexicographically descending)."""
    n, S = F.shape
    remaining = np.ones(n, dtype=bool)
    kept: list[int] = [0]  # F[0] is the best vector at the corner e_0
    witnesses = [np.eye(S)[0]]
    remaining[0] = False
    if n > 1 and samples.shape[0]:
        vals = F @ samples.T
        best = np.argmax(vals, axis=0)
        top = vals[best, np.arange(vals.shape[1])]
        vals[best, np.arange(vals.shape[1])] = -np.inf
        clear = top - vals.max(axis=0) > tol  # a strict winner is in every kept set
        for j in np.flatnonzero(clear):
            i = best[j]
            if remaining[i]:
                remaining[i] = False
                kept.append(int(i))
                witnesses.append(samples[j])
    for i in range(n):
        while remaining[i]:
            margin, b = _lp_margin(F[i], F[kept])
            stats["lps"] += 1
            if margin is None:  # pragma: no cover - keeping a vector is always safe
                stats["lp_failures"] = stats.get("lp_failures", 0) + 1
                remaining[i] = False
                kept.append(i)
                witnesses.append(np.full(S, np.nan))
            elif margin > tol:
                cand = np.flatnonzero(remaining)
                j = int(cand[np.argmax(F[cand] @ b)])
                remaining[j] = False
                kept.append(j)
                witnesses.append(b)
            else:
                remaining[i] = False
    return np.array(kept, dtype=np.int64), np.array(witnesses)


def _prune(V: np.ndarray, tol: float, witness: str, samples: np.ndarray, stats: dict):
    """Indices of the kept rows of ``V`` (lexicographic order) and a witness belief each."""
    S = V.shape[1]
    order = _lex_desc(V)
    cand = order[pointwise_filter(np.ascontiguousarray(V[order]))]
    F = np.ascontiguousarray(V[cand])
    if S == 1 or F.shape[0] == 1:
        return cand[:1], np.eye(S)[:1]
    if witness == "interval":
        idx, p = interval_prune(F, tol)
        wit = np.column_stack([1.0 - p, p])
    else:
        idx, wit = _lark_lp(F, tol, samples, stats)
        sort = np.argsort(idx, kind="stable")
        idx, wit = idx[sort], wit[sort]
    return cand[idx], wit


def prune_alpha_vectors(vectors, *, tol: float = 1e-9, witness: str = "auto"):
    """The parsimonious subset of a set of alpha-vectors.

    Parameters
    ----------
    vectors : array (n, S)
    tol : float
        A vector is kept only if it beats all kept ones by more than ``tol``
        somewhere; each dropped vector is below the kept set plus ``tol`` everywhere.
    witness : {"auto", "lp", "interval"}
        Witness search: LP (any ``S``), or the exact interval search (``S = 2``
        only); ``"auto"`` picks the interval search when ``S = 2``.

    Returns
    -------
    (kept, witnesses) : int array of row indices (lexicographically descending
        order) and ``(len(kept), S)`` beliefs at which each was added.
    """
    V = as_real_array(vectors, "vectors")
    if V.ndim != 2 or V.shape[0] == 0 or V.shape[1] == 0:
        raise ValueError(f"vectors must be a non-empty (n, S) array; got shape {V.shape}")
    if not np.isfinite(V).all():
        raise ValueError("vectors must be finite")
    tol = _check_tol(tol)
    method = _resolve_witness(witness, V.shape[1])
    return _prune(V, tol, method, _sample_beliefs(V.shape[1]), {"lps": 0})


def _resolve_witness(witness, S: int) -> str:
    if witness not in WITNESS_METHODS:
        raise ValueError(f"witness must be one of {WITNESS_METHODS}; got {witness!r}")
    if witness == "interval" and S != 2:
        raise ValueError(f"witness='interval' needs a two-state model; this one has S={S}")
    if witness == "auto":
        return "interval" if S == 2 else "lp"
    return witness


def _sample_beliefs(S: int) -> np.ndarray:
    """Corners, the centre and fixed Dirichlet(1) points: seeds for Lark's filter."""
    rng = np.random.default_rng(0)
    parts = [np.eye(S), np.full((1, S), 1.0 / S), rng.dirichlet(np.ones(S), _N_SAMPLE_BELIEFS)]
    return np.concatenate(parts)


# ------------------------------------------------------------------ result
@dataclass(frozen=True)
class POMDPPlanningResult:
    """Alpha-vectors of every stage of an exact finite-horizon solution.

    Stage ``h`` has ``H - h`` actions left; ``V_h(b) = max_i stage_alphas[h][i] . b``
    and ``stage_alphas[H]`` is the single zero vector.

    Attributes
    ----------
    alphas : array (n, S)
        ``stage_alphas[0]``: the optimal value at the first step is ``max_i alphas[i] . b``.
    actions : int array (n,)
        The first action of the conditional plan of each vector of ``alphas``.
    stage_alphas, stage_actions : tuples of length ``H + 1``
        Per-stage vectors and actions (``stage_actions[H] = [-1]``).
    stage_successors : tuple of int arrays ``(n_h, O)``
        ``stage_successors[h][i, o]``: the vector of stage ``h + 1`` whose plan
        vector ``i`` follows after observing ``o`` (``-1`` at stage ``H``).
    stage_witnesses : tuple of arrays ``(n_h, S)``
        A belief at which each vector was admitted by the last prune (NaN when
        ``prune=None``).
    n_vectors : int array (H + 1,)
    horizon, discount, prune, witness, tol
    time_s : float
        Wall time; ``stage_time_s (H,)`` per backup (index = stage).
    info : dict
        ``lps`` (witness LPs solved), ``largest_set`` (biggest set formed),
        ``lp_failures`` (only if HiGHS failed on an LP; that vector was kept).
    """

    stage_alphas: tuple
    stage_actions: tuple
    stage_successors: tuple
    stage_witnesses: tuple
    horizon: int
    discount: float
    prune: str | None
    witness: str
    tol: float
    time_s: float
    stage_time_s: np.ndarray
    pomdp: POMDP = field(repr=False)
    info: dict = field(default_factory=dict, repr=False)

    @property
    def alphas(self) -> np.ndarray:
        return self.stage_alphas[0]

    @property
    def actions(self) -> np.ndarray:
        return self.stage_actions[0]

    @property
    def n_vectors(self) -> np.ndarray:
        return np.array([len(a) for a in self.stage_alphas], dtype=np.int64)

    def _stage(self, stage) -> int:
        if isinstance(stage, bool) or not isinstance(stage, numbers.Integral):
            raise ValueError(f"stage must be an integer in [0, {self.horizon}]; got {stage!r}")
        if not 0 <= stage <= self.horizon:
            raise ValueError(f"stage must be in [0, {self.horizon}]; got {stage}")
        return int(stage)

    def _best(self, belief, stage):
        h = self._stage(stage)
        b, single = check_beliefs(belief, self.pomdp.S)
        vals = b @ self.stage_alphas[h].T
        arg = np.argmax(vals, axis=1)
        return h, vals[np.arange(len(b)), arg], arg, single

    def value(self, belief=None, stage: int = 0):
        """``max_i alpha_i . b`` at ``stage`` (a float, or ``(N,)`` for ``(N, S)`` beliefs);
        ``belief`` defaults to the model's ``b0``."""
        _, v, _, single = self._best(self.pomdp.b0 if belief is None else belief, stage)
        return float(v[0]) if single else v

    def action(self, belief=None, stage: int = 0):
        """The action of the maximising vector (first on ties); ``-1`` at stage ``H``."""
        h, _, arg, single = self._best(self.pomdp.b0 if belief is None else belief, stage)
        act = self.stage_actions[h][arg]
        return int(act[0]) if single else act

    @property
    def initial_value(self) -> float:
        """``value(b0)``."""
        return self.value(self.pomdp.b0)

    def greedy_policy(self, belief, stage: int) -> int:
        """The belief-greedy policy: act as the best vector of ``stage`` at ``belief``."""
        return self.action(belief, stage)

    def policy_value(self, belief=None, *, max_nodes: int = 1_000_000) -> float:
        """Exact value of the belief-greedy policy by recursion over reachable beliefs.

        Equals :meth:`value` (the policy is optimal); see
        :func:`mdplab.planning.pomdp.evaluate_belief_policy`.
        """
        from mdplab.planning.pomdp import evaluate_belief_policy  # avoids an import cycle

        return evaluate_belief_policy(
            self.pomdp,
            self.greedy_policy,
            horizon=self.horizon,
            discount=self.discount,
            belief=belief,
            max_nodes=max_nodes,
        )

    def controller(self, belief=None):
        """The plans of all stages as one finite-state controller.

        Node ``offset[h] + i`` plays ``stage_actions[h][i]`` and moves to node
        ``offset[h+1] + stage_successors[h][i, o]`` on ``o``; stage-``H`` nodes are
        idle (action 0, self-loop) and never act within the horizon. The initial
        node is the best vector of stage 0 at ``belief`` (default ``b0``), so
        evaluating it for ``horizon`` steps gives ``values[offset[0] + i] = alphas[i]``.
        """
        from mdplab.planning.pomdp import FiniteStateController  # avoids an import cycle

        offsets = np.concatenate([[0], np.cumsum(self.n_vectors)])
        N = int(offsets[-1])
        n_obs = self.pomdp.n_observations
        actions = np.zeros(N, dtype=np.int64)
        nxt = np.empty((N, n_obs), dtype=np.int64)
        for h in range(self.horizon + 1):
            sl = slice(offsets[h], offsets[h + 1])
            if h < self.horizon:
                actions[sl] = self.stage_actions[h]
                nxt[sl] = self.stage_successors[h] + offsets[h + 1]
            else:
                nxt[sl] = np.arange(offsets[h], offsets[h + 1])[:, None]
        _, _, arg, _ = self._best(self.pomdp.b0 if belief is None else belief, 0)
        return FiniteStateController(actions, nxt, initial=int(arg[0]))


# ------------------------------------------------------------------ solver
def _projections(pomdp: POMDP, nxt: np.ndarray, discount: float) -> np.ndarray:
    """``G[a, o, i] = R[:, a] / |O| + discount * T[:, a, :] @ (O[a, :, o] * nxt[i])``."""
    n_obs = pomdp.n_observations
    weighted = pomdp.O.transpose(0, 2, 1)[:, :, None, :] * nxt[None, None]  # (A, O, n, S')
    G = np.einsum("sat,aoit->aois", pomdp.T, weighted) * discount
    G += (pomdp.R.T / n_obs)[:, None, None, :]
    return G


def _cross_sum(G_a, prune_rows, prune, max_vectors, h, a):
    """``G_a[0] (+) G_a[1] (+) ...`` for one action, with the successor index of each
    term; pruned after every pairwise sum (incremental) or once at the end (batch)."""
    S = G_a.shape[2]
    parts = []
    for X in G_a:
        keep = prune_rows(X) if prune == "incremental" else np.arange(len(X))
        parts.append((X[keep], keep))
    acc, acc_succ = parts[0][0], parts[0][1][:, None]
    for X, idx in parts[1:]:
        _guard(len(acc) * len(X), max_vectors, h, f"the cross-sum for action {a}")
        acc = (acc[:, None, :] + X[None, :, :]).reshape(-1, S)
        acc_succ = np.concatenate(
            [np.repeat(acc_succ, len(X), axis=0), np.tile(idx, len(acc_succ))[:, None]], axis=1
        )
        if prune == "incremental":
            keep = prune_rows(acc)
            acc, acc_succ = acc[keep], acc_succ[keep]
    if prune == "batch":
        keep = prune_rows(acc)
        acc, acc_succ = acc[keep], acc_succ[keep]
    return acc, acc_succ


def _guard(size: int, limit: int, h: int, what: str) -> None:
    if size > limit:
        raise ValueError(
            f"stage {h}: {what} would hold {size} vectors > max_vectors={limit}; "
            "use prune='incremental' or a shorter horizon, or raise max_vectors"
        )


def pomdp_value_iteration(
    pomdp: POMDP,
    *,
    horizon: int | None = None,
    discount: float | None = None,
    prune: str | None = "incremental",
    tol: float = 1e-9,
    witness: str = "auto",
    max_vectors: int = DEFAULT_MAX_VECTORS,
) -> POMDPPlanningResult:
    """Exact optimal alpha-vectors of a finite-horizon POMDP (module docstring).

    Parameters
    ----------
    pomdp : POMDP
    horizon : int, optional
        Number of actions; defaults to ``pomdp.horizon`` (required for a
        discounted model: the result is then its ``H``-step truncation).
    discount : float, optional
        Per-step discount in ``[0, 1]``; default 1 (undiscounted), whatever the
        model's ``gamma``. Pass ``discount=pomdp.gamma`` for the truncation of a
        discounted model.
    prune : {"incremental", "batch", None}
        ``"incremental"``: prune each projection set and every pairwise cross-sum;
        ``"batch"``: prune once per action after the full cross-sum (Monahan);
        None: no pruning at all (full enumeration of conditional plans; guarded
        by ``max_vectors``). The value function is the same in every case.
    tol : float
        Pruning tolerance (see :func:`prune_alpha_vectors`).
    witness : {"auto", "lp", "interval"}
        Witness search in Lark's filter; ``"auto"`` = exact interval search for two
        states, HiGHS LPs otherwise.
    max_vectors : int
        Largest set (stage or intermediate cross-sum) allowed before a ValueError.

    Returns
    -------
    POMDPPlanningResult
    """
    check_pomdp(pomdp, "pomdp_value_iteration")
    H = check_horizon(horizon) if horizon is not None else pomdp.horizon
    if H is None:
        raise ValueError(
            f"pomdp_value_iteration plans over a finite horizon and {pomdp.name} is "
            f"discounted (gamma={pomdp.gamma}): pass horizon= (and discount= for the "
            "H-step truncation of the discounted objective)"
        )
    disc = 1.0 if discount is None else check_discount(discount, allow_one=True)
    if prune not in PRUNE_METHODS:
        raise ValueError(f"prune must be one of {PRUNE_METHODS}; got {prune!r}")
    tol = _check_tol(tol)
    method = _resolve_witness(witness, pomdp.S)
    if isinstance(max_vectors, bool) or not isinstance(max_vectors, numbers.Integral):
        raise ValueError(f"max_vectors must be a positive integer; got {max_vectors!r}")
    if max_vectors < 1:
        raise ValueError(f"max_vectors must be a positive integer; got {max_vectors}")
    S, A, n_obs = pomdp.S, pomdp.A, pomdp.n_observations
    stats = {"lps": 0, "largest_set": 1}

    base_samples = _sample_beliefs(S) if method == "lp" else np.empty((0, S))

    def do_prune(V, samples):
        stats["largest_set"] = max(stats["largest_set"], V.shape[0])
        if prune is None:
            return np.arange(V.shape[0]), np.full((V.shape[0], S), np.nan)
        return _prune(V, tol, method, samples, stats)

    alphas = [None] * (H + 1)
    acts = [None] * (H + 1)
    succ = [None] * (H + 1)
    wits = [None] * (H + 1)
    alphas[H] = np.zeros((1, S))
    acts[H] = np.array([-1], dtype=np.int64)
    succ[H] = np.full((1, n_obs), -1, dtype=np.int64)
    wits[H] = np.full((1, S), 1.0 / S)
    stage_time = np.zeros(H)
    t_start = time.perf_counter()
    for h in range(H - 1, -1, -1):
        t0 = time.perf_counter()
        # Lark's filter is seeded at fixed beliefs and the previous stage's witnesses.
        samples = base_samples
        if method == "lp" and np.isfinite(wits[h + 1]).all():
            samples = np.concatenate([base_samples, wits[h + 1]])
        G = _projections(pomdp, alphas[h + 1], disc)

        def prune_rows(V, samples=samples):
            return do_prune(V, samples)[0]

        blocks = [_cross_sum(G[a], prune_rows, prune, max_vectors, h, a) for a in range(A)]
        union = np.concatenate([vecs for vecs, _ in blocks])
        _guard(len(union), max_vectors, h, "the union over actions")
        keep, wits[h] = do_prune(union, samples)
        alphas[h] = np.ascontiguousarray(union[keep])
        acts[h] = np.repeat(np.arange(A), [len(vecs) for vecs, _ in blocks])[keep]
        succ[h] = np.ascontiguousarray(np.concatenate([nx for _, nx in blocks])[keep])
        stage_time[h] = time.perf_counter() - t0
    for arr in (*alphas, *acts, *succ, *wits, stage_time):
        arr.setflags(write=False)
    return POMDPPlanningResult(
        stage_alphas=tuple(alphas),
        stage_actions=tuple(acts),
        stage_successors=tuple(succ),
        stage_witnesses=tuple(wits),
        horizon=H,
        discount=disc,
        prune=prune,
        witness=method,
        tol=tol,
        time_s=time.perf_counter() - t_start,
        stage_time_s=stage_time,
        pomdp=pomdp,
        info=stats,
    )

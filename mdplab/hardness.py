"""Hardness measures of a tabular MDP, as reported by Colosseum.

Conserva & Rauber (2022), "Hardness in Markov decision processes: theory and
practice" (NeurIPS 2022; code: MichelangeloConserva/Colosseum,
``colosseum/hardness/measures/``) characterise how hard a model is to learn
with three measures; this module computes them exactly (Colosseum uses value
iteration with a ``1e-3`` tolerance) together with the span of ``V*``:

* :func:`diameter` -- the worst-case optimal expected travel time between two
  states (Jaksch, Ortner & Auer 2010); for episodic models, on the
  time-augmented chain with a reset, as Colosseum does.
* :func:`sum_reciprocal_gaps` -- ``sum 1 / Delta(s, a)`` over the sub-optimality
  gaps ``Delta = V* - Q*`` (the quantity in gap-dependent regret bounds, e.g.
  Burnetas & Katehakis 1997; Simchowitz & Jamieson 2019), optionally with
  Colosseum's regularisation ``1 / (Delta + 0.1)`` over all pairs.
* :func:`environmental_value_norm` -- Maillard, Mann & Mannor (2014),
  "How hard is my MDP? The distribution-norm to the rescue": the largest
  one-step standard deviation of ``V*`` under the transition kernel.
* :func:`value_span` -- ``sp(V*) = max V* - min V*`` (Bartlett & Tewari 2009).

:func:`hardness_report` collects all of them in one ``dict``.

Which states count. Colosseum builds its models by exploring from the starting
states, so all of its states (and, for episodic models, all of its (stage,
state) pairs) are reachable. Here a model may carry states that the initial
distribution never reaches; the gap and value-norm measures therefore take a
``reachable_only`` flag whose default is ``True`` for finite-horizon models
(sum over the (stage, state) pairs reachable from ``mdp.init``, as Colosseum)
and ``False`` for discounted ones (all states: the classical definition; the
same as Colosseum's whenever every state is reachable).

Values. For discounted models ``V*``, ``Q*`` are those of the model's own
``gamma`` (Colosseum always uses ``gamma = 0.99`` for its continuing models);
finite-horizon models use ``V*_h``, ``Q*_h`` from backward induction.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from mdplab.models import TabularMDP
from mdplab.models._validation import (
    check_bool,
    check_model,
    check_real,
    check_value_range,
    check_value_vector,
)
from mdplab.planning import PlanningResult, solve

__all__ = [
    "COLOSSEUM_GAP_REGULARIZATION",
    "diameter",
    "environmental_value_norm",
    "hardness_report",
    "sum_reciprocal_gaps",
    "value_span",
]

COLOSSEUM_GAP_REGULARIZATION = 0.1
"""The constant Colosseum adds to every gap: its measure is ``sum 1 / (Delta + 0.1)``."""

_DENSE_SOLVE_SMALL_S = 128
"""Up to this many states hitting-time systems use dense LU (LAPACK); beyond it,
sparse LU (SuperLU) even for dense kernels: it is within ~2.5x of single-threaded
LAPACK there and immune to the multi-threaded-BLAS slowdowns (10-50x) seen on
oversubscribed machines."""

_REL_EPS = 2.5e-9
_REL_TOL = 1e-8
_MAX_PI_ITER = 10_000
_AUG_CHUNK_ELEMS = 4_000_000


# ----------------------------------------------------------------- helpers
def _check_mdp(mdp, fn: str, values: bool = True) -> None:
    """A TabularMDP; with ``values``, one whose value range fits in float64."""
    check_model(mdp, TabularMDP, fn)
    if values:
        check_value_range(mdp.R, gamma=mdp.gamma, horizon=mdp.horizon, fn=fn)


def _value_scale(mdp: TabularMDP) -> float:
    """A bound on ``|V|``: ``max|R| / (1 - gamma)`` or ``H max|R|`` (at least 1)."""
    r = float(np.abs(mdp.R).max()) if mdp.R.size else 0.0
    factor = 1.0 / (1.0 - mdp.gamma) if mdp.discounted else float(mdp.horizon)
    return max(1.0, r * factor)


def _positive(x, name: str, allow_zero: bool = False) -> float:
    return check_real(x, name, lo=0.0, lo_open=not allow_zero)


def _optimal(mdp: TabularMDP, solution, eps) -> PlanningResult:
    """``solution`` if given (shape-checked), else ``solve(mdp, eps)``."""
    if solution is not None:
        if not isinstance(solution, PlanningResult):
            raise TypeError(
                f"solution must be a PlanningResult; got {type(solution).__name__}"
            )
        want_v = (mdp.S,) if mdp.discounted else (mdp.horizon + 1, mdp.S)
        want_q = (mdp.S, mdp.A) if mdp.discounted else (mdp.horizon, mdp.S, mdp.A)
        if solution.values.shape != want_v or solution.q.shape != want_q:
            raise ValueError(
                f"solution has values {solution.values.shape} and q {solution.q.shape}; "
                f"this model needs {want_v} and {want_q}"
            )
        check_value_vector(solution.values, want_v, "solution.values")
        check_value_vector(solution.q, want_q, "solution.q")
        return solution
    eps = _REL_EPS * _value_scale(mdp) if eps is None else _positive(eps, "eps")
    res = solve(mdp, eps)
    if res.error_bound > eps:
        warnings.warn(
            f"the planner certified only ||V - V*|| <= {res.error_bound:.3g} "
            f"(asked for {eps:.3g}); hardness measures inherit this error",
            RuntimeWarning,
            stacklevel=3,
        )
    return res


def _csr(mdp: TabularMDP) -> sp.csr_matrix:
    """``P`` as CSR ``(n_stages * S * A, S)`` with explicit zeros removed (a private copy)."""
    P = mdp.transition_matrix().copy()
    P.eliminate_zeros()
    P.sort_indices()
    return P


def _stage_rows(P: sp.csr_matrix, mdp: TabularMDP, h: int) -> sp.csr_matrix:
    n = mdp.S * mdp.A
    if P.shape[0] == n:
        return P
    return P[h * n:(h + 1) * n]


def _support_graph(P_stage: sp.csr_matrix, S: int, A: int) -> sp.csr_matrix:
    """Adjacency ``s -> s'`` iff ``P(s'|s, a) > 0`` for some ``a`` (an ``(S, S)`` CSR)."""
    rows = np.repeat(np.arange(P_stage.shape[0]) // A, np.diff(P_stage.indptr))
    G = sp.csr_matrix(
        (np.ones(rows.size), (rows, P_stage.indices)), shape=(S, S)
    )
    G.sum_duplicates()
    G.data[:] = 1.0
    return G


def _reachable_from(G: sp.csr_matrix, start: np.ndarray) -> np.ndarray:
    """States reachable (in >= 0 steps) in graph ``G`` from the boolean set ``start``."""
    S = G.shape[0]
    src = np.flatnonzero(start)
    coo = G.tocoo()
    # A virtual source S with edges to every start state; one BFS does it all.
    rows = np.concatenate([coo.row, np.full(src.size, S)])
    cols = np.concatenate([coo.col, src])
    G2 = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(S + 1, S + 1))
    order = csgraph.breadth_first_order(G2, S, directed=True, return_predecessors=False)
    out = np.zeros(S, dtype=bool)
    out[order[order < S]] = True
    return out


def _reachable_stage_states(mdp: TabularMDP, P: sp.csr_matrix | None = None) -> np.ndarray:
    """``reach[h, s]``: is state ``s`` reachable at stage ``h`` from ``mdp.init``? ``(H, S)``."""
    H, S, A = mdp.horizon, mdp.S, mdp.A
    P = _csr(mdp) if P is None else P
    reach = np.zeros((H, S), dtype=bool)
    reach[0] = mdp.init > 0
    G = None
    for h in range(H - 1):
        if G is None or not mdp.transitions_stationary:
            G = _support_graph(_stage_rows(P, mdp, h), S, A)
        reach[h + 1] = (G.T @ reach[h].astype(np.float64)) > 0
    return reach


def _state_mask(mdp: TabularMDP, reachable_only, P=None) -> np.ndarray:
    """Which (stage,) states a gap / value-norm measure ranges over: ``(S,)`` or ``(H, S)``."""
    if reachable_only is None:
        reachable_only = not mdp.discounted
    if not isinstance(reachable_only, bool | np.bool_):
        raise ValueError(f"reachable_only must be True, False or None; got {reachable_only!r}")
    if mdp.discounted:
        if not reachable_only:
            return np.ones(mdp.S, dtype=bool)
        P = _csr(mdp) if P is None else P
        return _reachable_from(_support_graph(P, mdp.S, mdp.A), mdp.init > 0)
    if not reachable_only:
        return np.ones((mdp.horizon, mdp.S), dtype=bool)
    return _reachable_stage_states(mdp, P)


# ---------------------------------------------------------------- diameter
def diameter(mdp: TabularMDP, *, time_augmented: bool | None = None,
             reachable_only: bool = False) -> float:
    r"""The diameter ``D`` of the model; ``math.inf`` if it is not communicating.

    **Stationary kernel** (discounted models, or finite-horizon ones with
    ``time_augmented=False`` and stationary transitions), after Jaksch, Ortner
    & Auer (2010, Def. 1):

    .. math::  D = \max_{s \ne s'} \min_{\pi} \mathbb{E}^\pi[\tau_{s'} \mid s_0 = s],
               \qquad \tau_{s'} = \min\{t \ge 0 : s_t = s'\}.

    ``D < inf`` iff the support graph (``s -> s'`` when ``P(s'|s, a) > 0`` for
    some ``a``) is strongly connected, which is checked first. For each target
    ``s'`` the hitting times solve the stochastic-shortest-path equation
    ``h(s) = 1 + min_a sum_x P(x|s, a) h(x)``, ``h(s') = 0``, by policy
    iteration with exact linear solves (Bertsekas & Tsitsiklis 1991), started
    from a proper policy that moves along a breadth-first tree towards ``s'``.
    The result is exact up to rounding. Rewards and ``gamma`` play no role.
    A single-state model has ``D = 0`` (no pairs).

    **Episodic models** (``time_augmented=True``, the default for finite
    horizon; stage-dependent transitions allowed). As in Colosseum, the
    episodic process is turned into a continuing one on the augmented states
    ``(h, s)``: ``(h, s) -> (h+1, s')`` with ``P_h(s'|s, a)`` for ``h < H-1``,
    and ``(H-1, s) -> (0, s_0)`` with ``s_0 ~ init`` (the reset; one step).
    With ``T_{s'}(h, s)`` the optimal expected number of steps from ``(h, s)``
    until the state is ``s'`` (at any stage),

    .. math::  D_H = \max_{s \ne s'} \min_{h : (h, s) \text{ reachable}} T_{s'}(h, s),

    over states ``s, s'`` reachable from ``init`` at some stage. Every
    reachable augmented state returns to ``init`` within ``H`` steps, so
    ``D_H`` is always finite. Per target the optimal hitting times are
    computed exactly by policy iteration that exploits the stage structure:
    for a Markov policy the times are affine in ``x``, the expected time from
    a fresh reset, ``T(h, s) = a_h(s) + b_h(s) x`` (backward recursion), and
    ``x = a / (1 - b)`` at ``init``; improvement is backward induction at the
    current ``x`` (all targets are processed together). Differences from
    Colosseum's code (``_episodic_diameter_calculation``), which computes the
    same quantity approximately: it stops value iteration at a ``1e-3``
    change, and its minimum over start stages always admits the last stage
    (even where ``s`` is unreachable there) and, through it, the pair
    ``s = s'``; here only reachable ``(h, s)`` and ``s != s'`` count.

    Parameters
    ----------
    mdp : TabularMDP
        Dense or sparse.
    time_augmented : bool, optional
        Default: ``True`` for finite-horizon models, ``False`` for discounted
        ones (where ``True`` is an error). ``False`` on a finite-horizon model
        gives the diameter of its (stationary) kernel, ignoring the horizon;
        stage-dependent transitions then raise ``ValueError``.
    reachable_only : bool
        Stationary case: restrict to the states reachable from ``mdp.init``
        (a closed set, so a sub-MDP); default all states (the classical
        definition). The time-augmented diameter always ranges over reachable
        ``(h, s)`` only, so the flag does not change it.

    Returns
    -------
    float
    """
    _check_mdp(mdp, "diameter", values=False)
    if time_augmented is None:
        time_augmented = not mdp.discounted
    time_augmented = check_bool(time_augmented, "time_augmented")
    if time_augmented:
        if mdp.discounted:
            raise ValueError(
                "time_augmented=True needs a finite-horizon model; this one is discounted "
                f"(gamma={mdp.gamma})"
            )
        return _episodic_diameter(mdp)
    if not mdp.transitions_stationary:
        raise ValueError(
            "the diameter of a stage-dependent transition kernel is undefined; use "
            "time_augmented=True (the episodic diameter on the time-augmented chain)"
        )
    P = _csr(mdp)
    S, A = mdp.S, mdp.A
    if reachable_only:
        keep = _reachable_from(_support_graph(P, S, A), mdp.init > 0)
        if not keep.all():
            idx = np.flatnonzero(keep)
            rows = (idx[:, None] * A + np.arange(A)).ravel()
            P = P[rows][:, idx]
            P.sort_indices()
            S = idx.size
    return _stationary_diameter(P, S, A)


def _stationary_diameter(P: sp.csr_matrix, S: int, A: int) -> float:
    if S == 1:
        return 0.0
    G = _support_graph(P, S, A)
    n_comp, _ = csgraph.connected_components(G, directed=True, connection="strong")
    if n_comp > 1:
        return math.inf
    GT = G.T.tocsr()
    dense = P.toarray() if S <= _DENSE_SOLVE_SMALL_S else None
    D = 0.0
    for t in range(S):
        dist = csgraph.shortest_path(GT, method="D", unweighted=True, indices=t)
        h = _hitting_times(P, dense, S, A, t, dist)
        D = max(D, float(h.max()))
    return D


def _hitting_times(P, dense, S: int, A: int, t: int, dist: np.ndarray) -> np.ndarray:
    """Exact ``min_pi E[tau_t | s]`` for all ``s`` (policy iteration, exact solves)."""
    # Proper initial policy: among the actions that can step one BFS level
    # closer to t, the one with the smallest expected next distance.
    min_succ = np.minimum.reduceat(dist[P.indices], P.indptr[:-1]).reshape(S, A)
    closer = min_succ < dist[:, None]
    score = np.where(closer, (P @ dist).reshape(S, A), np.inf)
    pi = score.argmin(axis=1)
    rows = np.arange(S)
    not_t = np.ones(S)
    not_t[t] = 0.0
    for _ in range(_MAX_PI_ITER):
        h = _evaluate_hitting(P, dense, S, A, t, pi, not_t)
        Q = 1.0 + (dense @ h if dense is not None else P @ h).reshape(S, A)
        cur = Q[rows, pi]
        best = Q.min(axis=1)
        improve = cur > best + 1e-11 * (1.0 + float(h.max()))
        improve[t] = False
        if not improve.any():
            return h
        pi = np.where(improve, Q.argmin(axis=1), pi)
    raise RuntimeError(f"hitting-time policy iteration did not stabilise (target {t})")


def _evaluate_hitting(P, dense, S, A, t, pi, not_t) -> np.ndarray:
    """Solve ``h = not_t * (1 + P_pi h)`` (``h(t) = 0``) for a proper policy ``pi``."""
    sel = np.arange(S) * A + pi
    try:
        if dense is not None:
            M = -dense[sel]
            M[t, :] = 0.0
            M[np.diag_indices(S)] += 1.0
            return sla.solve(M, not_t, overwrite_a=True, check_finite=False)
        Ppi = sp.diags(not_t) @ P[sel]
        M = (sp.identity(S, format="csr") - Ppi).tocsc()
        return spla.splu(M).solve(not_t)
    except (np.linalg.LinAlgError, RuntimeError) as exc:  # pragma: no cover - defensive
        raise RuntimeError(f"singular hitting-time system for target {t}: {exc}") from None


def _take(Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``Q[s, pi[s, k], k]`` for ``Q (S, A, K)``, ``pi (S, K)``."""
    return np.take_along_axis(Q, pi[:, None, :], axis=1)[:, 0, :]


def _episodic_diameter(mdp: TabularMDP) -> float:
    H, S, A = mdp.horizon, mdp.S, mdp.A
    P = _csr(mdp)
    reach = _reachable_stage_states(mdp, P)
    targets = np.flatnonzero(reach.any(axis=0))
    if targets.size <= 1:
        return 0.0
    stages = [_stage_rows(P, mdp, h) for h in range(H - 1)]
    n_dense = 1 if mdp.transitions_stationary else H - 1
    density = P.nnz / (P.shape[0] * S)
    if H > 1 and density >= 0.25 and n_dense * S * S * A <= _AUG_CHUNK_ELEMS:
        if mdp.transitions_stationary:
            stages = [stages[0].toarray()] * (H - 1)
        else:
            stages = [m.toarray() for m in stages]
    k_max = max(1, _AUG_CHUNK_ELEMS // max(H * S, S * A))
    D = 0.0
    for i in range(0, targets.size, k_max):
        D = max(D, _episodic_diameter_chunk(mdp, stages, reach, targets[i:i + k_max]))
    return D


def _episodic_diameter_chunk(mdp, stages, reach, tgt) -> float:
    H, S, A = mdp.horizon, mdp.S, mdp.A
    K = tgt.size
    is_t = np.zeros((S, K), dtype=bool)
    is_t[tgt, np.arange(K)] = True
    init = mdp.init
    pdtype = np.int16 if A <= np.iinfo(np.int16).max else np.int64
    pol = np.zeros((H - 1, S, K), dtype=pdtype)
    base = np.where(is_t, 0.0, 1.0)  # 0 at the target, else 1

    # Initial proper policy: maximise the probability of hitting the target
    # before the episode ends (positive from init for every reachable target).
    p = is_t.astype(np.float64)
    for h in range(H - 2, -1, -1):
        Qp = (stages[h] @ p).reshape(S, A, K)
        pol[h] = Qp.argmax(axis=1)
        p = _take(Qp, pol[h])
        p[is_t] = 1.0

    def affine_q(h, a, b):
        """``(1 + P_h a, P_h b)`` as ``(S, A, K)`` arrays (one sparse/dense product)."""
        Y = (stages[h] @ np.concatenate([a, b], axis=1)).reshape(S, A, 2 * K)
        return 1.0 + Y[:, :, :K], Y[:, :, K:]

    def sweep(x):
        """Backward pass. For ``x is None``: evaluate ``pol``. Otherwise improve
        ``pol`` in place at reset value ``x`` (keeping it on near-ties). Returns the
        times' coefficients ``a_0, b_0`` of the resulting policy, whether it changed
        and ``min`` over reachable stages of the times ``a_h + b_h x``."""
        a, b = base.copy(), base.copy()  # stage H-1: 1 + x (the reset), 0 at the target
        tmin = np.where(reach[H - 1][:, None], a + b * x, np.inf) if x is not None else None
        tol = 1e-11 * (1.0 + float(np.max(x)) + H) if x is not None else 0.0
        changed = False
        for h in range(H - 2, -1, -1):
            Qa, Qb = affine_q(h, a, b)
            if x is not None:
                Q = Qa + Qb * x
                cur = _take(Q, pol[h])
                improve = (cur > Q.min(axis=1) + tol) & ~is_t
                if improve.any():
                    pol[h] = np.where(improve, Q.argmin(axis=1), pol[h])
                    changed = True
            a = _take(Qa, pol[h]) * base
            b = _take(Qb, pol[h]) * base
            if x is not None:
                tmin = np.minimum(tmin, np.where(reach[h][:, None], a + b * x, np.inf))
        return _reset_value(init @ a, init @ b), changed, tmin

    x, _, _ = sweep(None)
    for _ in range(_MAX_PI_ITER):
        x_new, changed, tmin = sweep(x)
        if not changed:
            break
        x = x_new
    else:  # pragma: no cover - defensive
        raise RuntimeError("episodic hitting-time policy iteration did not stabilise")
    tmin[is_t] = -np.inf  # exclude s == s'
    sources = reach.any(axis=0)
    return float(tmin[sources].max()) if sources.any() else 0.0


def _reset_value(A0: np.ndarray, B0: np.ndarray) -> np.ndarray:
    """``x = A0 / (1 - B0)``: expected steps from a reset (``B0`` = P(miss in an episode))."""
    miss = 1.0 - B0
    if np.any(miss <= 0):  # pragma: no cover - reachable targets have miss > 0
        raise RuntimeError("a target is never hit from init; reachability check failed")
    return A0 / miss


# -------------------------------------------------------------------- gaps
def sum_reciprocal_gaps(
    mdp: TabularMDP,
    *,
    tol: float | None = None,
    regularization: float = 0.0,
    reachable_only: bool | None = None,
    solution: PlanningResult | None = None,
    eps: float | None = None,
) -> float:
    r"""Sum of the reciprocals of the sub-optimality gaps.

    With ``Delta(s, a) = V*(s) - Q*(s, a) = max_b Q*(s, b) - Q*(s, a) >= 0``
    (stage-wise ``Delta_h`` for finite horizon, summed over ``h = 0..H-1``):

    * ``regularization = 0`` (default): the classical quantity of gap-dependent
      bounds, ``sum_{(h,) s, a : Delta > tol} 1 / Delta`` -- optimal actions (and
      gaps within ``tol`` of zero, i.e. numerical ties) are left out; it is
      ``0`` when every action is optimal.
    * ``regularization = c > 0``: Colosseum's measure
      (``get_sum_reciprocals_suboptimality_gaps``, ``c = 0.1`` =
      :data:`COLOSSEUM_GAP_REGULARIZATION`): ``sum_{(h,) s, a} 1 / (Delta + c)``
      over *all* pairs, so each optimal action contributes ``1 / c``; gaps
      ``<= tol`` are set to exactly 0 first.

    States: see the module docstring (``reachable_only`` default: finite
    horizon -> the (stage, state) pairs reachable from ``init``, as Colosseum;
    discounted -> all states).

    Parameters
    ----------
    tol : float, optional
        Gaps ``<= tol`` count as zero. Default ``1e-8 * scale`` with ``scale =
        max(1, max|R| / (1-gamma))`` (``H max|R|`` for finite horizon).
    regularization : float
        ``c >= 0`` above.
    reachable_only : bool, optional
        Restrict to states reachable from ``mdp.init`` (see above).
    solution : PlanningResult, optional
        A solved model to reuse (else ``mdplab.planning.solve(mdp, eps)``).
    eps : float, optional
        Target accuracy of ``V*`` when solving; default
        ``max(tol / 4, 2.5e-9 * scale)``, so with the default ``tol`` the
        computed gaps (error ``<= 2 gamma eps``) are within ``tol / 2``.
    """
    _check_mdp(mdp, "sum_reciprocal_gaps")
    scale = _value_scale(mdp)
    tol = _REL_TOL * scale if tol is None else _positive(tol, "tol", allow_zero=True)
    c = _positive(regularization, "regularization", allow_zero=True)
    if eps is None and solution is None:
        eps = max(tol / 4.0, _REL_EPS * scale) if tol > 0 else _REL_EPS * scale
    sol = _optimal(mdp, solution, eps)
    Q = np.asarray(sol.q, dtype=np.float64)
    gaps = Q.max(axis=-1, keepdims=True) - Q
    gaps[gaps <= tol] = 0.0
    g = gaps[_state_mask(mdp, reachable_only)]
    if c > 0:
        return float(np.sum(1.0 / (g + c)))
    pos = g[g > 0]
    return float(np.sum(1.0 / pos)) if pos.size else 0.0


# -------------------------------------------------------------- value norm
def _one_step_std(P_stage: sp.csr_matrix, V: np.ndarray, S: int, A: int) -> np.ndarray:
    """``sqrt(Var_{x ~ P(.|s, a)} V(x))`` for every ``(s, a)``, shape ``(S, A)``."""
    mean = P_stage @ V
    row = np.repeat(np.arange(P_stage.shape[0]), np.diff(P_stage.indptr))
    dev = V[P_stage.indices] - mean[row]
    var = np.add.reduceat(P_stage.data * dev * dev, P_stage.indptr[:-1])
    return np.sqrt(var).reshape(S, A)


def environmental_value_norm(
    mdp: TabularMDP,
    *,
    reachable_only: bool | None = None,
    solution: PlanningResult | None = None,
    eps: float | None = None,
) -> float:
    r"""Maillard, Mann & Mannor (2014)'s environmental value norm of ``V*``.

    .. math::  C = \max_{s, a} \|V^*\|_{P(\cdot|s,a)}, \qquad
               \|f\|_{p} = \sqrt{\textstyle\sum_x p(x)\,(f(x) - \sum_y p(y) f(y))^2},

    the largest one-step standard deviation of the optimal value (zero for
    deterministic transitions). Finite horizon:
    ``C = max_{h, s, a} ||V*_{h+1}||_{P_h(.|s, a)}`` over stages ``h = 0..H-1``
    (``V*_H = 0``) and, by default, reachable ``(h, s)``.

    Colosseum (``calculate_norm_discounted``) also takes the max over ``(s, a)``
    of a square root, but two things differ. (i) Its einsum centres ``V(x)``
    at ``E_{P(.|x, a)} V`` -- the mean of the *successor's* row -- instead of
    ``E_{P(.|s, a)} V``, so it is not the variance above unless those means
    coincide; it short-cuts models with deterministic transitions and rewards
    to 0. Here the definition of the paper is implemented. (ii) It uses
    ``gamma = 0.99`` values, and for episodic models the discounted values of
    the continuing reset chain (its "continuous form"), not ``V*_{h+1}``.

    Parameters: as :func:`sum_reciprocal_gaps` (``eps`` default
    ``2.5e-9 * scale``).
    """
    _check_mdp(mdp, "environmental_value_norm")
    sol = _optimal(mdp, solution, eps)
    P = _csr(mdp)
    mask = _state_mask(mdp, reachable_only, P)
    S, A = mdp.S, mdp.A
    if mdp.discounted:
        std = _one_step_std(P, np.asarray(sol.values, dtype=np.float64), S, A)
        vals = std[mask]
        return float(vals.max()) if vals.size else 0.0
    out = 0.0
    for h in range(mdp.horizon):
        if not mask[h].any():
            continue
        std = _one_step_std(_stage_rows(P, mdp, h), np.asarray(sol.values[h + 1], float), S, A)
        out = max(out, float(std[mask[h]].max()))
    return out


# -------------------------------------------------------------------- span
def value_span(
    mdp: TabularMDP,
    *,
    solution: PlanningResult | None = None,
    eps: float | None = None,
) -> float:
    """``sp(V*) = max_s V*(s) - min_s V*(s)`` over all states.

    Finite horizon: the span of the first-stage values ``V*_0`` (over all
    states, whether or not ``init`` charges them). Colosseum reports no span;
    it appears in regret bounds of Bartlett & Tewari (2009) and Fruit et al.
    (2018), with ``sp(h*) <= D max R`` for communicating models.
    """
    _check_mdp(mdp, "value_span")
    sol = _optimal(mdp, solution, eps)
    V = sol.values if mdp.discounted else sol.values[0]
    return float(np.max(V) - np.min(V))


# ------------------------------------------------------------------ report
def hardness_report(mdp: TabularMDP, *, eps: float | None = None,
                    tol: float | None = None) -> dict:
    """All measures of this module for one model, as a flat ``dict`` for tables.

    Keys: ``name, S, A, gamma, horizon`` (the unused one is ``None``),
    ``diameter`` (:func:`diameter` with its defaults: time-augmented for finite
    horizon), ``sum_reciprocal_gaps`` (unregularised),
    ``sum_reciprocal_gaps_colosseum`` (regularisation 0.1, all pairs),
    ``environmental_value_norm``, ``value_span``. The model is solved once.
    """
    _check_mdp(mdp, "hardness_report")
    scale = _value_scale(mdp)
    tol = _REL_TOL * scale if tol is None else _positive(tol, "tol", allow_zero=True)
    if eps is None:
        eps = max(tol / 4.0, _REL_EPS * scale) if tol > 0 else _REL_EPS * scale
    sol = _optimal(mdp, None, eps)
    return {
        "name": mdp.name,
        "S": mdp.S,
        "A": mdp.A,
        "gamma": mdp.gamma,
        "horizon": mdp.horizon,
        "diameter": diameter(mdp),
        "sum_reciprocal_gaps": sum_reciprocal_gaps(mdp, tol=tol, solution=sol),
        "sum_reciprocal_gaps_colosseum": sum_reciprocal_gaps(
            mdp, tol=tol, regularization=COLOSSEUM_GAP_REGULARIZATION, solution=sol
        ),
        "environmental_value_norm": environmental_value_norm(mdp, solution=sol),
        "value_span": value_span(mdp, solution=sol),
    }

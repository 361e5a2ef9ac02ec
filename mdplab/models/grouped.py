"""Action-grouped MDPs: a partition of the actions, a lower-level policy, the lifted model.

Setting (Li, Ju & Shroff, "action-wise similar MDPs", arXiv 2306.12981; the paper
body was not available, so the formulas below are the reconstruction of
``shared/papers/grouping_subsample_lowrank.md`` section 1, tagged there [R]/[D]).

* A **grouping** ``g : A -> {0, ..., M-1}`` partitions the actions into groups
  ``G_0, ..., G_{M-1}``, every group non-empty (stored as the int array
  ``groups[a] = g(a)``).
* A **lower-level policy** ``nu(a | s, m)`` (stage-dependent ``nu_h`` allowed in
  finite horizon) is supported on ``G_m``: uniform on the group (default), a
  point mass on one representative action per group, or any given array.
* The **lifted (grouped) MDP** ``M_g`` has the same states and the ``M`` groups as
  actions::

      P_g(s' | s, m) = sum_a nu(a | s, m) P(s' | s, a),
      R_g(s, m)      = sum_a nu(a | s, m) R(s, a)

  (per stage ``h`` for stage-dependent models). It treats the actions of a group
  as identical.
* A policy ``pi_g`` of ``M_g`` is executed in ``M`` by its **lift**
  ``pi(a | s) = pi_g(g(a) | s) nu(a | s, g(a))``; then ``V^{lift pi_g}_M = V^{pi_g}_{M_g}``
  exactly (both are Markov chains with the same state kernel and reward), which is
  what makes the grouped model plannable in place of ``M``.
* **Intra-group dissimilarity** [R]::

      eps_P(g) = max_{h,s,a} || P_h(.|s,a) - P_{g,h}(.|s,g(a)) ||_1,
      eps_R(g) = max_{h,s,a} | R_h(s,a) - R_{g,h}(s,g(a)) |.

  ``eps_P`` is *not* monotone under refinement of ``g`` (splitting a group moves
  its mean; see the tests for a counterexample). The **group diameter**
  ``diam_P(g) = max_{h,s} max_{a,b in one group} ||P_h(.|s,a) - P_h(.|s,b)||_1``
  is monotone, and ``eps_P <= diam_P <= 2 eps_P`` for any ``nu`` supported on the
  groups, so ``eps_P(finer) <= 2 eps_P(coarser)``.

Also here: the bound ``A(g)`` on the approximation loss ``V*_M - V^{lift pi_g*}_M``
(note 1.4, [D]), grouping constructors (coefficient intervals, k-means, the two
trivial groupings) and the generative-model estimator of ``M_g``
(:func:`sample_grouped_model`, note 1.3).

Exact solvers: :mod:`mdplab.planning.grouped` (the optimal group policy and the
exact approximation loss); ``import mdplab`` also attaches them as methods
(``grouped.approximation_loss()``, ``grouped.optimal_group_policy()``).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from mdplab.kernels.rng import SeedLike, next_double, seed_state, stream_seeds
from mdplab.kernels.sampling import cdf_search
from mdplab.models._validation import ROW_SUM_TOL, as_real_array, check_finite, check_index, freeze
from mdplab.models.tabular import TabularMDP

__all__ = [
    "Dissimilarity",
    "GroupDiameter",
    "GroupedMDP",
    "check_groups",
    "group_by_coefficients",
    "group_by_kmeans",
    "is_refinement",
    "sample_grouped_model",
    "single_group",
    "singleton_groups",
]


# ------------------------------------------------------------------ groupings
def check_groups(groups, n_actions: int) -> np.ndarray:
    """Validate a grouping: a read-only int64 copy of ``groups`` (shape ``(A,)``).

    Labels must be integers ``0..M-1`` with every group non-empty (contiguous labels).
    """
    arr = np.asarray(groups)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"groups must be an integer array of group labels; got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n_actions:
        raise ValueError(
            f"groups must have one label per action, shape ({n_actions},); got shape {arr.shape}"
        )
    neg = arr < 0
    if neg.any():
        a = int(np.argmax(neg))
        raise ValueError(f"groups[{a}] = {arr[a]} is negative; labels must be 0..M-1")
    M = int(arr.max()) + 1
    sizes = np.bincount(arr, minlength=M)
    if (sizes == 0).any():
        m = int(np.argmax(sizes == 0))
        raise ValueError(
            f"group {m} is empty (labels run up to {M - 1}); group labels must be "
            f"contiguous 0..M-1 with every group non-empty"
        )
    out = np.array(arr, dtype=np.int64, copy=True)
    freeze(out)
    return out


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Contiguous labels ``0..M-1`` preserving the order of the distinct input labels."""
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(np.int64).ravel()


def singleton_groups(n_actions: int) -> np.ndarray:
    """Every action alone in its group (``M = A``): the grouped MDP is the original."""
    return np.arange(_positive_int(n_actions, "n_actions"), dtype=np.int64)


def single_group(n_actions: int) -> np.ndarray:
    """All actions in one group (``M = 1``)."""
    return np.zeros(_positive_int(n_actions, "n_actions"), dtype=np.int64)


def group_by_coefficients(coefficients, n_bins: int, *, bounds=None) -> np.ndarray:
    """Group actions by equal-width cells of their coefficients ``w_a`` (note 1.6).

    Parameters
    ----------
    coefficients : array_like
        ``(A,)`` scalar coefficients, or ``(A, K)`` vectors.
    n_bins : int
        Equal-width intervals per coefficient axis; the cells are the product grid
        (at most ``n_bins ** K`` of them).
    bounds : (float, float), optional
        The range cut into intervals, the same on every axis (e.g. ``(-1, 1)``, the
        support of the generator's coefficients). Default: each axis's data range.
        Values outside ``bounds`` go to the nearest end cell.

    Returns
    -------
    numpy.ndarray
        ``(A,)`` int64 labels. Empty cells are dropped, so there are at most
        ``n_bins ** K`` groups, numbered in lexicographic cell order (for ``K = 1``,
        in increasing ``w``).
    """
    w = as_real_array(coefficients, "coefficients")
    if w.ndim == 1:
        w = w[:, None]
    if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
        raise ValueError(f"coefficients must have shape (A,) or (A, K); got {w.shape}")
    check_finite(w, "coefficients", "coefficients")
    n = _positive_int(n_bins, "n_bins")
    if bounds is None:
        lo, hi = w.min(axis=0), w.max(axis=0)
    else:
        try:
            lo_b, hi_b = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"bounds must be a pair (low, high); got {bounds!r}") from None
        if not (np.isfinite(lo_b) and np.isfinite(hi_b) and lo_b < hi_b):
            raise ValueError(f"bounds must be finite with low < high; got {bounds!r}")
        lo = np.full(w.shape[1], lo_b)
        hi = np.full(w.shape[1], hi_b)
    width = np.where(hi > lo, hi - lo, 1.0)
    cell = np.floor((w - lo) / width * n).astype(np.int64)
    cell = np.clip(cell, 0, n - 1)  # the top edge belongs to the last cell
    flat = np.ravel_multi_index(tuple(cell.T), (n,) * w.shape[1])
    return _relabel(flat)


def group_by_kmeans(
    mdp: TabularMDP,
    n_groups: int,
    seed=None,
    *,
    reward_weight: float = 1.0,
    n_iter: int = 30,
) -> np.ndarray:
    """Cluster actions by their model: k-means on stacked ``(P(.|s,a), R(s,a))`` (note 1.5).

    Action ``a`` is the vector ``(P_h(.|s,a), reward_weight * R_h(s,a))`` over all
    stages and states, and ``scipy.cluster.vq.kmeans2`` (k-means++ start) splits the
    ``A`` vectors into ``n_groups`` clusters. If there are at most ``n_groups``
    distinct vectors, identical actions are grouped exactly instead (k-means++ cannot
    seed more centres than distinct points). Empty clusters are dropped, so the
    result may have fewer than ``n_groups`` groups; labels are numbered by the first
    action of each group.
    """
    _require_mdp(mdp)
    k = _positive_int(n_groups, "n_groups")
    if k > mdp.A:
        raise ValueError(f"n_groups = {k} exceeds the number of actions A = {mdp.A}")
    rw = float(reward_weight)
    if not np.isfinite(rw) or rw < 0:
        raise ValueError(f"reward_weight must be finite and >= 0; got {reward_weight!r}")
    P = mdp.stage_P()  # (nP, S, A, S)
    R = mdp.stage_R()  # (nR, S, A)
    feats = np.concatenate(
        [np.moveaxis(P, 2, 0).reshape(mdp.A, -1), rw * np.moveaxis(R, 2, 0).reshape(mdp.A, -1)],
        axis=1,
    )
    uniq, inverse = np.unique(feats, axis=0, return_inverse=True)
    if uniq.shape[0] <= k:
        labels = inverse.ravel()
    else:
        from scipy.cluster.vq import kmeans2  # scipy's cluster module is slow to import

        rng = np.random.default_rng(seed)
        with warnings.catch_warnings():  # empty clusters are dropped below
            warnings.simplefilter("ignore", UserWarning)
            _, labels = kmeans2(feats, k, iter=int(n_iter), minit="++", missing="warn", rng=rng)
    return _first_seen_labels(labels)


def _first_seen_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel so that groups are numbered by their first (lowest-index) action."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.ravel()]


def is_refinement(fine, coarse) -> bool:
    """True if every group of ``fine`` lies inside one group of ``coarse``."""
    f = np.asarray(fine).ravel()
    c = np.asarray(coarse).ravel()
    if f.shape != c.shape:
        raise ValueError(f"groupings differ in length: {f.shape[0]} vs {c.shape[0]} actions")
    pairs = np.unique(np.stack([f, c]), axis=1)
    return np.unique(pairs[0]).size == pairs.shape[1]


# -------------------------------------------------------------- result types
@dataclass(frozen=True)
class Dissimilarity:
    """Intra-group dissimilarity of a :class:`GroupedMDP` (max over stages and states).

    ``eps_P = max ||P(.|s,a) - P_g(.|s,g(a))||_1``, ``eps_R = max |R(s,a) - R_g(s,g(a))|``;
    ``eps_P_group[m]``, ``eps_R_group[m]``: the same maxima over the actions of group m.
    """

    eps_P: float
    eps_R: float
    eps_P_group: np.ndarray
    eps_R_group: np.ndarray


@dataclass(frozen=True)
class GroupDiameter:
    """Within-group diameters (max over stages, states and pairs of a group's actions).

    ``diam_P = max ||P(.|s,a) - P(.|s,b)||_1`` and ``diam_R = max |R(s,a) - R(s,b)|``
    over ``g(a) = g(b)``; ``*_group[m]`` restrict to group m (0 for singletons).
    """

    diam_P: float
    diam_R: float
    diam_P_group: np.ndarray
    diam_R_group: np.ndarray


# --------------------------------------------------------------------- model
class GroupedMDP:
    """A tabular MDP with an action grouping and a lower-level policy (module docstring).

    Parameters
    ----------
    mdp : TabularMDP
        The original model (discounted or finite horizon, stationary or
        stage-dependent, dense or sparse; the dissimilarity, diameter and sampler
        densify sparse models, the lifted model does not).
    groups : array_like of int, shape (A,)
        ``groups[a] = g(a)`` in ``0..M-1``, every group non-empty.
    nu : "uniform", "representative", int array (M,), or float array
        The lower-level policy ``nu(a | s, m)``:

        * ``"uniform"`` (default): uniform on each group;
        * ``"representative"``: a point mass on the lowest-index action of each group;
        * int array ``(M,)``: a point mass on the given representative of each group;
        * float array ``(S, M, A)``, or ``(H, S, M, A)`` for a finite horizon ``H``:
          ``nu[(h,) s, m, :]`` is a distribution supported on group ``m``.

    Attributes
    ----------
    mdp, groups, n_groups (``M``), nu_kind (``"uniform"``, ``"representative"`` or
    ``"given"``), plus :attr:`weights` and :attr:`nu`.
    """

    __slots__ = ("mdp", "groups", "n_groups", "nu_kind", "_weights", "_order", "_starts", "_lifted")

    def __init__(self, mdp: TabularMDP, groups, nu="uniform"):
        _require_mdp(mdp)
        set_ = object.__setattr__
        g = check_groups(groups, mdp.A)
        M = int(g.max()) + 1
        S, A = mdp.S, mdp.A
        order = np.argsort(g, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(g, minlength=M))]).astype(np.int64)
        if isinstance(nu, str):
            if nu == "uniform":
                sizes = np.bincount(g, minlength=M).astype(np.float64)
                weights = np.broadcast_to(1.0 / sizes[g], (1, S, A)).copy()
            elif nu == "representative":
                weights = _point_mass_weights(order[starts[:-1]], S, A)
            else:
                raise ValueError(
                    f"nu must be 'uniform', 'representative', an int array of {M} "
                    f"representatives or a float array (S, M, A); got {nu!r}"
                )
            kind = nu
        else:
            arr = np.asarray(nu)
            if arr.dtype != bool and np.issubdtype(arr.dtype, np.integer):
                weights = _point_mass_weights(_check_representatives(arr, g, M), S, A)
                kind = "representative"
            else:
                weights = _weights_from_nu(arr, g, M, S, A, mdp.horizon)
                kind = "given"
        weights = np.ascontiguousarray(weights, dtype=np.float64)
        freeze(weights, order, starts)
        set_(self, "mdp", mdp)
        set_(self, "groups", g)
        set_(self, "n_groups", M)
        set_(self, "nu_kind", kind)
        set_(self, "_weights", weights)
        set_(self, "_order", order)
        set_(self, "_starts", starts)
        set_(self, "_lifted", None)

    def __setattr__(self, key, value):
        raise AttributeError("GroupedMDP is immutable; build a new one")

    def __delattr__(self, key):
        raise AttributeError("GroupedMDP is immutable")

    def __repr__(self) -> str:
        return f"GroupedMDP({self.mdp!r}, M={self.n_groups}, nu={self.nu_kind})"

    # ------------------------------------------------------------ accessors
    @property
    def weights(self) -> np.ndarray:
        """``nu(a | s, g(a))``: shape ``(S, A)``, or ``(H, S, A)`` if ``nu`` is stage-dependent.

        Each action lies in exactly one group, so this compact array determines ``nu``.
        """
        return self._weights[0] if self._weights.shape[0] == 1 else self._weights

    @property
    def nu(self) -> np.ndarray:
        """The dense lower-level policy ``(S, M, A)`` (or ``(H, S, M, A)``), built on demand."""
        n, S, A = self._weights.shape
        out = np.zeros((n, S, self.n_groups, A))
        out[:, :, self.groups, np.arange(A)] = self._weights
        return out[0] if n == 1 else out

    @property
    def group_sizes(self) -> np.ndarray:
        """Number of actions in each group, shape ``(M,)``."""
        return np.diff(self._starts)

    def members(self, m: int) -> np.ndarray:
        """The actions of group ``m``, increasing."""
        m = check_index(m, "m (group)", self.n_groups)
        return self._order[self._starts[m] : self._starts[m + 1]].copy()

    def _mix(self, h: int) -> sp.csr_matrix:
        """``(S*M, S*A)`` matrix with entry ``nu_h(a|s,m)`` at ``(s*M + m, s*A + a)``."""
        S, A, M = self.mdp.S, self.mdp.A, self.n_groups
        w = self._weights[min(h, self._weights.shape[0] - 1)]
        s_idx = np.repeat(np.arange(S), A)
        a_idx = np.tile(np.arange(A), S)
        rows = s_idx * M + self.groups[a_idx]
        return sp.csr_matrix((w.ravel(), (rows, s_idx * A + a_idx)), shape=(S * M, S * A))

    # ------------------------------------------------------------ lifted model
    def grouped_mdp(self) -> TabularMDP:
        """The lifted MDP ``M_g`` on actions = groups (cached; same objective and init).

        Stationary when ``P``, ``R`` and ``nu`` all are; otherwise the stage axis is
        kept where any of them has one.
        """
        if self._lifted is not None:
            return self._lifted
        mdp = self.mdp
        S, A, M = mdp.S, mdp.A, self.n_groups
        nP, nR, nW = _n_stages_P(mdp), mdp.stage_R().shape[0], self._weights.shape[0]
        # Rows (h*S + s)*A + a; the sparse mixing matrix works on dense and CSR alike.
        P = mdp.transition_matrix() if mdp.is_sparse else mdp.stage_P().reshape(-1, S)
        Pg = np.empty((max(nP, nW), S, M, S))
        for h in range(Pg.shape[0]):
            hp = h if nP > 1 else 0
            block = self._mix(h) @ P[hp * S * A : (hp + 1) * S * A]
            Pg[h] = (block.toarray() if sp.issparse(block) else block).reshape(S, M, S)
        Rs = mdp.stage_R()
        Rg = np.empty((max(nR, nW), S, M))
        for h in range(Rg.shape[0]):
            Rg[h] = (self._mix(h) @ Rs[h if nR > 1 else 0].ravel()).reshape(S, M)
        label = f"grouped({mdp.name or 'mdp'}, M={M})"
        lifted = TabularMDP(
            Pg[0] if Pg.shape[0] == 1 else Pg,
            Rg[0] if Rg.shape[0] == 1 else Rg,
            gamma=mdp.gamma,
            horizon=mdp.horizon,
            init=mdp.init,
            name=label,
        )
        object.__setattr__(self, "_lifted", lifted)
        return lifted

    def lifted(self) -> TabularMDP:
        """Alias of :meth:`grouped_mdp`."""
        return self.grouped_mdp()

    def lift_policy(self, group_policy) -> np.ndarray:
        """The policy of ``M`` that picks a group by ``group_policy`` then an action by ``nu``.

        ``pi_h(a | s) = pi_{g,h}(g(a) | s) * nu_h(a | s, g(a))``.

        Parameters
        ----------
        group_policy : array_like
            Deterministic (integer dtype) ``(S,)`` or ``(H, S)`` groups, or stochastic
            ``(S, M)`` or ``(H, S, M)`` group probabilities.

        Returns
        -------
        numpy.ndarray
            Stochastic policy ``(S, A)``, or ``(H, S, A)`` when the group policy or
            ``nu`` is stage-dependent. ``evaluate_policy(mdp, lifted)`` equals
            ``evaluate_policy(grouped_mdp(), group_policy)`` exactly.
        """
        probs = self._group_policy_probs(group_policy)  # (n, S, M)
        pi = probs[:, :, self.groups] * self._weights  # broadcasts a single stage over H
        return pi[0] if pi.shape[0] == 1 else pi

    def _group_policy_probs(self, policy) -> np.ndarray:
        S, M, H = self.mdp.S, self.n_groups, self.mdp.horizon
        arr = np.asarray(policy)
        stages = "" if H is None else f" or ({H}, {S})"
        if arr.dtype != bool and np.issubdtype(arr.dtype, np.integer):
            if arr.shape == (S,):
                arr = arr[None]
            elif not (H is not None and arr.shape == (H, S)):
                raise ValueError(
                    f"group_policy: a deterministic group policy must have shape ({S},){stages}; "
                    f"got {arr.shape}"
                )
            bad = (arr < 0) | (arr >= M)
            if bad.any():
                h, s = (int(i) for i in np.argwhere(bad)[0])
                where = f"[{s}]" if np.ndim(policy) == 1 else f"[{h}, {s}]"
                raise ValueError(f"group_policy{where} = {arr[h, s]} is not a group in [0, {M})")
            out = np.zeros(arr.shape + (M,))
            np.put_along_axis(out, arr[..., None], 1.0, axis=-1)
            return out
        arr = as_real_array(arr, "group_policy")
        if arr.shape == (S, M):
            arr = arr[None]
        elif not (H is not None and arr.shape == (H, S, M)):
            more = "" if H is None else f" or ({H}, {S}, {M})"
            raise ValueError(
                f"group_policy: a stochastic group policy must have shape ({S}, {M}){more}; "
                f"got {arr.shape} "
                "(deterministic policies need an integer dtype)"
            )
        lead = (lambda i: f"[{i[1]}") if np.ndim(policy) == 2 else (lambda i: f"[{i[0]}, {i[1]}")
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            i = np.argwhere(bad)[0]
            raise ValueError(
                f"group_policy{lead(i)}, {i[2]}] = {arr[tuple(i)]:.6g} is not a probability"
            )
        sums = arr.sum(-1)
        off = np.abs(sums - 1.0) > ROW_SUM_TOL
        if off.any():
            i = np.argwhere(off)[0]
            raise ValueError(
                f"group_policy{lead(i)}, :] sums to {sums[tuple(i)]:.12g}; must sum to 1"
            )
        return arr

    # ------------------------------------------------------------ dissimilarity
    def dissimilarity(self) -> Dissimilarity:
        """``eps_P``, ``eps_R`` and their per-group maxima (see :class:`Dissimilarity`)."""
        mdp = self.mdp
        lifted = self.grouped_mdp()
        nP, nW = _n_stages_P(mdp), self._weights.shape[0]
        A = mdp.A
        per_a_P = np.zeros(A)
        for h in range(max(nP, nW, _n_stages_P(lifted))):
            dev = np.abs(mdp.P_at(h) - lifted.P_at(h)[:, self.groups, :]).sum(axis=-1)
            per_a_P = np.maximum(per_a_P, dev.max(axis=0))
        R, Rg = mdp.stage_R(), lifted.stage_R()
        per_a_R = np.zeros(A)
        for h in range(Rg.shape[0]):
            dev = np.abs(R[h if R.shape[0] > 1 else 0] - Rg[h][:, self.groups])
            per_a_R = np.maximum(per_a_R, dev.max(axis=0))
        gP = np.maximum.reduceat(per_a_P[self._order], self._starts[:-1])
        gR = np.maximum.reduceat(per_a_R[self._order], self._starts[:-1])
        freeze(gP, gR)
        return Dissimilarity(float(gP.max()), float(gR.max()), gP, gR)

    def diameter(self) -> GroupDiameter:
        """Within-group diameters (see :class:`GroupDiameter`); cost ``O(S^2 sum_m |G_m|^2)``."""
        mdp = self.mdp
        M = self.n_groups
        dP = np.zeros(M)
        for h in range(_n_stages_P(mdp)):
            P = np.ascontiguousarray(mdp.P_at(h), dtype=np.float64)
            dP = np.maximum(dP, _diameter_kernel(P, self._order, self._starts).max(axis=0))
        R = mdp.stage_R()
        dR = np.zeros(M)
        for h in range(R.shape[0]):
            r = R[h]
            for m in range(M):
                vals = r[:, self._order[self._starts[m] : self._starts[m + 1]]]
                dR[m] = max(dR[m], float((vals.max(axis=1) - vals.min(axis=1)).max()))
        freeze(dP, dR)
        return GroupDiameter(float(dP.max()), float(dR.max()), dP, dR)

    # ------------------------------------------------------------ performance loss
    def loss_bound(self, *, leading: float = 2.0, value_span: float | None = None) -> float:
        """The approximation term ``A(g)`` of note 1.4 ([D]: reconstructed, constants ours).

        Discounted::

            A(g) = leading / (1 - gamma) * (eps_R + gamma * value_span * eps_P / 2)

        with ``value_span`` a bound on ``max V - min V`` of value functions (default
        ``(max R - min R) / (1 - gamma)``; the note's ``V_max = R_max / (1 - gamma)``
        for rewards in ``[0, R_max]``). Finite horizon ``H`` (our analogue)::

            A(g) = leading * H * (eps_R + value_span * eps_P / 2),

        default ``value_span = (H - 1) (max R - min R)``.

        Validity: ``V*_M - V^{lift pi_g*}_M = V*_M - V*_{M_g}`` (lifting identity), and
        the one-sided simulation argument ``T_g V >= T V - (eps_R + gamma eps_P
        span(V) / 2)`` bounds it by the expression above with ``leading = 1``. The
        note's ``leading = 2`` comes from the two-sided simulation lemma (needed once
        the grouped model is estimated); any ``leading >= 1`` is an upper bound.
        """
        lead = float(leading)
        if not np.isfinite(lead) or lead <= 0:
            raise ValueError(f"leading must be a positive finite number; got {leading!r}")
        mdp = self.mdp
        R = mdp.R
        spread = float(R.max() - R.min())
        if value_span is not None:
            span = float(value_span)
            if not np.isfinite(span) or span < 0:
                raise ValueError(f"value_span must be finite and >= 0; got {value_span!r}")
        d = self.dissimilarity()
        if mdp.discounted:
            g = mdp.gamma
            span = spread / (1.0 - g) if value_span is None else span
            return lead / (1.0 - g) * (d.eps_R + g * span * d.eps_P / 2.0)
        H = mdp.horizon
        span = (H - 1) * spread if value_span is None else span
        return lead * H * (d.eps_R + span * d.eps_P / 2.0)


# ------------------------------------------------------------------ helpers
def _require_mdp(mdp) -> None:
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP; got {type(mdp).__name__}")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def _n_stages_P(mdp: TabularMDP) -> int:
    return 1 if mdp.transitions_stationary else mdp.horizon


def _point_mass_weights(reps: np.ndarray, S: int, A: int) -> np.ndarray:
    w = np.zeros((1, S, A))
    w[:, :, reps] = 1.0
    return w


def _check_representatives(reps: np.ndarray, g: np.ndarray, M: int) -> np.ndarray:
    if reps.shape != (M,):
        raise ValueError(
            f"representatives (an int nu) must have one action per group, shape ({M},); "
            f"got {reps.shape}"
        )
    A = g.shape[0]
    for m, a in enumerate(reps):
        if not 0 <= a < A:
            raise ValueError(f"representative nu[{m}] = {a} is not an action in [0, {A})")
        if g[a] != m:
            raise ValueError(f"representative nu[{m}] = {a} is in group {g[a]}, not in group {m}")
    return reps.astype(np.int64)


def _weights_from_nu(arr, g: np.ndarray, M: int, S: int, A: int, H: int | None) -> np.ndarray:
    """Validate a dense ``nu`` ``(S, M, A)`` / ``(H, S, M, A)``; return ``(n, S, A)`` weights."""
    nu = as_real_array(arr, "nu")
    if nu.shape == (S, M, A):
        nu = nu[None]
        idx = lambda i: f"{i[1]}, {i[2]}"  # noqa: E731
        where = lambda i: f"state {i[1]}, group {i[2]}"  # noqa: E731
    elif H is not None and nu.shape == (H, S, M, A):
        idx = lambda i: f"{i[0]}, {i[1]}, {i[2]}"  # noqa: E731
        where = lambda i: f"stage {i[0]}, state {i[1]}, group {i[2]}"  # noqa: E731
    else:
        more = "" if H is None else f" or ({H}, {S}, {M}, {A})"
        raise ValueError(f"nu must have shape (S, M, A) = ({S}, {M}, {A}){more}; got {nu.shape}")
    bad = ~np.isfinite(nu) | (nu < 0)
    if bad.any():
        i = np.argwhere(bad)[0]
        raise ValueError(
            f"nu[{idx(i)}, {i[3]}] = {nu[tuple(i)]:.6g} ({where(i)}) is not a probability"
        )
    outside = (nu > 0) & (g[None, None, None, :] != np.arange(M)[None, None, :, None])
    if outside.any():
        i = np.argwhere(outside)[0]
        raise ValueError(
            f"nu[{idx(i)}, {i[3]}] = {nu[tuple(i)]:.6g} ({where(i)}) puts mass on action "
            f"{i[3]} of group {g[i[3]]}, outside group {i[2]}"
        )
    sums = nu.sum(axis=-1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if off.any():
        i = np.argwhere(off)[0]
        raise ValueError(
            f"nu[{idx(i)}, :] ({where(i)}) sums to {sums[tuple(i)]:.12g}; each row must sum "
            f"to 1 within {ROW_SUM_TOL:g}"
        )
    return nu[:, :, g, np.arange(A)]


# ------------------------------------------------------------------ kernels
# Both kernels are sequential on purpose: their work (S * sum_m |G_m|^2 * S, resp.
# n_stages * S * M * N draws) is small at the sizes of the grouping protocol, and
# parallel=True would more than double their compile time. The sampler gives every
# (h, s, m) its own RNG stream, so a prange version would return identical output.
@njit(cache=True)
def _diameter_kernel(P, order, starts):
    """``out[s, m] = max_{a, b in group m} sum_t |P[s, a, t] - P[s, b, t]|``."""
    S, _, T = P.shape
    M = starts.shape[0] - 1
    out = np.zeros((S, M))
    for s in range(S):
        for m in range(M):
            best = 0.0
            for i in range(starts[m], starts[m + 1]):
                a = order[i]
                for j in range(i + 1, starts[m + 1]):
                    b = order[j]
                    d = 0.0
                    for t in range(T):
                        d += abs(P[s, a, t] - P[s, b, t])
                    if d > best:
                        best = d
            out[s, m] = best
    return out


@njit(cache=True)
def _sample_grouped_kernel(cdf_P, last_P, R, W, order, starts, n_out, n, bernoulli, seeds):
    """Counts of ``s'`` and mean rewards from ``n`` draws ``a ~ nu_h(.|s,m)``, ``s' ~ P_h(.|s,a)``.

    ``cdf_P (nP, S, A, S)`` are the cumulative rows of ``P`` and ``last_P`` their last
    positive index (rounding fallback); ``R (nR, S, A)``, ``W (nW, S, A)`` within-group
    weights; actions of group ``m`` are ``order[starts[m]:starts[m+1]]``. Pair
    ``(h, s, m)`` uses stream ``seeds[(h * S + s) * M + m]``; per draw: one uniform for
    ``a``, one for a Bernoulli reward (if asked), one for ``s'``.
    """
    nP, S, _, _ = cdf_P.shape
    nR = R.shape[0]
    nW = W.shape[0]
    M = starts.shape[0] - 1
    counts = np.zeros((n_out, S, M, S))
    rewards = np.zeros((n_out, S, M))
    for r in range(n_out * S * M):
        h = r // (S * M)
        rest = r - h * S * M
        s = rest // M
        m = rest - s * M
        hp = h if nP > 1 else 0
        hr = h if nR > 1 else 0
        hw = h if nW > 1 else 0
        lo = starts[m]
        k = starts[m + 1] - lo
        cdf_a = np.empty(k)
        c = 0.0
        fallback = k - 1
        for i in range(k):
            wi = W[hw, s, order[lo + i]]
            c += wi
            cdf_a[i] = c
            if wi > 0.0:
                fallback = i
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[r], st)
        total = 0.0
        for _ in range(n):
            a = order[lo + cdf_search(cdf_a, k, next_double(st), fallback)]
            if bernoulli:
                if next_double(st) < R[hr, s, a]:
                    total += 1.0
            else:
                total += R[hr, s, a]
            s2 = cdf_search(cdf_P[hp, s, a], S, next_double(st), last_P[hp, s, a])
            counts[h, s, m, s2] += 1.0
        rewards[h, s, m] = total / n
    return counts, rewards


# ------------------------------------------------------------------ estimator
def sample_grouped_model(
    grouping: GroupedMDP,
    n_samples_per_pair: int,
    seed: SeedLike = None,
    *,
    reward_noise: str = "none",
) -> TabularMDP:
    """Empirical grouped MDP from a generative model (note 1.3, [R/D]).

    For every (stage,) state ``s`` and group ``m``, draw ``N = n_samples_per_pair``
    i.i.d. pairs ``a_i ~ nu_h(. | s, m)``, ``s'_i ~ P_h(. | s, a_i)`` and set
    ``P_hat(s'|s,m) = #{i: s'_i = s'} / N`` and ``R_hat(s,m) = mean_i r_i`` with
    ``r_i = R_h(s, a_i)`` (``reward_noise="none"``) or ``r_i ~ Bernoulli(R_h(s, a_i))``
    (``"bernoulli"``, needs rewards in [0, 1]). Stage-dependent models (or ``nu``) are
    sampled per stage; stationary ones once. Sample cost ``n_stages * S * M * N``.

    Seeded like :mod:`mdplab.sampling`: pair ``(h, s, m)`` owns RNG stream
    ``(h * S + s) * M + m`` of ``seed``, so the result does not depend on the order
    (or threads) in which pairs are drawn. Speed: about 0.1 us per draw.

    Returns a :class:`TabularMDP` with the grouped action space, the original
    objective and init; plan on it and execute the plan with
    :meth:`GroupedMDP.lift_policy`.
    """
    if not isinstance(grouping, GroupedMDP):
        raise TypeError(f"expected a GroupedMDP; got {type(grouping).__name__}")
    n = _positive_int(n_samples_per_pair, "n_samples_per_pair")
    if reward_noise not in ("none", "bernoulli"):
        raise ValueError(f"reward_noise must be 'none' or 'bernoulli'; got {reward_noise!r}")
    mdp = grouping.mdp
    R = np.ascontiguousarray(mdp.stage_R(), dtype=np.float64)
    bernoulli = reward_noise == "bernoulli"
    if bernoulli and ((R < 0) | (R > 1)).any():
        i = np.argwhere((R < 0) | (R > 1))[0]
        raise ValueError(
            "reward_noise='bernoulli' needs every mean reward in [0, 1]; "
            f"R at (stage, s, a) = ({i[0]}, {i[1]}, {i[2]}) is {R[tuple(i)]:.6g}"
        )
    P = np.ascontiguousarray(mdp.stage_P(), dtype=np.float64)
    cdf_P = np.cumsum(P, axis=-1)
    last_P = (P.shape[-1] - 1 - np.argmax(P[..., ::-1] > 0, axis=-1)).astype(np.int64)
    W = grouping._weights
    n_out = max(P.shape[0], R.shape[0], W.shape[0])
    S, M = mdp.S, grouping.n_groups
    seeds = stream_seeds(seed, n_out * S * M)
    counts, rewards = _sample_grouped_kernel(
        cdf_P, last_P, R, W, grouping._order, grouping._starts, n_out, n, bernoulli, seeds
    )
    P_hat = counts / n
    if n_out == 1:
        P_hat, rewards = P_hat[0], rewards[0]
    return TabularMDP(
        P_hat,
        rewards,
        gamma=mdp.gamma,
        horizon=mdp.horizon,
        init=mdp.init,
        name=f"grouped-empirical({mdp.name or 'mdp'}, M={M}, N={n})",
    )

"""Tabular MDPs: finite-horizon or discounted, dense or sparse, validated once.

A tabular MDP is the tuple ``(S, A, P, R, init)`` with either a horizon ``H``
(episodic) or a discount ``gamma`` in [0, 1) (infinite horizon):

* ``P[s, a, s'] = Pr(s_{h+1} = s' | s_h = s, a_h = a)`` for a stationary model,
  or ``P[h, s, a, s']`` for a stage-dependent (time-inhomogeneous) one;
* ``R[s, a]`` (or ``R[h, s, a]``) is the *mean* reward of taking ``a`` in ``s``;
* ``init[s]`` is the distribution of the first state (default: state 0);
* optionally, a discrete *reward distribution*: ``reward_atoms[..., s, a, j]``
  with probabilities ``reward_probs[..., s, a, j]`` (shape ``(S, A, J)`` or
  ``(H, S, A, J)``), the law of the reward of ``(s, a)``; ``R`` is then its mean
  (derived when ``R=None``, checked when given). Without one, the reward is
  deterministic: the one-atom distribution at ``R`` (what every
  expected-return solver uses either way; risk-sensitive planners, e.g. CVaR,
  need the law).

Objective. Finite horizon: ``V^pi_h(s) = E[sum_{t=h}^{H-1} R_t(s_t, a_t) | s_h = s]``
with stages indexed ``h = 0, ..., H-1`` and ``V_H = 0``. Discounted:
``V^pi(s) = E[sum_{t>=0} gamma^t R(s_t, a_t) | s_0 = s]``.

Two storage forms sit behind one interface:

* **dense**: ``P`` is an ``(S, A, S)`` or ``(H, S, A, S)`` float64 array;
* **sparse**: ``P`` is a CSR matrix whose row ``(h * S + s) * A + a`` is the
  successor distribution of ``(h, s, a)`` (``h`` omitted when stationary), built
  from any ``scipy.sparse`` matrix of shape ``(S*A, S)`` / ``(H*S*A, S)``, or from
  fixed-width successor lists with :meth:`TabularMDP.from_successors`.

Every planner and sampler accepts both forms. The model is validated at
construction (a bad input raises ``ValueError`` naming the offending index) and
is immutable afterwards: its arrays are read-only and attributes cannot be
rebound; :meth:`TabularMDP.replace` builds a modified copy.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mdplab.models._validation import ROW_SUM_TOL
from mdplab.models._validation import as_real_array as _as_real_array
from mdplab.models._validation import check_finite as _check_finite
from mdplab.models._validation import check_gamma as _check_gamma
from mdplab.models._validation import check_horizon as _check_horizon
from mdplab.models._validation import check_index as _check_index
from mdplab.models._validation import check_probability_rows as _check_probability_rows
from mdplab.models._validation import first as _first
from mdplab.models._validation import fmt_index as _fmt_index

_DENSE_LIMIT_BYTES = 2 * 1024**3

POLICY_SUM_TOL = 1e-9
"""Rows of a stochastic policy must sum to 1 within this tolerance."""


@dataclass(frozen=True, slots=True)
class CSRTransitions:
    """Successor lists of every (stage,) state-action row, in CSR layout.

    Row ``r = (h * S + s) * A + a`` has successors ``indices[indptr[r]:indptr[r+1]]``
    with probabilities ``data[indptr[r]:indptr[r+1]]``. ``indices`` is int32
    whenever it fits (half the memory traffic of int64 in the Bellman sweep).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

    @property
    def width(self) -> int:
        """The common number of successors per row, or -1 if rows differ."""
        counts = np.diff(self.indptr)
        return int(counts[0]) if counts.size and (counts == counts[0]).all() else -1

    def fixed_width(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(indices, data)`` as ``(n_rows, k)`` views when every row has k entries."""
        k = self.width
        if k <= 0:
            return None
        return self.indices.reshape(-1, k), self.data.reshape(-1, k)


def _row_label(row: int, S: int, A: int, stationary: bool) -> str:
    sa, a = divmod(row, A)
    h, s = divmod(sa, S)
    return f"P[{s}, {a}, :]" if stationary else f"P[{h}, {s}, {a}, :]"


class TabularMDP:
    """A finite MDP with known transitions and mean rewards (see module docstring).

    Parameters
    ----------
    P : array_like or scipy.sparse matrix
        Dense ``(S, A, S)`` / ``(H, S, A, S)`` array, or a sparse matrix of shape
        ``(S*A, S)`` / ``(H*S*A, S)`` whose row ``(h*S + s)*A + a`` is ``P_h(.|s,a)``.
    R : array_like
        Mean rewards, ``(S, A)`` or stage-dependent ``(H, S, A)``.
    gamma : float, optional
        Discount in [0, 1). Give exactly one of ``gamma`` and ``horizon``.
    horizon : int, optional
        Episode length ``H >= 1`` (finite horizon, undiscounted).
    init : int or array_like, optional
        Initial state index or distribution over states (default: state 0).
    name : str, optional
        A label used in reprs and reports.
    reward_atoms, reward_probs : array_like, optional
        A discrete reward law per (stage,) state-action pair, both of shape
        ``(S, A, J)`` or ``(H, S, A, J)`` (``J`` atoms; probabilities rows sum to
        1). ``R`` may then be ``None`` (it becomes the mean); a given ``R`` must
        equal the mean within ``1e-9``.
    """

    __slots__ = (
        "S",
        "A",
        "horizon",
        "gamma",
        "stationary",
        "is_sparse",
        "name",
        "_P",
        "_csr",
        "_R",
        "_init",
        "_ratoms",
        "_rprobs",
    )

    def __init__(self, P, R, *, gamma=None, horizon=None, init=None, name: str | None = None,
                 reward_atoms=None, reward_probs=None):
        set_ = object.__setattr__
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None; got {type(name).__name__} {name!r}")
        horizon = _check_horizon(horizon)
        ratoms, rprobs, R = _check_reward_law(reward_atoms, reward_probs, R, horizon)
        gamma = _check_gamma(gamma)
        if (horizon is None) == (gamma is None):
            raise ValueError(
                "give exactly one of gamma= (discounted, in [0, 1)) or horizon= "
                "(finite horizon, integer >= 1)"
            )
        R_arr = _as_real_array(R, "R")
        if R_arr.ndim not in (2, 3):
            raise ValueError(f"R must have shape (S, A) or (H, S, A); got shape {R_arr.shape}")

        if sp.issparse(P):
            A = R_arr.shape[-1]
            csr, S, stationary = self._validate_sparse(P, A, horizon)
            dense = None
        else:
            dense = _as_real_array(P, "P")
            if dense.ndim not in (3, 4):
                raise ValueError(
                    f"P must have shape (S, A, S) or (H, S, A, S); got shape {dense.shape}"
                )
            S, A = dense.shape[-3], dense.shape[-2]
            if dense.shape[-1] != S:
                raise ValueError(
                    f"P has shape {dense.shape}: the next-state axis has {dense.shape[-1]} "
                    f"entries but there are {S} states"
                )
            if S < 1 or A < 1:
                raise ValueError(
                    f"P must have at least one state and one action; got {dense.shape}"
                )
            stationary = dense.ndim == 3
            if not stationary:
                if horizon is None:
                    raise ValueError(
                        "a stage-dependent P of shape (H, S, A, S) needs horizon=H; "
                        "discounted models must be stationary"
                    )
                if dense.shape[0] != horizon:
                    raise ValueError(
                        f"P has {dense.shape[0]} stages (shape {dense.shape}) but horizon={horizon}"
                    )
            _check_probability_rows(dense, "P")
            csr = None

        # Rewards.
        if R_arr.shape[-2:] != (S, A):
            raise ValueError(f"R has shape {R_arr.shape} but P implies (S, A) = ({S}, {A})")
        if R_arr.ndim == 3:
            if horizon is None:
                raise ValueError(
                    "a stage-dependent R of shape (H, S, A) needs horizon=H; "
                    "discounted models must be stationary"
                )
            if R_arr.shape[0] != horizon:
                raise ValueError(
                    f"R has {R_arr.shape[0]} stages (shape {R_arr.shape}) but horizon={horizon}"
                )
        _check_finite(R_arr, "R", "rewards")

        # Initial distribution.
        if init is None:
            init_arr = np.zeros(S)
            init_arr[0] = 1.0
        elif isinstance(init, numbers.Integral) and not isinstance(init, bool):
            if not 0 <= init < S:
                raise ValueError(f"init = {init} is not a state index in [0, {S})")
            init_arr = np.zeros(S)
            init_arr[int(init)] = 1.0
        else:
            init_arr = _as_real_array(init, "init")
            if init_arr.shape != (S,):
                raise ValueError(
                    f"init must be a state index or a distribution of shape ({S},); "
                    f"got shape {init_arr.shape}"
                )
            _check_finite(init_arr, "init", "probabilities")
            if (init_arr < 0).any():
                i = int(np.argmax(init_arr < 0))
                raise ValueError(f"init[{i}] = {init_arr[i]:.6g} is negative")
            if abs(init_arr.sum() - 1.0) > ROW_SUM_TOL:
                raise ValueError(
                    f"init sums to {init_arr.sum():.12g}; it must sum to 1 within {ROW_SUM_TOL:g}"
                )

        if ratoms is not None and ratoms.shape[-3:-1] != (S, A):
            raise ValueError(f"reward_atoms has shape {ratoms.shape} but P implies (S, A) = "
                             f"({S}, {A}); expected (S, A, J) or (H, S, A, J)")
        for arr in (dense, R_arr, init_arr, ratoms, rprobs):
            if arr is not None:
                arr.flags.writeable = False
        if csr is not None:
            for arr in (csr.indptr, csr.indices, csr.data):
                arr.flags.writeable = False

        set_(self, "S", int(S))
        set_(self, "A", int(A))
        set_(self, "horizon", horizon)
        set_(self, "gamma", gamma)
        set_(self, "stationary", bool(stationary and R_arr.ndim == 2))
        set_(self, "is_sparse", csr is not None)
        set_(self, "name", name)
        set_(self, "_P", dense)
        set_(self, "_csr", csr)
        set_(self, "_R", R_arr)
        set_(self, "_init", init_arr)
        set_(self, "_ratoms", ratoms)
        set_(self, "_rprobs", rprobs)

    # ------------------------------------------------------------------ build
    @staticmethod
    def _validate_sparse(P, A: int, horizon: int | None):
        if P.ndim != 2:
            raise ValueError(f"a sparse P must be 2-D (rows (h, s, a), columns s'); got {P.shape}")
        n_rows, S = P.shape
        if S < 1 or A < 1:
            raise ValueError(f"P must have at least one state and one action; got {P.shape}")
        if n_rows == S * A:
            stationary = True
        elif horizon is not None and n_rows == horizon * S * A:
            stationary = False
        else:
            expect = f"(S*A, S) = ({S * A}, {S})"
            if horizon is not None:
                expect += f" or (H*S*A, S) = ({horizon * S * A}, {S})"
            raise ValueError(
                f"sparse P has shape {P.shape}; with A = {A} actions (from R) it must be {expect}"
            )
        if P.dtype == object or not (
            np.issubdtype(P.dtype, np.floating)
            or np.issubdtype(P.dtype, np.integer)
            or P.dtype == bool
        ):
            raise ValueError(f"P must be a real numeric array; got a sparse matrix of dtype "
                             f"{P.dtype}")
        m = sp.csr_matrix(P, dtype=np.float64, copy=True)
        m.sum_duplicates()
        m.sort_indices()
        data = np.ascontiguousarray(m.data, dtype=np.float64)
        indptr = np.ascontiguousarray(m.indptr, dtype=np.int64)
        row_of = np.repeat(np.arange(n_rows), np.diff(indptr))
        bad = ~np.isfinite(data)
        if bad.any():
            k = int(np.argmax(bad))
            label = _row_label(int(row_of[k]), S, A, stationary)[:-4]
            raise ValueError(f"{label}, {m.indices[k]}] is {data[k]}; probabilities must be finite")
        neg = data < 0
        if neg.any():
            k = int(np.argmax(neg))
            label = _row_label(int(row_of[k]), S, A, stationary)[:-4]
            raise ValueError(f"{label}, {m.indices[k]}] = {data[k]:.6g} is negative")
        sums = np.bincount(row_of, weights=data, minlength=n_rows)
        off = np.abs(sums - 1.0) > ROW_SUM_TOL
        if off.any():
            r = int(np.argmax(off))
            raise ValueError(
                f"{_row_label(r, S, A, stationary)} sums to {sums[r]:.12g}; "
                f"each row must sum to 1 within {ROW_SUM_TOL:g}"
            )
        idx_dtype = np.int32 if S <= np.iinfo(np.int32).max else np.int64
        csr = CSRTransitions(indptr, np.ascontiguousarray(m.indices, dtype=idx_dtype), data)
        return csr, S, stationary

    @classmethod
    def from_successors(cls, successors, probabilities, R, **kwargs) -> TabularMDP:
        """Build a sparse model from fixed-width successor lists.

        ``successors[..., s, a, k]`` is the k-th possible next state of ``(s, a)``
        (leading axis ``h`` for stage-dependent models) and ``probabilities`` has
        the same shape. Repeated successors are summed.
        """
        succ = np.asarray(successors)
        if not np.issubdtype(succ.dtype, np.integer):
            raise ValueError(f"successors must be an integer array; got dtype {succ.dtype}")
        prob = _as_real_array(probabilities, "probabilities")
        if succ.shape != prob.shape or succ.ndim not in (3, 4):
            raise ValueError(
                "successors and probabilities must share a shape (S, A, k) or (H, S, A, k); "
                f"got {succ.shape} and {prob.shape}"
            )
        S = succ.shape[-3]
        if succ.shape[-1] < 1:
            raise ValueError("successors must list at least one successor per (s, a) (k >= 1)")
        bad = (succ < 0) | (succ >= S)
        if bad.any():
            idx = _first(bad)
            raise ValueError(
                f"successors[{_fmt_index(idx)}] = {succ[idx]} is not a state index in [0, {S})"
            )
        k = succ.shape[-1]
        n_rows = int(np.prod(succ.shape[:-1]))
        indptr = np.arange(0, n_rows * k + 1, k, dtype=np.int64)
        P = sp.csr_matrix((prob.ravel(), succ.ravel(), indptr), shape=(n_rows, S))
        return cls(P, R, **kwargs)

    def replace(self, **changes) -> TabularMDP:
        """A copy with some of ``P, R, gamma, horizon, init, name`` changed.

        Switching between discounted and finite horizon needs both keys, e.g.
        ``mdp.replace(gamma=None, horizon=20)``.
        """
        fields = dict(
            P=self._P if self._P is not None else self.transition_matrix(),
            R=self._R,
            gamma=self.gamma,
            horizon=self.horizon,
            init=self._init,
            name=self.name,
            reward_atoms=self._ratoms,
            reward_probs=self._rprobs,
        )
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; valid: {sorted(fields)}")
        if "R" in changes and not {"reward_atoms", "reward_probs"} & set(changes):
            # New mean rewards without a new law: the rewards become deterministic.
            fields["reward_atoms"] = fields["reward_probs"] = None
        elif {"reward_atoms", "reward_probs"} & set(changes) and "R" not in changes:
            fields["R"] = None  # derived from the new law
        fields.update(changes)
        return TabularMDP(fields.pop("P"), fields.pop("R"), **fields)

    def __setattr__(self, key, value):
        raise AttributeError(
            f"TabularMDP is immutable; use .replace({key}=...) for a modified copy"
        )

    def __delattr__(self, key):
        raise AttributeError("TabularMDP is immutable")

    # -------------------------------------------------------------- accessors
    @property
    def discounted(self) -> bool:
        return self.gamma is not None

    @property
    def n_stages(self) -> int:
        """Number of distinct transition/reward stages stored (1 if stationary)."""
        if self._P is not None:
            n_p = 1 if self._P.ndim == 3 else self._P.shape[0]
        else:
            n_p = (len(self._csr.indptr) - 1) // (self.S * self.A)
        return max(n_p, 1 if self._R.ndim == 2 else self._R.shape[0])

    @property
    def transitions_stationary(self) -> bool:
        if self._P is not None:
            return self._P.ndim == 3
        return len(self._csr.indptr) - 1 == self.S * self.A

    @property
    def R(self) -> np.ndarray:
        """Mean rewards, ``(S, A)`` or ``(H, S, A)`` (read-only)."""
        return self._R

    @property
    def has_reward_distribution(self) -> bool:
        """True when a reward law was given (see the module docstring)."""
        return self._ratoms is not None

    @property
    def reward_atoms(self) -> np.ndarray:
        """Reward atoms ``(S, A, J)`` / ``(H, S, A, J)``; ``R[..., None]`` if deterministic."""
        return self._ratoms if self._ratoms is not None else self._R[..., None]

    @property
    def reward_probs(self) -> np.ndarray:
        """Probabilities of :attr:`reward_atoms` (all ones for deterministic rewards)."""
        if self._rprobs is not None:
            return self._rprobs
        out = np.ones(self._R.shape + (1,))
        out.flags.writeable = False
        return out

    def stage_reward_law(self) -> tuple[np.ndarray, np.ndarray]:
        """``(atoms, probs)`` with an explicit stage axis: ``(n_stages_R, S, A, J)``."""
        at, pr = self.reward_atoms, self.reward_probs
        return (at[None], pr[None]) if at.ndim == 3 else (at, pr)

    @property
    def init(self) -> np.ndarray:
        """Initial state distribution, shape ``(S,)`` (read-only)."""
        return self._init

    @property
    def P(self):
        """Transitions: the dense read-only array, or a CSR matrix for sparse models."""
        return self._P if self._P is not None else self.transition_matrix()

    @property
    def csr(self) -> CSRTransitions:
        """CSR successor lists (built on demand for dense models)."""
        if self._csr is not None:
            return self._csr
        m = sp.csr_matrix(self._P.reshape(-1, self.S))
        return CSRTransitions(
            m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float64)
        )

    @property
    def nnz(self) -> int:
        """Number of stored transition probabilities (non-zeros for sparse models)."""
        return int(self._csr.data.size) if self._csr is not None else int(self._P.size)

    def transition_matrix(self) -> sp.csr_matrix:
        """``P`` as a CSR matrix of shape ``(n_stages * S * A, S)``."""
        if self._csr is None:
            return sp.csr_matrix(self._P.reshape(-1, self.S))
        c = self._csr
        return sp.csr_matrix((c.data, c.indices, c.indptr), shape=(len(c.indptr) - 1, self.S))

    def dense_P(self) -> np.ndarray:
        """``P`` as a dense array (densifies a sparse model; refuses beyond 2 GiB)."""
        if self._P is not None:
            return self._P
        n_rows = len(self._csr.indptr) - 1
        if n_rows * self.S * 8 > _DENSE_LIMIT_BYTES:
            raise ValueError(
                f"densifying P would take {n_rows * self.S * 8 / 1024**3:.1f} GiB; "
                "use a sparse-capable method instead"
            )
        shape = (
            (self.S, self.A, self.S)
            if n_rows == self.S * self.A
            else (n_rows // (self.S * self.A), self.S, self.A, self.S)
        )
        out = self.transition_matrix().toarray().reshape(shape)
        out.flags.writeable = False
        return out

    def _stage(self, h) -> int:
        """``h`` as a stage index in ``[0, H)`` (``[0, 1)`` when discounted), else ValueError."""
        if self.horizon is None:
            return _check_index(h, "stage h", 1, " (a discounted model has the single stage 0)")
        return _check_index(h, "stage h", self.horizon, f" (horizon H = {self.horizon})")

    def P_at(self, h: int = 0) -> np.ndarray:
        """Dense transitions of stage ``h``, shape ``(S, A, S)``."""
        h = self._stage(h)
        P = self.dense_P()
        return P if P.ndim == 3 else P[h]

    def R_at(self, h: int = 0) -> np.ndarray:
        """Mean rewards of stage ``h``, shape ``(S, A)``."""
        h = self._stage(h)
        return self._R if self._R.ndim == 2 else self._R[h]

    def stage_P(self) -> np.ndarray:
        """Dense transitions with an explicit stage axis: ``(n_stages_P, S, A, S)``."""
        P = self.dense_P()
        return P[None] if P.ndim == 3 else P

    def stage_R(self) -> np.ndarray:
        """Rewards with an explicit stage axis: ``(n_stages_R, S, A)``."""
        return self._R[None] if self._R.ndim == 2 else self._R

    def to_dense(self) -> TabularMDP:
        """The same model in dense storage."""
        return self if self._csr is None else self.replace(P=self.dense_P())

    def to_sparse(self) -> TabularMDP:
        """The same model in sparse (CSR) storage."""
        return self if self._csr is not None else self.replace(P=self.transition_matrix())

    def __repr__(self) -> str:
        kind = f"horizon={self.horizon}" if self.horizon is not None else f"gamma={self.gamma}"
        form = "sparse" if self.is_sparse else "dense"
        stat = "stationary" if self.stationary else "stage-dependent"
        label = f"{self.name!r}, " if self.name else ""
        return f"TabularMDP({label}S={self.S}, A={self.A}, {kind}, {form}, {stat})"


REWARD_MEAN_TOL = 1e-9
"""A given ``R`` must equal the mean of the reward law within this (absolute) tolerance."""


def _check_reward_law(atoms, probs, R, horizon):
    """Validate ``(reward_atoms, reward_probs)``; return them and ``R`` (derived if None)."""
    if atoms is None and probs is None:
        if R is None:
            raise ValueError("R (mean rewards) is required unless reward_atoms and "
                             "reward_probs give the reward law")
        return None, None, R
    if atoms is None or probs is None:
        raise ValueError("give both reward_atoms and reward_probs (or neither)")
    at = _as_real_array(atoms, "reward_atoms").copy()
    pr = _as_real_array(probs, "reward_probs").copy()
    if at.ndim not in (3, 4):
        raise ValueError(f"reward_atoms must have shape (S, A, J) or (H, S, A, J); got {at.shape}")
    if pr.shape != at.shape:
        raise ValueError(f"reward_probs has shape {pr.shape}; it must match reward_atoms "
                         f"{at.shape}")
    if at.shape[-1] < 1:
        raise ValueError("reward_atoms needs at least one atom per (s, a) (J >= 1)")
    if at.ndim == 4:
        if horizon is None:
            raise ValueError("a stage-dependent reward law (H, S, A, J) needs horizon=H")
        if at.shape[0] != horizon:
            raise ValueError(f"reward_atoms has {at.shape[0]} stages (shape {at.shape}) but "
                             f"horizon={horizon}")
    _check_finite(at, "reward_atoms", "rewards")
    _check_probability_rows(pr, "reward_probs")
    mean = (at * pr).sum(axis=-1)
    if R is None:
        return at, pr, mean
    R_arr = _as_real_array(R, "R")
    if R_arr.shape != mean.shape:
        raise ValueError(f"R has shape {R_arr.shape} but the reward law implies {mean.shape}")
    off = np.abs(R_arr - mean) > REWARD_MEAN_TOL
    if off.any():
        idx = _first(off)
        raise ValueError(f"R[{_fmt_index(idx)}] = {R_arr[idx]:.12g} is not the mean "
                         f"{mean[idx]:.12g} of the reward law reward_atoms/reward_probs"
                         f"[{_fmt_index(idx)}, :]")
    return at, pr, R_arr


def normalize_policy(mdp: TabularMDP, policy) -> tuple[bool, np.ndarray]:
    """Validate a policy and give it an explicit stage axis.

    Accepted forms (deterministic policies must have an integer dtype):
    ``(S,)`` int and ``(S, A)`` float for any model; ``(H, S)`` int and
    ``(H, S, A)`` float for finite-horizon models. Returns
    ``(deterministic, array)`` with array ``(n, S)`` int64 or ``(n, S, A)``
    float64, ``n`` being 1 (stationary) or ``H``. Every evaluator in
    :mod:`mdplab.planning` and every model sampler validates policies with it.
    """
    try:
        arr = np.asarray(policy)
    except (ValueError, TypeError) as exc:  # ragged lists and similar
        raise ValueError(f"policy must be an array of actions or action probabilities: "
                         f"{exc}") from None
    S, A, H = mdp.S, mdp.A, mdp.horizon
    if np.issubdtype(arr.dtype, np.integer):
        if arr.ndim == 1:
            arr = arr[None]
        elif not (arr.ndim == 2 and H is not None):
            raise ValueError(
                f"a deterministic policy must have shape (S,) = ({S},)"
                + (f" or (H, S) = ({H}, {S})" if H is not None else "")
                + f"; got {arr.shape}"
            )
        if arr.shape[-1] != S or arr.shape[0] not in (1, H or 1):
            raise ValueError(f"policy has shape {np.asarray(policy).shape}; S={S}, H={H}")
        bad = (arr < 0) | (arr >= A)
        if bad.any():
            idx = tuple(np.argwhere(bad)[0])
            where = f"policy[{idx[1]}]" if np.asarray(policy).ndim == 1 else f"policy{list(idx)}"
            raise ValueError(f"{where} = {arr[idx]} is not an action in [0, {A})")
        return True, np.ascontiguousarray(arr, dtype=np.int64)
    if not (np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool):
        raise ValueError(f"policy must be an integer or float array; got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    elif not (arr.ndim == 3 and H is not None):
        raise ValueError(
            f"a stochastic policy must have shape (S, A) = ({S}, {A})"
            + (f" or (H, S, A) = ({H}, {S}, {A})" if H is not None else "")
            + f"; got {arr.shape} (deterministic policies need an integer dtype)"
        )
    if arr.shape[1:] != (S, A) or arr.shape[0] not in (1, H or 1):
        raise ValueError(f"policy has shape {np.asarray(policy).shape}; S={S}, A={A}, H={H}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        idx = tuple(np.argwhere(~np.isfinite(arr) | (arr < 0))[0])
        raise ValueError(f"policy{list(idx)} = {arr[idx]} is not a probability")
    sums = arr.sum(-1)
    off = np.abs(sums - 1) > POLICY_SUM_TOL
    if off.any():
        h, s = np.argwhere(off)[0]
        label = f"policy[{s}, :]" if np.asarray(policy).ndim == 2 else f"policy[{h}, {s}, :]"
        raise ValueError(f"{label} sums to {sums[h, s]:.12g}; must sum to 1")
    return False, np.ascontiguousarray(arr)

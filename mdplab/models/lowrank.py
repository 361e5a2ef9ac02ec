"""Low-rank, linear, block and linear-mixture MDPs: structured transition models.

Every model here is a tabular MDP whose transitions have a known factorised
form. Each is validated once at construction, is immutable, converts exactly to
a :class:`~mdplab.models.TabularMDP` with ``.to_tabular()`` and exposes a
structured one-step backup ``q_backup(V, h)`` that never forms ``P``.

* :class:`LowRankMDP` -- ``P_h(s'|s,a) = phi_h(s,a)^T mu_h(s')`` with
  ``phi_h(s,a) in R^d`` and ``mu_h(s') in R^d`` (FLAMBE / Rep-UCB setting);
* :class:`LinearMDP` -- a low-rank MDP with known features and linear rewards
  ``r_h(s,a) = phi_h(s,a)^T theta_h`` (Jin, Yang, Wang, Jordan, COLT 2020);
* :class:`BlockMDP` -- a low-rank MDP built from latent transitions
  ``T_h(z'|z,a)`` and an emission ``q_h(x|z)`` with disjoint supports:
  ``phi_h(x,a) = T_h(.|f(x),a)``, ``mu_h(x')_z = q_h(x'|z)``;
* :class:`LinearMixtureMDP` -- ``P(s'|s,a) = <phi(s'|s,a), theta>`` with known
  features ``phi(s'|s,a) in R^d`` and unknown ``theta`` (UCRL-VTR, HF-O2PS);
* :class:`FeatureClass` -- a finite class of candidate feature maps with a
  maximum-likelihood oracle (:func:`mle_mu`, EM with a certified stopping rule).

Conventions. States ``S``, actions ``A``, feature dimension ``d``; stages
``h = 0, ..., H-1`` with ``V_H = 0`` as in :mod:`mdplab.models.tabular`. ``phi``
is ``(S, A, d)`` or stage-dependent ``(H, S, A, d)``; ``mu`` is ``(d, S)`` (row
``j`` is the signed measure ``mu_j``, so ``P_h[s, a, :] = phi_h[s, a] @ mu_h``) or
``(H, d, S)``. Either factor may be stage-dependent on its own.

``phi`` and ``mu`` may be *signed* (a general factorisation, e.g. from an SVD):
only their product must be a transition kernel. Product entries in
``[-NEGATIVE_TOL, 0)`` are taken as rounding and set to 0 by ``to_tabular()``.
The *simplex parameterisation* of the representation-learning literature
(``phi(s,a) in Delta_d``, ``mu_j in Delta_S``) is the non-negative special case;
only it admits the latent-variable sampler ``z ~ phi(s,a), s' ~ mu_z``.

Provenance. The definitions follow the spec notes (grouping/subsample/low-rank
notes, section 3; CVaR/PSR/horizon-free notes, sections 1.4-1.5 and 3.5). The
linear-MDP norm conventions are the notes' reconstruction of Jin et al. (tagged
[R]) and are reported, never enforced. The MLE oracle is the EM of note 3.4(d)
([D], a workbench design), with a stopping certificate and SQUAREM acceleration
added here.

Exact solvers: :mod:`mdplab.planning.lowrank` (structured backward induction and
certified value iteration through ``q_backup``, O(S A d) per stage, returning a
:class:`~mdplab.planning.PlanningResult`); ``import mdplab`` also attaches them as
methods (``model.backward_induction()``, ``model.value_iteration(eps)``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from mdplab.kernels.rng import next_double, seed_sequence, seed_state, stream_seeds
from mdplab.kernels.sampling import cdf_search
from mdplab.models._validation import (
    ROW_SUM_TOL,
    check_index,
    check_int,
    check_real,
    check_tolerance,
)
from mdplab.models._validation import as_real_array as _as_real_array
from mdplab.models._validation import check_finite as _check_finite
from mdplab.models._validation import check_gamma as _check_gamma
from mdplab.models._validation import check_horizon as _check_horizon
from mdplab.models._validation import check_probability_rows as _check_probability_rows
from mdplab.models._validation import check_value_vector as _check_value_vector_core
from mdplab.models._validation import first as _first
from mdplab.models._validation import fmt_index as _fmt_index
from mdplab.models.tabular import _DENSE_LIMIT_BYTES, TabularMDP

__all__ = [
    "NEGATIVE_TOL",
    "BlockMDP",
    "FeatureClass",
    "LinearMDP",
    "LinearMixtureMDP",
    "LowRankMDP",
    "MLEFit",
    "MLEResult",
    "mle_mu",
]

NEGATIVE_TOL = 1e-12
"""Product entries ``phi^T mu`` in ``[-NEGATIVE_TOL, 0)`` are rounding, not negative
probabilities (a signed factorisation of a kernel with zeros produces them)."""

SAMPLE_CHUNK = 65536
"""Draws per RNG stream of the direct sampler (fixed, so output does not depend on threads)."""

_PRODUCT_BLOCK = 1 << 22  # entries of P formed at once when checking a signed product


# ---------------------------------------------------------------- validation
def _check_objective(horizon, gamma):
    horizon = _check_horizon(horizon)
    gamma = _check_gamma(gamma)
    if (horizon is None) == (gamma is None):
        raise ValueError(
            "give exactly one of gamma= (discounted, in [0, 1)) or horizon= "
            "(finite horizon, integer >= 1)"
        )
    return horizon, gamma


def _check_stages(arr: np.ndarray, name: str, staged_ndim: int, layout: str, horizon):
    """A stage-dependent array needs ``horizon`` and exactly ``horizon`` stages."""
    if arr.ndim != staged_ndim:
        return
    if horizon is None:
        raise ValueError(
            f"a stage-dependent {name} of shape {layout} needs horizon=H; "
            "discounted models must be stationary"
        )
    if arr.shape[0] != horizon:
        raise ValueError(
            f"{name} has {arr.shape[0]} stages (shape {arr.shape}) but horizon={horizon}"
        )


def _check_rewards(R, S: int, A: int, horizon) -> np.ndarray:
    R = _as_real_array(R, "R")
    if R.ndim not in (2, 3):
        raise ValueError(f"R must have shape (S, A) or (H, S, A); got shape {R.shape}")
    if R.shape[-2:] != (S, A):
        raise ValueError(f"R has shape {R.shape} but the model has (S, A) = ({S}, {A})")
    _check_stages(R, "R", 3, "(H, S, A)", horizon)
    _check_finite(R, "R", "rewards")
    return R


def _check_init(init, S: int) -> np.ndarray:
    """Initial state index or distribution (default: state 0), as in TabularMDP."""
    if init is None:
        out = np.zeros(S)
        out[0] = 1.0
        return out
    if isinstance(init, numbers.Integral) and not isinstance(init, bool):
        if not 0 <= init < S:
            raise ValueError(f"init = {init} is not a state index in [0, {S})")
        out = np.zeros(S)
        out[int(init)] = 1.0
        return out
    out = _as_real_array(init, "init")
    if out.shape != (S,):
        raise ValueError(
            f"init must be a state index or a distribution of shape ({S},); got shape {out.shape}"
        )
    _check_finite(out, "init", "probabilities")
    if (out < 0).any():
        i = int(np.argmax(out < 0))
        raise ValueError(f"init[{i}] = {out[i]:.6g} is negative")
    if abs(out.sum() - 1.0) > ROW_SUM_TOL:
        raise ValueError(f"init sums to {out.sum():.12g}; it must sum to 1 within {ROW_SUM_TOL:g}")
    return out


def _check_stage_index(h, horizon) -> int:
    n = horizon if horizon is not None else 1
    if isinstance(h, bool) or not isinstance(h, numbers.Integral) or not 0 <= h < n:
        extra = f" (horizon H = {horizon})" if horizon is not None else " (discounted: stage 0)"
        raise ValueError(f"stage h must be an integer in [0, {n}){extra}; got {h!r}")
    return int(h)


def _check_value_vector(V, S: int) -> np.ndarray:
    """A finite real ``(S,)`` value vector (float64 copy)."""
    return _check_value_vector_core(V, (S,), "V")


def _at(arr: np.ndarray, h: int, stationary_ndim: int) -> np.ndarray:
    return arr if arr.ndim == stationary_ndim else arr[h]


def _staged(arr: np.ndarray, stationary_ndim: int) -> np.ndarray:
    return arr[None] if arr.ndim == stationary_ndim else arr


def _idx(prefix, *rest) -> str:
    return ", ".join(str(int(i)) for i in (*prefix, *rest))


def _check_product_kernel(phi: np.ndarray, mu: np.ndarray) -> None:
    """``phi_h @ mu_h`` is a transition kernel at every stage, without storing ``P``.

    Row sums are ``phi_h(s,a)^T (mu_h 1)``: O(S A d). Non-negativity is automatic
    for non-negative factors; a signed factorisation is checked block by block.
    """
    n_stages = max(phi.shape[0] if phi.ndim == 4 else 1, mu.shape[0] if mu.ndim == 3 else 1)
    staged = n_stages > 1 or phi.ndim == 4 or mu.ndim == 3
    nonneg = bool((phi >= 0).all() and (mu >= 0).all())
    S, A, d = phi.shape[-3:]
    for h in range(n_stages):
        ph, m = _at(phi, h, 3), _at(mu, h, 2)
        hp = (h,) if phi.ndim == 4 else ()
        hm = (h,) if mu.ndim == 3 else ()
        P_name = f"P_{h}" if staged else "P"
        mu_name = f"mu[{h}]" if mu.ndim == 3 else "mu"
        sums = ph @ m.sum(axis=-1)
        off = np.abs(sums - 1.0) > ROW_SUM_TOL
        if off.any():
            s, a = _first(off)
            raise ValueError(
                f"{P_name}(.|s={s}, a={a}) = phi[{_idx(hp, s, a)}] @ {mu_name} "
                f"sums to {sums[s, a]:.12g}; each row must sum to 1 within {ROW_SUM_TOL:g}"
            )
        if nonneg:
            continue
        rows = ph.reshape(S * A, d)
        step = max(1, _PRODUCT_BLOCK // S)
        for start in range(0, S * A, step):
            block = rows[start : start + step] @ m
            bad = block < -NEGATIVE_TOL
            if bad.any():
                r, sp = _first(bad)
                s, a = divmod(start + int(r), A)
                raise ValueError(
                    f"{P_name}(s'={sp} | s={s}, a={a}) = phi[{_idx(hp, s, a)}] @ "
                    f"mu[{_idx(hm)}{', ' if hm else ''}:, {sp}] = {block[r, sp]:.6g} is negative "
                    "(phi and mu may be signed, but their product must be a probability)"
                )


class _Frozen:
    __slots__ = ()

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, key):
        raise AttributeError(f"{type(self).__name__} is immutable")


def _tabular(P: np.ndarray, model) -> TabularMDP:
    return TabularMDP(
        P, model.R, gamma=model.gamma, horizon=model.horizon, init=model.init, name=model.name
    )


def _check_dense_size(n_entries: int, what: str) -> None:
    if n_entries * 8 > _DENSE_LIMIT_BYTES:
        raise ValueError(
            f"{what} would take {n_entries * 8 / 1024**3:.1f} GiB as a dense array; use the "
            "structured planners (mdplab.planning.lowrank_backward_induction / "
            "lowrank_value_iteration) and the direct sampler"
        )


# ------------------------------------------------------------- direct sampler
@njit(parallel=True, cache=True)
def _draw_next_states(phi, mass, mu_cdf, last, hp, hm, states, actions, chunk, seeds, out):
    """``out[i] ~ P_h(.|states[i], actions[i])`` by ``z ~ phi(s,a) * mass``, ``s' ~ mu_z``.

    ``phi (n_phi, S, A, d)`` and ``mu_cdf (n_mu, d, S)`` (running sums of the
    non-negative rows of ``mu``, total ``mass``) carry an explicit stage axis;
    ``hp``/``hm`` pick the stage. Draw ``i`` belongs to chunk ``i // chunk``, which
    owns the stream ``seeds[i // chunk]`` (two uniforms per draw: ``z``, then ``s'``).
    """
    n = states.shape[0]
    d = phi.shape[3]
    S = mu_cdf.shape[2]
    for c in prange(seeds.shape[0]):
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[c], st)
        hi = min(n, (c + 1) * chunk)
        for i in range(c * chunk, hi):
            s = states[i]
            a = actions[i]
            total = 0.0
            for j in range(d):
                total += phi[hp, s, a, j] * mass[hm, j]
            u = next_double(st) * total
            acc = 0.0
            z = -1
            for j in range(d):
                w = phi[hp, s, a, j] * mass[hm, j]
                acc += w
                if w > 0.0 and u < acc:
                    z = j
                    break
            if z < 0:  # rounding: u beyond the accumulated total
                for j in range(d - 1, -1, -1):
                    if phi[hp, s, a, j] * mass[hm, j] > 0.0:
                        z = j
                        break
            u2 = next_double(st) * mu_cdf[hm, z, S - 1]
            out[i] = cdf_search(mu_cdf[hm, z], S, u2, last[hm, z])


def _as_index_array(x, name: str, upper: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array; got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= upper)
    if bad.any():
        idx = _first(np.atleast_1d(bad))
        raise ValueError(
            f"{name}[{_fmt_index(idx)}] = {np.atleast_1d(arr)[idx]} is not in [0, {upper})"
        )
    return arr.astype(np.int64)


# ------------------------------------------------------------------ low rank
class LowRankMDP(_Frozen):
    """A low-rank MDP ``P_h(s'|s,a) = phi_h(s,a)^T mu_h(s')`` (see module docstring).

    Parameters
    ----------
    phi : array_like
        Features, ``(S, A, d)`` or stage-dependent ``(H, S, A, d)``; may be signed.
    mu : array_like
        Measures, ``(d, S)`` or ``(H, d, S)``: ``P_h[s, a, :] = phi_h[s, a] @ mu_h``.
        May be signed; only the product must be stochastic.
    R : array_like
        Mean rewards ``(S, A)`` or ``(H, S, A)``.
    horizon, gamma : exactly one of them (finite horizon ``H >= 1`` or discount in [0, 1)).
        Stage-dependent ``phi``, ``mu`` or ``R`` need ``horizon``.
    init : int or array_like, optional
        Initial state or distribution (default: state 0).
    name : str, optional

    Validation (each failure a ``ValueError`` naming the stage, state and action):
    equal ``d`` in ``phi`` and ``mu``, ``S`` in ``phi`` and in the columns of ``mu``,
    stage counts equal to ``horizon``, finite entries, rows ``phi_h(s,a)^T mu_h 1``
    equal to 1 within ``ROW_SUM_TOL`` and product entries ``>= -NEGATIVE_TOL``.
    The check costs O(S A d) for non-negative factors and O(S^2 A d) for signed ones.
    """

    __slots__ = (
        "S",
        "A",
        "d",
        "horizon",
        "gamma",
        "name",
        "_phi",
        "_mu",
        "_R",
        "_init",
        "_sampler",
    )

    def __init__(self, phi, mu, R, *, horizon=None, gamma=None, init=None, name=None):
        set_ = object.__setattr__
        horizon, gamma = _check_objective(horizon, gamma)
        phi = _as_real_array(phi, "phi")
        mu = _as_real_array(mu, "mu")
        if phi.ndim not in (3, 4):
            raise ValueError(f"phi must have shape (S, A, d) or (H, S, A, d); got {phi.shape}")
        if mu.ndim not in (2, 3):
            raise ValueError(f"mu must have shape (d, S) or (H, d, S); got {mu.shape}")
        S, A, d = phi.shape[-3:]
        if min(S, A, d) < 1:
            raise ValueError(f"phi needs S, A, d >= 1; got shape {phi.shape}")
        if mu.shape[-2] != d:
            raise ValueError(f"phi has d={d} but mu has d={mu.shape[-2]} (rows of mu)")
        if mu.shape[-1] != S:
            raise ValueError(
                f"phi has S={S} states but mu has {mu.shape[-1]} next-state columns "
                f"(shape {mu.shape})"
            )
        _check_stages(phi, "phi", 4, "(H, S, A, d)", horizon)
        _check_stages(mu, "mu", 3, "(H, d, S)", horizon)
        _check_finite(phi, "phi", "features")
        _check_finite(mu, "mu", "measures")
        R = _check_rewards(R, S, A, horizon)
        init = _check_init(init, S)
        _check_product_kernel(phi, mu)
        for arr in (phi, mu, R, init):
            arr.flags.writeable = False
        for key, value in (
            ("S", int(S)),
            ("A", int(A)),
            ("d", int(d)),
            ("horizon", horizon),
            ("gamma", gamma),
            ("name", name),
            ("_phi", phi),
            ("_mu", mu),
            ("_R", R),
            ("_init", init),
            ("_sampler", None),
        ):
            set_(self, key, value)

    # -------------------------------------------------------------- accessors
    @property
    def phi(self) -> np.ndarray:
        """Features ``(S, A, d)`` or ``(H, S, A, d)`` (read-only)."""
        return self._phi

    @property
    def mu(self) -> np.ndarray:
        """Measures ``(d, S)`` or ``(H, d, S)`` (read-only)."""
        return self._mu

    @property
    def R(self) -> np.ndarray:
        """Mean rewards ``(S, A)`` or ``(H, S, A)`` (read-only)."""
        return self._R

    @property
    def init(self) -> np.ndarray:
        """Initial state distribution ``(S,)`` (read-only)."""
        return self._init

    @property
    def discounted(self) -> bool:
        return self.gamma is not None

    @property
    def transitions_stationary(self) -> bool:
        return self._phi.ndim == 3 and self._mu.ndim == 2

    @property
    def stationary(self) -> bool:
        """True when ``phi``, ``mu`` and ``R`` all have no stage axis."""
        return self.transitions_stationary and self._R.ndim == 2

    @property
    def is_nonnegative(self) -> bool:
        """True when ``phi >= 0`` and ``mu >= 0`` (the latent-variable form; sampler works)."""
        return bool((self._phi >= 0).all() and (self._mu >= 0).all())

    def phi_at(self, h: int = 0) -> np.ndarray:
        return _at(self._phi, _check_stage_index(h, self.horizon), 3)

    def mu_at(self, h: int = 0) -> np.ndarray:
        return _at(self._mu, _check_stage_index(h, self.horizon), 2)

    def R_at(self, h: int = 0) -> np.ndarray:
        return _at(self._R, _check_stage_index(h, self.horizon), 2)

    def P_at(self, h: int = 0) -> np.ndarray:
        """Dense transitions of stage ``h``, ``(S, A, S)`` (rounding negatives set to 0)."""
        _check_dense_size(self.S * self.A * self.S, "P_h")
        P = self.phi_at(h) @ self.mu_at(h)
        return np.maximum(P, 0.0, out=P)

    # ------------------------------------------------------------ conversions
    def to_tabular(self) -> TabularMDP:
        """The exact :class:`TabularMDP` (dense; stage-dependent when ``phi`` or ``mu`` is)."""
        H = self.horizon
        if self.transitions_stationary:
            P = self.P_at(0)
        else:
            _check_dense_size(H * self.S * self.A * self.S, "the stage-dependent P")
            P = np.stack([self.P_at(h) for h in range(H)])
        return _tabular(P, self)

    def rank(self, h: int | None = None, tol: float | None = None) -> int:
        """Numerical rank of the ``(S*A, S)`` matrix of ``P_h`` (``h=None``: max over stages).

        Computed from the factors: with QR decompositions ``Phi_h = Q_1 R_1`` and
        ``mu_h^T = Q_2 R_2``, ``Phi_h mu_h = Q_1 (R_1 R_2^T) Q_2^T`` has the singular
        values of the small ``d x d`` matrix ``R_1 R_2^T``. Default tolerance as
        :func:`numpy.linalg.matrix_rank`: ``sigma_max * max(S*A, S) * eps``. Always ``<= d``.
        """
        stages = range(self.horizon or 1) if h is None else [_check_stage_index(h, self.horizon)]
        if tol is not None:
            tol = check_real(tol, "tol", lo=0.0)
        if self.transitions_stationary:
            stages = [0]
        best = 0
        for k in stages:
            r1 = np.linalg.qr(self.phi_at(k).reshape(-1, self.d), mode="r")
            r2 = np.linalg.qr(self.mu_at(k).T, mode="r")
            sv = np.linalg.svd(r1 @ r2.T, compute_uv=False)
            t = tol
            if t is None:
                t = sv.max() * max(self.S * self.A, self.S) * np.finfo(float).eps
            best = max(best, int((sv > t).sum()))
        return best

    def feature_norm_bound(self) -> float:
        """``max_{h,s,a} ||phi_h(s,a)||_2`` (Jin et al. 2020 and FLAMBE assume ``<= 1``)."""
        return float(np.sqrt((self._phi**2).sum(axis=-1)).max())

    def measure_norm_bound(self) -> float:
        """``max_h ||(|mu_{h,1}|(S), ..., |mu_{h,d}|(S))||_2``, ``|mu_j|(S) = sum_s' |mu_j(s')|``.

        Jin et al. (2020) assume this is ``<= sqrt(d)``; it also upper-bounds the
        FLAMBE quantity ``sup_{||g||_inf <= 1} ||sum_s' mu(s') g(s')||_2``.
        """
        mass = np.abs(_staged(self._mu, 2)).sum(axis=-1)
        return float(np.sqrt((mass**2).sum(axis=-1)).max())

    # ------------------------------------------------------- structured backup
    def q_backup(self, V, h: int = 0) -> np.ndarray:
        """``Q_h(s,a) = R_h(s,a) + g * phi_h(s,a)^T (mu_h V)`` in O(S A d + d S), ``(S, A)``.

        ``g`` is the discount (1 for finite horizon). ``P_h`` is never formed. This
        one-step backup is the interface the structured planners of
        :mod:`mdplab.planning.lowrank` use.
        """
        h = _check_stage_index(h, self.horizon)
        V = _check_value_vector(V, self.S)
        g = 1.0 if self.gamma is None else self.gamma
        return self.R_at(h) + g * (self.phi_at(h) @ (self.mu_at(h) @ V))

    # --------------------------------------------------------------- sampling
    def _sampler_arrays(self):
        if self._sampler is None:
            if not self.is_nonnegative:
                where = ("phi", self._phi) if (self._phi < 0).any() else ("mu", self._mu)
                idx = _first(where[1] < 0)
                raise ValueError(
                    f"the direct sampler draws z ~ phi(s, a), s' ~ mu_z and needs non-negative "
                    f"factors; {where[0]}[{_fmt_index(idx)}] = {where[1][idx]:.6g} < 0. Sample "
                    "a signed factorisation through mdplab.sampling on .to_tabular()"
                )
            mu = _staged(self._mu, 2)
            cdf = np.cumsum(mu, axis=-1)
            mass = np.ascontiguousarray(cdf[..., -1])
            positive = mu > 0
            last = (mu.shape[-1] - 1 - np.argmax(positive[..., ::-1], axis=-1)).astype(np.int64)
            arrays = (
                np.ascontiguousarray(_staged(self._phi, 3)),
                mass,
                np.ascontiguousarray(cdf),
                last,
            )
            for a in arrays:
                a.flags.writeable = False
            object.__setattr__(self, "_sampler", arrays)
        return self._sampler

    def sample_next_states(self, states, actions, seed=None, h: int = 0) -> np.ndarray:
        """One draw ``s' ~ P_h(.|s, a)`` per pair, without forming ``P`` (numba, parallel).

        ``states`` and ``actions`` are integer arrays of one shape; the result has
        that shape (int64). Latent-variable sampling: ``z ~ phi_h(s, a) * m_h``,
        ``s' ~ mu_{h,z} / m_{h,z}`` with ``m_{h,z} = sum_s' mu_{h,z}(s')`` -- exact for
        any non-negative factorisation, O(d + log S) per draw. Draws come in chunks of
        :data:`SAMPLE_CHUNK`, one RNG stream each (:mod:`mdplab.kernels.rng`), so an
        integer ``seed`` gives identical output on any number of threads. A signed
        factorisation raises: sample it with :mod:`mdplab.sampling` on ``to_tabular()``.
        """
        phi, mass, cdf, last = self._sampler_arrays()
        h = _check_stage_index(h, self.horizon)
        s = _as_index_array(states, "states", self.S)
        a = _as_index_array(actions, "actions", self.A)
        if s.shape != a.shape:
            raise ValueError(f"states and actions must share a shape; got {s.shape} and {a.shape}")
        flat_s, flat_a = np.ascontiguousarray(s.ravel()), np.ascontiguousarray(a.ravel())
        n = flat_s.size
        out = np.empty(n, dtype=np.int64)
        seeds = stream_seeds(seed, max(1, -(-n // SAMPLE_CHUNK)))
        hp = h if phi.shape[0] > 1 else 0
        hm = h if cdf.shape[0] > 1 else 0
        _draw_next_states(phi, mass, cdf, last, hp, hm, flat_s, flat_a, SAMPLE_CHUNK, seeds, out)
        return out.reshape(s.shape)

    def sample(self, s: int, a: int, n: int, seed=None, h: int = 0) -> np.ndarray:
        """``n`` i.i.d. next states of one pair, ``(n,)`` int64 (see :meth:`sample_next_states`)."""
        n = check_int(n, "n", lo=0)
        s = check_index(s, "s", self.S)
        a = check_index(a, "a", self.A)
        s_arr = np.full(int(n), s, dtype=np.int64) if n else np.array([s], dtype=np.int64)
        a_arr = np.full(int(n), a, dtype=np.int64) if n else np.array([a], dtype=np.int64)
        out = self.sample_next_states(s_arr, a_arr, seed, h)
        return out[: int(n)]

    def sample_init(self, n: int, seed=None) -> np.ndarray:
        """``n`` i.i.d. initial states ``s_0 ~ init`` (int64)."""
        n = check_int(n, "n", lo=0)
        rng = np.random.default_rng(seed_sequence(seed))
        return rng.choice(self.S, size=n, p=self._init).astype(np.int64)

    def __repr__(self) -> str:
        kind = f"horizon={self.horizon}" if self.horizon is not None else f"gamma={self.gamma}"
        stat = "stationary" if self.stationary else "stage-dependent"
        label = f"{self.name!r}, " if self.name else ""
        return f"{type(self).__name__}({label}S={self.S}, A={self.A}, d={self.d}, {kind}, {stat})"


class LinearMDP(LowRankMDP):
    """A linear MDP (Jin, Yang, Wang, Jordan, COLT 2020): known ``phi``, linear rewards.

    ``P_h(s'|s,a) = phi_h(s,a)^T mu_h(s')`` and ``r_h(s,a) = phi_h(s,a)^T theta_h``,
    so ``R`` is computed from ``theta`` (``(d,)`` or ``(H, d)``). Jin et al.'s
    normalisation is ``||phi_h(s,a)||_2 <= 1``, ``||mu_h(S)||_2 <= sqrt(d)`` (the vector
    of total variations of the ``d`` measures) and ``||theta_h||_2 <= sqrt(d)``. It is
    *reported*, not enforced (random instances need not satisfy it): see
    :meth:`feature_norm_bound`, :meth:`measure_norm_bound`, :meth:`theta_norm_bound`
    and :meth:`norm_conventions`. LSVI-UCB's bonus scale depends on them.
    """

    __slots__ = ("_theta",)

    def __init__(self, phi, mu, theta, *, horizon=None, gamma=None, init=None, name=None):
        phi_arr = _as_real_array(phi, "phi")
        theta = _as_real_array(theta, "theta")
        if phi_arr.ndim not in (3, 4):
            raise ValueError(f"phi must have shape (S, A, d) or (H, S, A, d); got {phi_arr.shape}")
        if theta.ndim not in (1, 2):
            raise ValueError(f"theta must have shape (d,) or (H, d); got {theta.shape}")
        d = phi_arr.shape[-1]
        if theta.shape[-1] != d:
            raise ValueError(f"phi has d={d} but theta has d={theta.shape[-1]}")
        _check_stages(theta, "theta", 2, "(H, d)", _check_horizon(horizon))
        _check_finite(theta, "theta", "reward parameters")
        _check_finite(phi_arr, "phi", "features")
        if phi_arr.ndim == 3 and theta.ndim == 2:
            R = np.einsum("sad,hd->hsa", phi_arr, theta)
        elif phi_arr.ndim == 4 and theta.ndim == 1:
            R = phi_arr @ theta
        elif phi_arr.ndim == 4:
            R = np.einsum("hsad,hd->hsa", phi_arr, theta)
        else:
            R = phi_arr @ theta
        super().__init__(phi_arr, mu, R, horizon=horizon, gamma=gamma, init=init, name=name)
        theta.flags.writeable = False
        object.__setattr__(self, "_theta", theta)

    @property
    def theta(self) -> np.ndarray:
        """Reward parameters ``(d,)`` or ``(H, d)`` (read-only)."""
        return self._theta

    def theta_norm_bound(self) -> float:
        """``max_h ||theta_h||_2`` (Jin et al. 2020 assume ``<= sqrt(d)``)."""
        return float(np.sqrt((np.atleast_2d(self._theta) ** 2).sum(axis=-1)).max())

    def norm_conventions(self) -> dict:
        """The three norms of Jin et al. (2020), their bounds and whether they hold."""
        phi, mu, th = self.feature_norm_bound(), self.measure_norm_bound(), self.theta_norm_bound()
        root_d = math.sqrt(self.d)
        tol = 1e-12
        return {
            "phi_norm": phi,
            "phi_bound": 1.0,
            "mu_norm": mu,
            "mu_bound": root_d,
            "theta_norm": th,
            "theta_bound": root_d,
            "satisfied": phi <= 1.0 + tol and mu <= root_d + tol and th <= root_d + tol,
        }


class BlockMDP(LowRankMDP):
    """A block MDP: latent transitions observed through disjoint-support emissions.

    Latent states ``z in {0..d-1}``, latent kernel ``T_h(z'|z,a)``, observations
    ``x in {0..S-1}`` emitted with ``q_h(x'|z')`` (the law of ``x_{h+1}`` given
    ``z_{h+1}``), and a decoder ``f`` with ``q_h(x|z) > 0 => f(x) = z``. Then
    ``P_h(x'|x,a) = sum_z' T_h(z'|f(x),a) q_h(x'|z')``: a low-rank MDP with
    ``phi_h(x,a) = T_h(.|f(x),a) in Delta_d`` and ``mu_h = q_h`` (rows in
    ``Delta_S``), of rank at most ``d`` per stage (Du et al. 2019; Misra et al. 2020).

    Parameters
    ----------
    latent_T : array_like
        ``(d, A, d)`` or ``(H, d, A, d)``, rows are distributions over ``z'``.
    emission : array_like
        ``(d, S)`` or ``(H, d, S)``, rows are distributions over observations, with
        disjoint supports across latents.
    R : array_like
        Mean rewards on observations, ``(S, A)`` or ``(H, S, A)``.
    decoder : array_like of int, optional
        ``f(x)`` for every observation, ``(S,)``. Default: read off the emission
        supports (then every observation must be emitted by some latent at some stage).
    horizon, gamma, init, name : as :class:`LowRankMDP`.
    """

    __slots__ = ("_decoder", "_latent_T")

    def __init__(
        self, latent_T, emission, R, *, decoder=None, horizon=None, gamma=None, init=None, name=None
    ):
        T = _as_real_array(latent_T, "latent_T")
        q = _as_real_array(emission, "emission")
        if T.ndim not in (3, 4) or T.shape[-1] != T.shape[-3]:
            raise ValueError(f"latent_T must have shape (d, A, d) or (H, d, A, d); got {T.shape}")
        if q.ndim not in (2, 3):
            raise ValueError(f"emission must have shape (d, S) or (H, d, S); got {q.shape}")
        d = T.shape[-1]
        if q.shape[-2] != d:
            raise ValueError(f"latent_T has d={d} latents but emission has {q.shape[-2]} rows")
        _check_probability_rows(T, "latent_T")
        _check_probability_rows(q, "emission")
        S = q.shape[-1]
        support = (_staged(q, 2) > 0).any(axis=0)  # (d, S)
        if decoder is None:
            n_emitters = support.sum(axis=0)
            if (n_emitters == 0).any():
                x = int(np.argmax(n_emitters == 0))
                raise ValueError(
                    f"observation {x} is never emitted; pass decoder= to assign it a latent"
                )
            dec = np.argmax(support, axis=0).astype(np.int64)
        else:
            dec = _as_index_array(decoder, "decoder", d)
            if dec.shape != (S,):
                raise ValueError(f"decoder must have shape ({S},); got {dec.shape}")
        clash = support & (np.arange(d)[:, None] != dec[None, :])
        if clash.any():
            z, x = _first(clash)
            qs = _staged(q, 2)
            h = int(np.argmax(qs[:, z, x] > 0))
            where = f"{h}, {z}, {x}" if q.ndim == 3 else f"{z}, {x}"
            raise ValueError(
                f"emission[{where}] = {qs[h, z, x]:.6g} > 0 but observation {x} decodes to "
                f"latent {dec[x]}: a block MDP needs disjoint emission supports"
            )
        phi = T[dec] if T.ndim == 3 else T[:, dec]
        super().__init__(phi, q, R, horizon=horizon, gamma=gamma, init=init, name=name)
        dec.flags.writeable = False
        T.flags.writeable = False
        object.__setattr__(self, "_decoder", dec)
        object.__setattr__(self, "_latent_T", T)

    @property
    def decoder(self) -> np.ndarray:
        """``f(x)``: the latent of every observation, ``(S,)`` int64 (read-only)."""
        return self._decoder

    @property
    def latent_T(self) -> np.ndarray:
        """Latent transitions ``(d, A, d)`` or ``(H, d, A, d)`` (read-only)."""
        return self._latent_T

    @property
    def emission(self) -> np.ndarray:
        """Emission ``q``: ``(d, S)`` or ``(H, d, S)`` (the same array as ``mu``)."""
        return self._mu

    @property
    def n_latent(self) -> int:
        return self.d


# ------------------------------------------------------------ linear mixture
class LinearMixtureMDP(_Frozen):
    """A linear mixture MDP ``P(s'|s,a) = <phi(s'|s,a), theta>`` (time-homogeneous).

    Parameters
    ----------
    features : array_like
        ``(S, A, S, d)``: ``features[s, a, s']`` is ``phi(s'|s,a) in R^d``.
    theta : array_like
        ``(d,)``. Neither factor need be non-negative; the mixture must be a kernel.
    R : array_like
        Mean rewards ``(S, A)`` or ``(H, S, A)``.
    horizon, gamma, init, name : as :class:`LowRankMDP`.

    The structured planner uses the value-targeted features of UCRL-VTR / HF-O2PS,
    ``phi_V(s,a) = sum_s' phi(s'|s,a) V(s') in R^d``, with ``Q = R + phi_V^T theta``.
    :meth:`from_kernels` builds the mixture ``P = sum_i theta_i P_i`` of ``d`` base
    kernels with ``theta`` in the simplex (the toys of the HF-O2PS notes).
    """

    __slots__ = (
        "S",
        "A",
        "d",
        "horizon",
        "gamma",
        "name",
        "_features",
        "_theta",
        "_P",
        "_R",
        "_init",
    )

    def __init__(self, features, theta, R, *, horizon=None, gamma=None, init=None, name=None):
        set_ = object.__setattr__
        horizon, gamma = _check_objective(horizon, gamma)
        F = _as_real_array(features, "features")
        theta = _as_real_array(theta, "theta")
        if F.ndim != 4 or F.shape[0] != F.shape[2]:
            raise ValueError(f"features must have shape (S, A, S, d); got {F.shape}")
        if theta.ndim != 1:
            raise ValueError(f"theta must have shape (d,); got {theta.shape}")
        S, A, _, d = F.shape
        if min(S, A, d) < 1:
            raise ValueError(f"features needs S, A, d >= 1; got shape {F.shape}")
        if theta.shape[0] != d:
            raise ValueError(f"features has d={d} but theta has d={theta.shape[0]}")
        _check_finite(F, "features", "features")
        _check_finite(theta, "theta", "mixture weights")
        P = F @ theta
        neg = P < 0
        if neg.any():
            s, a, sp = _first(neg)
            raise ValueError(
                f"P[{s}, {a}, {sp}] = features[{s}, {a}, {sp}, :] @ theta = {P[s, a, sp]:.6g} "
                "is negative"
            )
        sums = P.sum(axis=-1)
        off = np.abs(sums - 1.0) > ROW_SUM_TOL
        if off.any():
            s, a = _first(off)
            raise ValueError(
                f"P[{s}, {a}, :] = features[{s}, {a}] @ theta sums to {sums[s, a]:.12g}; "
                f"each row must sum to 1 within {ROW_SUM_TOL:g}"
            )
        R = _check_rewards(R, S, A, horizon)
        init = _check_init(init, S)
        for arr in (F, theta, P, R, init):
            arr.flags.writeable = False
        for key, value in (
            ("S", int(S)),
            ("A", int(A)),
            ("d", int(d)),
            ("horizon", horizon),
            ("gamma", gamma),
            ("name", name),
            ("_features", F),
            ("_theta", theta),
            ("_P", P),
            ("_R", R),
            ("_init", init),
        ):
            set_(self, key, value)

    @classmethod
    def from_kernels(cls, kernels, weights, R, **kwargs) -> LinearMixtureMDP:
        """``P = sum_i weights[i] P_i`` from ``d`` base kernels ``kernels (d, S, A, S)``.

        Each ``P_i`` must be a kernel and ``weights`` a distribution (the mixture
        is then a kernel too); ``features[s, a, s', i] = P_i(s'|s,a)``.
        """
        K = _as_real_array(kernels, "kernels")
        if K.ndim != 4 or K.shape[1] != K.shape[3]:
            raise ValueError(f"kernels must have shape (d, S, A, S); got {K.shape}")
        _check_probability_rows(K, "kernels")
        w = _as_real_array(weights, "weights")
        if w.shape != (K.shape[0],):
            raise ValueError(
                f"weights must have shape ({K.shape[0]},), one per kernel; got {w.shape}"
            )
        _check_probability_rows(w, "weights")
        return cls(np.moveaxis(K, 0, -1), w, R, **kwargs)

    @property
    def features(self) -> np.ndarray:
        """``(S, A, S, d)`` (read-only)."""
        return self._features

    @property
    def theta(self) -> np.ndarray:
        return self._theta

    @property
    def P(self) -> np.ndarray:
        """The mixture kernel ``(S, A, S)`` (read-only)."""
        return self._P

    @property
    def R(self) -> np.ndarray:
        return self._R

    @property
    def init(self) -> np.ndarray:
        return self._init

    @property
    def discounted(self) -> bool:
        return self.gamma is not None

    def R_at(self, h: int = 0) -> np.ndarray:
        return _at(self._R, _check_stage_index(h, self.horizon), 2)

    def to_tabular(self) -> TabularMDP:
        """The exact :class:`TabularMDP` with ``P = features @ theta``."""
        return _tabular(self._P, self)

    def value_targeted_features(self, V) -> np.ndarray:
        """``phi_V(s, a) = sum_s' phi(s'|s,a) V(s')``, shape ``(S, A, d)``."""
        V = np.asarray(V, dtype=np.float64)
        if V.shape != (self.S,):
            raise ValueError(f"V must have shape ({self.S},); got {V.shape}")
        return np.einsum("satd,t->sad", self._features, V)

    def q_backup(self, V, h: int = 0) -> np.ndarray:
        """``Q_h = R_h + g * phi_V^T theta`` (``g``: discount, or 1), shape ``(S, A)``."""
        h = _check_stage_index(h, self.horizon)
        g = 1.0 if self.gamma is None else self.gamma
        return self.R_at(h) + g * (self.value_targeted_features(V) @ self._theta)

    def __repr__(self) -> str:
        kind = f"horizon={self.horizon}" if self.horizon is not None else f"gamma={self.gamma}"
        label = f"{self.name!r}, " if self.name else ""
        return f"LinearMixtureMDP({label}S={self.S}, A={self.A}, d={self.d}, {kind})"


# ----------------------------------------------------------------- MLE oracle
@njit(cache=True)
def _em_map(phi_k, next_k, counts, mu, out, g):
    """Log-likelihood and certificate at ``mu``; the EM update of ``mu`` into ``out``.

    ``p_k = phi_k^T mu[:, t_k]``, ``L = sum_k c_k log p_k``, gradient
    ``g_j(t) = sum_{k: t_k = t} c_k phi_kj / p_k`` and Frank-Wolfe gap
    ``sum_j (max_t g_j(t) - <g_j, mu_j>)``, which bounds ``L* - L(mu)`` (concavity,
    rows of ``mu`` in the simplex). EM: ``out_j(t) = mu_j(t) g_j(t) / <g_j, mu_j>``.
    """
    K, d = phi_k.shape
    T = mu.shape[1]
    for j in range(d):  # explicit loops: slice assignment is slow to compile in numba
        for t in range(T):
            g[j, t] = 0.0
    ll = 0.0
    for k in range(K):
        t = next_k[k]
        p = 0.0
        for j in range(d):
            p += phi_k[k, j] * mu[j, t]
        ll += counts[k] * np.log(p)
        w = counts[k] / p
        for j in range(d):
            g[j, t] += w * phi_k[k, j]
    gap = 0.0
    for j in range(d):
        gmax = 0.0
        inner = 0.0
        for t in range(T):
            if g[j, t] > gmax:
                gmax = g[j, t]
            inner += g[j, t] * mu[j, t]
        gap += gmax - inner
        for t in range(T):
            out[j, t] = mu[j, t] * g[j, t] / inner if inner > 0.0 else mu[j, t]
    return ll, gap


@njit(cache=True)
def _copy(src, dst):
    for j in range(src.shape[0]):
        for t in range(src.shape[1]):
            dst[j, t] = src[j, t]


@njit(cache=True)
def _squarem_trial(mu0, r, v, alpha, trial):
    """``trial = mu0 - 2 alpha r + alpha^2 v`` for the first ``alpha`` (halving towards
    -1) that keeps every entry positive; returns that ``alpha`` (-1: use plain EM)."""
    while alpha < -1.0:
        positive = True
        for j in range(mu0.shape[0]):
            for t in range(mu0.shape[1]):
                trial[j, t] = mu0[j, t] - 2.0 * alpha * r[j, t] + alpha * alpha * v[j, t]
                if not trial[j, t] > 0.0:
                    positive = False
        if positive:
            return alpha
        alpha = 0.5 * (alpha - 1.0)
        if alpha > -1.01:
            alpha = -1.0
    return -1.0


@njit(cache=True)
def _em_solve(phi_k, next_k, counts, mu, tol, max_evals, accelerate):
    """EM (optionally SQUAREM-accelerated) until the certificate ``gap <= tol``.

    ``mu (d, T)`` (``T`` = distinct next states, all entries positive) is updated
    in place. SQUAREM (Varadhan & Roland, Scand. J. Stat. 35, 2008, scheme S3):
    from ``mu_0`` take two EM steps ``mu_1, mu_2``, set ``r = mu_1 - mu_0``,
    ``v = mu_2 - 2 mu_1 + mu_0``, ``alpha = min(-||r|| / ||v||, -1)`` and try
    ``mu_0 - 2 alpha r + alpha^2 v`` (rows still sum to 1). The trial is kept only
    if it is positive and does not lower the likelihood, else ``alpha`` moves
    halfway to -1, where the trial is ``mu_2`` (plain EM, monotone). An accepted
    trial gets one EM step. Written as a loop with a single EM-map call (phase 0:
    at ``mu_0``, 1: at ``mu_1``, 2: at a trial) to keep the compiled kernel small.
    Returns ``(log-likelihood, gap, EM-map evaluations)`` at the returned ``mu``.
    """
    d, T = mu.shape
    g = np.empty((d, T))
    mu0 = np.empty((d, T))
    _copy(mu, mu0)
    mu1 = np.empty((d, T))
    mu2 = np.empty((d, T))
    r = np.empty((d, T))
    v = np.empty((d, T))
    trial = np.empty((d, T))
    out = np.empty((d, T))
    point = mu0
    phase = 0
    ll0 = -np.inf
    alpha = -1.0
    evals = 0
    while True:
        ll, gap = _em_map(phi_k, next_k, counts, point, out, g)
        evals += 1
        if gap <= tol or evals >= max_evals:
            _copy(point, mu)
            return ll, gap, evals
        if phase == 0:
            _copy(point, mu0)
            ll0 = ll
            _copy(out, mu1)
            point = mu1
            phase = 1 if accelerate else 0
            continue
        if phase == 1:
            _copy(out, mu2)
            nr = 0.0
            nv = 0.0
            for j in range(d):
                for t in range(T):
                    r[j, t] = mu1[j, t] - mu0[j, t]
                    v[j, t] = mu2[j, t] - 2.0 * mu1[j, t] + mu0[j, t]
                    nr += r[j, t] * r[j, t]
                    nv += v[j, t] * v[j, t]
            alpha = -1.0 if nv == 0.0 else min(-np.sqrt(nr / nv), -1.0)
        elif ll >= ll0:  # phase 2: the trial is accepted; continue from its EM step
            _copy(out, mu0)
            point = mu0
            phase = 0
            continue
        else:  # phase 2: the trial lowered the likelihood; back off towards -1
            alpha = 0.5 * (alpha - 1.0)
            if alpha > -1.01:
                alpha = -1.0
        alpha = _squarem_trial(mu0, r, v, alpha, trial)
        if alpha == -1.0:
            _copy(mu2, mu0)
            point = mu0
            phase = 0
        else:
            point = trial
            phase = 2


@dataclass(frozen=True, eq=False)
class MLEFit:
    """Maximum-likelihood measures for one feature map.

    ``mu (d, S)``: rows in the simplex, zero off the observed next states;
    ``log_likelihood = sum_i log phi(s_i,a_i)^T mu(s'_i)``; ``gap``: certified
    bound on ``L* - log_likelihood``; ``iterations``: EM-map evaluations; ``converged``:
    ``gap <= tol``.
    """

    mu: np.ndarray
    log_likelihood: float
    gap: float
    iterations: int
    converged: bool


@dataclass(frozen=True, eq=False)
class MLEResult:
    """The MLE oracle over a :class:`FeatureClass`: one :class:`MLEFit` per candidate.

    ``log_likelihoods[k]`` is candidate ``k``'s maximised log-likelihood,
    ``best`` the maximiser (smallest index on ties), ``ranking`` the candidates
    by decreasing log-likelihood.
    """

    fits: tuple
    log_likelihoods: np.ndarray
    best: int
    ranking: np.ndarray


def _check_transitions(states, actions, next_states, S: int, A: int):
    s = _as_index_array(states, "states", S).ravel()
    a = _as_index_array(actions, "actions", A).ravel()
    t = _as_index_array(next_states, "next_states", S).ravel()
    if not (s.size == a.size == t.size):
        raise ValueError(
            f"states, actions and next_states must have equal sizes; got {s.size}, {a.size}, "
            f"{t.size}"
        )
    if s.size == 0:
        raise ValueError("the MLE needs at least one transition (s, a, s')")
    return s, a, t


def mle_mu(
    phi_rows,
    next_states,
    n_states: int,
    *,
    counts=None,
    tol: float = 1e-6,
    max_iter: int = 100_000,
    accelerate: bool = True,
) -> MLEFit:
    """Maximum-likelihood ``mu`` for known feature rows (note 3.4(d) of the specs).

    Solves ``max sum_i c_i log(phi_i^T mu(s'_i))`` over ``mu_j in Delta_S`` (concave)
    by EM from the uniform distribution over the observed next states:
    ``r_ij ∝ phi_ij mu_j(s'_i)``, ``mu_j(s') ∝ sum_i c_i r_ij 1{s'_i = s'}``,
    SQUAREM-accelerated unless ``accelerate=False`` (about 10x fewer EM steps on
    diffuse features; see :func:`_em_solve`). Stops when the Frank-Wolfe gap
    ``sum_j (max_s' g_j(s') - <g_j, mu_j>)`` of the gradient ``g`` is ``<= tol``:
    by concavity that gap bounds ``L* - L(mu)``, so the returned log-likelihood is
    certified within ``tol`` (absolute) of the maximum. ``converged`` is False when
    ``max_iter`` EM-map evaluations run out first.

    Parameters
    ----------
    phi_rows : array_like
        ``(n, d)`` features ``phi(s_i, a_i)``, each in the simplex ``Delta_d``.
    next_states : array_like of int
        ``(n,)`` observed ``s'_i``.
    n_states : int
        ``S`` (columns of the returned ``mu``).
    counts : array_like, optional
        ``(n,)`` non-negative multiplicities ``c_i`` (default 1).
    """
    X = _as_real_array(phi_rows, "phi_rows")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"phi_rows must have shape (n, d) with n >= 1; got {X.shape}")
    _check_probability_rows(X, "phi_rows")
    t = _as_index_array(next_states, "next_states", int(n_states))
    if t.shape != (X.shape[0],):
        raise ValueError(f"next_states must have shape ({X.shape[0]},); got {t.shape}")
    if counts is None:
        c = np.ones(X.shape[0])
    else:
        c = _as_real_array(counts, "counts")
        if c.shape != (X.shape[0],) or not np.isfinite(c).all() or (c < 0).any():
            raise ValueError(f"counts must be finite, non-negative, shape ({X.shape[0]},)")
    observed, t_local = np.unique(t, return_inverse=True)
    d = X.shape[1]
    mu_local = np.full((d, observed.size), 1.0 / observed.size)
    ll, gap, it = _em_solve(
        X, t_local.astype(np.int64), c, mu_local, float(tol), int(max_iter), bool(accelerate)
    )
    mu = np.zeros((d, int(n_states)))
    mu[:, observed] = mu_local
    return MLEFit(mu, float(ll), float(gap), int(it), bool(gap <= tol))


class FeatureClass(_Frozen):
    """A finite class ``Phi`` of candidate feature maps, with an MLE oracle.

    Each candidate is ``(S, A, d_k)`` or stage-dependent ``(H, S, A, d_k)`` with
    every ``phi(s, a)`` in the simplex ``Delta_{d_k}`` (the simplex
    parameterisation; ``d_k`` may differ between candidates). ``true_index``
    marks the realizable one when known. :meth:`mle` fits, for every candidate,
    ``mu_hat = argmax_mu sum_i log phi(s_i,a_i)^T mu(s'_i)`` (:func:`mle_mu`) and
    ranks the candidates by the maximised log-likelihood: the MLE oracle of
    FLAMBE / Rep-UCB restricted to ``Phi x {simplex mu}``.
    """

    __slots__ = ("candidates", "true_index", "names", "S", "A", "horizon")

    def __init__(self, candidates, true_index=None, names=None):
        set_ = object.__setattr__
        cands = list(candidates)
        if not cands:
            raise ValueError("candidates is empty; a FeatureClass needs at least one feature map")
        arrays = []
        shape0 = None
        horizon = None
        for k, c in enumerate(cands):
            arr = _as_real_array(c, f"candidates[{k}]")
            if arr.ndim not in (3, 4):
                raise ValueError(
                    f"candidates[{k}] must have shape (S, A, d) or (H, S, A, d); got {arr.shape}"
                )
            if shape0 is None:
                shape0 = arr.shape[-3:-1]
            elif arr.shape[-3:-1] != shape0:
                raise ValueError(
                    f"candidates[{k}] has (S, A) = {arr.shape[-3:-1]} but candidates[0] has "
                    f"{shape0}"
                )
            if arr.ndim == 4:
                if horizon is not None and arr.shape[0] != horizon:
                    raise ValueError(
                        f"candidates[{k}] has {arr.shape[0]} stages but an earlier one has "
                        f"{horizon}"
                    )
                horizon = arr.shape[0]
            _check_probability_rows(arr, f"candidates[{k}]")
            arr.flags.writeable = False
            arrays.append(arr)
        if true_index is not None:
            if (
                isinstance(true_index, bool)
                or not isinstance(true_index, numbers.Integral)
                or not 0 <= true_index < len(arrays)
            ):
                raise ValueError(
                    f"true_index must be an index in [0, {len(arrays)}) or None; got {true_index!r}"
                )
            true_index = int(true_index)
        if names is None:
            names = tuple(f"phi{k}" for k in range(len(arrays)))
        else:
            names = tuple(str(n) for n in names)
            if len(names) != len(arrays):
                raise ValueError(f"names has {len(names)} entries for {len(arrays)} candidates")
        set_(self, "candidates", tuple(arrays))
        set_(self, "true_index", true_index)
        set_(self, "names", names)
        set_(self, "S", int(shape0[0]))
        set_(self, "A", int(shape0[1]))
        set_(self, "horizon", horizon)

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, k: int) -> np.ndarray:
        return self.candidates[k]

    def phi_at(self, k: int, h: int = 0) -> np.ndarray:
        """Candidate ``k`` at stage ``h``, ``(S, A, d_k)``."""
        c = self.candidates[check_index(k, "k", len(self.candidates))]
        if c.ndim == 3:
            return c
        return c[_check_stage_index(h, self.horizon)]

    def fit(
        self,
        k: int,
        states,
        actions,
        next_states,
        *,
        h: int = 0,
        tol: float = 1e-6,
        max_iter: int = 100_000,
        accelerate: bool = True,
    ) -> MLEFit:
        """MLE ``mu`` for candidate ``k`` on transitions ``(s_i, a_i, s'_i)`` of stage ``h``.

        Repeated triples are merged (the likelihood depends on counts only).
        """
        s, a, t = _check_transitions(states, actions, next_states, self.S, self.A)
        check_tolerance(tol, "tol")
        check_int(max_iter, "max_iter", lo=1)
        phi = self.phi_at(k, h)
        key = (s * self.A + a) * self.S + t
        uniq, counts = np.unique(key, return_counts=True)
        sa, tt = np.divmod(uniq, self.S)
        ss, aa = np.divmod(sa, self.A)
        return mle_mu(
            phi[ss, aa],
            tt,
            self.S,
            counts=counts.astype(np.float64),
            tol=tol,
            max_iter=max_iter,
            accelerate=accelerate,
        )

    def mle(
        self,
        states,
        actions,
        next_states,
        *,
        h: int = 0,
        tol: float = 1e-6,
        max_iter: int = 100_000,
        accelerate: bool = True,
    ) -> MLEResult:
        """Fit every candidate (:meth:`fit`) and rank them by maximised log-likelihood."""
        fits = tuple(
            self.fit(
                k,
                states,
                actions,
                next_states,
                h=h,
                tol=tol,
                max_iter=max_iter,
                accelerate=accelerate,
            )
            for k in range(len(self))
        )
        ll = np.array([f.log_likelihood for f in fits])
        ranking = np.argsort(-ll, kind="stable")
        return MLEResult(fits, ll, int(ranking[0]), ranking)

    def __repr__(self) -> str:
        true = f", true_index={self.true_index}" if self.true_index is not None else ""
        return f"FeatureClass({len(self)} candidates, S={self.S}, A={self.A}{true})"

"""Predictive state representations (PSRs): observable operators, exact conversion from POMDPs.

A PSR of dimension ``r`` over ``A`` actions and ``O`` observations is the triple
``(psi0, M, phi)``:

* ``psi0`` (r,): the initial predictive state;
* ``M`` (O, A, r, r): the observable operators, ``M[o, a]`` is the operator of
  observation ``o`` after action ``a``;
* ``phi`` (r,): the normalisation functional.

Timing is the one of :mod:`mdplab.models.pomdp`: at step ``t`` the agent plays
``a_t`` and then observes ``o_t`` (there is no observation before the first
action). The (unnormalised) state moves as ``psi_{t+1} = M[o_t, a_t] psi_t`` and

    Pr(o_{0:L} | do a_{0:L}) = phi^T M[o_{L-1}, a_{L-1}] ... M[o_0, a_0] psi0.

The *normalised* predictive state after a history ``h`` is
``psi(h) / phi^T psi(h)``; then ``Pr(o | h, a) = phi^T M[o, a] psi(h) / phi^T psi(h)``.

Tests. A test ``q = (a_{1:k}, o_{1:k})`` is a future action sequence and the
observations it should produce, in the same act-then-observe order; its value
after a history is ``Pr(q | h) = Pr(o_{t:t+k} = o_{1:k} | h, do a_{t:t+k} = a_{1:k})``.
For a PSR with *core tests* ``Q = (q_1, ..., q_r)`` (a PSR built by
:meth:`PSR.from_pomdp` or :meth:`PSR.from_revealing_pomdp`) the normalised
predictive state is exactly the vector ``[Pr(q_i | h)]_i``.

Validation (once, at construction): consistent shapes (``"M has r=3 but psi0
has r=4"``), finite entries, ``phi^T psi0 = 1``, the one-step normalisation
``sum_o phi^T M[o, a] = phi^T`` for every action ``a`` (so that the
probabilities of the ``O`` one-step continuations of any history sum to the
history's probability), and, as a cheap check of positivity, that every
history up to length ``check_depth`` (default 2) has probability in ``[0, 1]``.
Tolerances are backward-error style: ``ROW_SUM_TOL`` (1e-9) times the size of
the terms that were summed. A PSR's values are signed in general; these checks
cannot prove that all longer histories have non-negative probability.

Long histories underflow, so the likelihood kernels normalise the state after
every step (``phi^T psi_t = 1``) and add the logs of the one-step conditional
probabilities.

Exact conversion from a POMDP (:meth:`PSR.from_pomdp`). With the POMDP's
observable operators ``A(o, a) = diag(O[a, :, o]) T[:, a, :]^T`` the
hidden-state-conditioned probability of a test is ``u_q(s) = Pr(q | s_t = s) =
1^T A(o_k, a_k) ... A(o_1, a_1) e_s``. Two reductions give the minimal PSR:

1. *Reachable space.* ``W = span{A_h b0 : all histories h}`` is invariant under
   every ``A(o, a)``; with an orthonormal basis ``B`` (S x k) of ``W`` the model
   ``(B^T b0, B^T A(o, a) B, B^T 1)`` gives the same probabilities for every
   history (``B B^T`` is the identity on ``W``). When the beliefs span all of
   ``R^S`` (the generic case) ``B`` is a rotation and nothing is removed.
2. *Tests.* Let ``U`` stack the rows ``u_q^T`` (restricted to ``W``) of *all*
   tests. Its row space ``V`` is grown level by level: ``V_1`` is spanned by the
   one-step tests and ``V_{L+1} = V_L + V_L A(o, a)`` (prepending a step to a
   test multiplies its row by ``A(o, a)`` on the right), so only the newly
   chosen tests of a level need extending, and the growth stops (``V_{L+1} =
   V_L``) within ``k`` levels. At each level the candidate rows, with the span
   of the tests already chosen projected out, go through a pivoted QR
   (``scipy.linalg.qr(..., pivoting=True)``, largest residual first); those with
   a residual above ``tol`` times the level's largest row norm become core
   tests. Levels are visited in order, so short tests are preferred. The
   result ``U_Q`` (r x k) has full row rank ``r = dim V``, and ``1^T in V_1``.

Then ``psi0 = U_Q b0``, ``M[o, a] = U_Q A(o, a) U_Q^+``, ``phi^T = 1^T U_Q^+``
(in the reduced coordinates). This is exact: ``U_Q^+ U_Q`` is the projector
onto ``V``, and the null space of ``U`` (the complement it removes) is invariant
under every ``A(o, a)`` (``U n = 0`` implies ``u_q^T A(o, a) n = 0`` because
``u_q^T A(o, a)`` is again a row of ``U``), so ``M[o, a] U_Q x = U_Q A(o, a) x``
and the products telescope; ``phi^T U_Q = 1^T`` on ``W`` because ``1^T in V``.
The rank ``r`` equals the rank of the system-dynamics matrix (histories x tests)
and is at most ``S``.

The m-step route of the research note (:meth:`PSR.from_revealing_pomdp`) uses
instead *all* tests under a set of core action sequences, the emission-action
matrix ``E[(a, o), s] = u_{(a, o)}(s)``, and needs ``rank E = S`` (m-step
revealing): ``psi0 = E b0``, ``M[o, a] = E A(o, a) E^+``, ``phi^T = 1^T E^+``
(``E^+ E = I_S`` makes the products telescope). Its dimension is the number of
core tests, usually larger than its rank.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numba import njit, prange

from mdplab.kernels.rng import SeedLike, new_state, stream_seeds
from mdplab.kernels.sampling import categorical_dense
from mdplab.models._validation import (
    ROW_SUM_TOL,
    as_real_array,
    check_finite,
    check_horizon,
    check_index,
    check_int,
    freeze,
)
from mdplab.models.pomdp import POMDP, check_history, check_history_batch, open_loop_actions

__all__ = ["PSR", "PSRTrajectories", "WellConditioning"]

_MAX_CHECK_HISTORIES = 100_000
_MAX_FUTURE_ENTRIES = 50_000_000
_MAX_REVEALING_ROWS = 100_000


# ------------------------------------------------------------------ kernels
@njit(cache=True)
def advance(M, W, y, a, o, out):
    """``out = M[o, a] y``; returns ``phi^T M[o, a] y`` (``W[o, a] = M[o, a]^T phi``)."""
    r = y.shape[0]
    c = 0.0
    for j in range(r):
        c += W[o, a, j] * y[j]
    for i in range(r):
        acc = 0.0
        for j in range(r):
            acc += M[o, a, i, j] * y[j]
        out[i] = acc
    return c


@njit(cache=True)
def run_kernel(psi0, M, W, actions, observations, y, nxt):
    """Normalised state after the history into ``y``; returns ``(sign, log|Pr(history)|)``.

    After each step the state is divided by the (signed) one-step probability, so
    ``phi^T y = 1`` throughout; a zero or non-finite step gives ``(0, -inf)``. The
    one-step probabilities are multiplied into a running product that is moved
    into the log whenever it leaves ``[1e-150, 1e150]`` (one log per ~100 steps
    instead of one per step; no underflow). ``nxt`` is scratch of length ``r``.
    """
    r = psi0.shape[0]
    for i in range(r):
        y[i] = psi0[i]
    sign = 1.0
    logabs = 0.0
    scale = 1.0
    for t in range(actions.shape[0]):
        c = advance(M, W, y, actions[t], observations[t], nxt)
        if c == 0.0 or not np.isfinite(c):
            return 0.0, -np.inf
        if c < 0.0:
            sign = -sign
            scale *= -c
        else:
            scale *= c
        if scale < 1e-150 or scale > 1e150:
            logabs += np.log(scale)
            scale = 1.0
        inv = 1.0 / c
        for i in range(r):
            y[i] = nxt[i] * inv
    return sign, logabs + np.log(scale)


@njit(parallel=True, cache=True)
def batch_log_probability(psi0, M, W, actions, observations, lengths):
    """Row-wise ``log Pr(o_{0:L} | do a_{0:L})`` (``-inf`` when not positive) over
    ``(N, L)`` arrays with per-row lengths; rows in parallel chunks (one scratch
    allocation per chunk)."""
    n = actions.shape[0]
    r = psi0.shape[0]
    out = np.empty(n)
    n_chunks = min(n, 256)
    for k in prange(n_chunks):
        y = np.empty(r)
        nxt = np.empty(r)
        for i in range(k * n // n_chunks, (k + 1) * n // n_chunks):
            L = lengths[i]
            sign, logabs = run_kernel(psi0, M, W, actions[i, :L], observations[i, :L], y, nxt)
            out[i] = logabs if sign > 0.0 else -np.inf
    return out


@njit(parallel=True, cache=True)
def sample_kernel(psi0, M, W, horizon, fixed_actions, action_probs, seeds):
    """Episodes under open-loop actions: ``fixed_actions[i, t]`` if >= 0, else a draw from
    ``action_probs``; then ``o_t ~ Pr(. | history, a_t)`` from the PSR state.

    The one-step probabilities ``phi^T M[o, a] y`` are clipped at 0 (round-off
    can make an impossible observation's value ``-1e-17``) and renormalised to
    sum to 1 before the draw; the state is then divided by the unclipped value.
    """
    n = seeds.shape[0]
    n_obs = M.shape[0]
    r = psi0.shape[0]
    actions = np.empty((n, horizon), dtype=np.int64)
    observations = np.empty((n, horizon), dtype=np.int64)
    for i in prange(n):
        rng = new_state(seeds[i])
        y = psi0.copy()
        nxt = np.empty(r)
        p = np.empty(n_obs)
        for t in range(horizon):
            a = fixed_actions[i, t]
            if a < 0:
                a = categorical_dense(action_probs, rng)
            total = 0.0
            for o in range(n_obs):
                c = 0.0
                for j in range(r):
                    c += W[o, a, j] * y[j]
                if c < 0.0:
                    c = 0.0
                p[o] = c
                total += c
            if total > 0.0:
                for o in range(n_obs):
                    p[o] /= total
            o = categorical_dense(p, rng)
            c = advance(M, W, y, a, o, nxt)
            if c > 0.0:
                for j in range(r):
                    y[j] = nxt[j] / c
            actions[i, t] = a
            observations[i, t] = o
    return actions, observations


# ------------------------------------------------------------------ linear algebra
def _grow_span(first, extend, dim: int, tol: float, max_length: int, what: str, first_length: int):
    """Krylov-style growth of a span, one level at a time, choosing labelled vectors.

    ``first`` is the list of ``(label, vector)`` candidates of level 1 and
    ``extend(label, vector)`` the candidates one level deeper. At each level the
    current span is projected out of the candidates (twice, for orthogonality)
    and a pivoted QR picks, largest residual first, those whose residual exceeds
    ``tol`` times the largest candidate norm of the level; only the newly picked
    ones are extended. Returns the picked ``(label, vector)`` list (raw vectors)
    and an orthonormal basis of the span. Level ``j`` holds words of length
    ``first_length + j - 1``; ValueError when a word longer than ``max_length``
    would still enlarge the span.
    """
    basis = np.zeros((dim, 0))
    chosen: list = []
    level = first
    depth = 0
    while level and basis.shape[1] < dim:
        C = np.column_stack([v for _, v in level])
        scale = float(np.linalg.norm(C, axis=0).max())
        if scale == 0.0:
            break
        for _ in range(2):
            C = C - basis @ (basis.T @ C)
        q, rr, piv = scipy.linalg.qr(C, mode="economic", pivoting=True)
        small = np.abs(np.diag(rr)) <= tol * scale
        k = int(np.argmax(small)) if small.any() else small.size
        k = min(k, dim - basis.shape[1])
        if k == 0:
            break
        length = first_length + depth
        depth += 1
        if length > max_length:
            raise ValueError(
                f"the {what} span is still growing at length {length}; raise the length limit "
                f"(now {max_length}) or the rank tolerance tol={tol:g}"
            )
        new_q = q[:, :k]
        for _ in range(2):
            new_q = new_q - basis @ (basis.T @ new_q)
        new_q, _ = np.linalg.qr(new_q)
        basis = np.hstack([basis, new_q])
        picked = [level[piv[j]] for j in range(k)]
        chosen.extend(picked)
        level = [cand for label, vec in picked for cand in extend(label, vec)]
    return chosen, basis


def _minimal_realisation(x0, ops, phi, tol: float, max_length: int):
    """Minimal PSR of the linear model ``(x0, ops (O, A, n, n), phi)`` (see module docstring).

    Returns ``psi0, M, phi_new, core_tests, lift`` where ``lift`` (n x r) maps the
    new coordinates back: ``m(w)^T x = phi^T ops_w (lift x)`` for every future ``w``.
    """
    n_obs, n_act, n, _ = ops.shape
    pairs = [(a, o) for a in range(n_act) for o in range(n_obs)]

    def extend_history(label, v):
        acts, obs = label
        return [(((*acts, a), (*obs, o)), ops[o, a] @ v) for a, o in pairs]

    _, B = _grow_span([(((), ()), x0)], extend_history, n, tol, max_length, "reachable-state", 0)
    red = np.einsum("ji,oajk,kl->oail", B, ops, B)
    x0r = B.T @ x0
    phir = B.T @ phi

    def extend_test(label, v):
        acts, obs = label
        return [(((a, *acts), (o, *obs)), red[o, a].T @ v) for a, o in pairs]

    first = [(((a,), (o,)), red[o, a].T @ phir) for a, o in pairs]
    chosen, _ = _grow_span(first, extend_test, B.shape[1], tol, max_length, "test", 1)
    U = np.array([v for _, v in chosen])
    U_pinv = scipy.linalg.pinv(U)
    M = np.einsum("ij,oajk,kl->oail", U, red, U_pinv)
    tests = tuple(label for label, _ in chosen)
    return U @ x0r, M, U_pinv.T @ phir, tests, B @ U_pinv


def _emission_action_matrix(ops, sequences):
    """Rows ``u_q^T = 1^T A(o_k, a_k) ... A(o_1, a_1)`` for every test under ``sequences``.

    Rows of one action sequence are in lexicographic order of ``(o_1, ..., o_k)``.
    """
    n_obs, _, n, _ = ops.shape
    rows, tests = [], []
    for seq in sequences:
        V = np.ones((1, n))
        for a in reversed(seq):  # prepend one step at a time: index = o_j * n_old + old
            V = np.einsum("ns,ost->ont", V, ops[:, a]).reshape(-1, n)
        rows.append(V)
        tests.extend((tuple(seq), obs) for obs in itertools.product(range(n_obs), repeat=len(seq)))
    return np.vstack(rows), tuple(tests)


# ------------------------------------------------------------------ results
class PSRTrajectories:
    """Sampled episodes: ``actions`` and ``observations`` (each ``(N, H)`` int64);
    ``observations[:, t]`` follows ``actions[:, t]``."""

    __slots__ = ("actions", "observations")

    def __init__(self, actions, observations):
        self.actions = actions
        self.observations = observations

    def __len__(self) -> int:
        return self.actions.shape[0]


@dataclass(frozen=True)
class WellConditioning:
    """The gamma-well-conditioning constant of a PSR (see :meth:`PSR.well_conditioning`).

    Attributes
    ----------
    gamma : float
        ``1 / max(future_term, operator_term)`` (at most 1).
    future_term : float
        ``sup_{||x||_1 <= 1} max_pi sum_w pi(w) |m(w)^T x|`` over futures ``w`` of
        length ``horizon`` (condition (i)).
    operator_term : float
        ``sup_{||x||_1 <= 1} max_a sum_o ||M[o, a] x||_1`` (condition (ii)).
    gamma_lower_bound : float or None
        The cheap bound ``1 / (Q_A ||state_map||_{1->1})`` (None without a state map
        and core tests).
    horizon : int
    """

    gamma: float
    future_term: float
    operator_term: float
    gamma_lower_bound: float | None
    horizon: int


# ------------------------------------------------------------------ model
class PSR:
    """A predictive state representation (see the module docstring for conventions).

    Parameters
    ----------
    psi0 : array (r,)
        Initial predictive state, with ``phi^T psi0 = 1``.
    M : array (O, A, r, r)
        Observable operators; ``M[o, a]`` is applied when ``a`` is played and ``o``
        is then observed: ``psi_{t+1} = M[o_t, a_t] psi_t``.
    phi : array (r,)
        Normalisation functional: ``Pr(o_{0:L} | do a_{0:L}) = phi^T M ... M psi0``,
        with ``sum_o phi^T M[o, a] = phi^T`` for every ``a``.
    core_tests : sequence of (actions, observations), optional
        ``r`` tests whose conditional probabilities form the normalised predictive
        state (set by the POMDP conversions; not checked against the operators).
    horizon : int, optional
        Default episode length for :meth:`sample` and :meth:`well_conditioning`.
    name : str, optional
    state_map : array (S, r), optional
        For a PSR converted from a POMDP: ``x -> state_map @ x`` is a signed measure
        on hidden states with ``m(w)^T x = 1^T A_w state_map x`` for every future
        ``w``; used for the cheap well-conditioning bound.
    check_depth : int
        Histories up to this length are checked to have probability in ``[0, 1]``
        (lowered automatically so that at most 10^5 histories are enumerated).

    Attributes
    ----------
    psi0, M, phi : read-only float64 arrays with the shapes above.
    W : read-only array (O, A, r)
        ``W[o, a] = M[o, a]^T phi``, so ``Pr(o | h, a) = W[o, a] . psi(h)`` for a
        normalised state (used by the kernels).
    dim : int
        ``r``, the length of the predictive state.
    A, n_observations : int
        Numbers of actions and observations.
    core_tests : tuple of (tuple, tuple) or None
        Chronological ``(actions, observations)`` of each core test.
    state_map : read-only array (S, r) or None
    horizon, name.
    rank : int (property)
        Rank of the system-dynamics matrix (``== dim`` for :meth:`from_pomdp`).
    """

    __slots__ = (
        "A",
        "M",
        "W",
        "_rank",
        "core_tests",
        "dim",
        "horizon",
        "n_observations",
        "name",
        "phi",
        "psi0",
        "state_map",
    )

    def __init__(
        self,
        psi0,
        M,
        phi,
        *,
        core_tests=None,
        horizon=None,
        name: str | None = None,
        state_map=None,
        check_depth: int = 2,
    ):
        horizon = check_horizon(horizon)
        psi0 = as_real_array(psi0, "psi0")
        M = as_real_array(M, "M")
        phi = as_real_array(phi, "phi")
        if psi0.ndim != 1 or psi0.size == 0:
            raise ValueError(f"psi0 must be a non-empty 1-d array (r,); got shape {psi0.shape}")
        r = psi0.size
        if M.ndim != 4 or M.shape[2] != M.shape[3] or 0 in M.shape:
            raise ValueError(f"M must have shape (O, A, r, r) with O, A, r >= 1; got {M.shape}")
        if M.shape[2] != r:
            raise ValueError(f"M has r={M.shape[2]} but psi0 has r={r}")
        if phi.shape != (r,):
            raise ValueError(f"phi has shape {phi.shape} but psi0 has r={r}")
        check_finite(psi0, "psi0", "entries")
        check_finite(M, "M", "entries")
        check_finite(phi, "phi", "entries")
        n_obs, n_act = M.shape[0], M.shape[1]

        total = float(phi @ psi0)
        if abs(total - 1.0) > ROW_SUM_TOL * (1.0 + float(np.abs(phi) @ np.abs(psi0))):
            raise ValueError(f"phi^T psi0 = {total:.12g}; it must be 1 (the empty history)")
        W = np.ascontiguousarray(np.einsum("oaij,i->oaj", M, phi))
        err = np.abs(W.sum(axis=0) - phi)  # (A, r)
        allowed = ROW_SUM_TOL * (
            1.0 + np.einsum("oaij,i->aj", np.abs(M), np.abs(phi)) + np.abs(phi)
        )
        bad = err > allowed
        if bad.any():
            a, j = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"operators of action {a} are not normalised: sum_o phi^T M[o, {a}] differs "
                f"from phi^T by {err[a, j]:.3g} at index {j}"
            )

        tests = None
        if core_tests is not None:
            tests = _check_tests(core_tests, r, n_act, n_obs)
        if state_map is not None:
            state_map = as_real_array(state_map, "state_map")
            if state_map.ndim != 2 or state_map.shape[1] != r:
                raise ValueError(f"state_map must have shape (S, {r}); got {state_map.shape}")
            check_finite(state_map, "state_map", "entries")
            freeze(state_map)
        _check_short_histories(psi0, M, phi, check_int(check_depth, "check_depth", lo=0))

        freeze(psi0, M, phi, W)
        setter = object.__setattr__
        for key, value in dict(
            psi0=psi0,
            M=M,
            phi=phi,
            W=W,
            dim=r,
            A=n_act,
            n_observations=n_obs,
            core_tests=tests,
            state_map=state_map,
            horizon=horizon,
            name=name or f"PSR(r={r}, A={n_act}, O={n_obs})",
            _rank=None,
        ).items():
            setter(self, key, value)

    def __setattr__(self, key, value):
        raise AttributeError(f"PSR is immutable; build a new one instead of setting {key}")

    def __repr__(self) -> str:
        return f"<{self.name}: dim={self.dim}, horizon={self.horizon}>"

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_pomdp(cls, pomdp, *, max_test_length: int | None = None, tol: float = 1e-10) -> PSR:
        """The minimal PSR of a POMDP, exact for every history (see module docstring).

        Parameters
        ----------
        pomdp : POMDP
        max_test_length : int, optional
            Longest core test, and longest history used to span the reachable
            beliefs (default ``S``, always enough: each level of the growth adds a
            dimension or stops it); ValueError if a span still grows beyond it.
        tol : float
            Relative residual below which a candidate test counts as linearly
            dependent on those already chosen.

        The result has ``dim == rank <= S``, core tests preferring short ones, and a
        ``state_map`` for the cheap well-conditioning bound.
        """
        _check_pomdp(pomdp, "PSR.from_pomdp")
        tol = _check_rank_tol(tol)
        S = pomdp.S
        max_len = S
        if max_test_length is not None:
            max_len = check_int(max_test_length, "max_test_length", lo=1)
        ops = np.ascontiguousarray(pomdp.observable_operators().transpose(1, 0, 2, 3))
        psi0, M, phi, tests, lift = _minimal_realisation(
            np.asarray(pomdp.b0, dtype=float), ops, np.ones(S), tol, max_len
        )
        psr = cls(
            psi0,
            M,
            phi,
            core_tests=tests,
            horizon=pomdp.horizon,
            name=f"PSR[{pomdp.name}]",
            state_map=lift,
        )
        object.__setattr__(psr, "_rank", psr.dim)
        return psr

    @classmethod
    def from_revealing_pomdp(
        cls, pomdp, *, m: int | None = None, action_sequences=None, tol: float = 1e-10
    ) -> PSR:
        """The m-step-revealing PSR of the research note (section 2.2).

        Core tests are *all* observation sequences under the core action sequences:
        ``action_sequences`` if given (e.g. ``[(0,)]``, "listen", for Tiger), else
        all ``A^m`` sequences of length ``m`` (the smallest ``m <= S`` that reveals
        the state when ``m`` is None). With the emission-action matrix ``E``
        (tests x S, ``E[q, s] = Pr(q | s)``) of rank ``S``: ``psi0 = E b0``,
        ``M[o, a] = E A(o, a) E^+`` and ``phi^T = 1^T E^+``. The dimension is the
        number of core tests; the rank is at most ``S``. ValueError if ``E`` has
        rank below ``S`` (``sigma_S(E) <= tol * sigma_1(E)``).
        """
        _check_pomdp(pomdp, "PSR.from_revealing_pomdp")
        tol = _check_rank_tol(tol)
        S, A = pomdp.S, pomdp.A
        ops = np.ascontiguousarray(pomdp.observable_operators().transpose(1, 0, 2, 3))
        n_obs = ops.shape[0]

        def candidates(length):
            if (A * n_obs) ** length > _MAX_REVEALING_ROWS:
                raise ValueError(
                    f"{(A * n_obs) ** length} tests of length {length} exceed the limit "
                    f"{_MAX_REVEALING_ROWS}; pass action_sequences"
                )
            return list(itertools.product(range(A), repeat=length))

        def sigma_ratio(E):
            sv = np.linalg.svd(E, compute_uv=False)
            return sv[S - 1] / sv[0] if sv.size >= S else 0.0

        if action_sequences is not None:
            seqs = []
            for i, seq in enumerate(action_sequences):
                seq = tuple(int(a) for a in np.atleast_1d(np.asarray(seq)))
                if not seq or any(not 0 <= a < A for a in seq):
                    raise ValueError(
                        f"action_sequences[{i}] = {seq} must be a non-empty sequence of "
                        f"actions in [0, {A})"
                    )
                seqs.append(seq)
            E, tests = _emission_action_matrix(ops, seqs)
            if sigma_ratio(E) <= tol:
                raise ValueError(
                    f"the core action sequences do not reveal the state: the emission-action "
                    f"matrix has rank < S={S}"
                )
        else:
            lengths = range(1, S + 1) if m is None else [check_horizon(m)]
            for length in lengths:
                E, tests = _emission_action_matrix(ops, candidates(length))
                if sigma_ratio(E) > tol:
                    break
            else:
                raise ValueError(
                    f"the POMDP is not m-step revealing for m in {list(lengths)}: the "
                    f"emission-action matrix has rank < S={S}"
                )
        E_pinv = scipy.linalg.pinv(E)
        M = np.einsum("ij,oajk,kl->oail", E, ops, E_pinv)
        return cls(
            E @ pomdp.b0,
            M,
            E_pinv.T @ np.ones(S),
            core_tests=tests,
            horizon=pomdp.horizon,
            name=f"RevealingPSR[{pomdp.name}]",
            state_map=E_pinv,
        )

    def minimal(self, *, tol: float = 1e-10) -> PSR:
        """The minimal PSR with the same history probabilities (dimension = :attr:`rank`)."""
        psi0, M, phi, tests, lift = _minimal_realisation(
            self.psi0, self.M, self.phi, _check_rank_tol(tol), self.dim
        )
        state_map = None if self.state_map is None else self.state_map @ lift
        out = PSR(
            psi0,
            M,
            phi,
            core_tests=tests,
            horizon=self.horizon,
            name=f"minimal[{self.name}]",
            state_map=state_map,
        )
        object.__setattr__(out, "_rank", out.dim)
        return out

    @property
    def rank(self) -> int:
        """Rank of the system-dynamics matrix (computed once by :meth:`minimal`)."""
        if self._rank is None:
            object.__setattr__(self, "_rank", self.minimal().dim)
        return self._rank

    @property
    def core_action_sequences(self) -> tuple | None:
        """The distinct action sequences of the core tests (``Q_A`` = their number)."""
        if self.core_tests is None:
            return None
        return tuple(dict.fromkeys(acts for acts, _ in self.core_tests))

    # ------------------------------------------------------------ probabilities
    def history_probability(self, actions, observations) -> float:
        """``Pr(o_0 .. o_{L-1} observed | a_0 .. a_{L-1} played)``; ``o_t`` follows ``a_t``.

        The value ``phi^T M ... M psi0`` is returned with its sign (only an invalid
        PSR or round-off makes it negative). The empty history has probability 1.
        """
        a, o = self._check_history(actions, observations)
        y = np.empty(self.dim)
        sign, logabs = run_kernel(self.psi0, self.M, self.W, a, o, y, np.empty(self.dim))
        return float(sign * math.exp(logabs)) if sign != 0.0 else 0.0

    def log_history_probability(self, actions, observations) -> float:
        """Natural log of :meth:`history_probability` (``-inf`` when not positive),
        stable for long histories (the state is normalised after every step)."""
        a, o = self._check_history(actions, observations)
        y = np.empty(self.dim)
        sign, logabs = run_kernel(self.psi0, self.M, self.W, a, o, y, np.empty(self.dim))
        return float(logabs) if sign > 0.0 else -math.inf

    def log_likelihood(self, actions, observations, lengths=None) -> np.ndarray:
        """Per-trajectory ``log Pr(o | do a)`` of a batch of ``(N, L)`` histories.

        ``lengths[i]`` (default ``L``) is the number of valid steps of row ``i``;
        the batch log-likelihood is the sum of the result (rows in parallel).
        """
        a, o, lengths = check_history_batch(
            actions, observations, lengths, self.A, self.n_observations
        )
        return batch_log_probability(self.psi0, self.M, self.W, a, o, lengths)

    def predictive_state(self, actions, observations) -> np.ndarray:
        """Normalised state ``psi(h) / phi^T psi(h)`` after the history ``h``.

        For a PSR with core tests this is ``[Pr(q | h)]_{q in core_tests}``.
        ValueError if the history has probability 0.
        """
        a, o = self._check_history(actions, observations)
        y = np.empty(self.dim)
        sign, _ = run_kernel(self.psi0, self.M, self.W, a, o, y, np.empty(self.dim))
        if sign == 0.0:
            raise ValueError("the history has probability 0; its predictive state is undefined")
        return y

    def conditional_observation_probs(self, actions_history, observations_history, a) -> np.ndarray:
        """``Pr(o | history, a)`` for every observation ``o`` (an ``(O,)`` array).

        Values are ``phi^T M[o, a] psi(h) / phi^T psi(h)``, not clipped: they sum to
        1 up to round-off and may be ``-1e-17`` for impossible observations.
        """
        a = check_index(a, "a (action)", self.A)
        y = self.predictive_state(actions_history, observations_history)
        return self.W[:, int(a), :] @ y

    # ------------------------------------------------------------ sampling
    def sample(
        self,
        n_episodes: int,
        *,
        horizon: int | None = None,
        actions=None,
        action_probs=None,
        seed: SeedLike = None,
    ) -> PSRTrajectories:
        """Sample episodes under an open-loop action choice (as :meth:`POMDP.sample`).

        ``actions``: ``(H,)`` for every episode or ``(N, H)``; entries ``-1`` (and
        everything when None) are drawn i.i.d. from ``action_probs`` (default
        uniform). Then ``o_t ~ Pr(. | history, a_t)`` from the PSR state, negative
        round-off clipped to 0 and the row renormalised. Episode ``i`` uses its own
        random stream: reproducible for any thread count.
        """
        H = self.horizon if horizon is None else check_horizon(horizon)
        if H is None:
            raise ValueError("sample needs a horizon: pass horizon=")
        fixed, probs = open_loop_actions(n_episodes, H, self.A, actions, action_probs)
        n = fixed.shape[0]
        seeds = stream_seeds(seed, n)
        return PSRTrajectories(*sample_kernel(self.psi0, self.M, self.W, H, fixed, probs, seeds))

    # ------------------------------------------------------------ well-conditioning
    def well_conditioning(self, horizon: int | None = None) -> WellConditioning:
        """The gamma of the gamma-well-conditioning condition, computed exactly.

        The definition (research note 2.1, [LNSJ22]; marked reconstructed there) asks,
        for all ``x`` and all policies ``pi`` acting from the current step on,

        (i)  ``sum_w pi(w) |m(w)^T x| <= ||x||_1 / gamma`` over futures ``w``;
        (ii) ``sum_{a, o} pi(a) ||M[o, a] x||_1 <= ||x||_1 / gamma``.

        Timing. The note writes (ii) with ``pi(a | o)`` because its steps are
        observe-then-act. Here a step is act-then-observe: from a predictive state
        the policy picks ``a`` *before* ``o`` is drawn, so the supremum of (ii) over
        policies is ``max_a sum_o ||M[o, a] x||_1``. (Letting ``a`` depend on ``o``,
        i.e. ``sum_o max_a``, is not a policy in this timing and would break the
        cheap bound below.) In (i) the policy sees the future's own observations.

        Both left-hand sides are convex, even and positively homogeneous in ``x``,
        so the supremum over the l1 ball is attained at some ``e_i``:

        * ``operator_term = max_i max_a sum_o ||M[o, a] e_i||_1``;
        * ``future_term = max_i V_H(e_i)`` with ``V_0(y) = |phi^T y|`` and
          ``V_k(y) = max_a sum_o V_{k-1}(M[o, a] y)`` (adaptive deterministic policies
          suffice; the sum is non-decreasing in the future's length by the one-step
          normalisation and the triangle inequality, so length ``H`` covers all
          steps of the episode). Cost ``(A O)^H`` vectors of size ``r``: ValueError
          beyond 5e7 numbers.

        ``gamma = 1 / max(future_term, operator_term)`` (always <= 1). For a PSR
        with a ``state_map`` ``K`` (converted from a POMDP) the derived bound of the
        note, ``1 / gamma <= Q_A ||K||_{1->1}`` (max column l1 norm, ``Q_A`` = number of
        core action sequences; with ``K = U_Q^+`` for a full-rank conversion), is
        returned as ``gamma_lower_bound``.
        """
        H = self.horizon if horizon is None else check_horizon(horizon)
        if H is None:
            raise ValueError("well_conditioning needs a horizon: pass horizon=")
        r, A, O = self.dim, self.A, self.n_observations
        if r * r * (A * O) ** H > _MAX_FUTURE_ENTRIES:
            raise ValueError(
                f"exact well-conditioning enumerates (A*O)^H = {(A * O) ** H} futures for "
                f"{r} start vectors; too many (limit {_MAX_FUTURE_ENTRIES:g} numbers): "
                "use a smaller horizon"
            )
        operator_term = float(np.abs(self.M).sum(axis=(0, 2)).max())
        # Y[i, j, :] = M_{future j} e_i; the last step's (a, o) is the fastest index.
        Y = np.eye(r)[:, None, :]
        for _ in range(H):
            Y = np.einsum("oakl,ijl->ijaok", self.M, Y).reshape(r, -1, r)
        V = np.abs(Y @ self.phi)
        for _ in range(H):
            V = V.reshape(r, -1, A, O).sum(axis=3).max(axis=2)
        future_term = float(V.max())
        bound = None
        if self.state_map is not None and self.core_tests is not None:
            q_a = len(self.core_action_sequences)
            bound = 1.0 / (q_a * float(np.abs(self.state_map).sum(axis=0).max()))
        return WellConditioning(
            gamma=1.0 / max(future_term, operator_term),
            future_term=future_term,
            operator_term=operator_term,
            gamma_lower_bound=bound,
            horizon=H,
        )

    # ------------------------------------------------------------ checks
    def _check_history(self, actions, observations) -> tuple[np.ndarray, np.ndarray]:
        return check_history(actions, observations, self.A, self.n_observations)


def _check_pomdp(pomdp, fn: str) -> None:
    if not isinstance(pomdp, POMDP):
        raise TypeError(f"{fn} needs a POMDP as pomdp; got {type(pomdp).__name__}")


def _check_rank_tol(tol) -> float:
    """The relative rank tolerance: a real number in (0, 1)."""
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0.0 < tol < 1.0:
        raise ValueError(f"tol must be a relative rank tolerance in (0, 1); got {tol!r}")
    return float(tol)


def _check_tests(core_tests, r: int, n_act: int, n_obs: int) -> tuple:
    tests = []
    for i, test in enumerate(core_tests):
        try:
            acts, obs = test
            acts = tuple(int(x) for x in acts)
            obs = tuple(int(x) for x in obs)
        except (TypeError, ValueError):
            raise ValueError(
                f"core_tests[{i}] must be a pair (actions, observations) of integer sequences"
            ) from None
        if len(acts) != len(obs) or not acts:
            raise ValueError(
                f"core_tests[{i}] must have equally many (>= 1) actions and observations; "
                f"got {len(acts)} and {len(obs)}"
            )
        if any(not 0 <= x < n_act for x in acts) or any(not 0 <= x < n_obs for x in obs):
            raise ValueError(
                f"core_tests[{i}] = {(acts, obs)} has an action or observation "
                f"out of range (A={n_act}, O={n_obs})"
            )
        tests.append((acts, obs))
    if len(tests) != r:
        raise ValueError(f"core_tests has {len(tests)} tests but psi0 has r={r}")
    return tuple(tests)


def _check_short_histories(psi0, M, phi, depth: int) -> None:
    """Every history of length <= depth has probability in [0, 1] (within round-off)."""
    n_obs, n_act, r, _ = M.shape
    V = psi0[None, :]
    for length in range(1, depth + 1):
        if V.shape[0] * n_act * n_obs > _MAX_CHECK_HISTORIES:
            return
        # new index = (old * A + a) * O + o
        V = np.einsum("oaij,nj->naoi", M, V).reshape(-1, r)
        p = V @ phi
        slack = ROW_SUM_TOL * (1.0 + np.abs(V) @ np.abs(phi))
        bad = (p < -slack) | (p > 1.0 + slack)
        if bad.any():
            k = int(np.argmax(bad))
            steps = np.unravel_index(k, (n_act, n_obs) * length)
            acts, obs = list(steps[0::2]), list(steps[1::2])
            raise ValueError(
                f"Pr(o={[int(x) for x in obs]} | do a={[int(x) for x in acts]}) = {p[k]:.6g} "
                "is not a probability in [0, 1]"
            )

"""Exact planning over the history tree of a finite-horizon POMDP or PSR.

The learners for predictive state representations (UCB-PSR, PSR-LCB, OMLE;
Huang, Liang, Yang, ICLR 2024; Liu et al. 2022) plan with rewards that are
functions of the *whole observable trajectory* (the UCB-PSR bonus is a square
root of a sum over steps, not additive), so their policies are history-dependent
and are computed here by exact dynamic programming over the tree of histories.

Indexing. A full history ``tau = (a_0, o_0, ..., a_{H-1}, o_{H-1})`` (the timing
of :mod:`mdplab.models.pomdp`: ``o_t`` is emitted after ``a_t``, no observation
before the first action) is the integer with base-``A*O`` digits
``a_t * O + o_t``, most significant first; a depth-``h`` node (a history of ``h``
steps) is an index ``n`` in ``[0, (A*O)^h)`` and its child after ``(a, o)`` is
``n * A*O + a*O + o``. All arrays over the leaves have length ``(A*O)^H``.

Quantities (``P(h) = Pr(o_{0:h} | do a_{0:h})``, the model's probability of the
observations of ``h`` when its actions are played):

* :func:`history_probabilities`: ``P(h)`` at every depth, by the forward
  recursion ``x(h a o) = Op(a, o) x(h)`` over the tree in a compiled kernel
  (POMDP: ``Op(a, o) = diag(O[a, :, o]) T[:, a, :]^T``, ``P = 1^T x``; PSR:
  ``Op(a, o) = M[o, a]``, ``P = phi^T x``). Any other model exposing ``A``,
  ``n_observations`` and a batch ``log_likelihood`` is queried leaf by leaf.
* A history-dependent policy ``pi`` (:class:`HistoryPolicy`) puts the weight
  ``pi(tau) = prod_t pi(a_t | h_t)`` on a leaf, and the law of the trajectory
  under ``pi`` is ``P^pi(tau) = pi(tau) P(tau)`` (the policy factor separates).
* :func:`history_rewards`: for a POMDP with hidden-state rewards ``R[s, a]`` the
  leaf weights

      W[tau] = P(tau) * sum_{t<H} E[R(s_t, a_t) | h_t]
             = sum_t P(h_t) E[R(s_t, a_t) | h_t] * Pr(o_{t:H} | h_t, do a_{t:H}),

  where ``E[R(s_t, a_t) | h_t] = b(h_t) . R[:, a_t]`` with the belief ``b(h_t)``
  after the first ``t`` steps (0 where ``P(h_t) = 0``). For every
  history-dependent policy ``sum_tau pi(tau) W[tau]`` is the policy's expected
  return: summing the continuation probabilities ``Pr(o_{t:H} | h_t, do
  a_{t:H})`` against the policy's continuation factors gives 1, leaving
  ``sum_t sum_{h_t, a_t} Pr^pi(h_t, a_t) E[R(s_t, a_t) | h_t]``.
* :func:`maximize_over_histories`: ``max_pi sum_tau pi(tau) w[tau]`` over
  deterministic history-dependent policies for any leaf weights ``w`` by the
  backward recursion ``V(h) = max_a sum_o V(h a o)`` (``V = w`` at the leaves);
  the maximum over stochastic policies is the same (the objective is linear in
  each node's action distribution). Ties go to the lowest action.
* :func:`optimal_history_policy` (``w = W``) is the exact optimal value of the
  POMDP over the horizon (it equals the belief DP
  :func:`~mdplab.planning.pomdp_value_iteration`), and :func:`max_tv_distance`
  (``w = |P_a - P_b| / 2``) is ``max_pi TV(P^pi_a, P^pi_b)``, the model error of
  the PSR learners.

Size. Every routine enumerates the ``(A*O)^H`` leaves and refuses (ValueError)
above ``max_leaves`` (default 2,000,000).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
from numba import njit

from mdplab.models._validation import ROW_SUM_TOL, as_real_array, check_int
from mdplab.models.pomdp import POMDP
from mdplab.models.psr import PSR

__all__ = [
    "DEFAULT_MAX_LEAVES",
    "HistoryPolicy",
    "history_policy_value",
    "history_probabilities",
    "history_rewards",
    "max_tv_distance",
    "maximize_over_histories",
    "optimal_history_policy",
]

DEFAULT_MAX_LEAVES = 2_000_000


# ------------------------------------------------------------------ kernels
@njit(cache=True)
def _expand_level(ops, phi, X):
    """Children of every node: ``out[n*A*O + a*O + o] = ops[a, o] @ X[n]`` and their
    probabilities ``p = out @ phi``."""
    N, d = X.shape
    A, O = ops.shape[0], ops.shape[1]
    K = A * O
    out = np.empty((N * K, d))
    p = np.empty(N * K)
    for n in range(N):
        for a in range(A):
            for o in range(O):
                k = n * K + a * O + o
                tot = 0.0
                for i in range(d):
                    acc = 0.0
                    for j in range(d):
                        acc += ops[a, o, i, j] * X[n, j]
                    out[k, i] = acc
                    tot += phi[i] * acc
                p[k] = tot
    return out, p


@njit(cache=True)
def _reward_level(ops, R, X, P, C):
    """One level of the reward recursion: children's unnormalised beliefs, their
    probabilities (:func:`_expand_level` with ``phi = 1``) and
    ``C(h a o) = C(h) + X[h] . R[:, a] / P(h)`` (0 where ``P = 0``)."""
    N, S = X.shape
    A, O = ops.shape[0], ops.shape[1]
    out, p = _expand_level(ops, np.ones(S), X)
    c = np.empty(N * A * O)
    for n in range(N):
        for a in range(A):
            r = 0.0
            if P[n] > 0.0:
                for s in range(S):
                    r += X[n, s] * R[s, a]
                r /= P[n]
            for o in range(O):
                c[n * A * O + a * O + o] = C[n] + r
    return out, p, c


@njit(cache=True)
def _child_weights(w, probs, O):
    """``out[n*A*O + a*O + o] = w[n] * probs[n, a]``."""
    N, A = probs.shape
    out = np.empty(N * A * O)
    for n in range(N):
        for a in range(A):
            v = w[n] * probs[n, a]
            base = n * A * O + a * O
            for o in range(O):
                out[base + o] = v
    return out


@njit(cache=True)
def _backup(V, N, A, O, tie_tol):
    """``Q[n, a] = sum_o V[n*A*O + a*O + o]``; greedy action (lowest within
    ``tie_tol * sum_{a, o} |V[n*A*O + a*O + o]|`` of the maximum: relative to the
    node's own scale, so scaling the weights does not change the policy) and its
    value per node."""
    act = np.empty(N, dtype=np.int64)
    val = np.empty(N)
    for n in range(N):
        best = -np.inf
        scale = 0.0
        for a in range(A):
            acc = 0.0
            base = n * A * O + a * O
            for o in range(O):
                acc += V[base + o]
                scale += abs(V[base + o])
            if acc > best:
                best = acc
        thr = best - tie_tol * scale
        for a in range(A):
            acc = 0.0
            base = n * A * O + a * O
            for o in range(O):
                acc += V[base + o]
            if acc >= thr:
                act[n] = a
                val[n] = acc
                break
    return act, val


# ------------------------------------------------------------------ checks
def _sizes(model, fn: str) -> tuple[int, int]:
    for attr in ("A", "n_observations"):
        if not hasattr(model, attr):
            raise TypeError(
                f"{fn}: model must expose A, n_observations and log_likelihood "
                f"(a POMDP or a PSR); got {type(model).__name__}"
            )
    return int(model.A), int(model.n_observations)


def _horizon(model, horizon, fn: str) -> int:
    if horizon is None:
        horizon = getattr(model, "horizon", None)
        if horizon is None:
            raise ValueError(f"{fn}: the model has no horizon; pass horizon=")
    return check_int(horizon, "horizon", lo=1)


def _check_leaves(A: int, O: int, H: int, max_leaves, fn: str) -> int:
    limit = check_int(max_leaves, "max_leaves", lo=1)
    leaves = (A * O) ** H
    if leaves > limit:
        raise ValueError(
            f"{fn}: the history tree has (A*O)^H = ({A}*{O})^{H} = {leaves} leaves, "
            f"more than max_leaves={limit}; shorten the horizon or raise max_leaves"
        )
    return leaves


def _operators(model) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ops (A, O, d, d), phi (d,))`` of a POMDP or PSR, None for other models."""
    if isinstance(model, POMDP):
        ops = np.ascontiguousarray(model.observable_operators())  # [a, o] = A(o, a)
        return ops, np.ones(model.S)
    if isinstance(model, PSR):
        ops = np.ascontiguousarray(np.asarray(model.M).transpose(1, 0, 2, 3))
        return ops, np.ascontiguousarray(model.phi)
    return None


def _all_histories(A: int, O: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """``(actions, observations)`` ``((A*O)^h, h)`` of every depth-``h`` node, in index order."""
    idx = np.arange((A * O) ** h, dtype=np.int64)
    digits = np.empty((idx.size, h), dtype=np.int64)
    for t in range(h - 1, -1, -1):
        digits[:, t] = idx % (A * O)
        idx = idx // (A * O)
    return digits // O, digits % O


# ------------------------------------------------------------------ probabilities
def history_probabilities(model, horizon=None, *, max_leaves=DEFAULT_MAX_LEAVES) -> list:
    """``[P_0, ..., P_H]`` with ``P_h[n] = Pr(o_{0:h} | do a_{0:h})`` of depth-``h`` node ``n``.

    ``P_0 = [1.0]`` and ``P_h`` has shape ``((A*O)^h,)`` (module docstring for the
    indexing). POMDPs and PSRs use the compiled forward recursion over the tree;
    a PSR's values are returned signed (round-off may give ``-1e-17`` for an
    impossible history). Any other model with ``A``, ``n_observations`` and a batch
    ``log_likelihood(actions, observations, lengths)`` is evaluated on every node.
    """
    fn = "history_probabilities"
    A, O = _sizes(model, fn)
    H = _horizon(model, horizon, fn)
    _check_leaves(A, O, H, max_leaves, fn)
    pair = _operators(model)
    if pair is None:
        if not callable(getattr(model, "log_likelihood", None)):
            raise TypeError(f"{fn}: model must have a batch log_likelihood method")
        out = [np.ones(1)]
        for h in range(1, H + 1):
            acts, obs = _all_histories(A, O, h)
            ll = np.asarray(model.log_likelihood(acts, obs, np.full(len(acts), h)), float)
            out.append(np.exp(ll))
        return out
    ops, phi = pair
    x0 = np.asarray(model.b0 if isinstance(model, POMDP) else model.psi0, dtype=np.float64)
    X = np.ascontiguousarray(x0[None, :])
    out = [np.ones(1)]  # the empty history (phi^T x0 = 1 up to round-off)
    for _ in range(H):
        X, p = _expand_level(ops, phi, X)
        out.append(p)
    return out


def history_rewards(pomdp, horizon=None, *, max_leaves=DEFAULT_MAX_LEAVES) -> np.ndarray:
    """Leaf weights ``W`` ``((A*O)^H,)`` with ``sum_tau pi(tau) W[tau]`` = expected return.

    ``W[tau] = P(tau) * sum_t E[R(s_t, a_t) | h_t]`` for the POMDP's hidden-state
    rewards ``R[s, a]`` (module docstring: the continuation probabilities sum to 1
    under any policy, so the identity holds for every history-dependent, even
    stochastic, policy ``pi``).
    """
    fn = "history_rewards"
    if not isinstance(pomdp, POMDP):
        raise TypeError(
            f"{fn}: pomdp must be a POMDP (hidden-state rewards); got {type(pomdp).__name__}. "
            "For a reward r(tau) of the observable trajectory use "
            "history_probabilities(model, H)[H] * r"
        )
    A, O = pomdp.A, pomdp.n_observations
    H = _horizon(pomdp, horizon, fn)
    _check_leaves(A, O, H, max_leaves, fn)
    ops, _ = _operators(pomdp)
    R = np.ascontiguousarray(pomdp.R)
    X = np.ascontiguousarray(np.asarray(pomdp.b0)[None, :])
    P = np.ones(1)
    C = np.zeros(1)
    for _ in range(H):
        X, P, C = _reward_level(ops, R, X, P, C)
    return P * C


# ------------------------------------------------------------------ policies
class HistoryPolicy:
    """A history-dependent policy over ``H`` steps, ``A`` actions, ``O`` observations.

    ``probs[h]`` is an array ``((A*O)^h, A)``: row ``n`` is the distribution of
    ``a_h`` after the depth-``h`` history ``n`` (module docstring for indexing).
    Rows are validated (non-negative, summing to 1); arrays are read-only.

    Attributes
    ----------
    probs : list of arrays
    n_actions, n_observations, horizon : int
    deterministic : bool
        True when every row is one-hot.
    """

    __slots__ = ("deterministic", "horizon", "n_actions", "n_observations", "probs")

    def __init__(self, probs, n_actions: int, n_observations: int):
        A = check_int(n_actions, "n_actions", lo=1)
        O = check_int(n_observations, "n_observations", lo=1)
        if isinstance(probs, np.ndarray) or not hasattr(probs, "__len__") or len(probs) == 0:
            raise ValueError("probs must be a non-empty list of arrays, one per depth h")
        tables = []
        for h, p in enumerate(probs):
            p = as_real_array(p, f"probs[{h}]")
            want = ((A * O) ** h, A)
            if p.shape != want:
                raise ValueError(f"probs[{h}] must have shape {want}; got {p.shape}")
            bad = ~np.isfinite(p) | (p < 0)
            if bad.any():
                n, a = (int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"probs[{h}][{n}, {a}] = {p[n, a]} is not a probability")
            err = np.abs(p.sum(axis=1) - 1.0)
            if (err > ROW_SUM_TOL * A).any():
                n = int(np.argmax(err))
                raise ValueError(f"probs[{h}][{n}] sums to {p[n].sum():.12g}, not 1")
            p = np.ascontiguousarray(p, dtype=np.float64).copy()
            p.setflags(write=False)
            tables.append(p)
        det = all(bool(((p == 0.0) | (p == 1.0)).all()) for p in tables)
        setter = object.__setattr__
        setter(self, "probs", tables)
        setter(self, "n_actions", A)
        setter(self, "n_observations", O)
        setter(self, "horizon", len(tables))
        setter(self, "deterministic", det)

    def __setattr__(self, key, value):
        raise AttributeError(
            f"HistoryPolicy is immutable; build a new one instead of setting {key}"
        )

    def __repr__(self) -> str:
        kind = "deterministic" if self.deterministic else "stochastic"
        return (
            f"<HistoryPolicy: {kind}, A={self.n_actions}, O={self.n_observations}, "
            f"H={self.horizon}>"
        )

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_actions(cls, actions, n_actions: int, n_observations: int) -> HistoryPolicy:
        """A deterministic policy from per-depth action tables ``actions[h]`` ``((A*O)^h,)``."""
        A = check_int(n_actions, "n_actions", lo=1)
        O = check_int(n_observations, "n_observations", lo=1)
        probs = []
        for h, acts in enumerate(actions):
            acts = np.asarray(acts)
            want = ((A * O) ** h,)
            if acts.shape != want or (acts.size and not np.issubdtype(acts.dtype, np.integer)):
                raise ValueError(f"actions[{h}] must be {want[0]} integers; got shape {acts.shape}")
            if ((acts < 0) | (acts >= A)).any():
                raise ValueError(f"actions[{h}] must be in [0, {A})")
            p = np.zeros((acts.size, A))
            p[np.arange(acts.size), acts] = 1.0
            probs.append(p)
        return cls(probs, A, O)

    @classmethod
    def from_function(
        cls, fn: Callable, n_actions: int, n_observations: int, horizon: int,
        *, max_leaves=DEFAULT_MAX_LEAVES,
    ) -> HistoryPolicy:
        """``fn(actions, observations)`` (two int arrays of the history so far, length
        ``h``) returns an action or a distribution ``(A,)``; called once per node."""
        if not callable(fn):
            raise TypeError("fn must be a callable fn(actions, observations)")
        A = check_int(n_actions, "n_actions", lo=1)
        O = check_int(n_observations, "n_observations", lo=1)
        H = check_int(horizon, "horizon", lo=1)
        _check_leaves(A, O, H - 1, max_leaves, "HistoryPolicy.from_function")
        probs = []
        for h in range(H):
            acts, obs = _all_histories(A, O, h)
            table = np.zeros((acts.shape[0], A))
            for n in range(acts.shape[0]):
                choice = fn(acts[n].copy(), obs[n].copy())
                if isinstance(choice, numbers.Integral) and not isinstance(choice, bool):
                    if not 0 <= choice < A:
                        raise ValueError(
                            f"fn returned action {choice} after history {n} of depth {h}; "
                            f"not in [0, {A})"
                        )
                    table[n, int(choice)] = 1.0
                else:
                    p = np.asarray(choice, dtype=np.float64)
                    if p.shape != (A,):
                        raise ValueError(
                            f"fn must return an action or a distribution of shape ({A},); "
                            f"got {choice!r} at depth {h}"
                        )
                    table[n] = p
            probs.append(table)
        return cls(probs, A, O)

    @classmethod
    def uniform(cls, n_actions: int, n_observations: int, horizon: int,
                *, max_leaves=DEFAULT_MAX_LEAVES) -> HistoryPolicy:
        """Uniform over actions after every history."""
        A = check_int(n_actions, "n_actions", lo=1)
        O = check_int(n_observations, "n_observations", lo=1)
        H = check_int(horizon, "horizon", lo=1)
        _check_leaves(A, O, H - 1, max_leaves, "HistoryPolicy.uniform")
        return cls([np.full(((A * O) ** h, A), 1.0 / A) for h in range(H)], A, O)

    @classmethod
    def open_loop(cls, action_sequence, n_actions: int, n_observations: int,
                  *, max_leaves=DEFAULT_MAX_LEAVES) -> HistoryPolicy:
        """Plays ``action_sequence[h]`` at step ``h`` whatever was observed (``H = len``)."""
        A = check_int(n_actions, "n_actions", lo=1)
        O = check_int(n_observations, "n_observations", lo=1)
        seq = np.asarray(action_sequence)
        if seq.ndim != 1 or seq.size == 0 or not np.issubdtype(seq.dtype, np.integer):
            raise ValueError(
                f"action_sequence must be a non-empty 1-d integer sequence; got {action_sequence!r}"
            )
        if ((seq < 0) | (seq >= A)).any():
            raise ValueError(f"action_sequence entries must be in [0, {A}); got {seq.tolist()}")
        H = seq.size
        _check_leaves(A, O, H - 1, max_leaves, "HistoryPolicy.open_loop")
        return cls.from_actions(
            [np.full((A * O) ** h, int(seq[h]), dtype=np.int64) for h in range(H)], A, O
        )

    # ------------------------------------------------------------ queries
    def node_index(self, actions, observations) -> int:
        """Index of the history ``(a_0, o_0, ..., a_{h-1}, o_{h-1})`` at depth ``h``."""
        a = np.asarray(actions)
        o = np.asarray(observations)
        if a.ndim != 1 or a.shape != o.shape:
            raise ValueError(
                f"actions and observations must be 1-d of equal length; got {a.shape}, {o.shape}"
            )
        ints = np.issubdtype(a.dtype, np.integer) and np.issubdtype(o.dtype, np.integer)
        if a.size and not ints:
            raise ValueError("actions and observations must be integers")
        if ((a < 0) | (a >= self.n_actions)).any() or ((o < 0) | (o >= self.n_observations)).any():
            raise ValueError(
                f"actions must be in [0, {self.n_actions}) and observations in "
                f"[0, {self.n_observations})"
            )
        n = 0
        for at, ot in zip(a.tolist(), o.tolist(), strict=True):
            n = n * self.n_actions * self.n_observations + at * self.n_observations + ot
        return n

    def action_probabilities(self, actions, observations) -> np.ndarray:
        """``pi(. | h)`` ``(A,)`` after the history ``h`` (``len(h) < horizon``)."""
        h = np.asarray(actions).shape[0] if np.ndim(actions) == 1 else -1
        if not 0 <= h < self.horizon:
            raise ValueError(
                f"the history must have between 0 and {self.horizon - 1} steps; got {h}"
            )
        return self.probs[h][self.node_index(actions, observations)].copy()

    def action(self, actions, observations) -> int:
        """The most likely action after the history (the action of a deterministic policy)."""
        return int(np.argmax(self.action_probabilities(actions, observations)))

    def trajectory_weights(self) -> np.ndarray:
        """``pi(tau) = prod_t pi(a_t | h_t)`` on the ``(A*O)^H`` leaves."""
        w = np.ones(1)
        for p in self.probs:
            w = _child_weights(w, p, self.n_observations)
        return w


# ------------------------------------------------------------------ planning
def _check_weights(weights, A: int, O: int, H: int, max_leaves, fn: str) -> np.ndarray:
    leaves = _check_leaves(A, O, H, max_leaves, fn)
    w = as_real_array(weights, "weights")
    if w.shape != (leaves,):
        raise ValueError(
            f"{fn}: weights must have shape ((A*O)^H,) = ({leaves},) for A={A}, O={O}, "
            f"H={H}; got {w.shape}"
        )
    if not np.isfinite(w).all():
        raise ValueError(f"{fn}: weights must be finite")
    with np.errstate(over="ignore"):
        total = np.abs(w).sum()
    if not np.isfinite(total):
        raise ValueError(f"{fn}: the sum of |weights| overflows; rescale the weights")
    return np.ascontiguousarray(w, dtype=np.float64)


def maximize_over_histories(
    weights, n_actions: int, n_observations: int, horizon: int,
    *, tie_tol: float = 1e-12, max_leaves=DEFAULT_MAX_LEAVES,
) -> tuple[float, HistoryPolicy]:
    """``max_pi sum_tau pi(tau) weights[tau]`` over deterministic history-dependent policies.

    Backward recursion ``V(h) = max_a sum_o V(h a o)`` from ``V = weights`` at the
    leaves; the greedy action is the lowest one within ``tie_tol`` times the sum of
    the node's ``|V(h a o)|`` of the maximum (exact ties and round-off ties go to the
    lowest action; the tolerance scales with the weights, so ``c * weights`` gives
    the same policy for every ``c > 0``).
    Returns ``(value, policy)`` with ``value = sum_tau policy(tau) weights[tau]``.
    """
    fn = "maximize_over_histories"
    A = check_int(n_actions, "n_actions", lo=1)
    O = check_int(n_observations, "n_observations", lo=1)
    H = check_int(horizon, "horizon", lo=1)
    V = _check_weights(weights, A, O, H, max_leaves, fn)
    tie = float(tie_tol)
    if not np.isfinite(tie) or tie < 0:
        raise ValueError(f"tie_tol must be a finite number >= 0; got {tie_tol!r}")
    actions = [None] * H
    for h in range(H - 1, -1, -1):
        act, V = _backup(V, (A * O) ** h, A, O, tie)
        actions[h] = act
    return float(V[0]), HistoryPolicy.from_actions(actions, A, O)


def _policy_horizon(model, policy, horizon, fn: str) -> int:
    if not isinstance(policy, HistoryPolicy):
        raise TypeError(f"{fn}: policy must be a HistoryPolicy; got {type(policy).__name__}")
    A, O = _sizes(model, fn)
    if (policy.n_actions, policy.n_observations) != (A, O):
        raise ValueError(
            f"{fn}: the policy has A={policy.n_actions}, O={policy.n_observations} but the "
            f"model has A={A}, O={O}"
        )
    H = policy.horizon if horizon is None else check_int(horizon, "horizon", lo=1)
    if H != policy.horizon:
        raise ValueError(f"{fn}: horizon={H} but the policy has horizon {policy.horizon}")
    return H


def history_policy_value(
    model, policy: HistoryPolicy, rewards=None, horizon=None, *, max_leaves=DEFAULT_MAX_LEAVES
) -> float:
    """Exact value of a history-dependent policy.

    Without ``rewards``: the expected return ``E^pi[sum_t R(s_t, a_t)]`` in the POMDP
    ``model`` (its own ``R``), ``= sum_tau pi(tau) W[tau]`` with
    :func:`history_rewards`. With ``rewards``: leaf *weights* ``((A*O)^H,)`` and the
    result ``sum_tau pi(tau) rewards[tau]`` (for a reward ``r(tau)`` of the observable
    trajectory under a POMDP or PSR pass ``history_probabilities(model, H)[H] * r``).
    ``horizon`` defaults to the policy's.
    """
    fn = "history_policy_value"
    H = _policy_horizon(model, policy, horizon, fn)
    A, O = policy.n_actions, policy.n_observations
    if rewards is None:
        W = history_rewards(model, H, max_leaves=max_leaves)
    else:
        W = _check_weights(rewards, A, O, H, max_leaves, fn)
    _check_leaves(A, O, H, max_leaves, fn)
    return float(policy.trajectory_weights() @ W)


def optimal_history_policy(
    pomdp, horizon=None, *, max_leaves=DEFAULT_MAX_LEAVES
) -> tuple[float, HistoryPolicy]:
    """``(V*, pi*)``: the optimal expected return of the POMDP over ``horizon`` steps
    (default ``pomdp.horizon``) and a deterministic history-dependent optimal policy."""
    fn = "optimal_history_policy"
    if not isinstance(pomdp, POMDP):
        raise TypeError(f"{fn}: pomdp must be a POMDP; got {type(pomdp).__name__}")
    H = _horizon(pomdp, horizon, fn)
    W = history_rewards(pomdp, H, max_leaves=max_leaves)
    return maximize_over_histories(W, pomdp.A, pomdp.n_observations, H, max_leaves=max_leaves)


def max_tv_distance(
    model_a, model_b, horizon=None, *, max_leaves=DEFAULT_MAX_LEAVES
) -> tuple[float, HistoryPolicy]:
    """``(max_pi TV(P^pi_a, P^pi_b), argmax policy)`` over history-dependent policies.

    ``TV = 1/2 sum_tau pi(tau) |P_a(tau) - P_b(tau)|`` with the leaf probabilities of
    :func:`history_probabilities`; maximised by :func:`maximize_over_histories`.
    ``horizon`` defaults to ``model_a.horizon`` (then ``model_b.horizon``).
    """
    fn = "max_tv_distance"
    A, O = _sizes(model_a, fn)
    if _sizes(model_b, fn) != (A, O):
        raise ValueError(
            f"{fn}: the models have different action or observation sets: "
            f"A={A}, O={O} vs A={model_b.A}, O={model_b.n_observations}"
        )
    if horizon is None and getattr(model_a, "horizon", None) is None:
        H = _horizon(model_b, None, fn)
    else:
        H = _horizon(model_a, horizon, fn)
    Pa = history_probabilities(model_a, H, max_leaves=max_leaves)[H]
    Pb = history_probabilities(model_b, H, max_leaves=max_leaves)[H]
    return maximize_over_histories(0.5 * np.abs(Pa - Pb), A, O, H, max_leaves=max_leaves)

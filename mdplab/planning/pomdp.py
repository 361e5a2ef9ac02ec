"""POMDP planning and exact policy evaluation.

Planners (re-exported here):

* :func:`pomdp_value_iteration` -- exact finite-horizon alpha-vector value iteration
  with incremental pruning (:mod:`mdplab.planning.pomdp_exact`);
* :func:`pbvi` -- point-based value iteration for discounted POMDPs with a certified
  lower bound and QMDP / FIB / sawtooth upper bounds (:func:`qmdp_bound`,
  :func:`fib_bound`; :mod:`mdplab.planning.pomdp_pointbased`).

Both results convert their policy to a :class:`FiniteStateController`
(``result.controller()``), evaluated exactly below.

Exact evaluation (this module):

* :class:`FiniteStateController` and :func:`evaluate_controller`: a controller with
  nodes ``n``, action rule ``psi(a | n)`` and node transitions ``eta(n' | n, a, o)``
  induces a Markov chain on ``(node, state)``. Its values
  ``V(n, s) = E[sum_t discount^t R(s_t, a_t) | n_0 = n, s_0 = s]`` satisfy

      V(n, s) = sum_a psi(a|n) [ R(s, a) + discount * sum_{s', o, n'} T(s, a, s')
                O(a, s', o) eta(n' | n, a, o) V(n', s') ],

  solved by one sparse linear solve for a discounted objective and by backward
  recursion over ``H`` steps for a finite horizon (``V_H = 0``).
* :func:`evaluate_belief_policy`: any policy of the belief and the stage, evaluated
  exactly on the tree of reachable beliefs (``(|A| |O|)^H`` nodes at most).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from mdplab.kernels.pomdp import belief_step
from mdplab.models._validation import ROW_SUM_TOL, as_real_array, check_horizon
from mdplab.models.pomdp import POMDP
from mdplab.planning.pomdp_exact import (
    POMDPPlanningResult,
    check_beliefs,
    check_discount,
    check_pomdp,
    pomdp_value_iteration,
    prune_alpha_vectors,
)
from mdplab.planning.pomdp_pointbased import (
    PBVIResult,
    QValueBound,
    fib_bound,
    pbvi,
    qmdp_bound,
)

__all__ = [
    "ControllerValue",
    "FiniteStateController",
    "PBVIResult",
    "POMDPPlanningResult",
    "QValueBound",
    "evaluate_belief_policy",
    "evaluate_controller",
    "fib_bound",
    "pbvi",
    "pomdp_value_iteration",
    "prune_alpha_vectors",
    "qmdp_bound",
]


def _check_rows(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(idx)} = {arr[idx]:.6g} is not a probability")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if off.any():
        idx = tuple(int(i) for i in np.argwhere(off)[0])
        raise ValueError(f"{name}{list(idx)} sums to {sums[idx]:.12g}; must sum to 1")


def _int_array(x, name: str) -> np.ndarray | None:
    arr = np.asarray(x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        return None
    return arr.astype(np.int64)


class FiniteStateController:
    """A (possibly stochastic) finite-state controller for a POMDP.

    Parameters
    ----------
    actions : int array (N,) or float array (N, A)
        The action of each node, or ``psi[n, a] = Pr(a | node n)``.
    transitions : int array (N, O), (N, A, O) or float array (N, O, N), (N, A, O, N)
        The next node after observing ``o`` (having played ``a``), or its
        distribution ``eta[n, (a,) o, n']``.
    initial : int or float array (N,)
        The first node, or a distribution over nodes (default node 0).

    The sizes ``A`` and ``O`` are checked against the POMDP when the controller is
    evaluated; an integer action array does not fix ``A``.
    """

    __slots__ = ("_actions", "_probs", "_next", "_eta", "initial", "n_nodes", "n_observations")

    def __init__(self, actions, transitions, initial=0):
        ints = _int_array(actions, "actions")
        if ints is not None:
            if ints.ndim != 1 or ints.size == 0:
                raise ValueError(f"integer actions must have shape (N,); got {ints.shape}")
            if (ints < 0).any():
                n = int(np.argmax(ints < 0))
                raise ValueError(f"actions[{n}] = {ints[n]} is not an action index")
            self._actions, self._probs = ints, None
            N = ints.shape[0]
        else:
            probs = as_real_array(actions, "actions")
            if probs.ndim != 2 or probs.shape[0] == 0:
                raise ValueError(
                    f"actions must be (N,) integers or (N, A) probabilities; got {probs.shape}"
                )
            _check_rows(probs, "actions")
            self._actions, self._probs = None, probs
            N = probs.shape[0]
        nxt = _int_array(transitions, "transitions")
        if nxt is not None:
            if nxt.ndim not in (2, 3) or nxt.shape[0] != N:
                raise ValueError(
                    f"integer transitions must have shape (N, O) or (N, A, O) with N={N}; "
                    f"got {nxt.shape}"
                )
            bad = (nxt < 0) | (nxt >= N)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"transitions{list(idx)} = {nxt[idx]} is not a node in [0, {N})")
            self._next, self._eta = nxt, None
            n_obs = nxt.shape[-1]
        else:
            eta = as_real_array(transitions, "transitions")
            if eta.ndim not in (3, 4) or eta.shape[0] != N or eta.shape[-1] != N:
                raise ValueError(
                    f"stochastic transitions must have shape (N, O, N) or (N, A, O, N) with "
                    f"N={N}; got {eta.shape}"
                )
            _check_rows(eta, "transitions")
            self._next, self._eta = None, eta
            n_obs = eta.shape[-2]
        init_int = _int_array(initial, "initial")
        if init_int is not None and init_int.ndim == 0:
            if not 0 <= int(init_int) < N:
                raise ValueError(f"initial node {int(init_int)} is not in [0, {N})")
            init = np.zeros(N)
            init[int(init_int)] = 1.0
        else:
            init = as_real_array(initial, "initial")
            if init.shape != (N,):
                raise ValueError(f"initial must be a node or a distribution of shape ({N},)")
            _check_rows(init, "initial")
        self.initial = init
        self.n_nodes = N
        self.n_observations = n_obs

    def __repr__(self) -> str:
        kind = "deterministic" if self._probs is None and self._eta is None else "stochastic"
        return f"<FiniteStateController: {self.n_nodes} nodes, {kind}>"

    def dense(self, A: int, n_obs: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(psi (N, A), next (N, A, O) int or None, eta (N, A, O, N) or None)``,
        validated against a POMDP with ``A`` actions and ``n_obs`` observations."""
        N = self.n_nodes
        if n_obs != self.n_observations:
            raise ValueError(
                f"the controller's transitions have O={self.n_observations} observations "
                f"but the POMDP has {n_obs}"
            )
        if self._probs is None:
            if (self._actions >= A).any():
                n = int(np.argmax(self._actions >= A))
                raise ValueError(f"actions[{n}] = {self._actions[n]} is not an action in [0, {A})")
            psi = np.zeros((N, A))
            psi[np.arange(N), self._actions] = 1.0
        else:
            if self._probs.shape[1] != A:
                raise ValueError(
                    f"actions has A={self._probs.shape[1]} columns but the POMDP has {A} actions"
                )
            psi = self._probs
        if self._next is not None:
            nxt = self._next
            if nxt.ndim == 2:
                nxt = np.broadcast_to(nxt[:, None, :], (N, A, n_obs))
            elif nxt.shape[1] != A:
                raise ValueError(f"transitions has A={nxt.shape[1]} but the POMDP has {A} actions")
            return psi, np.ascontiguousarray(nxt), None
        eta = self._eta
        if eta.ndim == 3:
            eta = np.broadcast_to(eta[:, None], (N, A, n_obs, N))
        elif eta.shape[1] != A:
            raise ValueError(f"transitions has A={eta.shape[1]} but the POMDP has {A} actions")
        return psi, None, eta


@dataclass(frozen=True)
class ControllerValue:
    """Exact values of a controller: ``values[n, s]`` from node ``n`` and state ``s``
    (the first step); ``stage_values (H+1, N, S)`` for a finite horizon, else None."""

    values: np.ndarray
    stage_values: np.ndarray | None
    initial: np.ndarray
    b0: np.ndarray
    horizon: int | None
    discount: float
    error_bound: float

    def value(self, belief=None) -> float:
        """``sum_n initial(n) b . V(n)`` with ``b`` defaulting to the model's ``b0``."""
        b, _ = check_beliefs(self.b0 if belief is None else belief, self.values.shape[1])
        return float(self.initial @ self.values @ b[0])

    def best_node_value(self, belief=None) -> float:
        """``max_n b . V(n)``: the value of starting in the best node."""
        b, _ = check_beliefs(self.b0 if belief is None else belief, self.values.shape[1])
        return float(np.max(self.values @ b[0]))


def _objective(pomdp: POMDP, horizon, discount, fn: str):
    H = check_horizon(horizon) if horizon is not None else pomdp.horizon
    if H is not None:
        d = 1.0 if discount is None else check_discount(discount, allow_one=True)
        return H, d
    if discount is None:
        if pomdp.gamma is None:
            raise ValueError(f"{fn}: the model has neither horizon nor gamma; pass horizon=")
        return None, pomdp.gamma
    return None, check_discount(discount, allow_one=False)


def _one_step(pomdp, psi, nxt, eta, V, discount):
    """``r + discount * M V`` for node-state values ``V (N, S)``."""
    T, O, R = pomdp.T, pomdp.O, pomdp.R
    if nxt is not None:
        # X[n, a, s'] = sum_o O[a, s', o] V[next[n, a, o], s']
        X = np.einsum("aso,naos->nas", O, V[nxt])
    else:
        X = np.einsum("naom,ms,aso->nas", eta, V, O)
    Q = R.T[None] + discount * np.einsum("sat,nat->nas", T, X)  # (N, A, S)
    return np.einsum("na,nas->ns", psi, Q)


def _transition_matrix(pomdp, psi, nxt, eta) -> sp.csr_matrix:
    """``M[(n, s), (n', s')] = sum_a psi(a|n) T(s,a,s') sum_o O(a,s',o) eta(n'|n,a,o)``."""
    N = psi.shape[0]
    S = pomdp.S
    if nxt is None:
        dense = np.einsum("na,sat,ato,naom->nsmt", psi, pomdp.T, pomdp.O, eta)
        return sp.csr_matrix(dense.reshape(N * S, N * S))
    w = np.einsum("na,sat,ato->nsato", psi, pomdp.T, pomdp.O)  # (N, S, A, S', O)
    n_i, s_i, a_i, t_i, o_i = np.indices(w.shape, sparse=False).reshape(5, -1)
    rows = n_i * S + s_i
    cols = nxt[n_i, a_i, o_i] * S + t_i
    vals = w.ravel()
    nz = vals != 0
    M = sp.coo_matrix((vals[nz], (rows[nz], cols[nz])), shape=(N * S, N * S))
    return M.tocsr()


def evaluate_controller(
    pomdp: POMDP, controller: FiniteStateController, *, horizon=None, discount=None
) -> ControllerValue:
    """Exact values of a finite-state controller (module docstring).

    The objective is the model's unless overridden: ``horizon`` (discount
    default 1) or, for a discounted model, ``discount`` in ``[0, 1)``.
    Finite horizon: backward recursion, exact. Discounted: sparse LU solve of
    ``(I - discount M) V = r`` with ``error_bound = ||residual||_inf / (1 - discount)``.
    """
    check_pomdp(pomdp, "evaluate_controller")
    if not isinstance(controller, FiniteStateController):
        raise TypeError(
            f"controller must be a FiniteStateController; got {type(controller).__name__}"
        )
    H, d = _objective(pomdp, horizon, discount, "evaluate_controller")
    psi, nxt, eta = controller.dense(pomdp.A, pomdp.n_observations)
    N, S = controller.n_nodes, pomdp.S
    if H is not None:
        stages = np.zeros((H + 1, N, S))
        for h in range(H - 1, -1, -1):
            stages[h] = _one_step(pomdp, psi, nxt, eta, stages[h + 1], d)
        return ControllerValue(stages[0], stages, controller.initial, pomdp.b0, H, d, 0.0)
    r = (psi @ pomdp.R.T).ravel()
    M = _transition_matrix(pomdp, psi, nxt, eta)
    system = (sp.identity(N * S, format="csc") - d * M).tocsc()
    V = spla.spsolve(system, r)
    residual = float(np.max(np.abs(r + d * (M @ V) - V)))
    values = V.reshape(N, S)
    return ControllerValue(
        values, None, controller.initial, pomdp.b0, None, d, residual / (1.0 - d)
    )


def evaluate_belief_policy(
    pomdp: POMDP,
    policy: Callable,
    *,
    horizon: int | None = None,
    discount: float | None = None,
    belief=None,
    max_nodes: int = 1_000_000,
) -> float:
    """Exact finite-horizon value of a belief-based policy.

    ``policy(belief, stage)`` returns an action or a distribution ``(A,)`` over
    actions. The value is the recursion over reachable beliefs

        V_h(b) = sum_a pi(a | b, h) [ b . R[:, a] + discount
                 * sum_{o: Pr(o|b,a) > 0} Pr(o | b, a) V_{h+1}(b'_{a,o}) ],   V_H = 0,

    with ``b'`` from Bayes' rule. ``max_nodes`` bounds the number of belief nodes
    visited (ValueError beyond).
    """
    check_pomdp(pomdp, "evaluate_belief_policy")
    H = check_horizon(horizon) if horizon is not None else pomdp.horizon
    if H is None:
        raise ValueError(
            "evaluate_belief_policy evaluates a finite horizon; the model is discounted: "
            "pass horizon="
        )
    d = 1.0 if discount is None else check_discount(discount, allow_one=True)
    b0, single = check_beliefs(pomdp.b0 if belief is None else belief, pomdp.S)
    if not single:
        raise ValueError(f"belief must be one belief of shape ({pomdp.S},)")
    if not callable(policy):
        raise TypeError("policy must be a callable policy(belief, stage)")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral):
        raise ValueError(f"max_nodes must be a positive integer; got {max_nodes!r}")
    T, O, R = pomdp.T, pomdp.O, pomdp.R
    A, n_obs, S = pomdp.A, pomdp.n_observations, pomdp.S
    visited = 0
    buf = np.empty(S)

    def action_probs(b, h) -> np.ndarray:
        choice = policy(b, h)
        if isinstance(choice, numbers.Integral) and not isinstance(choice, bool):
            if not 0 <= choice < A:
                raise ValueError(f"policy returned action {choice} at stage {h}; not in [0, {A})")
            p = np.zeros(A)
            p[int(choice)] = 1.0
            return p
        p = np.asarray(choice, dtype=np.float64)
        if p.shape != (A,) or (p < 0).any() or abs(p.sum() - 1.0) > ROW_SUM_TOL:
            raise ValueError(
                f"policy must return an action or a distribution of shape ({A},); "
                f"got {choice!r} at stage {h}"
            )
        return p

    def value(b, h) -> float:
        nonlocal visited
        visited += 1
        if visited > max_nodes:
            raise ValueError(f"more than max_nodes={max_nodes} reachable beliefs; shorten horizon")
        if h == H:
            return 0.0
        probs = action_probs(b, h)
        total = 0.0
        for a in np.flatnonzero(probs):
            q = float(b @ R[:, a])
            if h + 1 < H:
                for o in range(n_obs):
                    p = belief_step(T, O, b, int(a), o, buf)
                    if p > 0.0:
                        q += d * p * value(buf / p, h + 1)
            total += probs[a] * q
        return total

    return value(b0[0], 0)

"""Partially observable MDPs: hidden states, noisy observations, exact belief algebra.

A POMDP is ``(S, A, O, T, Z, R, b0)`` with a horizon ``H`` (episodic) or a
discount ``gamma`` in [0, 1):

* ``T[s, a, s'] = Pr(s_{t+1} = s' | s_t = s, a_t = a)``;
* ``O[a, s', o] = Pr(o_t = o | a_t = a, s_{t+1} = s')`` -- the observation is
  emitted by the state **reached after** the action and may depend on the action
  (Tiger's convention). An action-independent emission matrix ``(S, O)`` is
  accepted and broadcast over actions;
* ``R[s, a]``: the mean reward of taking ``a`` in hidden state ``s`` (a reward
  ``R[s, a, s']`` that depends on the successor is accepted and averaged over
  ``T``);
* ``b0[s]``: the distribution of the first hidden state (the prior belief).

Timing of one step ``t = 0, 1, ...``: the agent holds belief ``b_t`` over
``s_t``, picks ``a_t``, collects ``R[s_t, a_t]``, the state moves to
``s_{t+1} ~ T[s_t, a_t, :]``, and the agent observes ``o_t ~ O[a_t, s_{t+1}, :]``.
There is no observation before the first action. A history of length ``L`` is
``(a_0, o_0, ..., a_{L-1}, o_{L-1})``; an episode of horizon ``H`` has ``H``
actions.

Belief algebra. With the ``S x S`` *observable operator*
``A(o, a) = diag(O[a, :, o]) T[:, a, :]^T`` (column convention: it maps a belief
column to an unnormalised next belief),

* the belief update is ``b' = A(o, a) b / (1^T A(o, a) b)``, and
  ``Pr(o | b, a) = 1^T A(o, a) b``;
* the probability of observing ``o_{0:L}`` while playing ``a_{0:L}`` (actions
  fixed in advance, or chosen by any policy from the past observations: the
  policy factor is then separate) is the forward-algorithm product
  ``Pr(o_{0:L} | do a_{0:L}) = 1^T A(o_{L-1}, a_{L-1}) ... A(o_0, a_0) b0``.

Long histories underflow, so :meth:`POMDP.log_history_probability` normalises
after every step and sums the logs of the normalisers (scaled forward algorithm).

The model is validated once at construction and is immutable; its arrays are
read-only attributes ``T``, ``O``, ``R``, ``b0``.

Exact solvers: :mod:`mdplab.planning.pomdp`.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit, prange

from mdplab.kernels.pomdp import belief_step
from mdplab.kernels.rng import SeedLike, new_state, stream_seeds
from mdplab.kernels.sampling import categorical_dense
from mdplab.models._validation import (
    as_real_array,
    check_distribution,
    check_finite,
    check_gamma,
    check_horizon,
    check_index,
    check_probability_rows,
    freeze,
)
from mdplab.models.tabular import TabularMDP

__all__ = ["POMDP", "POMDPTrajectories"]


# ------------------------------------------------------------------ kernels
@njit(cache=True)
def log_probability_kernel(T, O, b0, actions, observations):
    """``log Pr(o_{0:L} | do a_{0:L})`` by the scaled forward algorithm (-inf if impossible)."""
    S = b0.shape[0]
    b = b0.copy()
    nxt = np.empty(S)
    logp = 0.0
    for t in range(actions.shape[0]):
        c = belief_step(T, O, b, actions[t], observations[t], nxt)
        if c <= 0.0:
            return -np.inf
        logp += np.log(c)
        for s in range(S):
            b[s] = nxt[s] / c
    return logp


@njit(parallel=True, cache=True)
def batch_log_probability(T, O, b0, actions, observations, lengths):
    """Row-wise :func:`log_probability_kernel` over ``(N, L)`` arrays with per-row lengths."""
    n = actions.shape[0]
    out = np.empty(n)
    for i in prange(n):
        L = lengths[i]
        out[i] = log_probability_kernel(T, O, b0, actions[i, :L], observations[i, :L])
    return out


@njit(parallel=True, cache=True)
def sample_kernel(T, O, R, b0, horizon, fixed_actions, action_probs, seeds):
    """Episodes under open-loop actions: ``fixed_actions[i, t]`` if >= 0, else a draw
    from ``action_probs`` (uniform over actions by default)."""
    n = seeds.shape[0]
    states = np.empty((n, horizon + 1), dtype=np.int64)
    actions = np.empty((n, horizon), dtype=np.int64)
    observations = np.empty((n, horizon), dtype=np.int64)
    rewards = np.empty((n, horizon))
    for i in prange(n):
        rng = new_state(seeds[i])
        s = categorical_dense(b0, rng)
        states[i, 0] = s
        for t in range(horizon):
            a = fixed_actions[i, t]
            if a < 0:
                a = categorical_dense(action_probs, rng)
            rewards[i, t] = R[s, a]
            s = categorical_dense(T[s, a], rng)
            o = categorical_dense(O[a, s], rng)
            actions[i, t] = a
            observations[i, t] = o
            states[i, t + 1] = s
    return states, actions, observations, rewards


# ------------------------------------------------------------------ model
class POMDPTrajectories:
    """Sampled episodes: ``states (N, H+1)`` (hidden), ``actions``, ``observations``,
    ``rewards`` (each ``(N, H)``); ``observations[:, t]`` is emitted by ``states[:, t+1]``."""

    __slots__ = ("actions", "observations", "rewards", "states")

    def __init__(self, states, actions, observations, rewards):
        self.states = states
        self.actions = actions
        self.observations = observations
        self.rewards = rewards

    def __len__(self) -> int:
        return self.actions.shape[0]

    def returns(self, gamma: float | None = None) -> np.ndarray:
        """Per-episode (discounted when ``gamma`` is given) sum of rewards."""
        if gamma is None:
            return self.rewards.sum(axis=1)
        return self.rewards @ (gamma ** np.arange(self.rewards.shape[1]))


class POMDP:
    """A finite POMDP with known model (see the module docstring for conventions).

    Parameters
    ----------
    T : array (S, A, S)
        ``T[s, a, s']`` transition probabilities.
    O : array (A, S, O) or (S, O)
        ``O[a, s', o]`` probability of observing ``o`` after ``a`` led to ``s'``.
    R : array (S, A) or (S, A, S)
        Mean rewards (a successor-dependent ``R[s, a, s']`` is averaged over ``T``).
    b0 : array (S,), optional
        Initial belief; uniform when omitted.
    horizon : int, optional
        Number of actions per episode (finite-horizon objective).
    gamma : float, optional
        Discount in [0, 1) (infinite-horizon objective). At most one of
        ``horizon`` / ``gamma``; a model with neither can still be sampled with an
        explicit horizon and used for history probabilities.

    Attributes
    ----------
    T, O, R, b0 : read-only float64 arrays with the shapes above (``O`` always
        ``(A, S, O)``).
    S, A, n_observations : sizes.
    horizon, gamma, name.
    observations_depend_on_action : bool
        False when ``O`` was given as ``(S, O)``.
    """

    __slots__ = (
        "A",
        "O",
        "R",
        "S",
        "T",
        "b0",
        "gamma",
        "horizon",
        "n_observations",
        "name",
        "observations_depend_on_action",
    )

    def __init__(self, T, O, R, b0=None, *, horizon=None, gamma=None, name: str | None = None):
        horizon = check_horizon(horizon)
        gamma = check_gamma(gamma)
        if horizon is not None and gamma is not None:
            raise ValueError("give either horizon (finite horizon) or gamma (discounted), not both")
        T = as_real_array(T, "T")
        if T.ndim != 3 or T.shape[0] != T.shape[2] or T.shape[0] == 0 or T.shape[1] == 0:
            raise ValueError(f"T must have shape (S, A, S) with S, A >= 1; got {T.shape}")
        S, A = T.shape[0], T.shape[1]
        check_probability_rows(T, "T")

        O = as_real_array(O, "O")
        if O.ndim == 2:
            if O.shape[0] != S:
                raise ValueError(f"O given as (S, O) must have S={S} rows; got shape {O.shape}")
            check_probability_rows(O, "O")
            O = np.ascontiguousarray(np.broadcast_to(O, (A, *O.shape)))
            depends = False
        elif O.ndim == 3:
            if O.shape[:2] != (A, S):
                raise ValueError(
                    f"O must have shape (A, S, O) = ({A}, {S}, n_obs) to match T; got {O.shape}"
                )
            check_probability_rows(O, "O")
            depends = True
        else:
            raise ValueError(f"O must have shape (S, O) or (A, S, O); got {O.shape}")
        if O.shape[2] == 0:
            raise ValueError("O must have at least one observation")

        R = as_real_array(R, "R")
        if R.shape == (S, A, S):
            check_finite(R, "R", "rewards")
            R = np.einsum("ijk,ijk->ij", T, R)
        elif R.shape != (S, A):
            raise ValueError(f"R must have shape (S, A) = ({S}, {A}) or (S, A, S); got {R.shape}")
        check_finite(R, "R", "rewards")

        if b0 is None:
            b0 = np.full(S, 1.0 / S)
        else:
            b0 = check_distribution(b0, "b0")
            if b0.shape != (S,):
                raise ValueError(f"b0 must have shape ({S},); got {b0.shape}")
        freeze(T, O, R, b0)
        setter = object.__setattr__
        for key, value in dict(
            T=T,
            O=O,
            R=R,
            b0=b0,
            S=S,
            A=A,
            n_observations=O.shape[2],
            horizon=horizon,
            gamma=gamma,
            observations_depend_on_action=depends,
            name=name or f"POMDP(S={S}, A={A}, O={O.shape[2]})",
        ).items():
            setter(self, key, value)

    def __setattr__(self, key, value):
        raise AttributeError(f"POMDP is immutable; use replace(...) instead of setting {key}")

    def replace(self, **changes) -> POMDP:
        """A copy with some of ``T, O, R, b0, horizon, gamma, name`` replaced (re-validated)."""
        args = dict(
            T=self.T,
            O=self.O,
            R=self.R,
            b0=self.b0,
            horizon=self.horizon,
            gamma=self.gamma,
            name=self.name,
        )
        unknown = set(changes) - set(args)
        if unknown:
            raise ValueError(f"unknown POMDP fields: {sorted(unknown)}")
        args.update(changes)
        if "horizon" in changes and changes["horizon"] is not None and "gamma" not in changes:
            args["gamma"] = None
        if "gamma" in changes and changes["gamma"] is not None and "horizon" not in changes:
            args["horizon"] = None
        return POMDP(**args)

    def __repr__(self) -> str:
        objective = f"horizon={self.horizon}" if self.horizon else f"gamma={self.gamma}"
        return f"<{self.name}: {objective}>"

    # ------------------------------------------------------------ derived models
    def underlying_mdp(self) -> TabularMDP:
        """The fully observed MDP on the hidden states (same T, R, b0 and objective).

        Its optimal value is the QMDP upper bound on the POMDP's optimal value.
        """
        return TabularMDP(self.T, self.R, horizon=self.horizon, gamma=self.gamma, init=self.b0)

    def observable_operator(self, a: int, o: int) -> np.ndarray:
        """``A(o, a) = diag(O[a, :, o]) T[:, a, :]^T`` (S x S, column convention)."""
        self._check_action_observation(a, o)
        return self.O[a, :, o][:, None] * self.T[:, a, :].T

    def observable_operators(self) -> np.ndarray:
        """All operators stacked as ``(A, O, S, S)``: ``[a, o] = A(o, a)``."""
        return self.O.transpose(0, 2, 1)[:, :, :, None] * self.T.transpose(1, 2, 0)[:, None]

    # ------------------------------------------------------------ belief algebra
    def belief_update(self, belief, a: int, o: int) -> tuple[np.ndarray, float]:
        """``(b', Pr(o | b, a))``: Bayes' rule after playing ``a`` and observing ``o``.

        Raises ValueError when ``o`` has probability 0 under ``(b, a)``.
        """
        b = check_distribution(belief, "belief")
        if b.shape != (self.S,):
            raise ValueError(f"belief must have shape ({self.S},); got {b.shape}")
        self._check_action_observation(a, o)
        out = np.empty(self.S)
        p = belief_step(self.T, self.O, b, int(a), int(o), out)
        if p <= 0.0:
            raise ValueError(f"observation {o} has probability 0 after action {a} from belief {b}")
        return out / p, float(p)

    def history_probability(self, actions, observations) -> float:
        """``Pr(o_0 .. o_{L-1} observed | a_0 .. a_{L-1} played)``; ``o_t`` is emitted by
        the state reached after ``a_t``. The empty history has probability 1."""
        return float(np.exp(self.log_history_probability(actions, observations)))

    def log_history_probability(self, actions, observations) -> float:
        """Natural log of :meth:`history_probability`, stable for long histories."""
        a, o = self._check_history(actions, observations)
        return float(log_probability_kernel(self.T, self.O, self.b0, a, o))

    def log_likelihood(self, actions, observations, lengths=None) -> np.ndarray:
        """Per-trajectory ``log Pr(o | do a)`` of a batch of ``(N, L)`` histories.

        ``lengths[i]`` (default ``L``) is the number of valid steps of row ``i``.
        The log-likelihood of the batch is the sum of the result (the policy's own
        factor does not depend on the model and is left out).
        """
        a, o, lengths = check_history_batch(
            actions, observations, lengths, self.A, self.n_observations
        )
        return batch_log_probability(self.T, self.O, self.b0, a, o, lengths)

    # ------------------------------------------------------------ revealing
    def revealing_constants(self) -> np.ndarray:
        """Per action ``a``: the smallest singular value ``sigma_S`` of the emission
        matrix ``O[a]^T`` (O x S). 0 when fewer observations than states."""
        out = np.empty(self.A)
        for a in range(self.A):
            sv = np.linalg.svd(self.O[a].T, compute_uv=False)
            out[a] = sv[self.S - 1] if sv.size >= self.S else 0.0
        return out

    def revealing_constant(self) -> float:
        """The 1-step revealing constant ``alpha = max_a sigma_S(O[a]^T)``.

        With action-independent emissions every action gives the same value (the
        usual ``sigma_min`` of the emission matrix); with action-dependent ones the
        best revealing action counts (Tiger: 0.7 under "listen", 0 when opening).
        """
        return float(self.revealing_constants().max())

    # ------------------------------------------------------------ sampling
    def sample(
        self,
        n_episodes: int,
        *,
        horizon: int | None = None,
        actions=None,
        action_probs=None,
        seed: SeedLike = None,
    ) -> POMDPTrajectories:
        """Sample episodes under an open-loop action choice.

        ``actions``: a fixed sequence ``(H,)`` for every episode, or ``(N, H)``
        per episode; entries ``-1`` (and everything when ``actions`` is None) are
        drawn i.i.d. from ``action_probs`` (default uniform). Episode ``i`` uses
        its own random stream, so results do not depend on the thread count.
        """
        H = self.horizon if horizon is None else check_horizon(horizon)
        if H is None:
            raise ValueError("sample needs a horizon: the model is discounted; pass horizon=")
        fixed, probs = open_loop_actions(n_episodes, H, self.A, actions, action_probs)
        n = fixed.shape[0]
        seeds = stream_seeds(seed, n)
        return POMDPTrajectories(
            *sample_kernel(self.T, self.O, self.R, self.b0, H, fixed, probs, seeds)
        )

    # ------------------------------------------------------------ checks
    def _check_action_observation(self, a, o) -> None:
        check_index(a, "a (action)", self.A)
        check_index(o, "o (observation)", self.n_observations)

    def _check_history(self, actions, observations) -> tuple[np.ndarray, np.ndarray]:
        return check_history(actions, observations, self.A, self.n_observations)


def open_loop_actions(n_episodes, horizon: int, n_actions: int, actions, action_probs):
    """Validated ``(fixed (N, H) int64, probs (A,))`` for an open-loop sampler.

    ``actions`` is ``(H,)`` (every episode) or ``(N, H)``; entries ``-1``, and all
    of them when ``actions`` is None, are drawn from ``action_probs`` (default
    uniform) inside the kernel.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, numbers.Integral):
        raise ValueError(f"n_episodes must be an integer >= 1; got {n_episodes!r}")
    n, H = int(n_episodes), horizon
    if n < 1:
        raise ValueError(f"n_episodes must be >= 1; got {n_episodes}")
    fixed = np.full((n, H), -1, dtype=np.int64)
    if actions is not None:
        arr = np.asarray(actions)
        if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"actions must be integers; got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if arr.shape == (H,):
            arr = np.broadcast_to(arr, (n, H))
        if arr.shape != (n, H):
            raise ValueError(f"actions must have shape ({H},) or ({n}, {H}); got {arr.shape}")
        if ((arr < -1) | (arr >= n_actions)).any():
            raise ValueError(f"actions must be in [0, {n_actions}) (or -1 for a random draw)")
        fixed[:] = arr
    if action_probs is None:
        return fixed, np.full(n_actions, 1.0 / n_actions)
    probs = check_distribution(action_probs, "action_probs")
    if probs.shape != (n_actions,):
        raise ValueError(f"action_probs must have shape ({n_actions},); got {probs.shape}")
    return fixed, probs


def check_history(actions, observations, n_actions: int, n_obs: int, ndim: int = 1):
    """``(actions, observations)`` as contiguous int64 arrays of equal ``ndim``-d shape,
    with every action in ``[0, n_actions)`` and observation in ``[0, n_obs)``."""
    a = np.asarray(actions)
    o = np.asarray(observations)
    if a.shape != o.shape:
        raise ValueError(
            f"actions and observations must have equal length; got {a.shape} and {o.shape}"
        )
    if a.ndim != ndim:
        raise ValueError(
            f"actions and observations must be {ndim}-d integer sequences; got shape {a.shape}"
        )
    for arr, name, upper in ((a, "actions", n_actions), (o, "observations", n_obs)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be integers; got dtype {arr.dtype}")
        bad = (arr < 0) | (arr >= upper)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name}{list(idx)} = {arr[idx]} is not in [0, {upper})")
    return np.ascontiguousarray(a, dtype=np.int64), np.ascontiguousarray(o, dtype=np.int64)


def check_history_batch(actions, observations, lengths, n_actions: int, n_obs: int):
    """A batch of ``(N, L)`` histories and per-row ``lengths`` (default ``L``), validated."""
    a = np.asarray(actions)
    o = np.asarray(observations)
    if a.ndim != 2 or a.shape != o.shape:
        raise ValueError(
            f"actions and observations must be (N, L) arrays of equal shape; "
            f"got {a.shape} and {o.shape}"
        )
    a, o = check_history(a, o, n_actions, n_obs, ndim=2)
    N, L = a.shape
    if lengths is None:
        return a, o, np.full(N, L, dtype=np.int64)
    lengths = np.asarray(lengths)
    if (
        lengths.shape != (N,)
        or not np.issubdtype(lengths.dtype, np.integer)
        or (lengths < 0).any()
        or (lengths > L).any()
    ):
        raise ValueError(f"lengths must be {N} integers in [0, {L}]")
    return a, o, lengths.astype(np.int64)

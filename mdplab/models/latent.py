"""Latent MDPs: M tabular MDPs mixed by weights, the context revealed at episode end.

A latent MDP (LMDP; Kwon et al. 2021, "context in hindsight" as in Zhou, Wang &
Du 2023, [ZWD23] in ``shared/papers/cvar_psr_horizonfree.md`` section 3.4) is a
collection of ``M`` finite-horizon MDPs ``(P_m, R_m, nu_m)``, ``m = 0..M-1``,
sharing the states ``S``, actions ``A`` and horizon ``H``, plus mixing weights
``w`` (non-negative, summing to 1):

* ``P[m, s, a, s']`` (or stage-dependent ``P[m, h, s, a, s']``) is context
  ``m``'s transition kernel;
* ``R[m, s, a]`` (or ``R[m, h, s, a]``) its reward, a deterministic function of
  ``(m, h, s, a)`` as in [ZWD23];
* ``init[m, s] = nu_m(s)`` its initial distribution.

Each episode draws ``m ~ w`` and runs MDP ``m`` for ``H`` steps; ``m`` is hidden
while the agent acts and revealed when the episode ends (this matters to
learners, which update per-context statistics; planning ignores it). The value
of a policy is ``V(pi) = sum_m w_m V_m^pi`` with ``V_m^pi`` its value in MDP
``m`` started from ``nu_m``.

Information and beliefs. During an episode the agent observes the states and
its actions and, when ``observe_rewards=True`` (default), the rewards too: the
rewards are deterministic functions of ``(m, h, s, a)``, so an observed reward
only tells which contexts are consistent with it (two rewards are "equal" when
they differ by at most :data:`REWARD_TOL`). With ``observe_rewards=False`` the
agent conditions on states and actions only (rewards still count toward the
return). After the observable history ``tau_h`` the posterior over contexts is
the normalised likelihood

``b_h(m) ∝ w_m nu_m(s_0) prod_{t<h} P_m(s_{t+1} | s_t, a_t) [R_m(t, s_t, a_t) = r_t]``

(the bracket only when rewards are observed), and ``(h, s_h, b_h)`` is a
sufficient statistic: the optimal history-dependent value solves

``W_h(s, b) = max_a [ sum_m b_m R_m(h, s, a) + sum_{s', k} Pr_b(s', k | s, a) W_{h+1}(s', b') ]``

with ``k`` the reward class observed and ``b'`` the updated belief, ``W_H = 0``.

This module holds the model (validation, the per-context TabularMDPs, the
seeded sampler) and :class:`BeliefPolicy`, the history-dependent policy type the
sampler runs. Exact solvers: :mod:`mdplab.planning.latent` (Markov-policy
values, the best Markov policy, the belief DP that builds a BeliefPolicy, the
oracle value, return variances, ``Var*``); ``import mdplab`` also attaches them
as methods (``lmdp.best_markov_policy()``, ``lmdp.optimal_value()``, ...).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from mdplab.kernels.rng import SeedLike, seed_state, stream_seeds
from mdplab.kernels.sampling import categorical_dense
from mdplab.models._validation import (
    ROW_SUM_TOL,
    as_real_array,
    check_finite,
    check_horizon,
    check_index,
)
from mdplab.models.tabular import TabularMDP, normalize_policy

__all__ = [
    "BELIEF_KEY_GRID",
    "REWARD_TOL",
    "BeliefPolicy",
    "LatentEpisodes",
    "LatentMDP",
]

REWARD_TOL = 1e-12
"""Two context rewards ``R_m(h, s, a)``, ``R_k(h, s, a)`` within this distance are
indistinguishable to an agent observing rewards."""

BELIEF_KEY_GRID = 1e-12
"""Beliefs whose normalised entries agree on the grid ``BELIEF_KEY_GRID * Z`` (and
with the same support and state) share one node of the belief DAG. The value is
1-Lipschitz in the belief (in l1, for returns in [0, 1]), so merging changes the
optimal value by at most ``H * M * BELIEF_KEY_GRID * max return``."""


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# Placeholders for the unused arguments of the sampling kernel (read-only, like the
# model's arrays, so that every call has the same numba signature).
_DUMMY_DET = _frozen(np.zeros(1, dtype=np.int64))
_DUMMY_STO = _frozen(np.ones((1, 1)))
_DUMMY_CHILD = _frozen(np.zeros((1, 1, 1, 1), dtype=np.int64))
_DUMMY_ROOT = _frozen(np.zeros(1, dtype=np.int64))
_DUMMY_SIGNAL = _frozen(np.zeros((1, 1, 1, 1), dtype=np.int64))


# ====================================================================== kernels
@njit(parallel=True, cache=True)
def _rollout(
    P, R, init, weights, act_det, act_sto, stochastic, markov, child, root, signal, H, seeds
):
    """Episodes of a policy given as a node graph; episode ``i`` uses stream ``seeds[i]``.

    The agent starts at node ``root[s_0]``, plays ``act_det[node]`` (or draws from
    ``act_sto[node]`` when ``stochastic``) and moves to ``child[node, a, s', k]``,
    ``k = signal[m, h, s, a]`` the reward class it observes. A Markov policy
    (``markov=True``) uses node ``h * S + s`` and needs no child table. Draws, in
    order: ``m ~ w`` (skipped when ``M = 1``), ``s_0 ~ nu_m``, then per step the
    action (stochastic policies only) and ``s_{t+1} ~ P_m``: with ``M = 1`` this is
    the draw order of :func:`mdplab.sampling.rollout`.
    """
    n = seeds.shape[0]
    M = P.shape[0]
    nP = P.shape[1]
    S = P.shape[2]
    nR = R.shape[1]
    contexts = np.empty(n, dtype=np.int64)
    states = np.empty((n, H + 1), dtype=np.int64)
    actions = np.empty((n, H), dtype=np.int64)
    rewards = np.empty((n, H), dtype=np.float64)
    for i in prange(n):
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[i], st)
        m = 0
        if M > 1:
            m = categorical_dense(weights, st)
        contexts[i] = m
        s = categorical_dense(init[m], st)
        states[i, 0] = s
        node = s if markov else root[s]
        for t in range(H):
            tr = t if nR > 1 else 0
            if stochastic:
                a = categorical_dense(act_sto[node], st)
            else:
                a = act_det[node]
            rewards[i, t] = R[m, tr, s, a]
            s2 = categorical_dense(P[m, t if nP > 1 else 0, s, a], st)
            if t + 1 < H:
                if markov:
                    node = (t + 1) * S + s2
                else:
                    node = child[node, a, s2, signal[m, tr, s, a]]
            actions[i, t] = a
            states[i, t + 1] = s2
            s = s2
    return contexts, states, actions, rewards


# ================================================================ result types
@dataclass(frozen=True, eq=False)
class LatentEpisodes:
    """Sampled episodes: row ``i`` is episode ``i``.

    ``contexts[i]`` is the context drawn (revealed at the end of the episode),
    ``states[i, t]`` is ``s_t`` (``t = 0..H``), ``actions[i, t]`` and
    ``rewards[i, t]`` belong to step ``t < H``; ``returns[i] = sum_t rewards[i, t]``.
    """

    contexts: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    returns: np.ndarray

    @property
    def n_episodes(self) -> int:
        return int(self.actions.shape[0])

    def mean_return(self) -> float:
        return float(self.returns.mean())

    def stderr(self) -> float:
        """Standard error of :meth:`mean_return`."""
        n = self.n_episodes
        return float(self.returns.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


# ================================================================ belief policy
@dataclass(frozen=True, eq=False, repr=False)
class BeliefPolicy:
    """The belief-optimal history-dependent policy, as a DAG of reachable beliefs.

    Node ``i`` is a triple ``(stage[i], state[i], belief[i])``: the agent is at
    ``state[i]`` at stage ``stage[i]`` with normalised posterior ``belief[i]``
    over contexts. ``action[i]`` is the optimal action there, ``q_values[i, a]``
    the belief-weighted optimal action values, ``value[i] = max_a q_values[i, a]``
    and ``alpha[i, m]`` the value of continuing with this policy in context ``m``
    (alpha vector, ``value[i] = belief[i] . alpha[i]``; ``alpha[i, m]`` is only
    meaningful where ``belief[i, m] > 0``).

    Numba-friendly representation: ``root[s0]`` is the node after observing
    ``s_0`` (-1 if no context starts there); from node ``i``, after action ``a``,
    next state ``s'`` and reward class ``k``, the next node is ``child[i, a, s', k]``
    (-1 when that observation has probability 0; stage ``H-1`` nodes have no
    children); the class of context ``m``'s reward is ``signal[m, h, s, a]``
    (``h`` indexes the reward stages, 0 for stationary rewards), the smallest
    context index with the same reward (all 0 when rewards are not observed).

    ``optimal_value`` is ``sum_{s0} Pr(s_0) value[root[s0]]``.

    Built by :func:`mdplab.planning.latent_solve_belief` (``lmdp.solve_belief()``);
    it lives here, beside the model, because :meth:`LatentMDP.sample` runs it.
    """

    lmdp: LatentMDP
    observe_rewards: bool
    stage: np.ndarray
    state: np.ndarray
    belief: np.ndarray
    action: np.ndarray
    q_values: np.ndarray
    value: np.ndarray
    alpha: np.ndarray
    child: np.ndarray
    root: np.ndarray
    signal: np.ndarray
    optimal_value: float
    _mass: np.ndarray = field(repr=False)
    _offsets: np.ndarray = field(repr=False)
    _lookup: dict = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return int(self.state.shape[0])

    def __repr__(self) -> str:
        return (
            f"BeliefPolicy({self.lmdp!r}, n_nodes={self.n_nodes}, "
            f"observe_rewards={self.observe_rewards}, optimal_value={self.optimal_value:.6g})"
        )

    def level(self, h: int) -> slice:
        """Node indices of stage ``h`` (a slice)."""
        return slice(int(self._offsets[h]), int(self._offsets[h + 1]))

    def act(self, h: int, s: int, belief) -> int:
        """Optimal action at stage ``h``, state ``s`` under a reachable ``belief``.

        ``belief`` (any positive multiple of a posterior, shape ``(M,)``) must be
        one the planner reached from the start, i.e. the posterior of some
        history; otherwise a ValueError is raised.
        """
        M = self.lmdp.M
        q = np.asarray(belief, dtype=np.float64)
        if q.shape != (M,) or not np.isfinite(q).all() or (q < 0).any() or q.sum() <= 0:
            raise ValueError(f"belief must be a non-negative vector of shape ({M},) with mass")
        q = q / q.sum()
        if not self._lookup:
            keys = _belief_keys(self.state, self.belief)
            for i in range(self.n_nodes):
                self._lookup[(int(self.stage[i]), *keys[i].tolist())] = i
        key = (int(h), *_belief_keys(np.array([s]), q[None])[0].tolist())
        node = self._lookup.get(key)
        if node is None:
            raise ValueError(
                f"(h={h}, s={s}, belief={np.round(q, 6).tolist()}) is not a belief the planner "
                "reached from the start; use node_after(history) for histories"
            )
        return int(self.action[node])

    def __call__(self, h: int, s: int, belief) -> int:
        return self.act(h, s, belief)

    def node_after(self, states, actions, rewards=None) -> int:
        """The node reached after the history ``s_0, a_0, (r_0), s_1, ..., s_t``.

        ``states`` has ``t+1`` entries and ``actions`` ``t`` (``t < H``); rewards
        are required exactly when the policy observes them. Any actions may be
        taken (the DAG covers all reachable histories, not only the optimal
        policy's). Raises ValueError for histories of probability 0.
        """
        lm = self.lmdp
        states = [int(x) for x in np.asarray(states, dtype=np.int64).ravel()]
        actions = [int(x) for x in np.asarray(actions, dtype=np.int64).ravel()]
        if len(actions) != len(states) - 1 or not 1 <= len(states) <= lm.horizon:
            raise ValueError(
                f"need t+1 states and t actions with t < H = {lm.horizon}; "
                f"got {len(states)} states and {len(actions)} actions"
            )
        if self.observe_rewards:
            if rewards is None or len(np.atleast_1d(rewards)) != len(actions):
                raise ValueError("this policy observes rewards: pass one reward per action")
            rewards = np.atleast_1d(np.asarray(rewards, dtype=np.float64))
        node = int(self.root[states[0]]) if 0 <= states[0] < lm.S else -1
        Rst = lm._Rst
        for t, a in enumerate(actions):
            if node < 0:
                break
            s, s2 = states[t], states[t + 1]
            if not (0 <= a < lm.A and 0 <= s2 < lm.S):
                raise ValueError(f"action {a} or state {s2} at step {t} is out of range")
            k = 0
            if self.observe_rewards:
                rt = t if Rst.shape[1] > 1 else 0
                close = np.abs(Rst[:, rt, s, a] - rewards[t]) <= REWARD_TOL
                if not close.any():
                    node = -1
                    break
                k = int(np.argmax(close))
            node = int(self.child[node, a, s2, k])
        if node < 0:
            raise ValueError("this history has probability 0 under every context")
        return node

    def action_after(self, states, actions, rewards=None) -> int:
        """The optimal action after a history (see :meth:`node_after`)."""
        return int(self.action[self.node_after(states, actions, rewards)])

    def sample(self, n_episodes: int, seed: SeedLike = None) -> LatentEpisodes:
        """``lmdp.sample(self, n_episodes, seed)``."""
        return self.lmdp.sample(self, n_episodes, seed)


def _belief_keys(states: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Integer merge keys ``(s, support bits, rint(q / grid))`` of normalised beliefs."""
    support = (q > 0).astype(np.int64) @ (np.int64(1) << np.arange(q.shape[1], dtype=np.int64))
    grid = np.rint(q / BELIEF_KEY_GRID).astype(np.int64)
    return np.column_stack([states.astype(np.int64), support, grid])


# =================================================================== the model
class LatentMDP:
    """A latent MDP: ``M`` tabular MDPs with mixing weights (see module docstring).

    Parameters
    ----------
    P : array_like
        Transitions ``(M, S, A, S)`` (stationary) or ``(M, H, S, A, S)``; every
        row ``P[m, (h,) s, a, :]`` a distribution.
    R : array_like
        Deterministic rewards ``(M, S, A)`` or ``(M, H, S, A)``.
    weights : array_like
        Mixing weights ``(M,)``, non-negative, summing to 1 within 1e-9.
    horizon : int
        Episode length ``H >= 1`` (required: the setting is episodic).
    init : int or array_like, optional
        Initial distributions: a state index, a shared ``(S,)`` distribution or
        per-context ``(M, S)`` distributions ``nu_m`` (default: state 0).
    name : str, optional

    ``LatentMDP(mdps, weights, name=None)`` (or :meth:`from_mdps`) builds one
    from a list of finite-horizon :class:`TabularMDP` s sharing ``S``, ``A``, ``H``.
    The model is validated once and immutable; ``P``, ``R``, ``weights`` and
    ``init`` are read-only arrays, ``contexts`` the per-context TabularMDPs.
    """

    __slots__ = (
        "M",
        "S",
        "A",
        "horizon",
        "name",
        "_P",
        "_R",
        "_weights",
        "_init",
        "_Pst",
        "_Rst",
        "_contexts",
        "_cache",
    )

    def __init__(self, P, R, weights=None, *, horizon=None, init=None, name: str | None = None):
        set_ = object.__setattr__
        if isinstance(P, list | tuple) and any(isinstance(x, TabularMDP) for x in P):
            # LatentMDP(mdps, weights): the second argument holds the weights.
            if weights is not None or horizon is not None or init is not None:
                raise ValueError(
                    "LatentMDP(mdps, weights) takes horizon and initial distributions "
                    "from the MDPs: do not pass weights=, horizon= or init= as well"
                )
            P, R, horizon, init, weights = *_stack_mdps(list(P)), R
        if weights is None:
            raise ValueError("weights are required: LatentMDP(P, R, weights, horizon=H)")
        if horizon is None:
            raise ValueError(
                "a LatentMDP is episodic: give horizon=H (an integer >= 1); discounted "
                "latent MDPs are not supported"
            )
        H = check_horizon(horizon)
        P_arr = as_real_array(P, "P")
        if P_arr.ndim not in (4, 5):
            raise ValueError(
                f"P must have shape (M, S, A, S) or (M, H, S, A, S); got shape {P_arr.shape}"
            )
        M, S, A = P_arr.shape[0], P_arr.shape[-3], P_arr.shape[-2]
        if P_arr.shape[-1] != S:
            raise ValueError(
                f"P has shape {P_arr.shape}: the next-state axis has {P_arr.shape[-1]} entries "
                f"but there are {S} states"
            )
        if min(M, S, A) < 1:
            raise ValueError(f"P needs M, S, A >= 1; got shape {P_arr.shape}")
        if P_arr.ndim == 5 and P_arr.shape[1] != H:
            raise ValueError(f"P has {P_arr.shape[1]} stages (shape {P_arr.shape}) but horizon={H}")
        _check_context_rows(P_arr)

        R_arr = as_real_array(R, "R")
        if R_arr.ndim not in (3, 4) or R_arr.shape[0] != M or R_arr.shape[-2:] != (S, A):
            raise ValueError(
                f"R must have shape (M, S, A) = ({M}, {S}, {A}) or (M, H, S, A) = "
                f"({M}, {H}, {S}, {A}); got shape {R_arr.shape}"
            )
        if R_arr.ndim == 4 and R_arr.shape[1] != H:
            raise ValueError(f"R has {R_arr.shape[1]} stages (shape {R_arr.shape}) but horizon={H}")
        check_finite(R_arr, "R", "rewards")

        w = as_real_array(weights, "weights")
        if w.shape != (M,):
            raise ValueError(
                f"weights must have shape (M,) = ({M},) (one per context); got {w.shape}"
            )
        check_finite(w, "weights", "weights")
        if (w < 0).any():
            i = int(np.argmax(w < 0))
            raise ValueError(f"weights[{i}] = {w[i]:.6g} is negative")
        if abs(w.sum() - 1.0) > ROW_SUM_TOL:
            raise ValueError(
                f"weights sum to {w.sum():.12g}; they must sum to 1 within {ROW_SUM_TOL:g}"
            )
        init_arr = _check_init(init, M, S)

        for arr in (P_arr, R_arr, w, init_arr):
            arr.flags.writeable = False
        Pst = P_arr[:, None] if P_arr.ndim == 4 else P_arr
        Rst = R_arr[:, None] if R_arr.ndim == 3 else R_arr
        set_(self, "M", int(M))
        set_(self, "S", int(S))
        set_(self, "A", int(A))
        set_(self, "horizon", H)
        set_(self, "name", name)
        set_(self, "_P", P_arr)
        set_(self, "_R", R_arr)
        set_(self, "_weights", w)
        set_(self, "_init", init_arr)
        set_(self, "_Pst", Pst)
        set_(self, "_Rst", Rst)
        label = name or "lmdp"
        contexts = tuple(
            TabularMDP(P_arr[m], R_arr[m], horizon=H, init=init_arr[m], name=f"{label}[{m}]")
            for m in range(M)
        )
        set_(self, "_contexts", contexts)
        set_(self, "_cache", {})

    @classmethod
    def from_mdps(cls, mdps, weights, *, name: str | None = None) -> LatentMDP:
        """An LMDP from finite-horizon TabularMDPs sharing ``S``, ``A`` and ``H``.

        Same as ``LatentMDP(mdps, weights, name=name)``. Each MDP keeps its own
        initial distribution; sparse models are densified; stationary and
        stage-dependent parts are mixed by broadcasting over stages.
        """
        mdps = list(mdps)
        if not mdps:
            raise ValueError("mdps is empty; a LatentMDP needs at least one context MDP")
        for i, m in enumerate(mdps):
            if not isinstance(m, TabularMDP):
                raise TypeError(f"mdps[{i}] must be a TabularMDP; got {type(m).__name__}")
        return cls(mdps, weights, name=name)

    def __setattr__(self, key, value):
        raise AttributeError("LatentMDP is immutable; build a new one")

    def __delattr__(self, key):
        raise AttributeError("LatentMDP is immutable")

    # ------------------------------------------------------------- accessors
    @property
    def P(self) -> np.ndarray:
        """Transitions ``(M, S, A, S)`` or ``(M, H, S, A, S)`` (read-only)."""
        return self._P

    @property
    def R(self) -> np.ndarray:
        """Rewards ``(M, S, A)`` or ``(M, H, S, A)`` (read-only)."""
        return self._R

    @property
    def weights(self) -> np.ndarray:
        """Mixing weights ``(M,)`` (read-only)."""
        return self._weights

    @property
    def init(self) -> np.ndarray:
        """Per-context initial distributions ``(M, S)`` (read-only)."""
        return self._init

    @property
    def contexts(self) -> tuple[TabularMDP, ...]:
        """The ``M`` context MDPs as finite-horizon TabularMDPs."""
        return self._contexts

    def context(self, m: int) -> TabularMDP:
        """Context ``m`` as a TabularMDP."""
        return self._contexts[check_index(m, "m (context index)", self.M)]

    def stage_P(self) -> np.ndarray:
        """Transitions with an explicit stage axis: ``(M, n_stages_P, S, A, S)`` (read-only)."""
        return self._Pst

    def stage_R(self) -> np.ndarray:
        """Rewards with an explicit stage axis: ``(M, n_stages_R, S, A)`` (read-only)."""
        return self._Rst

    @property
    def max_support(self) -> int:
        """``Gamma = max_{m,h,s,a} |supp P_m(. | s, a)|``, the maximum transition degree."""
        return int((self._P > 0).sum(axis=-1).max())

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"LatentMDP({label}M={self.M}, S={self.S}, A={self.A}, horizon={self.horizon})"

    # --------------------------------------------------------------- sampling
    def sample(self, policy, n_episodes: int, seed: SeedLike = None) -> LatentEpisodes:
        """Sample ``n_episodes`` episodes: ``m ~ w``, then ``H`` steps of MDP ``m``.

        ``policy`` is a Markov policy (deterministic ``(S,)``/``(H, S)`` integers
        or stochastic ``(S, A)``/``(H, S, A)`` probabilities) or a
        :class:`BeliefPolicy` of this model. Episodes run in parallel (numba);
        episode ``i`` uses RNG stream ``i`` of ``seed`` (see
        :mod:`mdplab.kernels.rng`), so results are bitwise reproducible for any
        thread count. With ``M = 1`` a Markov policy's episodes equal those of
        :func:`mdplab.sampling.rollout` on the single context with the same seed.
        """
        if (
            isinstance(n_episodes, bool)
            or not isinstance(n_episodes, numbers.Integral)
            or n_episodes < 0
        ):
            raise ValueError(f"n_episodes must be an integer >= 0; got {n_episodes!r}")
        seeds = stream_seeds(seed, int(n_episodes))
        H, S, A = self.horizon, self.S, self.A
        if isinstance(policy, BeliefPolicy):
            if policy.lmdp is not self:
                raise ValueError("this BeliefPolicy was planned for a different LatentMDP")
            out = _rollout(
                self._Pst,
                self._Rst,
                self._init,
                self._weights,
                policy.action,
                _DUMMY_STO,
                False,
                False,
                policy.child,
                policy.root,
                policy.signal,
                H,
                seeds,
            )
        else:
            deterministic, pi = normalize_policy(self._contexts[0], policy)
            pi = _frozen(np.array(np.broadcast_to(pi, (H,) + pi.shape[1:])))  # one signature
            if deterministic:
                act_det, act_sto = pi.reshape(H * S), _DUMMY_STO
            else:
                act_det, act_sto = _DUMMY_DET, pi.reshape(H * S, A)
            out = _rollout(
                self._Pst,
                self._Rst,
                self._init,
                self._weights,
                act_det,
                act_sto,
                not deterministic,
                True,
                _DUMMY_CHILD,
                _DUMMY_ROOT,
                _DUMMY_SIGNAL,
                H,
                seeds,
            )
        contexts, states, actions, rewards = out
        return LatentEpisodes(contexts, states, actions, rewards, rewards.sum(axis=1))


# ====================================================================== helpers
def _stack_mdps(mdps: list) -> tuple:
    """``(P, R, horizon, init)`` arrays of finite-horizon TabularMDPs sharing S, A, H."""
    for i, mdp in enumerate(mdps):
        if not isinstance(mdp, TabularMDP):
            raise ValueError(f"mdps[{i}] is a {type(mdp).__name__}, not a TabularMDP")
        if mdp.horizon is None:
            raise ValueError(
                f"mdps[{i}] is discounted (gamma={mdp.gamma}); a LatentMDP needs "
                "finite-horizon contexts"
            )
    first = mdps[0]
    for i, mdp in enumerate(mdps[1:], start=1):
        for attr, label in (("S", "states"), ("A", "actions"), ("horizon", "horizon")):
            if getattr(mdp, attr) != getattr(first, attr):
                raise ValueError(
                    f"mdps[{i}] has {attr}={getattr(mdp, attr)} ({label}) but mdps[0] has "
                    f"{attr}={getattr(first, attr)}; all contexts must share S, A and H"
                )
    H = first.horizon
    staged_P = any(not m.transitions_stationary for m in mdps)
    staged_R = any(m.R.ndim == 3 for m in mdps)

    def _P(m):
        P = m.dense_P()
        return np.broadcast_to(P, (H, *P.shape)) if staged_P and P.ndim == 3 else P

    def _R(m):
        R = m.R
        return np.broadcast_to(R, (H, *R.shape)) if staged_R and R.ndim == 2 else R

    P = np.stack([_P(m) for m in mdps])
    R = np.stack([_R(m) for m in mdps])
    return P, R, H, np.stack([m.init for m in mdps])


def _check_context_rows(P: np.ndarray) -> None:
    """Every ``P[m, (h,) s, a, :]`` finite, non-negative and summing to 1."""
    staged = P.ndim == 5
    names = ("m", "h", "s", "a") if staged else ("m", "s", "a")

    def label(idx):
        where = ", ".join(str(int(i)) for i in idx)
        said = ", ".join(f"{n}={int(i)}" for n, i in zip(names, idx, strict=True))
        return f"P[{where}, :] (context {said})"

    bad = ~np.isfinite(P)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise ValueError(f"{label(idx[:-1])} has entry {P[idx]}; probabilities must be finite")
    neg = P < 0
    if neg.any():
        idx = tuple(np.argwhere(neg)[0])
        raise ValueError(f"{label(idx[:-1])} has a negative entry P[..., {idx[-1]}] = {P[idx]:.6g}")
    sums = P.sum(axis=-1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if off.any():
        idx = tuple(np.argwhere(off)[0])
        raise ValueError(
            f"{label(idx)} sums to {sums[idx]:.12g}; each row must sum to 1 within {ROW_SUM_TOL:g}"
        )


def _check_init(init, M: int, S: int) -> np.ndarray:
    """Initial distributions as an ``(M, S)`` array."""
    if init is None:
        out = np.zeros((M, S))
        out[:, 0] = 1.0
        return out
    if isinstance(init, numbers.Integral) and not isinstance(init, bool):
        if not 0 <= init < S:
            raise ValueError(f"init = {init} is not a state index in [0, {S})")
        out = np.zeros((M, S))
        out[:, int(init)] = 1.0
        return out
    arr = as_real_array(init, "init")
    if arr.shape == (S,):
        arr = np.array(np.broadcast_to(arr, (M, S)))
        shared = True
    elif arr.shape == (M, S):
        shared = False
    else:
        raise ValueError(
            f"init must be a state index, a shared distribution of shape ({S},) or per-context "
            f"distributions of shape ({M}, {S}); got shape {arr.shape}"
        )
    check_finite(arr, "init", "probabilities")
    if (arr < 0).any():
        m, s = np.argwhere(arr < 0)[0]
        where = f"init[{s}]" if shared else f"init[{m}, {s}]"
        raise ValueError(f"{where} = {arr[m, s]:.6g} is negative")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if off.any():
        m = int(np.argmax(off))
        where = "init" if shared else f"init[{m}, :] (context m={m})"
        raise ValueError(f"{where} sums to {sums[m]:.12g}; it must sum to 1 within {ROW_SUM_TOL:g}")
    return arr

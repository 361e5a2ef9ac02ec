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
:meth:`LatentMDP.solve_belief` computes it exactly on the finite set of beliefs
reachable from the start (see :class:`BeliefPolicy`).

Policies compared (all exact):

* Markov policies ``pi_h(s)``: :meth:`LatentMDP.policy_value`;
  :meth:`LatentMDP.best_markov_policy` (deterministic Markov policies suffice:
  the value is affine in each decision rule ``pi_h(. | s)`` separately, because a
  trajectory visits each ``(h, s)`` at most once, so a vertex of the product of
  simplices attains the maximum);
* the belief-optimal history-dependent policy: :meth:`LatentMDP.solve_belief`;
* the oracle that knows ``m``: :meth:`LatentMDP.oracle_value` ``= sum_m w_m V_m*``.

Always ``best Markov <= belief-optimal <= oracle``.

The variance quantity ``Var*`` of [ZWD23] is only described loosely in the
notes; :meth:`LatentMDP.var_star` implements a reconstructed exact definition
(see its docstring). :meth:`LatentMDP.return_variance` gives the exact
variance decomposition of the return of any Markov or belief policy.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from mdplab.kernels.rng import SeedLike, seed_state, stream_seeds
from mdplab.kernels.sampling import categorical_dense
from mdplab.models._validation import ROW_SUM_TOL, as_real_array, check_finite, check_horizon
from mdplab.models.tabular import TabularMDP

__all__ = [
    "BELIEF_KEY_GRID",
    "REWARD_TOL",
    "BeliefPolicy",
    "LatentEpisodes",
    "LatentMDP",
    "MarkovSolution",
    "ReturnVariance",
]

REWARD_TOL = 1e-12
"""Two context rewards ``R_m(h, s, a)``, ``R_k(h, s, a)`` within this distance are
indistinguishable to an agent observing rewards."""

BELIEF_KEY_GRID = 1e-12
"""Beliefs whose normalised entries agree on the grid ``BELIEF_KEY_GRID * Z`` (and
with the same support and state) share one node of the belief DAG. The value is
1-Lipschitz in the belief (in l1, for returns in [0, 1]), so merging changes the
optimal value by at most ``H * M * BELIEF_KEY_GRID * max return``."""

DEFAULT_MAX_NODES = 1_000_000
"""Default size guard of :meth:`LatentMDP.solve_belief` (reachable belief nodes)."""

DEFAULT_MAX_POLICIES = 10**8
"""Default size guard of :meth:`LatentMDP.best_markov_policy` (``A^(S H)``)."""

_CHUNK = 16384  # nodes expanded at once in the forward pass (bounds temporary memory)


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


@njit(cache=True)
def _markov_search(P, R, init, weights, H, free, n_free, prune, best_value, best_policy):
    """Best deterministic Markov policy by depth-first search over stages.

    Stages are fixed from ``H-1`` down to ``0``; a stage's decision rule is the
    mixed-radix code ``sum_j pi_h(free[h, j]) A^j`` over its ``n_free[h]``
    reachable states (the others keep the action of ``best_policy``). Fixing
    stages ``h..H-1`` fixes every context's tail value ``V_{m,h}``; with
    ``prune`` the subtree is skipped when the oracle bound ``sum_m w_m nu_m .
    U_{m,0}`` (``U`` = backward induction of each context over stages ``< h``
    from the terminal values ``V_{m,h}``), an upper bound on every completion,
    cannot beat the incumbent by more than 1e-12.
    Returns ``(value, policy, leaves evaluated)``.
    """
    M, nP, S, A = P.shape[0], P.shape[1], P.shape[2], P.shape[3]
    nR = R.shape[1]
    V = np.zeros((H + 1, M, S))
    U = np.zeros((M, S))
    U2 = np.zeros((M, S))
    code = np.full(H, -1, dtype=np.int64)
    pol = best_policy.copy()
    best = best_value
    best_pol = best_policy.copy()
    leaves = 0
    h = H - 1
    while h < H:
        n_codes = 1
        for _ in range(n_free[h]):
            n_codes *= A
        code[h] += 1
        if code[h] >= n_codes:
            code[h] = -1
            h += 1
            continue
        c = code[h]
        for j in range(n_free[h]):
            pol[h, free[h, j]] = c % A
            c //= A
        ph = h if nP > 1 else 0
        rh = h if nR > 1 else 0
        for m in range(M):
            for s in range(S):
                a = pol[h, s]
                v = R[m, rh, s, a]
                for t in range(S):
                    v += P[m, ph, s, a, t] * V[h + 1, m, t]
                V[h, m, s] = v
        if h == 0:
            leaves += 1
            tot = 0.0
            for m in range(M):
                for s in range(S):
                    tot += weights[m] * init[m, s] * V[0, m, s]
            if tot > best:
                best = tot
                for g in range(H):
                    for s in range(S):
                        best_pol[g, s] = pol[g, s]
            continue
        if prune:
            # Element loops, not slice assignment: numba compiles the latter slowly.
            for m in range(M):
                for s in range(S):
                    U[m, s] = V[h, m, s]
            for g in range(h - 1, -1, -1):
                pg = g if nP > 1 else 0
                rg = g if nR > 1 else 0
                for m in range(M):
                    for s in range(S):
                        top = -np.inf
                        for a in range(A):
                            v = R[m, rg, s, a]
                            for t in range(S):
                                v += P[m, pg, s, a, t] * U[m, t]
                            if v > top:
                                top = v
                        U2[m, s] = top
                for m in range(M):
                    for s in range(S):
                        U[m, s] = U2[m, s]
            bound = 0.0
            for m in range(M):
                for s in range(S):
                    bound += weights[m] * init[m, s] * U[m, s]
            if bound <= best + 1e-12:
                continue
        h -= 1
    return best, best_pol, leaves


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


@dataclass(frozen=True)
class MarkovSolution:
    """The best deterministic Markov policy of an LMDP.

    ``value = sum_m w_m V_m^pi``, ``policy`` ``(H, S)`` int64, ``context_values``
    ``(M,)`` the per-context values ``V_m^pi``; ``n_evaluated``: complete
    policies evaluated (``A^(reachable (h, s) pairs)`` for ``"enumerate"``,
    usually far fewer for ``"branch_and_bound"``).
    """

    value: float
    policy: np.ndarray
    context_values: np.ndarray
    n_evaluated: int
    method: str


@dataclass(frozen=True)
class ReturnVariance:
    """Exact moments of the return ``G = sum_h r_h`` of one policy.

    Attributes
    ----------
    context_means : (M,) array
        ``E_m[G]`` (the per-context values).
    context_variances : (M,) array
        ``Var_m(G)``, the variance of the return in context ``m``.
    initial_terms : (M,) array
        ``Var_{s_0 ~ nu_m} V^pi_{m,0}(s_0)``, the part due to the random start.
    transition_terms : (M,) array
        ``E_m[sum_h Var_{s' ~ P_m(.|s_h, a_h)} V^pi_{m, h+1}(tau_h, a_h, s')]``,
        the expected total conditional variance of the per-context value (alpha
        vector) through the transitions.
    action_terms : (M,) array
        ``E_m[sum_h Var_{a ~ pi_h(.|s_h)} Q^pi_{m,h}(s_h, a)]`` (0 for deterministic
        policies). Law of total variance: ``context_variances = initial_terms +
        transition_terms + action_terms`` (rewards are deterministic given
        ``(m, h, s, a)``, so they add no term).
    within : float
        ``E[Var(G | m)] = sum_m w_m Var_m(G)``.
    between : float
        ``Var(E[G | m])``, the part due to the random context.
    total : float
        ``Var(G) = within + between``.
    """

    context_means: np.ndarray
    context_variances: np.ndarray
    initial_terms: np.ndarray
    transition_terms: np.ndarray
    action_terms: np.ndarray
    within: float
    between: float
    total: float


def _finish_variance(w, mean, second, first_sq, trans, act) -> ReturnVariance:
    """``first_sq[m] = E_{s_0 ~ nu_m}[V_{m,0}(s_0)^2]`` gives the initial terms."""
    var = np.maximum(second - mean**2, 0.0)
    initial = np.maximum(first_sq - mean**2, 0.0)
    within = float(w @ var)
    overall = float(w @ mean)
    between = float(max(w @ (mean - overall) ** 2, 0.0))
    return ReturnVariance(mean, var, initial, trans, act, within, between, within + between)


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


def _pad(x: np.ndarray) -> np.ndarray:
    """``x`` with one zero row appended, so that index -1 (no child) gathers zeros."""
    return np.concatenate([x, np.zeros((1,) + x.shape[1:])], axis=0)


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
        return cls(list(mdps), weights, name=name)

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
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or not 0 <= m < self.M:
            raise ValueError(f"context index must be an integer in [0, {self.M}); got {m!r}")
        return self._contexts[int(m)]

    @property
    def max_support(self) -> int:
        """``Gamma = max_{m,h,s,a} |supp P_m(. | s, a)|``, the maximum transition degree."""
        return int((self._P > 0).sum(axis=-1).max())

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"LatentMDP({label}M={self.M}, S={self.S}, A={self.A}, horizon={self.horizon})"

    # ------------------------------------------------------ Markov policies
    def context_values(self, policy) -> np.ndarray:
        """``V_m^pi`` for every context, shape ``(M,)``.

        ``policy``: deterministic (integer) ``(S,)`` / ``(H, S)`` or stochastic
        ``(S, A)`` / ``(H, S, A)``; evaluated exactly by
        :func:`mdplab.planning.evaluate_policy` in each context.
        """
        from mdplab.planning.evaluation import evaluate_policy

        return np.array([evaluate_policy(c, policy).initial_value for c in self._contexts])

    def policy_value(self, policy) -> float:
        """``V(pi) = sum_m w_m V_m^pi`` of a Markov policy (see :meth:`context_values`)."""
        return float(self._weights @ self.context_values(policy))

    def context_optimal(self):
        """Backward induction in every context: a tuple of ``M`` PlanningResults."""
        if "context_optimal" not in self._cache:
            from mdplab.planning.finite_horizon import backward_induction

            self._cache["context_optimal"] = tuple(backward_induction(c) for c in self._contexts)
        return self._cache["context_optimal"]

    def oracle_value(self) -> float:
        """``sum_m w_m V_m*``: the value of an agent told ``m`` up front (an upper bound)."""
        return float(
            sum(
                w * r.initial_value
                for w, r in zip(self._weights, self.context_optimal(), strict=True)
            )
        )

    def reachable(self) -> np.ndarray:
        """``(H, S)`` bool: states reachable at each stage under some policy and some
        context of positive weight (only these matter to a policy's value)."""
        if "reachable" not in self._cache:
            H = self.horizon
            live = self._weights > 0
            out = np.zeros((H, self.S), dtype=bool)
            out[0] = (self._init[live] > 0).any(axis=0)
            for h in range(H - 1):
                Ph = self._Pst[live, h if self._Pst.shape[1] > 1 else 0]  # (M', S, A, S)
                out[h + 1] = (Ph[:, out[h]] > 0).any(axis=(0, 1, 2))
            out.flags.writeable = False
            self._cache["reachable"] = out
        return self._cache["reachable"]

    def best_markov_policy(
        self, *, method: str = "branch_and_bound", max_policies: int = DEFAULT_MAX_POLICIES
    ) -> MarkovSolution:
        """The best deterministic Markov policy ``pi_h(s)``, exactly.

        Deterministic Markov policies are optimal among all (also stochastic)
        Markov policies: the value is affine in each ``pi_h(. | s)`` separately.
        Finding the best one is NP-hard in general, so this searches the
        deterministic Markov policies on the reachable ``(h, s)`` pairs
        (:meth:`reachable`; unreachable pairs get action 0):

        * ``"enumerate"``: evaluates every policy (stage by stage, depth first, so
          each shared tail is evaluated once);
        * ``"branch_and_bound"`` (default): the same search, skipping a subtree
          when the oracle bound of its completions cannot beat the best policy
          found; it starts from the best of the context-optimal policies. Exact
          up to 1e-12. It often skips most leaves, but a bound costs about
          ``h A`` leaf evaluations, so on unstructured random instances its time
          is close to enumeration's.

        Raises ValueError when ``A^(number of reachable pairs)`` (at most
        ``A^(S H)``) exceeds ``max_policies``: the worst case of both methods is a
        full enumeration.
        """
        if method not in ("branch_and_bound", "enumerate"):
            raise ValueError(f"method must be 'branch_and_bound' or 'enumerate'; got {method!r}")
        H, S, A = self.horizon, self.S, self.A
        reach = self.reachable()
        n_pairs = int(reach.sum())
        count = A**n_pairs
        if count > max_policies:
            raise ValueError(
                f"best_markov_policy: A^(reachable (h, s) pairs) = {A}^{n_pairs} = {count:.3g} "
                f"deterministic Markov policies exceed max_policies={max_policies:.3g}; this "
                "instance is too large for an exact search (raise max_policies to try anyway: "
                "branch and bound often prunes most of them)"
            )
        free = np.zeros((H, S), dtype=np.int64)
        n_free = reach.sum(axis=1).astype(np.int64)
        for h in range(H):
            free[h, : n_free[h]] = np.flatnonzero(reach[h])
        prune = method == "branch_and_bound"
        best_value, best_policy = -np.inf, np.zeros((H, S), dtype=np.int64)
        if prune:
            for res in self.context_optimal():
                v = self.policy_value(res.policy)
                if v > best_value:
                    best_value, best_policy = v, np.asarray(res.policy, dtype=np.int64)
            best_policy = np.where(reach, best_policy, 0)
        value, policy, leaves = _markov_search(
            self._Pst,
            self._Rst,
            self._init,
            self._weights,
            H,
            free,
            n_free,
            prune,
            float(best_value),
            np.ascontiguousarray(best_policy),
        )
        policy.flags.writeable = False
        ctx = self.context_values(policy)
        return MarkovSolution(float(self._weights @ ctx), policy, ctx, int(leaves), method)

    # ------------------------------------------------------- belief planning
    def solve_belief(
        self, *, observe_rewards: bool = True, max_nodes: int = DEFAULT_MAX_NODES
    ) -> BeliefPolicy:
        """The optimal history-dependent policy, by exact DP over reachable beliefs.

        Forward pass: from the roots ``(0, s_0, b_0 ∝ w ⊙ nu(s_0))`` expand every
        node by every action, next state and reward class ``k`` (see module
        docstring), ``b'_m ∝ b_m P_m(s' | s, a) [class of R_m(h, s, a) = k]``,
        dropping zero-probability children and merging children with the same
        state, support and belief on the grid :data:`BELIEF_KEY_GRID`. Backward
        pass: ``W_h(node) = max_a [ b . R_h(s, a) + sum_{s', k} Pr_b(s', k | s, a)
        W_{h+1}(child) ]`` (first maximiser on ties). The result is cached per
        ``observe_rewards``.

        Cost: at most ``sum_h S (S A K)^h`` nodes (``K = M`` reward classes when
        rewards are observed, else 1), far fewer when beliefs coincide (e.g.
        deterministic LMDPs: beliefs are uniform posteriors on subsets). Raises
        ValueError when the reachable nodes exceed ``max_nodes``.
        """
        key = ("belief", bool(observe_rewards))
        if key not in self._cache:
            self._cache[key] = self._solve_belief(bool(observe_rewards), int(max_nodes))
        return self._cache[key]

    def optimal_value(
        self, *, observe_rewards: bool = True, max_nodes: int = DEFAULT_MAX_NODES
    ) -> float:
        """The optimal value over history-dependent policies (:meth:`solve_belief`)."""
        return self.solve_belief(observe_rewards=observe_rewards, max_nodes=max_nodes).optimal_value

    def _signal(self, observe_rewards: bool) -> np.ndarray:
        """``signal[m, h, s, a]``: smallest context with the same reward as ``m`` (or 0)."""
        Rst = self._Rst
        if not observe_rewards:
            return np.zeros(Rst.shape, dtype=np.int64)
        close = np.abs(Rst[:, None] - Rst[None, :]) <= REWARD_TOL  # (k, m, nR, S, A)
        return np.argmax(close, axis=0).astype(np.int64)

    def _solve_belief(self, observe_rewards: bool, max_nodes: int) -> BeliefPolicy:
        M, S, A, H = self.M, self.S, self.A, self.horizon
        Pst, Rst, w, nu = self._Pst, self._Rst, self._weights, self._init
        signal = self._signal(observe_rewards)
        K = M if observe_rewards else 1
        # onehot[h, s, a, k, m] = 1 when context m's reward falls in class k.
        onehot = (signal[..., None] == np.arange(K)).transpose(1, 2, 3, 4, 0).astype(np.float64)

        start = w[:, None] * nu  # (M, S) joint of (m, s_0)
        p0 = start.sum(axis=0)
        roots = np.flatnonzero(p0 > 0)
        root = np.full(S, -1, dtype=np.int64)
        root[roots] = np.arange(roots.size)
        states = [roots.astype(np.int64)]
        beliefs = [(start[:, roots] / p0[roots]).T]
        children, masses = [], []

        def guard(total, h):
            if total > max_nodes:
                raise ValueError(
                    f"belief planning reached {total} (h, s, belief) nodes by stage {h}, above "
                    f"max_nodes={max_nodes}; this LMDP (M={M}, S={S}, A={A}, H={H}) is too "
                    "large for exact planning: use smaller M, S, A or H (or raise max_nodes)"
                )

        total = roots.size
        for h in range(H - 1):
            ph = h if Pst.shape[1] > 1 else 0
            rh = h if Rst.shape[1] > 1 else 0
            s_nodes, Q = states[h], beliefs[h]
            n = s_nodes.size
            child = np.full((n, A, S, K), -1, dtype=np.int64)
            mass = np.zeros((n, A, S, K))
            key_parts, where_parts, q_parts = [], [], []
            for lo in range(0, n, _CHUNK):
                sl = slice(lo, min(n, lo + _CHUNK))
                T = Pst[:, ph][:, s_nodes[sl]].transpose(1, 2, 3, 0)  # (n, A, S', M)
                mk = onehot[rh][s_nodes[sl]]  # (n, A, K, M)
                U = Q[sl, None, None, None, :] * T[:, :, :, None, :] * mk[:, :, None, :, :]
                ms = U.sum(axis=-1)
                mass[sl] = ms
                idx = np.nonzero(ms > 0)
                cq = U[idx] / ms[idx][:, None]
                key_parts.append(_belief_keys(idx[2], cq))
                where_parts.append(np.column_stack(idx) + np.array([lo, 0, 0, 0]))
                q_parts.append(cq)
            keys = np.concatenate(key_parts)
            where = np.concatenate(where_parts)
            cq = np.concatenate(q_parts)
            _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            child[where[:, 0], where[:, 1], where[:, 2], where[:, 3]] = inverse
            children.append(child)
            masses.append(mass)
            states.append(where[first, 2].astype(np.int64))
            beliefs.append(cq[first])
            total += first.size
            guard(total, h + 1)

        # Backward pass: optimal normalised values and actions.
        values = [None] * H
        qvals = [None] * H
        acts = [None] * H
        for h in range(H - 1, -1, -1):
            rh = h if Rst.shape[1] > 1 else 0
            s_nodes, Q = states[h], beliefs[h]
            q = np.einsum("nm,mna->na", Q, Rst[:, rh][:, s_nodes])
            if h < H - 1:
                nxt = _pad(values[h + 1])
                q = q + (masses[h] * nxt[children[h]]).sum(axis=(2, 3))
            qvals[h] = q
            acts[h] = np.argmax(q, axis=1).astype(np.int64)
            values[h] = q[np.arange(q.shape[0]), acts[h]]

        alphas = _dag_moments(self, states, children, acts, signal, second=False)[0]

        # Flatten the levels into global node indices.
        sizes = np.array([s.size for s in states])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        N = int(offsets[-1])
        child_all = np.full((N, A, S, K), -1, dtype=np.int64)
        mass_all = np.zeros((N, A, S, K))
        for h in range(H - 1):
            c = children[h]
            child_all[offsets[h] : offsets[h + 1]] = np.where(c >= 0, c + offsets[h + 1], -1)
            mass_all[offsets[h] : offsets[h + 1]] = masses[h]
        value_all = np.concatenate(values)
        root_all = np.where(root >= 0, root, -1)
        optimal = float(p0[roots] @ values[0]) if roots.size else 0.0
        arrays = dict(
            stage=np.repeat(np.arange(H), sizes).astype(np.int64),
            state=np.concatenate(states),
            belief=np.concatenate(beliefs),
            action=np.concatenate(acts),
            q_values=np.concatenate(qvals),
            value=value_all,
            alpha=np.concatenate(alphas),
            child=child_all,
            root=root_all,
            signal=signal,
        )
        for arr in arrays.values():
            arr.flags.writeable = False
        return BeliefPolicy(
            lmdp=self,
            observe_rewards=observe_rewards,
            optimal_value=optimal,
            _mass=mass_all,
            _offsets=offsets,
            **arrays,
        )

    # ------------------------------------------------------------- variance
    def return_variance(self, policy) -> ReturnVariance:
        """Exact variance decomposition of the return of a policy.

        ``policy``: a Markov policy (as in :meth:`context_values`) or a
        :class:`BeliefPolicy`. In every context the first and second moments of
        the return-to-go are propagated backward (``E[G_h^2] = r^2 + 2 r E[G_{h+1}]
        + E[G_{h+1}^2]``), and the transition and action terms of the law of
        total variance are accumulated along the forward state (or node)
        distribution. See :class:`ReturnVariance`.
        """
        if isinstance(policy, BeliefPolicy):
            return self._belief_variance(policy)
        return self._markov_variance(policy)

    def _markov_variance(self, policy) -> ReturnVariance:
        from mdplab.planning.evaluation import normalize_policy

        deterministic, pi = normalize_policy(self._contexts[0], policy)
        M, S, A, H = self.M, self.S, self.A, self.horizon
        if deterministic:
            pi = (pi[..., None] == np.arange(A)).astype(np.float64)
        mean, second, first_sq = np.zeros(M), np.zeros(M), np.zeros(M)
        trans, act = np.zeros(M), np.zeros(M)
        for m in range(M):
            Pm, Rm = self._Pst[m], self._Rst[m]
            V1 = np.zeros((H + 1, S))
            V2 = np.zeros((H + 1, S))
            tvar = np.zeros((H, S, A))
            Q1 = np.zeros((H, S, A))
            for h in range(H - 1, -1, -1):
                Ph = Pm[h if Pm.shape[0] > 1 else 0]
                Rh = Rm[h if Rm.shape[0] > 1 else 0]
                p = pi[h if pi.shape[0] > 1 else 0]
                e1 = Ph @ V1[h + 1]
                e2 = Ph @ V2[h + 1]
                tvar[h] = np.maximum(Ph @ V1[h + 1] ** 2 - e1**2, 0.0)
                Q1[h] = Rh + e1
                V1[h] = (p * Q1[h]).sum(axis=1)
                V2[h] = (p * (Rh**2 + 2 * Rh * e1 + e2)).sum(axis=1)
            d = self._init[m].copy()
            for h in range(H):
                Ph = Pm[h if Pm.shape[0] > 1 else 0]
                p = pi[h if pi.shape[0] > 1 else 0]
                trans[m] += d @ (p * tvar[h]).sum(axis=1)
                avar = (p * Q1[h] ** 2).sum(axis=1) - V1[h] ** 2
                act[m] += d @ np.maximum(avar, 0.0)
                d = np.einsum("s,sa,sat->t", d, p, Ph)
            mean[m] = self._init[m] @ V1[0]
            second[m] = self._init[m] @ V2[0]
            first_sq[m] = self._init[m] @ V1[0] ** 2
        return _finish_variance(self._weights, mean, second, first_sq, trans, act)

    def _belief_variance(self, bp: BeliefPolicy) -> ReturnVariance:
        if bp.lmdp is not self:
            raise ValueError("this BeliefPolicy was planned for a different LatentMDP")
        states, children, acts = _levels(bp)
        a1, a2, tv = _dag_moments(self, states, children, acts, bp.signal, second=True)
        M = self.M
        mean, second, first_sq = np.zeros(M), np.zeros(M), np.zeros(M)
        r0 = bp.root
        for s0 in range(self.S):
            if r0[s0] >= 0:
                mean += self._init[:, s0] * a1[0][r0[s0]]
                second += self._init[:, s0] * a2[0][r0[s0]]
                first_sq += self._init[:, s0] * a1[0][r0[s0]] ** 2
        out = _finish_variance(self._weights, mean, second, first_sq, tv, np.zeros(M))
        zero = self._weights == 0
        if zero.any():
            # The DAG only holds histories of positive-weight contexts: a zero-weight
            # context's per-context moments are undefined there (it counts 0 overall).
            for arr in (
                out.context_means,
                out.context_variances,
                out.initial_terms,
                out.transition_terms,
                out.action_terms,
            ):
                arr[zero] = np.nan
        return out

    def var_star(
        self, *, observe_rewards: bool = True, max_nodes: int = DEFAULT_MAX_NODES
    ) -> float:
        """``Var*``: the largest expected total variance of the optimal alpha vectors.

        🔶 Reconstructed. [ZWD23] call ``Var*`` "a variance quantity describing
        the determinism of the LMDP"; the notes (section 3.4) describe it only as
        roughly a maximum over policies of the expected total conditional variance
        of the alpha vectors. This implements, exactly,

        ``Var* = max_pi sum_m w_m ( Var_{s_0 ~ nu_m} alpha*_{0, m}(s_0)
        + E_m^pi[ sum_{h<H} Var_{s' ~ P_m(.|s_h, a_h)} alpha*_{h+1, m}(tau_h, a_h, s') ] )``

        where ``alpha*_{h+1, m}(tau_{h+1})`` is the value in context ``m`` of
        following the belief-optimal policy from history ``tau_{h+1}`` on
        (:attr:`BeliefPolicy.alpha`, defined at every reachable history) and
        ``pi`` ranges over all history-dependent policies. No reward-variance term
        appears because rewards are deterministic given ``(m, h, s, a)`` (as in
        [ZWD23]). Why this form:

        * it is the LMDP analogue of the "maximum variance of the optimal value
          along any policy's trajectories" that governs variance-dependent
          (MVP-type) regret analyses: the learner's policies change, the variance
          that enters is that of the target values;
        * the objective is linear in ``pi``'s trajectory distribution, so the
          maximum is an exact DP on the same belief DAG as :meth:`solve_belief`
          (the own-policy variant ``max_pi E[Var^pi(G | m)]`` is a variance
          objective with no such DP);
        * at ``pi = pi*`` the objective is, by the law of total variance,
          ``E[Var^{pi*}(G | m)]`` (the within-context variance of the optimal
          return, :meth:`return_variance`), so ``Var* >= E[Var^{pi*}(G | m)]``.

        What it measures: the randomness of the transitions *within* a context.
        It does not include ``Var(E[G | m])``, the spread caused by the random
        context itself. Hence ``Var* = 0`` for every LMDP whose transitions
        and initial states are deterministic, whatever the weights, even though
        the optimal return is then random when the contexts' returns differ.
        (The start-state term does not depend on ``pi``; it is what makes the
        equality at ``pi = pi*`` hold when ``nu_m`` is random.)
        """
        bp = self.solve_belief(observe_rewards=observe_rewards, max_nodes=max_nodes)
        states, children, acts = _levels(bp)
        alphas = [bp.alpha[bp.level(h)] for h in range(self.horizon)]
        Pst = self._Pst
        M, A, H = self.M, self.A, self.horizon
        W = None
        for h in range(H - 1, -1, -1):
            sl = bp.level(h)
            Q = bp.belief[sl]
            n = Q.shape[0]
            if h == H - 1:
                W = np.zeros(n)
                continue
            ph = h if Pst.shape[1] > 1 else 0
            rh = h if self._Rst.shape[1] > 1 else 0
            s_nodes = states[h]
            T = Pst[:, ph][:, s_nodes]  # (M, n, A, S')
            k = bp.signal[:, rh][:, s_nodes]  # (M, n, A)
            ch = children[h][
                np.arange(n)[None, :, None, None],
                np.arange(A)[None, None, :, None],
                np.arange(self.S)[None, None, None, :],
                k[..., None],
            ]  # (M,n,A,S')
            g = _pad(alphas[h + 1])[ch, np.arange(M)[:, None, None, None]]
            e1 = (T * g).sum(axis=-1)
            var = np.maximum((T * g**2).sum(axis=-1) - e1**2, 0.0)  # (M, n, A)
            mass = bp._mass[sl]
            cont = (mass * _pad(W)[children[h]]).sum(axis=(2, 3))
            W = (np.einsum("nm,mna->na", Q, var) + cont).max(axis=1)
        p0 = (self._weights[:, None] * self._init).sum(axis=0)
        total = sum(p0[s] * W[bp.root[s]] for s in range(self.S) if bp.root[s] >= 0)
        # The start-state term does not depend on pi: Var_{s_0 ~ nu_m} alpha*_{0,m}(s_0).
        starts = np.flatnonzero(bp.root >= 0)
        a0 = bp.alpha[bp.root[starts]]  # (n_starts, M)
        nu = self._init[:, starts]  # (M, n_starts)
        e1 = (nu * a0.T).sum(axis=1)
        initial = np.maximum((nu * a0.T**2).sum(axis=1) - e1**2, 0.0)
        return float(total + self._weights @ initial)

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
            from mdplab.planning.evaluation import normalize_policy

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


def _levels(bp: BeliefPolicy):
    """Per-stage ``states``, local ``children`` and ``actions`` of a belief DAG."""
    H = bp.lmdp.horizon
    states, children, acts = [], [], []
    for h in range(H):
        sl = bp.level(h)
        states.append(bp.state[sl])
        acts.append(bp.action[sl])
        if h < H - 1:
            c = bp.child[sl]
            children.append(np.where(c >= 0, c - bp._offsets[h + 1], -1))
    return states, children, acts


def _dag_moments(lmdp: LatentMDP, states, children, acts, signal, *, second: bool):
    """Per-context moments of the return-to-go of a deterministic DAG policy.

    Returns ``(alpha1, alpha2, trans)``: per-stage arrays ``(n_h, M)`` of
    ``E_m[G_h | node]`` and (``second=True``) ``E_m[G_h^2 | node]``, and the
    ``(M,)`` transition terms ``E_m[sum_h Var_{s'} alpha1_{h+1, m}]`` accumulated
    over the forward reach probabilities of each context.
    """
    Pst, Rst = lmdp._Pst, lmdp._Rst
    M, S, H = lmdp.M, lmdp.S, lmdp.horizon
    ms = np.arange(M)
    a1 = [None] * H
    a2 = [None] * H
    tvar = [None] * H
    step = [None] * H  # (T (M,n,S'), child index per context (M,n,S')) of the chosen action
    for h in range(H - 1, -1, -1):
        ph = h if Pst.shape[1] > 1 else 0
        rh = h if Rst.shape[1] > 1 else 0
        s_nodes, a = states[h], acts[h]
        n = s_nodes.size
        r = Rst[:, rh][:, s_nodes, a]  # (M, n)
        if h == H - 1:
            a1[h] = r.T.copy()
            a2[h] = (r**2).T.copy() if second else None
            tvar[h] = np.zeros((M, n))
            continue
        T = Pst[:, ph][:, s_nodes, a]  # (M, n, S')
        k = signal[:, rh][:, s_nodes, a]  # (M, n)
        ch = children[h][
            np.arange(n)[None, :, None],
            a[None, :, None],
            np.arange(S)[None, None, :],
            k[:, :, None],
        ]  # (M, n, S')
        g1 = _pad(a1[h + 1])[ch, ms[:, None, None]]
        e1 = (T * g1).sum(axis=-1)
        a1[h] = (r + e1).T
        tvar[h] = np.maximum((T * g1**2).sum(axis=-1) - e1**2, 0.0)
        step[h] = (T, ch)
        if second:
            g2 = _pad(a2[h + 1])[ch, ms[:, None, None]]
            a2[h] = (r**2 + 2 * r * e1 + (T * g2).sum(axis=-1)).T
    if not second:
        return a1, None, None
    # Forward reach probabilities per context, for the transition terms.
    reach = lmdp._init[:, states[0]].copy()
    trans = np.zeros(M)
    for h in range(H):
        trans += (reach * tvar[h]).sum(axis=1)
        if h == H - 1:
            break
        T, ch = step[h]
        nxt = np.zeros((M, states[h + 1].size + 1))
        flow = reach[:, :, None] * T  # (M, n, S')
        for m in range(M):
            np.add.at(nxt[m], ch[m].ravel(), flow[m].ravel())
        reach = nxt[:, :-1]
    return a1, a2, trans

"""Exact solvers and evaluators of latent MDPs (the model: :mod:`mdplab.models.latent`).

Notation of :mod:`mdplab.models.latent`: contexts ``m = 0..M-1`` with weights
``w``, horizon ``H``, ``V(pi) = sum_m w_m V_m^pi``. Every quantity here is exact:

* Markov policies ``pi_h(s)``: :func:`latent_context_values` (``V_m^pi`` per
  context), :func:`latent_policy_value`; :func:`latent_best_markov_policy`
  (deterministic Markov policies suffice: the value is affine in each decision
  rule ``pi_h(. | s)`` separately, because a trajectory visits each ``(h, s)``
  at most once, so a vertex of the product of simplices attains the maximum;
  branch and bound over the reachable pairs :func:`latent_reachable`);
* the belief-optimal history-dependent policy: :func:`latent_solve_belief`
  solves ``W_h(s, b) = max_a [ sum_m b_m R_m(h, s, a) + sum_{s', k} Pr_b(s', k |
  s, a) W_{h+1}(s', b') ]`` exactly on the finite set of beliefs reachable from
  the start and returns a :class:`~mdplab.models.latent.BeliefPolicy` (the policy
  type the model's sampler runs); :func:`latent_optimal_value` is its value;
* the oracle that knows ``m``: :func:`latent_oracle_value` ``= sum_m w_m V_m*``
  (:func:`latent_context_optimal`: backward induction in every context).

Always ``best Markov <= belief-optimal <= oracle``.

The variance quantity ``Var*`` of [ZWD23] is only described loosely in the
notes; :func:`latent_var_star` implements a reconstructed exact definition (see
its docstring). :func:`latent_return_variance` gives the exact variance
decomposition of the return of any Markov or belief policy.

Each function is also a method of :class:`~mdplab.models.LatentMDP` under the
name without the ``latent_`` prefix (``lmdp.best_markov_policy()``, attached by
:mod:`mdplab.planning._model_methods`). Results that depend only on the model
(context optima, reachable pairs, belief policies) are memoised on the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from mdplab.models._validation import check_model
from mdplab.models.latent import (
    REWARD_TOL,
    BeliefPolicy,
    LatentMDP,
    _belief_keys,
)
from mdplab.models.tabular import normalize_policy
from mdplab.planning.evaluation import evaluate_policy
from mdplab.planning.finite_horizon import backward_induction

__all__ = [
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_POLICIES",
    "BeliefPolicy",
    "MarkovSolution",
    "ReturnVariance",
    "latent_best_markov_policy",
    "latent_context_optimal",
    "latent_context_values",
    "latent_optimal_value",
    "latent_oracle_value",
    "latent_policy_value",
    "latent_reachable",
    "latent_return_variance",
    "latent_solve_belief",
    "latent_var_star",
]

DEFAULT_MAX_NODES = 1_000_000
"""Default size guard of :func:`latent_solve_belief` (reachable belief nodes)."""

DEFAULT_MAX_POLICIES = 10**8
"""Default size guard of :func:`latent_best_markov_policy` (``A^(S H)``)."""

_CHUNK = 16384  # nodes expanded at once in the forward pass (bounds temporary memory)


# ================================================================ result types
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


# ====================================================================== kernel
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


# ============================================================= Markov policies
def latent_context_values(lmdp: LatentMDP, policy) -> np.ndarray:
    """``V_m^pi`` for every context, shape ``(M,)``.

    ``policy``: deterministic (integer) ``(S,)`` / ``(H, S)`` or stochastic
    ``(S, A)`` / ``(H, S, A)``; evaluated exactly by
    :func:`mdplab.planning.evaluate_policy` in each context.
    """
    check_model(lmdp, LatentMDP, "latent_context_values", "lmdp")
    return np.array([evaluate_policy(c, policy).initial_value for c in lmdp.contexts])


def latent_policy_value(lmdp: LatentMDP, policy) -> float:
    """``V(pi) = sum_m w_m V_m^pi`` of a Markov policy (see :func:`latent_context_values`)."""
    check_model(lmdp, LatentMDP, "latent_policy_value", "lmdp")
    return float(lmdp.weights @ latent_context_values(lmdp, policy))


def latent_context_optimal(lmdp: LatentMDP):
    """Backward induction in every context: a tuple of ``M`` PlanningResults."""
    check_model(lmdp, LatentMDP, "latent_context_optimal", "lmdp")
    if "context_optimal" not in lmdp._cache:
        lmdp._cache["context_optimal"] = tuple(backward_induction(c) for c in lmdp.contexts)
    return lmdp._cache["context_optimal"]


def latent_oracle_value(lmdp: LatentMDP) -> float:
    """``sum_m w_m V_m*``: the value of an agent told ``m`` up front (an upper bound)."""
    check_model(lmdp, LatentMDP, "latent_oracle_value", "lmdp")
    return float(
        sum(
            w * r.initial_value
            for w, r in zip(lmdp.weights, latent_context_optimal(lmdp), strict=True)
        )
    )


def latent_reachable(lmdp: LatentMDP) -> np.ndarray:
    """``(H, S)`` bool: states reachable at each stage under some policy and some
    context of positive weight (only these matter to a policy's value)."""
    check_model(lmdp, LatentMDP, "latent_reachable", "lmdp")
    if "reachable" not in lmdp._cache:
        H = lmdp.horizon
        live = lmdp.weights > 0
        out = np.zeros((H, lmdp.S), dtype=bool)
        out[0] = (lmdp.init[live] > 0).any(axis=0)
        Pst = lmdp.stage_P()
        for h in range(H - 1):
            Ph = Pst[live, h if Pst.shape[1] > 1 else 0]  # (M', S, A, S)
            out[h + 1] = (Ph[:, out[h]] > 0).any(axis=(0, 1, 2))
        out.flags.writeable = False
        lmdp._cache["reachable"] = out
    return lmdp._cache["reachable"]


def latent_best_markov_policy(
    lmdp: LatentMDP, *, method: str = "branch_and_bound", max_policies: int = DEFAULT_MAX_POLICIES
) -> MarkovSolution:
    """The best deterministic Markov policy ``pi_h(s)``, exactly.

    Deterministic Markov policies are optimal among all (also stochastic)
    Markov policies: the value is affine in each ``pi_h(. | s)`` separately.
    Finding the best one is NP-hard in general, so this searches the
    deterministic Markov policies on the reachable ``(h, s)`` pairs
    (:func:`latent_reachable`; unreachable pairs get action 0):

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
    check_model(lmdp, LatentMDP, "latent_best_markov_policy", "lmdp")
    if method not in ("branch_and_bound", "enumerate"):
        raise ValueError(f"method must be 'branch_and_bound' or 'enumerate'; got {method!r}")
    H, S, A = lmdp.horizon, lmdp.S, lmdp.A
    reach = latent_reachable(lmdp)
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
        for res in latent_context_optimal(lmdp):
            v = latent_policy_value(lmdp, res.policy)
            if v > best_value:
                best_value, best_policy = v, np.asarray(res.policy, dtype=np.int64)
        best_policy = np.where(reach, best_policy, 0)
    value, policy, leaves = _markov_search(
        lmdp.stage_P(),
        lmdp.stage_R(),
        lmdp.init,
        lmdp.weights,
        H,
        free,
        n_free,
        prune,
        float(best_value),
        np.ascontiguousarray(best_policy),
    )
    policy.flags.writeable = False
    ctx = latent_context_values(lmdp, policy)
    return MarkovSolution(float(lmdp.weights @ ctx), policy, ctx, int(leaves), method)


def latent_solve_belief(
    lmdp: LatentMDP, *, observe_rewards: bool = True, max_nodes: int = DEFAULT_MAX_NODES
) -> BeliefPolicy:
    """The optimal history-dependent policy, by exact DP over reachable beliefs.

    Forward pass: from the roots ``(0, s_0, b_0 ∝ w ⊙ nu(s_0))`` expand every
    node by every action, next state and reward class ``k`` (see
    :mod:`mdplab.models.latent`), ``b'_m ∝ b_m P_m(s' | s, a) [class of R_m(h, s, a) = k]``,
    dropping zero-probability children and merging children with the same
    state, support and belief on the grid :data:`~mdplab.models.latent.BELIEF_KEY_GRID`. Backward
    pass: ``W_h(node) = max_a [ b . R_h(s, a) + sum_{s', k} Pr_b(s', k | s, a)
    W_{h+1}(child) ]`` (first maximiser on ties). The result is cached per
    ``observe_rewards``.

    Cost: at most ``sum_h S (S A K)^h`` nodes (``K = M`` reward classes when
    rewards are observed, else 1), far fewer when beliefs coincide (e.g.
    deterministic LMDPs: beliefs are uniform posteriors on subsets). Raises
    ValueError when the reachable nodes exceed ``max_nodes``.
    """
    check_model(lmdp, LatentMDP, "latent_solve_belief", "lmdp")
    key = ("belief", bool(observe_rewards))
    if key not in lmdp._cache:
        lmdp._cache[key] = _solve_belief(lmdp, bool(observe_rewards), int(max_nodes))
    return lmdp._cache[key]


def latent_optimal_value(
    lmdp: LatentMDP, *, observe_rewards: bool = True, max_nodes: int = DEFAULT_MAX_NODES
) -> float:
    """The optimal value over history-dependent policies (:func:`latent_solve_belief`)."""
    check_model(lmdp, LatentMDP, "latent_optimal_value", "lmdp")
    bp = latent_solve_belief(lmdp, observe_rewards=observe_rewards, max_nodes=max_nodes)
    return bp.optimal_value


def _reward_classes(lmdp: LatentMDP, observe_rewards: bool) -> np.ndarray:
    """``signal[m, h, s, a]``: smallest context with the same reward as ``m`` (or 0)."""
    Rst = lmdp.stage_R()
    if not observe_rewards:
        return np.zeros(Rst.shape, dtype=np.int64)
    close = np.abs(Rst[:, None] - Rst[None, :]) <= REWARD_TOL  # (k, m, nR, S, A)
    return np.argmax(close, axis=0).astype(np.int64)


def _solve_belief(lmdp: LatentMDP, observe_rewards: bool, max_nodes: int) -> BeliefPolicy:
    M, S, A, H = lmdp.M, lmdp.S, lmdp.A, lmdp.horizon
    Pst, Rst, w, nu = lmdp.stage_P(), lmdp.stage_R(), lmdp.weights, lmdp.init
    signal = _reward_classes(lmdp, observe_rewards)
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

    alphas = _dag_moments(lmdp, states, children, acts, signal, second=False)[0]

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
        lmdp=lmdp,
        observe_rewards=observe_rewards,
        optimal_value=optimal,
        _mass=mass_all,
        _offsets=offsets,
        **arrays,
    )


def latent_return_variance(lmdp: LatentMDP, policy) -> ReturnVariance:
    """Exact variance decomposition of the return of a policy.

    ``policy``: a Markov policy (as in :func:`latent_context_values`) or a
    :class:`BeliefPolicy`. In every context the first and second moments of
    the return-to-go are propagated backward (``E[G_h^2] = r^2 + 2 r E[G_{h+1}]
    + E[G_{h+1}^2]``), and the transition and action terms of the law of
    total variance are accumulated along the forward state (or node)
    distribution. See :class:`ReturnVariance`.
    """
    check_model(lmdp, LatentMDP, "latent_return_variance", "lmdp")
    if isinstance(policy, BeliefPolicy):
        return _belief_variance(lmdp, policy)
    return _markov_variance(lmdp, policy)


def _markov_variance(lmdp: LatentMDP, policy) -> ReturnVariance:
    deterministic, pi = normalize_policy(lmdp.contexts[0], policy)
    M, S, A, H = lmdp.M, lmdp.S, lmdp.A, lmdp.horizon
    if deterministic:
        pi = (pi[..., None] == np.arange(A)).astype(np.float64)
    mean, second, first_sq = np.zeros(M), np.zeros(M), np.zeros(M)
    trans, act = np.zeros(M), np.zeros(M)
    Pst, Rst = lmdp.stage_P(), lmdp.stage_R()
    for m in range(M):
        Pm, Rm = Pst[m], Rst[m]
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
        d = lmdp.init[m].copy()
        for h in range(H):
            Ph = Pm[h if Pm.shape[0] > 1 else 0]
            p = pi[h if pi.shape[0] > 1 else 0]
            trans[m] += d @ (p * tvar[h]).sum(axis=1)
            avar = (p * Q1[h] ** 2).sum(axis=1) - V1[h] ** 2
            act[m] += d @ np.maximum(avar, 0.0)
            d = np.einsum("s,sa,sat->t", d, p, Ph)
        mean[m] = lmdp.init[m] @ V1[0]
        second[m] = lmdp.init[m] @ V2[0]
        first_sq[m] = lmdp.init[m] @ V1[0] ** 2
    return _finish_variance(lmdp.weights, mean, second, first_sq, trans, act)


def _belief_variance(lmdp: LatentMDP, bp: BeliefPolicy) -> ReturnVariance:
    if bp.lmdp is not lmdp:
        raise ValueError("this BeliefPolicy was planned for a different LatentMDP")
    states, children, acts = _levels(bp)
    a1, a2, tv = _dag_moments(lmdp, states, children, acts, bp.signal, second=True)
    M = lmdp.M
    mean, second, first_sq = np.zeros(M), np.zeros(M), np.zeros(M)
    r0 = bp.root
    for s0 in range(lmdp.S):
        if r0[s0] >= 0:
            mean += lmdp.init[:, s0] * a1[0][r0[s0]]
            second += lmdp.init[:, s0] * a2[0][r0[s0]]
            first_sq += lmdp.init[:, s0] * a1[0][r0[s0]] ** 2
    out = _finish_variance(lmdp.weights, mean, second, first_sq, tv, np.zeros(M))
    zero = lmdp.weights == 0
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


def latent_var_star(
    lmdp: LatentMDP, *, observe_rewards: bool = True, max_nodes: int = DEFAULT_MAX_NODES
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
      maximum is an exact DP on the same belief DAG as :func:`latent_solve_belief`
      (the own-policy variant ``max_pi E[Var^pi(G | m)]`` is a variance
      objective with no such DP);
    * at ``pi = pi*`` the objective is, by the law of total variance,
      ``E[Var^{pi*}(G | m)]`` (the within-context variance of the optimal
      return, :func:`latent_return_variance`), so ``Var* >= E[Var^{pi*}(G | m)]``.

    What it measures: the randomness of the transitions *within* a context.
    It does not include ``Var(E[G | m])``, the spread caused by the random
    context itself. Hence ``Var* = 0`` for every LMDP whose transitions
    and initial states are deterministic, whatever the weights, even though
    the optimal return is then random when the contexts' returns differ.
    (The start-state term does not depend on ``pi``; it is what makes the
    equality at ``pi = pi*`` hold when ``nu_m`` is random.)
    """
    check_model(lmdp, LatentMDP, "latent_var_star", "lmdp")
    bp = latent_solve_belief(lmdp, observe_rewards=observe_rewards, max_nodes=max_nodes)
    states, children, acts = _levels(bp)
    alphas = [bp.alpha[bp.level(h)] for h in range(lmdp.horizon)]
    Pst, Rst = lmdp.stage_P(), lmdp.stage_R()
    M, A, H = lmdp.M, lmdp.A, lmdp.horizon
    W = None
    for h in range(H - 1, -1, -1):
        sl = bp.level(h)
        Q = bp.belief[sl]
        n = Q.shape[0]
        if h == H - 1:
            W = np.zeros(n)
            continue
        ph = h if Pst.shape[1] > 1 else 0
        rh = h if Rst.shape[1] > 1 else 0
        s_nodes = states[h]
        T = Pst[:, ph][:, s_nodes]  # (M, n, A, S')
        k = bp.signal[:, rh][:, s_nodes]  # (M, n, A)
        ch = children[h][
            np.arange(n)[None, :, None, None],
            np.arange(A)[None, None, :, None],
            np.arange(lmdp.S)[None, None, None, :],
            k[..., None],
        ]  # (M,n,A,S')
        g = _pad(alphas[h + 1])[ch, np.arange(M)[:, None, None, None]]
        e1 = (T * g).sum(axis=-1)
        var = np.maximum((T * g**2).sum(axis=-1) - e1**2, 0.0)  # (M, n, A)
        mass = bp._mass[sl]
        cont = (mass * _pad(W)[children[h]]).sum(axis=(2, 3))
        W = (np.einsum("nm,mna->na", Q, var) + cont).max(axis=1)
    p0 = (lmdp.weights[:, None] * lmdp.init).sum(axis=0)
    total = sum(p0[s] * W[bp.root[s]] for s in range(lmdp.S) if bp.root[s] >= 0)
    # The start-state term does not depend on pi: Var_{s_0 ~ nu_m} alpha*_{0,m}(s_0).
    starts = np.flatnonzero(bp.root >= 0)
    a0 = bp.alpha[bp.root[starts]]  # (n_starts, M)
    nu = lmdp.init[:, starts]  # (M, n_starts)
    e1 = (nu * a0.T).sum(axis=1)
    initial = np.maximum((nu * a0.T**2).sum(axis=1) - e1**2, 0.0)
    return float(total + lmdp.weights @ initial)


# ==================================================================== helpers
def _pad(x: np.ndarray) -> np.ndarray:
    """``x`` with one zero row appended, so that index -1 (no child) gathers zeros."""
    return np.concatenate([x, np.zeros((1,) + x.shape[1:])], axis=0)


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
    Pst, Rst = lmdp.stage_P(), lmdp.stage_R()
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
    reach = lmdp.init[:, states[0]].copy()
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

"""Action grouping with a generative model: the grouped learner and the choice of grouping.

Li, Ju & Shroff, "Achieving Sample and Computational Efficient Reinforcement
Learning by Action Space Reduction via Grouping", ICLR 2024 (arXiv 2306.12981).
The paper body was not available; the algorithm, bound and selection below are
the reconstruction of ``shared/papers/grouping_subsample_lowrank.md`` section 1
(notes 1.3-1.5, tagged [R]/[D] there). Model side: :mod:`mdplab.models.grouped`.

**The grouped learner** (note 1.3, :class:`GroupedVI`, name ``grouped-vi``).
Given a grouping ``g`` of the actions into ``M`` groups and a lower-level policy
``nu(a | s, m)`` supported on group ``m`` (a :class:`~mdplab.models.GroupedMDP`),
draw ``N`` samples for every (state, group): ``a_i ~ nu(.|s,m)``, ``(r_i, s'_i)``
from the generative model at ``(s, a_i)``; build the empirical grouped model
``P_hat(s'|s,m) = #{i: s'_i = s'} / N``, ``R_hat(s,m) = mean r_i``; run ``T``
value-iteration sweeps on it from ``V_0 = 0`` (certified: ``||V_T - V_hat*|| <=
gamma/(1-gamma) ||V_T - V_{T-1}||``); output the greedy group policy, executed
in the original MDP through ``nu`` (its lift). Sample cost ``|S| M N``, compute
``T |S|^2 M``: neither depends on ``|A|`` (the kernels read only the ``P`` rows of
the sampled actions; for a uniform or representative ``nu`` they never touch
the other actions). :class:`UngroupedVI` (``ungrouped-vi``) is the same with
singleton groups (``M = |A|``): model-based RL with a generative model.

**The loss bound** (note 1.4, [D]: the structure is the paper's, the constants
are ours and are parameters of :func:`grouped_learning_bound`). With
probability at least ``1 - delta``,
``V*_M(d0) - V^{lift pi_hat}_M(d0) <= A(g) + E(M, N) + C(M, T)``::

    A(g)   = leading / (1-gamma) * (eps_R + gamma * span * eps_P / 2)          approximation
    E(M,N) = 2 / (1-gamma) * (rho sqrt(ln(4 S M / delta) / (2N))
                              + gamma * span * sqrt(2 (S ln 2 + ln(4 S M / delta)) / N) / 2)
    C(M,T) = 2 gamma^T r_max / (1-gamma)^2                                      iteration

``eps_P, eps_R``: the intra-group dissimilarities of ``g``; ``rho``: the reward
range; ``span``: a bound on the span of value functions (``rho / (1-gamma)``);
``r_max = max |R|``. Proof sketch: ``V^{lift pi} = V^{pi}_{M_g}`` (the lifting
identity), ``V*_M - V*_{M_g} <= A(g)`` for ``leading >= 1``, and the two-policy
simulation lemma with Hoeffding (rewards) and Weissman et al. (2003, L1 of
``P_hat``) union-bounded over the ``S M`` pairs; the greedy policy of ``V_{T-1}``
loses at most ``2 gamma ||V_{T-1} - V_hat*|| / (1-gamma) <= C``. The note's
``leading = 2`` is kept as default.

**Choosing the grouping** (note 1.5, :func:`select_grouping`). The general
problem (minimise the bound over groupings, ``N`` and ``T`` under a sample budget
``|S| M N <= B_s`` and a compute budget ``T |S|^2 M <= B_c``) is made tractable by
a nested family of candidate groupings (dyadic equal-width cells of the known
action coefficients ``w_a``, cells of width ``diam / 2^j``) whose dissimilarity is
bounded by the cell width times a slope estimated from a pilot sample of
``2 K |S|`` (state, action) pairs; the search evaluates the bound once per
candidate (``O(log M_max)`` evaluations, at most ``O(M_max)`` with
``candidates="all"``) and its samples and operations do not depend on ``|A|``
(only the final labelling of the chosen grouping reads every ``w_a``). Without
coefficients (``coefficients=None``) the candidates are nested bisecting 2-means
groupings of pilot-estimated action kernels, scored with their pilot-estimated
dissimilarity; that pilot samples every (state, action), so its cost grows with
``|A|`` (the notes' fallback when no decomposition is known).

Speed: the sampler reads the ``P`` row of each sampled action in place, in two
passes per (state, group) (uniforms and actions, then rows prefetched a few draws
ahead), with a branchless inverse CDF; at ``|A| = 10^5`` the rows live in an 80 MB
array, so each draw is a cache miss and the time per draw still grows somewhat
with ``|A|`` although the operation count does not (benchmarks/grouping.py).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from mdplab.algorithms.objectives import EXPECTED_RETURN, _tabular_optimum, _tabular_value
from mdplab.algorithms.protocol import PolicyLearner, Snapshot, check_integer
from mdplab.kernels.prefetch import PREFETCH_ROWS, prefetch
from mdplab.kernels.rng import next_double, seed_state, stream_seeds
from mdplab.kernels.sampling import cdf_search
from mdplab.models.grouped import GroupedMDP, group_by_coefficients, singleton_groups
from mdplab.models.tabular import TabularMDP

__all__ = [
    "GroupedVI",
    "GroupedVIResult",
    "GroupingSelection",
    "UngroupedVI",
    "grouped_learning_bound",
    "learn_grouped",
    "select_grouping",
]

# The expected-return objective learns GroupedMDPs as their original MDP: the
# optimum is V*_M(d0) and a policy (an action policy of M, e.g. a lifted one) is
# evaluated exactly in M.
EXPECTED_RETURN.register(GroupedMDP, lambda g: _tabular_optimum(g.mdp),
                         lambda g, pi: _tabular_value(g.mdp, pi))

_KIND = {"uniform": 0, "representative": 1, "given": 2}


# ------------------------------------------------------------------ kernels
@njit(cache=True, parallel=True)
def _grouped_counts(P, Pflat, indptr, indices, data, sparse, R, Rflat, W, order, starts, kind,
                    reps, ns, bernoulli, seeds):
    """Prefix counts of ``s'`` and reward sums from ``ns[-1]`` draws per (s, m).

    Per draw: one uniform for ``a ~ nu(.|s,m)`` (uniform: ``order[lo + floor(u k)]``;
    representative: ``reps[m]``; given: inverse CDF of the group's weights), one for a
    Bernoulli reward if asked, one for ``s' ~ P(.|s,a)`` (inverse CDF of the row, read
    in place). Pair ``(s, m)`` owns stream ``seeds[s * M + m]`` (as
    :func:`mdplab.models.grouped.sample_grouped_model`), so outputs do not depend on
    the thread count. ``counts[c]``, ``rsum[c]`` hold the first ``ns[c]`` draws.
    Two passes per pair: the uniforms and actions first, then the rows of ``P`` and
    ``R``, prefetched a few draws ahead (on a large ``|A|`` every row is a cache miss).
    """
    S = R.shape[0]
    A = R.shape[1]
    M = starts.shape[0] - 1
    C = ns.shape[0]
    nmax = ns[C - 1]
    counts = np.zeros((C, S, M, S))
    rsum = np.zeros((C, S, M))
    ahead = 2 * PREFETCH_ROWS
    for r in prange(S * M):
        s = r // M
        m = r - s * M
        lo = starts[m]
        k = starts[m + 1] - lo
        nk = k if kind == 2 else 1
        cdf_a = np.empty(nk)
        fallback = nk - 1
        if kind == 2:
            c = 0.0
            for i in range(k):
                wi = W[s, order[lo + i]]
                c += wi
                cdf_a[i] = c
                if wi > 0.0:
                    fallback = i
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[r], st)
        acts = np.empty(nmax, dtype=np.int64)
        ur = np.empty(nmax if bernoulli else 1)
        us = np.empty(nmax)
        for i in range(nmax):
            u = next_double(st)
            if kind == 0:
                idx = int(u * k)
                if idx >= k:
                    idx = k - 1
                a = order[lo + idx]
            elif kind == 1:
                a = reps[m]
            else:
                a = order[lo + cdf_search(cdf_a, k, u, fallback)]
            acts[i] = a
            if bernoulli:
                ur[i] = next_double(st)
            us[i] = next_double(st)
        row = np.zeros(S)
        total = 0.0
        j = 0
        for i in range(nmax):
            if i + ahead < nmax:
                an = acts[i + ahead]
                prefetch(Rflat, s * A + an)
                if not sparse:
                    prefetch(Pflat, (s * A + an) * S)
                    prefetch(Pflat, (s * A + an) * S + S - 1)
            a = acts[i]
            if bernoulli:
                if ur[i] < R[s, a]:
                    total += 1.0
            else:
                total += R[s, a]
            u2 = us[i]
            acc = 0.0
            s2 = -1
            last = 0
            if sparse:
                rr = s * A + a
                for e in range(indptr[rr], indptr[rr + 1]):
                    p = data[e]
                    if p > 0.0:
                        last = indices[e]
                        acc += p
                        if u2 < acc:
                            s2 = indices[e]
                            break
            else:
                # branchless inverse CDF: s2 = #{t : cdf_t <= u2}, the first t with
                # u2 < cdf_t (never a zero-probability t); s2 = S means u2 >= cdf_{S-1}
                cnt = 0
                for t in range(S):
                    acc += P[s, a, t]
                    cnt += acc <= u2
                if cnt < S:
                    s2 = cnt
                else:
                    for t in range(S):
                        if P[s, a, t] > 0.0:
                            last = t
            if s2 < 0:
                s2 = last
            row[s2] += 1.0
            while j < C and ns[j] == i + 1:
                for t in range(S):
                    counts[j, s, m, t] = row[t]
                rsum[j, s, m] = total
                j += 1
    return counts, rsum


@njit(cache=True)
def _vi_sweeps(P, R, gamma, T):
    """``T`` sweeps ``V <- max_m R + gamma P V`` from 0 on a dense ``(S, M, S)`` model.

    Returns the greedy policy of ``V_{T-1}`` (lowest index on ties), ``Q_T``, ``V_T``
    and ``||V_T - V_{T-1}||_inf``. Not :func:`mdplab.kernels.bellman.q_backup_dense`:
    that kernel reassociates sums (fastmath) and runs in prange, while this one is
    called inside the learner's parallel loop and keeps plain left-to-right sums.
    """
    S, M, _ = P.shape
    V = np.zeros(S)
    Vn = np.zeros(S)
    Q = np.zeros((S, M))
    pol = np.zeros(S, dtype=np.int64)
    diff = 0.0
    for _ in range(T):
        diff = 0.0
        for s in range(S):
            best = -np.inf
            arg = 0
            for m in range(M):
                acc = 0.0
                for t in range(S):
                    acc += P[s, m, t] * V[t]
                q = R[s, m] + gamma * acc
                Q[s, m] = q
                if q > best:
                    best = q
                    arg = m
            Vn[s] = best
            pol[s] = arg
            d = abs(best - V[s])
            if d > diff:
                diff = d
        for s in range(S):
            V[s] = Vn[s]
    return pol, Q, V, diff


@njit(cache=True, parallel=True)
def _pair_draws(P, R, states, actions, n, seeds):
    """Empirical rows and mean rewards of ``n`` draws at each given (s, a) pair."""
    L = states.shape[0]
    S = P.shape[2]
    out = np.zeros((L, S))
    rew = np.zeros(L)
    for i in prange(L):
        s = states[i]
        a = actions[i]
        st = np.empty(4, dtype=np.uint64)
        seed_state(seeds[i], st)
        for _ in range(n):
            u = next_double(st)
            acc = 0.0
            s2 = -1
            last = 0
            for t in range(S):
                p = P[s, a, t]
                if p > 0.0:
                    last = t
                    acc += p
                    if u < acc:
                        s2 = t
                        break
            if s2 < 0:
                s2 = last
            out[i, s2] += 1.0
        for t in range(S):
            out[i, t] /= n
        rew[i] = R[s, a]
    return out, rew


# ------------------------------------------------------------------ helpers
def _as_grouped(model, groups, nu) -> GroupedMDP:
    if isinstance(model, GroupedMDP):
        if groups is None:
            return model
        return GroupedMDP(model.mdp, groups, nu)
    if not isinstance(model, TabularMDP):
        raise TypeError(f"expected a GroupedMDP or a TabularMDP; got {type(model).__name__}")
    if groups is None:
        raise ValueError("groups is required to learn a TabularMDP with grouped-vi "
                         "(or pass a GroupedMDP, which carries its grouping)")
    return GroupedMDP(model, groups, nu)


def _require_discounted(mdp: TabularMDP, who: str) -> None:
    if not mdp.discounted:
        raise ValueError(f"{who} is the discounted algorithm of note 1.3 (value-iteration "
                         f"sweeps); got a finite-horizon model (horizon {mdp.horizon})")
    if not mdp.transitions_stationary:
        raise ValueError(f"{who} needs stationary transitions")


def _reward_scales(mdp: TabularMDP, bernoulli: bool) -> tuple[float, float]:
    R = mdp.R
    lo, hi = float(R.min()), float(R.max())
    if bernoulli:
        lo, hi = min(lo, 0.0), max(hi, 1.0)
    return hi - lo, max(abs(lo), abs(hi))


def _default_iterations(gamma: float, r_max: float, tol: float) -> int:
    """Smallest ``T`` with ``C(T) = 2 gamma^T r_max / (1-gamma)^2 <= tol``."""
    if r_max <= 0 or gamma == 0:
        return 1
    need = math.log(tol * (1 - gamma) ** 2 / (2 * r_max)) / math.log(gamma)
    return max(1, math.ceil(need))


def _reps(grouped: GroupedMDP) -> np.ndarray:
    """The representative action of each group (point-mass ``nu``)."""
    w = grouped._weights[0, 0]
    order, starts = grouped._order, grouped._starts
    vals = w[order]
    # index of the (unique) positive weight in each group's slice
    pos = np.flatnonzero(vals > 0)
    grp = np.searchsorted(starts, pos, side="right") - 1
    reps = np.zeros(grouped.n_groups, dtype=np.int64)
    reps[grp] = order[pos]
    return reps


def _draw_counts(grouped: GroupedMDP, ns: np.ndarray, seed, bernoulli: bool):
    mdp = grouped.mdp
    R = np.ascontiguousarray(mdp.R, dtype=np.float64)
    if bernoulli and ((R < 0) | (R > 1)).any():
        raise ValueError("reward_noise='bernoulli' needs every mean reward in [0, 1]")
    kind = _KIND[grouped.nu_kind]
    reps = _reps(grouped) if kind == 1 else np.zeros(1, dtype=np.int64)
    W = grouped._weights[0]
    if mdp.is_sparse:
        csr = mdp.csr
        P = np.zeros((1, 1, 1))
        indptr = csr.indptr.astype(np.int64)
        indices, data = csr.indices.astype(np.int64), csr.data
        sparse = True
    else:
        P = np.ascontiguousarray(mdp.P, dtype=np.float64)
        indptr = np.zeros(1, dtype=np.int64)
        indices = np.zeros(1, dtype=np.int64)
        data = np.zeros(1)
        sparse = False
    seeds = stream_seeds(seed, mdp.S * grouped.n_groups)
    return _grouped_counts(P, P.reshape(-1), indptr, indices, data, sparse, R, R.reshape(-1), W,
                           grouped._order,
                           grouped._starts, kind, reps, np.asarray(ns, dtype=np.int64),
                           bernoulli, seeds)


@dataclass(frozen=True)
class GroupedVIResult:
    """One run of the grouped learner (:func:`learn_grouped`).

    ``group_policy (S,)``: the greedy group policy; ``q (S, M)``, ``values (S,)``:
    ``Q_T``, ``V_T`` of the empirical grouped model; ``error_bound``: certified
    ``||V_T - V_hat*||_inf``; ``n_per_pair`` (N), ``iterations`` (T); ``samples`` =
    ``S M N`` generative calls; ``operations`` = ``T S^2 M`` multiply-adds;
    ``P_hat (S, M, S)``, ``R_hat (S, M)``: the empirical grouped model.
    """

    group_policy: np.ndarray
    q: np.ndarray
    values: np.ndarray
    error_bound: float
    n_per_pair: int
    iterations: int
    samples: int
    operations: int
    P_hat: np.ndarray = field(repr=False)
    R_hat: np.ndarray = field(repr=False)

    def lifted(self, grouped: GroupedMDP) -> np.ndarray:
        """The policy executed in the original MDP, ``(S, A)`` (``O(S A)`` to build)."""
        return grouped.lift_policy(self.group_policy)


def _plan(P_hat, R_hat, gamma, T, n) -> GroupedVIResult:
    pol, Q, V, diff = _vi_sweeps(P_hat, R_hat, float(gamma), int(T))
    S, M = R_hat.shape
    err = gamma / (1 - gamma) * diff
    return GroupedVIResult(pol, Q, V, float(err), int(n), int(T), int(S * M * n),
                           int(T * S * S * M), P_hat, R_hat)


def learn_grouped(grouped: GroupedMDP, n_per_pair: int, iterations: int | None = None,
                  seed=None, *, reward_noise: str = "none",
                  vi_tol: float = 1e-8) -> GroupedVIResult:
    """The grouped learner once (module docstring): ``N`` draws per (state, group), ``T`` sweeps.

    ``iterations=None`` takes the smallest ``T`` whose iteration term ``C(M, T)`` is at
    most ``vi_tol``. Seed streams as :func:`~mdplab.models.grouped.sample_grouped_model`
    (pair ``(s, m)`` owns stream ``s M + m``); for a representative or a given ``nu``
    the empirical model is the one that function draws with the same seed.
    """
    if not isinstance(grouped, GroupedMDP):
        raise TypeError(f"expected a GroupedMDP; got {type(grouped).__name__}")
    mdp = grouped.mdp
    _require_discounted(mdp, "learn_grouped")
    n = check_integer("n_per_pair", n_per_pair, 1)
    if reward_noise not in ("none", "bernoulli"):
        raise ValueError(f"reward_noise must be 'none' or 'bernoulli'; got {reward_noise!r}")
    bern = reward_noise == "bernoulli"
    if iterations is None:
        T = _default_iterations(mdp.gamma, _reward_scales(mdp, bern)[1], _check_tol(vi_tol))
    else:
        T = check_integer("iterations", iterations, 1)
    counts, rsum = _draw_counts(grouped, np.array([n]), seed, bern)
    return _plan(counts[0] / n, rsum[0] / n, mdp.gamma, T, n)


def _check_tol(vi_tol) -> float:
    if isinstance(vi_tol, bool) or not isinstance(vi_tol, numbers.Real) \
            or not (0 < float(vi_tol) < np.inf):
        raise ValueError(f"vi_tol must be a positive number; got {vi_tol!r}")
    return float(vi_tol)


# ------------------------------------------------------------------ the bound
def grouped_learning_bound(n_states, n_groups, n_per_pair, iterations, gamma, *, eps_P,
                           eps_R, reward_range, reward_max, delta: float = 0.1,
                           leading: float = 2.0, value_span=None) -> dict:
    """The loss bound ``A + E + C`` of the module docstring (note 1.4 [D], constants ours).

    Array arguments broadcast (e.g. a curve over ``n_groups``). ``value_span`` defaults
    to ``reward_range / (1 - gamma)``; ``leading`` is the approximation term's
    constant (any value >= 1 is valid; the note's 2 by default); ``delta`` the failure
    probability. Returns ``{"approximation", "estimation", "iteration", "bound"}``
    (``inf`` where ``n_per_pair`` or ``iterations`` is below 1).
    """
    g = float(gamma)
    if not 0 <= g < 1:
        raise ValueError(f"gamma must be in [0, 1); got {gamma!r}")
    d = float(delta)
    if not 0 < d < 1:
        raise ValueError(f"delta must be in (0, 1); got {delta!r}")
    if float(leading) <= 0:
        raise ValueError(f"leading must be > 0; got {leading!r}")
    S = float(n_states)
    M = np.asarray(n_groups, dtype=float)
    N = np.asarray(n_per_pair, dtype=float)
    T = np.asarray(iterations, dtype=float)
    rho = float(reward_range)
    span = rho / (1 - g) if value_span is None else float(value_span)
    eP, eR = np.asarray(eps_P, dtype=float), np.asarray(eps_R, dtype=float)
    approx = float(leading) / (1 - g) * (eR + g * span * eP / 2)
    log_term = np.log(4 * S * M / d)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = 2 / (1 - g) * (rho * np.sqrt(log_term / (2 * N))
                             + g * span * np.sqrt(2 * (S * math.log(2) + log_term) / N) / 2)
    est = np.where(N >= 1, est, np.inf)
    it = np.where(T >= 1, 2 * g ** np.maximum(T, 0) * float(reward_max) / (1 - g) ** 2, np.inf)
    total = approx + est + it
    return {"approximation": approx, "estimation": est, "iteration": it, "bound": total}


def bound_for(grouped: GroupedMDP, n_per_pair, iterations, *, delta=0.1, leading=2.0,
              reward_noise="none") -> dict:
    """:func:`grouped_learning_bound` with the exact dissimilarity of ``grouped``."""
    mdp = grouped.mdp
    dis = grouped.dissimilarity()
    rho, rmax = _reward_scales(mdp, reward_noise == "bernoulli")
    return grouped_learning_bound(mdp.S, grouped.n_groups, n_per_pair, iterations, mdp.gamma,
                                  eps_P=dis.eps_P, eps_R=dis.eps_R, reward_range=rho,
                                  reward_max=rmax, delta=delta, leading=leading)


# ------------------------------------------------------------------ learners
def _check_groups_arg(groups):
    if groups is None:
        return None
    arr = np.asarray(groups)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
        raise ValueError(f"groups must be a 1-D integer array of group labels (one per "
                         f"action); got {arr.dtype} array of shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"groups must label every action with a group 0..M-1; "
                         f"groups[{int(np.argmin(arr))}] = {arr.min()}")
    return arr.astype(np.int64)


class GroupedVI(PolicyLearner):
    """The grouped learner on the generative protocol (module docstring, note 1.3).

    Learns on a :class:`~mdplab.models.GroupedMDP` (its grouping and ``nu`` are the
    domain knowledge), or on a discounted :class:`~mdplab.models.TabularMDP` with
    ``groups=`` (and ``nu=``). At a checkpoint of ``b`` samples it uses
    ``N = b // (S M)`` draws per (state, group) (the first ``N`` of one stream, so
    checkpoints are nested), ``T`` VI sweeps (``iterations``; default: the smallest
    ``T`` with iteration term ``<= vi_tol``) and outputs the lifted greedy policy; the
    protocol scores ``V*(d0) - V^{lift}(d0)`` exactly in the original MDP. Before
    ``b >= S M`` it outputs the lift of the uniform group policy (``per_pair = 0``).
    A budget below one sample per (state, group) is refused.

    Extras per checkpoint: ``per_pair`` (N), ``iterations`` (T), ``vi_error``
    (certified), ``operations`` (T S^2 M) and ``model_l1`` (``max ||P_hat - P_g||_1``).
    """

    name = "grouped-vi"
    model_class = (GroupedMDP, TabularMDP)
    guarantee = "generative"
    check_budget = 1200
    invalid_kwargs = (({"iterations": 0}, "iterations"), ({"reward_noise": "x"}, "reward_noise"),
                      ({"vi_tol": -1.0}, "vi_tol"), ({"groups": [0.5, 1.0]}, "groups"),
                      ({"groups": [0, -1]}, "groups"))

    def __init__(self, groups=None, nu="uniform", *, iterations: int | None = None,
                 reward_noise: str = "none", vi_tol: float = 1e-8):
        self.groups = _check_groups_arg(groups)
        self.nu = nu
        self.iterations = None if iterations is None else check_integer("iterations",
                                                                        iterations, 1)
        if reward_noise not in ("none", "bernoulli"):
            raise ValueError(f"reward_noise must be 'none' or 'bernoulli'; got {reward_noise!r}")
        self.reward_noise = reward_noise
        self.vi_tol = _check_tol(vi_tol)

    def params(self) -> dict:
        return {"iterations": self.iterations, "reward_noise": self.reward_noise}

    @classmethod
    def check_models(cls):
        from mdplab.envs.grouped import action_similar_mdp

        inst = action_similar_mdp(3, 4, seed=1, gamma=0.8)
        # first: singleton groups (no approximation floor, so the loss falls to 0)
        return [("singletons", GroupedMDP(inst.mdp, singleton_groups(4))),
                ("action-similar", inst.grouped(2)),
                ("representative", inst.grouped(2, nu="representative"))]

    def grouped_model(self, model) -> GroupedMDP:
        return _as_grouped(model, self.groups, self.nu)

    def check_model(self, model) -> None:
        g = self.grouped_model(model)
        _require_discounted(g.mdp, self.name)

    def policies(self, model, budget, checkpoints, seed):
        grouped = self.grouped_model(model)
        mdp = grouped.mdp
        S, M = mdp.S, grouped.n_groups
        if budget < S * M:
            raise ValueError(f"budget of {budget} samples is smaller than one sample per "
                             f"(state, group): |S| M = {S} * {M} = {S * M}")
        bern = self.reward_noise == "bernoulli"
        T = self.iterations or _default_iterations(mdp.gamma, _reward_scales(mdp, bern)[1],
                                                   self.vi_tol)
        per = np.asarray(checkpoints, dtype=np.int64) // (S * M)
        ns = np.unique(per[per > 0])
        counts, rsum = _draw_counts(grouped, ns, seed, bern)
        Pg = grouped.grouped_mdp().P
        uniform = np.full((S, M), 1.0 / M)
        last_n, snap = -1, None
        for n in per:
            n = int(n)
            if n == 0:
                yield Snapshot(grouped.lift_policy(uniform), used=0,
                               extras={"per_pair": 0, "iterations": 0, "vi_error": np.inf,
                                       "operations": 0, "model_l1": 2.0})
                continue
            if n != last_n:
                c = int(np.searchsorted(ns, n))
                res = _plan(counts[c] / n, rsum[c] / n, mdp.gamma, T, n)
                l1 = float(np.abs(res.P_hat - Pg).sum(-1).max())
                snap = Snapshot(res.lifted(grouped), used=res.samples,
                                extras={"per_pair": n, "iterations": T,
                                        "vi_error": res.error_bound,
                                        "operations": res.operations, "model_l1": l1})
                last_n = n
            yield snap


class UngroupedVI(GroupedVI):
    """The baseline ``M = |A|``: model-based RL with a generative model (``ungrouped-vi``).

    Learns on a TabularMDP or a GroupedMDP (whose grouping it ignores); ``N = b // (S A)``
    draws per (state, action), ``T`` VI sweeps, greedy policy.
    """

    name = "ungrouped-vi"
    invalid_kwargs = (({"iterations": 0}, "iterations"), ({"reward_noise": "x"}, "reward_noise"),
                      ({"vi_tol": -1.0}, "vi_tol"))

    def __init__(self, *, iterations: int | None = None, reward_noise: str = "none",
                 vi_tol: float = 1e-8):
        super().__init__(None, "uniform", iterations=iterations, reward_noise=reward_noise,
                         vi_tol=vi_tol)

    @classmethod
    def check_models(cls):
        from mdplab.envs.grouped import action_similar_mdp

        return [("action-similar", action_similar_mdp(3, 4, seed=1, gamma=0.8).mdp)]

    def grouped_model(self, model) -> GroupedMDP:
        mdp = model.mdp if isinstance(model, GroupedMDP) else model
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"expected a TabularMDP or a GroupedMDP; got {type(model).__name__}")
        return GroupedMDP(mdp, singleton_groups(mdp.A))


# ------------------------------------------------------------------ selection
@dataclass(frozen=True)
class GroupingSelection:
    """What :func:`select_grouping` chose, and the bound curve it minimised.

    ``groups`` (A,) the chosen grouping (one of the candidates), ``n_bins`` its cells
    per coefficient axis, ``n_groups`` its non-empty groups, ``n_per_pair`` (N),
    ``iterations`` (T) and ``bound`` the bound at exactly these (its planned value, at
    ``n_bins^K`` groups, is ``curve["bound"][argmin]``). ``curve``: arrays over the
    candidates (``n_bins``, ``n_groups`` (planned, ``n_bins^K`` capped at A),
    ``n_per_pair``, ``iterations``, ``approximation``, ``estimation``, ``iteration``,
    ``bound``). ``pilot_samples``: generative calls of the pilot; ``bound_evaluations``:
    candidates scored; ``slopes``: the estimated ``(c_P, c_R)``; ``learning_budget``:
    the sample budget left after the pilot.
    """

    groups: np.ndarray
    n_bins: int
    n_groups: int
    n_per_pair: int
    iterations: int
    bound: float
    curve: dict
    pilot_samples: int
    bound_evaluations: int
    slopes: tuple
    learning_budget: int

    def grouped(self, model, nu="uniform") -> GroupedMDP:
        mdp = model.mdp if isinstance(model, GroupedMDP) else model
        return GroupedMDP(mdp, self.groups, nu)


def candidate_bins(n_groups_max: int, K: int, candidates: str = "dyadic") -> np.ndarray:
    """Cells per axis of the candidate family: ``1, 2, 4, ...`` (nested) or ``1, 2, 3, ...``."""
    top = max(1, int(math.floor(n_groups_max ** (1.0 / K) + 1e-9)))
    if candidates == "dyadic":
        return 2 ** np.arange(int(math.floor(math.log2(top))) + 1)
    if candidates == "all":
        return np.arange(1, top + 1)
    raise ValueError(f"candidates must be 'dyadic' (nested) or 'all'; got {candidates!r}")


def select_grouping(model, coefficients, sample_budget: int, compute_budget: int | None = None,
                    *, n_groups_max: int | None = None, bounds=(-1.0, 1.0),
                    candidates: str = "dyadic", pilot_samples: int | None = None, slopes=None,
                    delta: float = 0.1, leading: float = 2.0, vi_tol: float = 1e-8,
                    seed=None) -> GroupingSelection:
    """Choose (grouping, N, T) minimising the loss bound under the budgets (note 1.5, [D]).

    Parameters
    ----------
    model : TabularMDP or GroupedMDP
        The discounted MDP (its generative model is sampled for the pilot).
    coefficients : array_like (A,) or (A, K), or None
        The actions' coefficients ``w_a`` (domain knowledge: the linear decomposition).
        None: no decomposition is known, and the candidates are nested bisecting
        k-means groupings of pilot-estimated action kernels (:func:`_select_kmeans`;
        that pilot draws ``pilot_samples`` at every (state, action), ``S A`` pairs: the
        one route whose cost grows with ``|A|``).
    sample_budget : int
        ``B_s``: generative calls in all (pilot included); learning then uses
        ``N = (B_s - pilot) // (S M)`` per (state, group).
    compute_budget : int, optional
        ``B_c``: multiply-adds of value iteration, ``T = B_c // (S^2 M)``; default: no
        limit (``T`` with iteration term ``<= vi_tol``).
    n_groups_max : int, optional
        Largest candidate ``M`` (default ``A``).
    bounds : (low, high) or None
        The coefficient box cut into cells (default ``[-1, 1]``, that of
        :func:`~mdplab.envs.grouped.action_similar_mdp`); None: the data range.
    candidates : {"dyadic", "all"}
        ``2^j`` cells per axis (nested groupings, the default) or every count.
    pilot_samples : int, optional
        Draws per probed (state, action) (default: ``min(200, B_s / (20 K S))``, at most
        a tenth of the budget): the pilot probes the two extreme-coefficient
        actions of each axis at every state (``2 K S pilot_samples`` calls) and
        estimates the slopes ``c_P = max ||P_hat(.|s,a) - P_hat(.|s,b)||_1 / ||w_a -
        w_b||_1`` and ``c_R`` (the same for rewards), so that a cell of width ``h``
        has ``eps_P <= c_P K h``, ``eps_R <= c_R K h`` ([D]; noise inflates ``c_P``,
        which keeps it conservative).
    slopes : (c_P, c_R), optional
        Known slopes; skips the pilot.
    delta, leading, vi_tol
        The bound's parameters (:func:`grouped_learning_bound`).

    The search scores each candidate with the bound (``len(curve["bound"])``
    evaluations, ``O(log M_max)`` or ``O(M_max)``); no step of it reads more than the
    ``2K`` probed actions' rows, so its samples and operations do not depend on ``|A|``.
    Only the chosen grouping is labelled (one pass over the coefficients).
    """
    grouped = model if isinstance(model, GroupedMDP) else None
    mdp = model.mdp if grouped is not None else model
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"expected a TabularMDP or a GroupedMDP; got {type(model).__name__}")
    _require_discounted(mdp, "select_grouping")
    if coefficients is None:
        return _select_kmeans(mdp, sample_budget, compute_budget, n_groups_max, pilot_samples,
                              delta, leading, vi_tol, seed)
    w = np.asarray(coefficients, dtype=float)
    if w.ndim == 1:
        w = w[:, None]
    if w.ndim != 2 or w.shape[0] != mdp.A:
        raise ValueError(f"coefficients must have shape ({mdp.A},) or ({mdp.A}, K); "
                         f"got {np.shape(coefficients)}")
    if not np.isfinite(w).all():
        raise ValueError("coefficients must be finite")
    S, A, K = mdp.S, mdp.A, w.shape[1]
    B = check_integer("sample_budget", sample_budget, 1)
    Bc = None if compute_budget is None else check_integer("compute_budget", compute_budget, 1)
    Mmax = A if n_groups_max is None else check_integer("n_groups_max", n_groups_max, 1)
    Mmax = min(Mmax, A)
    tol = _check_tol(vi_tol)
    rho, rmax = _reward_scales(mdp, False)
    if bounds is None:
        lo, hi = w.min(axis=0), w.max(axis=0)
        width0 = np.where(hi > lo, hi - lo, 1.0)
    else:
        lo_b, hi_b = (float(b) for b in bounds)
        if not lo_b < hi_b:
            raise ValueError(f"bounds must be (low, high) with low < high; got {bounds!r}")
        width0 = np.full(K, hi_b - lo_b)
    # ---- pilot: the slopes of P and R in the coefficients
    used = 0
    if slopes is None:
        if pilot_samples is None:  # at most 10% of the budget, at most 200 per pair
            n_pilot = max(1, min(200, B // (20 * K * S)))
        else:
            n_pilot = check_integer("pilot_samples", pilot_samples, 1)
        a_hi, a_lo = np.argmax(w, axis=0), np.argmin(w, axis=0)
        pairs_a = np.concatenate([np.repeat(a_hi, S), np.repeat(a_lo, S)]).astype(np.int64)
        pairs_s = np.tile(np.arange(S, dtype=np.int64), 2 * K)
        if mdp.is_sparse:
            raise ValueError("select_grouping's pilot needs a dense model (or pass slopes=)")
        P = np.ascontiguousarray(mdp.P, dtype=np.float64)
        R = np.ascontiguousarray(mdp.R, dtype=np.float64)
        rows, rew = _pair_draws(P, R, pairs_s, pairs_a, n_pilot,
                                stream_seeds(seed, pairs_s.size))
        used = int(pairs_s.size * n_pilot)
        rows = rows.reshape(2, K, S, S)
        rew = rew.reshape(2, K, S)
        dw = np.abs(w[a_hi] - w[a_lo]).sum(axis=1)  # (K,) L1 distance of the probed pairs
        dw = np.where(dw > 0, dw, np.inf)
        cP = float((np.abs(rows[0] - rows[1]).sum(-1).max(axis=1) / dw).max())
        cR = float((np.abs(rew[0] - rew[1]).max(axis=1) / dw).max())
    else:
        cP, cR = (float(x) for x in slopes)
        if not (cP >= 0 and cR >= 0):
            raise ValueError(f"slopes must be two numbers >= 0; got {slopes!r}")
    learn = B - used
    if learn < S:
        raise ValueError(f"sample_budget of {B} leaves {learn} samples after the pilot "
                         f"({used}): smaller than one sample per (state, group) even at M = 1")
    # ---- the bound over the candidate family
    bins = candidate_bins(Mmax, K, candidates)
    M_plan = np.minimum(bins.astype(float) ** K, A)
    width = (width0[None, :] / bins[:, None]).sum(axis=1)  # L1 radius bound of a cell
    if A == 1:
        width = np.zeros_like(width)
    N = np.floor(learn / (S * M_plan))
    if Bc is None:
        T = np.full(bins.size, float(_default_iterations(mdp.gamma, rmax, tol)))
    else:
        T = np.floor(Bc / (S * S * M_plan))
    terms = grouped_learning_bound(S, M_plan, N, T, mdp.gamma, eps_P=cP * width,
                                   eps_R=cR * width, reward_range=rho, reward_max=rmax,
                                   delta=delta, leading=leading)
    bound = terms["bound"]
    if not np.isfinite(bound).any():
        raise ValueError(f"no candidate fits the budgets: sample_budget {B} (after the pilot "
                         f"{learn}) and compute_budget {Bc} allow no N >= 1 and T >= 1")
    i = int(np.argmin(bound))
    groups = group_by_coefficients(w, int(bins[i]),
                                   bounds=None if bounds is None else (lo_b, hi_b))
    M = int(groups.max()) + 1
    n_final = int(learn // (S * M))
    T_final = int(T[i]) if Bc is None else int(Bc // (S * S * M))
    # Empty cells make the returned grouping coarser than planned (M <= bins^K), with a
    # larger N: report the bound of what is returned, not of the planned point (O(1)).
    final = grouped_learning_bound(S, M, n_final, T_final, mdp.gamma, eps_P=cP * width[i],
                                   eps_R=cR * width[i], reward_range=rho, reward_max=rmax,
                                   delta=delta, leading=leading)
    curve = {"n_bins": bins, "n_groups": M_plan.astype(np.int64), "n_per_pair": N.astype(np.int64),
             "iterations": T.astype(np.int64), **terms}
    return GroupingSelection(groups, int(bins[i]), M, n_final, T_final,
                             float(final["bound"]), curve, used, int(bins.size), (cP, cR),
                             int(learn))


def _bisecting_chain(feats: np.ndarray, sizes: list[int], seed) -> dict[int, np.ndarray]:
    """Nested groupings of the rows of ``feats``: split the group of largest spread in two
    (2-means) until each size in ``sizes`` is reached; ``{M: labels}``."""
    import warnings

    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(seed)
    A = feats.shape[0]
    labels = np.zeros(A, dtype=np.int64)
    out = {}
    M = 1
    target = sorted(set(sizes))
    if 1 in target:
        out[1] = labels.copy()
    while M < target[-1]:
        spread = np.full(M, -1.0)
        for m in range(M):
            idx = np.flatnonzero(labels == m)
            if idx.size > 1:
                x = feats[idx]
                spread[m] = float(np.abs(x - x.mean(axis=0)).sum(axis=1).max())
        m = int(np.argmax(spread))
        if spread[m] <= 0:  # every group is a singleton or made of identical actions
            break
        idx = np.flatnonzero(labels == m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _, lab = kmeans2(feats[idx], 2, iter=20, minit="++", rng=rng)
        if lab.min() == lab.max():  # degenerate split: cut at the median of the top axis
            x = feats[idx]
            ax = int(np.argmax(x.max(axis=0) - x.min(axis=0)))
            lab = (x[:, ax] > np.median(x[:, ax])).astype(np.int64)
            if lab.min() == lab.max():
                lab = np.zeros(idx.size, dtype=np.int64)
                lab[idx.size // 2:] = 1
        labels[idx[lab == 1]] = M
        M += 1
        if M in target:
            out[M] = labels.copy()
    return out


def _select_kmeans(mdp, sample_budget, compute_budget, n_groups_max, pilot_samples, delta,
                   leading, vi_tol, seed) -> GroupingSelection:
    """:func:`select_grouping` without coefficients ([D]): pilot ``n`` draws at every
    (state, action), features ``(P_hat(.|s,a), R(s,a))_s``, nested bisecting 2-means
    candidates at ``M = 1, 2, 4, ...``, each scored by the bound with its pilot-estimated
    dissimilarity (``max ||P_hat_a - mean of its group||_1``, inflated by pilot noise,
    hence conservative)."""
    S, A = mdp.S, mdp.A
    B = check_integer("sample_budget", sample_budget, 1)
    Bc = None if compute_budget is None else check_integer("compute_budget", compute_budget, 1)
    Mmax = min(A, A if n_groups_max is None else check_integer("n_groups_max", n_groups_max, 1))
    tol = _check_tol(vi_tol)
    if mdp.is_sparse:
        raise ValueError("select_grouping's pilot needs a dense model")
    if pilot_samples is None:
        n_pilot = max(1, min(200, B // (10 * S * A)))
    else:
        n_pilot = check_integer("pilot_samples", pilot_samples, 1)
    used = S * A * n_pilot
    learn = B - used
    if learn < S:
        raise ValueError(f"sample_budget of {B} leaves {learn} samples after the k-means pilot "
                         f"({used} = S A n): smaller than one sample per (state, group)")
    P = np.ascontiguousarray(mdp.P, dtype=np.float64)
    R = np.ascontiguousarray(mdp.R, dtype=np.float64)
    ss = np.repeat(np.arange(S, dtype=np.int64), A)
    aa = np.tile(np.arange(A, dtype=np.int64), S)
    rows, rew = _pair_draws(P, R, ss, aa, n_pilot, stream_seeds(seed, S * A))
    Ph = rows.reshape(S, A, S)
    Rh = rew.reshape(S, A)
    feats = np.concatenate([np.moveaxis(Ph, 1, 0).reshape(A, -1), Rh.T], axis=1)
    sizes = [int(x) for x in 2 ** np.arange(int(math.floor(math.log2(Mmax))) + 1)]
    chain = _bisecting_chain(feats, sizes, seed)
    Ms = np.array(sorted(chain), dtype=np.int64)
    eP = np.zeros(Ms.size)
    eR = np.zeros(Ms.size)
    for i, M in enumerate(Ms):
        lab = chain[int(M)]
        cnt = np.bincount(lab, minlength=M).astype(float)
        meanP = np.zeros((S, M, S))
        np.add.at(meanP, (slice(None), lab), Ph)
        meanP /= cnt[None, :, None]
        meanR = np.zeros((S, M))
        np.add.at(meanR, (slice(None), lab), Rh)
        meanR /= cnt[None, :]
        eP[i] = float(np.abs(Ph - meanP[:, lab]).sum(-1).max())
        eR[i] = float(np.abs(Rh - meanR[:, lab]).max())
    rho, rmax = _reward_scales(mdp, False)
    N = np.floor(learn / (S * Ms))
    if Bc is None:
        T = np.full(Ms.size, float(_default_iterations(mdp.gamma, rmax, tol)))
    else:
        T = np.floor(Bc / (S * S * Ms))
    terms = grouped_learning_bound(S, Ms, N, T, mdp.gamma, eps_P=eP, eps_R=eR, reward_range=rho,
                                   reward_max=rmax, delta=delta, leading=leading)
    bound = terms["bound"]
    if not np.isfinite(bound).any():
        raise ValueError(f"no candidate fits the budgets: sample_budget {B} (after the pilot "
                         f"{learn}) and compute_budget {Bc} allow no N >= 1 and T >= 1")
    i = int(np.argmin(bound))
    M = int(Ms[i])
    curve = {"n_bins": Ms, "n_groups": Ms, "n_per_pair": N.astype(np.int64),
             "iterations": T.astype(np.int64), "eps_P": eP, "eps_R": eR, **terms}
    return GroupingSelection(chain[M], M, M, int(learn // (S * M)), int(T[i]), float(bound[i]),
                             curve, int(used), int(Ms.size), (float("nan"), float("nan")),
                             int(learn))

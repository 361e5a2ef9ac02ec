"""Learning PSRs and POMDPs: UCB-PSR (online exploration), PSR-LCB (offline), OMLE.

All three are PAC learners on a finite-horizon :class:`~mdplab.models.POMDP`
(``guarantee = "pac"``): after ``b`` episodes they output a model ``theta_hat``
and a history-dependent policy ``pi_hat`` optimal in it; the protocol scores
``J*(theta*) - J^{pi_hat}(theta*)`` exactly (the optimum and the value are
recursions over the history tree, :mod:`mdplab.planning.psr`), and each
checkpoint also stores ``tv_error = max_pi TV(P^pi_theta_hat, P^pi_theta*)``,
the exact model error (itself a planning problem over histories).

**UCB-PSR** (Huang, Liang, Yang, "Provably efficient UCB-type algorithms for
learning predictive state representations", ICLR 2024, Algorithm 1). Each
iteration ``k`` plays ``H`` episodes: for ``h = 0..H-1``, roll in with the
current policy ``pi^{k-1}`` for ``h`` steps, then play an action sequence
drawn uniformly from ``(A x Q^A) u Q^A`` (one action then a core-action
sequence, or a core-action sequence; ``Q^A`` are the core action sequences of
the current estimate's PSR, :attr:`~mdplab.models.PSR.core_action_sequences`),
then uniform actions; the episode goes into ``D_h``. Then

* ``theta^k`` = the ``p_min``-constrained MLE over the model class on all
  episodes (the policy factor of ``P^pi_theta(tau)`` does not depend on
  ``theta``, so it drops out);
* ``U_h = lambda I + sum_{tau in D_h} psi_bar(tau_h) psi_bar(tau_h)^T`` with
  ``psi_bar`` the normalised predictive state of ``theta^k``'s PSR
  (:meth:`~mdplab.models.PSR.from_pomdp`) after the length-``h`` prefix;
* the trajectory bonus ``b(tau) = min(alpha sqrt(sum_{h<H}
  ||psi_bar(tau_h)||^2_{U_h^-1}), 1)``;
* ``pi^k = argmax_pi E^pi_{theta^k}[b(tau)]`` over history-dependent policies,
  exactly (:func:`~mdplab.planning.psr.maximize_over_histories` with weights
  ``P_theta^k(tau) b(tau)``; the bonus is not additive).

Output: ``theta^k`` and its optimal policy for the task reward.

Theorem (online; paper Thm. 1, as reconstructed in the research note
``papers/cvar_psr_horizonfree.md`` section 2.3): for a gamma-well-conditioned
PSR class of rank ``r`` with ``Q_A`` core action sequences, with probability
``1 - delta`` ``max_pi TV(P^pi_theta^K, P^pi_theta*) <= eps`` (hence every
reward's planning error is ``<= eps``) after ``K H = poly(r, 1/gamma, |A|,
Q_A, H) * beta / eps^2`` episodes, ``beta = log(bracketing number) +
log(K H / delta)``: the TV error and the suboptimality fall like
``episodes^-1/2``. The key lemma: ``TV(P^pi_theta^k, P^pi_theta*) <=
E^pi_theta^k[b(tau)]`` for every ``pi`` (checked numerically in the tests).

**PSR-LCB** (same paper, Algorithm 2): from ``n`` episodes of a behaviour
policy, the constrained MLE ``theta_hat``, ``U_h`` from every episode's
prefixes and the same bonus; output ``argmax_pi V^pi_{theta_hat,R} -
span * V^pi_{theta_hat,b}`` where ``span = H (max R - min R)`` converts the
TV bound into a bound on the return (the paper's rewards are in [0, 1]).
Bound: ``J*(pi) - J(pi_hat) <= O~(C_pi poly(r, Q_A, H, 1/gamma)
sqrt(beta / n))`` for any comparator ``pi`` covered by the behaviour policy
(concentrability ``C_pi``): rate ``n^-1/2``.

**OMLE** (Liu, Netrapalli, Szepesvari, Jin 2022) on a finite class: the
confidence set ``{theta : log L(theta) >= max log L - beta}`` and joint
optimism ``(theta^k, pi^k) = argmax_{theta in set, pi} V^pi_theta`` by
enumeration (each candidate's optimum is computed once), the same
roll-in/exploration data collection, output the last optimistic pair (the
paper's guarantee is for the mixture of ``pi^1..pi^K``; the last iterate is
what is scored here). Sample complexity ``poly(r, d, A, Q_A, H, 1/gamma) log
|Theta| / eps^2``.

Reconstructed (research note 2.3, marked there): the constants ``alpha``
(default 2: the tests check the key lemma numerically with it), ``lam`` (1)
and ``p_min`` (default ``0.1 / (A O)^H``, the paper's ``delta / (|O|^H
|A|^H)``) and OMLE's ``beta`` (``log |Theta| + log 10``); all are parameters.
The exploration set uses the core action sequences of the *current estimate's*
PSR (the paper assumes the class's ``Q^A`` known; the first iteration explores
uniformly).

Model classes (``models=``):

* ``"line"`` (default): a finite one-parameter family through the truth,
  ``theta(t) = theta* + (2t - 1) c (theta' - theta*)`` on ``n_models`` grid
  points ``t in [0, 1]`` (``theta*`` at ``t = 1/2``, ``theta'`` a random POMDP
  drawn with ``class_seed``, ``c`` per row as large as keeps every row a
  distribution, capped by ``scale``); rewards are the truth's. A parametric
  class: the MLE of ``t`` has error ``n^-1/2`` down to the grid spacing;
* ``"em"``: all POMDPs with the truth's ``S, A, O``, fitted by Baum-Welch EM
  (:class:`mdplab.algorithms.psr_estimation.POMDPClass`, with ``R`` fitted from
  the observed rewards);
* an explicit finite class: a sequence of POMDPs or a ``FiniteModelClass``
  (its ``candidates``); each candidate carries its own ``R``.

Sizes: every iteration enumerates the ``(A O)^H`` histories; ``max_leaves``
(default 200 000) bounds them, with a ``ValueError`` naming the limit. The
tree quantities (predictive states, Gram matrices, bonuses) and the finite
class's likelihoods are whole-level array operations; the episode sampler is
a numba kernel and the history-tree backups are those of
:mod:`mdplab.planning.psr`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from numba import njit

from mdplab.algorithms.objectives import HISTORY_EXPECTED_RETURN
from mdplab.algorithms.protocol import PolicyLearner, Snapshot
from mdplab.kernels.rng import new_state, stream_seeds
from mdplab.kernels.sampling import categorical_dense
from mdplab.models import POMDP, PSR
from mdplab.planning.psr import (
    HistoryPolicy,
    history_probabilities,
    history_rewards,
    max_tv_distance,
    maximize_over_histories,
    optimal_history_policy,
)

__all__ = ["OMLE", "PSRLCB", "UCBPSR", "line_class", "trajectory_bonus"]

DEFAULT_MAX_LEAVES = 200_000


# ------------------------------------------------------------------ tree arrays
# The tree quantities are computed level by level with whole-level array
# operations (no per-node Python loop and nothing to compile); the sampling loop
# is a numba kernel.
def _offsets(AO: int, H: int) -> np.ndarray:
    """``off[h]`` = number of histories shorter than ``h`` (start of level ``h``)."""
    return np.concatenate([[0], np.cumsum(AO ** np.arange(H, dtype=np.int64))]).astype(np.int64)


def tree_states(psi0, M, W, H: int):
    """Normalised predictive states and probabilities of every history of length
    ``< H``: ``states[off[h] + node]`` (node index: digits ``a O + o``, first step
    most significant), ``probs`` likewise; impossible histories get zeros.
    Returns ``(states, probs, off)``."""
    O, A, r = M.shape[0], M.shape[1], M.shape[2]
    AO = A * O
    off = _offsets(AO, H)
    Mt = np.ascontiguousarray(M.transpose(1, 0, 2, 3))          # (A, O, r, r)
    Wt = np.ascontiguousarray(W.transpose(1, 0, 2))             # (A, O, r)
    Y = np.asarray(psi0, dtype=np.float64)[None, :]
    p = np.ones(1)
    levels, plevels = [Y], [p]
    for _ in range(H - 1):
        c = np.einsum("aoj,nj->nao", Wt, Y).reshape(-1)         # Pr(o | h, a)
        Z = np.einsum("aoij,nj->naoi", Mt, Y).reshape(-1, r)
        ok = (np.repeat(p, AO) > 0.0) & (c > 1e-300)
        Y = np.zeros_like(Z)
        Y[ok] = Z[ok] / c[ok, None]
        p = np.where(ok, np.repeat(p, AO) * np.where(ok, c, 0.0), 0.0)
        levels.append(Y)
        plevels.append(p)
    return np.concatenate(levels), np.concatenate(plevels), off


def gram_matrices(states, off, counts, lam: float, H: int) -> np.ndarray:
    """``U_h = lam I + sum_node counts[off[h] + node] y y^T`` for ``h < H``."""
    r = states.shape[1]
    U = np.empty((H, r, r))
    for h in range(H):
        Y = states[off[h]:off[h + 1]]
        c = counts[off[h]:off[h + 1]].astype(np.float64)
        U[h] = lam * np.eye(r) + (Y * c[:, None]).T @ Y
    return U


def bonus_kernel(states, off, Uinv, alpha: float, H: int, AO: int) -> np.ndarray:
    """``b(tau) = min(alpha sqrt(sum_{h<H} y_h^T Uinv_h y_h), 1)`` for every
    length-``H`` history ``tau`` (it depends on the prefix of length ``H - 1``)."""
    cum = np.zeros(1)
    for h in range(H):
        Y = states[off[h]:off[h + 1]]
        q = np.einsum("ni,ij,nj->n", Y, Uinv[h], Y)
        cum = (np.repeat(cum, AO) if h else cum) + q
    return np.repeat(np.minimum(alpha * np.sqrt(np.maximum(cum, 0.0)), 1.0), AO)


@njit(cache=True)
def rollout_kernel(T, Obs, R, b0, H, policy, off, switch, explore, seeds):
    """Episodes in the true POMDP: steps ``t < switch[i]`` follow the
    history-dependent ``policy[off[t] + node]`` (action probabilities), later
    steps play ``explore[i, t]`` (uniform where it is -1). Own stream per episode."""
    n = seeds.shape[0]
    A, O = T.shape[1], Obs.shape[2]
    AO = A * O
    uniform = np.full(A, 1.0 / A)
    actions = np.empty((n, H), dtype=np.int64)
    observations = np.empty((n, H), dtype=np.int64)
    rewards = np.empty((n, H))
    for i in range(n):
        rng = new_state(seeds[i])
        s = categorical_dense(b0, rng)
        node = 0
        for t in range(H):
            if t < switch[i]:
                a = categorical_dense(policy[off[t] + node], rng)
            elif explore[i, t] >= 0:
                a = explore[i, t]
            else:
                a = categorical_dense(uniform, rng)
            rewards[i, t] = R[s, a]
            s = categorical_dense(T[s, a], rng)
            o = categorical_dense(Obs[a, s], rng)
            actions[i, t] = a
            observations[i, t] = o
            node = node * AO + a * O + o
    return actions, observations, rewards


def class_log_likelihoods(Ts, Os, b0s, actions, observations) -> np.ndarray:
    """``out[c, i] = log Pr_c(o_i | do a_i)`` for every candidate ``c`` (stacked
    ``T`` (C, S, A, S), ``O`` (C, A, S, O), ``b0`` (C, S)) and episode ``i``: the
    scaled forward algorithm, vectorised over candidates and episodes."""
    C, S = b0s.shape
    N, H = actions.shape
    b = np.broadcast_to(b0s[:, None, :], (C, N, S)).copy()
    logp = np.zeros((C, N))
    cand = np.arange(C)[:, None]
    for t in range(H):
        a, o = actions[:, t], observations[:, t]
        Ta = Ts[:, :, a, :].transpose(0, 2, 1, 3)                 # (C, N, S, S')
        Oa = Os[cand, a[None, :], :, o[None, :]]                   # (C, N, S')
        nxt = np.einsum("cns,cnst->cnt", b, Ta) * Oa
        tot = nxt.sum(axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            logp += np.log(tot)
            b = np.where(tot[..., None] > 0, nxt / tot[..., None], 0.0)
    return logp


# ------------------------------------------------------------------ helpers
def prefix_indices(actions, observations, h, n_observations, n_actions) -> np.ndarray:
    """Node index (at depth ``h``) of each row's length-``h`` prefix."""
    AO = n_actions * n_observations
    idx = np.zeros(actions.shape[0], dtype=np.int64)
    for t in range(h):
        idx = idx * AO + actions[:, t] * n_observations + observations[:, t]
    return idx


def _psr_arrays(model) -> tuple[np.ndarray, np.ndarray, np.ndarray, PSR]:
    psr = model if isinstance(model, PSR) else PSR.from_pomdp(model)
    return (np.ascontiguousarray(psr.psi0), np.ascontiguousarray(psr.M),
            np.ascontiguousarray(psr.W), psr)


def trajectory_bonus(model, data_by_step, horizon: int, *, alpha: float = 2.0,
                     lam: float = 1.0) -> np.ndarray:
    """The UCB-PSR bonus ``b(tau)`` of every length-``horizon`` history (an array
    ``((A O)^H,)`` in the history-tree order of :mod:`mdplab.planning.psr`).

    ``model``: the estimate (a POMDP, converted with :meth:`PSR.from_pomdp`, or a
    PSR with core tests); ``data_by_step[h] = (actions, observations)`` (each
    ``(N_h, H)``) are the episodes of ``D_h`` (only their length-``h`` prefixes
    enter ``U_h``); a single ``(actions, observations)`` pair is used for every
    ``h`` (the offline bonus of PSR-LCB)."""
    alpha = _check_nonneg(alpha, "alpha")
    lam = _check_positive(lam, "lam")
    H = int(horizon)
    psi0, M, W, _ = _psr_arrays(model)
    O, A = M.shape[0], M.shape[1]
    if isinstance(data_by_step, tuple) and len(data_by_step) == 2 and \
            np.ndim(data_by_step[0]) == 2:
        data_by_step = [data_by_step] * H
    states, _, off = tree_states(psi0, M, W, H)
    counts = _prefix_counts(data_by_step, off, H, A, O)
    return _bonus_from(states, off, counts, alpha, lam, H, A * O)


def _prefix_counts(data_by_step, off, H, A, O) -> np.ndarray:
    counts = np.zeros(off[H], dtype=np.int64)
    for h in range(H):
        acts, obs = data_by_step[h]
        if len(acts) == 0:
            continue
        idx = prefix_indices(np.asarray(acts), np.asarray(obs), h, O, A)
        counts[off[h]:off[h + 1]] += np.bincount(idx, minlength=off[h + 1] - off[h])
    return counts


def _bonus_from(states, off, counts, alpha, lam, H, AO) -> np.ndarray:
    U = gram_matrices(states, off, counts, float(lam), H)
    Uinv = np.ascontiguousarray(np.linalg.inv(U))
    return bonus_kernel(states, off, Uinv, float(alpha), H, AO)


def _check_nonneg(value, name) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value!r}")
    return float(value)


def _check_positive(value, name) -> float:
    v = _check_nonneg(value, name)
    if v == 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")
    return v


def _check_int(value, name, low) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def line_class(pomdp: POMDP, n_models: int = 201, *, scale: float = 1.0,
               seed: int = 0) -> list[POMDP]:
    """The finite one-parameter class ``theta(t)``, ``t`` on ``n_models`` points of
    ``[0, 1]``, through ``theta* = theta(1/2)`` (see the module docstring).

    ``n_models`` must be odd (so the truth is a grid point); rows of ``T`` and
    ``O`` move towards / away from a random POMDP's rows by at most ``scale``
    times their difference, less where a row would leave the simplex."""
    n = _check_int(n_models, "n_models", 1)
    if n % 2 == 0:
        raise ValueError(f"n_models must be odd (the truth is the middle point); got {n}")
    scale = _check_positive(scale, "scale")
    rng = np.random.default_rng(seed)
    S, A, O = pomdp.S, pomdp.A, pomdp.n_observations
    T, Z = np.asarray(pomdp.T), np.asarray(pomdp.O)
    T2 = rng.dirichlet(np.ones(S), size=(S, A))
    Z2 = rng.dirichlet(np.ones(O), size=(A, S))

    def reach(P, Q):
        # largest c <= scale with P - c (Q - P) >= 0 and P + c (Q - P) >= 0 row-wise
        D = Q - P
        with np.errstate(divide="ignore", invalid="ignore"):
            lim = np.where(D > 0, P / D, np.inf)
            lim2 = np.where(D < 0, P / -D, np.inf)
        c = np.minimum(lim.min(axis=-1), lim2.min(axis=-1))
        return np.minimum(c, scale)[..., None] * D

    dT, dZ = reach(T, T2), reach(Z, Z2)
    out = []
    for t in np.linspace(0.0, 1.0, n):
        u = 2.0 * t - 1.0
        if n == 1 or abs(u) < 1e-15:
            out.append(pomdp)
            continue
        Tt = np.clip(T + u * dT, 0.0, None)
        Zt = np.clip(Z + u * dZ, 0.0, None)
        Tt /= Tt.sum(axis=-1, keepdims=True)
        Zt /= Zt.sum(axis=-1, keepdims=True)
        out.append(POMDP(Tt, Zt, pomdp.R, pomdp.b0, horizon=pomdp.horizon,
                         name=f"line(t={t:.3f})"))
    return out


# ------------------------------------------------------------------ model classes
class _Finite:
    """A finite class with the constrained MLE by enumeration (log space)."""

    def __init__(self, candidates: Sequence[POMDP]):
        self.candidates = list(candidates)
        self.totals = np.zeros(len(self.candidates))
        self.mins = np.full(len(self.candidates), np.inf)
        self._cache: dict[int, dict] = {}
        self._stack = None
        S = {c.S for c in self.candidates}
        if len(S) > 1:
            self._stack = False   # ragged state spaces: per-candidate calls


    def add(self, actions, observations) -> None:
        if len(actions) == 0:
            return
        if self._stack is False:
            ll = np.stack([c.log_likelihood(actions, observations) for c in self.candidates])
            self.totals += ll.sum(axis=1)
            self.mins = np.minimum(self.mins, ll.min(axis=1))
            return
        if self._stack is None:
            c0 = self.candidates
            self._stack = (np.ascontiguousarray(np.stack([np.asarray(c.T) for c in c0])),
                           np.ascontiguousarray(np.stack([np.asarray(c.O) for c in c0])),
                           np.ascontiguousarray(np.stack([np.asarray(c.b0) for c in c0])))
        ll = class_log_likelihoods(*self._stack, np.ascontiguousarray(actions, dtype=np.int64),
                                   np.ascontiguousarray(observations, dtype=np.int64))
        # Row sums in a fixed order (kernel rows are summed sequentially).
        self.totals += ll.sum(axis=1)
        self.mins = np.minimum(self.mins, ll.min(axis=1))

    def mle(self, log_p_min: float) -> int:
        feasible = self.mins >= log_p_min
        scores = np.where(feasible, self.totals, -np.inf) if feasible.any() else self.totals
        return int(np.argmax(scores))

    def confidence_set(self, beta: float) -> np.ndarray:
        return np.flatnonzero(self.totals >= self.totals.max() - beta)

    def info(self, i: int, H: int) -> dict:
        """Per-candidate cache: PSR tree, leaf probabilities, optimal policy."""
        if i not in self._cache:
            self._cache[i] = _model_info(self.candidates[i], H)
        return self._cache[i]


def _model_info(model: POMDP, H: int, psr: PSR | None = None) -> dict:
    psi0, M, W, psr = _psr_arrays(model if psr is None else psr)
    states, _, off = tree_states(psi0, M, W, H)
    probs = history_probabilities(model, H)[H]
    return {"model": model, "psr": psr, "states": states, "off": off, "probs": probs,
            "core": psr.core_action_sequences or ((),), "_opt": None}


def _optimal(info: dict, H: int):
    if info["_opt"] is None:
        info["_opt"] = optimal_history_policy(info["model"], H)
    return info["_opt"]


# ------------------------------------------------------------------ learners
class _PSRLearner(PolicyLearner):
    """Shared parts: hyperparameters, the model class, data collection."""

    model_class = POMDP
    guarantee = "pac"
    objective = HISTORY_EXPECTED_RETURN
    check_budget = 48
    invalid_kwargs = (
        ({"alpha": -1.0}, "alpha must be >= 0"),
        ({"lam": 0.0}, "lam must be > 0"),
        ({"p_min": 1.5}, r"p_min must be in \(0, 1\)"),
        ({"max_leaves": 0}, "max_leaves must be an integer >= 1"),
        ({"models": "nope"}, "models must be"),
    )

    def __init__(self, *, models="line", n_models: int = 201, scale: float = 1.0,
                 class_seed: int = 0, alpha: float = 2.0, lam: float = 1.0,
                 p_min: float | None = None, max_leaves: int = DEFAULT_MAX_LEAVES,
                 track_tv: bool = True):
        if isinstance(models, str):
            if models not in ("line", "em"):
                raise ValueError(f"models must be 'line', 'em', a sequence of POMDPs, a "
                                 f"FiniteModelClass or a POMDPClass; got {models!r}")
        elif not (hasattr(models, "candidates") or hasattr(models, "fit")
                  or (isinstance(models, Sequence) and models
                      and all(isinstance(m, POMDP) for m in models))):
            raise ValueError("models must be 'line', 'em', a non-empty sequence of POMDPs, a "
                             f"FiniteModelClass or a POMDPClass; got {type(models).__name__}")
        self.models = models
        self.n_models = _check_int(n_models, "n_models", 1)
        self.scale = _check_positive(scale, "scale")
        self.class_seed = _check_int(class_seed, "class_seed", 0)
        self.alpha = _check_nonneg(alpha, "alpha")
        self.lam = _check_positive(lam, "lam")
        if p_min is not None:
            if isinstance(p_min, bool) or not isinstance(p_min, numbers.Real) \
                    or not 0.0 < p_min < 1.0:
                raise ValueError(f"p_min must be in (0, 1); got {p_min!r}")
            p_min = float(p_min)
        self.p_min = p_min
        self.max_leaves = _check_int(max_leaves, "max_leaves", 1)
        self.track_tv = bool(track_tv)

    def params(self) -> dict:
        m = self.models if isinstance(self.models, str) else type(self.models).__name__
        return {"models": m, "n_models": self.n_models, "alpha": self.alpha, "lam": self.lam,
                "p_min": self.p_min}

    @classmethod
    def check_models(cls):
        from mdplab.envs import random_revealing_pomdp, tiger

        return [("tiger-H2", tiger(horizon=2)),
                ("revealing-H2", random_revealing_pomdp(2, 3, 2, horizon=2, seed=1))]

    # -------------------------------------------------------------- checks
    def check_model(self, pomdp: POMDP) -> None:
        if pomdp.horizon is None:
            raise ValueError(f"{self.name} learns finite-horizon POMDPs; this one is discounted "
                             f"(gamma={pomdp.gamma}): use pomdp.replace(gamma=None, horizon=H)")
        A, O, H = pomdp.A, pomdp.n_observations, pomdp.horizon
        leaves = (A * O) ** H
        if leaves > self.max_leaves:
            raise ValueError(
                f"{self.name}: horizon H={H} gives (A*O)^H = ({A}*{O})^{H} = {leaves} histories, "
                f"above the exact planner's limit max_leaves={self.max_leaves}: use a smaller "
                "horizon (or raise max_leaves)")
        cls_ = self.models
        if isinstance(cls_, str):
            return
        cands = getattr(cls_, "candidates", None)
        if cands is None and not hasattr(cls_, "fit"):
            cands = cls_
        if cands is not None:
            for i, c in enumerate(cands):
                if c.A != A or c.n_observations != O:
                    raise ValueError(
                        f"models[{i}] has A={c.A}, O={c.n_observations} but the POMDP has "
                        f"A={A}, O={O}: the class must share the action and observation sets")
        else:
            a2 = getattr(cls_, "n_actions", A)
            o2 = getattr(cls_, "n_observations", O)
            if a2 != A or o2 != O:
                raise ValueError(f"the model class has A={a2}, O={o2} but the POMDP has A={A}, "
                                 f"O={O}: the class must share the action and observation sets")

    # -------------------------------------------------------------- model class
    def _finite(self, pomdp: POMDP) -> _Finite | None:
        m = self.models
        if isinstance(m, str):
            if m == "line":
                return _Finite(line_class(pomdp, self.n_models | 1, scale=self.scale,
                                          seed=self.class_seed))
            return None
        if hasattr(m, "candidates"):
            return _Finite(m.candidates)
        if hasattr(m, "fit"):
            return None
        return _Finite(m)

    def _em_class(self, pomdp: POMDP):
        if not isinstance(self.models, str):
            return self.models
        from mdplab.algorithms.psr_estimation import POMDPClass

        kwargs = {} if self.p_min is None else {"p_min": self.p_min}
        return POMDPClass(pomdp.S, pomdp.A, pomdp.n_observations, pomdp.horizon, **kwargs)

    def _log_p_min(self, pomdp: POMDP) -> float:
        p = self.p_min if self.p_min is not None else \
            0.1 / (pomdp.A * pomdp.n_observations) ** pomdp.horizon
        return math.log(p)

    def _snapshot(self, info: dict, truth: POMDP, used: int, extras: dict) -> Snapshot:
        H = truth.horizon
        _, policy = _optimal(info, H)
        if self.track_tv:
            if "_tv" not in info:
                info["_tv"] = float(max_tv_distance(info["model"], truth, H)[0])
            extras = {**extras, "tv_error": info["_tv"]}
        return Snapshot(policy, used=used, extras=extras)


class _Explorer(_PSRLearner):
    """UCB-PSR and OMLE: iterations of H roll-in + exploration episodes."""

    def _collect(self, truth: POMDP, policy, core, rng) -> tuple:
        """One iteration's ``H`` episodes (episode ``h`` explores from step ``h``)."""
        H, A, O = truth.horizon, truth.A, truth.n_observations
        table, off = _policy_table(policy, A, O, H)
        seqs = list(dict.fromkeys([tuple(q) for q in core] +
                                  [(a,) + tuple(q) for a in range(A) for q in core]))
        seqs = [s for s in seqs if len(s) > 0] or [(a,) for a in range(A)]
        explore = np.full((H, H), -1, dtype=np.int64)
        for h in range(H):
            seq = seqs[int(rng.integers(len(seqs)))]
            for j, a in enumerate(seq[: H - h]):
                explore[h, h + j] = a
        seeds = rng.integers(0, 2**63 - 1, size=H, dtype=np.int64).astype(np.uint64)
        switch = np.arange(H, dtype=np.int64)
        return rollout_kernel(np.asarray(truth.T), np.asarray(truth.O), np.asarray(truth.R),
                              np.asarray(truth.b0), H, table, off, switch, explore, seeds)


def _policy_table(policy, A, O, H):
    off = np.zeros(H + 1, dtype=np.int64)
    for h in range(H):
        off[h + 1] = off[h] + (A * O) ** h
    if policy is None:
        return np.full((off[H], A), 1.0 / A), off
    table = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, A)
                            for p in policy.probs[:H]])
    return np.ascontiguousarray(table), off


class UCBPSR(_Explorer):
    """UCB-PSR (Huang, Liang, Yang, ICLR 2024, Algorithm 1); see the module docstring.

    Parameters
    ----------
    models : "line", "em", a sequence of POMDPs, a FiniteModelClass or a POMDPClass
        The model class Theta (module docstring).
    n_models, scale, class_seed : the ``"line"`` class's size, reach and seed.
    alpha, lam : float
        Bonus scale (>= 0) and Gram regulariser (> 0); reconstructed constants.
    p_min : float in (0, 1), optional
        The MLE's likelihood floor (default ``0.1 / (A O)^H``); reconstructed.
    max_leaves : int
        Largest ``(A O)^H`` the exact planner enumerates.
    track_tv : bool
        Store ``tv_error`` (exact ``max_pi TV``) at each checkpoint.
    """

    name = "ucb-psr"
    check_kwargs = {"n_models": 9}

    def policies(self, truth, budget, checkpoints, seed):
        H = truth.horizon
        rng = np.random.default_rng(seed)
        finite = self._finite(truth)
        em = None if finite is not None else self._em_class(truth)
        log_p_min = self._log_p_min(truth)
        data_a = [[] for _ in range(H)]
        data_o = [[] for _ in range(H)]
        all_r = []
        AO = truth.A * truth.n_observations
        off = _offsets(AO, H)
        counts = np.zeros(off[H], dtype=np.int64)   # prefix counts of D_h, node by node
        used = 0
        info = None
        policy = None   # pi^0 = uniform
        core = ((),)
        n_iter = 0
        fit_seed = stream_seeds(seed, 1)[0]
        for c in checkpoints:
            while used + H <= c:
                acts, obs, rews = self._collect(truth, policy, core, rng)
                used += H
                n_iter += 1
                for h in range(H):
                    data_a[h].append(acts[h:h + 1])
                    data_o[h].append(obs[h:h + 1])
                    counts[off[h] + prefix_indices(acts[h:h + 1], obs[h:h + 1], h,
                                                   truth.n_observations, truth.A)[0]] += 1
                all_r.append(rews)
                if finite is not None:
                    finite.add(acts, obs)
                    info = finite.info(finite.mle(log_p_min), H)
                else:
                    A_all = np.concatenate([np.concatenate(d) for d in data_a])
                    O_all = np.concatenate([np.concatenate(d) for d in data_o])
                    warm = info["model"] if info is not None else None
                    fit = em.fit(A_all, O_all, rewards=_reorder_rewards(all_r, H),
                                 seed=int(fit_seed % (2**31)) + n_iter, warm_start=warm)
                    info = _model_info(fit.model, H)
                core = info["core"]
                policy = self._bonus_policy(info, counts, H)
            if info is None:
                yield _no_model_snapshot(self, truth, used)
            else:
                yield self._snapshot(info, truth, used, {"iterations": float(n_iter)})

    def _bonus_policy(self, info, counts, H):
        m = info["model"]
        A, O = m.A, m.n_observations
        bonus = _bonus_from(info["states"], info["off"], counts, self.alpha, self.lam, H, A * O)
        _, policy = maximize_over_histories(info["probs"] * bonus, A, O, H)
        return policy


def _reorder_rewards(all_r, H):
    """Rewards in the same row order as the concatenated per-step data."""
    R = np.concatenate(all_r)            # iteration-major: rows (k, h)
    K = len(all_r)
    return R.reshape(K, H, H).transpose(1, 0, 2).reshape(K * H, H)


def _no_model_snapshot(learner, truth, used) -> Snapshot:
    """Before its first iteration a learner holds no model: it outputs the
    uniform policy and its model error is counted as the maximum, 1."""
    policy = HistoryPolicy.uniform(truth.A, truth.n_observations, truth.horizon)
    extras = {"tv_error": 1.0} if learner.track_tv else {}
    return Snapshot(policy, used=used, extras=extras)


class OMLE(_Explorer):
    """OMLE (Liu, Netrapalli, Szepesvari, Jin 2022) on a finite class; see the
    module docstring. ``beta`` (default ``log |Theta| + log 10``, reconstructed)
    is the likelihood slack of the confidence set; the other parameters are
    UCB-PSR's (``alpha``, ``lam`` unused)."""

    name = "omle"
    check_kwargs = {"n_models": 9, "beta": 1.0}
    check_budget = 160
    invalid_kwargs = _PSRLearner.invalid_kwargs + (
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"models": "em"}, "OMLE needs a finite class"),
    )

    def __init__(self, *, beta: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(self.models, str) and self.models == "em" or (
                hasattr(self.models, "fit") and not hasattr(self.models, "candidates")):
            raise ValueError("OMLE needs a finite class (models='line', a sequence of POMDPs or "
                             "a FiniteModelClass): its joint optimism enumerates the class")
        self.beta = None if beta is None else _check_nonneg(beta, "beta")

    def params(self) -> dict:
        return {**super().params(), "beta": self.beta}

    def policies(self, truth, budget, checkpoints, seed):
        H = truth.horizon
        rng = np.random.default_rng(seed)
        finite = self._finite(truth)
        beta = self.beta if self.beta is not None else math.log(len(finite.candidates)) + \
            math.log(10.0)
        used, n_iter = 0, 0
        info, policy, core = None, None, ((),)
        values = None
        for c in checkpoints:
            while used + H <= c:
                if values is None:     # each candidate's optimum, once
                    values = np.array([_optimal(finite.info(i, H), H)[0]
                                       for i in range(len(finite.candidates))])
                acts, obs, _ = self._collect(truth, policy, core, rng)
                used += H
                n_iter += 1
                finite.add(acts, obs)
                conf = finite.confidence_set(beta)
                best = int(conf[np.argmax(values[conf])])   # ties: lowest index
                info = finite.info(best, H)
                core = info["core"]
                policy = _optimal(info, H)[1]
            if info is None:
                yield _no_model_snapshot(self, truth, used)
            else:
                yield self._snapshot(info, truth, used, {"iterations": float(n_iter)})


BEHAVIOURS = ("uniform", "skewed")


class PSRLCB(_PSRLearner):
    """PSR-LCB (Huang, Liang, Yang, ICLR 2024, Algorithm 2); see the module docstring.

    The budget is the size ``n`` of an offline dataset of ``behaviour``: the
    dataset is drawn once (seeded), and checkpoint ``n`` uses its first ``n``
    episodes. ``behaviour``: ``"uniform"`` (i.i.d. uniform actions, good
    coverage), ``"skewed"`` (action 0 with probability ``1 - skew``, the others
    share ``skew``: poor coverage of the other actions), or an ``(A,)`` array of
    i.i.d. action probabilities. ``bonus_scale`` multiplies the penalty
    ``H (max R - min R) b`` (1 = the TV bound).
    """

    name = "psr-lcb"
    check_kwargs = {"n_models": 9, "bonus_scale": 0.1}
    check_budget = 400
    invalid_kwargs = _PSRLearner.invalid_kwargs + (
        ({"behaviour": "bad"}, "behaviour must be"),
        ({"skew": 1.5}, r"skew must be in \(0, 1\)"),
    )

    def __init__(self, *, behaviour="uniform", skew: float = 0.1, bonus_scale: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(behaviour, str):
            if behaviour not in BEHAVIOURS:
                raise ValueError(f"behaviour must be one of {BEHAVIOURS} or an array of action "
                                 f"probabilities; got {behaviour!r}")
        else:
            b = np.asarray(behaviour, dtype=float)
            if b.ndim != 1 or (b < 0).any() or abs(b.sum() - 1.0) > 1e-9:
                raise ValueError("behaviour must be one of "
                                 f"{BEHAVIOURS} or an array of action probabilities")
            behaviour = b
        if isinstance(skew, bool) or not isinstance(skew, numbers.Real) or not 0 < skew < 1:
            raise ValueError(f"skew must be in (0, 1); got {skew!r}")
        self.behaviour = behaviour
        self.skew = float(skew)
        self.bonus_scale = _check_nonneg(bonus_scale, "bonus_scale")

    def params(self) -> dict:
        b = self.behaviour if isinstance(self.behaviour, str) else "array"
        return {**super().params(), "behaviour": b, "skew": self.skew,
                "bonus_scale": self.bonus_scale}

    def _action_probs(self, A: int) -> np.ndarray:
        if isinstance(self.behaviour, np.ndarray):
            if self.behaviour.size != A:
                raise ValueError(f"behaviour has {self.behaviour.size} action probabilities; "
                                 f"the POMDP has A={A}")
            return self.behaviour
        if self.behaviour == "uniform" or A == 1:
            return np.full(A, 1.0 / A)
        p = np.full(A, self.skew / (A - 1))
        p[0] = 1.0 - self.skew
        return p

    def policies(self, truth, budget, checkpoints, seed):
        H, A, O = truth.horizon, truth.A, truth.n_observations
        probs = self._action_probs(A)
        n = int(checkpoints[-1])
        rng = np.random.default_rng(seed)
        # The behaviour policy as a (stationary, open-loop) table, from step 0.
        off = np.zeros(H + 1, dtype=np.int64)
        for h in range(H):
            off[h + 1] = off[h] + (A * O) ** h
        table = np.ascontiguousarray(np.tile(probs, (off[H], 1)))
        seeds = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64).astype(np.uint64)
        acts, obs, rews = rollout_kernel(
            np.asarray(truth.T), np.asarray(truth.O), np.asarray(truth.R), np.asarray(truth.b0),
            H, table, off, np.full(n, H, dtype=np.int64), np.full((n, H), -1, dtype=np.int64),
            seeds)
        finite = self._finite(truth)
        em = None if finite is not None else self._em_class(truth)
        log_p_min = self._log_p_min(truth)
        fit_seed = int(stream_seeds(seed, 1)[0] % (2**31))
        done = 0
        for c in checkpoints:
            c = int(c)
            if finite is not None:
                finite.add(acts[done:c], obs[done:c])
                info = finite.info(finite.mle(log_p_min), H)
            else:
                fit = em.fit(acts[:c], obs[:c], rewards=rews[:c], seed=fit_seed)
                info = _model_info(fit.model, H)
            done = c
            data = [(acts[:c], obs[:c])] * H
            counts = _prefix_counts(data, info["off"], H, A, O)
            bonus = _bonus_from(info["states"], info["off"], counts, self.alpha, self.lam, H,
                                A * O)
            m = info["model"]
            if "_rewards" not in info:
                info["_rewards"] = history_rewards(m, H)
            span = H * float(np.ptp(np.asarray(m.R)))
            weights = info["_rewards"] - self.bonus_scale * span * info["probs"] * bonus
            lcb, policy = maximize_over_histories(weights, A, O, H)
            extras = {"lcb": float(lcb)}
            if self.track_tv:
                if "_tv" not in info:
                    info["_tv"] = float(max_tv_distance(m, truth, H)[0])
                extras["tv_error"] = info["_tv"]
            yield Snapshot(policy, used=c, extras=extras)

"""LSVI-UCB: least-squares value iteration with an elliptical bonus on a linear MDP.

Jin, Yang, Wang, Jordan, "Provably Efficient Reinforcement Learning with Linear
Function Approximation", COLT 2020. Setting: a finite-horizon linear MDP
(:class:`~mdplab.models.LinearMDP`) with known features ``phi_h(s,a) in R^d``,
``P_h(s'|s,a) = phi_h(s,a)^T mu_h(s')`` and known rewards; the learner does not
know ``mu``. Episode ``k`` computes, backwards from ``Q_H = 0``,

    Lambda_h = lam I + sum_{tau<k} phi_tau phi_tau^T,     phi_tau = phi_h(s_h^tau, a_h^tau),
    w_h      = Lambda_h^{-1} sum_{tau<k} phi_tau [r_tau + max_a Q_{h+1}(s_{h+1}^tau, a)],
    Q_h(s,a) = min{ w_h^T phi_h(s,a) + beta ||phi_h(s,a)||_{Lambda_h^{-1}}, (H - h) r_max },

and plays ``a_h = argmax_a Q_h(s_h, a)`` (first maximiser).

Theorem (Jin et al. 2020, Theorem 3.1, as reconstructed in
../shared/papers/grouping_subsample_lowrank.md section 3.1, tagged [R]): under
``||phi|| <= 1``, ``||mu_h(S)|| <= sqrt(d)``, ``||theta_h|| <= sqrt(d)``, with
``lam = 1`` and ``beta = c d H sqrt(iota)``, ``iota = log(2 d T / delta)``, ``T = K H``,
the regret is ``O~(sqrt(d^3 H^3 T iota^2)) = O~(sqrt(d^3 H^4 K))`` with
probability ``1 - delta``: ``K^{1/2}`` in the number of episodes.

Reconstructed constants, exposed as parameters: the absolute constant ``c``
(``bonus_scale``; the notes advise tuning ``beta`` in ``[0.01, 1] d H``), the
ridge ``lam`` and ``iota``. ``H`` in ``beta`` and in the cap stands for the value
range ``H r_max`` (``r_max = max_{h,s,a} r_h(s,a)``; equal to ``H`` for rewards
in [0, 1] with maximum 1), as in :mod:`mdplab.algorithms.ucbvi`; the cap
``(H - h) r_max`` (the notes: ``H``) is the tighter valid upper bound on ``Q*_h``.
``beta=`` sets the bonus scale directly.

Tractable form (note 3.1), all in numba (``@njit(cache=True)``; reassociation
allowed, so the length-``d`` and length-``k`` dot products vectorise, with features
kept transposed, ``(d, S A)``, so that every loop over pairs is contiguous):

* ``Lambda_h^{-1}`` is kept and updated by Sherman-Morrison, O(d^2) per step;
* the squared bonuses ``phi^T Lambda_h^{-1} phi`` of every ``(s, a)`` are kept and
  downdated by the same rank-one term, ``-(phi^T u)^2 / (1 + x^T u)`` with
  ``u = Lambda_h^{-1} x``: O(S A d) per step instead of O(S A d^2) per stage and
  episode (clamped at 0 against rounding);
* targets (``targets=``): ``"transitions"`` (the algorithm as written) sums over
  the ``k - 1`` stored transitions of each stage, O(k d) per stage, so the cost of
  episode ``k`` grows linearly with ``k``; ``"grouped"`` computes the same sum
  grouped by next state, ``sum_tau phi_tau r_tau + sum_s' V_{h+1}(s') G_h(s')``
  with ``G_h(s') = sum_{tau: s'_tau = s'} phi_tau`` kept incrementally, O(S d) per
  stage whatever ``k`` (equal up to rounding; possible because S is finite);
* ``Q_h`` is evaluated on all ``(s, a)``, so the max over actions is exact;
* the played greedy policy is evaluated exactly on the true model by the
  structured recursion ``V_h(s) = r_h(s, pi_h(s)) + phi_h(s, pi_h(s))^T (mu_h V_{h+1})``
  (the regret is exact; re-evaluated only when the greedy policy changes; episodes
  are drawn from the model's tabular form);
* seeds run in parallel, one thread each (the compiled loop releases the GIL;
  independent outputs, so each seed's numbers do not depend on the thread count).

``features=`` replaces the model's features by others (misspecification
experiments); the model's own ``mu`` and rewards still generate the data and
the exact regret. :func:`lsvi_q` is the regression / backward pass on a given
weighted data set (with exact data it recovers ``Q*``), :func:`lsvi_ucb_numpy`
a plain numpy transcription of the online loop (tests, benchmarks).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from mdplab.algorithms.base import _check_number
from mdplab.algorithms.objectives import EXPECTED_RETURN
from mdplab.algorithms.online import play_episode, record, stage
from mdplab.algorithms.protocol import Learner, Trace
from mdplab.kernels.rng import fill_uniform, new_state
from mdplab.models import LinearMDP
from mdplab.planning import evaluate_policy
from mdplab.planning.lowrank import lowrank_backward_induction

__all__ = ["LSVIUCB", "lsvi_q", "lsvi_ucb_numpy"]

TARGETS = ("transitions", "grouped")
# Reassociation and contraction let LLVM vectorise the length-d dot products; no
# nnan / ninf (the greedy step starts from -inf), so results stay deterministic.
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
_MEMORY_LIMIT_BYTES = 4 * 1024**3


# ------------------------------------------------------------ exact objective
def _linear_optimum(model: LinearMDP) -> float:
    return lowrank_backward_induction(model).initial_value


def _linear_value(model: LinearMDP, policy) -> float:
    """Exact ``J(pi)`` of a Markov policy, on the model's tabular form."""
    return evaluate_policy(model.to_tabular(), np.asarray(policy)).initial_value


# The most specific class wins: this does not shadow a LowRankMDP entry.
EXPECTED_RETURN.register(LinearMDP, _linear_optimum, _linear_value)


# -------------------------------------------------------------------- kernels
@njit(cache=True, fastmath=_FAST)
def _plan(phiT, H, n, XT, Y, nxt, GT, br, grouped, Linv, b2, beta, rmax, Q, pi, V, Vn,
          bvec, w, ybuf, qbuf):
    """One optimistic backward pass (module docstring) on ``n`` points per stage.

    ``phiT (nphi, d, S A)`` are the features transposed (pair ``r = s A + a``), so
    that every loop over pairs or data points is a contiguous, vectorisable one.
    ``XT (H, d, >=n)`` features (or weighted features) of the stored transitions,
    ``Y (H, >=n)`` their rewards and ``nxt (H, >=n)`` their next states
    (``grouped=False``), or ``br (H, d)`` and ``GT (H, d, S)`` the sums
    ``sum phi r`` and ``sum_{s'_tau = s'} phi`` (``grouped=True``). ``Linv (H, d, d)``
    and the squared bonuses ``b2 (H, S A)`` are given. Fills ``Q (H, S A)`` and
    ``pi (H, S)``; ``V, Vn (S,)``, ``bvec, w (d,)``, ``ybuf (>=n,)``, ``qbuf (S A,)``
    are work buffers.
    """
    nphi, d, SA = phiT.shape
    S = V.shape[0]
    A = SA // S
    for s in range(S):
        V[s] = 0.0
    for h in range(H - 1, -1, -1):
        g = stage(nphi, h)
        if grouped:
            for j in range(d):
                acc = br[h, j]
                for t in range(S):
                    acc += GT[h, j, t] * V[t]
                bvec[j] = acc
        else:
            for t in range(n):
                ybuf[t] = Y[h, t] + V[nxt[h, t]]
            for j in range(d):
                acc = 0.0
                for t in range(n):
                    acc += XT[h, j, t] * ybuf[t]
                bvec[j] = acc
        for i in range(d):
            acc = 0.0
            for j in range(d):
                acc += Linv[h, i, j] * bvec[j]
            w[i] = acc
        cap = (H - h) * rmax
        for r in range(SA):
            qbuf[r] = 0.0
        for j in range(d):
            wj = w[j]
            for r in range(SA):
                qbuf[r] += phiT[g, j, r] * wj
        for r in range(SA):
            Q[h, r] = min(qbuf[r] + beta * math.sqrt(max(b2[h, r], 0.0)), cap)
        for s in range(S):
            best = Q[h, s * A]
            arg = 0
            for a in range(1, A):
                q = Q[h, s * A + a]
                if q > best:
                    best = q
                    arg = a
            pi[h, s] = arg
            Vn[s] = best
        for s in range(S):
            V[s] = Vn[s]


@njit(cache=True, fastmath=_FAST)
def _update(phi, phiT, R, H, k, states, actions, XT, Y, nxt, GT, br, grouped, Linv, b2, u,
            cbuf):
    """Add episode ``k``'s transitions: data, Sherman-Morrison on ``Linv``, bonus downdate."""
    nphi, S, A, d = phi.shape
    SA = S * A
    nR = R.shape[0]
    for h in range(H):
        g = stage(nphi, h)
        s, a, t = states[h], actions[h], states[h + 1]
        r = R[stage(nR, h), s, a]
        if grouped:
            for j in range(d):
                br[h, j] += phi[g, s, a, j] * r
                GT[h, j, t] += phi[g, s, a, j]
        else:
            for j in range(d):
                XT[h, j, k] = phi[g, s, a, j]
            Y[h, k] = r
            nxt[h, k] = t
        denom = 1.0
        for i in range(d):
            acc = 0.0
            for j in range(d):
                acc += Linv[h, i, j] * phi[g, s, a, j]
            u[i] = acc
            denom += phi[g, s, a, i] * acc
        inv = 1.0 / denom
        for i in range(d):
            ui = u[i] * inv
            for j in range(d):
                Linv[h, i, j] -= ui * u[j]
        # phi^T Lambda_new^{-1} phi = phi^T Lambda^{-1} phi - (phi^T u)^2 / (1 + x^T u)
        for q in range(SA):
            cbuf[q] = 0.0
        for j in range(d):
            uj = u[j]
            for q in range(SA):
                cbuf[q] += phiT[g, j, q] * uj
        for q in range(SA):
            b2[h, q] -= cbuf[q] * cbuf[q] * inv


@njit(cache=True, fastmath=_FAST)
def _policy_value(phi, mu, R, init, H, pi, V, Vn, m):
    """Exact ``sum_s init(s) V^pi_0(s)`` by the structured recursion (module docstring)."""
    nphi, S, A, d = phi.shape
    nmu, nR = mu.shape[0], R.shape[0]
    for s in range(S):
        V[s] = 0.0
    for h in range(H - 1, -1, -1):
        g, gm, gr = stage(nphi, h), stage(nmu, h), stage(nR, h)
        for j in range(d):
            acc = 0.0
            for t in range(S):
                acc += mu[gm, j, t] * V[t]
            m[j] = acc
        for s in range(S):
            a = pi[h, s]
            acc = R[gr, s, a]
            for j in range(d):
                acc += phi[g, s, a, j] * m[j]
            Vn[s] = acc
        for s in range(S):
            V[s] = Vn[s]
    total = 0.0
    for s in range(S):
        total += init[s] * V[s]
    return total


@njit(cache=True)
def _same(a, b):
    for h in range(a.shape[0]):
        for s in range(a.shape[1]):
            if a[h, s] != b[h, s]:
                return False
    return True


@njit(cache=True)
def _initial_bonus(phiT, H, lam, b2):
    nphi, d, SA = phiT.shape
    for h in range(H):
        g = stage(nphi, h)
        for r in range(SA):
            acc = 0.0
            for j in range(d):
                acc += phiT[g, j, r] * phiT[g, j, r]
            b2[h, r] = acc / lam


@njit(cache=True, nogil=True)
def _lsvi_seed(phi, phiT, phi_true, mu, R, P, init, H, K, every, seed, v_star, beta, lam,
               grouped, i, out_regret, out_real):
    """One seed's whole online loop; fills row ``i`` of the checkpoint arrays."""
    nphi, S, A, d = phi.shape
    rmax = R.max()
    KX = 1 if grouped else K
    SG = S if grouped else 1
    rng = new_state(seed)
    Linv = np.zeros((H, d, d))
    for h in range(H):
        for j in range(d):
            Linv[h, j, j] = 1.0 / lam
    b2 = np.empty((H, S * A))
    _initial_bonus(phiT, H, lam, b2)
    XT = np.zeros((H, d, KX))
    ybuf = np.empty(KX)
    Y = np.zeros((H, KX))
    nxt = np.zeros((H, KX), dtype=np.int64)
    GT = np.zeros((H, d, SG))
    br = np.zeros((H, d))
    Q = np.empty((H, S * A))
    qbuf = np.empty(S * A)
    pi = np.zeros((H, S), dtype=np.int64)
    V = np.empty(S)
    Vn = np.empty(S)
    bvec = np.empty(d)
    w = np.empty(d)
    u = np.empty(d)
    m = np.empty(phi_true.shape[3])
    states = np.empty(H + 1, dtype=np.int64)
    actions = np.empty(H, dtype=np.int64)
    rewards = np.empty(H)
    last_pi = np.full((H, S), -1, dtype=np.int64)
    value = 0.0
    reg = 0.0
    real = 0.0
    for k in range(K):
        _plan(phiT, H, k, XT, Y, nxt, GT, br, grouped, Linv, b2, beta, rmax, Q, pi, V, Vn,
              bvec, w, ybuf, qbuf)
        if not _same(pi, last_pi):  # the same policy again: the same exact value
            value = _policy_value(phi_true, mu, R, init, H, pi, V, Vn, m)
            last_pi[:] = pi
        reg += v_star - value
        real += v_star - play_episode(P, R, init, H, pi, rng, states, actions, rewards)
        _update(phi, phiT, R, H, k, states, actions, XT, Y, nxt, GT, br, grouped, Linv, b2, u,
                qbuf)
        record(k, K, every, reg, real, out_regret, out_real, i)


def _lsvi_kernel(phi, phiT, phi_true, mu, R, P, init, H, K, every, seeds, v_star, beta, lam,
                 grouped):
    """Every seed on its own thread (``_lsvi_seed`` releases the GIL; each seed writes
    its own rows only, so the numbers do not depend on the thread count). A thread
    pool rather than ``prange``: the same parallelism without a parfor to compile
    (about 15 s of cold-cache compile time)."""
    n_seeds = seeds.shape[0]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n_seeds, n_ckpt))
    out_real = np.zeros((n_seeds, n_ckpt))

    def one(i):
        _lsvi_seed(phi, phiT, phi_true, mu, R, P, init, H, K, every, seeds[i], v_star, beta,
                   lam, grouped, i, out_regret, out_real)

    workers = min(n_seeds, numba.get_num_threads())
    if workers <= 1:
        for i in range(n_seeds):
            one(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(n_seeds)))
    return out_regret, out_real


# ------------------------------------------------------------------ helpers
def _staged(arr: np.ndarray, stationary_ndim: int) -> np.ndarray:
    arr = arr[None] if arr.ndim == stationary_ndim else arr
    return np.ascontiguousarray(arr, dtype=np.float64)


def _transposed(phi: np.ndarray) -> np.ndarray:
    """``(nphi, S, A, d)`` -> ``(nphi, d, S A)`` (pair ``r = s A + a``)."""
    n, S, A, d = phi.shape
    return np.ascontiguousarray(phi.reshape(n, S * A, d).transpose(0, 2, 1))


def _check_features(features):
    if features is None:
        return None
    if isinstance(features, LinearMDP):
        raise TypeError("features must be an array (S, A, d) or (H, S, A, d), not a model")
    try:
        arr = np.array(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"features must be a real array (S, A, d) or (H, S, A, d): {exc}") \
            from None
    if arr.ndim not in (3, 4) or 0 in arr.shape:
        raise ValueError(f"features must have shape (S, A, d) or (H, S, A, d) with d >= 1; "
                         f"got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("features must be finite")
    arr.flags.writeable = False
    return arr


def _model_features(model: LinearMDP, features) -> np.ndarray:
    """The features the learner regresses on, ``(nphi, S, A, d)``, checked against ``model``."""
    if features is None:
        return _staged(np.asarray(model.phi), 3)
    if features.shape[-3:-1] != (model.S, model.A):
        raise ValueError(f"features have (S, A) = {features.shape[-3:-1]} but the model has "
                         f"(S, A) = ({model.S}, {model.A})")
    if features.ndim == 4 and features.shape[0] != model.horizon:
        raise ValueError(f"features have {features.shape[0]} stages but the model's horizon "
                         f"is {model.horizon}")
    return _staged(features, 3)


def _beta(beta, bonus_scale, delta, d, H, K, R) -> float:
    """``beta`` as given, else ``c d (H r_max) sqrt(log(2 d K H / delta))``."""
    if beta is not None:
        return float(beta)
    v_range = H * max(float(np.max(R)), 1e-300)
    return bonus_scale * d * v_range * math.sqrt(math.log(2.0 * d * K * H / delta))


# --------------------------------------------------------------------- learner
class LSVIUCB(Learner):
    """LSVI-UCB on a :class:`~mdplab.models.LinearMDP` (see the module docstring).

    Parameters
    ----------
    bonus_scale : float >= 0
        The absolute constant ``c`` in ``beta = c d (H r_max) sqrt(iota)``
        (reconstructed; 1 = the notes' form with ``c = 1``).
    beta : float >= 0, optional
        The bonus scale itself (overrides ``bonus_scale``); 0 = greedy LSVI.
    lam : float > 0
        Ridge ``lambda`` (Jin et al.: 1).
    delta : float in (0, 1)
        Confidence level inside ``iota = log(2 d T / delta)``.
    targets : {"transitions", "grouped"}
        How the regression targets are summed (module docstring).
    features : array_like, optional
        ``(S, A, d')`` or ``(H, S, A, d')`` features to regress on instead of the
        model's (any ``d'``); default: the model's ``phi``.
    """

    name = "lsvi-ucb"
    model_class = LinearMDP
    guarantee = "online"
    check_kwargs = {"bonus_scale": 0.05}
    check_budget = 1500
    invalid_kwargs = (
        ({"bonus_scale": -1.0}, "bonus_scale must be >= 0"),
        ({"beta": -0.5}, "beta must be >= 0"),
        ({"beta": float("nan")}, "beta must be finite"),
        ({"lam": 0.0}, "lam must be > 0"),
        ({"delta": 0.0}, "delta must be"),
        ({"delta": 1.0}, "delta must be"),
        ({"targets": "all"}, "targets must be one of"),
        ({"features": np.zeros((2, 2))}, "features must have shape"),
        ({"features": np.full((2, 2, 1), np.inf)}, "features must be finite"),
    )

    def __init__(self, *, bonus_scale: float = 1.0, beta: float | None = None,
                 lam: float = 1.0, delta: float = 0.1, targets: str = "transitions",
                 features=None):
        self.bonus_scale = _check_number("bonus_scale", bonus_scale, low=0.0)
        self.beta = None if beta is None else _check_number("beta", beta, low=0.0)
        self.lam = _check_number("lam", lam, low=0.0, low_open=True)
        self.delta = _check_number("delta", delta, low=0.0, high=1.0, low_open=True)
        if self.delta >= 1.0:
            raise ValueError(f"delta must be in (0, 1); got {delta!r}")
        if targets not in TARGETS:
            raise ValueError(f"targets must be one of {TARGETS}; got {targets!r}")
        self.targets = targets
        self.features = _check_features(features)

    def params(self) -> dict:
        return {"bonus_scale": self.bonus_scale, "beta": self.beta, "lam": self.lam,
                "delta": self.delta, "targets": self.targets,
                "features": None if self.features is None else self.features.shape}

    @classmethod
    def check_models(cls):
        from mdplab.algorithms.conformance import tiny_mdp
        from mdplab.envs.lowrank import random_linear_mdp, tabular_linear_mdp

        return [("one-hot tiny", tabular_linear_mdp(tiny_mdp())),
                ("one-hot stage-dependent", tabular_linear_mdp(tiny_mdp(stage_dependent=True))),
                ("random linear", random_linear_mdp(5, 2, 3, horizon=3, seed=1))]

    def check_model(self, model) -> None:
        if model.horizon is None:
            raise ValueError(f"{self.name} learns finite-horizon models; this one is discounted "
                             f"(gamma={model.gamma})")
        _model_features(model, self.features)

    def beta_for(self, model, K: int) -> float:
        """The bonus scale used on ``model`` for ``K`` episodes."""
        phi = _model_features(model, self.features)
        return _beta(self.beta, self.bonus_scale, self.delta, phi.shape[-1], model.horizon, K,
                     model.R)

    def _learn(self, model, K, every, checkpoints, seeds, optimum) -> Trace:
        phi = _model_features(model, self.features)
        H, d = model.horizon, phi.shape[-1]
        grouped = self.targets == "grouped"
        if not grouped:
            need = seeds.size * H * K * (d + 2) * 8
            if need > _MEMORY_LIMIT_BYTES:
                raise ValueError(f"targets='transitions' stores every transition: "
                                 f"{need / 1024**3:.1f} GiB for K={K}, H={H}, d={d}, "
                                 f"{seeds.size} seeds; use targets='grouped'")
        phi_true = _staged(np.asarray(model.phi), 3)
        mu = _staged(np.asarray(model.mu), 2)
        R = _staged(np.asarray(model.R), 2)
        P = np.ascontiguousarray(model.to_tabular().stage_P())
        init = np.ascontiguousarray(model.init, dtype=np.float64)
        beta = self.beta_for(model, K)
        regret, realized = _lsvi_kernel(phi, _transposed(phi), phi_true, mu, R, P, init, H, K,
                                        every, seeds, float(optimum), beta, self.lam, grouped)
        return Trace(regret, realized)


# ------------------------------------------------------- offline regression
def lsvi_q(model: LinearMDP, states, actions, next_states, weights=None, *, beta: float = 0.0,
           lam: float = 1.0, features=None):
    """LSVI's backward pass on a fixed weighted data set: ``(Q (H, S, A), policy (H, S))``.

    ``states, actions, next_states`` (and ``weights``, default 1) are ``(H, n)``
    arrays: stage ``h`` regresses on ``(s, a, s')`` triples of row ``h`` with
    ``Lambda_h = lam I + sum_i w_i phi_i phi_i^T`` and targets
    ``sum_i w_i phi_i [r_h(s_i, a_i) + max_a Q_{h+1}(s'_i, a)]``. With every
    ``(s, a, s')`` weighted by ``P_h(s'|s, a)`` (exact data), ``beta = 0`` and a small
    ``lam``, ``Q`` is ``Q*`` up to the ridge bias (linear Bellman completeness).
    """
    if not isinstance(model, LinearMDP):
        raise TypeError(f"lsvi_q needs a LinearMDP; got {type(model).__name__}")
    if model.horizon is None:
        raise ValueError("lsvi_q needs a finite-horizon model")
    beta = _check_number("beta", beta, low=0.0)
    lam = _check_number("lam", lam, low=0.0, low_open=True)
    phi = _model_features(model, _check_features(features))
    H, S, A, d = model.horizon, model.S, model.A, phi.shape[-1]
    arrays = []
    for name, arr, upper in (("states", states, S), ("actions", actions, A),
                             ("next_states", next_states, S)):
        a = np.asarray(arr)
        if a.ndim != 2 or a.shape[0] != H or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array of shape (H={H}, n); got "
                             f"{a.dtype} {a.shape}")
        if ((a < 0) | (a >= upper)).any():
            raise ValueError(f"{name} has entries outside [0, {upper})")
        arrays.append(a.astype(np.int64))
    s, a, t = arrays
    if not (s.shape == a.shape == t.shape):
        raise ValueError("states, actions and next_states must have one shape")
    w = np.ones(s.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != s.shape or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be finite, non-negative, of shape {s.shape}")
    n = s.shape[1]
    R = _staged(np.asarray(model.R), 2)
    hs = np.arange(H)[:, None]
    ph = phi[np.minimum(hs, phi.shape[0] - 1), s, a]                  # (H, n, d)
    Lam = lam * np.eye(d) + np.einsum("hn,hni,hnj->hij", w, ph, ph)
    Linv = np.ascontiguousarray(np.linalg.inv(Lam))
    b2 = np.ascontiguousarray(np.einsum("hsai,hij,hsaj->hsa",
                                        np.broadcast_to(phi, (H, S, A, d)), Linv,
                                        np.broadcast_to(phi, (H, S, A, d))).reshape(H, S * A))
    XT = np.ascontiguousarray((w[..., None] * ph).transpose(0, 2, 1))
    Y = np.ascontiguousarray(R[np.minimum(hs, R.shape[0] - 1), s, a])
    Q = np.empty((H, S * A))
    pi = np.zeros((H, S), dtype=np.int64)
    _plan(_transposed(phi), H, n, XT, Y, t, np.zeros((H, d, 1)), np.zeros((H, d)), False,
          Linv, b2, float(beta), float(R.max()), Q, pi, np.empty(S), np.empty(S), np.empty(d),
          np.empty(d), np.empty(n), np.empty(S * A))
    return Q.reshape(H, S, A), pi


# ------------------------------------------------------ numpy transcription
def lsvi_ucb_numpy(model: LinearMDP, K: int, stream_seed, beta: float, lam: float = 1.0,
                   features=None, return_trace: bool = False):
    """A plain numpy transcription of one seed of :class:`LSVIUCB` (transition targets).

    Same draws as the kernel: ``stream_seed`` is one entry of
    ``mdplab.kernels.rng.stream_seeds(seed, n)`` and the episode uses ``H + 1``
    uniforms of its xoshiro stream (initial state, then one per step). Vectorised
    per stage (target sum, ridge solve through the kept ``Lambda^{-1}``, bonus as a
    quadratic form on all ``(s, a)``), Python per episode and step. Returns the
    per-episode exact regret ``(K,)`` (and, with ``return_trace``, the policies played).
    """
    phi = _model_features(model, _check_features(features))
    H, S, d = model.horizon, model.S, phi.shape[-1]
    R = _staged(np.asarray(model.R), 2)
    mu = _staged(np.asarray(model.mu), 2)
    phi_true = _staged(np.asarray(model.phi), 3)
    P = model.to_tabular().stage_P()
    cdf_P = np.cumsum(P, axis=-1)
    cdf_init = np.cumsum(model.init)
    v_star = _linear_optimum(model)
    rmax = R.max()
    st = lambda arr, h: arr[h if arr.shape[0] > 1 else 0]  # noqa: E731
    u_all = np.empty(K * (H + 1))
    fill_uniform(new_state(np.uint64(stream_seed)), u_all)
    Linv = np.stack([np.eye(d) / lam] * H)
    X = np.zeros((H, K, d))
    Y = np.zeros((H, K))
    nxt = np.zeros((H, K), dtype=np.int64)
    regrets = np.zeros(K)
    policies = []
    for k in range(K):
        V = np.zeros(S)
        pi = np.zeros((H, S), dtype=np.int64)
        for h in range(H - 1, -1, -1):
            y = Y[h, :k] + V[nxt[h, :k]]
            w = Linv[h] @ (X[h, :k].T @ y)
            ph = st(phi, h)
            bonus = np.sqrt(np.maximum(np.einsum("sai,ij,saj->sa", ph, Linv[h], ph), 0.0))
            Q = np.minimum(ph @ w + beta * bonus, (H - h) * rmax)
            pi[h] = np.argmax(Q, axis=1)
            V = Q.max(axis=1)
        Vp = np.zeros(S)
        for h in range(H - 1, -1, -1):
            idx = np.arange(S)
            Vp = st(R, h)[idx, pi[h]] + st(phi_true, h)[idx, pi[h]] @ (st(mu, h) @ Vp)
        regrets[k] = v_star - float(model.init @ Vp)
        policies.append(pi)
        u = u_all[k * (H + 1):(k + 1) * (H + 1)]
        s = min(int(np.searchsorted(cdf_init, u[0], side="right")), S - 1)
        for h in range(H):
            a = int(pi[h, s])
            t = min(int(np.searchsorted(st(cdf_P, h)[s, a], u[h + 1], side="right")), S - 1)
            x = st(phi, h)[s, a]
            X[h, k], Y[h, k], nxt[h, k] = x, st(R, h)[s, a], t
            z = Linv[h] @ x
            Linv[h] -= np.outer(z, z) / (1.0 + x @ z)
            s = t
    return (regrets, policies) if return_trace else regrets

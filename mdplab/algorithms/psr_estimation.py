"""Model classes and maximum-likelihood oracles for the PSR / POMDP learners.

UCB-PSR and PSR-LCB (Huang, Liang, Yang, *Provably Efficient UCB-type Algorithms
for Learning Predictive State Representations*, ICLR 2024) and OMLE (Liu,
Netrapalli, Szepesvari, Jin, *Optimistic MLE*, 2022) all rest on an MLE oracle
over a model class ``Theta``: given trajectories ``(a_{0:L}, o_{0:L})`` collected
by any (history-dependent) policies, return

    theta_hat = argmax_{theta in Theta} sum_i log Pr_theta(o^i | do a^i),

the policy's own factor ``prod_t pi(a_t | h_t)`` being the same for every
``theta`` (actions are exogenous to the likelihood). Their sample-complexity
theorems (polynomial in the rank ``r``, ``1/gamma``, ``|A|``, ``Q_A``, ``H`` and
``eps^-2``, times ``log`` of the class's bracketing number) assume an exact
oracle; OMLE also needs the likelihood confidence set ``{theta : log L(theta) >=
max log L - beta}``. Two classes are provided:

* :class:`FiniteModelClass`: a finite list of POMDPs (a parameter grid, or random
  perturbations of a true model with the truth inside). The MLE is exact, by
  enumeration (ties to the lowest index); :meth:`FiniteModelClass.confidence_set`
  is OMLE's set.
* :class:`POMDPClass`: all POMDPs with ``S`` hidden states, ``A`` actions and ``O``
  observations (action-dependent emissions ``O[a, s', o]`` by default), fitted by
  Baum-Welch EM with actions: a scaled forward-backward pass in a compiled
  kernel gives the expected transition / emission / initial counts, and the M-step
  maximises the expected complete-data log-likelihood. This is a local method:
  ``restarts`` random initialisations, the best final likelihood kept.

``p_min`` (reconstructed constant). The paper constrains the MLE to models
giving every observed trajectory probability at least ``p_min`` (its value,
``O(delta / (|O|^H |A|^H))``, is reconstructed, see
shared/papers/cvar_psr_horizonfree.md section 2.3). Here it is a floor on every
entry of ``T``, ``O`` (and the fitted ``b0``) enforced in the M-step, which
then maximises the expected complete-data log-likelihood over rows with all
entries ``>= p_min``: the entries whose expected counts are too small are raised
to ``p_min`` and the others rescaled (a pseudo-count added to the rare entries
only). Every trajectory then has probability ``>= p_min^(2H)`` under the fitted
model, and because the M-step is an exact maximiser over a convex set containing
the current iterate, the log-likelihood never decreases from one EM iteration
to the next (``FitResult.history``). It needs ``p_min * max(S, O) < 1``.

All likelihoods are sums of logs (scaled forward algorithm): histories of any
length do not underflow. The E-step is one serial compiled pass (it accumulates
counts per fixed chunk of trajectories and adds the chunks in order, so a
parallel loop over chunks would give the same bits). A fitted model is a
:class:`~mdplab.models.POMDP` and converts to a PSR with
:meth:`~mdplab.models.PSR.from_pomdp` (:meth:`FitResult.psr`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from mdplab.models._validation import check_int, check_real
from mdplab.models.pomdp import POMDP, batch_log_probability, check_history_batch
from mdplab.models.psr import PSR

__all__ = ["FiniteModelClass", "FitResult", "POMDPClass"]

_N_CHUNKS = 32  # fixed E-step chunking (independent of any thread count)


# ------------------------------------------------------------------ kernels
@njit(cache=True)
def em_estep(T, Z, b0, actions, observations, lengths, rewards, use_rewards):
    """Scaled forward-backward over a batch of trajectories.

    Returns ``(cT (S, A, S), cZ (A, S, O), c0 (S,), cR (S, A), ll (N,))``: expected
    transition counts ``sum_t Pr(s_t = s, s_{t+1} = s' | o, do a) [a_t = a]``,
    emission counts ``sum_t Pr(s_{t+1} = s' | ...) [a_t = a, o_t = o]``, initial
    counts, reward sums ``sum_t Pr(s_t = s | ...) r_t [a_t = a]`` (when
    ``use_rewards``) and per-trajectory ``log Pr(o | do a)`` (``-inf`` if 0).
    """
    N, L = actions.shape
    S = b0.shape[0]
    A = T.shape[1]
    O = Z.shape[2]
    n_chunks = min(N, _N_CHUNKS)
    kT = np.zeros((n_chunks, S, A, S))
    kZ = np.zeros((n_chunks, A, S, O))
    k0 = np.zeros((n_chunks, S))
    kR = np.zeros((n_chunks, S, A))
    ll = np.empty(N)
    for k in range(n_chunks):
        alpha = np.empty((L + 1, S))
        beta = np.empty((L + 1, S))
        op = np.empty((L, S, S))  # op[t, s, s2] = T[s, a_t, s2] Z[a_t, s2, o_t]
        ic = np.empty(L)  # 1 / c_{t+1}
        for i in range(k * N // n_chunks, (k + 1) * N // n_chunks):
            n = lengths[i]
            for s in range(S):
                alpha[0, s] = b0[s]
            logp = 0.0
            scale = 1.0
            ok = True
            for t in range(n):
                a = actions[i, t]
                o = observations[i, t]
                tot = 0.0
                for s2 in range(S):
                    z = Z[a, s2, o]
                    acc = 0.0
                    for s in range(S):
                        m = T[s, a, s2] * z
                        op[t, s, s2] = m
                        acc += alpha[t, s] * m
                    alpha[t + 1, s2] = acc
                    tot += acc
                if not tot > 0.0:
                    ok = False
                    break
                scale *= tot
                if scale < 1e-150:  # move the running product into the log
                    logp += np.log(scale)
                    scale = 1.0
                inv = 1.0 / tot
                ic[t] = inv
                for s2 in range(S):
                    alpha[t + 1, s2] *= inv
            if not ok:
                ll[i] = -np.inf
                continue
            ll[i] = logp + np.log(scale)
            for s in range(S):
                beta[n, s] = 1.0
            for t in range(n - 1, -1, -1):  # backward pass, counts of step t on the way
                a = actions[i, t]
                o = observations[i, t]
                inv = ic[t]
                for s2 in range(S):
                    kZ[k, a, s2, o] += alpha[t + 1, s2] * beta[t + 1, s2]
                for s in range(S):
                    w = alpha[t, s] * inv
                    acc = 0.0
                    for s2 in range(S):
                        m = op[t, s, s2] * beta[t + 1, s2]
                        acc += m
                        kT[k, s, a, s2] += w * m
                    beta[t, s] = acc * inv
                if use_rewards:
                    r = rewards[i, t]
                    for s in range(S):
                        kR[k, s, a] += alpha[t, s] * beta[t, s] * r
            for s in range(S):
                k0[k, s] += alpha[0, s] * beta[0, s]
    cT = np.zeros((S, A, S))
    cZ = np.zeros((A, S, O))
    c0 = np.zeros(S)
    cR = np.zeros((S, A))
    for k in range(n_chunks):  # chunks added in order
        cT += kT[k]
        cZ += kZ[k]
        c0 += k0[k]
        cR += kR[k]
    return cT, cZ, c0, cR, ll


@njit(cache=True)
def floor_rows(counts, p_min):
    """Row-wise ``argmax_q sum_j n_j log q_j`` over ``{q : sum q = 1, q_j >= p_min}``.

    ``q_j = max(p_min, n_j / lam)`` with ``lam`` fixed by the normalisation (entries
    below the floor are fixed at ``p_min`` one pass at a time); an all-zero row
    gives the uniform row. Needs ``p_min * K <= 1`` for rows of length ``K``.
    """
    R, K = counts.shape
    out = np.empty((R, K))
    free = np.empty(K, dtype=np.bool_)
    for r in range(R):
        tot = 0.0
        for j in range(K):
            tot += counts[r, j]
        if not tot > 0.0:
            for j in range(K):
                out[r, j] = 1.0 / K
            continue
        for j in range(K):
            free[j] = True
        lam = 1.0
        while True:
            s = 0.0
            m = 0
            for j in range(K):
                if free[j]:
                    s += counts[r, j]
                    m += 1
            lam = s / (1.0 - p_min * (K - m))
            changed = False
            for j in range(K):
                if free[j] and counts[r, j] < p_min * lam:
                    free[j] = False
                    changed = True
            if not changed:
                break
        for j in range(K):
            out[r, j] = counts[r, j] / lam if free[j] else p_min
    return out


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class FitResult:
    """An MLE oracle's answer.

    Attributes
    ----------
    model : POMDP
        The fitted (or selected) model.
    log_likelihood : float
        ``sum_i log Pr_model(o^i | do a^i)`` of the data.
    index : int or None
        The candidate's index in a :class:`FiniteModelClass`; None for EM.
    history : array
        EM: the log-likelihood before each M-step and at the returned model
        (non-decreasing); empty for a finite class.
    """

    model: POMDP
    log_likelihood: float
    index: int | None = None
    history: np.ndarray = field(default_factory=lambda: np.empty(0))

    def psr(self, **kwargs) -> PSR:
        """The fitted model as a PSR (:meth:`PSR.from_pomdp`)."""
        return PSR.from_pomdp(self.model, **kwargs)


# ------------------------------------------------------------------ checks
def _check_data(actions, observations, lengths, A: int, O: int, horizon, rewards=None):
    a, o, lengths = check_history_batch(actions, observations, lengths, A, O)
    if a.shape[0] == 0:
        raise ValueError("the data must hold at least one trajectory (got 0 rows)")
    if horizon is not None and lengths.size and int(lengths.max()) > horizon:
        raise ValueError(
            f"trajectories have up to {int(lengths.max())} steps but the class has "
            f"horizon={horizon}"
        )
    r = None
    if rewards is not None:
        r = np.asarray(rewards, dtype=np.float64)
        if r.shape != a.shape:
            raise ValueError(f"rewards must have shape {a.shape} like actions; got {r.shape}")
        mask = np.arange(a.shape[1])[None, :] < lengths[:, None]
        if not np.isfinite(r[mask]).all():
            raise ValueError("rewards must be finite")
        r = np.ascontiguousarray(np.where(mask, r, 0.0))
    return a, o, lengths, r


def _check_beta(beta) -> float:
    return check_real(beta, "beta", lo=0.0)


# ------------------------------------------------------------------ finite class
class FiniteModelClass:
    """A finite class of POMDPs sharing ``A``, ``O`` and the horizon; exact MLE.

    Parameters
    ----------
    candidates : sequence of POMDP
    names : sequence of str, optional
        One per candidate (default: each candidate's ``name``).

    Attributes
    ----------
    candidates : tuple of POMDP
    names : tuple of str
    n_actions, n_observations : int
    horizon : int or None
    parameters : tuple or None
        The grid values for :meth:`grid`.
    """

    def __init__(self, candidates, names=None, *, parameters=None):
        if isinstance(candidates, POMDP) or not isinstance(candidates, Sequence):
            raise TypeError("candidates must be a sequence of POMDPs")
        cands = tuple(candidates)
        if not cands:
            raise ValueError("candidates must hold at least one POMDP")
        for i, m in enumerate(cands):
            if not isinstance(m, POMDP):
                raise TypeError(f"candidates[{i}] must be a POMDP; got {type(m).__name__}")
        first = cands[0]
        for i, m in enumerate(cands[1:], start=1):
            for what, x, y in (
                ("actions", m.A, first.A),
                ("observations", m.n_observations, first.n_observations),
                ("horizon", m.horizon, first.horizon),
            ):
                if x != y:
                    raise ValueError(
                        f"candidates[{i}] has {what}={x} but candidates[0] has {y}: "
                        "a class must share its action set, observation set and horizon"
                    )
        if names is None:
            names = tuple(m.name for m in cands)
        else:
            names = tuple(str(n) for n in names)
            if len(names) != len(cands):
                raise ValueError(f"names must have {len(cands)} entries; got {len(names)}")
        self.candidates = cands
        self.names = names
        self.parameters = None if parameters is None else tuple(parameters)
        self.n_actions = first.A
        self.n_observations = first.n_observations
        self.horizon = first.horizon

    def __len__(self) -> int:
        return len(self.candidates)

    def __repr__(self) -> str:
        return (
            f"<FiniteModelClass: {len(self)} POMDPs, A={self.n_actions}, "
            f"O={self.n_observations}, horizon={self.horizon}>"
        )

    # ------------------------------------------------------------ constructors
    @classmethod
    def perturbations(cls, pomdp, n: int, scale: float, seed=None) -> FiniteModelClass:
        """``n`` candidates: ``pomdp`` itself at index 0 and ``n - 1`` perturbations.

        Each perturbation multiplies every entry of ``T`` and ``O`` by
        ``exp(scale * N(0, 1))`` and renormalises each row (the truth's support is
        kept, so no candidate gives the truth's data probability 0); ``R`` and
        ``b0`` are kept. Deterministic in ``seed``.
        """
        if not isinstance(pomdp, POMDP):
            raise TypeError(f"pomdp must be a POMDP; got {type(pomdp).__name__}")
        n = check_int(n, "n", lo=1)
        scale = check_real(scale, "scale", lo=0.0)
        rng = np.random.default_rng(seed)
        cands, names = [pomdp], ["truth"]
        for k in range(1, n):
            T = _perturb(np.asarray(pomdp.T), scale, rng)
            Z = _perturb(np.asarray(pomdp.O), scale, rng)
            cands.append(pomdp.replace(T=T, O=Z, name=f"{pomdp.name} perturbation {k}"))
            names.append(f"perturbation {k}")
        return cls(cands, names)

    @classmethod
    def grid(cls, fn: Callable, values) -> FiniteModelClass:
        """Candidates ``fn(v)`` for each ``v`` in ``values`` (e.g. Tiger's listening
        accuracy); ``parameters`` records the values."""
        if not callable(fn):
            raise TypeError("fn must be a callable mapping a parameter to a POMDP")
        values = list(values)
        if not values:
            raise ValueError("values must hold at least one parameter")
        cands = []
        for v in values:
            m = fn(v)
            if not isinstance(m, POMDP):
                raise TypeError(f"fn({v!r}) must return a POMDP; got {type(m).__name__}")
            cands.append(m)
        return cls(cands, [f"{v!r}" for v in values], parameters=values)

    # ------------------------------------------------------------ likelihoods
    def log_likelihoods(self, actions, observations, lengths=None) -> np.ndarray:
        """``(n,)``: ``sum_i log Pr_theta(o^i | do a^i)`` for every candidate ``theta``."""
        a, o, lengths, _ = _check_data(
            actions, observations, lengths, self.n_actions, self.n_observations, self.horizon
        )
        out = np.empty(len(self))
        for k, m in enumerate(self.candidates):
            out[k] = float(np.sum(batch_log_probability(m.T, m.O, m.b0, a, o, lengths)))
        return out

    def fit(self, actions, observations, lengths=None, *, rewards=None, seed=None) -> FitResult:
        """Exact MLE by enumeration (ties to the lowest index).

        ``rewards`` and ``seed`` are accepted for the common oracle interface and
        not used: the candidates carry their own rewards.
        """
        _check_data(actions, observations, lengths, self.n_actions, self.n_observations,
                    self.horizon, rewards)
        ll = self.log_likelihoods(actions, observations, lengths)
        idx = int(np.argmax(ll))
        return FitResult(self.candidates[idx], float(ll[idx]), idx, np.empty(0))

    def confidence_set(self, actions, observations, lengths, beta) -> np.ndarray:
        """Indices of ``{theta : log L(theta) >= max_theta' log L(theta') - beta}`` (OMLE)."""
        beta = _check_beta(beta)
        ll = self.log_likelihoods(actions, observations, lengths)
        best = ll.max()
        if best == -math.inf:
            return np.arange(len(self))
        return np.flatnonzero(ll >= best - beta)


def _perturb(P: np.ndarray, scale: float, rng) -> np.ndarray:
    noisy = P * np.exp(scale * rng.standard_normal(P.shape))
    return noisy / noisy.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------ EM class
class POMDPClass:
    """All POMDPs with ``n_states``, ``n_actions``, ``n_observations`` over ``horizon``;
    MLE by Baum-Welch EM with actions (module docstring).

    Parameters
    ----------
    n_states, n_actions, n_observations, horizon : int
    p_min : float in (0, 1)
        Floor on every entry of the fitted ``T``, ``O`` and ``b0`` (a reconstructed
        constant, module docstring); needs ``p_min * max(S, O) < 1``.
    restarts : int
        Random initialisations (Dirichlet(1) rows); the highest final likelihood
        is kept (ties to the earliest).
    max_iter : int
        M-steps per restart.
    tol : float
        Stop when one iteration raises the log-likelihood by less than
        ``tol * max(1, |log L|)``.
    initial_belief : array (S,), optional
        A known ``b0`` (kept fixed); fitted when omitted.
    shared_emissions : bool
        Fit action-independent emissions ``O[s', o]`` (default False: ``O[a, s', o]``).
    """

    def __init__(self, n_states, n_actions, n_observations, horizon, *, p_min=1e-3,
                 restarts=5, max_iter=200, tol=1e-8, initial_belief=None,
                 shared_emissions=False):
        self.n_states = check_int(n_states, "n_states", lo=1)
        self.n_actions = check_int(n_actions, "n_actions", lo=1)
        self.n_observations = check_int(n_observations, "n_observations", lo=1)
        self.horizon = check_int(horizon, "horizon", lo=1)
        p = check_real(p_min, "p_min")
        if not 0.0 < p < 1.0:
            raise ValueError(f"p_min must be in (0, 1) (open interval); got {p}")
        K = max(self.n_states, self.n_observations)
        if p * K >= 1.0:
            raise ValueError(
                f"p_min={p} is too large: every row of T (S={self.n_states}) and O "
                f"(O={self.n_observations}) must be able to hold entries >= p_min, so "
                f"p_min * max(S, O) must be < 1 (p_min < {1.0 / K:.6g})"
            )
        self.p_min = p
        self.restarts = check_int(restarts, "restarts", lo=1)
        self.max_iter = check_int(max_iter, "max_iter", lo=0)
        self.tol = check_real(tol, "tol", lo=0.0)
        if initial_belief is None:
            self.initial_belief = None
        else:
            b = np.asarray(initial_belief, dtype=np.float64)
            if (b.shape != (self.n_states,) or not np.isfinite(b).all() or (b < 0).any()
                    or abs(b.sum() - 1.0) > 1e-9):
                raise ValueError(
                    f"initial_belief must be a distribution of shape ({self.n_states},)"
                )
            self.initial_belief = b
        if not isinstance(shared_emissions, bool | np.bool_):
            raise TypeError(f"shared_emissions must be a bool; got {shared_emissions!r}")
        self.shared_emissions = bool(shared_emissions)
        self.last_fit: FitResult | None = None

    def __repr__(self) -> str:
        return (
            f"<POMDPClass: S={self.n_states}, A={self.n_actions}, O={self.n_observations}, "
            f"horizon={self.horizon}, p_min={self.p_min:g}>"
        )

    # ------------------------------------------------------------ EM pieces
    def _mstep(self, cT, cZ, c0, b0):
        S, A, O = self.n_states, self.n_actions, self.n_observations
        T = floor_rows(cT.reshape(S * A, S), self.p_min).reshape(S, A, S)
        if self.shared_emissions:
            Z = np.broadcast_to(floor_rows(cZ.sum(axis=0), self.p_min), (A, S, O)).copy()
        else:
            Z = floor_rows(cZ.reshape(A * S, O), self.p_min).reshape(A, S, O)
        if self.initial_belief is None:
            b0 = floor_rows(c0[None, :], self.p_min)[0]
        return T, Z, b0

    def _initial(self, rng, warm_start):
        S, A, O = self.n_states, self.n_actions, self.n_observations
        if warm_start is not None:
            T, Z, b0 = (np.asarray(x, dtype=np.float64) for x in
                        (warm_start.T, warm_start.O, warm_start.b0))
            if self.shared_emissions:  # the warm start's O[a] may differ across actions
                Z = np.broadcast_to(Z.mean(axis=0), (A, S, O))
        else:
            T = rng.dirichlet(np.ones(S), size=(S, A))
            Z = rng.dirichlet(np.ones(O), size=(1 if self.shared_emissions else A, S))
            Z = np.broadcast_to(Z, (A, S, O))
            b0 = rng.dirichlet(np.ones(S))
        # the EM iterates live in the floored set: start there
        T = floor_rows(np.ascontiguousarray(T).reshape(S * A, S), self.p_min).reshape(S, A, S)
        Z = floor_rows(np.ascontiguousarray(Z).reshape(A * S, O), self.p_min).reshape(A, S, O)
        if self.initial_belief is not None:
            b0 = self.initial_belief.copy()
        else:
            b0 = floor_rows(np.ascontiguousarray(b0)[None, :], self.p_min)[0]
        return T, Z, b0

    def _run(self, T, Z, b0, a, o, lengths, r):
        use = r is not None
        rr = r if use else np.zeros((1, 1))
        hist = []
        cR = cN = None
        for it in range(self.max_iter + 1):
            cT, cZ, c0, cR, ll = em_estep(T, Z, b0, a, o, lengths, rr, use)
            total = float(np.sum(ll))
            hist.append(total)
            cN = cT.sum(axis=2)
            if it == self.max_iter:
                break
            if it > 0 and hist[-1] - hist[-2] < self.tol * max(1.0, abs(hist[-1])):
                break
            T, Z, b0 = self._mstep(cT, cZ, c0, b0)
        if use:
            R = np.where(cN > 1e-12, cR / np.where(cN > 1e-12, cN, 1.0), 0.0)
        else:
            R = np.zeros((self.n_states, self.n_actions))
        return T, Z, b0, R, np.array(hist)

    # ------------------------------------------------------------ oracle
    def fit(self, actions, observations, lengths=None, *, rewards=None, seed=None,
            warm_start=None) -> FitResult:
        """Baum-Welch EM with ``restarts`` initialisations; the best likelihood kept.

        ``rewards`` ``(N, L)`` (optional): ``R[s, a]`` is then the posterior-weighted
        mean of the observed rewards of ``a`` in ``s`` under the fitted model (0 for
        pairs with no posterior mass); without rewards ``R = 0``. ``warm_start`` (a
        POMDP of the same sizes) replaces the first random initialisation.
        Deterministic in ``seed``.
        """
        S, A, O = self.n_states, self.n_actions, self.n_observations
        a, o, lengths, r = _check_data(actions, observations, lengths, A, O, self.horizon,
                                       rewards)
        if warm_start is not None:
            if not isinstance(warm_start, POMDP):
                raise TypeError(f"warm_start must be a POMDP; got {type(warm_start).__name__}")
            if (warm_start.S, warm_start.A, warm_start.n_observations) != (S, A, O):
                raise ValueError(
                    f"warm_start has S={warm_start.S}, A={warm_start.A}, "
                    f"O={warm_start.n_observations}; the class has S={S}, A={A}, O={O}"
                )
        rng = np.random.default_rng(seed)
        best = None
        for k in range(self.restarts):
            init = self._initial(rng, warm_start if k == 0 else None)
            T, Z, b0, R, hist = self._run(*init, a, o, lengths, r)
            if best is None or hist[-1] > best[-1][-1]:
                best = (T, Z, b0, R, hist)
        T, Z, b0, R, hist = best
        hist.setflags(write=False)
        model = POMDP(T, Z, R, b0, horizon=self.horizon,
                      name=f"EM fit (S={S}, A={A}, O={O})")
        result = FitResult(model, float(hist[-1]), None, hist)
        self.last_fit = result
        return result

    def log_likelihoods(self, actions, observations, lengths=None, *, models=None) -> np.ndarray:
        """``(n,)``: the data's total log-likelihood under each of ``models`` (POMDPs
        with this class's sizes; default: the last fitted model, ``n = 1``)."""
        if models is None:
            if self.last_fit is None:
                raise ValueError("no model fitted yet: call fit first or pass models=")
            models = [self.last_fit.model]
        if isinstance(models, POMDP):
            models = [models]
        a, o, lengths, _ = _check_data(actions, observations, lengths, self.n_actions,
                                       self.n_observations, self.horizon)
        out = np.empty(len(models))
        for k, m in enumerate(models):
            if not isinstance(m, POMDP) or (m.A, m.n_observations) != (
                    self.n_actions, self.n_observations):
                raise ValueError(
                    f"models[{k}] must be a POMDP with A={self.n_actions}, "
                    f"O={self.n_observations}"
                )
            out[k] = float(np.sum(batch_log_probability(m.T, m.O, m.b0, a, o, lengths)))
        return out

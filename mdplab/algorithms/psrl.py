"""Posterior sampling for reinforcement learning (PSRL).

Reference: I. Osband, D. Russo, B. Van Roy, "(More) efficient reinforcement
learning via posterior sampling", NeurIPS 2013 (arXiv 1306.0940).

Setting. Episodic tabular MDP with ``S`` states, ``A`` actions, horizon
``tau = H``, ``K`` episodes, ``T = K H`` steps; the true MDP ``M*`` is drawn
from a prior ``f``. Each episode PSRL samples ``M_k ~ f(. | history)``, solves
it exactly (backward induction) and follows its optimal policy for the
episode, then updates the posterior.

Theorem (Osband et al. 2013, Thm. 1): for any prior, the *Bayesian* regret
satisfies ``E[Regret(T)] = O(tau S sqrt(A T log(S A T)))``. The bound is on
regret averaged over ``M* ~ f``; on a fixed instance (frequentist regret) no
such guarantee is claimed, although PSRL is empirically strong.

Implementation choices:

* **Transitions.** Independent ``Dirichlet(prior_alpha 1_S)`` priors on every
  row ``P_h(. | s, a)``; the posterior is ``Dirichlet(prior_alpha + n_h(s, a, .))``
  with transition counts ``n``. Counts are stage-dependent (one row per
  ``(h, s, a)``) when the model's ``P`` is stage-dependent
  (``P.shape[0] > 1``) and pooled over stages otherwise -- i.e. the learner
  knows whether the model is stationary.
* **Rewards**, ``rewards="known"`` (default): the learner uses the model's
  mean rewards ``R`` and learns only the transitions. ``rewards="beta"``:
  rewards are Bernoulli with the unknown means ``R`` (which must lie in
  [0, 1]); the learner observes one Bernoulli draw per step (from the seed's
  stream) and keeps a ``Beta(1 + successes, 1 + failures)`` posterior per
  (stage,) state-action, sampled each episode alongside the transitions.
  Regret is always measured against the true means.
* **Sampling.** Dirichlet rows are normalised Gamma draws. Gamma(a), ``a >= 1``:
  Marsaglia & Tsang (ACM TOMS 26(3), 2000) with Box-Muller normals;
  ``a < 1``: the boost ``Gamma(a) = Gamma(a + 1) U^{1/a}``. Draws are
  combined in log space, so tiny ``a`` cannot produce an all-zero row. Every
  uniform comes from the seed's xoshiro256** stream, so runs are reproducible
  and independent of the thread count.
* **Planning.** Backward induction on the sampled model, ties to the lowest
  action; the executed policy is that greedy policy and its exact value in
  the true model gives the regret.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mdplab.algorithms.base import Algorithm, _check_number, n_checkpoints
from mdplab.algorithms.online import (
    play_episode,
    policy_value_lists,
    record,
    stage,
    successor_lists,
)
from mdplab.kernels.rng import new_state, next_double

_TWO_PI = 2.0 * math.pi


@njit(cache=True)
def standard_normal(state):
    """One N(0, 1) draw (Box-Muller, cosine branch) from two uniforms of ``state``."""
    u1 = 1.0 - next_double(state)  # in (0, 1]
    u2 = next_double(state)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


@njit(cache=True)
def log_gamma_variate(a, state):
    """``log X`` for ``X ~ Gamma(a, 1)``, ``a > 0`` (Marsaglia-Tsang; boost for ``a < 1``)."""
    boost = 0.0
    if a < 1.0:
        u = 1.0 - next_double(state)  # in (0, 1]
        boost = math.log(u) / a
        a = a + 1.0
    d = a - 1.0 / 3.0
    cc = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = standard_normal(state)
        v = 1.0 + cc * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = 1.0 - next_double(state)
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2 or math.log(u) < 0.5 * x2 + d * (1.0 - v + math.log(v)):
            return math.log(d * v) + boost


@njit(cache=True)
def gamma_variate(a, state):
    """``X ~ Gamma(a, 1)`` (may underflow to 0 for tiny ``a``; use the log form then)."""
    return math.exp(log_gamma_variate(a, state))


@njit(cache=True)
def dirichlet_row(alpha, state, out):
    """Fill ``out`` with a ``Dirichlet(alpha)`` draw (normalised Gammas, in log space)."""
    m = -np.inf
    for j in range(alpha.shape[0]):
        out[j] = log_gamma_variate(alpha[j], state)
        if out[j] > m:
            m = out[j]
    tot = 0.0
    for j in range(alpha.shape[0]):
        out[j] = math.exp(out[j] - m)
        tot += out[j]
    for j in range(alpha.shape[0]):
        out[j] /= tot


@njit(cache=True)
def _sample_dirichlet_rows(alphas, seed, n):
    """Test helper: ``n`` Dirichlet draws of parameter ``alphas`` from stream ``seed``."""
    state = new_state(seed)
    out = np.empty((n, alphas.shape[0]))
    for i in range(n):
        dirichlet_row(alphas, state, out[i])
    return out


@njit(cache=True)
def _sample_gammas(a, seed, n):
    """Test helper: ``n`` Gamma(a) draws from stream ``seed``."""
    state = new_state(seed)
    out = np.empty(n)
    for i in range(n):
        out[i] = gamma_variate(a, state)
    return out


@njit(cache=True)
def greedy_backward_induction(Pt, R, H, pi, V, nxt):
    """Optimal policy of ``(Pt, R)`` over ``H`` stages into ``pi (H, S)``.

    ``Pt (nP, S, A, S)``, ``R (nR, S, A)``; work buffers ``V, nxt (S,)``.
    Ties go to the lowest action.
    """
    S, A = Pt.shape[1], Pt.shape[2]
    nP, nR = Pt.shape[0], R.shape[0]
    nxt[:] = 0.0
    for h in range(H - 1, -1, -1):
        Ph = Pt[stage(nP, h)]
        Rh = R[stage(nR, h)]
        for s in range(S):
            best = -np.inf
            arg = 0
            for a in range(A):
                acc = Rh[s, a]
                for t in range(S):
                    acc += Ph[s, a, t] * nxt[t]
                if acc > best:
                    best = acc
                    arg = a
            pi[h, s] = arg
            V[s] = best
        nxt[:] = V


@njit(cache=True)
def beta_variate(a, b, state):
    """``X ~ Beta(a, b)`` as ``Ga / (Ga + Gb)``, combined in log space."""
    la = log_gamma_variate(a, state)
    lb = log_gamma_variate(b, state)
    return 1.0 / (1.0 + math.exp(lb - la))


@njit(cache=True)
def _run_seed(P, R, init, H, K, every, seed, v_star, prior_alpha, beta_rewards,
              out_regret, out_return, i):
    sidx, sprob, scount = successor_lists(P)
    nP, S, A = P.shape[0], P.shape[1], P.shape[2]
    nR = R.shape[0]
    successes = np.zeros((nR, S, A))
    failures = np.zeros((nR, S, A))
    Rt = R.copy()
    rng = new_state(seed)
    counts = np.zeros((nP, S, A, S))
    Pt = np.empty((nP, S, A, S))
    alpha = np.empty(S)
    pi = np.zeros((H, S), dtype=np.int64)
    V = np.empty(S)
    nxt = np.empty(S)
    states = np.empty(H + 1, dtype=np.int64)
    actions = np.empty(H, dtype=np.int64)
    rewards = np.empty(H)
    regret_sum = 0.0
    return_sum = 0.0
    for k in range(K):
        for g in range(nP):  # sample M_k from the posterior
            for s in range(S):
                for a in range(A):
                    for t in range(S):
                        alpha[t] = prior_alpha + counts[g, s, a, t]
                    dirichlet_row(alpha, rng, Pt[g, s, a])
        if beta_rewards:
            for g in range(nR):
                for s in range(S):
                    for a in range(A):
                        Rt[g, s, a] = beta_variate(1.0 + successes[g, s, a],
                                                   1.0 + failures[g, s, a], rng)
        greedy_backward_induction(Pt, Rt, H, pi, V, nxt)
        regret_sum += v_star - policy_value_lists(sidx, sprob, scount, R, init, H, pi, V)
        ret = play_episode(P, R, init, H, pi, rng, states, actions, rewards)
        return_sum += v_star - ret
        for h in range(H):
            counts[stage(nP, h), states[h], actions[h], states[h + 1]] += 1.0
            if beta_rewards:  # the observed reward: Bernoulli(mean) from the stream
                g = stage(nR, h)
                if next_double(rng) < rewards[h]:
                    successes[g, states[h], actions[h]] += 1.0
                else:
                    failures[g, states[h], actions[h]] += 1.0
        record(k, K, every, regret_sum, return_sum, out_regret, out_return, i)


@njit(parallel=True, cache=True)
def _psrl_kernel(P, R, init, H, K, every, seeds, v_star, prior_alpha, beta_rewards):
    n = seeds.shape[0]
    n_ck = (K + every - 1) // every
    out_regret = np.zeros((n, n_ck))
    out_return = np.zeros((n, n_ck))
    for i in prange(n):
        _run_seed(P, R, init, H, K, every, seeds[i], v_star, prior_alpha, beta_rewards,
                  out_regret, out_return, i)
    return out_regret, out_return


class PSRL(Algorithm):
    """Posterior sampling RL with Dirichlet transition posteriors.

    Parameters
    ----------
    prior_alpha : float > 0
        Dirichlet prior concentration of every transition row
        (``1``: uniform on the simplex; ``1/S``: sparse-MDP prior).
    rewards : {"known", "beta"}
        Known mean rewards, or Bernoulli rewards learned with Beta(1, 1) priors.
    """

    name = "psrl"
    check_kwargs: dict = {}
    invalid_kwargs = (
        ({"prior_alpha": 0.0}, "prior_alpha must be > 0"),
        ({"prior_alpha": -1.0}, "prior_alpha must be > 0"),
        ({"prior_alpha": float("nan")}, "prior_alpha must be finite"),
        ({"prior_alpha": "1"}, "prior_alpha must be a number"),
        ({"rewards": "gaussian"}, "rewards must be"),
    )

    def __init__(self, prior_alpha: float = 1.0, rewards: str = "known"):
        self.prior_alpha = _check_number("prior_alpha", prior_alpha, low=0.0, low_open=True)
        if rewards not in ("known", "beta"):
            raise ValueError(f"rewards must be 'known' or 'beta'; got {rewards!r}")
        self.rewards = rewards

    def params(self) -> dict:
        return {"prior_alpha": self.prior_alpha, "rewards": self.rewards}

    def _run_kernel(self, P, R, init, H, K, every, seeds, v_star):
        beta = self.rewards == "beta"
        if beta and (R.min() < 0.0 or R.max() > 1.0):
            raise ValueError("rewards='beta' needs mean rewards in [0, 1] (Bernoulli means); "
                             f"this model's lie in [{R.min():.3g}, {R.max():.3g}]")
        regret, realized = _psrl_kernel(P, R, init, int(H), int(K), int(every), seeds,
                                        float(v_star), self.prior_alpha, beta)
        assert regret.shape[1] == n_checkpoints(K, every)
        return regret, realized

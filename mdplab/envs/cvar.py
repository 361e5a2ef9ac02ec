"""Environments with a real risk trade-off, for CVaR RL (random rewards on a grid).

Every instance is a finite-horizon :class:`~mdplab.models.TabularMDP` with a
reward law (``reward_atoms`` / ``reward_probs``) whose atoms lie on a common
grid, so :func:`mdplab.planning.solve_cvar` is exact on it, and whose episode
return lies in ``[0, 1]`` (the normalisation of Wang, Kallus, Sun 2023).

* :func:`safe_risky_chain`: at every step a safe action (sure reward) or a
  risky one (higher mean, a chance of nothing, and a chance of *crashing* into
  an absorbing state that pays nothing for the rest of the episode). The
  mean-optimal policy plays risky throughout (with the defaults) and its
  return has a heavy lower tail (the crash); the CVaR-optimal policy at small
  ``tau`` plays safe, and at intermediate ``tau`` it is history dependent:
  it gambles while much of its budget is still to be earned (the risky step
  is the only way to reach it) and plays safe once safe play can reach the
  rest (e.g. at ``tau = 0.2`` from ``c* = 0.6``: safe four times, then risky
  on the last step; once the budget is covered every action ties and the tie
  goes to safe) (design of
  ../shared/papers/cvar_psr_horizonfree.md section 4, "CVaR toys" (i),
  extended to H steps; ours).
* :func:`cvar_lower_bound`: the CVaR version of the minimax lower-bound family
  (Wang, Kallus, Sun 2023, Thm 3.1 / Cor. 3.2, reconstructed): ``n_states``
  contexts drawn uniformly, each a Bernoulli bandit whose arms lead to a
  paying state except with probability ``tau / 2`` (CVaR_tau = 1/2); one arm per
  context fails only with probability ``tau (1/2 - gap)`` (CVaR_tau = 1/2 +
  gap). The outcome is a transition, not a reward draw, so a learner told the
  reward law (as CVaR-UCBVI is) still has to learn it. With
  ``gap=None``, ``gap = min(1/4, sqrt(S A / (tau K)))/2`` for the ``K`` being
  run, the scale at which regret is of order ``sqrt(S A K / tau)``. The
  mean-optimal and the CVaR-optimal arms coincide here; what is hard is
  seeing a ``tau gap`` difference in the probability of the lower tail.
* :func:`cvar_bandit` / :func:`random_cvar_bandit`: the ``H = 1`` case (one
  state, the arms are its actions), for the CVaR bandit. Bernoulli arms as in
  the lower bound (Wang, Kallus, Sun 2023, Thm 3.1, reconstructed; the outcome
  is the *reward*), or random laws on ``{0, 1/m, ..., 1}``, where the
  CVaR-optimal arm is typically not the mean-optimal one (it has the thinner
  lower tail).
* :func:`random_grid_mdp`: Dirichlet transitions and reward laws on the grid
  ``{0, 1/m, ..., 1} / H``; the CVaR-optimal policy typically trades mean for a
  thinner lower tail and depends on the budget left (on the return so far).
"""

from __future__ import annotations

import math

import numpy as np

from mdplab.envs._common import as_rng, check_int, check_prob, check_real
from mdplab.models import TabularMDP

__all__ = ["cvar_bandit", "cvar_lower_bound", "random_cvar_bandit", "random_grid_mdp",
           "safe_risky_chain"]


def safe_risky_chain(horizon: int = 5, *, p_miss: float = 0.1, p_crash: float = 0.05,
                     safe_reward: float = 0.5) -> TabularMDP:
    """Safe-vs-risky chain (module docstring); episode return in [0, 1].

    States ``0`` (running) and ``1`` (crashed, absorbing, pays 0). In state 0,
    action 0 (safe) pays ``safe_reward / H`` for sure; action 1 (risky) pays
    ``1 / H`` with probability ``1 - p_miss`` (else 0) and crashes with
    probability ``p_crash``. ``safe_reward`` must be a multiple of 1/20 so the
    rewards share the grid ``1 / (20 H)``.
    """
    H = check_int(horizon, "horizon", 1)
    pm = check_prob(p_miss, "p_miss")
    pc = check_prob(p_crash, "p_crash")
    if not 0.0 <= safe_reward <= 1.0 or abs(safe_reward * 20 - round(safe_reward * 20)) > 1e-9:
        raise ValueError(f"safe_reward must be a multiple of 0.05 in [0, 1]; got {safe_reward!r}")
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = 1.0
    P[0, 1] = [1.0 - pc, pc]
    P[1, :, 1] = 1.0
    atoms = np.zeros((2, 2, 2))
    probs = np.zeros((2, 2, 2))
    atoms[0, 0] = [round(safe_reward * 20) / (20 * H), 0.0]
    probs[0, 0] = [1.0, 0.0]
    atoms[0, 1] = [0.0, 1.0 / H]
    probs[0, 1] = [pm, 1.0 - pm]
    probs[1, :, 0] = 1.0
    return TabularMDP(P, None, horizon=H, reward_atoms=atoms, reward_probs=probs,
                      name=f"safe-risky-chain(H={H}, p_miss={pm:g}, p_crash={pc:g})")


def cvar_lower_bound(n_actions: int = 2, tau: float = 0.25, *, n_states: int = 1,
                     horizon: int = 2, gap: float | None = None,
                     episodes: int | None = None) -> TabularMDP:
    """The CVaR lower-bound family (module docstring), with the Bernoulli outcome in
    the *transitions* (a learner that knows the reward law must still learn it).

    States ``0 .. S-1`` are the contexts (``init`` uniform), ``S`` is *win* and
    ``S + 1`` *lose* (both absorbing). In context ``s`` arm ``a`` leads to lose
    w.p. ``tau / 2`` (``tau (1/2 - gap)`` for the best arm ``(s + 1) mod A``),
    else to win; win pays ``1 / (H - 1)`` per remaining step (return 1), lose 0.
    Deterministic rewards: the return's law comes from the transitions only.
    """
    A = check_int(n_actions, "n_actions", 2)
    S = check_int(n_states, "n_states", 1)
    H = check_int(horizon, "horizon", 2)
    t = check_real(tau, "tau")
    if not 0.0 < t <= 1.0:
        raise ValueError(f"tau must be in (0, 1]; got {tau!r}")
    if gap is None:
        if episodes is None:
            raise ValueError("give gap= or episodes= (the gap is then "
                             "min(1/4, sqrt(S A / (tau K))) / 2)")
        K = check_int(episodes, "episodes", 1)
        gap = 0.5 * min(0.25, math.sqrt(S * A / (t * K)))
    g = float(gap)
    if not 0.0 <= g < 0.5:
        raise ValueError(f"gap must be in [0, 1/2); got {gap!r}")
    win, lose = S, S + 1
    P = np.zeros((S + 2, A, S + 2))
    for s in range(S):
        for a in range(A):
            p_lose = t * (0.5 - g) if a == (s + 1) % A else t / 2
            P[s, a, lose] = p_lose
            P[s, a, win] = 1.0 - p_lose
    P[win, :, win] = 1.0
    P[lose, :, lose] = 1.0
    R = np.zeros((S + 2, A))
    R[win] = 1.0 / (H - 1)
    init = np.zeros(S + 2)
    init[:S] = 1.0 / S
    return TabularMDP(P, R, horizon=H, init=init,
                      name=f"cvar-lower-bound(S={S}, A={A}, tau={t:g}, gap={g:.4g})")


def random_grid_mdp(n_states: int = 5, n_actions: int = 2, horizon: int = 4, *,
                    levels: int = 2, seed=0, concentration: float = 0.5) -> TabularMDP:
    """Random MDP with grid rewards (module docstring): reward atoms
    ``{0, 1, ..., levels} / (levels H)``, laws ``Dirichlet(concentration)``, transitions
    ``Dirichlet(1)``; state 0 starts."""
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    H = check_int(horizon, "horizon", 1)
    m = check_int(levels, "levels", 1)
    rng = as_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    atoms = np.broadcast_to(np.arange(m + 1) / (m * H), (S, A, m + 1)).copy()
    probs = rng.dirichlet(np.full(m + 1, _check_concentration(concentration)), size=(S, A))
    return TabularMDP(P, None, horizon=H, reward_atoms=atoms, reward_probs=probs,
                      name=f"random-grid-mdp(S={S}, A={A}, H={H})")


def _one_state_bandit(atoms, probs, name):
    A = atoms.shape[0]
    P = np.ones((1, A, 1))
    return TabularMDP(P, None, horizon=1, reward_atoms=atoms[None], reward_probs=probs[None],
                      name=name)


def cvar_bandit(n_arms: int = 2, tau: float = 0.25, *, gap: float | None = None,
                episodes: int | None = None) -> TabularMDP:
    """Bernoulli CVaR bandit (module docstring): ``horizon=1``, one state; arm ``a`` pays 0
    w.p. ``tau / 2`` (``CVaR_tau = 1/2``), else 1, except the best arm ``0``, which pays 0
    w.p. ``tau (1/2 - gap)`` (``CVaR_tau = 1/2 + gap``). With ``gap=None``, ``gap =
    min(1/4, sqrt(A / (tau K))) / 2`` for ``K = episodes``, the scale at which the
    regret is of order ``sqrt(A K / tau)``. Mean- and CVaR-optimal arms coincide."""
    A = check_int(n_arms, "n_arms", 2)
    t = check_real(tau, "tau")
    if not 0.0 < t <= 1.0:
        raise ValueError(f"tau must be in (0, 1]; got {tau!r}")
    if gap is None:
        if episodes is None:
            raise ValueError("give gap= or episodes= (the gap is then "
                             "min(1/4, sqrt(A / (tau K))) / 2)")
        K = check_int(episodes, "episodes", 1)
        gap = 0.5 * min(0.25, math.sqrt(A / (t * K)))
    g = float(gap)
    if not 0.0 <= g < 0.5:
        raise ValueError(f"gap must be in [0, 1/2); got {gap!r}")
    atoms = np.broadcast_to(np.array([0.0, 1.0]), (A, 2)).copy()
    p0 = np.full(A, t / 2)
    p0[0] = t * (0.5 - g)
    probs = np.stack([p0, 1.0 - p0], axis=1)
    return _one_state_bandit(atoms, probs, f"cvar-bandit(A={A}, tau={t:g}, gap={g:.4g})")


def random_cvar_bandit(n_arms: int = 3, *, levels: int = 4, seed=0,
                       concentration: float = 0.5) -> TabularMDP:
    """CVaR bandit with reward laws ``Dirichlet(concentration)`` on ``{0, 1/m, ..., 1}``
    (``m = levels``); module docstring."""
    A = check_int(n_arms, "n_arms", 2)
    m = check_int(levels, "levels", 1)
    rng = as_rng(seed)
    atoms = np.broadcast_to(np.arange(m + 1) / m, (A, m + 1)).copy()
    probs = rng.dirichlet(np.full(m + 1, _check_concentration(concentration)), size=A)
    return _one_state_bandit(atoms, probs, f"random-cvar-bandit(A={A}, m={m})")


def _check_concentration(concentration) -> float:
    c = check_real(concentration, "concentration")
    if c <= 0:
        raise ValueError(f"concentration must be > 0; got {c}")
    return c

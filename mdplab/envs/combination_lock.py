"""The diabolical combination lock of HOMER (Misra et al. 2020), as a tabular model."""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import as_rng, check_int, check_prob, check_real, seed_label
from mdplab.models.tabular import TabularMDP

GOOD_A, GOOD_B, DEAD = 0, 1, 2


def combination_lock_actions(horizon: int = 5, n_actions: int = 10, seed=None):
    """The secret actions ``(opt_a, opt_b)`` of :func:`combination_lock`.

    Two int arrays of length ``horizon``: ``opt_a[h]`` (resp. ``opt_b[h]``) is the
    only action that keeps the agent alive from good latent 0 (resp. 1) at stage
    ``h``. Drawn as ``rng.integers(0, n_actions, size=(2, horizon))`` with
    ``rng = np.random.default_rng(seed)``; row 0 is ``opt_a``, row 1 ``opt_b``.
    """
    H = check_int(horizon, "horizon", 1)
    A = check_int(n_actions, "n_actions", 2)
    draws = as_rng(seed).integers(0, A, size=(2, H))
    return draws[0].copy(), draws[1].copy()


def combination_lock(
    horizon: int = 5,
    n_actions: int = 10,
    swap_prob: float = 0.5,
    spawn_prob: float = 0.5,
    optimal_reward: float = 5.0,
    anti_shaping_reward: float = 1.0,
    step_penalty: float = 1.0,
    seed=None,
    *,
    obs_per_latent: int = 1,
) -> TabularMDP:
    """Diabolical combination lock (latent-state, finite-horizon, stage-dependent).

    *Latent states* per stage ``h = 0, ..., H-1``: two good latents ``0`` and ``1``
    and a dead latent ``2``. State ``z`` of the model at stage ``h`` is latent ``z``
    of level ``h`` (the level is the stage, so ``P`` has shape ``(H, 3, A, 3)``).

    *Start*: latent 1 w.p. ``spawn_prob``, else latent 0.

    *Secret actions*: ``opt_a, opt_b = combination_lock_actions(H, A, seed)``
    (independent uniform draws in ``{0, ..., A-1}``; they may coincide).

    *Transitions* at stage ``h``: from latent 0 with ``opt_a[h]`` (or latent 1 with
    ``opt_b[h]``) the agent stays in its latent w.p. ``1 - swap_prob`` and switches
    ``0 <-> 1`` w.p. ``swap_prob``. Every other action from a good latent leads to the
    dead latent. The dead latent is absorbing.

    *Rewards* (means ``R[h, z, a]``):

    * ``optimal_reward`` for the correct action from a good latent at the last stage
      ``h = H-1``;
    * ``0.5 * anti_shaping_reward`` for a wrong action from a good latent, at any
      stage (the reference pays ``anti_shaping_reward`` w.p. 1/2 on the first
      transition into the dead latent);
    * ``-step_penalty / (H - 1)`` for the correct action from a good latent at
      ``h < H-1`` (so ``-step_penalty`` over a whole successful episode; the
      reference's ``anti_shaping_reward2``);
    * 0 in the dead latent.

    The correct-action policy has expected return ``optimal_reward - step_penalty``
    (``optimal_reward`` when ``H = 1``); with the defaults this is ``5 - 1 = 4``.
    It is optimal as soon as that beats the dead-end bait, i.e.
    ``optimal_reward - step_penalty >= 0.5 * anti_shaping_reward`` (true for the
    defaults). As in the reference, ``0.5 * anti_shaping_reward < optimal_reward``
    is required and ``n_actions >= 2``.

    *Block-MDP version*: ``obs_per_latent = m > 1`` replaces each latent by ``m``
    observation states ``z * m + j`` (``j < m``), emitted uniformly: the model has
    ``3 m`` states, ``P[h, x, a, x'] = T_h(z(x') | z(x), a) / m`` and
    ``R[h, x, a] = R[h, z(x), a]``; the start distribution is spread the same way.

    Defaults follow the HOMER paper (swap and spawn 0.5, optimal reward 5,
    anti-shaping 1, 10 actions) and the reference's step cost (its config uses
    ``anti_shaping_reward2 = 1``, so the optimal value is 4).

    Sources: D. Misra, M. Henaff, A. Krishnamurthy, J. Langford, "Kinematic state
    abstraction and provably efficient rich-observation reinforcement learning"
    (HOMER), ICML 2020. Reference implementation: ``microsoft/Intrepid``
    ``src/environments/rl_acid_env/diabolical_combolock.py`` and
    ``data/diabcombolock/config.json`` (the observation noise there is not modelled).
    """
    H = check_int(horizon, "horizon", 1)
    A = check_int(n_actions, "n_actions", 2)
    q = check_prob(swap_prob, "swap_prob")
    p0 = check_prob(spawn_prob, "spawn_prob")
    r_opt = check_real(optimal_reward, "optimal_reward")
    r_anti = check_real(anti_shaping_reward, "anti_shaping_reward")
    pen = check_real(step_penalty, "step_penalty")
    m = check_int(obs_per_latent, "obs_per_latent", 1)
    if not 0.5 * r_anti < r_opt:
        raise ValueError(
            f"anti_shaping_reward must satisfy 0.5 * anti_shaping_reward < optimal_reward; "
            f"got anti_shaping_reward={r_anti}, optimal_reward={r_opt}"
        )
    opt_a, opt_b = combination_lock_actions(H, A, seed)

    T = np.zeros((H, 3, A, 3))
    R = np.zeros((H, 3, A))
    T[:, GOOD_A, :, DEAD] = 1.0
    T[:, GOOD_B, :, DEAD] = 1.0
    T[:, DEAD, :, DEAD] = 1.0
    R[:, GOOD_A, :] = 0.5 * r_anti
    R[:, GOOD_B, :] = 0.5 * r_anti
    h = np.arange(H)
    for z, opt, other in ((GOOD_A, opt_a, GOOD_B), (GOOD_B, opt_b, GOOD_A)):
        T[h, z, opt, DEAD] = 0.0
        T[h, z, opt, z] = 1.0 - q
        T[h, z, opt, other] = q
        R[h, z, opt] = -pen / (H - 1) if H > 1 else 0.0
        R[H - 1, z, opt[H - 1]] = r_opt
    init = np.array([1.0 - p0, p0, 0.0])

    if m > 1:
        T = np.repeat(np.repeat(T, m, axis=1), m, axis=3) / m
        R = np.repeat(R, m, axis=1)
        init = np.repeat(init, m) / m

    block = f",m={m}" if m > 1 else ""
    return TabularMDP(T, R, horizon=H, init=init,
                      name=f"combination-lock(H={H},A={A}{block}{seed_label(seed)})")

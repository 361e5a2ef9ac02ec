"""Latent MDP instances: random LMDPs and the probe-chain toy.

* :func:`random_latent_mdp` -- ``M`` independent Dirichlet random MDPs over shared
  states and actions (optionally deterministic);
* :func:`probe_chain_lmdp` -- the LMDP toy of the notes (section 4, 🔶): chain
  MDPs whose rewarding action at each step depends on the hidden context, plus a
  probe whose transition reveals the context, so that remembering the probe's
  outcome (a history-dependent policy) strictly beats every Markov policy.

Both return a :class:`~mdplab.models.latent.LatentMDP` with rewards in
``[0, 1/(H-1)]`` or ``[0, 1/H]`` so that every episode's return is at most 1 (the
horizon-free normalisation of [ZWD23]).
"""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import as_rng, check_int, check_prob, check_real, seed_label
from mdplab.models.latent import LatentMDP


def random_latent_mdp(
    n_contexts: int,
    n_states: int,
    n_actions: int,
    horizon: int,
    *,
    seed=None,
    weights=None,
    dirichlet_alpha: float = 1.0,
    deterministic: bool = False,
    stage_dependent: bool = False,
    reward_levels: int | None = None,
    normalize: bool = True,
    init=None,
) -> LatentMDP:
    """``M`` independent random MDPs mixed by ``weights`` (default uniform).

    For every context ``m`` and pair ``(s, a)`` (and stage ``h`` when
    ``stage_dependent``): ``P_m(. | s, a) ~ Dirichlet(dirichlet_alpha * 1_S)``, or,
    with ``deterministic=True``, a point mass on a uniformly drawn next state.
    Rewards ``R_m(s, a)`` are i.i.d. U[0, 1], or uniform on the grid
    ``{0, 1/(L-1), ..., 1}`` with ``reward_levels=L >= 2`` (equal rewards across
    contexts then occur, so observing a reward only partly reveals the context).
    ``normalize=True`` (default) divides rewards by ``H``, so every return is in
    [0, 1]. Rewards are always deterministic functions of ``(m, h, s, a)``;
    ``deterministic=True`` makes the whole LMDP deterministic given the context
    (start state 0 unless ``init`` says otherwise), hence ``Var* = 0``.

    Draw order: all of ``P`` (context, stage, state, action order), then all of
    ``R``. ``weights``: an ``(M,)`` array, or None for ``1/M`` each.
    """
    M = check_int(n_contexts, "n_contexts", 1)
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    H = check_int(horizon, "horizon", 1)
    alpha = check_real(dirichlet_alpha, "dirichlet_alpha")
    if alpha <= 0:
        raise ValueError(f"dirichlet_alpha must be > 0; got {alpha}")
    if reward_levels is not None:
        reward_levels = check_int(reward_levels, "reward_levels", 2)
    rng = as_rng(seed)
    lead = (M, H) if stage_dependent else (M,)
    if deterministic:
        nxt = rng.integers(0, S, size=lead + (S, A))
        P = (nxt[..., None] == np.arange(S)).astype(np.float64)
    else:
        P = rng.dirichlet(np.full(S, alpha), size=lead + (S, A))
        # Renormalise: for tiny alpha numpy's draws can be off by rounding.
        P /= P.sum(axis=-1, keepdims=True)
    if reward_levels is None:
        R = rng.random(lead + (S, A))
    else:
        R = rng.integers(0, reward_levels, size=lead + (S, A)) / (reward_levels - 1)
    if normalize:
        R = R / H
    w = np.full(M, 1.0 / M) if weights is None else weights
    kind = "-det" if deterministic else ""
    return LatentMDP(
        P,
        R,
        w,
        horizon=H,
        init=init,
        name=f"random-lmdp{kind}({M},{S},{A},H={H}{seed_label(seed)})",
    )


def probe_chain_lmdp(
    n_contexts: int = 2,
    horizon: int = 6,
    *,
    n_actions: int | None = None,
    weights=None,
    probe_accuracy: float = 1.0,
    seed=None,
) -> LatentMDP:
    """The probe-chain toy (🔶 a design from the notes' section 4, not a paper's instance).

    States: ``0`` = start, ``1 + j`` = signal ``sigma_j`` (``j < M``), ``M + 1`` =
    chain ``c``; ``S = M + 2``. Actions ``0..A-1`` with ``A = n_actions`` (default
    ``max(M, 2)``; needs ``A >= max(M, 2)``). Stationary transitions, in context ``m``:

    * start, action 0 ("probe"): to ``sigma_m`` w.p. ``q = probe_accuracy``, to each
      other signal state w.p. ``(1 - q) / (M - 1)``; start, any other action
      ("skip"): to ``c``;
    * ``sigma_j`` and ``c``, any action: to ``c``.

    Rewards (stage-dependent): at stages ``h >= 1`` in every signal state and in
    ``c``, the context's rewarding action ``a_m(h)`` pays ``u = 1/(H-1)``, other
    actions 0; the start state (stage 0) pays nothing. So every episode's return is
    at most ``(H-1) u = 1``. ``a_m(h) = (m + h) mod A`` by default; with ``seed`` the
    actions of stage ``h`` are the first ``M`` entries of a random permutation of
    the ``A`` actions. Either way contexts disagree at every stage.

    Closed forms (``H >= 2``; ``w_max = max_m w_m``; ``I = sum_j max_m w_m
    Pr_m(sigma_j)``, which is 1 when ``q = 1``):

    * oracle (knows ``m``): 1;
    * best Markov policy: ``u (I + (H-2) w_max)`` -- probe, use the signal at
      stage 1, then the chain state has forgotten it;
    * belief-optimal, states and actions observed: ``I``;
    * belief-optimal, rewards observed too, ``M = 2``: ``u (I + H - 2)`` (the
      stage-1 reward reveals the context).

    So with ``w_max < 1`` and ``H >= 3`` the belief-optimal policy strictly beats
    every Markov policy; it equals the oracle when ``q = 1`` (the probe reveals the
    context before any reward) and is strictly below it when ``q < 1`` and the
    signal leaves the context uncertain (``I < 1``). With ``q = 1`` the LMDP is
    deterministic given the context, so ``Var* = 0``.
    """
    M = check_int(n_contexts, "n_contexts", 2)
    H = check_int(horizon, "horizon", 2)
    A = max(M, 2) if n_actions is None else check_int(n_actions, "n_actions", max(M, 2))
    q = check_prob(probe_accuracy, "probe_accuracy")
    S = M + 2
    start, chain_state = 0, M + 1
    P = np.zeros((M, S, A, S))
    for m in range(M):
        P[m, start, 0, 1 : 1 + M] = (1.0 - q) / (M - 1)
        P[m, start, 0, 1 + m] = q
        P[m, start, 1:, chain_state] = 1.0
        P[m, 1:, :, chain_state] = 1.0
    if seed is None:
        rewarding = (np.arange(M)[None, :] + np.arange(H)[:, None]) % A  # (H, M)
    else:
        rng = as_rng(seed)
        rewarding = np.stack([rng.permutation(A)[:M] for _ in range(H)])
    u = 1.0 / (H - 1)
    R = np.zeros((M, H, S, A))
    for h in range(1, H):
        for m in range(M):
            R[m, h, 1:, rewarding[h, m]] = u
    w = np.full(M, 1.0 / M) if weights is None else weights
    return LatentMDP(
        P,
        R,
        w,
        horizon=H,
        init=start,
        name=f"probe-chain(M={M},H={H},q={q:g}{seed_label(seed)})",
    )

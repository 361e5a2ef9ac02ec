"""Random low-rank, block, rich-observation lock and linear-mixture instances.

Constructions of the mdplab specs (grouping/subsample/low-rank notes, section
3.4, tagged [D]: designed for the workbench, not taken from a paper):

* :func:`random_lowrank` -- Dirichlet factors, note 3.4(a);
* :func:`block_mdp` -- random latent MDP seen through disjoint blocks, 3.4(b);
* :func:`rich_combination_lock` -- HOMER's lock with a discrete block emission,
  3.4(c) "workbench use";
* :func:`feature_class` -- the true features plus distractors, 3.4(a)/(b);
* :func:`random_linear_mixture` -- ``theta`` in the simplex over random base
  kernels (the HF-O2PS toys of the CVaR/PSR/horizon-free notes, 🔶).

Every generator takes ``seed`` (int, None or ``np.random.Generator``) and
``gamma=`` / ``horizon=`` like :mod:`mdplab.envs`; default concentrations are
guesses (the notes give none) and are parameters.
"""

from __future__ import annotations

import numbers

import numpy as np

from mdplab.envs._common import (
    DEFAULT_GAMMA,
    as_rng,
    check_int,
    check_prob,
    check_real,
    resolve_objective,
    reward_draw,
    seed_label,
)
from mdplab.envs.combination_lock import combination_lock
from mdplab.models._validation import as_real_array
from mdplab.models.lowrank import BlockMDP, FeatureClass, LinearMDP, LinearMixtureMDP, LowRankMDP
from mdplab.models.tabular import TabularMDP

__all__ = [
    "block_mdp",
    "feature_class",
    "random_linear_mdp",
    "random_linear_mixture",
    "random_lowrank",
    "rich_combination_lock",
    "tabular_linear_mdp",
]


def _positive(value, name: str) -> float:
    v = check_real(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0; got {v}")
    return v


def _stages(stage_dependent: bool, gamma, horizon):
    """``(gamma, horizon, n_stages)`` with the envs' default objective (gamma = 0.95)."""
    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=DEFAULT_GAMMA)
    if not stage_dependent:
        return gamma, horizon, None
    if horizon is None:
        raise ValueError("stage_dependent=True needs horizon=H (discounted models are stationary)")
    return gamma, horizon, check_int(horizon, "horizon", 1)


def _dirichlet(rng: np.random.Generator, conc: float, k: int, size) -> np.ndarray:
    """Dirichlet(conc * 1_k) draws of shape ``size + (k,)``, renormalised (rounding)."""
    x = rng.dirichlet(np.full(k, conc), size=size)
    return x / x.sum(axis=-1, keepdims=True)


def random_lowrank(
    n_states: int,
    n_actions: int,
    rank: int,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    gamma=None,
    horizon=None,
    stage_dependent: bool = False,
    reward: str = "uniform",
    init=None,
    seed=None,
) -> LowRankMDP:
    """Random low-rank MDP in the simplex parameterisation (note 3.4(a)).

    ``phi(s, a) ~ Dirichlet(alpha 1_d)`` i.i.d. over ``(s, a)`` and
    ``mu_j ~ Dirichlet(beta 1_S)`` i.i.d. over ``j < d = rank``; then
    ``P(.|s,a) = sum_j phi_j(s,a) mu_j`` is a kernel of rank ``<= d`` (``= d``
    almost surely when ``d <= min(S A, S)``). Small ``alpha`` (e.g. 0.1) makes
    ``phi`` nearly one-hot, i.e. nearly a block structure. Rewards ``R(s, a)``
    i.i.d. U[0, 1] (``reward="uniform"``) or N(0, 1) (``"normal"``).

    ``stage_dependent=True`` draws independent ``phi_h, mu_h, R_h`` for each of the
    ``H`` stages (needs ``horizon``). Objective: ``gamma`` or ``horizon``; if
    neither, ``gamma=0.95``. Draw order: all ``phi``, all ``mu``, then ``R``.
    The defaults ``alpha = beta = 1`` (flat Dirichlet) are a guess.
    """
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    d = check_int(rank, "rank", 1)
    alpha = _positive(alpha, "alpha")
    beta = _positive(beta, "beta")
    gamma, horizon, n = _stages(stage_dependent, gamma, horizon)
    rng = as_rng(seed)
    lead = () if n is None else (n,)
    phi = _dirichlet(rng, alpha, d, (*lead, S, A))
    mu = _dirichlet(rng, beta, S, (*lead, d))
    R = reward_draw(rng, (*lead, S, A), reward)
    return LowRankMDP(
        phi,
        mu,
        R,
        gamma=gamma,
        horizon=horizon,
        init=init,
        name=f"random-lowrank(S={S},A={A},d={d}{seed_label(seed)})",
    )


def block_mdp(
    n_latent: int,
    n_actions: int,
    obs_per_latent: int,
    *,
    alpha: float = 1.0,
    emission_concentration: float | None = None,
    shuffle: bool = True,
    gamma=None,
    horizon=None,
    stage_dependent: bool = False,
    reward: str = "uniform",
    seed=None,
) -> BlockMDP:
    """Random block MDP (note 3.4(b)): ``d = n_latent`` latents, ``m`` observations each.

    * latent kernel ``T(.|z, a) ~ Dirichlet(alpha 1_d)`` i.i.d. over ``(z, a)``
      (per stage when ``stage_dependent``);
    * ``S = d m`` observations; latent ``z`` owns ``m`` of them. With ``shuffle``
      the ownership is a random permutation (so the decoder is not ``x // m``),
      else observations ``z m, ..., z m + m - 1``;
    * emission ``q(.|z)`` uniform on the ``m`` observations of ``z``, or
      ``Dirichlet(emission_concentration 1_m)`` on them;
    * latent rewards ``R(z, a)`` (U[0, 1] or N(0, 1)), copied to observations:
      ``R(x, a) = R(f(x), a)``;
    * start: uniform latent, emitted through ``q``.

    The result is a :class:`~mdplab.models.lowrank.BlockMDP` (``.decoder``,
    ``.latent_T``, ``.emission``): low-rank with ``phi(x, a) = T(.|f(x), a)`` and
    ``mu = q``. Draw order: ``T``, the permutation, the emission, ``R``.
    The default ``alpha = 1`` is a guess.
    """
    d = check_int(n_latent, "n_latent", 1)
    A = check_int(n_actions, "n_actions", 1)
    m = check_int(obs_per_latent, "obs_per_latent", 1)
    alpha = _positive(alpha, "alpha")
    gamma, horizon, n = _stages(stage_dependent, gamma, horizon)
    rng = as_rng(seed)
    lead = () if n is None else (n,)
    S = d * m
    T = _dirichlet(rng, alpha, d, (*lead, d, A))
    order = rng.permutation(S) if shuffle else np.arange(S)
    owner = order.reshape(d, m)  # owner[z, j]: the j-th observation of latent z
    if emission_concentration is None:
        within = np.full((d, m), 1.0 / m)
    else:
        within = _dirichlet(
            rng, _positive(emission_concentration, "emission_concentration"), m, (d,)
        )
    q = np.zeros((d, S))
    q[np.arange(d)[:, None], owner] = within
    decoder = np.empty(S, dtype=np.int64)
    decoder[owner] = np.arange(d)[:, None]
    R = reward_draw(rng, (*lead, d, A), reward)[..., decoder, :]
    init = q.sum(axis=0) / d
    return BlockMDP(
        T,
        q,
        R,
        decoder=decoder,
        gamma=gamma,
        horizon=horizon,
        init=init,
        name=f"block-mdp(d={d},A={A},m={m}{seed_label(seed)})",
    )


def rich_combination_lock(
    horizon: int = 5,
    n_actions: int = 10,
    obs_per_latent: int = 2,
    *,
    swap_prob: float = 0.5,
    spawn_prob: float = 0.5,
    optimal_reward: float = 5.0,
    anti_shaping_reward: float = 1.0,
    step_penalty: float = 1.0,
    emission_concentration: float | None = None,
    seed=None,
) -> BlockMDP:
    """HOMER's diabolical combination lock as a block MDP (note 3.4(c), workbench use).

    Latent dynamics, secret actions and rewards are exactly those of
    :func:`mdplab.envs.combination_lock` with the same arguments (the latent model
    is built by it, with the same seed): at each level two good latents and a dead
    one, the secret actions ``combination_lock_actions(horizon, n_actions, seed)``.

    Observations carry the level: there are ``H + 1`` levels (``0..H``; level
    ``H`` holds the final observation) of 3 latents with ``m = obs_per_latent``
    observations each, ``S = 3 (H + 1) m``; observation ``x = (3 l + z) m + j`` is
    the ``j``-th token of latent ``z`` at level ``l`` (so ``l = x // (3 m)``).
    ``decoder[x] = z`` (the latent type). The emission of stage ``h`` is
    ``q_h(x'|z') =`` uniform (or ``Dirichlet(emission_concentration 1_m)``) over
    the ``m`` tokens of ``(h + 1, z')``; the start distribution spreads the lock's
    start over the level-0 tokens the same way.

    Low-rank structure: ``phi_h(x, a) = T_h(.|decoder[x], a) in Delta_3`` and
    ``mu_h = q_h``, so every stage has rank ``<= 3`` while ``S`` grows as ``3 H m``
    (exactly 2 when ``swap_prob = 1/2``: both good latents then have the same
    successor law ``(1/2, 1/2, 0)`` under their secret actions).
    Rewards ``R_h(x, a) = R_h^lock(decoder[x], a)``; the optimal value is the
    lock's, ``max(optimal_reward - step_penalty, anti_shaping_reward / 2)``
    (``optimal_reward`` when ``H = 1``). ``m = 2`` by default is a guess.
    """
    H = check_int(horizon, "horizon", 1)
    A = check_int(n_actions, "n_actions", 2)
    m = check_int(obs_per_latent, "obs_per_latent", 1)
    check_prob(swap_prob, "swap_prob")
    rng = as_rng(seed)
    # as_rng(int) and the int itself give combination_lock the same secret actions.
    lock = combination_lock(
        H, A, swap_prob, spawn_prob, optimal_reward, anti_shaping_reward, step_penalty, seed=rng
    )
    S = 3 * (H + 1) * m
    if emission_concentration is None:
        within = np.full((H + 1, 3, m), 1.0 / m)
    else:
        conc = _positive(emission_concentration, "emission_concentration")
        within = _dirichlet(rng, conc, m, (H + 1, 3))
    x = np.arange(S).reshape(H + 1, 3, m)  # x[level, z, j]
    decoder = (np.arange(S) // m) % 3
    q = np.zeros((H, 3, S))
    for h in range(H):
        q[h, np.arange(3)[:, None], x[h + 1]] = within[h + 1]
    init = np.zeros(S)
    init[x[0]] = lock.init[:, None] * within[0]
    R = lock.R[:, decoder, :]
    return BlockMDP(
        lock.dense_P(),
        q,
        R,
        decoder=decoder,
        horizon=H,
        init=init,
        name=f"rich-combination-lock(H={H},A={A},m={m}{seed_label(seed)})",
    )


_KINDS = ("dirichlet", "permutation", "mixture", "swap")
_FEATURE_CLASS_SPAWN_KEY = (0x5EED_FC,)


def _independent_rng(seed) -> np.random.Generator:
    """An int seed gets its own spawn key: ``feature_class(model, seed=s)`` must not
    redraw the very Dirichlet features of ``random_lowrank(..., seed=s)``."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(
            np.random.SeedSequence(int(seed), spawn_key=_FEATURE_CLASS_SPAWN_KEY)
        )
    return as_rng(seed)


def feature_class(
    model,
    n_distractors: int,
    *,
    kinds=("dirichlet", "permutation", "mixture"),
    etas=(0.2, 0.5),
    alpha: float = 1.0,
    swap_fraction: float = 0.2,
    shuffle: bool = True,
    seed=None,
) -> FeatureClass:
    """A finite class ``Phi``: the true ``phi*`` of ``model`` plus distractors (note 3.4).

    ``model`` is a :class:`~mdplab.models.lowrank.LowRankMDP` whose ``phi`` lies in
    the simplex (or such a ``phi`` array). Distractor ``i`` has kind
    ``kinds[i % len(kinds)]``:

    * ``"dirichlet"``: a fresh draw ``phi'(s, a) ~ Dirichlet(alpha 1_d)``;
    * ``"permutation"``: ``phi*`` with its *states* permuted, ``phi'(s, a) =
      phi*(sigma(s), a)`` for a random non-identity ``sigma``. (Permuting the
      ``d`` columns, as the note also suggests, gives an equivalent class --
      ``mu`` absorbs the permutation -- that no MLE can tell apart, so it is not used.)
    * ``"mixture"``: ``(1 - eta) phi* + eta phi'`` with ``phi'`` a fresh Dirichlet
      draw and ``eta`` cycling through ``etas``;
    * ``"swap"`` (block MDPs only): ``phi'(x, a) = T(.|f'(x), a)`` with a decoder
      ``f'`` that moves ``ceil(swap_fraction S)`` random observations to another
      random latent (note 3.4(b)).

    Stage-dependent features get independent distractors per stage. With
    ``shuffle`` the true features sit at a random index (``true_index``), else at 0.
    An integer ``seed`` is combined with a fixed spawn key, so the distractors are
    independent of a model generated with the same integer seed.
    """
    if isinstance(model, LowRankMDP):
        phi = model.phi
    else:
        phi = as_real_array(model, "model (a LowRankMDP or a feature array phi)")
    k = check_int(n_distractors, "n_distractors", 0)
    kinds = tuple(kinds)
    if not kinds or any(kd not in _KINDS for kd in kinds):
        raise ValueError(f"kinds must be a non-empty subset of {_KINDS}; got {kinds!r}")
    if "swap" in kinds and not isinstance(model, BlockMDP):
        raise ValueError("kind 'swap' reassigns a decoder and needs a BlockMDP model")
    etas = tuple(check_prob(e, "eta") for e in etas)
    if not etas:
        raise ValueError("etas must hold at least one mixing weight")
    alpha = _positive(alpha, "alpha")
    rho = check_prob(swap_fraction, "swap_fraction")
    if (
        phi.ndim not in (3, 4)
        or (phi < 0).any()
        or np.abs(phi.sum(axis=-1) - 1.0).max(initial=0.0) > 1e-9
    ):
        raise ValueError(
            "feature_class needs features in the simplex (phi(s, a) in Delta_d), shape "
            f"(S, A, d) or (H, S, A, d); got shape {phi.shape} with "
            f"min {phi.min():.3g} and row sums in [{phi.sum(-1).min():.6g}, "
            f"{phi.sum(-1).max():.6g}]"
        )
    rng = _independent_rng(seed)
    S, d = phi.shape[-3], phi.shape[-1]
    cands, names = [], []
    for i in range(k):
        kind = kinds[i % len(kinds)]
        if kind == "dirichlet":
            cand = _dirichlet(rng, alpha, d, phi.shape[:-1])
            label = "dirichlet"
        elif kind == "permutation":
            if S < 2:
                raise ValueError("a 'permutation' distractor needs at least 2 states")
            sigma = rng.permutation(S)
            while (sigma == np.arange(S)).all():
                sigma = rng.permutation(S)
            cand = phi[..., sigma, :, :]
            label = "permutation"
        elif kind == "mixture":
            eta = etas[(i // len(kinds)) % len(etas)]
            cand = (1.0 - eta) * phi + eta * _dirichlet(rng, alpha, d, phi.shape[:-1])
            label = f"mixture(eta={eta:g})"
        else:
            if d < 2:
                raise ValueError("a 'swap' distractor needs at least 2 latents")
            dec = model.decoder.copy()
            moved = rng.choice(S, size=max(1, int(np.ceil(rho * S))), replace=False)
            dec[moved] = (dec[moved] + rng.integers(1, d, size=moved.size)) % d
            T = model.latent_T
            cand = T[dec] if T.ndim == 3 else T[:, dec]
            label = f"swap(rho={rho:g})"
        cands.append(cand / cand.sum(axis=-1, keepdims=True))
        names.append(f"{label}#{i}")
    pos = int(rng.integers(0, k + 1)) if shuffle else 0
    cands.insert(pos, phi)
    names.insert(pos, "true")
    return FeatureClass(cands, true_index=pos, names=names)


def random_linear_mixture(
    n_states: int,
    n_actions: int,
    d: int,
    *,
    alpha: float = 1.0,
    theta_alpha: float = 1.0,
    gamma=None,
    horizon=None,
    reward: str = "uniform",
    init=None,
    seed=None,
) -> LinearMixtureMDP:
    """Random linear mixture MDP ``P = sum_i theta_i P_i`` (HF-O2PS toys, 🔶).

    Base kernels ``P_i(.|s, a) ~ Dirichlet(alpha 1_S)`` i.i.d. over ``(i, s, a)``,
    weights ``theta ~ Dirichlet(theta_alpha 1_d)`` (in the simplex), rewards
    ``R(s, a)`` U[0, 1] or N(0, 1). Built with
    :meth:`~mdplab.models.lowrank.LinearMixtureMDP.from_kernels`
    (``features[s, a, s', i] = P_i(s'|s, a)``). Objective: ``gamma`` or
    ``horizon``; if neither, ``gamma=0.95``. Draw order: kernels, ``theta``, ``R``.
    The notes suggest ``d = 2..5``, ``S = 5..10``, ``A = 2..3``; the flat Dirichlet
    defaults are a guess.
    """
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    d = check_int(d, "d", 1)
    alpha = _positive(alpha, "alpha")
    theta_alpha = _positive(theta_alpha, "theta_alpha")
    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=DEFAULT_GAMMA)
    rng = as_rng(seed)
    kernels = _dirichlet(rng, alpha, S, (d, S, A))
    theta = _dirichlet(rng, theta_alpha, d, ())
    R = reward_draw(rng, (S, A), reward)
    return LinearMixtureMDP.from_kernels(
        kernels,
        theta,
        R,
        gamma=gamma,
        horizon=horizon,
        init=init,
        name=f"random-linear-mixture(S={S},A={A},d={d}{seed_label(seed)})",
    )


def random_linear_mdp(
    n_states: int,
    n_actions: int,
    d: int,
    *,
    horizon: int,
    alpha: float = 0.3,
    beta: float = 1.0,
    init=None,
    seed=None,
) -> LinearMDP:
    """Random finite-horizon linear MDP satisfying Jin et al.'s (2020) norms.

    ``phi(s, a) ~ Dirichlet(alpha 1_d)`` (so ``||phi||_2 <= 1``), ``mu_j ~
    Dirichlet(beta 1_S)`` (probability measures: ``||mu(S)||_2 = sqrt(d)``) and
    ``theta ~ U[0, 1]^d`` (``||theta||_2 <= sqrt(d)``, rewards
    ``phi^T theta in [0, 1]``); stationary factors, stage-dependent value. Draw
    order: ``phi``, ``mu``, ``theta``. The construction and the defaults (``alpha =
    0.3``: features near the simplex corners, so actions differ) are ours ([D]).
    """
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    d = check_int(d, "d", 1)
    H = check_int(horizon, "horizon", 1)
    alpha = _positive(alpha, "alpha")
    beta = _positive(beta, "beta")
    rng = as_rng(seed)
    phi = _dirichlet(rng, alpha, d, (S, A))
    mu = _dirichlet(rng, beta, S, (d,))
    theta = rng.random(d)
    return LinearMDP(
        phi,
        mu,
        theta,
        horizon=H,
        init=init,
        name=f"random-linear(S={S},A={A},d={d}{seed_label(seed)})",
    )


def tabular_linear_mdp(mdp: TabularMDP) -> LinearMDP:
    """A finite-horizon tabular MDP as a linear MDP with one-hot features.

    ``phi(s, a) = e_{s A + a}`` (``d = S A``), ``mu = P`` reshaped to ``(S A, S)``
    (``(H, S A, S)`` when ``P`` is stage-dependent) and ``theta = R`` flattened,
    so ``to_tabular()`` gives back ``P`` and ``R`` exactly: the tabular sanity
    case of LSVI-UCB (Jin et al. 2020, where it reduces to UCB-VI with a
    ``d``-dependent bonus).
    """
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP; got {type(mdp).__name__}")
    if mdp.horizon is None:
        raise ValueError("tabular_linear_mdp needs a finite-horizon model (horizon=H)")
    S, A = mdp.S, mdp.A
    phi = np.eye(S * A).reshape(S, A, S * A)
    P = np.asarray(mdp.dense_P())
    mu = P.reshape(*P.shape[:-3], S * A, S)
    R = np.asarray(mdp.R)
    theta = R.reshape(*R.shape[:-2], S * A)
    return LinearMDP(phi, mu, theta, horizon=mdp.horizon, init=mdp.init,
                     name=f"one-hot({mdp.name or 'tabular'})")

"""RiverSwim (Strehl & Littman 2008), in its two common parameterisations."""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import check_int, check_real, normalize_rewards, resolve_objective
from mdplab.models.tabular import TabularMDP

LEFT, RIGHT = 0, 1

# (forward, stay, back) probabilities of the "right" (swim upstream) action.
_VARIANTS = {
    #            interior            at state 0       at state n-1
    "standard": ((0.3, 0.6, 0.1), (0.7, 0.3), (0.9, 0.1)),
    "osband": ((0.35, 0.6, 0.05), (0.6, 0.4), (0.6, 0.4)),
}


def riverswim(
    n_states: int = 6,
    variant: str = "standard",
    gamma=None,
    horizon=None,
    left_reward: float = 0.005,
    right_reward: float = 1.0,
    *,
    normalize: bool = False,
    init=None,
) -> TabularMDP:
    """RiverSwim: a chain where swimming upstream (right) is hard but pays off.

    States ``0, ..., n-1`` (``n = n_states >= 2``), start in state 0 (override with
    ``init``). Actions: ``0 = left`` (downstream), ``1 = right`` (upstream).

    *Left* is deterministic: ``s -> max(s - 1, 0)``.

    *Right*, with ``variant="standard"`` (the gym-riverswim probabilities):

    * interior ``0 < s < n-1``: to ``s+1`` w.p. 0.3, stay w.p. 0.6, to ``s-1`` w.p. 0.1;
    * ``s = 0``: to 1 w.p. 0.7, stay w.p. 0.3;
    * ``s = n-1``: stay w.p. 0.9, to ``n-2`` w.p. 0.1.

    *Right*, with ``variant="osband"`` (TabulaRL, used for PSRL):

    * interior: to ``s+1`` w.p. 0.35, stay w.p. 0.6, to ``s-1`` w.p. 0.05;
    * ``s = 0``: to 1 w.p. 0.6, stay w.p. 0.4;
    * ``s = n-1``: stay w.p. 0.6, to ``n-2`` w.p. 0.4.

    (With ``n = 2`` only the two boundary rows exist.) Mean rewards, identical in
    both variants: ``R[0, left] = left_reward`` (default 5/1000),
    ``R[n-1, right] = right_reward`` (default 1; in gym-riverswim both outcomes of
    right at ``n-1`` pay 1, so the mean is 1), every other entry 0.

    Objective: give ``gamma`` or ``horizon``; if neither, ``horizon=20`` (TabulaRL's
    default episode length). ``normalize=True`` rescales rewards for horizon-free
    experiments: ``R / H`` in the finite-horizon case (an episode then earns at most
    ``max(left_reward, right_reward)``, i.e. 1 by default) and ``(1 - gamma) * R``
    in the discounted case.

    Sources: A. L. Strehl and M. L. Littman, "An analysis of model-based interval
    estimation for Markov decision processes", JCSS 74(8), 2008 (the environment;
    original rewards 5 and 10000); I. Osband, D. Russo, B. Van Roy, "(More) efficient
    reinforcement learning via posterior sampling", NeurIPS 2013. Reference
    implementations: ``erfanMhi/gym-riverswim`` ``gym_riverswim/envs/riverswim_env.py``
    ("standard") and ``iosband/TabulaRL`` ``src/environment.py::make_riverSwim``
    ("osband").
    """
    n = check_int(n_states, "n_states", 2)
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {sorted(_VARIANTS)}; got {variant!r}")
    lr = check_real(left_reward, "left_reward")
    rr = check_real(right_reward, "right_reward")
    (fwd, stay, back), (fwd0, stay0), (stay_n, back_n) = _VARIANTS[variant]

    P = np.zeros((n, 2, n))
    s = np.arange(n)
    P[s, LEFT, np.maximum(s - 1, 0)] = 1.0
    inner = np.arange(1, n - 1)
    P[inner, RIGHT, inner + 1] = fwd
    P[inner, RIGHT, inner] = stay
    P[inner, RIGHT, inner - 1] = back
    P[0, RIGHT, 1] = fwd0
    P[0, RIGHT, 0] = stay0
    P[n - 1, RIGHT, n - 1] = stay_n
    P[n - 1, RIGHT, n - 2] = back_n

    R = np.zeros((n, 2))
    R[0, LEFT] = lr
    R[n - 1, RIGHT] = rr

    gamma, horizon = resolve_objective(gamma, horizon, default_horizon=20)
    mdp = TabularMDP(P, R, gamma=gamma, horizon=horizon, init=init,
                     name=f"riverswim-{variant}({n})")
    if normalize:
        mdp = mdp.replace(R=normalize_rewards(mdp.R, mdp.gamma, mdp.horizon))
    return mdp

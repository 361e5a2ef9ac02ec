"""The rlberry "Chain": a noisy left/right chain with state-based rewards."""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import (
    DEFAULT_GAMMA,
    check_int,
    check_prob,
    check_real,
    normalize_rewards,
    resolve_objective,
)
from mdplab.models.tabular import TabularMDP


def chain(
    length: int = 10,
    fail_prob: float = 0.1,
    *,
    gamma=None,
    horizon=None,
    start_reward: float = 0.05,
    end_reward: float = 1.0,
    normalize: bool = False,
    init=None,
) -> TabularMDP:
    """A chain of ``length >= 2`` states with a slipping left/right move.

    States ``0, ..., L-1``; start in state 0 (override with ``init``). Actions:
    ``0 = left``, ``1 = right``. The chosen direction is followed w.p.
    ``1 - fail_prob`` and the *opposite* direction w.p. ``fail_prob``; a move that
    would leave the chain stays put. So for ``0 < s < L-1``::

        P[s, left]  : s-1 w.p. 1 - fail_prob,  s+1 w.p. fail_prob
        P[s, right] : s+1 w.p. 1 - fail_prob,  s-1 w.p. fail_prob

    and at the ends ``P[0, left] = (stay 1-fail_prob, 1 w.p. fail_prob)``,
    ``P[0, right] = (1 w.p. 1-fail_prob, stay fail_prob)``, symmetrically at ``L-1``.

    Rewards depend on the current state only, for both actions:
    ``R[0, :] = start_reward`` (0.05), ``R[L-1, :] = end_reward`` (1.0), 0 elsewhere.

    Objective: ``gamma`` or ``horizon``; if neither, ``gamma=0.95``.
    ``normalize=True`` divides rewards by ``H`` (finite horizon) or multiplies them
    by ``1 - gamma`` (discounted).

    Source: rlberry (O. D. Domingues, Y. Flet-Berliac, E. Leurent, P. Ménard,
    X. Shang, M. Valko, "rlberry - A Reinforcement Learning Library for Research and
    Education", 2021); reference implementation ``rlberry-py/rlberry-scool``
    ``rlberry_scool/envs/finite/chain.py`` (class ``Chain(L=5, fail_prob=0.1)``).
    """
    L = check_int(length, "length", 2)
    f = check_prob(fail_prob, "fail_prob")
    r0 = check_real(start_reward, "start_reward")
    r1 = check_real(end_reward, "end_reward")

    s = np.arange(L)
    left = np.maximum(s - 1, 0)
    right = np.minimum(s + 1, L - 1)
    P = np.zeros((L, 2, L))
    # Accumulate (np.add.at) because at the ends "left" and "stay" coincide.
    np.add.at(P, (s, 0, left), 1.0 - f)
    np.add.at(P, (s, 0, right), f)
    np.add.at(P, (s, 1, right), 1.0 - f)
    np.add.at(P, (s, 1, left), f)

    R = np.zeros((L, 2))
    R[0, :] = r0
    R[L - 1, :] = r1

    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=DEFAULT_GAMMA)
    mdp = TabularMDP(P, R, gamma=gamma, horizon=horizon, init=init, name=f"chain({L})")
    if normalize:
        mdp = mdp.replace(R=normalize_rewards(mdp.R, mdp.gamma, mdp.horizon))
    return mdp

"""The Tiger POMDP (Kaelbling, Littman & Cassandra, 1998).

A tiger hides behind the left or the right door. Hidden states: ``0`` = tiger
left, ``1`` = tiger right, equally likely at the start. Actions: ``0`` = listen,
``1`` = open the left door, ``2`` = open the right door. Observations: ``0`` =
hear the tiger on the left, ``1`` = on the right.

* Listening costs ``listen_reward`` (-1), keeps the state, and reports the
  tiger's side correctly with probability ``listen_accuracy`` (0.85).
* Opening the tiger's door pays ``tiger_reward`` (-100), the other door
  ``treasure_reward`` (+10). Either way the problem resets: the tiger is placed
  behind a uniformly random door and the observation after opening is uniform
  (uninformative).

These are the standard parameters (POMDPModels.jl's ``TigerPOMDP``, discount
0.95). The observation after an action is emitted by the state that action
leads to (:mod:`mdplab.models.pomdp` conventions).
"""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import check_prob, check_real, resolve_objective
from mdplab.models.pomdp import POMDP

LISTEN, OPEN_LEFT, OPEN_RIGHT = 0, 1, 2
TIGER_LEFT, TIGER_RIGHT = 0, 1
HEAR_LEFT, HEAR_RIGHT = 0, 1


def tiger(
    *,
    listen_accuracy: float = 0.85,
    listen_reward: float = -1.0,
    treasure_reward: float = 10.0,
    tiger_reward: float = -100.0,
    horizon: int | None = None,
    gamma: float | None = None,
) -> POMDP:
    """The Tiger POMDP; discounted with ``gamma = 0.95`` unless ``horizon`` or ``gamma``
    is given. ``listen_accuracy`` -> 0.5 makes listening uninformative (revealing
    constant ``2 * listen_accuracy - 1`` -> 0)."""
    p = check_prob(listen_accuracy, "listen_accuracy")
    rewards = [
        check_real(x, name)
        for x, name in (
            (listen_reward, "listen_reward"),
            (treasure_reward, "treasure_reward"),
            (tiger_reward, "tiger_reward"),
        )
    ]
    listen, treasure, eaten = rewards
    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=0.95)
    T = np.empty((2, 3, 2))
    T[:, LISTEN, :] = np.eye(2)
    T[:, OPEN_LEFT, :] = 0.5
    T[:, OPEN_RIGHT, :] = 0.5
    O = np.full((3, 2, 2), 0.5)
    O[LISTEN] = [[p, 1.0 - p], [1.0 - p, p]]
    R = np.array(
        [
            [listen, eaten, treasure],  # tiger left: opening left meets it
            [listen, treasure, eaten],
        ]
    )
    label = f"Tiger(accuracy={p:g})"
    return POMDP(T, O, R, np.array([0.5, 0.5]), horizon=horizon, gamma=gamma, name=label)

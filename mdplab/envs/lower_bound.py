"""The hard instance behind the sqrt(K) minimax lower bound, as a small episodic MDP.

After Jaksch, Ortner & Auer (2010, Thm 5) and Domingues et al. (2021,
"Episodic reinforcement learning in finite MDPs: minimax lower bounds
revisited"): the first decision is a bandit whose arms differ by a gap
``Delta``; the consequence is then locked in for the rest of the episode.

States: 0 (start), 1 (good, absorbing, pays ``1`` per step), 2 (bad,
absorbing, pays 0). In state 0 every action reaches the good state with
probability ``1/2``, except the optimal action ``n_actions - 1`` (the last,
so that tie-breaking towards action 0 never finds it by accident), which
does with probability ``1/2 + Delta``. A wrong first action costs
``Delta (H - 1)`` in expectation. With ``gap=None``,
``Delta = min(1/4, sqrt(S A / K))`` for the ``episodes=K`` about to be run
(``S = 3``): the instance on which any learner's regret after ``K`` episodes
is of order ``sqrt(S A K)`` times the value range, so the sqrt(K) rate shows
across runs with different ``K``, unlike on a fixed instance with a fixed
gap, where regret turns logarithmic.
"""

from __future__ import annotations

import math

import numpy as np

from mdplab.envs._common import check_int, check_real, normalize_rewards
from mdplab.models import TabularMDP


def lower_bound(n_actions: int = 4, horizon: int = 10, *, gap: float | None = None,
                episodes: int | None = None, normalize: bool = False) -> TabularMDP:
    """The two-outcome bandit-then-lock MDP (module docstring); finite horizon only."""
    A = check_int(n_actions, "n_actions", 2)
    H = check_int(horizon, "horizon", 2)
    if gap is None:
        if episodes is None:
            raise ValueError("give gap= or episodes= (the gap is then sqrt(S A / episodes))")
        K = check_int(episodes, "episodes", 1)
        gap = min(0.25, math.sqrt(3 * A / K))
    gap = check_real(gap, "gap")
    if not 0.0 < gap <= 0.5:
        raise ValueError(f"gap must be in (0, 1/2]; got {gap}")
    P = np.zeros((3, A, 3))
    P[0, :, 1] = 0.5
    P[0, :, 2] = 0.5
    P[0, A - 1] = [0.0, 0.5 + gap, 0.5 - gap]
    P[1, :, 1] = 1.0
    P[2, :, 2] = 1.0
    R = np.zeros((3, A))
    R[1, :] = 1.0
    if normalize:
        R = normalize_rewards(R, None, H)
    return TabularMDP(P, R, horizon=H, name=f"lower-bound(A={A},gap={gap:.3g})")

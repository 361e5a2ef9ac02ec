"""A rectangular grid world with walls, slippery moves and one rewarding goal cell."""

from __future__ import annotations

import numbers
from typing import NamedTuple

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

ACTIONS = ("left", "right", "down", "up")
"""Action ``a`` moves in direction ``ACTIONS[a]`` (rlberry's order)."""

# (d_row, d_col) per action; row 0 is the top row, "down" increases the row.
_MOVES = np.array([(0, -1), (0, 1), (1, 0), (-1, 0)])


class GridLayout(NamedTuple):
    """State numbering of a grid: row-major over the non-wall cells.

    ``index[row, col]`` is the state of a cell (``-1`` for walls) and
    ``coords[s] = (row, col)`` the cell of state ``s``.
    """

    index: np.ndarray
    coords: np.ndarray

    def state(self, row: int, col: int) -> int:
        """State index of cell ``(row, col)``; ValueError for walls and outside cells."""
        nrows, ncols = self.index.shape
        if not (0 <= row < nrows and 0 <= col < ncols):
            raise ValueError(f"cell ({row}, {col}) is outside the {nrows}x{ncols} grid")
        s = int(self.index[row, col])
        if s < 0:
            raise ValueError(f"cell ({row}, {col}) is a wall")
        return s

    def cell(self, state: int) -> tuple[int, int]:
        """``(row, col)`` of state ``state``."""
        if not 0 <= state < len(self.coords):
            raise ValueError(f"state {state} is not in [0, {len(self.coords)})")
        r, c = self.coords[state]
        return int(r), int(c)


def _check_cell(cell, name: str, nrows: int, ncols: int) -> tuple[int, int]:
    try:
        r, c = cell
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (row, col) pair; got {cell!r}") from None
    for v in (r, c):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"{name} must be a pair of integers (row, col); got {cell!r}")
    r, c = int(r), int(c)
    if not (0 <= r < nrows and 0 <= c < ncols):
        raise ValueError(f"{name} = ({r}, {c}) is outside the {nrows}x{ncols} grid")
    return r, c


def gridworld_layout(nrows: int = 5, ncols: int = 5, walls=((1, 1), (2, 2))) -> GridLayout:
    """The (row, col) <-> state numbering used by :func:`gridworld`.

    States are the non-wall cells numbered row by row (row-major), e.g. the default
    5x5 grid with walls (1,1), (2,2) has 23 states; cell (1, 2) is state 6.
    """
    nrows = check_int(nrows, "nrows", 1)
    ncols = check_int(ncols, "ncols", 1)
    is_wall = np.zeros((nrows, ncols), dtype=bool)
    for w in walls if walls is not None else ():
        r, c = _check_cell(w, "walls entry", nrows, ncols)
        is_wall[r, c] = True
    if is_wall.all():
        raise ValueError("walls cover the whole grid; at least one free cell is needed")
    index = np.full((nrows, ncols), -1, dtype=np.int64)
    free = ~is_wall
    index[free] = np.arange(int(free.sum()))
    coords = np.argwhere(free)
    index.flags.writeable = False
    coords.flags.writeable = False
    return GridLayout(index, coords)


def gridworld(
    nrows: int = 5,
    ncols: int = 5,
    walls=((1, 1), (2, 2)),
    slip_prob: float = 0.0,
    start=(0, 0),
    goal=None,
    *,
    goal_reward: float = 1.0,
    absorbing_goal: bool = False,
    gamma=None,
    horizon=None,
    normalize: bool = False,
) -> TabularMDP:
    """Grid world: move on a grid with walls; reward at a goal cell.

    *States*: the non-wall cells, numbered row-major (see :func:`gridworld_layout`;
    the default 5x5 grid with walls (1,1) and (2,2) has 23 states). Row 0 is the top
    row. The initial state is ``start`` (default the top-left cell (0, 0)).

    *Actions* (rlberry's order): ``0 = left`` (col-1), ``1 = right`` (col+1),
    ``2 = down`` (row+1), ``3 = up`` (row-1).

    *Transitions*: the executed direction is the chosen one w.p. ``1 - slip_prob``
    and, w.p. ``slip_prob``, a direction drawn uniformly from all four (which may be
    the chosen one). So the chosen direction has total probability
    ``1 - 3*slip_prob/4`` and each other direction ``slip_prob/4``. A move into a
    wall or off the grid leaves the agent where it is.

    *Rewards and goal* (``goal`` defaults to the bottom-right cell):

    * ``absorbing_goal=False`` (default, rlberry's convention: the reward is a
      function of the current cell, and the goal is not terminal):
      ``R[goal, a] = goal_reward`` for every action, 0 elsewhere; the goal has the
      same dynamics as any other cell, so an agent can stay (e.g. push into an edge)
      and collect the reward repeatedly.
    * ``absorbing_goal=True`` (an episode that ends at the goal): the reward is paid
      once, on entering, ``R[s, a] = goal_reward * P[s, a, goal]`` for ``s != goal``,
      and the goal is absorbing with zero reward. The return is then at most
      ``goal_reward``.

    Objective: ``gamma`` or ``horizon``; if neither, ``gamma=0.95``.
    ``normalize=True`` divides rewards by ``H`` (finite horizon) or multiplies them
    by ``1 - gamma`` (discounted).

    Source: rlberry's GridWorld (Domingues et al., 2021), reference implementation
    ``rlberry-py/rlberry-scool`` ``rlberry_scool/envs/finite/gridworld.py``: same
    default layout, state numbering, action order and reward-at-goal convention.
    Difference: rlberry spreads the failure mass ``1 - success_probability`` over
    the *other valid* neighbours (and stays put w.p. 1 when the chosen move is
    blocked); here the slip is a uniform direction over all four, blocked moves stay.
    """
    layout = gridworld_layout(nrows, ncols, walls)
    nrows, ncols = layout.index.shape
    p = check_prob(slip_prob, "slip_prob")
    gr = check_real(goal_reward, "goal_reward")
    start_rc = _check_cell(start, "start", nrows, ncols)
    goal_rc = (nrows - 1, ncols - 1) if goal is None else _check_cell(goal, "goal", nrows, ncols)
    if layout.index[start_rc] < 0:
        raise ValueError(f"start = {start_rc} is a wall")
    if layout.index[goal_rc] < 0:
        raise ValueError(f"goal = {goal_rc} is a wall (pass goal= explicitly)")

    S = len(layout.coords)
    # dest[s, d]: state reached from s by moving in direction d (or s if blocked).
    tgt = layout.coords[:, None, :] + _MOVES[None, :, :]
    inside = (
        (tgt[..., 0] >= 0) & (tgt[..., 0] < nrows) & (tgt[..., 1] >= 0) & (tgt[..., 1] < ncols)
    )
    tr = np.clip(tgt[..., 0], 0, nrows - 1)
    tc = np.clip(tgt[..., 1], 0, ncols - 1)
    cand = layout.index[tr, tc]
    dest = np.where(inside & (cand >= 0), cand, np.arange(S)[:, None])

    P = np.zeros((S, 4, S))
    rows = np.arange(S)
    for a in range(4):
        np.add.at(P, (rows, a, dest[:, a]), 1.0 - p)
        for d in range(4):
            np.add.at(P, (rows, a, dest[:, d]), p / 4.0)

    g = int(layout.index[goal_rc])
    if absorbing_goal:
        P[g] = 0.0
        P[g, :, g] = 1.0
        R = gr * P[:, :, g]
        R[g] = 0.0
    else:
        R = np.zeros((S, 4))
        R[g] = gr

    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=DEFAULT_GAMMA)
    mdp = TabularMDP(P, R, gamma=gamma, horizon=horizon, init=int(layout.index[start_rc]),
                     name=f"gridworld({nrows}x{ncols}{f',slip={p:g}' if p else ''})")
    if normalize:
        mdp = mdp.replace(R=normalize_rewards(mdp.R, mdp.gamma, mdp.horizon))
    return mdp

"""bsuite's Deep Sea: a needle-in-a-haystack exploration grid."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mdplab.envs._common import as_rng, check_int, check_real, resolve_objective, seed_label
from mdplab.models.tabular import TabularMDP


def deepsea(
    size: int = 10,
    *,
    gamma=None,
    horizon=None,
    deterministic: bool = True,
    move_cost: float = 0.01,
    randomize_actions: bool = False,
    seed=None,
    sparse: bool = False,
) -> TabularMDP:
    """Deep Sea of size ``N``: descend an ``N x N`` grid, reward only at the far right.

    *States*: the cells ``(row, col)``, ``0 <= row, col < N``, numbered
    ``row * N + col``, plus one absorbing zero-reward terminal state ``N**2`` that
    stands for "episode over". Start at ``(0, 0)`` (state 0). Cells with
    ``col > row`` cannot be reached from the start but are kept so the numbering
    is a plain grid.

    *Actions*: two. Each step the agent moves one row down and one column right or
    left. With ``randomize_actions=False`` (default) action ``1 = right`` and
    ``0 = left`` in every cell. With ``randomize_actions=True`` (bsuite's default)
    the meaning is flipped per cell: action ``m[row, col]`` means right, where
    ``m[row, col] ~ Bernoulli(1/2)`` i.i.d., drawn from ``seed``.

    *Transitions* from ``(row, col)``: "right" goes to ``(row+1, min(col+1, N-1))``,
    "left" to ``(row+1, max(col-1, 0))``; from the last row (``row = N-1``) every
    action goes to the terminal state. With ``deterministic=False`` (bsuite's
    "stochastic" version) "right" fails w.p. ``1/N``, and then the column stays
    the same (the row still increases).

    *Rewards* (means): "right" costs ``move_cost / N`` (also when it fails); "right"
    in the last column (``col = N-1``, any row) pays ``+1``; "left" is free. (bsuite's
    stochastic version adds zero-mean N(0, 1) noise at the bottom corners, which does
    not change the mean.)

    Optimal return (finite horizon ``H = N``): always "right" earns
    ``1 - move_cost = 0.99`` in the deterministic version (all ``N`` right moves pay
    the cost, the last one also pays +1), and this is optimal. In the stochastic
    version always "right" earns ``(1 - 1/N)**(N-1) - move_cost`` (bsuite's
    ``optimal_return``); the exact optimum is slightly higher, because once a right
    move has failed the +1 is out of reach and going left saves the move cost.

    Storage: dense ``(N**2 + 1, 2, N**2 + 1)`` by default; ``sparse=True`` stores
    the at most two successors per row (use it for ``N`` beyond ~30, where the dense
    array passes 100 MB).

    Objective: ``horizon=N`` unless ``gamma`` or ``horizon`` is given (longer horizons
    just spend the extra steps in the terminal state).

    Sources: I. Osband, B. Van Roy, D. Russo, Z. Wen, "Deep exploration via
    randomized value functions", JMLR 2019 (arXiv:1703.07608); I. Osband et al.,
    "Behaviour Suite for Reinforcement Learning", ICLR 2020 (arXiv:1908.03568).
    Reference implementation: ``google-deepmind/bsuite``
    ``bsuite/environments/deep_sea.py`` (``DeepSea(size, deterministic,
    unscaled_move_cost=0.01, randomize_actions, ...)``).
    """
    N = check_int(size, "size", 1)
    cost = check_real(move_cost, "move_cost")
    S = N * N + 1
    term = N * N

    if randomize_actions:
        right_action = as_rng(seed).integers(0, 2, size=(N, N))
    else:
        right_action = np.ones((N, N), dtype=np.int64)
    p_ok = 1.0 if deterministic else 1.0 - 1.0 / N

    row, col = np.divmod(np.arange(N * N), N)
    s = row * N + col
    ar = right_action.ravel().astype(np.int64)
    al = 1 - ar
    last = row == N - 1
    nxt = np.where(last, term, (row + 1) * N)  # first cell of the next row
    right = np.where(last, term, nxt + np.minimum(col + 1, N - 1))
    stay = np.where(last, term, nxt + col)
    left = np.where(last, term, nxt + np.maximum(col - 1, 0))
    # (row index s*2 + a, next state, probability) triples; duplicates are summed.
    rows = np.concatenate([s * 2 + ar, s * 2 + ar, s * 2 + al, [term * 2, term * 2 + 1]])
    cols = np.concatenate([right, stay, left, [term, term]])
    vals = np.concatenate([np.full(N * N, p_ok), np.full(N * N, 1.0 - p_ok),
                           np.ones(N * N), [1.0, 1.0]])
    keep = vals > 0
    P = sp.coo_matrix((vals[keep], (rows[keep], cols[keep])), shape=(2 * S, S)).tocsr()

    R = np.zeros((S, 2))
    R[s, ar] = -cost / N + (col == N - 1)

    if not sparse:
        P = P.toarray().reshape(S, 2, S)
    gamma, horizon = resolve_objective(gamma, horizon, default_horizon=N)
    label = "deepsea" if deterministic else "deepsea-stochastic"
    seed_part = seed_label(seed) if randomize_actions else ""
    return TabularMDP(P, R, gamma=gamma, horizon=horizon, init=0,
                      name=f"{label}({N}{seed_part})")

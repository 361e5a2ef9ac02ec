"""Garnet ("generic average reward non-stationary environment test-bench") MDPs."""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import (
    DEFAULT_GAMMA,
    as_rng,
    check_int,
    resolve_objective,
    reward_draw,
    seed_label,
)
from mdplab.models.tabular import _DENSE_LIMIT_BYTES, TabularMDP


def _distinct_successors(rng: np.random.Generator, n_rows: int, n_states: int, k: int):
    """``(n_rows, k)`` array; each row is a uniform random k-subset of ``range(n_states)``.

    Floyd's sampling algorithm, vectorised over rows: for ``j = 0..k-1`` draw
    ``t`` uniform in ``[0, n_states - k + j]``; keep ``t`` unless the row already
    holds it, in which case take ``n_states - k + j`` (which it cannot hold yet).
    This gives an exactly uniform subset with ``k`` draws per row and no rejection.
    """
    dtype = np.int32 if n_states <= np.iinfo(np.int32).max else np.int64
    out = np.empty((n_rows, k), dtype=dtype)
    for j in range(k):
        top = n_states - k + j
        t = rng.integers(0, top + 1, size=n_rows, dtype=dtype)
        if j:
            seen = (out[:, :j] == t[:, None]).any(axis=1)
            t[seen] = top
        out[:, j] = t
    return out


def garnet(
    n_states: int,
    n_actions: int,
    branching: int,
    sparse: bool = False,
    seed=None,
    gamma=None,
    horizon=None,
    reward: str = "uniform",
    *,
    init=None,
) -> TabularMDP:
    """Random Garnet MDP ``G(S, A, b)`` with ``b = branching`` successors per (s, a).

    For every state-action pair ``(s, a)``:

    * the successor set is ``b`` *distinct* states drawn uniformly without
      replacement from ``{0, ..., S-1}`` (``s`` itself may be among them);
    * the successor probabilities are a uniform random partition of [0, 1]: the
      gaps between ``0``, the sorted values of ``b - 1`` i.i.d. U[0, 1] draws, and
      ``1`` (i.e. a flat Dirichlet(1, ..., 1) vector);
    * the mean reward ``R[s, a]`` is i.i.d. U[0, 1] (``reward="uniform"``) or
      N(0, 1) (``reward="normal"``, the Gaussian rewards of Bhatnagar et al.).

    Start state 0 unless ``init`` is given. Objective: ``gamma`` or ``horizon``; if
    neither, ``gamma=0.95``.

    ``sparse=True`` builds the model with :meth:`TabularMDP.from_successors`
    (``S * A * b`` stored entries; ``garnet(10**6, 4, 5, sparse=True)`` takes a few
    seconds); ``sparse=False`` builds a dense ``(S, A, S)`` array. For the same seed
    both forms hold exactly the same model (``dense_P()`` is equal). Random draws,
    in order: successor sets (Floyd's algorithm, ``b`` integer draws per row, rows
    in ``s * A + a`` order), the ``b - 1`` uniforms per row, then the rewards.
    Successors are stored in increasing order within each row, the ``k``-th
    smallest taking the ``k``-th spacing (same law, as the spacings are exchangeable).

    Sources: T. W. Archibald, K. I. M. McKinnon, L. C. Thomas, "On the generation of
    Markov decision processes", J. Oper. Res. Soc. 46(3), 1995; S. Bhatnagar,
    R. S. Sutton, M. Ghavamzadeh, M. Lee, "Natural actor-critic algorithms",
    Automatica 45(11), 2009 (Garnet(n, m, b, sigma), Sec. 8 of the TR09-10 version).
    Public generators consulted for the sampling scheme: ``dotd/entropy_bellman``
    ``src/env/mdps/MDPRandom.py`` (GARNET) and a Julia Garnet following Bhatnagar et
    al. (both normalise uniform weights instead of using spacings).
    """
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    b = check_int(branching, "branching", 1)
    if b > S:
        raise ValueError(f"branching must be in [1, n_states] = [1, {S}]; got {b}")
    if reward not in ("uniform", "normal"):
        raise ValueError(f"reward must be 'uniform' or 'normal'; got {reward!r}")
    if not sparse and S * A * S * 8 > _DENSE_LIMIT_BYTES:
        raise ValueError(
            f"a dense Garnet with n_states={S}, n_actions={A} needs "
            f"{S * A * S * 8 / 1024**3:.1f} GiB; pass sparse=True"
        )
    rng = as_rng(seed)
    n_rows = S * A

    succ = _distinct_successors(rng, n_rows, S, b)
    if b > 1:
        cuts = rng.random((n_rows, b - 1))
        cuts.sort(axis=1)
        prob = np.diff(cuts, prepend=0.0, append=1.0, axis=1)
    else:
        prob = np.ones((n_rows, 1))
    R = reward_draw(rng, (S, A), reward)

    # Store successors in increasing order. The spacings are exchangeable and
    # independent of the successor set, so pairing the k-th smallest successor with
    # the k-th spacing leaves the distribution of the model unchanged.
    succ.sort(axis=1)

    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=DEFAULT_GAMMA)
    name = f"garnet({S},{A},{b}{seed_label(seed)})"
    kwargs = dict(gamma=gamma, horizon=horizon, init=init, name=name)
    if sparse:
        return TabularMDP.from_successors(
            succ.reshape(S, A, b), prob.reshape(S, A, b), R, **kwargs
        )
    P = np.zeros((n_rows, S))
    P[np.arange(n_rows)[:, None], succ] = prob
    return TabularMDP(P.reshape(S, A, S), R, **kwargs)

"""Dense random MDPs with Dirichlet transition rows."""

from __future__ import annotations

import numbers

import numpy as np

from mdplab.envs._common import (
    DEFAULT_GAMMA,
    as_rng,
    check_int,
    check_real,
    resolve_objective,
    reward_draw,
    seed_label,
)
from mdplab.models.tabular import _DENSE_LIMIT_BYTES, TabularMDP


def random_mdp(
    n_states: int,
    n_actions: int,
    gamma=None,
    horizon=None,
    seed=None,
    stage_dependent: bool = False,
    dirichlet_alpha: float = 1.0,
    reward: str = "uniform",
    *,
    init=None,
) -> TabularMDP:
    """Dense random MDP: every transition row is an independent Dirichlet draw.

    ``P[s, a, :] ~ Dirichlet(dirichlet_alpha * 1_S)`` i.i.d. over ``(s, a)``
    (``alpha = 1``: uniform on the simplex; small ``alpha``: nearly deterministic
    rows; large ``alpha``: rows close to uniform), and mean rewards ``R[s, a]``
    i.i.d. U[0, 1] (``reward="uniform"``) or N(0, 1) (``reward="normal"``).

    ``stage_dependent=True`` draws a fresh ``P_h`` and ``R_h`` for every stage,
    giving shapes ``(H, S, A, S)`` and ``(H, S, A)``; it needs ``horizon``.
    Draw order: all of ``P`` (stage, state, action order), then all of ``R``.

    Start state 0 unless ``init`` is given. Objective: ``gamma`` or ``horizon``; if
    neither, ``gamma=0.95``.

    A generic random-MDP test instance (no single canonical source). For comparison,
    ``sawcordwell/pymdptoolbox`` ``mdptoolbox.example.rand`` normalises i.i.d.
    uniform weights on a random support and draws rewards in [-1, 1]; a flat
    Dirichlet row (``alpha = 1``) is instead exactly uniform on the simplex, and
    ``alpha`` sets the row entropy. For sparse random MDPs use
    :func:`~mdplab.envs.garnet`.
    """
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    alpha = check_real(dirichlet_alpha, "dirichlet_alpha")
    if alpha <= 0:
        raise ValueError(f"dirichlet_alpha must be > 0; got {alpha}")
    if reward not in ("uniform", "normal"):
        raise ValueError(f"reward must be 'uniform' or 'normal'; got {reward!r}")
    if stage_dependent:
        if horizon is None:
            raise ValueError("stage_dependent=True needs horizon= (a finite horizon H)")
        if isinstance(horizon, numbers.Integral) and not isinstance(horizon, bool) and horizon >= 1:
            lead = (int(horizon),)
        else:
            raise ValueError(f"horizon must be an integer >= 1; got {horizon!r}")
    else:
        lead = ()
    n_bytes = int(np.prod(lead + (S, A, S))) * 8
    if n_bytes > _DENSE_LIMIT_BYTES:
        raise ValueError(
            f"random_mdp is dense and would need {n_bytes / 1024**3:.1f} GiB; "
            "use garnet(..., sparse=True) for large state spaces"
        )
    rng = as_rng(seed)
    P = rng.dirichlet(np.full(S, alpha), size=lead + (S, A))
    # Renormalise: for tiny alpha numpy's draws can be off by rounding.
    P /= P.sum(axis=-1, keepdims=True)
    R = reward_draw(rng, lead + (S, A), reward)

    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=DEFAULT_GAMMA)
    kind = "-staged" if stage_dependent else ""
    return TabularMDP(P, R, gamma=gamma, horizon=horizon, init=init,
                      name=f"random-mdp{kind}({S},{A}{seed_label(seed)})")

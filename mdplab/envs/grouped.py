"""Random action-wise similar MDPs (the grouping reproduction protocol, note 1.6 [D]).

Every action ``a`` carries a coefficient vector ``w_a`` in ``[-1, 1]^K`` and its
transition row and reward are affine in ``w_a`` (the linear decomposition of note
1.2 with a single base model)::

    P(.|s,a) = Pbar(.|s) + d * sum_j w_{a,j} D_j(.|s),     sum_{s'} D_j(s'|s) = 0,
    R(s,a)   = Rbar(s)   + d * sum_j w_{a,j} e_j(s),

with ``d = dissimilarity`` in ``[0, 1]``. Actions with close coefficients are
similar, so grouping by equal-width cells of ``w``
(:func:`~mdplab.models.grouped.group_by_coefficients`) gives groups of small
dissimilarity: with ``nu`` uniform, ``P(.|s,a) - P_g(.|s,g(a)) = d sum_j (w_{a,j} -
wbar_j) D_j(.|s)`` where ``wbar`` is the group's mean coefficient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdplab.envs._common import as_rng, check_int, check_prob, check_real, resolve_objective
from mdplab.envs._common import seed_label as _seed_label
from mdplab.models.grouped import GroupedMDP, group_by_coefficients
from mdplab.models.tabular import _DENSE_LIMIT_BYTES, TabularMDP

__all__ = ["ActionSimilarMDP", "action_similar_mdp"]

COEFFICIENT_BOUNDS = (-1.0, 1.0)
"""The coefficient box ``W = [-1, 1]^K``."""


@dataclass(frozen=True, eq=False)
class ActionSimilarMDP:
    """An :func:`action_similar_mdp` instance: the model and its hidden structure.

    Attributes
    ----------
    mdp : TabularMDP
        The ``(S, A)`` model.
    coefficients : numpy.ndarray
        ``w``, shape ``(A, K)``, i.i.d. U[-1, 1].
    base_P : numpy.ndarray
        ``Pbar``, shape ``(S, S)``.
    directions_P : numpy.ndarray
        ``D_j``, shape ``(K, S, S)``, rows summing to 0 (before scaling by ``d``).
    base_R : numpy.ndarray
        ``Rbar``, shape ``(S,)``.
    directions_R : numpy.ndarray
        ``e_j``, shape ``(K, S)`` (before scaling by ``d``).
    dissimilarity : float
        ``d``.
    """

    mdp: TabularMDP
    coefficients: np.ndarray
    base_P: np.ndarray
    directions_P: np.ndarray
    base_R: np.ndarray
    directions_R: np.ndarray
    dissimilarity: float

    def grouping(self, n_bins: int) -> np.ndarray:
        """Groups: equal-width cells of ``[-1, 1]^K``, ``n_bins`` per axis (empty ones dropped)."""
        return group_by_coefficients(self.coefficients, n_bins, bounds=COEFFICIENT_BOUNDS)

    def grouped(self, n_bins: int, nu="uniform") -> GroupedMDP:
        """:class:`GroupedMDP` of :meth:`grouping` with lower-level policy ``nu``."""
        return GroupedMDP(self.mdp, self.grouping(n_bins), nu)


def action_similar_mdp(
    n_states: int,
    n_actions: int,
    *,
    n_components: int = 1,
    dissimilarity: float = 1.0,
    reward_spread: float = 0.2,
    gamma=None,
    horizon=None,
    init=None,
    seed=None,
) -> ActionSimilarMDP:
    """Random action-wise similar MDP with ``K = n_components`` coefficients per action.

    Construction ([D]; module docstring for the model). For every state ``s`` and
    component ``j``, draw two rows ``q+_j(.|s), q-_j(.|s) ~ Dirichlet(1_S)`` and set::

        Pbar(.|s)  = (1/K) sum_j (q+_j + q-_j) / 2,     D_j(.|s) = (q+_j - q-_j) / (2K),

    so that ``P(.|s,a) = (1/K) sum_j [ (1 + d w_{a,j}) q+_j + (1 - d w_{a,j}) q-_j ] / 2``
    is a convex mixture of Dirichlet rows: a distribution for every ``|w_{a,j}| <= 1``
    and ``d <= 1``, with no row-dependent shrinking, and ``P`` is computed in this
    mixture form (non-negative by construction; at ``d = 0`` all actions get
    bitwise-identical rows). ``Rbar(s) ~ U[0, 1]`` and ``e_j(s) ~ U[-rho, rho]``
    with ``rho = reward_spread``; rewards lie in ``[-K rho d, 1 + K rho d]``.

    Deviation from the note: ``Pbar`` is the midpoint of Dirichlet rows rather than
    a single Dirichlet draw. A single draw ``Pbar`` with ``D = c (q - Pbar)`` leaves
    the simplex at ``w = -1`` unless ``c`` is shrunk row by row to ``min Pbar / (q -
    Pbar)``, which for ``Dir(1)`` rows is often tiny and would make all actions alike.

    Parameters
    ----------
    n_states, n_actions : int
        ``S`` and ``A`` (the note's protocol: 10 and 100).
    n_components : int
        ``K`` (note: 1).
    dissimilarity : float in [0, 1]
        ``d``: scales every intra-group spread (``0``: all actions identical).
    reward_spread : float
        ``rho`` (note: 0.2; a guess of the note's, not the paper's).
    gamma, horizon :
        Objective; default ``gamma = 0.9`` (note 1.6). A finite horizon gives a
        stationary model.
    init : optional
        Initial state or distribution; default uniform over states ([D] guess: the
        note's ``d0`` is unspecified).
    seed : int, Generator or None
        Draw order: ``q+`` (``K, S`` rows), ``q-`` (same), ``w`` (``A, K``), ``Rbar``
        (``S``), ``e`` (``K, S``).

    Returns
    -------
    ActionSimilarMDP
        The model plus its coefficients and base/direction arrays.
    """
    S = check_int(n_states, "n_states", 1)
    A = check_int(n_actions, "n_actions", 1)
    K = check_int(n_components, "n_components", 1)
    d = check_prob(dissimilarity, "dissimilarity")
    rho = check_real(reward_spread, "reward_spread")
    if rho < 0:
        raise ValueError(f"reward_spread must be >= 0; got {rho}")
    if S * A * S * 8 > _DENSE_LIMIT_BYTES:
        raise ValueError(
            f"action_similar_mdp is dense and would need {S * A * S * 8 / 1024**3:.1f} GiB"
        )
    rng = as_rng(seed)
    q_plus = rng.dirichlet(np.ones(S), size=(K, S))
    q_minus = rng.dirichlet(np.ones(S), size=(K, S))
    w = rng.uniform(-1.0, 1.0, size=(A, K))
    R_bar = rng.random(S)
    e = rng.uniform(-rho, rho, size=(K, S))

    # Mixture form, one component at a time (elementwise ops: identical actions get
    # bitwise-identical rows).
    P = np.zeros((S, A, S))
    for j in range(K):
        alpha = (1.0 + d * w[:, j]) / (2.0 * K)
        beta = (1.0 - d * w[:, j]) / (2.0 * K)
        P += alpha[None, :, None] * q_plus[j][:, None, :]
        P += beta[None, :, None] * q_minus[j][:, None, :]
    R = R_bar[:, None] + d * (e.T @ w.T)  # (S, A)

    gamma, horizon = resolve_objective(gamma, horizon, default_gamma=0.9)
    name = f"action_similar({S},{A},K={K},d={d:g}{_seed_label(seed)})"
    mdp = TabularMDP(
        P,
        R,
        gamma=gamma,
        horizon=horizon,
        init=np.full(S, 1.0 / S) if init is None else init,
        name=name,
    )
    base_P = (q_plus + q_minus).sum(axis=0) / (2.0 * K)
    directions_P = (q_plus - q_minus) / (2.0 * K)
    for arr in (w, base_P, directions_P, R_bar, e):
        arr.flags.writeable = False
    return ActionSimilarMDP(mdp, w, base_P, directions_P, R_bar, e, d)

"""Random alpha-revealing POMDPs (research note, section 4; the instance family is marked
reconstructed there).

A POMDP is (1-step) *alpha-revealing* when its emission matrix ``Z^T`` (O x S,
column ``s`` = the observation law of hidden state ``s``) has smallest singular
value ``sigma_S(Z^T) >= alpha``: observations then pin the hidden state down
robustly, and the PSR conversion has a well-conditioned inverse
(``||(Z^T)^+||`` small).

:func:`random_revealing_pomdp` draws

* transitions ``T[s, a, :] ~ Dirichlet(transition_concentration)`` (0.5, as in
  the note);
* an action-independent emission ``Z[s, :] ~ Dirichlet(emission_concentration)``
  (1.0: a guess, the note only says "random columns"), conditioned on
  ``sigma_S(Z^T) >= alpha`` by one of two methods:

  - ``"mixing"`` (default, always terminates): ``Z = (1 - lam) Z_rand + lam Z_hot``
    where ``Z_hot`` sends state ``s`` deterministically to its own observation
    (a random injective assignment; ``sigma_S(Z_hot^T) = 1``) and ``lam`` in
    ``[0, 1]`` is found by bisection, keeping the invariant that the upper end
    satisfies the condition, so the result always has ``sigma_S >= alpha`` and
    ``lam`` is (up to 1e-9) the smallest such value found -- 0 when the draw is
    already revealing enough. This is *not* the exact conditional law;
  - ``"rejection"``: redraw ``Z_rand`` until ``sigma_S >= alpha`` (the exact
    conditional law; ValueError after ``max_tries`` draws);

* mean rewards ``R[s, a] ~ U[0, 1]`` and a uniform initial belief (guesses).

``alpha = 0`` gives an unconstrained random POMDP, which may have fewer
observations than states (non-revealing).
"""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import as_rng, check_int, check_real, seed_label
from mdplab.models.pomdp import POMDP

__all__ = ["random_revealing_pomdp"]


def _sigma_min(Z: np.ndarray) -> float:
    """``sigma_S`` of ``Z^T`` for ``Z`` of shape (S, O); 0 when O < S."""
    S = Z.shape[0]
    sv = np.linalg.svd(Z.T, compute_uv=False)
    return float(sv[S - 1]) if sv.size >= S else 0.0


def random_revealing_pomdp(
    n_states: int = 3,
    n_observations: int = 5,
    n_actions: int = 2,
    horizon: int = 4,
    alpha: float = 0.2,
    *,
    seed=None,
    method: str = "mixing",
    transition_concentration: float = 0.5,
    emission_concentration: float = 1.0,
    max_tries: int = 10_000,
) -> POMDP:
    """A random POMDP whose :meth:`~mdplab.models.pomdp.POMDP.revealing_constant` is
    at least ``alpha`` (see the module docstring for the distribution).

    Parameters
    ----------
    n_states, n_observations, n_actions : int
        ``alpha > 0`` needs ``n_observations >= n_states``.
    horizon : int
        Episode length (finite-horizon objective).
    alpha : float in [0, 1)
        Required ``sigma_S`` of the emission matrix (default 0.2, about the median
        of unconstrained draws at S=3, O=5).
    seed : int, Generator or None
    method : {"mixing", "rejection"}
    transition_concentration, emission_concentration : float > 0
        Dirichlet parameters of the rows of ``T`` and of the emission rows.
    max_tries : int
        Draws allowed by the rejection method.
    """
    S = check_int(n_states, "n_states", 1)
    O = check_int(n_observations, "n_observations", 1)
    A = check_int(n_actions, "n_actions", 1)
    H = check_int(horizon, "horizon", 1)
    alpha = check_real(alpha, "alpha")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1); got {alpha}")
    if alpha > 0.0 and O < S:
        raise ValueError(
            f"alpha={alpha} > 0 needs n_observations >= n_states; got {O} < {S} "
            "(an O x S emission matrix with O < S has sigma_S = 0)"
        )
    if method not in ("mixing", "rejection"):
        raise ValueError(f"method must be 'mixing' or 'rejection'; got {method!r}")
    conc_t = check_real(transition_concentration, "transition_concentration")
    conc_z = check_real(emission_concentration, "emission_concentration")
    for value, name in ((conc_t, "transition_concentration"), (conc_z, "emission_concentration")):
        if value <= 0.0:
            raise ValueError(f"{name} must be > 0; got {value}")
    tries = check_int(max_tries, "max_tries", 1)
    rng = as_rng(seed)

    T = rng.dirichlet(np.full(S, conc_t), size=(S, A))
    R = rng.random((S, A))
    Z = rng.dirichlet(np.full(O, conc_z), size=S)
    if method == "rejection":
        for _ in range(tries - 1):
            if _sigma_min(Z) >= alpha:
                break
            Z = rng.dirichlet(np.full(O, conc_z), size=S)
        if _sigma_min(Z) < alpha:
            raise ValueError(
                f"no emission matrix with sigma_S >= {alpha} in {tries} draws; "
                "use method='mixing' or a smaller alpha"
            )
    elif _sigma_min(Z) < alpha:
        hot = np.zeros((S, O))
        hot[np.arange(S), rng.choice(O, size=S, replace=False)] = 1.0
        lo, hi = 0.0, 1.0  # invariant: sigma_S(mix(hi)) >= alpha (hi = 1 gives 1)
        while hi - lo > 1e-9:
            mid = 0.5 * (lo + hi)
            if _sigma_min((1.0 - mid) * Z + mid * hot) >= alpha:
                hi = mid
            else:
                lo = mid
        Z = (1.0 - hi) * Z + hi * hot
    label = f"RandomRevealing(S={S}, O={O}, A={A}, alpha={alpha:g}{seed_label(seed)})"
    return POMDP(T, Z, R, np.full(S, 1.0 / S), horizon=H, name=label)

"""The result object every exact solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PlanningResult:
    """Values, action values and policy of a solved (or evaluated) model.

    Shapes. Discounted models: ``values (S,)``, ``q (S, A)``, ``policy (S,)``.
    Finite horizon ``H``: ``values (H+1, S)`` with ``values[h]`` the value of
    stage ``h`` and ``values[H] = 0``; ``q (H, S, A)``; ``policy (H, S)``. A
    stochastic policy that was evaluated keeps its ``(S, A)`` / ``(H, S, A)`` shape.

    Attributes
    ----------
    error_bound : float
        A certified bound on ``||values - V||_inf`` where ``V`` is the exact
        target (``V*`` for solvers, ``V^pi`` for policy evaluation), derived
        from a Bellman residual (see each solver's docstring). Exact recursions
        (backward induction) report 0: their only error is floating-point rounding.
    iterations : int
        Outer iterations of the method (sweeps, improvement steps, stages).
    method : str
        Which algorithm produced it, e.g. ``"value_iteration"``.
    stopping_rule : str
        The rule that ended the iteration, stated with its bound.
    converged : bool
        False when ``max_iter`` ran out before the target accuracy.
    info : dict
        Method-specific extras (residual history, lower/upper bounds, ...).
    """

    values: np.ndarray
    q: np.ndarray
    policy: np.ndarray
    iterations: int
    error_bound: float
    method: str
    stopping_rule: str = ""
    converged: bool = True
    init: np.ndarray | None = field(default=None, repr=False)
    info: dict = field(default_factory=dict, repr=False)

    @property
    def initial_value(self) -> float:
        """``sum_s init(s) V_0(s)``: the value of the model's initial distribution."""
        v0 = self.values if self.values.ndim == 1 else self.values[0]
        if self.init is None:
            raise ValueError("this result carries no initial distribution")
        return float(self.init @ v0)

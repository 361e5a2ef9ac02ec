"""The Bellman operator of one stage of a model, dense or sparse alike.

``BellmanOperator(mdp, h)`` binds stage ``h``'s arrays once; its methods run the
parallel kernels of :mod:`mdplab.kernels.bellman` into caller buffers, so an
iteration loop allocates nothing. ``op(V)`` returns ``T V``.
"""

from __future__ import annotations

import numpy as np

from mdplab.kernels import bellman
from mdplab.models import TabularMDP
from mdplab.models._validation import check_index, check_model, check_real, check_value_vector


class BellmanOperator:
    """``T_h V = max_a [R_h + gamma P_h V]`` for stage ``h`` (``gamma`` defaults to the
    model's; finite-horizon models use 1)."""

    __slots__ = ("S", "A", "gamma", "R", "_P", "_csr", "_ell", "_row0")

    def __init__(self, mdp: TabularMDP, h: int = 0, gamma: float | None = None):
        check_model(mdp, TabularMDP, "BellmanOperator")
        n_stages = mdp.horizon or 1
        h = check_index(h, "stage h", n_stages, f" (the model has {n_stages} stage(s))")
        self.S, self.A = mdp.S, mdp.A
        if gamma is None:
            gamma = mdp.gamma if mdp.discounted else 1.0
        self.gamma = check_real(gamma, "gamma", lo=0.0, hi=1.0)
        self.R = np.ascontiguousarray(mdp.R_at(h))
        if mdp.is_sparse:
            self._P = None
            self._csr = mdp.csr
            # Fixed-width successor lists (Garnet, from_successors) get the faster kernels.
            self._ell = self._csr.fixed_width()
            self._row0 = 0 if mdp.transitions_stationary else h * mdp.S * mdp.A
        else:
            self._P = mdp.P_at(h)
            self._csr = self._ell = None
            self._row0 = 0

    def greedy(self, V, V_out, pi_out) -> None:
        """``V_out = T V``, ``pi_out = greedy(V)``."""
        if self._P is not None:
            bellman.greedy_sweep_dense(self._P, self.R, self.gamma, V, V_out, pi_out)
        elif self._ell is not None:
            ind, dat = self._ell
            bellman.greedy_sweep_ell(ind, dat, self._row0, self.R, self.gamma, V, V_out, pi_out)
        else:
            c = self._csr
            bellman.greedy_sweep_csr(
                c.indptr, c.indices, c.data, self._row0, self.R, self.gamma, V, V_out, pi_out
            )

    def q(self, V, Q_out, V_out, pi_out) -> None:
        """``Q_out = R + gamma P V`` with its max and argmax."""
        if self._P is not None:
            bellman.q_backup_dense(self._P, self.R, self.gamma, V, Q_out, V_out, pi_out)
        elif self._ell is not None:
            ind, dat = self._ell
            bellman.q_backup_ell(ind, dat, self._row0, self.R, self.gamma, V, Q_out, V_out, pi_out)
        else:
            c = self._csr
            bellman.q_backup_csr(
                c.indptr, c.indices, c.data, self._row0, self.R, self.gamma, V, Q_out, V_out,
                pi_out,
            )

    def policy(self, pi, V, V_out) -> None:
        """``V_out = T_pi V`` for a deterministic ``pi``."""
        if self._P is not None:
            bellman.policy_sweep_dense(self._P, self.R, self.gamma, pi, V, V_out)
        elif self._ell is not None:
            ind, dat = self._ell
            bellman.policy_sweep_ell(ind, dat, self._row0, self.R, self.gamma, pi, V, V_out)
        else:
            c = self._csr
            bellman.policy_sweep_csr(
                c.indptr, c.indices, c.data, self._row0, self.R, self.gamma, pi, V, V_out
            )

    def full_q(self, V):
        """Allocate and return ``(Q, max_a Q, argmax_a Q)``."""
        Q = np.empty((self.S, self.A))
        Vn = np.empty(self.S)
        pi = np.empty(self.S, dtype=np.int64)
        self.q(V, Q, Vn, pi)
        return Q, Vn, pi

    def __call__(self, V, out=None):
        """``T V`` (into ``out`` if given); checks shapes, unlike the buffer methods."""
        V = check_value_vector(V, (self.S,), "V")
        if out is None:
            out = np.empty(self.S)
        elif not (isinstance(out, np.ndarray) and out.shape == (self.S,)
                  and out.dtype == np.float64 and out.flags.c_contiguous):
            raise ValueError(f"out must be a contiguous float64 array of shape ({self.S},)")
        self.greedy(V, out, np.empty(self.S, dtype=np.int64))
        return out

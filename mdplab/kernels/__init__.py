"""Numba kernels: plain functions on arrays, no model objects.

* :mod:`mdplab.kernels.rng` -- a counter-seeded xoshiro256** stream RNG usable
  inside ``@njit`` code, plus the Python helpers that derive per-stream seeds;
* :mod:`mdplab.kernels.sampling` -- categorical draws, episode rollouts and
  generative-model sampling, dense and CSR, parallel over episodes/pairs;
* :mod:`mdplab.kernels.bellman` -- Bellman backups, dense and CSR.

Submodules are not imported here, so importing one kernel family does not load
(or compile) the others.
"""

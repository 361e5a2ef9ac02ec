"""Planning benchmarks: mdplab kernels against numpy / scipy baselines, in one run.

    python benchmarks/planning.py --json bench_planning.json

Every figure is a ratio of two timings taken in the same process, back to
back, so machine noise mostly cancels (absolute times are reported as context).
The two sides of each ratio run in alternating blocks (see :func:`paired`); the
ratio is the median over blocks, the absolute times the best block.

Keys:
* ``dense_sweep_ratio_vs_numpy``: one mdplab Bellman sweep / one numpy-BLAS sweep
  ``(R + gamma * (P.reshape(S*A, S) @ V).reshape(S, A)).max(1)``, dense random
  MDP, S=500, A=10, gamma=0.99 (goal <= 1.1).
* ``vstar_ratio_vs_numpy_pi``: ``mdplab.planning.solve`` to a certified
  ``||V - V*|| <= 1e-8`` / plain numpy policy iteration (``np.linalg.solve``)
  on the same MDP (goal <= 1.0).
* ``sparse_sweep_ratio_vs_scipy``: sweep on a sparse Garnet S=1e6, A=4, 5
  successors / a scipy.sparse CSR matvec sweep (goal <= 0.7).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np
import scipy.sparse as sp
from timing import emit, paired

from mdplab import envs
from mdplab.models import TabularMDP
from mdplab.planning import BellmanOperator, solve


def numpy_policy_iteration(P2, R, gamma):
    """Baseline: textbook PI with numpy, greedy-on-R start, stop when stable."""
    S, A = R.shape
    pi = R.argmax(1)
    rows = np.arange(S)
    eye = np.eye(S)
    P3 = P2.reshape(S, A, S)
    while True:
        V = np.linalg.solve(eye - gamma * P3[rows, pi], R[rows, pi])
        new = (R + gamma * (P2 @ V).reshape(S, A)).argmax(1)
        if np.array_equal(new, pi):
            return V
        pi = new


def dense_case(blocks: int) -> dict:
    S, A, gamma = 500, 10, 0.99
    rng = np.random.default_rng(0)
    P = rng.random((S, A, S))
    P /= P.sum(-1, keepdims=True)
    R = rng.random((S, A))
    mdp = TabularMDP(P, R, gamma=gamma)
    op = BellmanOperator(mdp)
    V = rng.random(S)
    out = np.empty(S)
    pi = np.empty(S, dtype=np.int64)
    P2 = np.ascontiguousarray(mdp.P).reshape(S * A, S)

    sweep_ratio, t_ml, t_np = paired(
        lambda: op.greedy(V, out, pi), lambda: (R + gamma * (P2 @ V).reshape(S, A)).max(1),
        blocks,
    )
    ref = (R + gamma * (P2 @ V).reshape(S, A)).max(1)
    assert np.allclose(out, ref, atol=1e-12, rtol=0)

    res = solve(mdp, eps=1e-8)
    vstar_ratio, t_solve, t_pi = paired(
        lambda: solve(mdp, eps=1e-8), lambda: numpy_policy_iteration(P2, R, gamma), blocks,
        min_time=0.3,
    )
    v_pi = numpy_policy_iteration(P2, R, gamma)
    true_err = float(np.max(np.abs(res.values - v_pi)))
    assert res.error_bound <= 1e-8 and true_err <= 1e-8
    return {
        "S": S, "A": A, "gamma": gamma,
        "dense_sweep_ratio_vs_numpy": sweep_ratio,
        "dense_sweep_mdplab_s": t_ml,
        "dense_sweep_numpy_s": t_np,
        "vstar_ratio_vs_numpy_pi": vstar_ratio,
        "vstar_mdplab_s": t_solve,
        "vstar_numpy_pi_s": t_pi,
        "vstar_method": res.method,
        "vstar_iterations": res.iterations,
        "certified_error": res.error_bound,
        "observed_error_vs_numpy_pi": true_err,
    }


def sparse_case(blocks: int, n_states: int) -> dict:
    S, A, k, gamma = n_states, 4, 5, 0.99
    t = time.perf_counter()
    mdp = envs.garnet(S, A, k, sparse=True, seed=0, gamma=gamma)
    t_build = time.perf_counter() - t
    op = BellmanOperator(mdp)
    rng = np.random.default_rng(1)
    V = rng.random(S)
    out = np.empty(S)
    pi = np.empty(S, dtype=np.int64)
    Pm = mdp.transition_matrix()
    Pm = sp.csr_matrix((Pm.data, Pm.indices, Pm.indptr), shape=Pm.shape)
    Rf = np.ascontiguousarray(mdp.R).ravel()

    sparse_ratio, t_ml, t_sc = paired(
        lambda: op.greedy(V, out, pi), lambda: (Rf + gamma * (Pm @ V)).reshape(S, A).max(1),
        blocks, min_time=0.3,
    )
    ref = (Rf + gamma * (Pm @ V)).reshape(S, A).max(1)
    assert np.allclose(out, ref, atol=1e-12, rtol=0)
    return {
        "sparse_S": S, "sparse_A": A, "sparse_successors": k,
        "sparse_sweep_ratio_vs_scipy": sparse_ratio,
        "sparse_kernel": "fixed-width" if mdp.csr.width > 0 else "csr",
        "sparse_sweep_mdplab_s": t_ml,
        "sparse_sweep_scipy_s": t_sc,
        "sparse_garnet_build_s": t_build,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--blocks", type=int, default=15, help="interleaved timing blocks")
    ap.add_argument("--sparse-states", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    out = {
        "threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "numpy": np.__version__,
        "numba": numba.__version__,
    }
    out.update(dense_case(args.blocks))
    out.update(sparse_case(args.blocks, args.sparse_states))
    return emit(out, args.json)


if __name__ == "__main__":
    main()

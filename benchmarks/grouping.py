"""Grouped-learner benchmarks: cost independent of |A|, and numba against numpy.

    python benchmarks/grouping.py --json bench_grouping.json

Keys:
* ``grouping_time_ratio_A1e5_vs_A1e2``: time of one grouped-learner run
  (``learn_grouped``: N = 1000 draws per (state, group), |S| = 10, M = 10
  uniform groups, certified VI to 1e-8, the greedy group policy) on an
  action-similar MDP with |A| = 10^5, over the same run with |A| = 100
  (interleaved timing, median of per-block ratios). Goal <= 1.5: the learner
  touches only the sampled actions' rows.
* ``grouping_ratio_vs_numpy``: a numpy transcription of the same learner (per
  (state, group): vectorised draws of the N actions and next states by
  inverse CDF of the sampled rows, ``bincount``; VI sweeps with ``einsum``)
  over the numba learner, at |A| = 100. Goal >= 10 (higher is better).
"""

from __future__ import annotations

import argparse
import os
import platform

import numba
import numpy as np
from timing import emit, paired

from mdplab.algorithms.grouped import _default_iterations, learn_grouped
from mdplab.envs.grouped import action_similar_mdp


def numpy_learner(grouped, N: int, T: int, seed: int) -> np.ndarray:
    """The grouped learner in plain numpy (the baseline)."""
    mdp = grouped.mdp
    S, M = mdp.S, grouped.n_groups
    P, R = mdp.P, mdp.R
    rng = np.random.default_rng(seed)
    P_hat = np.zeros((S, M, S))
    R_hat = np.zeros((S, M))
    for s in range(S):
        for m in range(M):
            members = grouped.members(m)
            a = members[rng.integers(0, members.size, N)]
            cdf = np.cumsum(P[s, a], axis=1)
            u = rng.random(N)[:, None]
            s2 = np.minimum((u >= cdf).sum(axis=1), S - 1)
            P_hat[s, m] = np.bincount(s2, minlength=S) / N
            R_hat[s, m] = R[s, a].mean()
    V = np.zeros(S)
    for _ in range(T):
        Q = R_hat + mdp.gamma * np.einsum("smt,t->sm", P_hat, V)
        V = Q.max(axis=1)
    return Q.argmax(axis=1)


def case(blocks: int) -> dict:
    S, M, N = 10, 10, 1000
    small = action_similar_mdp(S, 100, seed=0).grouped(M)
    large = action_similar_mdp(S, 100_000, seed=0).grouped(M)
    assert small.n_groups == large.n_groups == M
    T = _default_iterations(0.9, float(np.abs(small.mdp.R).max()), 1e-8)
    ratio_A, t_large, t_small = paired(lambda: learn_grouped(large, N, seed=1),
                                       lambda: learn_grouped(small, N, seed=1), blocks)
    ratio_np, t_np, t_nb = paired(lambda: numpy_learner(small, N, T, 1),
                                  lambda: learn_grouped(small, N, seed=1), blocks)
    res = learn_grouped(small, N, seed=1)
    return {
        "grouping_time_ratio_A1e5_vs_A1e2": round(ratio_A, 3),
        "grouping_ratio_vs_numpy": round(ratio_np, 2),
        "seconds_A1e2": round(t_small, 6), "seconds_A1e5": round(t_large, 6),
        "seconds_numpy_A1e2": round(t_np, 6), "seconds_numba_A1e2": round(t_nb, 6),
        "S": S, "M": M, "N": N, "iterations": res.iterations, "samples": res.samples,
        "operations": res.operations,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args(argv)
    out = {
        "machine": {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                    "python": platform.python_version()},
        "grouping": case(args.blocks),
    }
    return emit(out, args.json)


if __name__ == "__main__":
    main()

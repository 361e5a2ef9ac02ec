"""EM iterations of :class:`mdplab.algorithms.psr_estimation.POMDPClass` against a plain
numpy forward-backward, in the same run (merged into ``benchmarks/psr.py``).

One EM iteration = E-step (scaled forward-backward, expected counts) + floored
M-step, on trajectories sampled from a random revealing POMDP (uniform actions).
The numpy side is a batch-vectorised transcription of the same E-step (every
trajectory advanced at once with fancy indexing and einsum, counts with
``np.add.at``) and the same M-step; both are checked to give the same counts.

Headline ``em_ratio_vs_numpy`` = compiled time / numpy time per iteration
(interleaved blocks, median of per-block ratios, ``benchmarks/timing.py:
paired``); goal <= 0.1. Run alone: ``python benchmarks/_psr_em.py [--quick]
[--json FILE]``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from timing import emit, paired  # noqa: E402

from mdplab.algorithms.psr_estimation import POMDPClass, em_estep, floor_rows  # noqa: E402
from mdplab.envs.revealing import random_revealing_pomdp  # noqa: E402


def numpy_estep(T, Z, b0, a, o):
    """Batch scaled forward-backward in numpy (all rows of full length L)."""
    N, L = a.shape
    S, A, _ = T.shape
    O = Z.shape[2]
    alpha = np.empty((L + 1, N, S))
    beta = np.empty((L + 1, N, S))
    c = np.empty((L + 1, N))
    alpha[0] = b0
    ops = []
    for t in range(L):
        # step[n, s, s2] = T[s, a_nt, s2] Z[a_nt, s2, o_nt]
        step = T[:, a[:, t], :].transpose(1, 0, 2) * Z[a[:, t], :, o[:, t]][:, None, :]
        ops.append(step)
        nxt = np.einsum("ns,nsk->nk", alpha[t], step)
        c[t + 1] = nxt.sum(axis=1)
        alpha[t + 1] = nxt / c[t + 1][:, None]
    ll = np.log(c[1:]).sum(axis=0)
    beta[L] = 1.0
    for t in range(L - 1, -1, -1):
        beta[t] = np.einsum("nsk,nk->ns", ops[t], beta[t + 1]) / c[t + 1][:, None]
    cT = np.zeros((S, A, S))
    cZ = np.zeros((A, S, O))
    c0 = (alpha[0] * beta[0]).sum(axis=0)
    for t in range(L):
        xi = alpha[t][:, :, None] * ops[t] * beta[t + 1][:, None, :] / c[t + 1][:, None, None]
        np.add.at(cT.transpose(1, 0, 2), a[:, t], xi)
        np.add.at(cZ, (a[:, t], slice(None), o[:, t]), alpha[t + 1] * beta[t + 1])
    return cT, cZ, c0, ll


def numpy_floor_rows(counts, p):
    out = np.empty_like(counts)
    for r, n in enumerate(counts):
        if n.sum() <= 0:
            out[r] = 1.0 / n.size
            continue
        free = np.ones(n.size, bool)
        while True:
            lam = n[free].sum() / (1.0 - p * (~free).sum())
            drop = free & (n < p * lam)
            if not drop.any():
                break
            free &= ~drop
        out[r] = np.where(free, n / lam, p)
    return out


def measure(quick: bool = False) -> dict:
    S, O, A, H = 3, 5, 2, 4
    n = 2000 if quick else 20000
    pomdp = random_revealing_pomdp(n_states=S, n_observations=O, n_actions=A, horizon=H,
                                   seed=0)
    data = pomdp.sample(n, seed=1)
    a, o = data.actions, data.observations
    lengths = np.full(n, H, dtype=np.int64)
    cls = POMDPClass(S, A, O, H)
    rng = np.random.default_rng(2)
    T, Z, b0 = cls._initial(rng, None)
    dummy = np.zeros((1, 1))

    def compiled():
        cT, cZ, c0, _, ll = em_estep(T, Z, b0, a, o, lengths, dummy, False)
        cls._mstep(cT, cZ, c0, b0)
        return float(ll.sum())

    def plain():
        cT, cZ, c0, ll = numpy_estep(T, Z, b0, a, o)
        numpy_floor_rows(cT.reshape(S * A, S), cls.p_min)
        numpy_floor_rows(cZ.reshape(A * S, O), cls.p_min)
        numpy_floor_rows(c0[None, :], cls.p_min)
        return float(ll.sum())

    got = em_estep(T, Z, b0, a, o, lengths, dummy, False)
    ref = numpy_estep(T, Z, b0, a, o)
    agree = max(float(np.max(np.abs(got[0] - ref[0]))), float(np.max(np.abs(got[1] - ref[1]))),
                float(np.max(np.abs(got[4] - ref[3]))))
    assert np.allclose(floor_rows(got[0].reshape(S * A, S), cls.p_min),
                       numpy_floor_rows(ref[0].reshape(S * A, S), cls.p_min))
    ratio, t_c, t_n = paired(compiled, plain, blocks=3 if quick else 7,
                             min_time=0.1 if quick else 0.3, settle=0.1)
    return {
        "em_ratio_vs_numpy": ratio,
        "em_iterations_per_s": 1.0 / t_c,
        "em_numpy_iterations_per_s": 1.0 / t_n,
        "em_trajectories": n,
        "em_instance": f"random revealing POMDP S={S} O={O} A={A} H={H}",
        "em_max_abs_diff_vs_numpy": agree,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    emit(measure(args.quick), args.json)


if __name__ == "__main__":
    main()

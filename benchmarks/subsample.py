"""SUB-SAMPLE-Q learning speed: mdplab's numba table learner against numpy, in one run.

    python benchmarks/subsample.py --json bench_subsample.json

Instance: ``envs.demand_response(8)`` (the authors' setting: |S_g| = 5, |A_g| = 3,
|S_l| = 25), ``m = 20`` samples per entry per iteration, ``T = 10`` iterations.

Baselines, both in this file and both the same algorithm (same table, same
operator, numpy ``Generator`` draws by inverse CDF):

* ``numpy_sweep_per_entry``: the transcription one writes from Algorithm 1 --
  a Python loop over the table entries, each entry's ``m`` samples of ``k + 1``
  agents vectorised (``searchsorted`` on cumulative rows, ``bincount`` counts,
  the vectorised ``composition_index`` ranks). It is timed on the first
  ``numpy_entries`` entries of one iteration and its per-update time scaled.
* ``numpy_sweep_vectorised``: all entries of a block at once (arrays
  ``(entries, m, k, |S_l|)``): the fastest plain numpy form we found, reported
  beside it (``*_vectorised``) so the headline ratio is not only against a loop.

Before timing, both baselines are checked against the exact ``k``-agent operator
on a small queueing system (sample means within 5 standard errors).

``coupled``: the variant that shares each sample's local draws among the actions
of a row (the local moves ignore ``a_g``; same law per entry), ``*_coupled`` keys.

Keys: ``subsample_ratio_vs_numpy`` (k = 4, mdplab updates/s over the per-entry
numpy's; goal >= 100) and ``subsample_ratio_vs_numpy_vectorised``;
``subsample_updates_per_s`` (sampled entry updates, i.e. samples, per second at
k = 5, goal >= 3e7 on 2 cores); ``subsample_k5_s`` (learning time at k = 5, goal
<= 15 s); ``learn_s_by_k`` for k = 1..5 measured and k = 6 from one iteration
times T; ``subsample_time_ratio_n1000_vs_n10`` (k = 4, T = 2, interleaved
blocks; goal <= 1.5); the table sizes (mean-field against k-tuple) and the
largest k each fits in 2 GiB and in a 60 s learning budget at the measured rate.
``loadavg_*``: the 1-minute load average before and after (other processes on
the cores slow both sides alike in the interleaved ratios, but not the absolute
times).

Measured (2-core AMD EPYC VM shared with other jobs, load average 2.6-3.4):
ratio vs per-entry numpy 1762, vs vectorised numpy 73.5; k = 5: 30.6 s
(1.17e7 samples/s; coupled 10.2 s, 3.5e7/s); one thread alone reaches 1.48e7
samples/s at k = 5 (68 ns per sample), so an idle 2-core machine should give
about 15 s; n = 1000 vs n = 10: 1.02; largest k in 2 GiB: 8 (mean-field) vs 5
(k-tuple); in 60 s at the measured rate: 5 vs 3.
"""

from __future__ import annotations

import argparse
import math
import os
import platform

import numba
import numpy as np
from timing import emit, paired

from mdplab.algorithms.global_local import (
    empirical_k_operator,
    exact_k_operator,
    learn_subsample_q,
    table_bytes,
    tuple_table_entries,
)
from mdplab.envs.global_local import demand_response, queueing
from mdplab.models.global_local import composition_index, compositions


def _setup(system, k):
    G, A, L = system.S_g, system.A_g, system.S_l
    comps = compositions(k, L)
    tuples = np.stack([np.repeat(np.arange(L), c) for c in comps])  # (M, k)
    cdf_g = np.cumsum(system.P_g, axis=2)
    cdf_l = np.cumsum(system.P_l, axis=2)  # [s_l, s_g, :]
    rloc = (system.r_l[tuples, :].mean(axis=1)).T  # (G, M)
    return G, A, L, tuples, cdf_g, cdf_l, rloc


def numpy_sweep_per_entry(system, k, V, m, rng, n_entries=None):
    """One iteration of the empirical operator, a Python loop over entries."""
    G, A, L, tuples, cdf_g, cdf_l, rloc = _setup(system, k)
    M = tuples.shape[0]
    Q = np.zeros((G, M, A))
    total = G * M * A if n_entries is None else n_entries
    e = 0
    rows = np.arange(m)
    for g in range(G):
        for i in range(M):
            loc = tuples[i]
            for a in range(A):
                if e == total:
                    return Q
                g2 = np.minimum(np.searchsorted(cdf_g[g, a], rng.random(m), side="right"),
                                G - 1)
                u = rng.random((m, k))
                y = np.empty((m, k), dtype=np.int64)
                for j in range(k):
                    y[:, j] = np.searchsorted(cdf_l[loc[j], g], u[:, j], side="right")
                np.minimum(y, L - 1, out=y)
                counts = np.bincount((rows[:, None] * L + y).ravel(),
                                     minlength=m * L).reshape(m, L)
                nxt = V[g2, composition_index(counts)]
                Q[g, i, a] = system.r_g[g, a] + rloc[g, i] + system.gamma * nxt.mean()
                e += 1
    return Q


def numpy_sweep_vectorised(system, k, V, m, rng, block=4096, n_entries=None):
    """One iteration, all entries of a block at once."""
    G, A, L, tuples, cdf_g, cdf_l, rloc = _setup(system, k)
    M = tuples.shape[0]
    E = G * M * A if n_entries is None else n_entries
    out = np.zeros(G * M * A)
    for lo in range(0, E, block):
        e = np.arange(lo, min(lo + block, E))
        g, rest = np.divmod(e, M * A)
        i, a = np.divmod(rest, A)
        ug = rng.random((e.size, m))
        g2 = np.minimum((ug[..., None] >= cdf_g[g, a][:, None, :]).sum(-1), G - 1)
        loc = tuples[i]  # (B, k)
        u = rng.random((e.size, m, k))
        c = cdf_l[loc, g[:, None]]  # (B, k, L)
        y = np.minimum((u[..., None] >= c[:, None, :, :]).sum(-1), L - 1)  # (B, m, k)
        flat = (np.arange(e.size * m)[:, None] * L + y.reshape(-1, k)).ravel()
        counts = np.bincount(flat, minlength=e.size * m * L).reshape(-1, L)
        nxt = V[g2.ravel(), composition_index(counts)]
        out[e] = (system.r_g[g, a] + rloc[g, i]
                  + system.gamma * nxt.reshape(e.size, m).mean(axis=1))
    return out.reshape(G, M, A)


def check_baselines() -> dict:
    system = queueing(4)
    k = 2
    rng = np.random.default_rng(0)
    V = rng.normal(size=(system.S_g, system.count_space_size(k)))
    exact = exact_k_operator(system, k, V)
    worst = {}
    for name, fn in (("per_entry", numpy_sweep_per_entry),
                     ("vectorised", numpy_sweep_vectorised),
                     ("mdplab", None)):
        draws = np.stack([
            fn(system, k, V, 200, np.random.default_rng(s)) if fn is not None
            else empirical_k_operator(system, k, V, 200, seed=s) for s in range(30)])
        z = np.abs(draws.mean(0) - exact) / np.maximum(draws.std(0, ddof=1) / math.sqrt(30),
                                                       1e-12)
        worst[name] = float(z.max())
        assert z.max() < 5, (name, z.max())
    return worst


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--numpy-entries", type=int, default=3000)
    args = parser.parse_args(argv)
    m, T = 20, 10
    out = {"machine": {"cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                       "python": platform.python_version()},
           "loadavg_before": os.getloadavg()[0], "m": m, "T": T}
    out["baseline_check_max_z"] = check_baselines()
    system = demand_response(8)
    learn_subsample_q(system, 2, m, 1, seed=0)  # compile / load the cache

    learn_s, rate = {}, {}
    for k in range(1, 6):
        res = learn_subsample_q(system, k, m, T, seed=0)
        learn_s[k] = res.learn_s
        rate[k] = res.samples / res.learn_s
    one = learn_subsample_q(system, 6, m, 1, seed=0)
    learn_s[6] = one.learn_s * T
    coupled = {}
    for k in (4, 5):
        res = learn_subsample_q(system, k, m, T, seed=0, coupled=True)
        coupled[k] = (res.learn_s, res.samples / res.learn_s)
    out["coupled_learn_s"] = {str(k): round(v[0], 3) for k, v in coupled.items()}
    out["subsample_k5_s_coupled"] = round(coupled[5][0], 3)
    out["subsample_updates_per_s_coupled"] = float(f"{coupled[5][1]:.4g}")
    out["learn_s_by_k"] = {str(k): round(v, 4) for k, v in learn_s.items()}
    out["learn_s_k6_note"] = "k = 6: one iteration timed, times T"
    out["updates_per_s_by_k"] = {str(k): float(f"{v:.4g}") for k, v in rate.items()}
    out["subsample_k5_s"] = round(learn_s[5], 3)
    out["subsample_updates_per_s"] = float(f"{rate[5]:.4g}")

    # k = 4: per-update time against the numpy baselines (one iteration each side).
    k = 4
    M = system.count_space_size(k)
    V = np.random.default_rng(1).normal(size=(system.S_g, M))
    n_np = args.numpy_entries
    n_all = system.S_g * M * system.A_g
    ratios = {}
    for label, fn in (("per_entry", numpy_sweep_per_entry),
                      ("vectorised", numpy_sweep_vectorised)):
        r, t_fast, t_np = paired(
            lambda: empirical_k_operator(system, k, V, m, seed=3),
            lambda fn=fn: fn(system, k, V, m, np.random.default_rng(3), n_entries=n_np),
            args.blocks, min_time=0.5)
        # ratio of per-update times: (t_np / n_np) / (t_fast / n_all)
        ratios[label] = (1.0 / r) * n_all / n_np
        out[f"numpy_{label}_updates_per_s"] = float(f"{n_np * m / t_np:.4g}")
    out["mdplab_k4_updates_per_s"] = float(f"{n_all * m / t_fast:.4g}")
    out["subsample_ratio_vs_numpy"] = round(ratios["per_entry"], 1)
    out["subsample_ratio_vs_numpy_vectorised"] = round(ratios["vectorised"], 1)

    # Flat in n: the learner never touches the n agents.
    small, large = demand_response(10), demand_response(1000)
    r, t10, t1000 = paired(lambda: learn_subsample_q(large, 4, m, 2, seed=0),
                           lambda: learn_subsample_q(small, 4, m, 2, seed=0),
                           args.blocks, min_time=0.5)
    out["subsample_time_ratio_n1000_vs_n10"] = round(r, 3)

    # Where the table size makes k infeasible.
    limit = 2 * 1024**3
    sizes = {}
    for kk in range(1, 11):
        sizes[str(kk)] = {"mean_field_entries": system.S_g * system.count_space_size(kk)
                          * system.A_g, "tuple_entries": tuple_table_entries(system, kk),
                          "mean_field_bytes": table_bytes(system, kk)}
    out["table_sizes"] = sizes
    rate5 = rate[5]
    mf_mem = max(kk for kk in range(1, 11) if table_bytes(system, kk) <= limit)
    tp_mem = max(kk for kk in range(1, 11) if tuple_table_entries(system, kk) * 8 * 5 / 3
                 <= limit)  # same (A + 2) / A working-set factor
    mf_time = max(kk for kk in range(1, 11) if system.S_g * system.count_space_size(kk)
                  * system.A_g * m * T / rate5 <= 60)
    tp_time = max(kk for kk in range(1, 11) if tuple_table_entries(system, kk) * m * T / rate5
                  <= 60)
    out["largest_k_2GiB"] = {"mean_field": mf_mem, "tuple": tp_mem}
    out["largest_k_60s_at_measured_rate"] = {"mean_field": mf_time, "tuple": tp_time}
    out["loadavg_after"] = os.getloadavg()[0]
    return emit(out, args.json)


if __name__ == "__main__":
    main()

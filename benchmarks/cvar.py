"""CVaR benchmarks: the budget DP and CVaR-UCBVI against numpy transcriptions, in one run.

    python benchmarks/cvar.py --json bench_cvar.json

* ``cvar_dp_ratio_vs_numpy``: ``solve_cvar`` (numba, parallel over (state,
  budget) cells) time divided by a vectorised numpy budget DP (below,
  ``numpy_cvar_dp``: one stage at a time, one gather per reward atom and an
  ``einsum`` over successors, the kernel's own ``U = sum_j p_j (P V)(c - r_j)``
  form) on ``random_grid_mdp(50, 4, 10, levels=10)``:
  S=50, A=4, H=10, 11 reward atoms per pair, 101 budgets. Goal <= 0.1. Both
  give the same shortfall values (checked to 1e-12 first).
  ``cvar_dp_ratio_vs_numpy_direct``: the same against the direct numpy form
  ``U = P (E_r V_{h+1}(., c - r))`` (J times more work; what the W-form costs).
* ``cvar_ucbvi_ratio_vs_numpy``: CVaR-UCBVI (Bernstein) episodes/s divided by a
  numpy transcription of the same learner (``numpy_cvar_ucbvi``: vectorised
  optimistic DP with the Bernstein bonus, optimistic budget choice, exact
  forward law of the played (policy, budget) for the regret, a Python episode
  and count update) on ``random_grid_mdp(6, 2, 4, levels=2)`` (9 budgets).
  Goal >= 50. Checked first: the numpy optimistic DP equals the kernel
  ``optimistic_dp`` on random count tables, and the numpy forward law equals
  ``return_distribution``.
* ``seeds_parallel_speedup``: CVaR-UCBVI, ``n_seeds=2`` against ``n_seeds=1``
  with the same episodes per seed: ``(2 K / t_2) / (K / t_1)`` (2 = perfect on
  2 cores; outside load lowers it, ``loadavg`` is recorded).

Timing: interleaved blocks (``benchmarks/timing.py: paired``), median ratio.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from timing import emit, paired  # noqa: E402

from mdplab import envs  # noqa: E402
from mdplab.algorithms import CVaRUCBVI  # noqa: E402
from mdplab.planning import backward_induction, return_distribution, solve_cvar  # noqa: E402
from mdplab.planning.cvar import cvar_grid, optimistic_dp  # noqa: E402


# ------------------------------------------------------------- numpy baselines
def numpy_cvar_dp(P, steps, probs, H, c0, eta, n, bonus_fn=None, counts=None, maxrem=None,
                  direct=False):
    """Vectorised budget DP (non-negative rewards: the grid starts at 0 and never
    needs values above it). ``bonus_fn(h, W, Pm)`` returns the bonus ``(S, A, n)``."""
    nP, S, A, _ = P.shape
    nR, J = steps.shape[0], steps.shape[3]
    c = c0 + eta * np.arange(n)
    V = np.zeros((H + 1, S, n))
    V[H] = np.maximum(c, 0.0)[None]
    pol = np.zeros((H, S, n), dtype=np.int64)
    jj = np.arange(n)
    for h in range(H - 1, -1, -1):
        Pm = P[h if nP > 1 else 0]
        st, pr = steps[h if nR > 1 else 0], probs[h if nR > 1 else 0]
        if bonus_fn is None and not direct:
            # planning: U(c) = sum_j p_j Z(c - r_j), Z = P V_{h+1} (the kernel's form)
            Z = np.concatenate([np.zeros((S, A, 1)), np.einsum("sat,tn->san", Pm, V[h + 1])],
                               axis=2)
            U = np.zeros((S, A, n))
            for j in range(J):
                idx = np.maximum(jj[None, None, :] - st[:, :, j, None] + 1, 0)
                U += pr[:, :, j, None] * np.take_along_axis(Z, idx, axis=2)
            pol[h] = np.argmin(U, axis=1)
            V[h] = U.min(axis=1)
            continue
        Vp = np.concatenate([np.zeros((S, 1)), V[h + 1]], axis=1)     # index 0 = below grid
        W = np.zeros((S, A, S, n))                                     # E_r V(s', c - r)
        for j in range(J):
            idx = np.maximum(jj[None, None, :] - st[:, :, j, None] + 1, 0)   # (S, A, n)
            W += pr[:, :, j, None, None] * Vp[:, idx].transpose(1, 2, 0, 3)
        U = np.einsum("sat,satn->san", Pm, W)
        if bonus_fn is not None:
            U = U - bonus_fn(h, W, Pm, U)
            U = np.where(counts[h if counts.shape[0] > 1 else 0][:, :, None] == 0, -np.inf, U)
        pol[h] = np.argmin(U, axis=1)
        best = U.min(axis=1)
        if bonus_fn is not None:
            best = np.minimum(np.maximum(best, np.maximum(c - maxrem[h], 0.0)[None]),
                              np.maximum(c, 0.0)[None])
        V[h] = best
    return V, pol


def numpy_forward(P, steps, probs, init, H, pol, j0, kmax):
    nP, S, A, _ = P.shape
    nR = steps.shape[0]
    M = H * kmax + 1
    n = pol.shape[2]
    L = np.zeros((S, M))
    L[:, 0] = init
    m = np.arange(M)
    for h in range(H):
        Pm = P[h if nP > 1 else 0]
        st, pr = steps[h if nR > 1 else 0], probs[h if nR > 1 else 0]
        jb = np.clip(j0 - m, 0, n - 1)
        act = pol[h][:, jb]                                  # (S, M)
        new = np.zeros((S, M))
        for s in range(S):
            for a in range(A):
                w = np.where(act[s] == a, L[s], 0.0)
                if not w.any():
                    continue
                for j in range(st.shape[2]):
                    if pr[s, a, j] == 0:
                        continue
                    shifted = np.zeros(M)
                    k = st[s, a, j]
                    shifted[k:] = w[:M - k] * pr[s, a, j]
                    new += Pm[s, a][:, None] * shifted[None, :]
        L = new
    return L.sum(axis=0)


def _cvar(law, eta, tau):
    cum = np.cumsum(law)
    q = int(np.searchsorted(cum, tau - 1e-12))
    x = eta * np.arange(law.size)
    below = law[:q] @ x[:q]
    return (below + x[q] * (tau - (cum[q - 1] if q > 0 else 0.0))) / tau


def numpy_cvar_ucbvi(mdp, K, tau, scale, delta, seed, cvar_star):
    """A numpy transcription of CVaR-UCBVI (Bernstein); returns the regret."""
    grid = cvar_grid(mdp)
    P = mdp.stage_P()
    H, S, A = mdp.horizon, mdp.S, mdp.A
    steps, probs, eta, n = grid.steps, grid.probs, grid.eta, grid.n
    kmax = int(steps.max())
    top = np.where(probs > 0, steps, 0).reshape(steps.shape[0], -1).max(axis=1) * eta
    per = np.broadcast_to(top, (H,)) if top.size == 1 else top
    maxrem = np.concatenate([np.cumsum(per[::-1])[::-1], [0.0]])
    vrange = maxrem[0]
    L = math.log(S * A * H * K / delta)
    rng = np.random.default_rng(seed)
    counts = np.zeros((1, S, A))
    trans = np.zeros((1, S, A, S))
    reg = 0.0
    cdf_P = np.cumsum(P, axis=-1)
    cdf_r = np.cumsum(probs, axis=-1)
    for _ in range(K):
        Phat = trans / np.maximum(counts, 1)[..., None]

        n_ = np.maximum(counts[0], 1)

        def bonus(h, W, Pm, U, n_=n_):
            var = np.maximum(np.einsum("sat,satn->san", Pm, W * W) - U * U, 0.0)
            return scale * (np.sqrt(2 * L * var / n_[:, :, None]) + vrange * L / n_[:, :, None])

        V, pol = numpy_cvar_dp(Phat, steps, probs, H, 0.0, eta, n, bonus, counts, maxrem)
        f = eta * np.arange(n) - (mdp.init @ V[0]) / tau
        j0 = int(np.argmax(f))
        law = numpy_forward(P, steps, probs, mdp.init, H, pol, j0, kmax)
        reg += cvar_star - _cvar(law, eta, tau)
        u = rng.random(2 * H + 1)
        s = int(np.searchsorted(np.cumsum(mdp.init), u[0], side="right"))
        jb = j0
        for h in range(H):
            a = pol[h, s, min(max(jb, 0), n - 1)]
            j = min(int(np.searchsorted(cdf_r[0, s, a], u[2 * h + 1], side="right")),
                    probs.shape[3] - 1)
            jb -= steps[0, s, a, j]
            t = min(int(np.searchsorted(cdf_P[0, s, a], u[2 * h + 2], side="right")), S - 1)
            counts[0, s, a] += 1
            trans[0, s, a, t] += 1
            s = t
    return reg


# ------------------------------------------------------------------ checks
def _check(dp_mdp, learn_mdp, tau):
    grid = cvar_grid(dp_mdp)
    res = solve_cvar(dp_mdp, tau)
    V, pol = numpy_cvar_dp(dp_mdp.stage_P(), grid.steps, grid.probs, dp_mdp.horizon, grid.c0,
                           grid.eta, grid.n)
    assert np.abs(V - res.shortfall).max() < 1e-12, "numpy DP disagrees with solve_cvar"
    V2, _ = numpy_cvar_dp(dp_mdp.stage_P(), grid.steps, grid.probs, dp_mdp.horizon, grid.c0,
                          grid.eta, grid.n, direct=True)
    assert np.abs(V2 - res.shortfall).max() < 1e-12, "direct numpy DP disagrees"
    # optimistic DP on random counts
    g = cvar_grid(learn_mdp)
    H, S, A = learn_mdp.horizon, learn_mdp.S, learn_mdp.A
    rng = np.random.default_rng(0)
    trans = rng.integers(0, 4, size=(1, S, A, S)).astype(float)
    trans[0, 0, 0] = 0
    counts = trans.sum(-1)
    Phat = trans / np.maximum(counts, 1)[..., None]
    top = np.where(g.probs > 0, g.steps, 0).max() * g.eta
    maxrem = top * np.arange(H, -1, -1, dtype=float)
    L, scale, vrange = 3.0, 0.3, maxrem[0]

    n_ = np.maximum(counts[0], 1)

    def bonus(h, W, Pm, U, n_=n_):
        var = np.maximum(np.einsum("sat,satn->san", Pm, W * W) - U * U, 0.0)
        return scale * (np.sqrt(2 * L * var / n_[:, :, None]) + vrange * L / n_[:, :, None])

    Vn, pn = numpy_cvar_dp(Phat, g.steps, g.probs, H, 0.0, g.eta, g.n, bonus, counts, maxrem)
    Vk = np.zeros((H + 1, S, g.n))
    pk = np.zeros((H, S, g.n), dtype=np.int64)
    optimistic_dp(Phat, counts, g.steps, g.probs, H, 0.0, g.eta, np.zeros((H + 1, S)), 2,
                  scale, L, vrange, maxrem, Vk, pk)
    assert np.abs(Vn - Vk).max() < 1e-12, "numpy optimistic DP disagrees with optimistic_dp"
    r = solve_cvar(learn_mdp, tau)
    law = numpy_forward(learn_mdp.stage_P(), g.steps, g.probs, learn_mdp.init, H, r.policy,
                        r.budget_index, int(g.steps.max()))
    ref = return_distribution(learn_mdp, r)
    x = g.eta * np.arange(law.size)
    assert abs(law @ x - ref.mean()) < 1e-12 and abs(_cvar(law, g.eta, tau) - r.value) < 1e-12


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args(argv)
    import numba

    tau = 0.25
    dp_mdp = envs.random_grid_mdp(50, 4, 10, levels=10, seed=0)
    learn_mdp = envs.random_grid_mdp(6, 2, 4, levels=2, seed=1)
    _check(dp_mdp, learn_mdp, tau)
    out: dict = {"threads": numba.get_num_threads(), "loadavg_before": os.getloadavg()[0]}

    grid = cvar_grid(dp_mdp)
    out["dp_S_A_H_budgets"] = [dp_mdp.S, dp_mdp.A, dp_mdp.horizon, grid.n]
    P = dp_mdp.stage_P()
    ratio, t_m, t_n = paired(lambda: solve_cvar(dp_mdp, tau),
                             lambda: numpy_cvar_dp(P, grid.steps, grid.probs, dp_mdp.horizon,
                                                   grid.c0, grid.eta, grid.n),
                             args.blocks)
    out.update(cvar_dp_ratio_vs_numpy=ratio, cvar_dp_mdplab_s=t_m, cvar_dp_numpy_s=t_n)
    ratio, t_m, t_n = paired(lambda: solve_cvar(dp_mdp, tau),
                             lambda: numpy_cvar_dp(P, grid.steps, grid.probs, dp_mdp.horizon,
                                                   grid.c0, grid.eta, grid.n, direct=True),
                             max(2, args.blocks // 2))
    out.update(cvar_dp_ratio_vs_numpy_direct=ratio, cvar_dp_numpy_direct_s=t_n)

    learner = CVaRUCBVI("bernstein", tau=tau, bonus_scale=0.1)
    star = solve_cvar(learn_mdp, tau).value
    K_fast, K_slow = 20_000, 200
    ratio, t_m, t_n = paired(lambda: learner.run(learn_mdp, K_fast, seed=0),
                             lambda: numpy_cvar_ucbvi(learn_mdp, K_slow, tau, 0.1, 0.1, 0, star),
                             args.blocks)
    per_m, per_n = t_m / K_fast, t_n / K_slow
    out.update(cvar_ucbvi_ratio_vs_numpy=(ratio * K_slow / K_fast) ** -1,
               cvar_ucbvi_mdplab_eps_per_s=1 / per_m, cvar_ucbvi_numpy_eps_per_s=1 / per_n,
               cvar_ucbvi_mdplab_episodes=K_fast, cvar_ucbvi_numpy_episodes=K_slow)

    K = 20_000
    speeds = []
    for _ in range(args.blocks):
        time.sleep(0.3)
        t = time.perf_counter()
        learner.run(learn_mdp, K, seed=0, n_seeds=1)
        t1 = time.perf_counter() - t
        time.sleep(0.3)
        t = time.perf_counter()
        learner.run(learn_mdp, K, seed=0, n_seeds=2)
        t2 = time.perf_counter() - t
        speeds.append((2 * K / t2) / (K / t1))
    out["seeds_parallel_speedup"] = float(np.median(speeds))
    out["seeds_parallel_speedup_blocks"] = speeds
    out["loadavg_after"] = os.getloadavg()[0]
    out["mean_optimal_cvar_gap_dp_model"] = float(
        solve_cvar(dp_mdp, tau).value
        - return_distribution(dp_mdp, backward_induction(dp_mdp).policy).cvar(tau))
    return emit(out, args.json)


if __name__ == "__main__":
    main()

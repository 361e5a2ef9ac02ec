"""Learner benchmarks: mdplab's compiled online loops against plain numpy learners, in one run.

    python benchmarks/learners.py --json bench_learners.json

Three learners, each on ``envs.chain(length=10, horizon=10)`` (S=10, A=2) and
``envs.gridworld(horizon=20)`` (5x5 with two walls: S=23, A=4), default
constants:

* UCBVI-CH (``UCBVI("ch")``): pooled counts, optimistic backward induction with
  the CH bonus ``7 v_range L / sqrt(n)`` clipped at ``v_max_h`` and at the
  previous episode's Q, every episode;
* MVP (``MVP()``, original variant): pooled doubling-trigger statistics,
  re-planning with the MVP bonus only in episodes where a count reached a power
  of two;
* Q-learning-UCB (``QLearningUCB("hoeffding")``): per-step update with
  ``alpha_t = (H + 1) / (H + t)`` and bonus ``c sqrt(H^3 iota / t)``.

Each baseline below (``numpy_ucbvi``, ``numpy_mvp``, ``numpy_qlearning``) is a
straightforward Python/numpy transcription of the same learner: what one would
write without a compiler. Vectorised where it is natural (backward induction
one stage at a time as ``(S, A, S) @ (S,)`` products, exact policy evaluation
likewise), Python where the algorithm is sequential (the steps of an episode,
the count updates). Like mdplab, every episode it computes the exact value of
the executed policy (the regret) and the realized return; it draws its
uniforms from a numpy ``Generator``, one ``random(H + 1)`` call per episode,
and samples by inverse CDF on precomputed cumulative sums.

Checks, before any timing (the script stops on a failure):

* planning: on random count tables (with unvisited pairs; bonus scales 1, 0.01
  and 1e-4 so that the clipping is not always active; successive tables so that
  UCBVI's ``min`` with the previous Q is exercised) the numpy UCBVI planner gives
  the same ``Q`` (``allclose``, 1e-12) and policy as
  ``mdplab.algorithms.ucbvi.plan_ucbvi``, and the numpy MVP planner the same
  policy and values (1e-9: ``p.V^2 - (p.V)^2`` cancels) as
  ``mdplab.algorithms.mvp._plan``;
* end to end: fed mdplab's own uniform stream (``kernels.rng.next_double`` of
  the seed ``run`` used), every baseline reproduces mdplab's per-episode exact
  and realized regret curves (``checkpoint_every=1``, 300 episodes) on both
  models, with the default constants and with a small bonus (UCBVI/MVP
  ``bonus_scale=1e-3``, Q-learning ``c=5e-3``) under which the policy changes.
  The timed baselines draw from a numpy ``Generator`` instead.

Timing. Each ratio compares the two sides in the same process, in alternating
blocks separated by a settle pause (as in ``benchmarks/planning.py``): mdplab
learns one seed for ``*_mdplab_episodes`` (20k-500k, one ``run`` of ~1 s, so
its fixed cost -- validation, ``V*``, seeding, thread launch; see
``mdplab_run_overhead_s_*`` -- is amortised), the numpy baseline for
``*_python_episodes`` (300-1000, repeated to fill ~0.2 s). The ratio of the
per-episode times is the median over blocks; ``*_eps_per_s`` come from the
best block. UCBVI's and Q-learning's work per episode does not depend on the
episode count; MVP plans only in episodes where a count doubles (often early,
rarely later), so the short numpy run plans relatively more often:
``mvp_*_python_planning_share`` is the share of its time spent planning and
``mvp_*_ratio_vs_python_if_no_planning`` the ratio against a numpy run that
never plans (a lower bound).

With the default constants the bonuses exceed the value caps for all these
runs: every learner keeps playing action 0 (the regret per episode is
constant), and mdplab's UCBVI planner then skips the unvisited pairs. For
context, ``ucbvi_{chain,grid}_learning_*`` repeat the UCBVI ratio with
``bonus_scale=1e-3`` (both sides), where it explores and learns.

``*seeds_parallel_speedup``: gridworld, ``run(..., n_seeds=2)`` against
``n_seeds=1`` with the same episodes per seed: ``(2 K / t_2) / (K / t_1)``
(total throughput ratio; 2 = perfect), median over blocks (``*_blocks``: each
block's). Seeds run in numba ``prange`` on ``threads`` numba threads. Outside
load on the cores lowers it: ``loadavg_*`` is the 1-minute load average before
and after the run.

Keys: ``{ucbvi,mvp,qlearning}_{chain,grid}_ratio_vs_python`` (mdplab eps/s
divided by numpy eps/s; goal >= 500), ``seeds_parallel_speedup`` (UCBVI-CH),
``mvp_seeds_parallel_speedup``, ``qlearning_seeds_parallel_speedup`` (goal >=
1.8 on 2 cores), with the episodes/s of each side and the episode counts.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from functools import partial

import numba
import numpy as np

# ----------------------------------------------------------------- numpy baselines
from timing import emit, paired

from mdplab import envs
from mdplab.algorithms import MVP, UCBVI, QLearningUCB
from mdplab.algorithms.mvp import _plan as mvp_plan
from mdplab.algorithms.ucbvi import plan_ucbvi
from mdplab.kernels.rng import new_state, next_double
from mdplab.planning import backward_induction


class Model:
    """A stationary finite-horizon model in the plain arrays the baselines use."""

    def __init__(self, mdp):
        P, R = mdp.stage_P(), mdp.stage_R()
        if P.shape[0] != 1 or R.shape[0] != 1:
            raise ValueError("the numpy baselines take stationary models (pooled counts)")
        self.P = np.ascontiguousarray(P[0])
        self.R = np.ascontiguousarray(R[0])
        self.init = np.asarray(mdp.init, dtype=float)
        self.H = int(mdp.horizon)
        self.S, self.A = self.R.shape
        self.rows = np.arange(self.S)
        # inverse-CDF sampling: first j with u < cum[j]; rounding fallback: the last
        # j with p_j > 0 (as mdplab.kernels.sampling.inverse_cdf_dense)
        self.cum = np.cumsum(self.P, axis=-1)
        self.cum_init = np.cumsum(self.init)
        self.last = self.S - 1 - np.argmax(self.P[..., ::-1] > 0, axis=-1)
        self.last_init = self.S - 1 - int(np.argmax(self.init[::-1] > 0))
        V = np.zeros(self.S)
        for _ in range(self.H):
            V = (self.R + self.P @ V).max(axis=1)
        self.v_star = float(self.init @ V)

    def first_state(self, u):
        j = int(np.searchsorted(self.cum_init, u, side="right"))
        return j if j < self.S else self.last_init

    def next_state(self, s, a, u):
        j = int(np.searchsorted(self.cum[s, a], u, side="right"))
        return j if j < self.S else int(self.last[s, a])

    def policy_value(self, pi):
        """Exact ``init . V^pi_0`` of a deterministic policy ``pi (H, S)``."""
        V = np.zeros(self.S)
        rows = self.rows
        for h in range(self.H - 1, -1, -1):
            a = pi[h]
            V = self.R[rows, a] + self.P[rows, a] @ V
        return float(self.init @ V)


def numpy_uniforms(seed):
    """Per-episode uniforms from a numpy Generator (the timed baselines)."""
    return np.random.default_rng(seed).random


def mdplab_uniforms(seed):
    """mdplab's own stream of ``seed`` (end-to-end checks only)."""
    state = new_state(np.uint64(seed))
    return lambda n: np.array([next_double(state) for _ in range(n)])


def numpy_plan_ucbvi(R, H, counts, trans, Q, pi, scale, L, v_range):
    """UCBVI-CH optimistic backward induction on pooled ``counts (S, A)``,
    ``trans (S, A, S)``; updates ``Q (H, S, A)`` and ``pi (H, S)`` in place."""
    S = R.shape[0]
    rmax = v_range / H
    visited = counts > 0
    n = np.where(visited, counts, 1.0)
    P_hat = trans / n[..., None]
    bonus = scale * (7.0 * v_range * L * np.sqrt(1.0 / n))
    V = np.zeros(S)
    for h in range(H - 1, -1, -1):
        vmax = (H - h) * rmax
        q = np.where(visited, np.minimum(R + P_hat @ V + bonus, vmax), vmax)
        np.minimum(q, Q[h], out=Q[h])
        pi[h] = Q[h].argmax(axis=1)
        V = Q[h].max(axis=1)


def numpy_ucbvi(model, K, uniforms, *, delta=0.1, scale=1.0):
    """UCBVI-CH, one seed; returns per-episode cumulative (regret, realized regret)."""
    m = model
    S, A, H, R = m.S, m.A, m.H, m.R
    L = math.log(5.0 * S * A * K * H / delta)
    v_range = H * max(R.max(), 1e-300)
    counts = np.zeros((S, A))
    trans = np.zeros((S, A, S))
    Q = np.empty((H, S, A))
    for h in range(H):
        Q[h] = (H - h) * v_range / H
    pi = np.zeros((H, S), dtype=np.int64)
    regret, realized = np.empty(K), np.empty(K)
    reg = real = 0.0
    for k in range(K):
        numpy_plan_ucbvi(R, H, counts, trans, Q, pi, scale, L, v_range)
        reg += m.v_star - m.policy_value(pi)
        u = uniforms(H + 1)
        s = m.first_state(u[0])
        ret = 0.0
        for h in range(H):
            a = pi[h, s]
            ret += R[s, a]
            s2 = m.next_state(s, a, u[h + 1])
            counts[s, a] += 1.0
            trans[s, a, s2] += 1.0
            s = s2
        real += m.v_star - ret
        regret[k], realized[k] = reg, real
    return regret, realized


def numpy_plan_mvp(P_hat, n_hat, r_hat, H, c1, c2, c3, iota, r_max, caps, pi):
    """Original-MVP backward induction on the frozen pooled estimates; fills ``pi``
    and returns the values ``V_0``."""
    S = r_hat.shape[0]
    unvisited = n_hat <= 0.0
    n = np.where(unvisited, 1.0, n_hat)
    rvar = np.maximum(r_max * r_hat, 0.0)
    b_reward = c2 * np.sqrt(rvar * iota / n)
    b_count = c3 * caps[0] * iota / n
    V = np.zeros(S)
    for h in range(H - 1, -1, -1):
        ev = P_hat @ V
        var = np.maximum(P_hat @ (V * V) - ev * ev, 0.0)
        q = r_hat + ev + (c1 * np.sqrt(var * iota / n) + b_reward + b_count)
        Q = np.where(unvisited, caps[h], np.minimum(q, caps[h]))
        pi[h] = Q.argmax(axis=1)
        V = Q.max(axis=1)
    return V


def numpy_mvp(model, K, uniforms, *, alg=None, stats=None):
    """MVP (original variant), one seed; returns cumulative (regret, realized regret).

    ``stats`` (a dict), if given, receives the number of planning episodes and the
    final estimates (to time one planning call)."""
    alg = alg or MVP()
    if alg.variant != "original" or alg.value_bound is not None:
        raise ValueError("the numpy MVP baseline is the original variant without value_bound")
    m = model
    S, A, H, R = m.S, m.A, m.H, m.R
    iota = alg.iota(S, A, H, K)
    r_max = max(float(R.max()), 0.0)
    caps = alg.value_caps(R[None], H)
    c1, c2, c3 = (alg.bonus_scale * c for c in (alg.c1, alg.c2, alg.c3))
    N_all = np.zeros((S, A), dtype=np.int64)
    N_b = np.zeros((S, A, S))
    theta = np.zeros((S, A))
    n_hat = np.zeros((S, A))
    P_hat = np.zeros((S, A, S))
    r_hat = np.zeros((S, A))
    pi = np.zeros((H, S), dtype=np.int64)
    regret, realized = np.empty(K), np.empty(K)
    reg = real = 0.0
    n_plans = 0
    for k in range(K):
        reg += m.v_star - m.policy_value(pi)
        u = uniforms(H + 1)
        s = m.first_state(u[0])
        ret = 0.0
        triggered = False
        for h in range(H):
            a = pi[h, s]
            r = R[s, a]
            ret += r
            s2 = m.next_state(s, a, u[h + 1])
            N_all[s, a] += 1
            N_b[s, a, s2] += 1.0
            theta[s, a] += r
            c = N_all[s, a]
            if c & (c - 1) == 0:  # a power of two: freeze the estimates of (s, a)
                n = N_b[s, a].sum()
                n_hat[s, a] = n
                P_hat[s, a] = N_b[s, a] / n
                r_hat[s, a] = theta[s, a] / n
                triggered = True
            s = s2
        real += m.v_star - ret
        regret[k], realized[k] = reg, real
        if triggered:  # the policy of the next episode
            numpy_plan_mvp(P_hat, n_hat, r_hat, H, c1, c2, c3, iota, r_max, caps, pi)
            n_plans += 1
    if stats is not None:
        stats["plans"] = n_plans
        stats["plan"] = lambda: numpy_plan_mvp(P_hat, n_hat, r_hat, H, c1, c2, c3, iota, r_max,
                                               caps, pi.copy())
    return regret, realized


def numpy_qlearning(model, K, uniforms, *, c=1.0, delta=0.1):
    """Q-learning-UCB (Hoeffding), one seed; returns cumulative (regret, realized regret)."""
    m = model
    S, A, H, R = m.S, m.A, m.H, m.R
    iota = math.log(S * A * K * H / delta)
    r_max = R.max()
    vmax = [(H - h) * r_max for h in range(H + 1)]
    Q = np.empty((H, S, A))
    for h in range(H):
        Q[h] = vmax[h]
    N = np.zeros((H, S, A), dtype=np.int64)
    regret, realized = np.empty(K), np.empty(K)
    reg = real = 0.0
    for k in range(K):
        pi = Q.argmax(axis=2)  # greedy at the start of the episode = the executed policy
        reg += m.v_star - m.policy_value(pi)
        u = uniforms(H + 1)
        s = m.first_state(u[0])
        ret = 0.0
        for h in range(H):
            a = pi[h, s]
            r = R[s, a]
            ret += r
            s2 = m.next_state(s, a, u[h + 1])
            v_next = min(Q[h + 1, s2].max(), vmax[h + 1]) if h + 1 < H else 0.0
            N[h, s, a] += 1
            t = N[h, s, a]
            alpha = (H + 1.0) / (H + t)
            b = c * math.sqrt(H**3 * iota / t)
            Q[h, s, a] = (1.0 - alpha) * Q[h, s, a] + alpha * (r + v_next + b)
            s = s2
        real += m.v_star - ret
        regret[k], realized[k] = reg, real
    return regret, realized


# ----------------------------------------------------------------- checks


def random_counts(rng, S, A, n_max):
    """Random pooled transition counts with some unvisited pairs and sparse rows."""
    trans = rng.integers(0, n_max, size=(S, A, S)) * (rng.random((S, A, S)) < 0.3)
    trans[rng.random((S, A)) < 0.2] = 0
    return trans.sum(axis=-1).astype(float), trans.astype(float)


def check_planners(models, n_tables=4):
    """Numpy planners vs mdplab's compiled ones on random statistics; returns #checks."""
    rng = np.random.default_rng(12345)
    n = 0
    for m in models:
        S, A, H, R = m.S, m.A, m.H, m.R
        v_range = H * max(R.max(), 1e-300)
        L = math.log(5.0 * S * A * 1000 * H / 0.1)
        for scale in (1.0, 0.01, 1e-4):
            Q_ml = np.empty((H, S, A))
            for h in range(H):
                Q_ml[h] = (H - h) * v_range / H
            Q_np = Q_ml.copy()
            pi_ml = np.zeros((H, S), dtype=np.int64)
            pi_np = pi_ml.copy()
            visits = np.zeros((H + 1, S))
            # successive tables: the second and later ones exercise the min with the old Q
            for _ in range(n_tables):
                counts, trans = random_counts(rng, S, A, 50)
                plan_ucbvi(R[None], H, counts[None], trans[None], visits, Q_ml, pi_ml, False,
                           scale, L, v_range)
                numpy_plan_ucbvi(R, H, counts, trans, Q_np, pi_np, scale, L, v_range)
                np.testing.assert_allclose(Q_np, Q_ml, rtol=1e-12, atol=1e-12)
                assert np.array_equal(pi_np, pi_ml), "UCBVI policies differ"
                n += 1
        alg = MVP()
        caps = alg.value_caps(R[None], H)
        r_max = max(float(R.max()), 0.0)
        iota = alg.iota(S, A, H, 1000)
        for scale in (1.0, 0.01, 1e-4):
            c1, c2, c3 = (scale * c for c in (alg.c1, alg.c2, alg.c3))
            for _ in range(n_tables):
                _, trans = random_counts(rng, S, A, 50)
                n_hat = trans.sum(axis=-1)
                P_hat = trans / np.maximum(n_hat, 1.0)[..., None]
                r_hat = np.where(n_hat > 0, R * rng.uniform(0.5, 1.5, R.shape), 0.0)
                pi_ml = np.zeros((H, S), dtype=np.int64)
                V_cur = np.zeros(S)
                mvp_plan(P_hat[None], n_hat[None], r_hat[None], np.zeros((1, S, A)), False, H,
                         c1, c2, c3, iota, r_max, caps, caps[0], pi_ml, np.zeros(A),
                         np.zeros(S), V_cur)
                pi_np = np.zeros((H, S), dtype=np.int64)
                V_np = numpy_plan_mvp(P_hat, n_hat, r_hat, H, c1, c2, c3, iota, r_max, caps,
                                      pi_np)
                np.testing.assert_allclose(V_np, V_cur, rtol=1e-9, atol=1e-9)
                assert np.array_equal(pi_np, pi_ml), "MVP policies differ"
                n += 1
    return n


def check_end_to_end(mdps, K=300):
    """Baselines fed mdplab's uniform stream reproduce mdplab's regret curves."""
    # default constants (the executed policy never changes within K episodes on these
    # models) and small bonuses (it does: the learners explore and learn)
    cases = [
        (UCBVI("ch"), lambda m, k, u: numpy_ucbvi(m, k, u)),
        (UCBVI("ch", bonus_scale=1e-3), lambda m, k, u: numpy_ucbvi(m, k, u, scale=1e-3)),
        (MVP(), lambda m, k, u: numpy_mvp(m, k, u)),
        (MVP(bonus_scale=1e-3), lambda m, k, u: numpy_mvp(m, k, u, alg=MVP(bonus_scale=1e-3))),
        (QLearningUCB("hoeffding"), lambda m, k, u: numpy_qlearning(m, k, u)),
        (QLearningUCB("hoeffding", c=5e-3), lambda m, k, u: numpy_qlearning(m, k, u, c=5e-3)),
    ]
    worst = 0.0
    changed = 0
    for mdp in mdps:
        m = Model(mdp)
        assert abs(m.v_star - backward_induction(mdp).initial_value) < 1e-12
        for alg, baseline in cases:
            curve = alg.run(mdp, K, seed=7, checkpoint_every=1)
            reg, real = baseline(m, K, mdplab_uniforms(curve.seeds[0]))
            np.testing.assert_allclose(reg, curve.regret[0], rtol=0, atol=1e-9,
                                       err_msg=f"{alg!r} on {mdp.name}: regret")
            np.testing.assert_allclose(real, curve.realized_regret[0], rtol=0, atol=1e-9,
                                       err_msg=f"{alg!r} on {mdp.name}: realized regret")
            worst = max(worst, float(np.max(np.abs(reg - curve.regret[0]))),
                        float(np.max(np.abs(real - curve.realized_regret[0]))))
            # count the cases whose executed policy changes within K episodes
            changed += int(np.ptp(np.diff(curve.regret[0])) > 1e-12)
    return {"e2e_cases": len(mdps) * len(cases), "e2e_episodes": K,
            "e2e_cases_with_policy_changes": changed, "e2e_max_abs_diff": worst}


# ----------------------------------------------------------------- timing


def ratio_case(prefix, alg, baseline, mdp, K_ml, K_py, blocks):
    """mdplab (one seed, ``K_ml`` episodes) vs the numpy baseline (``K_py`` episodes)."""
    m = Model(mdp)
    alg.run(mdp, 10, seed=0)  # JIT warm-up (loads the cached compilation)
    ratio_t, t_np, t_ml = paired(lambda: baseline(m, K_py, numpy_uniforms(1)),
                                 lambda: alg.run(mdp, K_ml, seed=1), blocks)
    t_np /= K_py
    t_ml /= K_ml
    return {
        f"{prefix}_ratio_vs_python": ratio_t * K_ml / K_py,
        f"{prefix}_mdplab_eps_per_s": 1.0 / t_ml,
        f"{prefix}_python_eps_per_s": 1.0 / t_np,
        f"{prefix}_mdplab_episodes": K_ml,
        f"{prefix}_python_episodes": K_py,
    }


def mvp_planning_share(mdp, K_py, repeats=20):
    """Share of the numpy MVP's time spent planning over ``K_py`` episodes.

    MVP plans only in episodes where a count doubles: often early, rarely later,
    so a short numpy run plans relatively more than mdplab's long one. ``1 - share``
    bounds the resulting bias of the ratio (a numpy run that never plans)."""
    m = Model(mdp)
    stats = {}
    t = time.perf_counter()
    numpy_mvp(m, K_py, numpy_uniforms(1), stats=stats)
    t_run = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(repeats):
        stats["plan"]()
    t_plan = (time.perf_counter() - t) / repeats
    return stats["plans"], min(1.0, stats["plans"] * t_plan / t_run)


def run_overhead(alg, mdp, repeats=3):
    """Seconds of one ``run`` of a single episode (validation, ``V*``, seeding, launch)."""
    best = math.inf
    for i in range(repeats):
        t = time.perf_counter()
        alg.run(mdp, 1, seed=i)
        best = min(best, time.perf_counter() - t)
    return best


def seeds_case(key, alg, mdp, K, blocks):
    """Total throughput of ``n_seeds=2`` over ``n_seeds=1``, ``K`` episodes per seed."""
    alg.run(mdp, 10, seed=0, n_seeds=2)
    ratios = []
    ratio_t, t2, t1 = paired(lambda: alg.run(mdp, K, seed=0, n_seeds=2),
                             lambda: alg.run(mdp, K, seed=0, n_seeds=1), blocks,
                             min_time=0.0, settle=0.3, ratios=ratios)
    return {
        key: 2.0 / ratio_t,
        f"{key}_blocks": [2.0 / r for r in ratios],
        f"{key}_episodes_per_seed": K,
        f"{key}_one_seed_s": t1,
        f"{key}_two_seeds_s": t2,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--blocks", type=int, default=5, help="interleaved timing blocks")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every episode count (e.g. 0.1 for a smoke test)")
    args = ap.parse_args(argv)

    def k(n):
        return max(10, int(n * args.scale))

    t_start = time.perf_counter()
    out = {
        "threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "loadavg_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "machine": platform.processor() or platform.machine(),
        "numpy": np.__version__,
        "numba": numba.__version__,
    }
    chain = envs.chain(length=10, horizon=10)
    grid = envs.gridworld(horizon=20)
    out["chain_SAH"] = [chain.S, chain.A, chain.horizon]
    out["grid_SAH"] = [grid.S, grid.A, grid.horizon]

    t = time.perf_counter()
    out["planner_checks"] = check_planners([Model(chain), Model(grid)])
    out.update(check_end_to_end([chain, grid], K=k(300)))
    out["checks_s"] = time.perf_counter() - t

    b = args.blocks
    ucbvi, mvp, ql = UCBVI("ch"), MVP(), QLearningUCB("hoeffding")
    # (prefix, learner, baseline, model, mdplab episodes, numpy episodes): mdplab's
    # runs take ~1-3 s, long enough to amortise run()'s fixed cost
    cases = [
        ("ucbvi_chain", ucbvi, numpy_ucbvi, chain, 100_000, 500),
        ("ucbvi_grid", ucbvi, numpy_ucbvi, grid, 20_000, 300),
        ("mvp_chain", mvp, numpy_mvp, chain, 500_000, 1000),
        ("mvp_grid", mvp, numpy_mvp, grid, 200_000, 1000),
        ("qlearning_chain", ql, numpy_qlearning, chain, 500_000, 500),
        ("qlearning_grid", ql, numpy_qlearning, grid, 100_000, 500),
        # context: with the default constants UCBVI-CH never leaves its first policy
        # here, and mdplab's planner skips unvisited pairs; a small bonus learns
        ("ucbvi_chain_learning", UCBVI("ch", bonus_scale=1e-3),
         partial(numpy_ucbvi, scale=1e-3), chain, 50_000, 500),
        ("ucbvi_grid_learning", UCBVI("ch", bonus_scale=1e-3),
         partial(numpy_ucbvi, scale=1e-3), grid, 10_000, 300),
    ]
    for prefix, alg, baseline, mdp, K_ml, K_py in cases:
        out.update(ratio_case(prefix, alg, baseline, mdp, k(K_ml), k(K_py), b))
        if alg is mvp:
            plans, share = mvp_planning_share(mdp, k(K_py))
            out[f"{prefix}_python_planning_episodes"] = plans
            out[f"{prefix}_python_planning_share"] = share
            out[f"{prefix}_ratio_vs_python_if_no_planning"] = (
                out[f"{prefix}_ratio_vs_python"] * (1.0 - share))
    for name, mdp in (("chain", chain), ("grid", grid)):
        out[f"mdplab_run_overhead_s_{name}"] = run_overhead(ucbvi, mdp)

    out.update(seeds_case("seeds_parallel_speedup", ucbvi, grid, k(20_000), b))
    out.update(seeds_case("mvp_seeds_parallel_speedup", mvp, grid, k(200_000), b))
    out.update(seeds_case("qlearning_seeds_parallel_speedup", ql, grid, k(100_000), b))

    out["loadavg_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    out["total_s"] = time.perf_counter() - t_start
    return emit(out, args.json)


if __name__ == "__main__":
    main()

"""Horizon-free benchmarks: the LMDP learner against a numpy transcription, in one run.

    python benchmarks/horizon_free.py --json bench_horizon_free.json [--quick]

* ``lmdp_ratio_vs_numpy``: episodes/s of ``lmdp-vo`` (the compiled loop of
  ``mdplab.algorithms.latent``: doubling-triggered planning on the history
  tree, exact evaluation of the played policy, one episode and the count
  update per step) divided by episodes/s of a numpy transcription of the same
  learner (``NumpyLMDPVO`` below: the same tree, the per-context optimistic DP
  and the tree's forward beliefs / backward alpha vectors vectorised one stage
  at a time, the exact evaluation likewise, a Python episode and update), on an
  LMDP with M = 3, S = 4, A = 2, H = 6 (contexts sharing their rewards, so the
  planner works on the full history tree, 4 * 8^5 leaves). Same K for both.
  Goal >= 100. Checked first: the numpy planner's optimistic value and the
  exact value of its policy equal the kernel's on random count tables.
  ``lmdp_replan_ratio_vs_numpy``: one re-plan plus the exact evaluation of the
  new policy, numpy time over kernel time (``_plan_tree`` + ``_eval_tree`` on
  the prebuilt tree); at this K the re-plans after doubling triggers dominate
  both learners' time, so this ratio bounds the episode ratio.
* If ``benchmarks/_hf_o2ps.py`` exists, the dict of its ``measure(quick)`` is
  merged in (HF-O2PS mirror-step timings, by another module).

Timing: interleaved blocks (``benchmarks/timing.py: paired``), median ratio.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from timing import emit, paired  # noqa: E402

from mdplab import envs  # noqa: E402
from mdplab.algorithms import LMDPLearner  # noqa: E402
from mdplab.algorithms.latent import (  # noqa: E402
    _eval_tree,
    _plan_tree,
    build_history_tree,
    lmdp_optimistic_plan,
)
from mdplab.models import LatentMDP  # noqa: E402
from mdplab.planning import latent_optimal_value  # noqa: E402


def bench_lmdp(M=3, S=4, A=2, H=6, seed=0) -> LatentMDP:
    lm = envs.random_latent_mdp(M, S, A, H, seed=seed)
    return LatentMDP(lm.P, np.repeat(lm.R[:1], M, axis=0), lm.weights, horizon=H,
                     init=lm.init)


class NumpyLMDPVO:
    """numpy transcription of ``lmdp-vo`` (value-optimistic LMDP learner)."""

    def __init__(self, lm: LatentMDP, bonus_scale: float, K: int, delta: float = 0.1):
        ref = LMDPLearner("vo", bonus_scale=bonus_scale, delta=delta)
        self.lm = lm
        self.M, self.S, self.A, self.H = lm.M, lm.S, lm.A, lm.horizon
        self.R = lm.stage_R()  # (M, nR, S, A)
        self.caps = ref.value_caps(self.R, self.H)
        self.iota = ref.iota(self.M, self.S, self.A, self.H, K)
        self.c1, self.c2, self.c3 = bonus_scale * ref.c1, bonus_scale * ref.c2, bonus_scale * ref.c3
        self.r_max = max(float(self.R.max()), 0.0)
        t = build_history_tree(lm)
        self.t = t
        N = t.n_nodes
        # per-child parent, action, next state, class index (for the stage-wise passes)
        self.parent = np.full(N, -1)
        self.pact = np.zeros(N, dtype=np.int64)
        for i in np.flatnonzero(t.base[:, 0] >= 0):
            for a in range(self.A):
                n = self.S * t.nk[i, a]
                self.parent[t.base[i, a]:t.base[i, a] + n] = i
                self.pact[t.base[i, a]:t.base[i, a] + n] = a
        self.levels = [np.flatnonzero((t.stage == h) & (t.single < 0)) for h in range(self.H)]
        self.ms = np.arange(self.M)

    def _child(self, nodes, a, m):
        """(n, S) child index for action a (per node), context m."""
        t = self.t
        return (t.base[nodes, a][:, None] + np.arange(self.S)[None, :] * t.nk[nodes, a][:, None]
                + t.rank[nodes, a, m][:, None])

    def _bonus_q(self, r, p, n, g, cap):
        ev = (p * g).sum(-1)
        var = np.maximum((p * g * g).sum(-1) - ev * ev, 0.0)
        nn = np.maximum(n, 1.0)
        b = (self.c1 * np.sqrt(var * self.iota / nn)
             + self.c2 * np.sqrt(np.maximum(self.r_max * r, 0.0) * self.iota / nn)
             + self.c3 * self.caps[0] * self.iota / nn)
        return np.where(n > 0, np.minimum(r + ev + b, cap), cap)

    def plan(self, P_hat, n_hat):
        M, S, A, H, t = self.M, self.S, self.A, self.H, self.t
        nR = self.R.shape[1]
        Vbar = np.zeros((M, H + 1, S))
        pibar = np.zeros((M, H, S), dtype=np.int64)
        for h in range(H - 1, -1, -1):
            r = self.R[:, h if nR > 1 else 0]  # (M, S, A)
            g = Vbar[:, h + 1][:, None, None, :]
            Q = self._bonus_q(r, P_hat, n_hat, g, self.caps[h])
            pibar[:, h] = Q.argmax(-1)
            Vbar[:, h] = Q.max(-1)
        N = t.n_nodes
        belief = np.zeros((N, M))
        w, init = self.lm.weights, self.lm.init
        for s in range(S):
            i = t.root[s]
            if i >= 0 and t.single[i] < 0:
                b = np.where((t.mask[i] >> self.ms) & 1, w * init[:, s], 0.0)
                belief[i] = b / b.sum()
        for h in range(1, H):
            nodes = self.levels[h]
            if nodes.size == 0:
                continue
            par, a, s2 = self.parent[nodes], self.pact[nodes], t.state[nodes]
            s = t.state[par]
            j = (nodes - t.base[par, a]) % t.nk[par, a]
            inset = t.rank[par, a] == j[:, None]  # (n, M)
            lik = np.where(n_hat[:, s, a].T > 0, P_hat[self.ms[None, :], s[:, None], a[:, None],
                                                       s2[:, None]], 1.0 / S)
            u = np.where(inset, belief[par] * lik, 0.0)
            z = u.sum(1)
            u1 = np.where(inset, belief[par], 0.0)
            u2 = np.where(inset, w[None, :], 0.0)
            u = np.where((z > 0)[:, None], u, np.where((u1.sum(1) > 0)[:, None], u1, u2))
            belief[nodes] = u / u.sum(1, keepdims=True)
        alpha = np.zeros((N, M))
        act = np.zeros(N, dtype=np.int64)
        for h in range(H - 1, -1, -1):
            nodes = self.levels[h]
            if nodes.size == 0:
                continue
            s = t.state[nodes]
            Q = np.zeros((nodes.size, A, M))
            for a in range(A):
                for m in range(M):
                    if h == H - 1:
                        g = np.zeros((nodes.size, S))
                    else:
                        ch = self._child(nodes, a, m)
                        ch = np.where(ch >= 0, ch, 0)
                        g = np.where(t.single[ch] >= 0, Vbar[m, h + 1][None, :], alpha[ch, m])
                    r = self.R[m, h if nR > 1 else 0, s, a]
                    Q[:, a, m] = self._bonus_q(r, P_hat[m, s, a], n_hat[m, s, a], g,
                                               self.caps[h])
            inmask = ((t.mask[nodes][:, None] >> self.ms[None, :]) & 1).astype(bool)
            score = np.einsum("nm,nam->na", belief[nodes], np.where(inmask[:, None], Q, 0.0))
            act[nodes] = score.argmax(1)
            alpha[nodes] = np.where(inmask, Q[np.arange(nodes.size), act[nodes]], 0.0)
        total = 0.0
        for s in range(S):
            i = t.root[s]
            if i >= 0:
                for m in range(M):
                    if (t.mask[i] >> m) & 1:
                        v = Vbar[m, 0, s] if t.single[i] >= 0 else alpha[i, m]
                        total += w[m] * init[m, s] * v
        return total, pibar, act

    def evaluate(self, pibar, act):
        M, S, H, t = self.M, self.S, self.H, self.t
        P, nR = self.lm.P, self.R.shape[1]
        Vp = np.zeros((M, H + 1, S))
        for h in range(H - 1, -1, -1):
            a = pibar[:, h]  # (M, S)
            Pa = P[self.ms[:, None], np.arange(S)[None, :], a]  # (M, S, S)
            r = self.R[self.ms[:, None], h if nR > 1 else 0, np.arange(S)[None, :], a]
            Vp[:, h] = r + np.einsum("mst,mt->ms", Pa, Vp[:, h + 1])
        val = np.zeros((t.n_nodes, M))
        for h in range(H - 1, -1, -1):
            nodes = self.levels[h]
            if nodes.size == 0:
                continue
            s, a = t.state[nodes], act[nodes]
            for m in range(M):
                r = self.R[m, h if nR > 1 else 0, s, a]
                if h < H - 1:
                    ch = self._child(nodes, a, m)
                    ch = np.where(ch >= 0, ch, 0)
                    g = np.where(t.single[ch] >= 0, Vp[m, h + 1][None, :], val[ch, m])
                    r = r + (P[m, s, a] * g).sum(1)
                val[nodes, m] = r
        total = 0.0
        w, init = self.lm.weights, self.lm.init
        for s in range(S):
            i = t.root[s]
            if i >= 0:
                for m in range(M):
                    if (t.mask[i] >> m) & 1:
                        v = Vp[m, 0, s] if t.single[i] >= 0 else val[i, m]
                        total += w[m] * init[m, s] * v
        return total

    def run(self, K, v_star, seed=0):
        M, S, A, H, t = self.M, self.S, self.A, self.H, self.t
        rng = np.random.default_rng(seed)
        N_all = np.zeros((M, S, A), dtype=np.int64)
        N_b = np.zeros((M, S, A, S))
        n_hat = np.zeros((M, S, A))
        P_hat = np.zeros((M, S, A, S))
        nR = self.R.shape[1]
        regret = 0.0
        triggered = True
        for _ in range(K):
            if triggered:
                _, pibar, act = self.plan(P_hat, n_hat)
                J = self.evaluate(pibar, act)
            regret += v_star - J
            m = rng.choice(M, p=self.lm.weights) if M > 1 else 0
            s = rng.choice(S, p=self.lm.init[m])
            node, single = t.root[s], t.single[t.root[s]]
            traj = []
            for h in range(H):
                a = pibar[single, h, s] if single >= 0 else act[node]
                _ = self.R[m, h if nR > 1 else 0, s, a]
                s2 = rng.choice(S, p=self.lm.P[m, s, a])
                traj.append((s, a, s2))
                if single < 0 and h + 1 < H:
                    node = t.base[node, a] + s2 * t.nk[node, a] + t.rank[node, a, m]
                    single = t.single[node]
                s = s2
            triggered = False
            for s, a, s2 in traj:
                N_all[m, s, a] += 1
                N_b[m, s, a, s2] += 1
                c = N_all[m, s, a]
                if c & (c - 1) == 0:
                    n_hat[m, s, a] = N_b[m, s, a].sum()
                    P_hat[m, s, a] = N_b[m, s, a] / n_hat[m, s, a]
                    triggered = True
        return regret


def check_numpy_planner(lm, np_learner, bonus_scale, K) -> float:
    """Largest gap between the numpy and kernel planners on random count tables."""
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(3):
        counts = rng.integers(0, 6, size=(lm.M, lm.S, lm.A, lm.S)).astype(float)
        n = counts.sum(-1)
        P_hat = np.where(n[..., None] > 0, counts / np.maximum(n, 1)[..., None], 0.0)
        v_np, pibar, act = np_learner.plan(P_hat, n)
        plan = lmdp_optimistic_plan(lm, P_hat, n, solver="vo", bonus_scale=bonus_scale,
                                    iota=np_learner.iota)
        J_np = np_learner.evaluate(pibar, act)
        worst = max(worst, abs(v_np - plan.value), abs(J_np - plan.policy_value))
    return worst


def measure_lmdp(quick: bool) -> dict:
    lm = bench_lmdp()
    K = 300 if quick else 2000
    scale = 0.1
    v_star = latent_optimal_value(lm)
    np_learner = NumpyLMDPVO(lm, scale, K)
    gap = check_numpy_planner(lm, np_learner, scale, K)
    if gap > 1e-9:
        raise AssertionError(f"numpy transcription disagrees with the kernel planner by {gap}")
    learner = LMDPLearner("vo", bonus_scale=scale)

    def fa():
        learner.run(lm, K, seed=0, n_seeds=1, checkpoint_every=K)

    def fb():
        np_learner.run(K, v_star, seed=0)

    # ratio = numpy time / numba time = numba episodes/s over numpy episodes/s
    ratio, t_numpy, t_numba = paired(fb, fa, blocks=3 if quick else 5, min_time=0.1,
                                     settle=0.1)
    # one re-plan + exact evaluation (what dominates at this K), on random counts
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 6, size=(lm.M, lm.S, lm.A, lm.S)).astype(float)
    n = counts.sum(-1)
    P_hat = np.where(n[..., None] > 0, counts / np.maximum(n, 1)[..., None], 0.0)

    def plan_np():
        _, pibar, act = np_learner.plan(P_hat, n)
        np_learner.evaluate(pibar, act)

    tree = np_learner.t.arrays()
    N, M, S, H = np_learner.t.n_nodes, lm.M, lm.S, lm.horizon
    R = np.ascontiguousarray(lm.stage_R(), dtype=np.float64)
    P = np.ascontiguousarray(lm.P, dtype=np.float64)
    w, init = np.ascontiguousarray(lm.weights), np.ascontiguousarray(lm.init)
    Ph, nh = np.ascontiguousarray(P_hat[:, None]), np.ascontiguousarray(n[:, None])
    bufs = (np.zeros((M, H + 1, S)), np.zeros((M, H, S), dtype=np.int64), np.zeros((N, M)),
            np.zeros((N, M)), np.zeros(N, dtype=np.int64))
    c = np_learner

    def plan_nb():
        Vbar, pibar, belief, alpha, act = bufs
        _plan_tree(0, R, Ph, nh, w, init, H, c.caps, c.c1, c.c2, c.c3, 0.0, 0.0, c.iota,
                   c.r_max, c.caps[0], *tree, Vbar, pibar, belief, alpha, act, False)
        _eval_tree(P, R, w, init, H, *tree, pibar, act, np.zeros((M, H + 1, S)),
                   np.zeros((N, M)), np.zeros(M))

    plan_ratio, _, t_plan = paired(plan_np, plan_nb, blocks=3 if quick else 5, min_time=0.1,
                                   settle=0.1)
    return {"lmdp_instance": "M=3, S=4, A=2, H=6 (shared rewards, full history tree)",
            "lmdp_replan_ratio_vs_numpy": plan_ratio, "lmdp_replan_s": t_plan,
            "lmdp_tree_nodes": int(np_learner.t.n_nodes), "lmdp_episodes": K,
            "lmdp_numba_episodes_per_s": K / t_numba, "lmdp_numpy_episodes_per_s": K / t_numpy,
            "lmdp_ratio_vs_numpy": ratio, "lmdp_ratio_goal": ">= 100",
            "lmdp_planner_check_max_gap": gap}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--quick", action="store_true", help="smaller budgets")
    args = ap.parse_args(argv)
    out = measure_lmdp(args.quick)
    out["loadavg"] = list(os.getloadavg())
    if os.path.exists(os.path.join(os.path.dirname(__file__), "_hf_o2ps.py")):
        try:
            import _hf_o2ps
        except ImportError as exc:  # pragma: no cover - the other module's problem
            out["hf_o2ps_error"] = f"import failed: {exc}"
        else:
            out.update(_hf_o2ps.measure(args.quick))
    return emit(out, args.json)


if __name__ == "__main__":
    main()

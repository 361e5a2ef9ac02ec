"""UCB-PSR / OMLE speed (mdplab.algorithms.psr), each against a baseline timed in the same run.

    python benchmarks/psr.py [--quick] [--json FILE]

* ``ucb_psr_iteration_ratio_vs_numpy`` (goal <= 0.05): one UCB-PSR iteration on
  Tiger H=4 (A=3, O=2: 1296 histories) with the default finite class (201
  POMDPs), after 100 iterations of data: the likelihood update on the
  iteration's H new episodes for every candidate and the constrained MLE, the
  predictive states of the MLE's PSR over the history tree, the Gram matrices
  ``U_h`` and the bonus of every history, and the bonus planning (exact DP over
  histories). Ours: :mod:`mdplab.algorithms.psr` (level-vectorised arrays, the
  compiled history-tree backup of :mod:`mdplab.planning.psr`). Baseline: the
  plain numpy transcription of the pseudocode, one history (or one episode) at a
  time: scaled forward algorithm per episode and candidate, predictive-state
  recursion node by node, ``U_h`` as a sum of outer products over the data, the
  bonus leaf by leaf, the backward max node by node. Both do the same work (the
  same incremental likelihood, the PSR conversion of the MLE done once outside
  the timed region) and are checked to give the same bonus and the same policy.
  Ratio = ours / baseline, interleaved blocks (``benchmarks/timing.py: paired``).
* ``omle_vs_ucb_psr_time_ratio``: OMLE / UCB-PSR wall-clock per iteration at
  equal class size (the same 201-candidate class, Tiger H=4, the same budget;
  OMLE's one-off computation of every candidate's optimum included).
* the EM figures of ``benchmarks/_psr_em.py`` (``em_ratio_vs_numpy``, ...), merged
  when that module is present.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from timing import emit, paired  # noqa: E402

from mdplab.algorithms.psr import (  # noqa: E402
    OMLE,
    UCBPSR,
    _bonus_from,
    _Finite,
    _model_info,
    _offsets,
    line_class,
    prefix_indices,
)
from mdplab.envs import tiger  # noqa: E402
from mdplab.models import PSR  # noqa: E402
from mdplab.planning import HistoryPolicy, maximize_over_histories  # noqa: E402


# ------------------------------------------------------------------ the numpy transcription
def numpy_loglik(T, Z, b0, a, o) -> float:
    """Scaled forward algorithm of one episode."""
    b = b0.copy()
    logp = 0.0
    for t in range(a.size):
        nxt = (b @ T[:, a[t], :]) * Z[a[t], :, o[t]]
        c = nxt.sum()
        if c <= 0:
            return -np.inf
        logp += np.log(c)
        b = nxt / c
    return logp


def numpy_iteration(cands, totals, mins, new_a, new_o, psr_of, data_prefixes, H, A, O,
                    alpha, lam, log_p_min):
    """One UCB-PSR iteration, transcribed history by history."""
    for i, c in enumerate(cands):
        for n in range(new_a.shape[0]):
            ll = numpy_loglik(np.asarray(c.T), np.asarray(c.O), np.asarray(c.b0), new_a[n],
                              new_o[n])
            totals[i] += ll
            mins[i] = min(mins[i], ll)
    feasible = mins >= log_p_min
    best = int(np.argmax(np.where(feasible, totals, -np.inf) if feasible.any() else totals))
    psr = psr_of(best)
    psi0, M, phi = np.asarray(psr.psi0), np.asarray(psr.M), np.asarray(psr.phi)
    r = psi0.size
    AO = A * O
    # predictive states and probabilities, node by node
    states = [[psi0]]
    probs = [[1.0]]
    for h in range(H):
        lvl, plv = [], []
        for node in range(AO ** h):
            y, p = states[h][node], probs[h][node]
            for a in range(A):
                for o in range(O):
                    v = M[o, a] @ y
                    c = phi @ v
                    if p > 0 and c > 1e-300:
                        lvl.append(v / c)
                        plv.append(p * c)
                    else:
                        lvl.append(np.zeros(r))
                        plv.append(0.0)
        states.append(lvl)
        probs.append(plv)
    # Gram matrices: one outer product per stored episode
    Uinv = []
    for h in range(H):
        U = lam * np.eye(r)
        for node in data_prefixes[h]:
            y = states[h][node]
            U += np.outer(y, y)
        Uinv.append(np.linalg.inv(U))
    # bonus of every leaf, then the weights P(tau) b(tau)
    w = np.empty(AO ** H)
    for leaf in range(AO ** H):
        s = 0.0
        for h in range(H):
            y = states[h][leaf // AO ** (H - h)]
            s += y @ Uinv[h] @ y
        w[leaf] = probs[H][leaf] * min(alpha * np.sqrt(max(s, 0.0)), 1.0)
    # backward max over histories, node by node (ties to the lowest action)
    V = w
    policy = [None] * H
    for h in range(H - 1, -1, -1):
        n = AO ** h
        newV = np.empty(n)
        act = np.empty(n, dtype=np.int64)
        for node in range(n):
            q = [sum(V[node * AO + a * O + o] for o in range(O)) for a in range(A)]
            act[node] = int(np.argmax(q))
            newV[node] = q[act[node]]
        policy[h] = act
        V = newV
    return best, float(V[0]), w, policy


# ------------------------------------------------------------------ setup
def _state(n_iter: int, seed: int = 0):
    """Tiger H=4, the default class and ``n_iter`` iterations of UCB-PSR data."""
    truth = tiger(horizon=4)
    H, A, O = 4, truth.A, truth.n_observations
    cands = line_class(truth, 201)
    learner = UCBPSR()
    rng = np.random.default_rng(seed)
    fin = _Finite(cands)
    off = _offsets(A * O, H)
    counts = np.zeros(off[H], dtype=np.int64)
    prefixes = [[] for _ in range(H)]
    policy, core = None, ((0,),)
    for _ in range(n_iter):
        acts, obs, _ = learner._collect(truth, policy, core, rng)
        fin.add(acts, obs)
        for h in range(H):
            node = int(prefix_indices(acts[h:h + 1], obs[h:h + 1], h, O, A)[0])
            counts[off[h] + node] += 1
            prefixes[h].append(node)
        info = fin.info(fin.mle(learner._log_p_min(truth)), H)
        policy = learner._bonus_policy(info, counts, H)
    new_a, new_o, _ = learner._collect(truth, policy, core, rng)
    return truth, learner, fin, counts, prefixes, new_a, new_o


def measure_iteration(quick: bool) -> dict:
    truth, learner, fin, counts, prefixes, new_a, new_o = _state(25 if quick else 100)
    H, A, O = 4, truth.A, truth.n_observations
    log_p_min = learner._log_p_min(truth)
    psrs: dict[int, PSR] = {}

    def psr_of(i):
        if i not in psrs:
            psrs[i] = PSR.from_pomdp(fin.candidates[i])
        return psrs[i]

    base_totals, base_mins = fin.totals.copy(), fin.mins.copy()

    def ours():
        fin.totals, fin.mins = base_totals.copy(), base_mins.copy()
        fin.add(new_a, new_o)
        best = fin.mle(log_p_min)
        fin._cache.pop(best, None)            # recompute the tree every time
        info = _model_info(fin.candidates[best], H, psr=psr_of(best))
        bonus = _bonus_from(info["states"], info["off"], counts, learner.alpha, learner.lam,
                            H, A * O)
        value, policy = maximize_over_histories(info["probs"] * bonus, A, O, H)
        return best, value, info["probs"] * bonus, policy

    def plain():
        return numpy_iteration(fin.candidates, base_totals.copy(), base_mins.copy(), new_a,
                               new_o, psr_of, prefixes, H, A, O, learner.alpha, learner.lam,
                               log_p_min)

    b1, v1, w1, p1 = ours()
    b2, v2, w2, p2 = plain()
    assert b1 == b2, (b1, b2)
    assert np.allclose(w1, w2, rtol=1e-9, atol=1e-15) and abs(v1 - v2) <= 1e-9 * (1 + abs(v2))
    # Near-ties (saturated bonuses) may resolve differently; both policies are optimal.
    v_plain_policy = float(HistoryPolicy.from_actions(p2, A, O).trajectory_weights() @ w1)
    same_value = abs(v_plain_policy - v1) <= 1e-9 * (1 + abs(v1))
    ratio, t_ours, t_plain = paired(ours, plain, blocks=3 if quick else 7,
                                    min_time=0.1 if quick else 0.3, settle=0.1)
    return {
        "ucb_psr_iteration_ratio_vs_numpy": ratio,
        "ucb_psr_iteration_ms": 1e3 * t_ours,
        "ucb_psr_iteration_numpy_ms": 1e3 * t_plain,
        "ucb_psr_iteration_policies_equally_good": bool(same_value),
        "ucb_psr_instance": f"Tiger H=4 ({(A * O) ** H} histories), class of "
                            f"{len(fin.candidates)} POMDPs, {int(counts[0])} iterations of data",
    }


def measure_omle(quick: bool) -> dict:
    truth = tiger(horizon=4)
    K = 200 if quick else 800
    n_models = 201

    def ucb():
        return UCBPSR(n_models=n_models, track_tv=False).run(truth, K, seed=0,
                                                              checkpoint_every=K)

    def omle():
        return OMLE(n_models=n_models, track_tv=False).run(truth, K, seed=0,
                                                           checkpoint_every=K)

    ratio, t_o, t_u = paired(omle, ucb, blocks=3 if quick else 5, min_time=0.05, settle=0.1)
    iters = K // truth.horizon
    return {
        "omle_vs_ucb_psr_time_ratio": ratio,
        "ucb_psr_ms_per_iteration": 1e3 * t_u / iters,
        "omle_ms_per_iteration": 1e3 * t_o / iters,
        "omle_class_size": n_models,
        "omle_iterations": iters,
    }


def measure(quick: bool = False) -> dict:
    out = {**measure_iteration(quick), **measure_omle(quick)}
    try:
        import _psr_em
    except ImportError:
        out["em"] = "benchmarks/_psr_em.py not present"
    else:
        out.update(_psr_em.measure(quick))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    emit(measure(args.quick), args.json)


if __name__ == "__main__":
    main()

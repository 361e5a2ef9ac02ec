"""Low-rank MDP benchmarks: LSVI-UCB against a numpy transcription, in one run.

    python benchmarks/lowrank.py --json bench_lowrank.json [--quick]

* ``lsvi_ucb_ratio_vs_numpy``: LSVI-UCB episodes/s (numba kernel, one seed,
  targets summed over every stored transition as the algorithm is written)
  divided by the episodes/s of :func:`mdplab.algorithms.lowrank.lsvi_ucb_numpy`
  (vectorised per stage: target sum ``X^T y``, ridge solve through the kept
  ``Lambda^{-1}``, bonus as an ``einsum`` quadratic form on all ``(s, a)``; Python
  per episode and step) on ``random_linear_mdp(50, 4, 10, horizon=10)``: d = 10,
  A = 4, H = 10, K = 2000 episodes, fixed ``beta = 1`` (so a run of fewer
  episodes is a prefix of the longer run, in the same state). Goal >= 50.
  Both play the same episodes: the per-episode exact regrets agree to 1e-9 on
  a prefix first. Each side is timed on the whole K-episode run (interleaved
  blocks, ``benchmarks/timing.py: paired``, median ratio).
* ``lsvi_ucb_grouped_ratio_vs_numpy``: the same with ``targets="grouped"``
  (target sums grouped by next state: O(S d) per stage instead of O(k d)).
* ``lsvi_ucb_episodes_per_s``: episodes/s of the kernel over a whole run of K
  episodes, for K = 500 ... 8000 and both target modes: with per-transition
  targets the cost of episode k grows like k, so episodes/s over a run falls
  like 1/K once the target sums dominate; grouped stays flat.
* ``seeds_parallel_speedup``: LSVI-UCB, ``n_seeds=2`` against ``n_seeds=1`` at the
  same K per seed (2 = perfect on 2 cores; ``loadavg`` recorded).

At the end, the other low-rank learners' measurements
(``benchmarks/_lowrank_representation.py: measure(quick)``, when that file
exists) are merged into the same JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from timing import emit, paired  # noqa: E402

from mdplab import envs  # noqa: E402
from mdplab.algorithms import LSVIUCB  # noqa: E402
from mdplab.algorithms.lowrank import lsvi_ucb_numpy  # noqa: E402
from mdplab.kernels.rng import stream_seeds  # noqa: E402

BETA = 1.0


def _time(fn, reps: int = 1) -> float:
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_lsvi(quick: bool) -> dict:
    model = envs.random_linear_mdp(50, 4, 10, horizon=10, seed=0)
    K = 300 if quick else 2000
    seed = 0
    ss = stream_seeds(seed, 1)[0]
    prefix = 50 if quick else 200

    # same episodes first: exact per-episode regrets of the two implementations
    ref = lsvi_ucb_numpy(model, prefix, ss, BETA)
    for targets in ("transitions", "grouped"):
        curve = LSVIUCB(beta=BETA, targets=targets).run(model, prefix, seed=seed,
                                                        checkpoint_every=1)
        err = float(np.abs(np.cumsum(ref) - curve.regret[0]).max())
        if err > 1e-9:
            raise AssertionError(f"numpy transcription differs from the kernel ({targets}): "
                                 f"{err:.3g}")

    out: dict = {"instance": "random_linear_mdp(S=50, A=4, d=10, H=10)", "K": K,
                 "beta": BETA, "numpy_equal_prefix_episodes": prefix,
                 "lsvi_ucb_goal": ">= 50"}
    blocks = 2 if quick else 3
    for targets, key in (("transitions", "lsvi_ucb_ratio_vs_numpy"),
                         ("grouped", "lsvi_ucb_grouped_ratio_vs_numpy")):
        learner = LSVIUCB(beta=BETA, targets=targets)

        def fast(learner=learner):
            learner.run(model, K, seed=seed)

        def slow():
            lsvi_ucb_numpy(model, K, ss, BETA)

        ratio, t_slow, t_fast = paired(slow, fast, blocks, min_time=0.0, settle=0.1)
        out[key] = ratio  # (numpy time) / (numba time) = numba eps/s over numpy eps/s
        out[f"{key}_numba_episodes_per_s"] = K / t_fast
        out[f"{key}_numpy_episodes_per_s"] = K / t_slow

    scaling = {}
    for targets in ("transitions", "grouped"):
        learner = LSVIUCB(beta=BETA, targets=targets)
        rates = {}
        for k in ((250, 500, 1000) if quick else (500, 1000, 2000, 4000, 8000)):
            rates[str(k)] = k / _time(lambda k=k, le=learner: le.run(model, k, seed=seed), 2)
        scaling[targets] = rates
    out["lsvi_ucb_episodes_per_s"] = scaling

    learner = LSVIUCB(beta=BETA)
    t1 = _time(lambda: learner.run(model, K, seed=seed, n_seeds=1), 2)
    t2 = _time(lambda: learner.run(model, K, seed=seed, n_seeds=2), 2)
    out["seeds_parallel_speedup"] = 2.0 * t1 / t2
    out["loadavg"] = list(os.getloadavg())
    return out


def merge_representation(quick: bool) -> dict:
    """The other low-rank learners' measurements, when their benchmark file exists."""
    path = os.path.join(os.path.dirname(__file__), "_lowrank_representation.py")
    if not os.path.exists(path):
        return {}
    try:
        spec = importlib.util.spec_from_file_location("_lowrank_representation", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        measure = getattr(mod, "measure", None)
        if not callable(measure):
            return {"representation_error": "_lowrank_representation.py has no measure()"}
        return dict(measure(quick))
    except Exception as exc:  # noqa: BLE001 - the other file's failure is reported, not fatal
        return {"representation_error": f"{type(exc).__name__}: {exc}"}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the results to this file")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = ap.parse_args(argv)
    out = measure_lsvi(args.quick)
    out.update(merge_representation(args.quick))
    return emit(out, args.json)


if __name__ == "__main__":
    main()

"""HF-O2PS mirror-step timings (merged into ``benchmarks/horizon_free.py``; runs alone too).

    python benchmarks/_hf_o2ps.py --json bench_hf_o2ps.json [--quick]

One OMD step ``argmin_{z in D} -alpha <z, r> + KL(z || z_prev)`` on a random
linear mixture MDP with S = 10, A = 3, H = 10, d = 4 (z has H S A S = 3000
entries, hence 3000 exponential cones), from the occupancy measure of a random
policy, with random rewards (episode total <= 1) and alpha = 2:

* ``hf_o2ps_step_s``: seconds per step of ``cvxpy_known`` (the reference conic
  program for the known kernel, built afresh and solved by Clarabel),
  ``newton_known`` (the specialised dual-Newton path, the fastest, same iterate),
  ``cvxpy_confidence_set`` (the learner's step with the second-order-cone
  confidence set, built afresh; no specialised solver exists for it here) and
  ``cvxpy_confidence_set_compiled`` (the same program compiled once,
  :class:`MirrorStep`, as the learner runs it; ``..._compiled_max_abs_diff``: the
  gap between the two iterates);
* ``hf_o2ps_ratio_cvxpy_vs_newton``: cvxpy time / Newton time on the known-kernel
  step (median of interleaved blocks, ``timing.paired``; higher = Newton faster),
  and ``hf_o2ps_max_abs_diff``: the largest entry-wise gap between the two iterates.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import emit, paired  # noqa: E402

from mdplab.envs.lowrank import random_linear_mixture  # noqa: E402
from mdplab.planning.linear_mixture import (  # noqa: E402
    MirrorStep,
    mirror_step_cvxpy,
    mirror_step_known,
    occupancy_measure,
)


def measure(quick: bool) -> dict:
    S, A, H, d = 10, 3, 10, 4
    m = random_linear_mixture(S, A, d, horizon=H, seed=0)
    rng = np.random.default_rng(1)
    z_prev = occupancy_measure(m.P, m.init, rng.dirichlet(np.ones(A), size=(H, S)))
    r = rng.uniform(size=(H, S, A)) / H
    q_prev = z_prev.sum(axis=-1)

    def cvx():
        return mirror_step_cvxpy(z_prev, r, 2.0, m.features, m.init, m.theta)

    def newton():
        return mirror_step_known(q_prev, r, 2.0, m.P, m.init)

    gap = float(np.abs(cvx() - newton()).max())
    ratio, t_cvx, t_newton = paired(cvx, newton, blocks=2 if quick else 4,
                                    min_time=0.2 if quick else 0.5, settle=0.1)
    Lt = np.sqrt(50.0) * np.eye(d)
    theta_hat = np.full(d, 1.0 / d)
    n_set = 1 if quick else 3
    compiled = MirrorStep(m.features, m.init, H)
    compiled(z_prev, r, 2.0, theta_hat, Lt, 1.0)            # compile once (not timed)
    times, times_c = [], []
    for _ in range(n_set):
        t = time.perf_counter()
        fresh = mirror_step_cvxpy(z_prev, r, 2.0, m.features, m.init, theta_hat, Lt, 1.0)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        again = compiled(z_prev, r, 2.0, theta_hat, Lt, 1.0)
        times_c.append(time.perf_counter() - t)
    return {
        "hf_o2ps_instance": {"S": S, "A": A, "H": H, "d": d},
        "hf_o2ps_step_s": {"cvxpy_known": t_cvx, "newton_known": t_newton,
                           "cvxpy_confidence_set": min(times),
                           "cvxpy_confidence_set_compiled": min(times_c)},
        "hf_o2ps_confidence_set_compiled_max_abs_diff": float(np.abs(fresh - again).max()),
        "hf_o2ps_ratio_cvxpy_vs_newton": ratio,
        "hf_o2ps_max_abs_diff": gap,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--quick", action="store_true", help="fewer timing blocks")
    args = ap.parse_args(argv)
    out = measure(args.quick)
    out["loadavg"] = list(os.getloadavg())
    return emit(out, args.json)


if __name__ == "__main__":
    main()

"""``python -m mdplab``: solve every built-in environment with every exact solver.

Prints one row per (environment, solver): the value of the initial
distribution, the certified error bound, iterations and time, then the
hardness measures of each environment. Exits non-zero if two solvers disagree
by more than their certified bounds allow.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from mdplab import envs, hardness
from mdplab.planning import (
    backward_induction,
    modified_policy_iteration,
    policy_iteration,
    solve_lp,
    value_iteration,
)


def _instances():
    yield envs.riverswim(n_states=6, variant="osband", gamma=0.95)
    yield envs.riverswim(n_states=20, variant="standard", gamma=0.99)
    yield envs.chain(length=10, gamma=0.9)
    yield envs.gridworld(slip_prob=0.1, gamma=0.95)
    yield envs.garnet(200, 4, 5, seed=0, gamma=0.99)
    yield envs.garnet(20_000, 4, 5, sparse=True, seed=0, gamma=0.95)
    yield envs.random_mdp(50, 5, seed=0, gamma=0.9)
    yield envs.riverswim(n_states=6, variant="osband", horizon=20)
    yield envs.deepsea(size=10)
    yield envs.combination_lock(horizon=6, seed=0)


def main() -> int:
    ok = True
    header = f"{'environment':<34}{'solver':<28}{'V(init)':>14}{'bound':>11}{'iters':>7}{'ms':>9}"
    print(header)
    print("-" * len(header))
    reports = []
    for mdp in _instances():
        solvers = (
            [value_iteration, policy_iteration, modified_policy_iteration, solve_lp]
            if mdp.discounted else [backward_induction, solve_lp]
        )
        if mdp.is_sparse and mdp.S > 5000:
            solvers = [value_iteration, modified_policy_iteration]
        values = []
        for solver in solvers:
            t = time.perf_counter()
            res = solver(mdp)
            ms = 1e3 * (time.perf_counter() - t)
            values.append((res.values, res.error_bound))
            print(f"{mdp.name or '?':<34}{res.method:<28}{res.initial_value:>14.10f}"
                  f"{res.error_bound:>11.1e}{res.iterations:>7d}{ms:>9.1f}")
        ref, ref_bound = values[0]
        for v, b in values[1:]:
            if np.abs(v - ref).max() > ref_bound + b + 1e-9:
                print(f"  !! solvers disagree on {mdp.name}", file=sys.stderr)
                ok = False
        if mdp.S <= 500:
            reports.append(hardness.hardness_report(mdp))
    print()
    keys = ["name", "S", "A", "diameter", "sum_reciprocal_gaps", "environmental_value_norm",
            "value_span"]
    widths = [36, 7, 5, 12, 22, 26, 12]
    print("".join(f"{k:>{w}}" if i else f"{k:<{w}}"
                  for i, (k, w) in enumerate(zip(keys, widths, strict=True))))
    for rep in reports:
        cells = []
        for i, (k, w) in enumerate(zip(keys, widths, strict=True)):
            v = rep.get(k, "")
            text = f"{v:.6g}" if isinstance(v, float) else str(v)
            cells.append(f"{text:>{w}}" if i else f"{text:<{w}}")
        print("".join(cells))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

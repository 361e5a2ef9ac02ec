"""Rep-UCB / ELA / ELLA benchmarks (merged into benchmarks/lowrank.py's JSON; also
runnable alone):

    python benchmarks/_lowrank_representation.py --json bench_rep.json [--quick]

* ``rep_ucb_*_fraction``, ``ela_*_fraction``: share of one learning run's time
  per iteration spent in data collection (roll-ins), the MLE oracle (EM over
  every candidate of the class), the elliptical bonus and planning (optimistic
  backward induction / the bonus budget DP), on the instances of the
  experiments: Rep-UCB on a random low-rank MDP (S = 30, A = 5, d = 4, H = 3)
  with 9 candidate features, ELA on the lattice block MDP (20 observations,
  A = 4, H = 4, tau = 0.25). ``*_mle_over_plan`` is the MLE / planning ratio.
  ``*_ms_per_iteration`` is given for scale beside the fractions.
* ``ella_planning_ratio_S1e5_vs_S1e3``: ELLA's regression planner
  (:func:`mdplab.algorithms.lowrank_representation.ella_plan`) on N = 2000 tuples
  per stage (quick: 500) of random low-rank MDPs with S = 10^5 and S = 10^3
  (H = 4, A = 4, d = 4, 17 budgets), timed in interleaved blocks
  (``benchmarks/timing.py: paired``): goal <= 1.5 (the planner never touches S).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from timing import emit, paired  # noqa: E402

from mdplab import envs  # noqa: E402
from mdplab.algorithms.lowrank_representation import ELA, ELLA, RepUCB, ella_plan  # noqa: E402


def _split(learner, model, episodes: int, prefix: str) -> dict:
    learner.run(model, 2 * 2 * model.horizon, seed=0)          # compile
    learner.run(model, episodes, seed=0, checkpoint_every=episodes)
    t = learner.timings
    parts = {k: t[f"{k}_s"] for k in ("collect", "mle", "bonus", "plan")}
    total = sum(parts.values())
    out = {f"{prefix}_{k}_fraction": v / total for k, v in parts.items()}
    out[f"{prefix}_mle_over_plan"] = parts["mle"] / max(parts["plan"], 1e-12)
    out[f"{prefix}_ms_per_iteration"] = 1e3 * total / max(t["iterations"], 1)
    out[f"{prefix}_iterations"] = int(t["iterations"])
    return out


def _experiments_module():
    """experiments/lowrank_representation.py, loaded by path (its instance builders)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments",
                        "lowrank_representation.py")
    spec = importlib.util.spec_from_file_location("_rep_experiments", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def measure(quick: bool = False) -> dict:
    exp = _experiments_module()
    ella_timing_instance, lattice = exp.ella_timing_instance, exp.lattice
    out: dict = {}
    rnd = envs.random_lowrank(30, 5, 4, horizon=3, alpha=0.3, seed=0)
    fc = envs.feature_class(rnd, 8, seed=0)
    out.update(_split(RepUCB(fc, alpha=0.1), rnd, 300 if quick else 1200, "rep_ucb"))
    blk = lattice(envs.block_mdp(5, 4, 4, horizon=4, alpha=0.3, seed=0))
    out.update(_split(ELA(tau=0.25, alpha=0.3), blk, 320 if quick else 1280, "ela"))
    out.update(_split(ELLA(tau=0.25, alpha=0.3), blk, 320 if quick else 1280, "ella"))
    n_data = 500 if quick else 2000
    small = ella_timing_instance(1000, 4, 4, 4, n_data, seed=0)
    big = ella_timing_instance(100_000, 4, 4, 4, n_data, seed=0)
    ratios: list = []
    ratio, t_big, t_small = paired(lambda: ella_plan(*big), lambda: ella_plan(*small),
                                   blocks=3 if quick else 7, ratios=ratios)
    out["ella_planning_ratio_S1e5_vs_S1e3"] = ratio
    out["ella_planning_ratio_blocks"] = ratios
    out["ella_planning_ms_S1e3"] = 1e3 * t_small
    out["ella_planning_ms_S1e5"] = 1e3 * t_big
    out["ella_planning_n_data"] = n_data
    out["ella_planning_goal"] = "<= 1.5"
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the results to this file")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (CI)")
    args = ap.parse_args(argv)
    return emit(measure(args.quick), args.json)


if __name__ == "__main__":
    main()

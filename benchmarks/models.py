"""Structured-model benchmarks: exact POMDP planning, PSR likelihoods, count representations.

    python benchmarks/models.py --json bench_models.json

Keys:
* ``tiger``: exact finite-horizon planning of the standard Tiger POMDP
  (``pomdp_value_iteration``, incremental pruning) at horizons 4, 10, 50, 100,
  undiscounted and with discount 0.95: seconds and the number of alpha vectors
  kept at the first stage (and the most kept at any stage); the same with the
  general LP witness search (scipy HiGHS) instead of the exact two-state
  interval search, at horizons 4 and 10. Baseline in the same run: a plain
  policy-tree enumerator (every tree of depth H, each evaluated at b0 by
  recursion over observations), what other Python POMDP libraries do, at
  horizon 3 (3^7 = 2187 trees); ``tiger_ratio_vs_tree_enumeration_h3`` =
  mdplab time / enumerator time there (lower is better). Horizon 4 has
  3^15 = 1.4e7 trees. ``pbvi_discount_0.95``: point-based VI on the discounted
  Tiger, seconds and its certified bounds at b0.
* ``psr``: history-probability throughput of ``PSR.log_likelihood`` (numba,
  batched) on Tiger's PSR, 1e5 histories of length 20, against a plain numpy
  loop (one ``M[o, a] @ psi`` per step per history, with renormalisation) on a
  2e4 subset; ``psr_ratio_vs_numpy`` = numpy time per history / mdplab time
  per history (higher is better). Both give the same log-probabilities.
* ``count_representation``: for the demand-response instance (25 local states,
  and its 3-level variant with 9), per number of agents n: the size of the count
  state space ``|S_g| C(n + |S_l| - 1, |S_l| - 1)``, its stored transition entries, and
  the seconds to build the count MDP and certify ``V*`` to 1e-8 by value
  iteration. Baseline in the same run where it fits: the joint-state MDP
  (``|S_g| |S_l|^n`` states) built and solved the same way;
  ``ratio_vs_joint`` = count time / joint time (lower is better), and the two
  optimal values at the initial distribution agree.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time

import numba
import numpy as np
from timing import emit, paired

from mdplab.envs.global_local import demand_response
from mdplab.envs.tiger import tiger
from mdplab.models.psr import PSR
from mdplab.planning import value_iteration
from mdplab.planning.pomdp import pbvi, pomdp_value_iteration


def tiger_case(horizons=(4, 10, 50, 100), blocks: int = 3) -> dict:
    out: dict = {"horizons": {}}
    pomdp_value_iteration(tiger(horizon=2))  # load the compiled kernels outside the timings
    pomdp_value_iteration(tiger(horizon=2), witness="lp")
    for discount in (1.0, 0.95):
        key = "undiscounted" if discount == 1.0 else "discount_0.95"
        rows = {}
        for H in horizons:
            t0 = time.perf_counter()
            res = pomdp_value_iteration(tiger(horizon=H), discount=discount)
            rows[str(H)] = {
                "seconds": round(time.perf_counter() - t0, 4),
                "alpha_vectors": int(len(res.alphas)),
                "max_vectors_any_stage": int(max(res.n_vectors)),
                "value_b0": float(res.value([0.5, 0.5])),
            }
        out["horizons"][key] = rows
    lp_rows = {}
    for H in (4, 10):
        t0 = time.perf_counter()
        res = pomdp_value_iteration(tiger(horizon=H), witness="lp")
        lp_rows[str(H)] = {
            "seconds": round(time.perf_counter() - t0, 4),
            "alpha_vectors": int(len(res.alphas)),
            "linear_programs": int(res.info.get("lps", -1)),
        }
    out["lp_witness_undiscounted"] = lp_rows
    pbvi(tiger(gamma=0.95), max_beliefs=8)  # compile outside the timing
    t0 = time.perf_counter()
    bounds = pbvi(tiger(gamma=0.95))
    out["pbvi_discount_0.95"] = {
        "seconds": round(time.perf_counter() - t0, 4),
        "lower_b0": bounds.lower([0.5, 0.5]),
        "upper_b0": bounds.upper([0.5, 0.5]),
        "gap_b0": bounds.gap([0.5, 0.5]),
        "beliefs": int(len(bounds.beliefs)),
    }
    model = tiger(horizon=3)
    best = tree_enumeration_value(model, 3)
    exact = pomdp_value_iteration(model).value(model.b0)
    assert abs(best - exact) < 1e-9, (best, exact)
    ratio, t_mdplab, t_enum = paired(
        lambda: pomdp_value_iteration(model),
        lambda: tree_enumeration_value(model, 3),
        blocks,
    )
    out["tiger_ratio_vs_tree_enumeration_h3"] = round(ratio, 5)
    out["h3_seconds"] = {"mdplab": t_mdplab, "tree_enumeration": t_enum}
    return out


def tree_enumeration_value(pomdp, horizon: int) -> float:
    """Baseline: the best policy tree at ``b0``, by enumerating every tree.

    A tree of depth H assigns an action to each of its (O^H - 1) / (O - 1)
    nodes (node = observation sequence so far); its value is computed by
    recursion over observations with Bayes' rule, as a policy-tree planner does.
    """
    n_obs = pomdp.n_observations
    nodes = [()]
    for depth in range(1, horizon):
        nodes += list(itertools.product(range(n_obs), repeat=depth))
    index = {node: i for i, node in enumerate(nodes)}

    def value(tree, node, belief, steps_left):
        a = tree[index[node]]
        v = float(belief @ pomdp.R[:, a])
        if steps_left == 1:
            return v
        pred = belief @ pomdp.T[:, a, :]
        for o in range(n_obs):
            joint = pred * pomdp.O[a, :, o]
            p = joint.sum()
            if p > 0:
                v += p * value(tree, (*node, o), joint / p, steps_left - 1)
        return v

    return max(
        value(tree, (), pomdp.b0, horizon)
        for tree in itertools.product(range(pomdp.A), repeat=len(nodes))
    )


def numpy_log_likelihood(psi0, M, phi, actions, observations) -> np.ndarray:
    """Baseline: the textbook loop, one normalised matrix-vector product per step."""
    out = np.empty(len(actions))
    for i in range(len(actions)):
        psi = psi0
        logp = 0.0
        for a, o in zip(actions[i], observations[i], strict=True):
            psi = M[o, a] @ psi
            c = phi @ psi
            logp += np.log(c)
            psi = psi / c
        out[i] = logp
    return out


def psr_case(n: int = 100_000, n_numpy: int = 20_000, length: int = 20, blocks: int = 3) -> dict:
    psr = PSR.from_pomdp(tiger(horizon=length))
    rng = np.random.default_rng(0)
    actions = rng.integers(0, psr.A, (n, length))
    traj = psr.sample(n, horizon=length, actions=actions, seed=1)
    a, o = traj.actions, traj.observations
    fast = psr.log_likelihood(a, o)
    slow = numpy_log_likelihood(psr.psi0, psr.M, psr.phi, a[:200], o[:200])
    assert np.allclose(fast[:200], slow, rtol=1e-10), "baseline and mdplab disagree"
    ratio, t_fast, t_slow = paired(
        lambda: psr.log_likelihood(a, o),
        lambda: numpy_log_likelihood(psr.psi0, psr.M, psr.phi, a[:n_numpy], o[:n_numpy]),
        blocks,
        min_time=0.05,
    )
    per_fast, per_slow = t_fast / n, t_slow / n_numpy
    return {
        "histories_per_second": round(1.0 / per_fast),
        "numpy_histories_per_second": round(1.0 / per_slow),
        "psr_ratio_vs_numpy": round((ratio * n_numpy / n) ** -1, 2),
        "rank": psr.rank,
        "length": length,
    }


def _timed_solve(build) -> tuple[float, float, int, float]:
    """``(build seconds, solve seconds, nnz, V*(init))`` of a model built by ``build()``."""
    t0 = time.perf_counter()
    mdp = build()
    t1 = time.perf_counter()
    res = value_iteration(mdp, eps=1e-8)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, int(mdp.nnz), float(res.initial_value)


def count_case(cases=((5, (1, 2, 3)), (3, (1, 2, 3, 4, 5, 6, 7))), joint_limit=40_000) -> dict:
    demand_response(2, levels=2).count_mdp()  # compile the kernels outside the timings
    out = {}
    for levels, agents in cases:
        rows = {}
        for n in agents:
            system = demand_response(n, levels=levels)
            build, solve, nnz, value = _timed_solve(system.count_mdp)
            row = {
                "count_states": int(system.n_count_states),
                "stored_transition_entries": nnz,  # dense storage counts zeros
                "build_s": round(build, 4),
                "solve_s": round(solve, 4),
                "value_init": value,
            }
            if system.n_joint_states <= joint_limit:
                jb, js, jnnz, jvalue = _timed_solve(
                    lambda s=system: s.joint_mdp(max_states=joint_limit)
                )
                assert abs(jvalue - value) < 1e-6, (jvalue, value)
                row.update(
                    joint_states=int(system.n_joint_states),
                    joint_stored_entries=jnnz,
                    joint_s=round(jb + js, 4),
                    ratio_vs_joint=round((build + solve) / (jb + js), 4),
                )
            rows[str(n)] = row
        out[f"levels_{levels}_local_states_{levels * levels}"] = rows
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args(argv)
    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "numba_threads": numba.get_num_threads(),
            "python": platform.python_version(),
        },
        "tiger": tiger_case(blocks=args.blocks),
        "psr": psr_case(blocks=args.blocks),
        "count_representation": count_case(),
    }
    return emit(out, args.json)


if __name__ == "__main__":
    main()

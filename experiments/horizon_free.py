"""Horizon-free RL beyond one tabular MDP: latent MDPs with the context in hindsight.

Every LMDP run learns one :class:`~mdplab.models.LatentMDP` for ``episodes``
episodes with one seed and stores the cumulative *exact* regret of the
history-dependent policies played (column ``regret``, against the LMDP's
history-dependent optimum; the context oracle against ``sum_m w_m V_m*``),
``realized_regret`` from the sampled returns, and a ``final`` flag on the last
checkpoint. Rewards are divided by ``H`` (every episode's return is at most 1).

Theory ([ZWD23], ``mdplab.algorithms.latent``): regret
``O~(sqrt(Var* M Gamma S A K))`` with only log dependence on ``H``; lower bound
``Omega(sqrt(Var* M S A K))``. So: ``sqrt(K)`` at most along the episodes
(``lmdp-regret-vs-episodes``; polylog in K on a deterministic LMDP, where
``Var* = 0``), flat up to polylog in ``H`` (``lmdp-regret-vs-horizon``, beside
the same learner with per-stage statistics, whose effective state space is
``S H``), ``sqrt(M)`` in the number of contexts (``lmdp-regret-vs-contexts``).
``mvp-regret-vs-horizon-envelope`` re-runs the tabular MVP horizon sweep of
``experiments/tabular.py`` (RiverSwim, rewards / H) and divides the regret by
the polylog envelope ``log(H)^2`` it should stay under.

Instances. ``env="shared"``: ``random_latent_mdp`` whose contexts share the
rewards of context 0 (they differ only in their transitions, so the belief
comes from the observed states and the planner works on the full history
tree); ``"shared-det"``: the same with deterministic transitions (``Var* =
0``); ``"random"``: independent random rewards (U[0, 1] / H), so the first
reward already tells the contexts apart and the history tree is shallow (used
for the sweeps over ``H`` and ``M``, where the full tree would be too large);
``"probe"``: the probe chain (:func:`mdplab.envs.probe_chain_lmdp`, probe accuracy
0.9), where remembering the probe's outcome is worth 0.975 against 0.6 for the
best Markov policy, so the context-blind baseline's regret is linear.

``bonus_scale`` multiplies every bonus / confidence radius: the worst-case
constants (scale 1) keep the learners exploring far beyond these budgets. The
sweeps use 0.02 for the MVP-bonus learners (``lmdp-vo``, the oracle and the
blind baseline: MVP's ``c3 = 544/9`` term dominates their bonus) and 0.1 for
``lmdp-mo`` (its Bernstein radius has ``r2 = 7/3`` in that place), one value
per learner for every sweep.
"""

from __future__ import annotations

import numpy as np

from mdplab import envs
from mdplab.algorithms import ALGORITHMS
from mdplab.lab import Experiment, Param, PlotSpec, RateClaim
from mdplab.models import LatentMDP

LMDP_ALGOS = ("lmdp-vo", "lmdp-mo", "lmdp-oracle", "lmdp-blind")
LMDP_ENVS = ("shared", "shared-det", "random", "probe")
MO_SCALE = 0.1
SOURCE = ("Zhou, Wang, Du 2023 (LMDP, context in hindsight): regret "
          "O~(sqrt(Var* M Gamma S A K)), only log H; lower bound Omega(sqrt(Var* M S A K))")


def make_lmdp(params: dict) -> LatentMDP:
    M, S, A, H = (params["n_contexts"], params["n_states"], params["n_actions"],
                  params["horizon"])
    env, seed = params["env"], params["env_seed"]
    if env == "probe":
        return envs.probe_chain_lmdp(M, H, n_actions=max(A, M, 2), probe_accuracy=0.9)
    lm = envs.random_latent_mdp(M, S, A, H, seed=seed, deterministic=env == "shared-det")
    if env == "random":
        return lm
    R = np.repeat(lm.R[:1], M, axis=0)
    return LatentMDP(lm.P, R, lm.weights, horizon=H, init=lm.init, name=f"{env}-{lm.name}")


def run_lmdp(params: dict, seed: int) -> list[dict]:
    lm = make_lmdp(params)
    learner = ALGORITHMS[params["algorithm"]](bonus_scale=params["bonus_scale"],
                                              stage_counts=params["stage_counts"])
    curve = learner.run(lm, params["episodes"], seed=seed,
                        checkpoint_every=max(1, params["episodes"] // 50))
    rows = curve.rows(0)
    label = params["algorithm"] + ("-stagewise" if params["stage_counts"] else "")
    for r in rows:
        r["final"] = r["episode"] == params["episodes"]
        r["optimal_value"] = curve.optimal_value
        r["learner"] = label
        r["regret_over_envelope"] = r["regret"] / np.log(max(params["horizon"], 2)) ** 2
    return rows


LMDP_PARAMS = (
    Param("algorithm", "str", "lmdp-vo", "LMDP learner", choices=LMDP_ALGOS),
    Param("env", "str", "shared", "instance family", choices=LMDP_ENVS),
    Param("episodes", "int", 10_000, "episodes K", low=1, high=10_000_000),
    Param("horizon", "int", 4, "horizon H", low=1, high=1000),
    Param("n_contexts", "int", 3, "contexts M", low=1, high=62),
    Param("n_states", "int", 3, "states S", low=1, high=50),
    Param("n_actions", "int", 2, "actions A", low=1, high=10),
    Param("bonus_scale", "float", 0.02, "multiplies the bonuses / confidence radii", low=0.0),
    Param("stage_counts", "bool", False, "per-stage statistics (not horizon-free)"),
    Param("env_seed", "int", 0, "seed of the random instance", low=0),
)


def _sqrt(x, rows):
    return np.sqrt(np.asarray(x, dtype=float))


def _envelope(x, rows):
    """``r(H_0) (log H / log H_0)^2``, anchored at the smallest H's mean regret."""
    x = np.asarray(x, dtype=float)
    h0 = rows["horizon"].min()
    r0 = rows.loc[rows["horizon"] == h0, "regret"].mean()
    return r0 * (np.log(x) / np.log(h0)) ** 2


def run_mvp(params: dict, seed: int) -> list[dict]:
    H = params["horizon"]
    mdp = envs.riverswim(n_states=params["n_states"], variant="osband", horizon=H,
                         normalize=True)
    curve = ALGORITHMS["mvp"](bonus_scale=params["bonus_scale"]).run(
        mdp, params["episodes"], seed=seed, checkpoint_every=max(1, params["episodes"] // 50))
    rows = curve.rows(0)
    for r in rows:
        r["final"] = r["episode"] == params["episodes"]
        r["regret_over_envelope"] = r["regret"] / np.log(H) ** 2
    return rows


MVP_PARAMS = (
    Param("algorithm", "str", "mvp", "learner", choices=("mvp",)),
    Param("episodes", "int", 20_000, "episodes K", low=1, high=10_000_000),
    Param("horizon", "int", 20, "horizon H", low=2, high=1000),
    Param("n_states", "int", 6, "RiverSwim states", low=2, high=500),
    Param("bonus_scale", "float", 0.1, "multiplies the MVP bonus", low=0.0),
)

EXPERIMENTS = [
    Experiment(
        name="lmdp-regret-vs-episodes",
        description="Cumulative exact regret vs episodes of the LMDP learners (value- and "
                    "model-optimistic) and the context-oracle / context-blind baselines, on a "
                    "random LMDP and a deterministic one (theory: sqrt(K); Var* = 0: polylog)",
        params=LMDP_PARAMS,
        run=run_lmdp,
        grid=[{"algorithm": ["lmdp-vo", "lmdp-oracle", "lmdp-blind"],
               "env": ["shared", "shared-det"], "episodes": [30_000], "bonus_scale": [0.02]},
              {"algorithm": ["lmdp-mo"], "env": ["shared", "shared-det"],
               "episodes": [30_000], "bonus_scale": [MO_SCALE]},
              {"algorithm": ["lmdp-vo", "lmdp-oracle", "lmdp-blind"], "env": ["probe"],
               "n_contexts": [2], "horizon": [5], "episodes": [30_000]},
              {"algorithm": ["lmdp-mo"], "env": ["probe"], "n_contexts": [2], "horizon": [5],
               "episodes": [30_000], "bonus_scale": [MO_SCALE]}],
        seeds=4,
        quick={"grid": [{"algorithm": ["lmdp-vo", "lmdp-blind"],
                         "env": ["shared", "shared-det"], "episodes": [1000]},
                        {"algorithm": ["lmdp-mo"], "env": ["shared", "shared-det"],
                         "episodes": [1000], "bonus_scale": [MO_SCALE]}], "seeds": 2},
        plots=tuple(PlotSpec(
            name=f"lmdp-regret-vs-episodes-{env}", x="episode", y="regret", hue="learner",
            where={"env": env}, logx=True, logy=True, fit_slope=True, fit_decades=1.0,
            title=f"LMDP learners, {label} (M=3, S=3, A=2, H=4; slopes: last decade)",
            xlabel="episode k", ylabel="cumulative exact regret (mean, 95% bootstrap CI)",
        ) for env, label in (("shared", "random LMDP"),
                             ("shared-det", "deterministic LMDP, Var* = 0"))) + (PlotSpec(
            name="lmdp-regret-vs-episodes-probe", x="episode", y="regret", hue="learner",
            where={"env": "probe"}, logx=True, logy=True, fit_slope=True, fit_decades=1.0,
            title="LMDP learners on the probe chain (M=2, H=5, probe accuracy 0.9)",
            xlabel="episode k", ylabel="cumulative exact regret (mean, 95% bootstrap CI)",
        ),),
        rates=(
            RateClaim(
                name="lmdp-regret-vs-k", x="episode", y="regret", by=("env", "algorithm"),
                where={"env": ("shared", "probe"), "algorithm": ("lmdp-vo", "lmdp-mo")},
                fit_decades=1.0, claimed=0.5, kind="upper", source=SOURCE + ": K^0.5",
            ),
            RateClaim(
                name="lmdp-deterministic-regret-vs-k", x="episode", y="regret",
                by="algorithm", where={"env": "shared-det",
                                       "algorithm": ("lmdp-vo", "lmdp-mo")},
                fit_decades=1.0, claimed=0.0, kind="upper",
                source=SOURCE + ": Var* = 0 leaves only the lower-order polylog(K) terms: "
                       "K^0 up to logs (a polylog has a small positive slope)",
            ),
        ),
    ),
    Experiment(
        name="lmdp-regret-vs-horizon",
        version="2",
        description="Final regret vs H with episode reward <= 1: the LMDP learner (counts "
                    "pooled over stages) against the same learner with per-stage counts "
                    "(not horizon-free)",
        params=LMDP_PARAMS,
        run=run_lmdp,
        grid={"algorithm": ["lmdp-vo"], "env": ["random"], "n_contexts": [2],
              "stage_counts": [False, True], "episodes": [20_000],
              "horizon": [4, 8, 16, 32, 64]},
        seeds=4,
        quick={"grid": {"algorithm": ["lmdp-vo"], "env": ["random"], "n_contexts": [2],
                        "stage_counts": [False, True], "episodes": [500],
                        "horizon": [4, 8, 16]}, "seeds": 2},
        plots=(PlotSpec(
            name="lmdp-regret-vs-horizon", x="horizon", y="regret", hue="learner",
            where={"final": True}, logx=True, logy=True, fit_slope=True,
            title="LMDP regret after K episodes vs H, episode reward <= 1 (M=2, S=3, A=2)",
            xlabel="horizon H", ylabel="final regret (mean, 95% bootstrap CI)",
        ),),
        rates=(
            RateClaim(
                name="lmdp-horizon-free", x="horizon", y="regret", by="algorithm",
                where={"final": True, "stage_counts": False, "algorithm": ("lmdp-vo",)},
                claimed=0.0, kind="upper",
                source=SOURCE + ": no power of H (a polylog still has a small positive "
                       "log-log slope at finite H)",
            ),
            RateClaim(
                name="lmdp-under-polylog-envelope", x="horizon", y="regret_over_envelope",
                by="algorithm",
                where={"final": True, "stage_counts": False, "algorithm": ("lmdp-vo",)},
                claimed=0.0, kind="upper",
                source=SOURCE + ": regret / log(H)^2 should not grow with H",
            ),
            RateClaim(
                name="lmdp-stagewise-regret-vs-h", x="horizon", y="regret", by="algorithm",
                where={"final": True, "stage_counts": True, "algorithm": ("lmdp-vo",)},
                claimed=0.5, kind="upper",
                source="per-stage statistics: effective state space S H, so the same bound "
                       "reads O~(sqrt(Var* M Gamma S H A K)): H^0.5 (not horizon-free)",
            ),
        ),
    ),
    Experiment(
        name="lmdp-regret-vs-contexts",
        description="Final regret vs the number of contexts M (theory: sqrt(M))",
        params=LMDP_PARAMS,
        run=run_lmdp,
        grid=[{"algorithm": ["lmdp-vo", "lmdp-oracle"], "env": ["random"],
               "n_contexts": [1, 2, 4, 8, 16], "episodes": [20_000]},
              {"algorithm": ["lmdp-mo"], "env": ["random"], "n_contexts": [1, 2, 4, 8, 16],
               "episodes": [20_000], "bonus_scale": [MO_SCALE]}],
        seeds=4,
        quick={"grid": {"algorithm": ["lmdp-vo"], "env": ["random"], "n_contexts": [1, 2, 4],
                        "episodes": [500]}, "seeds": 2},
        plots=(PlotSpec(
            name="lmdp-regret-vs-contexts", x="n_contexts", y="regret", hue="learner",
            where={"final": True}, logx=True, logy=True, fit_slope=True, theory=_sqrt,
            theory_label="sqrt(M)", title="LMDP regret after K episodes vs M (S=3, A=2, H=4)",
            xlabel="contexts M", ylabel="final regret (mean, 95% bootstrap CI)",
        ),),
        rates=(
            RateClaim(
                name="lmdp-regret-vs-m", x="n_contexts", y="regret", by="algorithm",
                where={"final": True, "algorithm": ("lmdp-vo", "lmdp-mo")},
                claimed=0.5, kind="upper", source=SOURCE + ": M^0.5",
            ),
        ),
    ),
    Experiment(
        name="mvp-regret-vs-horizon-envelope",
        description="The tabular MVP horizon sweep (RiverSwim, rewards / H) with the polylog "
                    "envelope log(H)^2 it should stay under",
        params=MVP_PARAMS,
        run=run_mvp,
        grid={"algorithm": ["mvp"], "episodes": [20_000], "horizon": [20, 40, 80, 160, 320]},
        seeds=4,
        quick={"grid": {"algorithm": ["mvp"], "episodes": [300], "horizon": [10, 20, 40]},
               "seeds": 2},
        plots=(PlotSpec(
            name="mvp-regret-vs-horizon-envelope", x="horizon", y="regret", hue="algorithm",
            where={"final": True}, logx=True, logy=True, fit_slope=True, theory=_envelope,
            theory_label="polylog envelope (log H / log H0)^2",
            title="MVP regret after K episodes vs H (RiverSwim(6), episode reward <= 1)",
            xlabel="horizon H", ylabel="final regret (mean, 95% bootstrap CI)",
        ),),
        rates=(
            RateClaim(
                name="mvp-under-polylog-envelope", x="horizon", y="regret_over_envelope",
                by="algorithm", where={"final": True}, claimed=0.0, kind="upper",
                source="Zhang, Ji, Du 2021 (original MVP; homogeneous P, episode reward <= 1): "
                       "O~((sqrt(SAK) + S^2 A) polylog H); regret / log(H)^2 should not grow",
            ),
        ),
    ),
]

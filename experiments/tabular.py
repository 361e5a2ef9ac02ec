"""Regret of the tabular learners: against episodes, horizon and number of states.

Every run learns one model for ``episodes`` episodes with one seed and stores
the cumulative *exact* regret ``sum_k V*_0 - V^{pi_k}_0`` at checkpoints
(column ``regret``; ``realized_regret`` uses sampled returns instead), plus a
``final`` flag on the last checkpoint for the sweeps that plot final regret.

Theory (worst case over instances; see mdplab.algorithms' module docstrings):
regret grows like ``sqrt(K)`` for UCBVI, MVP, Q-learning-UCB and PSRL; on a
fixed instance with gaps it turns logarithmic, which is why
``regret-vs-episodes`` also sweeps the lower-bound family, whose gap is set to
``sqrt(S A / K)`` for the K being run. With rewards normalised to total at most
1, MVP's regret is nearly flat in H while UCBVI-CH's grows (``regret-vs-horizon``).
That sweep starts at H = 20: on RiverSwim(6) an episode shorter than about 3n
steps cannot reach the rewarding end, so below that the optimal value itself
(and with it every learner's regret) changes regime with H.

``bonus_scale`` multiplies every optimistic bonus (Q-learning's ``c``): the
papers' constants (scale 1) keep the learners in their exploration phase far
beyond 10^5 episodes on these instances, so the sweeps default to 0.1.
"""

from __future__ import annotations

import numpy as np

from mdplab import envs
from mdplab.algorithms import ALGORITHMS
from mdplab.lab import Experiment, Param, PlotSpec, RateClaim
from mdplab.models import TabularMDP

ENVS = ("riverswim", "chain", "gridworld", "garnet", "lower-bound")
# Online expected-return learners of tabular MDPs only: the structured-model learners
# (latent, linear, low-rank) registered beside them cannot run on these environments.
ALGOS = tuple(k for k, f in ALGORITHMS.items()
              if f().guarantee == "online" and f().objective.name == "expected-return"
              and issubclass(TabularMDP, f().model_class))
BONUSED = {"ucbvi-ch", "ucbvi-bf", "mvp"}


def make_env(params: dict):
    """The model a run learns (finite horizon ``params["horizon"]``)."""
    name, H, S = params["env"], params["horizon"], params["n_states"]
    norm = params["normalize"]
    if name == "riverswim":
        return envs.riverswim(n_states=S, variant="osband", horizon=H, normalize=norm)
    if name == "chain":
        return envs.chain(length=S, horizon=H, normalize=norm)
    if name == "gridworld":
        return envs.gridworld(slip_prob=0.1, horizon=H, normalize=norm)
    if name == "garnet":
        mdp = envs.garnet(S, 2, min(3, S), seed=params["env_seed"], horizon=H)
        return mdp.replace(R=mdp.R / H) if norm else mdp
    return envs.lower_bound(4, H, episodes=params["episodes"], normalize=norm)


def make_algorithm(params: dict):
    name, scale = params["algorithm"], params["bonus_scale"]
    if name in BONUSED:
        return ALGORITHMS[name](bonus_scale=scale)
    if name.startswith("qlearning"):
        return ALGORITHMS[name](c=scale)
    return ALGORITHMS[name]()


def run(params: dict, seed: int) -> list[dict]:
    mdp = make_env(params)
    curve = make_algorithm(params).run(mdp, params["episodes"], seed=seed,
                                       checkpoint_every=max(1, params["episodes"] // 50))
    rows = curve.rows(0)
    for r in rows:
        r["final"] = r["episode"] == params["episodes"]
        r["optimal_value"] = curve.optimal_value
    return rows


PARAMS = (
    Param("algorithm", "str", "ucbvi-bf", "learner", choices=ALGOS),
    Param("env", "str", "riverswim", "environment", choices=ENVS),
    Param("episodes", "int", 10_000, "episodes K", low=1, high=10_000_000),
    Param("horizon", "int", 10, "horizon H", low=2, high=1000),
    Param("n_states", "int", 6, "states (riverswim, chain, garnet)", low=2, high=500),
    Param("bonus_scale", "float", 0.1, "multiplies the optimistic bonuses", low=0.0),
    Param("normalize", "bool", False, "divide rewards by H (episode total <= 1)"),
    Param("env_seed", "int", 0, "seed of the random (garnet) instance", low=0),
)


def _sqrt(x, rows):
    return np.sqrt(np.asarray(x, dtype=float))


def _curve_plot(env: str) -> PlotSpec:
    return PlotSpec(
        name=f"regret-vs-episodes-{env}", x="episode", y="regret", hue="algorithm",
        where={"env": env}, logx=True, logy=True, fit_slope=True, fit_decades=1.0,
        title=f"Cumulative exact regret, {env} (slopes: last decade)",
        xlabel="episode k", ylabel="cumulative regret (mean, 95% bootstrap CI)",
    )


EXPERIMENTS = [
    Experiment(
        name="regret-vs-episodes",
        description="Cumulative exact regret vs episodes for every learner on RiverSwim, "
                    "Chain, GridWorld and Garnet, and final regret vs K on the lower-bound "
                    "family (theory: sqrt(K))",
        params=PARAMS,
        run=run,
        grid=[
            {"algorithm": list(ALGOS), "env": ["riverswim", "chain", "gridworld", "garnet"],
             "episodes": [100_000], "horizon": [20]},
            {"algorithm": ["ucbvi-bf", "mvp", "psrl"], "env": ["lower-bound"],
             "episodes": [1000, 3000, 10_000, 30_000, 100_000], "horizon": [10]},
        ],
        seeds=5,
        quick={"grid": [
            {"algorithm": ["ucbvi-bf", "psrl", "greedy"], "env": ["riverswim", "chain"],
             "episodes": [1000]},
            {"algorithm": ["psrl"], "env": ["lower-bound"], "episodes": [300, 1000, 3000]},
        ], "seeds": 2},
        plots=tuple(_curve_plot(e) for e in ("riverswim", "chain", "gridworld", "garnet")) + (
            PlotSpec(
                name="regret-lower-bound-vs-K", x="episodes", y="regret", hue="algorithm",
                where={"env": "lower-bound", "final": True}, logx=True, logy=True,
                fit_slope=True, theory=_sqrt, theory_label="sqrt(K)",
                title="Final regret on the lower-bound family (gap sqrt(SA/K))",
                xlabel="episodes K", ylabel="regret after K episodes (mean, 95% CI)",
            ),
        ),
        rates=tuple(
            RateClaim(
                name=name, x="episode", y="regret", by=("env", "algorithm"),
                where={"env": ("riverswim", "chain", "gridworld", "garnet"),
                       "algorithm": algos},
                fit_decades=1.0, claimed=0.5, kind="upper", source=source,
            )
            for name, algos, source in (
                ("ucbvi-regret-vs-k", ("ucbvi-ch", "ucbvi-bf"),
                 "Azar et al. 2017 (UCBVI, homogeneous P): CH O~(H sqrt(SAT) + H^2 S^2 A), "
                 "BF O~(sqrt(HSAT) + H sqrt(T) + H^2 S^2 A), T = KH: sqrt(K) after burn-in"),
                ("mvp-regret-vs-k", ("mvp",),
                 "Zhang, Ji, Du 2021 (MVP): O~((sqrt(SAK) + S^2 A) polylog H); per-step "
                 "rewards ([ZCLD24] Table 1): sqrt(SAH^3 K) + S^2 A H^2: sqrt(K)"),
                ("qlearning-regret-vs-k", ("qlearning-ucb-h", "qlearning-ucb-b"),
                 "Jin et al. 2018 (Q-learning-UCB): Hoeffding O(sqrt(H^4 S A T iota)), "
                 "Bernstein O(sqrt(H^3 S A T iota) + sqrt(H^9 S^3 A^3) iota^2): sqrt(K)"),
                ("psrl-regret-vs-k", ("psrl",),
                 "Osband, Russo, Van Roy 2013 Thm 1 (PSRL): Bayesian E[regret] = "
                 "O(H S sqrt(A T log(SAT))): sqrt(K); averaged over a prior, not per instance"),
            )
        ) + (
            RateClaim(
                name="lower-bound-regret-vs-k", x="episodes", y="regret", by="algorithm",
                where={"env": "lower-bound", "final": True,
                       "algorithm": ("ucbvi-bf", "mvp", "psrl")},
                claimed=0.5, kind="match",
                source="minimax lower bound Omega(sqrt(S A H^3 K)) (Domingues et al. 2021; "
                       "[ZCLD24] Table 1) on its hard family (gap sqrt(SA/K)), matched by the "
                       "algorithms' sqrt(K) upper bounds: regret ~ K^0.5",
            ),
        ),
    ),
    Experiment(
        name="regret-vs-horizon",
        description="Final regret vs H with rewards normalised to total <= 1 (theory: MVP "
                    "nearly flat, UCBVI-CH growing)",
        params=PARAMS,
        run=run,
        grid={"algorithm": ["mvp", "ucbvi-ch", "ucbvi-bf"], "env": ["riverswim"],
              "normalize": [True], "episodes": [20_000],
              "horizon": [20, 40, 80, 160, 320]},
        seeds=5,
        quick={"grid": {"algorithm": ["mvp", "ucbvi-ch"], "env": ["riverswim"],
                        "normalize": [True], "episodes": [300], "horizon": [10, 20, 40]},
               "seeds": 2},
        plots=(PlotSpec(
            name="regret-vs-horizon", x="horizon", y="regret", hue="algorithm",
            where={"final": True}, logx=True, logy=True, fit_slope=True,
            title="Regret after K episodes vs H, episode reward <= 1 (RiverSwim)",
            xlabel="horizon H", ylabel="final regret (mean, 95% bootstrap CI)",
        ),),
        rates=(
            RateClaim(
                name="mvp-horizon-free", x="horizon", y="regret", by="algorithm",
                where={"final": True, "normalize": True, "algorithm": ("mvp",)},
                claimed=0.0, kind="upper",
                source="Zhang, Ji, Du 2021 (original MVP; homogeneous P, episode reward <= 1): "
                       "O~((sqrt(SAK) + S^2 A) polylog H): no power of H (a polylog still "
                       "has a small positive log-log slope at finite H)",
            ),
            RateClaim(
                name="ucbvi-regret-vs-h", x="horizon", y="regret", by="algorithm",
                where={"final": True, "normalize": True,
                       "algorithm": ("ucbvi-ch", "ucbvi-bf")},
                claimed=0.5, kind="upper",
                source="Azar et al. 2017 with rewards / H: CH H sqrt(SAT) / H = sqrt(SAHK), "
                       "BF H sqrt(T) / H = sqrt(HK): H^0.5 (leading sqrt(K) terms; the "
                       "burn-in H S^2 A term grows like H)",
            ),
        ),
    ),
    Experiment(
        name="regret-vs-states",
        description="Final regret vs S on Garnet MDPs (theory: sqrt(S) for the minimax "
                    "algorithms)",
        params=PARAMS,
        run=run,
        grid={"algorithm": ["ucbvi-bf", "mvp", "psrl"], "env": ["garnet"],
              "episodes": [20_000], "n_states": [5, 10, 20, 40, 80]},
        seeds=5,
        quick={"grid": {"algorithm": ["ucbvi-bf", "psrl"], "env": ["garnet"],
                        "episodes": [300], "n_states": [5, 10, 20]}, "seeds": 2},
        plots=(PlotSpec(
            name="regret-vs-states", x="n_states", y="regret", hue="algorithm",
            where={"final": True}, logx=True, logy=True, fit_slope=True, theory=_sqrt,
            theory_label="sqrt(S)", title="Regret after K episodes vs S (Garnet, A=2)",
            xlabel="states S", ylabel="final regret (mean, 95% bootstrap CI)",
        ),),
        rates=(
            RateClaim(
                name="minimax-regret-vs-s", x="n_states", y="regret", by="algorithm",
                where={"final": True, "env": "garnet", "algorithm": ("ucbvi-bf", "mvp")},
                claimed=0.5, kind="upper",
                source="UCBVI-BF O~(sqrt(HSAT)) (Azar et al. 2017), MVP O~(sqrt(SAH^3 K)) "
                       "([ZJD21], [ZCLD24]): S^0.5 (leading term; the burn-in S^2 A term "
                       "grows like S^2)",
            ),
            RateClaim(
                name="psrl-regret-vs-s", x="n_states", y="regret", by="algorithm",
                where={"final": True, "env": "garnet", "algorithm": ("psrl",)},
                claimed=1.0, kind="upper",
                source="Osband, Russo, Van Roy 2013 Thm 1: Bayesian E[regret] = "
                       "O(H S sqrt(A T log(SAT))): S^1 (Bayesian, not per instance)",
            ),
        ),
    ),
]

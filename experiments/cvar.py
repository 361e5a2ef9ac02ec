"""CVaR RL: exact CVaR regret of CVaR-UCBVI against K, tau and S; CVaR-optimal
return laws against tau.

Every learning run stores, at checkpoints, the cumulative *exact* CVaR regret
``sum_k CVaR*_tau - CVaR_tau(pi_k, c_k)`` (column ``regret``; the policy and
budget played are evaluated by exact forward propagation of the return law),
``episode``, ``return_sum`` (sampled returns), a ``final`` flag on the last
checkpoint and ``inv_tau = 1 / tau`` (the rate checks fit powers of ``1/tau``,
so that "upper" and "match" keep their meaning for a quantity that grows as
``tau`` shrinks).

Theory (Wang, Kallus, Sun 2023; mdplab.algorithms.cvar): regret
``O~(tau^-1 sqrt(S A K))`` in general, ``O~(sqrt(S A K / tau))`` under
continuity, lower bound ``Omega(sqrt(S A K / tau))`` on the Bernoulli family
(:func:`mdplab.envs.cvar_lower_bound`, gap set for the K and tau being run),
where the final regret should grow like ``K^0.5``, ``S^0.5`` and
``(1/tau)^0.5``; the general upper bound allows ``(1/tau)^1``.

``cvar-policy-vs-tau`` plans exactly (no learning): for each tau, the return
CDFs of the CVaR-optimal (budget-augmented) policy and of the mean-optimal
policy on the safe-vs-risky chain, and the CVaR each attains (rows carry
``episode = 0`` and ``regret = CVaR* - CVaR(mean-optimal)``, the per-episode
price of ignoring risk).

``cvar-regret-vs-episodes`` also runs ``ucbvi-bf-cvar`` (UCBVI-BF's
mean-optimistic policy scored by CVaR) on the safe-risky and random-grid
instances: linear CVaR regret where the mean-optimal policy is not CVaR-optimal.

``bonus_scale`` multiplies the (reconstructed) bonuses; the sweeps default to
0.1, as the tabular ones do.

``cvar-bandit-regret`` runs the CVaR bandit (Bernstein-UCB, the ``H = 1`` case,
``mdplab.algorithms.CVaRBandit``) with the theorem's constants
(``bonus_scale = 1``) on the Bernoulli family with the gap set for ``K``
(:func:`mdplab.envs.cvar_bandit`) and on a random grid-reward bandit; rows also
carry ``bound`` (Theorem 4.1 as implemented,
:func:`mdplab.algorithms.cvar_bandit_regret_bound`, at the checkpoint),
``regret_over_bound`` (at most 1 on the theorem's event) and
``optimism_failures`` (rounds outside the event).
"""

from __future__ import annotations

import numpy as np

from mdplab import envs
from mdplab.algorithms import ALGORITHMS, cvar_bandit_regret_bound
from mdplab.lab import Experiment, Param, PlotSpec, RateClaim
from mdplab.planning import backward_induction, return_distribution, solve_cvar

ALGOS = ("cvar-ucbvi-h", "cvar-ucbvi-b")
BASELINE = "ucbvi-bf-cvar"   # UCBVI-BF's mean-optimistic policy, scored by CVaR
ENVS = ("lower-bound", "safe-risky", "random-grid")


def make_env(params: dict):
    name, H = params["env"], params["horizon"]
    if name == "lower-bound":
        return envs.cvar_lower_bound(params["n_actions"], params["tau"],
                                     n_states=params["n_states"], horizon=H,
                                     episodes=params["episodes"])
    if name == "safe-risky":
        return envs.safe_risky_chain(H)
    return envs.random_grid_mdp(params["n_states"], params["n_actions"], H,
                                seed=params["env_seed"])


def run(params: dict, seed: int) -> list[dict]:
    mdp = make_env(params)
    learner = ALGORITHMS[params["algorithm"]](tau=params["tau"],
                                              bonus_scale=params["bonus_scale"])
    K = params["episodes"]
    curve = learner.run(mdp, K, seed=seed, checkpoint_every=max(1, K // 50))
    rows = curve.rows(0)
    for r in rows:
        r["final"] = r["episode"] == K
        r["optimal_value"] = curve.optimal_value
        r["inv_tau"] = 1.0 / params["tau"]
    return rows


def run_policies(params: dict, seed: int) -> list[dict]:
    """Exact return laws of the CVaR-optimal and mean-optimal policies (no randomness)."""
    mdp = make_env({**params, "env": params["env"]})
    tau = params["tau"]
    res = solve_cvar(mdp, tau)
    mean_pi = backward_induction(mdp).policy
    laws = {"cvar-optimal": return_distribution(mdp, res),
            "mean-optimal": return_distribution(mdp, mean_pi)}
    gap = res.value - laws["mean-optimal"].cvar(tau)
    rows = []
    for label, law in laws.items():
        common = {"policy": label, "episode": 0, "regret": gap, "cvar": law.cvar(tau),
                  "mean": law.mean(), "var": law.var(tau), "optimal_value": res.value}
        cdf = np.cumsum(law.probs)
        prev = 0.0
        for x, c in zip(law.values, cdf, strict=True):
            # a staircase: the CDF just left of each atom, then at it
            rows.append({**common, "return": float(x) - 1e-9, "cdf": prev})
            rows.append({**common, "return": float(x), "cdf": float(min(c, 1.0))})
            prev = float(min(c, 1.0))
    return rows


PARAMS = (
    Param("algorithm", "str", "cvar-ucbvi-b", "learner", choices=ALGOS + (BASELINE,)),
    Param("env", "str", "lower-bound", "environment", choices=ENVS),
    Param("episodes", "int", 10_000, "episodes K", low=1, high=10_000_000),
    Param("horizon", "int", 2, "horizon H", low=2, high=100),
    Param("tau", "float", 0.25, "CVaR level in (0, 1]", low=1e-6, high=1.0),
    Param("n_states", "int", 2, "contexts (lower-bound) / states (random-grid)", low=1,
          high=200),
    Param("n_actions", "int", 2, "actions (lower-bound, random-grid)", low=2, high=50),
    Param("bonus_scale", "float", 0.1, "multiplies the optimistic bonuses", low=0.0),
    Param("env_seed", "int", 0, "seed of the random-grid instance", low=0),
)

POLICY_PARAMS = tuple(p for p in PARAMS if p.name not in ("env", "horizon")) + (
    Param("env", "str", "safe-risky", "environment", choices=ENVS),
    Param("horizon", "int", 5, "horizon H", low=1, high=100),
)

_WANG = "Wang, Kallus, Sun 2023 (CVaR-UCBVI)"

BANDIT_ENVS = ("bandit-hard", "bandit-random")


def make_bandit(params: dict):
    if params["env"] == "bandit-hard":
        return envs.cvar_bandit(params["n_actions"], params["tau"], episodes=params["episodes"])
    return envs.random_cvar_bandit(params["n_actions"], levels=4, seed=params["env_seed"])


def run_bandit(params: dict, seed: int) -> list[dict]:
    mdp = make_bandit(params)
    learner = ALGORITHMS[params["algorithm"]](tau=params["tau"], delta=params["delta"],
                                              bonus_scale=params["bonus_scale"])
    K = params["episodes"]
    curve = learner.run(mdp, K, seed=seed, checkpoint_every=max(1, K // 50))
    rows = curve.rows(0)
    for r in rows:
        bound = float(cvar_bandit_regret_bound(r["episode"], mdp.A, params["tau"],
                                               params["delta"], horizon=K))
        r["final"] = r["episode"] == K
        r["optimal_value"] = curve.optimal_value
        r["inv_tau"] = 1.0 / params["tau"]
        r["bound"] = bound
        r["regret_over_bound"] = r["regret"] / bound
    return rows


BANDIT_PARAMS = (
    Param("algorithm", "str", "cvar-bandit", "learner", choices=("cvar-bandit",)),
    Param("env", "str", "bandit-hard", "bandit instance", choices=BANDIT_ENVS),
    Param("episodes", "int", 10_000, "rounds K", low=1, high=100_000_000),
    Param("tau", "float", 0.25, "CVaR level in (0, 1]", low=1e-6, high=1.0),
    Param("n_actions", "int", 2, "arms A", low=2, high=50),
    Param("delta", "float", 0.1, "confidence level in L = log(A K / delta)", low=1e-12,
          high=0.999),
    Param("bonus_scale", "float", 1.0, "multiplies the bonus (1 = the theorem's)", low=0.0),
    Param("env_seed", "int", 0, "seed of the random bandit", low=0),
)

EXPERIMENTS = [
    Experiment(
        name="cvar-regret-vs-episodes",
        description="Exact CVaR regret of CVaR-UCBVI vs K: final regret on the lower-bound "
                    "family (gap sqrt(SA/(tau K))) and curves on safe-risky / random-grid "
                    "(theory: sqrt(K))",
        params=PARAMS,
        run=run,
        grid=[
            {"algorithm": list(ALGOS), "env": ["lower-bound"], "n_states": [2],
             "episodes": [1000, 3000, 10_000, 30_000, 100_000]},
            {"algorithm": [*ALGOS, BASELINE], "env": ["safe-risky", "random-grid"],
             "episodes": [30_000], "horizon": [4], "n_states": [4]},
        ],
        seeds=20, version="2",
        quick={"grid": [
            {"algorithm": ["cvar-ucbvi-b"], "env": ["lower-bound"],
             "episodes": [300, 1000, 3000]},
            {"algorithm": ["cvar-ucbvi-b", BASELINE], "env": ["safe-risky"], "episodes": [1000],
             "horizon": [4]},
        ], "seeds": 2},
        plots=(
            PlotSpec(name="cvar-regret-lower-bound-vs-K", x="episodes", y="regret",
                     hue="algorithm", where={"env": "lower-bound", "final": True},
                     logx=True, logy=True, fit_slope=True,
                     theory=lambda x, rows: np.sqrt(np.asarray(x, float)),
                     theory_label="sqrt(K)",
                     title="Final exact CVaR regret, lower-bound family (tau = 0.25)",
                     xlabel="episodes K", ylabel="CVaR regret after K episodes"),
            PlotSpec(name="cvar-regret-vs-episodes-safe-risky", x="episode", y="regret",
                     hue="algorithm", where={"env": "safe-risky"}, logx=True, logy=False,
                     title="Cumulative exact CVaR regret, safe-vs-risky chain (tau = 0.25)",
                     xlabel="episode k", ylabel="cumulative CVaR regret"),
            PlotSpec(name="cvar-regret-vs-episodes-random-grid", x="episode", y="regret",
                     hue="algorithm", where={"env": "random-grid"}, logx=True, logy=False,
                     title="Cumulative exact CVaR regret, random grid-reward MDP",
                     xlabel="episode k", ylabel="cumulative CVaR regret"),
        ),
        rates=(
            RateClaim(name="cvar-regret-vs-k", x="episodes", y="regret", by="algorithm",
                      where={"env": "lower-bound", "final": True, "algorithm": ALGOS},
                      claimed=0.5, kind="match",
                      source=f"{_WANG}: upper O~(tau^-1 sqrt(SAK)), lower bound "
                             "Omega(sqrt(SAK/tau)) on its Bernoulli family with the gap set "
                             "for K: K^0.5"),
        ),
    ),
    Experiment(
        name="cvar-regret-vs-tau",
        description="Final exact CVaR regret vs tau at fixed K on the lower-bound family "
                    "(theory: between (1/tau)^0.5, the lower bound, and (1/tau)^1)",
        params=PARAMS,
        run=run,
        grid={"algorithm": list(ALGOS), "env": ["lower-bound"], "episodes": [20_000],
              "tau": [0.05, 0.1, 0.2, 0.4, 1.0]},
        seeds=20, version="2",
        quick={"grid": {"algorithm": ["cvar-ucbvi-b"], "env": ["lower-bound"],
                        "episodes": [1000], "tau": [0.1, 0.3, 1.0]}, "seeds": 2},
        plots=(PlotSpec(name="cvar-regret-vs-tau", x="inv_tau", y="regret", hue="algorithm",
                        where={"final": True}, logx=True, logy=True, fit_slope=True,
                        title="Final CVaR regret vs 1/tau (lower-bound family, K = 20000)",
                        xlabel="1 / tau", ylabel="CVaR regret after K episodes"),),
        rates=(
            RateClaim(name="cvar-regret-vs-inv-tau-lower", x="inv_tau", y="regret",
                      by="algorithm", where={"final": True, "algorithm": ALGOS},
                      claimed=0.5, kind="match",
                      source=f"{_WANG}: lower bound Omega(sqrt(SAK/tau)), matched under "
                             "continuity: (1/tau)^0.5"),
            RateClaim(name="cvar-regret-vs-inv-tau-upper", x="inv_tau", y="regret",
                      by="algorithm", where={"final": True, "algorithm": ALGOS},
                      claimed=1.0, kind="upper",
                      source=f"{_WANG}: general upper bound O~(tau^-1 sqrt(SAK)): "
                             "(1/tau)^1"),
        ),
    ),
    Experiment(
        name="cvar-regret-vs-states",
        description="Final exact CVaR regret vs the number of contexts S of the lower-bound "
                    "family (theory: sqrt(S))",
        params=PARAMS,
        run=run,
        grid={"algorithm": list(ALGOS), "env": ["lower-bound"], "episodes": [20_000],
              "n_states": [2, 4, 8, 16, 32]},
        seeds=20, version="2",
        quick={"grid": {"algorithm": ["cvar-ucbvi-b"], "env": ["lower-bound"],
                        "episodes": [1000], "n_states": [2, 4, 8]}, "seeds": 2},
        plots=(PlotSpec(name="cvar-regret-vs-states", x="n_states", y="regret",
                        hue="algorithm", where={"final": True}, logx=True, logy=True,
                        fit_slope=True, theory=lambda x, rows: np.sqrt(np.asarray(x, float)),
                        theory_label="sqrt(S)",
                        title="Final CVaR regret vs S (lower-bound family, tau = 0.25)",
                        xlabel="contexts S", ylabel="CVaR regret after K episodes"),),
        rates=(
            RateClaim(name="cvar-regret-vs-s", x="n_states", y="regret", by="algorithm",
                      where={"final": True, "algorithm": ALGOS}, claimed=0.5, kind="match",
                      source=f"{_WANG}: O~(tau^-1 sqrt(SAK)) upper, Omega(sqrt(SAK/tau)) "
                             "lower: S^0.5"),
            RateClaim(name="cvar-regret-vs-s-mean", x="n_states", y="regret", by="algorithm",
                      where={"final": True, "algorithm": ALGOS}, claimed=0.5, kind="match",
                      fit_on="mean",
                      source=f"{_WANG}: the same claim on the mean over seeds (the theorems "
                             "bound expected regret; at bonus_scale 0.1 Bernstein locks in "
                             "early, so some seeds end near 0 and the log of every seed's "
                             "point pulls the small-S end down)"),
        ),
    ),
    Experiment(
        name="cvar-policy-vs-tau",
        description="Exact return CDFs of the CVaR-optimal policy for several tau beside "
                    "the mean-optimal one (safe-vs-risky chain; no learning)",
        params=POLICY_PARAMS,
        run=run_policies,
        grid={"env": ["safe-risky"], "horizon": [5],
              "tau": [0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]},
        seeds=1,
        quick={"grid": {"env": ["safe-risky"], "horizon": [5],
                        "tau": [0.05, 0.075, 0.1, 0.3, 0.5, 1.0]},
               "seeds": 1},
        plots=tuple(
            PlotSpec(name=f"cvar-policy-cdf-tau-{round(t * 100):03d}", x="return", y="cdf",
                     hue="policy",
                     where={"tau": t},
                     title=f"Return CDF, CVaR_{t:g}-optimal vs mean-optimal (safe-risky, H=5)",
                     xlabel="episode return", ylabel="P(return <= x)")
            for t in (0.05, 0.3, 0.5)
        ) + (
            PlotSpec(name="cvar-policy-vs-tau", x="tau", y="cvar", hue="policy",
                     title="CVaR_tau attained: CVaR-optimal vs mean-optimal (safe-risky)",
                     xlabel="tau", ylabel="CVaR_tau of the return"),
        ),
        rates=(
            RateClaim(name="cvar-star-flat-at-small-tau", x="tau", y="optimal_value",
                      where={"policy": "cvar-optimal", "tau": (0.05, 0.075, 0.1)},
                      claimed=0.0, kind="match",
                      source="exact (ours, from the DP; tests/test_cvar.py): on the "
                             "safe-vs-risky chain (H = 5, p_miss = 0.1, p_crash = 0.05) the "
                             "all-safe policy is CVaR-optimal for every tau <= 0.1: "
                             "CVaR* = 0.5, a tau^0 rate"),
        ),
    ),
    Experiment(
        name="cvar-bandit-regret",
        description="Exact CVaR regret of the CVaR bandit (Bernstein-UCB, H = 1) vs K with "
                    "the theorem's constants, beside Theorem 4.1's bound (theory: sqrt(K))",
        params=BANDIT_PARAMS,
        run=run_bandit,
        grid=[
            {"env": ["bandit-hard"], "n_actions": [2, 4],
             "episodes": [1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000]},
            {"env": ["bandit-random"], "n_actions": [3], "tau": [0.1, 0.3],
             "episodes": [300_000]},
        ],
        seeds=20, version="1",
        quick={"grid": [
            {"env": ["bandit-hard"], "episodes": [1000, 3000, 10_000]},
            {"env": ["bandit-random"], "n_actions": [3], "episodes": [3000]},
        ], "seeds": 2},
        plots=(
            PlotSpec(name="cvar-bandit-regret-vs-K", x="episodes", y="regret",
                     hue="n_actions", where={"env": "bandit-hard", "final": True},
                     logx=True, logy=True, fit_slope=True,
                     theory=lambda x, rows: np.sqrt(np.asarray(x, float)),
                     theory_label="sqrt(K)",
                     title="CVaR bandit: final exact CVaR regret, gap set for K (tau = 0.25)",
                     xlabel="rounds K", ylabel="CVaR regret after K rounds"),
            PlotSpec(name="cvar-bandit-regret-over-bound", x="episodes",
                     y="regret_over_bound", hue="n_actions",
                     where={"env": "bandit-hard", "final": True}, logx=True, logy=True,
                     title="CVaR bandit: regret / Theorem 4.1 bound (<= 1 on its event)",
                     xlabel="rounds K", ylabel="regret / bound"),
            PlotSpec(name="cvar-bandit-regret-random", x="episode", y="regret", hue="tau",
                     where={"env": "bandit-random"}, logx=True, logy=False,
                     title="CVaR bandit: cumulative exact CVaR regret, random grid bandit",
                     xlabel="round k", ylabel="cumulative CVaR regret"),
        ),
        rates=(
            RateClaim(name="cvar-bandit-regret-vs-k", x="episodes", y="regret",
                      by="n_actions", where={"env": "bandit-hard", "final": True},
                      claimed=0.5, kind="upper",
                      source="Wang, Kallus, Sun 2023, Thm 4.1: Reg(K) <= 4 sqrt(AK/tau) L + "
                             "16 A L^2 / tau, L = log(AK/delta): K^0.5 up to logs"),
            RateClaim(name="cvar-bandit-regret-vs-k-lower", x="episodes", y="regret",
                      by="n_actions", where={"env": "bandit-hard", "final": True},
                      claimed=0.5, kind="match",
                      source="Wang, Kallus, Sun 2023, Thm 3.1: Omega(sqrt((A-1)K/tau)) on "
                             "the Bernoulli family with the gap set for K: K^0.5"),
        ),
    ),
]

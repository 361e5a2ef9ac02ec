"""Catalogue of bad inputs to the public API (issue 16).

Each row is ``(callable, args, kwargs, exception type, regex)``: calling it must
raise exactly that exception type (``ValueError`` or ``TypeError``) with a message
matching the regex, which names the offending argument. No numba traceback, no
IndexError / AttributeError / OverflowError, no silent NaN or truncation.

Rows whose fix belongs to the core validation layer (models/tabular.py,
models/_validation.py, planning/, sampling.py, hardness.py, kernels/) are marked
``xfail(strict=True)`` with the reason, so they flip to failures once fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

import mdplab  # noqa: F401  (attaches the planning methods to the models)
from mdplab import algorithms as A
from mdplab import envs as E
from mdplab import models as M
from mdplab.algorithms.conformance import tiny_mdp
from mdplab.lab import Experiment, Param, RateClaim, parse_seeds

NAN = float("nan")
INF = float("inf")
VE, TE = ValueError, TypeError


def core(what):
    return pytest.mark.xfail(strict=True, reason=f"core validation: {what}")


CASES: list = []


def case(cid, fn, args=(), kwargs=None, exc=VE, match="", marks=()):
    CASES.append(pytest.param(fn, tuple(args), dict(kwargs or {}), exc, match, id=cid, marks=marks))


def bad_scalars(prefix, fn, name, *, args=(), base=None, kind="float", low=None,
                extra=(), marks=None):
    """Standard bad values for one scalar argument ``name`` of ``fn``.

    ``kind``: "float" (finite real), "int" (integer, rejects bool and 1.5), "prob".
    ``low``: a value below the argument's range (None: skip the range case).
    ``marks``: {suffix: mark} for rows that currently fail in a module not ours.
    """
    base = dict(base or {})
    marks = marks or {}
    rows = [("str", "1", (TE, VE)), ("none", None, (TE, VE)), ("list", [1], (TE, VE))]
    if kind in ("float", "prob"):
        rows += [("nan", NAN, VE), ("inf", INF, VE)]
    if kind == "int":
        rows += [("bool", True, (TE, VE)), ("float", 1.5, (TE, VE)), ("nan", NAN, (TE, VE))]
    if kind == "prob":
        rows += [("above1", 1.5, VE)]
    if low is not None:
        rows += [("low", low, VE)]
    rows += list(extra)
    for suffix, value, exc in rows:
        kw = dict(base)
        kw[name] = value
        mk = marks.get(suffix, ())
        case(f"{prefix}-{name}-{suffix}", fn, args, kw, exc, rf"\b{name}\b", marks=mk)


# --------------------------------------------------------------------- fixtures
MDP_H = tiny_mdp()                                   # episodic tabular
MDP_G = E.random_mdp(3, 2, gamma=0.9, seed=0)        # discounted tabular
P3 = MDP_G.P.copy()
R3 = MDP_G.R.copy()
TIGER = E.tiger(horizon=3)
PSR3 = M.PSR.from_pomdp(TIGER)
LRK = E.random_lowrank(4, 2, 2, horizon=3, stage_dependent=True, seed=0)
LAT = E.random_latent_mdp(2, 3, 2, 3, seed=0)
GRP_ENV = E.action_similar_mdp(3, 4, n_components=2, gamma=0.9, seed=0)
GRP = M.GroupedMDP(GRP_ENV.mdp, [0, 0, 1, 1])
GL = E.demand_response(2, levels=3)
FC = E.feature_class(E.random_lowrank(4, 2, 2, horizon=3, seed=0), 2, seed=0)
LMIX = E.random_linear_mixture(3, 2, 2, horizon=3, seed=0)

# --------------------------------------------------------------------- models
case("TabularMDP-P-str", M.TabularMDP, ("abc", R3), {"gamma": 0.9}, (TE, VE), r"\bP\b")
case("TabularMDP-P-nan", M.TabularMDP, (np.full_like(P3, NAN), R3), {"gamma": 0.9}, VE, r"\bP\b")
case("TabularMDP-P-shape", M.TabularMDP, (P3[:, :, :2], R3), {"gamma": 0.9}, VE, r"\bP\b")
case("TabularMDP-P-rows", M.TabularMDP, (P3 * 0.5, R3), {"gamma": 0.9}, VE, r"\bP\b")
case("TabularMDP-P-complex", M.TabularMDP, (P3 + 0j, R3), {"gamma": 0.9}, (TE, VE), r"\bP\b")
case("TabularMDP-R-nan", M.TabularMDP, (P3, np.full_like(R3, NAN)), {"gamma": 0.9}, VE, r"\bR\b")
case("TabularMDP-R-shape", M.TabularMDP, (P3, R3[:2]), {"gamma": 0.9}, VE, r"\bR\b")
case("TabularMDP-R-str", M.TabularMDP, (P3, "x"), {"gamma": 0.9}, (TE, VE), r"\bR\b")
for suffix, g in [("nan", NAN), ("one", 1.0), ("neg", -0.1), ("str", "0.9"), ("bool", True)]:
    case(f"TabularMDP-gamma-{suffix}", M.TabularMDP, (P3, R3), {"gamma": g}, (TE, VE), r"\bgamma\b")
for suffix, h in [("zero", 0), ("float", 2.5), ("bool", True), ("str", "3")]:
    case(f"TabularMDP-horizon-{suffix}", M.TabularMDP, (P3, R3), {"horizon": h}, (TE, VE),
         r"\bhorizon\b")
case("TabularMDP-neither", M.TabularMDP, (P3, R3), {}, VE, r"gamma|horizon")
case("TabularMDP-init-rows", M.TabularMDP, (P3, R3), {"gamma": 0.9, "init": [0.5, 0.6, 0.0]},
     VE, r"\binit\b")
case("TabularMDP-init-shape", M.TabularMDP, (P3, R3), {"gamma": 0.9, "init": [1.0]}, VE,
     r"\binit\b")

T_, O_, RP = TIGER.T, TIGER.O, TIGER.R
case("POMDP-T-nan", M.POMDP, (np.full_like(T_, NAN), O_, RP), {"horizon": 3}, VE, r"\bT\b")
case("POMDP-T-shape", M.POMDP, (T_[:, :1], O_, RP), {"horizon": 3}, VE, r"\bT\b")
case("POMDP-O-rows", M.POMDP, (T_, O_ * 0.5, RP), {"horizon": 3}, VE, r"\bO\b")
case("POMDP-O-shape", M.POMDP, (T_, O_[:, :1], RP), {"horizon": 3}, VE, r"\bO\b")
case("POMDP-R-inf", M.POMDP, (T_, O_, np.full_like(RP, INF)), {"horizon": 3}, VE, r"\bR\b")
case("POMDP-R-str", M.POMDP, (T_, O_, "r"), {"horizon": 3}, (TE, VE), r"\bR\b")
case("POMDP-b0-rows", M.POMDP, (T_, O_, RP, [0.2, 0.2]), {"horizon": 3}, VE, r"\bb0\b")
case("POMDP-horizon-float", M.POMDP, (T_, O_, RP), {"horizon": 2.5}, (TE, VE), r"\bhorizon\b")
case("POMDP-gamma-nan", M.POMDP, (T_, O_, RP), {"gamma": NAN}, VE, r"\bgamma\b")

LP, LR, LW = LAT.P, LAT.R, LAT.weights
case("LatentMDP-P-nan", M.LatentMDP, (np.full_like(LP, NAN), LR, LW), {"horizon": 3}, VE,
     r"\bP\b")
case("LatentMDP-P-shape", M.LatentMDP, (LP[:, :, :, :2], LR, LW), {"horizon": 3}, VE, r"\bP\b")
case("LatentMDP-R-shape", M.LatentMDP, (LP, LR[:1], LW), {"horizon": 3}, VE, r"\bR\b")
case("LatentMDP-weights-rows", M.LatentMDP, (LP, LR, [0.3, 0.3]), {"horizon": 3}, VE,
     r"\bweights\b")
case("LatentMDP-weights-neg", M.LatentMDP, (LP, LR, [1.5, -0.5]), {"horizon": 3}, VE,
     r"\bweights\b")
case("LatentMDP-horizon-none", M.LatentMDP, (LP, LR, LW), {}, (TE, VE), r"\bhorizon\b")
case("LatentMDP-horizon-bool", M.LatentMDP, (LP, LR, LW), {"horizon": True}, (TE, VE),
     r"\bhorizon\b")

PHI, MU, RR = LRK.phi, LRK.mu, LRK.R
case("LowRankMDP-phi-nan", M.LowRankMDP, (np.full_like(PHI, NAN), MU, RR), {"horizon": 3}, VE,
     r"\bphi\b")
case("LowRankMDP-phi-str", M.LowRankMDP, ("phi", MU, RR), {"horizon": 3}, (TE, VE), r"\bphi\b")
case("LowRankMDP-mu-shape", M.LowRankMDP, (PHI, MU[..., :1, :], RR), {"horizon": 3}, VE,
     r"\bmu\b|rank|\bd\b")
case("LowRankMDP-R-shape", M.LowRankMDP, (PHI, MU, RR[..., :1]), {"horizon": 3}, VE, r"\bR\b")
case("LowRankMDP-horizon-float", M.LowRankMDP, (PHI, MU, RR), {"horizon": 1.5}, (TE, VE),
     r"\bhorizon\b")
case("LowRankMDP-gamma-one", M.LowRankMDP, (PHI[0], MU[0], RR[0]), {"gamma": 1.0}, VE,
     r"\bgamma\b")
case("LinearMDP-phi-nan", M.LinearMDP, (np.full_like(PHI[0], NAN), MU[0], np.zeros(2)),
     {"gamma": 0.9}, VE, r"\bphi\b")
case("LinearMDP-theta-shape", M.LinearMDP, (PHI[0], MU[0], np.zeros(5)), {"gamma": 0.9}, VE,
     r"\btheta\b")
BLK = E.block_mdp(2, 2, 2, horizon=3, seed=0)
case("BlockMDP-emission-rows", M.BlockMDP, (BLK.latent_T, BLK.emission * 0.5, BLK.R_latent
                                            if hasattr(BLK, "R_latent") else BLK.R),
     {"horizon": 3}, VE, r"\bemission\b")
case("LinearMixtureMDP-theta-nan", M.LinearMixtureMDP,
     (LMIX.features, np.full_like(LMIX.theta, NAN), LMIX.R), {"horizon": 3}, VE, r"\btheta\b")
case("LinearMixtureMDP-features-str", M.LinearMixtureMDP, ("f", LMIX.theta, LMIX.R),
     {"horizon": 3}, (TE, VE), r"\bfeatures\b")
case("FeatureClass-candidates-empty", M.FeatureClass, ([],), {}, (TE, VE), r"\bcandidates\b")
case("FeatureClass-true_index-range", M.FeatureClass, (FC.candidates,), {"true_index": 99},
     VE, r"\btrue_index\b")
case("FeatureClass-true_index-bool", M.FeatureClass, (FC.candidates,), {"true_index": True},
     (TE, VE), r"\btrue_index\b")

case("PSR-psi0-nan", M.PSR, (np.full_like(PSR3.psi0, NAN), PSR3.M, PSR3.phi), {"horizon": 3},
     VE, r"\bpsi0\b")
case("PSR-M-shape", M.PSR, (PSR3.psi0, PSR3.M[:, :, :1], PSR3.phi), {"horizon": 3}, VE,
     r"\bM\b")
case("PSR-phi-str", M.PSR, (PSR3.psi0, PSR3.M, "phi"), {"horizon": 3}, (TE, VE), r"\bphi\b")
case("PSR-check_depth-neg", M.PSR, (PSR3.psi0, PSR3.M, PSR3.phi), {"horizon": 3,
                                                                   "check_depth": -1},
     VE, r"\bcheck_depth\b")
case("PSR-check_depth-float", M.PSR, (PSR3.psi0, PSR3.M, PSR3.phi), {"horizon": 3,
                                                                     "check_depth": 1.5},
     (TE, VE), r"\bcheck_depth\b")
case("PSR-from_pomdp-type", M.PSR.from_pomdp, ("tiger",), {}, TE, r"\bpomdp\b|POMDP")
case("PSR-from_pomdp-max_test_length-zero", M.PSR.from_pomdp, (TIGER,),
     {"max_test_length": 0}, VE, r"\bmax_test_length\b")
case("PSR-from_pomdp-tol-nan", M.PSR.from_pomdp, (TIGER,), {"tol": NAN}, VE, r"\btol\b")
case("PSR-from_pomdp-tol-neg", M.PSR.from_pomdp, (TIGER,), {"tol": -1.0}, VE, r"\btol\b")

G4 = [0, 0, 1, 1]
case("GroupedMDP-mdp-type", M.GroupedMDP, ("mdp", G4), {}, TE, r"\bmdp\b")
case("GroupedMDP-groups-shape", M.GroupedMDP, (GRP.mdp, [0, 0, 1]), {}, VE, r"\bgroups\b")
case("GroupedMDP-groups-neg", M.GroupedMDP, (GRP.mdp, [-1, 0, 1, 1]), {}, VE, r"\bgroups\b")
case("GroupedMDP-groups-float", M.GroupedMDP, (GRP.mdp, [0, 0.5, 1, 1]), {}, (TE, VE),
     r"\bgroups\b")
case("GroupedMDP-groups-nan", M.GroupedMDP, (GRP.mdp, [0, NAN, 1, 1]), {}, (TE, VE),
     r"\bgroups\b")
case("GroupedMDP-groups-str", M.GroupedMDP, (GRP.mdp, "abcd"), {}, (TE, VE), r"\bgroups\b")
case("GroupedMDP-nu-str", M.GroupedMDP, (GRP.mdp, G4), {"nu": "bogus"}, VE, r"\bnu\b")
case("GroupedMDP-nu-nan", M.GroupedMDP, (GRP.mdp, G4), {"nu": np.full(4, NAN)}, VE, r"\bnu\b")

GLA = (GL.P_g, GL.P_l, GL.r_g, GL.r_l)
case("GlobalLocal-n_agents-zero", M.GlobalLocalSystem, GLA + (0, 0.9), {}, VE, r"\bn_agents\b")
case("GlobalLocal-n_agents-bool", M.GlobalLocalSystem, GLA + (True, 0.9), {}, (TE, VE),
     r"\bn_agents\b")
case("GlobalLocal-n_agents-float", M.GlobalLocalSystem, GLA + (2.5, 0.9), {}, (TE, VE),
     r"\bn_agents\b")
case("GlobalLocal-gamma-one", M.GlobalLocalSystem, GLA + (2, 1.0), {}, VE, r"\bgamma\b")
case("GlobalLocal-gamma-nan", M.GlobalLocalSystem, GLA + (2, NAN), {}, VE, r"\bgamma\b")
case("GlobalLocal-P_g-nan", M.GlobalLocalSystem,
     (np.full_like(GL.P_g, NAN),) + GLA[1:] + (2, 0.9), {}, VE, r"\bP_g\b")
case("GlobalLocal-r_l-shape", M.GlobalLocalSystem, GLA[:3] + (np.zeros(1), 2, 0.9), {}, VE,
     r"\br_l\b")

# ------------------------------------------------------ structured-model methods
for h, suf in [(99, "range"), (-1, "neg"), (1.5, "float"), (True, "bool"), ("0", "str")]:
    case(f"LowRankMDP-P_at-{suf}", LRK.P_at, (h,), {}, (TE, VE), r"\bh\b")
    case(f"LowRankMDP-phi_at-{suf}", LRK.phi_at, (h,), {}, (TE, VE), r"\bh\b")
case("LowRankMDP-q_backup-shape", LRK.q_backup, (np.zeros(7),), {}, VE, r"\bV\b")
case("LowRankMDP-q_backup-nan", LRK.q_backup, (np.full(4, NAN),), {}, VE, r"\bV\b")
case("LowRankMDP-sample-s-range", LRK.sample, (9, 0, 3), {}, VE, r"\bs\b")
case("LowRankMDP-sample-a-float", LRK.sample, (0, 0.5, 3), {}, (TE, VE), r"\ba\b")
case("LowRankMDP-sample-n-neg", LRK.sample, (0, 0, -1), {}, VE, r"\bn\b")
case("LowRankMDP-sample_init-n-float", LRK.sample_init, (2.5,), {}, (TE, VE), r"\bn\b")
case("LowRankMDP-rank-tol-nan", LRK.rank, (), {"tol": NAN}, VE, r"\btol\b")
case("LinearMixture-q_backup-shape", LMIX.q_backup, (np.zeros(9),), {}, VE, r"\bV\b")
case("LinearMixture-R_at-range", LMIX.R_at, (99,), {}, VE, r"\bh\b")
case("FeatureClass-phi_at-k-range", FC.phi_at, (99,), {}, VE, r"\bk\b")
case("FeatureClass-phi_at-k-bool", FC.phi_at, (True,), {}, (TE, VE), r"\bk\b")
case("FeatureClass-mle-shape", FC.mle, ([0, 1], [0], [0, 1]), {}, VE,
     r"states|actions|next_states")
case("FeatureClass-mle-tol-nan", FC.mle, ([0], [0], [1]), {"tol": NAN}, VE, r"\btol\b")
case("FeatureClass-mle-max_iter-zero", FC.mle, ([0], [0], [1]), {"max_iter": 0}, VE,
     r"\bmax_iter\b")

case("POMDP-belief_update-a-range", TIGER.belief_update, (TIGER.b0, 7, 0), {}, VE, r"\ba\b")
case("POMDP-belief_update-o-float", TIGER.belief_update, (TIGER.b0, 0, 0.5), {}, (TE, VE),
     r"\bo\b")
case("POMDP-belief_update-belief-nan", TIGER.belief_update, (np.full(2, NAN), 0, 0), {}, VE,
     r"\bbelief\b")
case("POMDP-observable_operator-a-neg", TIGER.observable_operator, (-1, 0), {}, VE, r"\ba\b")
case("POMDP-history_probability-len", TIGER.history_probability, ([0, 0], [0]), {}, VE,
     r"actions|observations")
case("POMDP-history_probability-o-range", TIGER.history_probability, ([0], [5]), {}, VE,
     r"\bobservations\b")
case("POMDP-history_probability-a-float", TIGER.history_probability, ([0.5], [0]), {},
     (TE, VE), r"\bactions\b")
case("POMDP-sample-n_episodes-neg", TIGER.sample, (-1,), {}, VE, r"\bn_episodes\b")
case("POMDP-sample-n_episodes-float", TIGER.sample, (2.5,), {}, (TE, VE), r"\bn_episodes\b")
case("POMDP-replace-unknown", TIGER.replace, (), {"bogus": 1}, (TE, VE), r"\bbogus\b")
case("PSR-history_probability-len", PSR3.history_probability, ([0, 0], [0]), {}, VE,
     r"actions|observations")
case("PSR-history_probability-a-range", PSR3.history_probability, ([9], [0]), {}, VE,
     r"\bactions\b")
case("PSR-history_probability-o-neg", PSR3.history_probability, ([0], [-1]), {}, VE,
     r"\bobservations\b")
case("PSR-predictive_state-a-float", PSR3.predictive_state, ([0.5], [0]), {}, (TE, VE),
     r"\bactions\b")
case("PSR-conditional-a-range", PSR3.conditional_observation_probs, ([], [], 9), {}, VE,
     r"\ba\b")
case("PSR-sample-n_episodes-neg", PSR3.sample, (-2,), {}, VE, r"\bn_episodes\b")
case("PSR-minimal-tol-nan", PSR3.minimal, (), {"tol": NAN}, VE, r"\btol\b")
case("PSR-well_conditioning-horizon-zero", PSR3.well_conditioning, (0,), {}, VE,
     r"\bhorizon\b")

case("LatentMDP-context-range", LAT.context, (5,), {}, VE, r"\bm\b")
case("LatentMDP-context-neg", LAT.context, (-1,), {}, VE, r"\bm\b")
case("LatentMDP-context-bool", LAT.context, (True,), {}, (TE, VE), r"\bm\b")
case("LatentMDP-sample-policy-shape", LAT.sample, (np.zeros((1, 1), int), 3), {}, VE,
     r"\bpolicy\b")
case("LatentMDP-sample-n_episodes-neg", LAT.sample, (np.zeros((3, 3), int), -1), {}, VE,
     r"\bn_episodes\b")
case("LatentMDP-from_mdps-weights", M.LatentMDP.from_mdps, ([MDP_H, MDP_H], [0.5, 0.2]), {},
     VE, r"\bweights\b")
case("LatentMDP-from_mdps-type", M.LatentMDP.from_mdps, (["a", "b"], [0.5, 0.5]), {}, TE,
     r"\bmdps\b|TabularMDP")

case("GroupedMDP-members-range", GRP.members, (9,), {}, VE, r"\bm\b")
case("GroupedMDP-members-float", GRP.members, (0.5,), {}, (TE, VE), r"\bm\b")
case("GroupedMDP-lift_policy-shape", GRP.lift_policy, (np.zeros(7, int),), {}, VE,
     r"\bgroup_policy\b")
case("GroupedMDP-lift_policy-range", GRP.lift_policy, (np.full(3, 9),), {}, VE,
     r"\bgroup_policy\b")
case("GroupedMDP-loss_bound-leading-nan", GRP.loss_bound, (), {"leading": NAN}, VE,
     r"\bleading\b")
case("GroupedMDP-loss_bound-value_span-neg", GRP.loss_bound, (), {"value_span": -1.0}, VE,
     r"\bvalue_span\b")

case("GlobalLocal-with_agents-zero", GL.with_agents, (0,), {}, VE, r"\bn_agents\b")
case("GlobalLocal-with_agents-float", GL.with_agents, (1.5,), {}, (TE, VE), r"\bn_agents\b")
case("GlobalLocal-count_state-range", GL.count_state, (10 ** 6,), {}, VE, r"\bindex\b")
case("GlobalLocal-count_state-neg", GL.count_state, (-1,), {}, VE, r"\bindex\b")
case("GlobalLocal-count_index-s_g-range", GL.count_index, (99, [2] + [0] * (GL.S_l - 1)), {},
     VE, r"\bs_g\b")
case("GlobalLocal-count_index-counts-sum", GL.count_index, (0, [5] + [0] * (GL.S_l - 1)), {}, VE,
     r"\bcounts\b")
case("GlobalLocal-reward-a_g-range", GL.reward, (0, [0, 0], 99), {}, VE, r"\ba_g\b")
case("GlobalLocal-reward-local-float", GL.reward, (0, [0.5, 0], 0), {}, (TE, VE),
     r"\blocal_states\b")
case("GlobalLocal-hypergeometric-k", GL.hypergeometric_law, ([2] + [0] * (GL.S_l - 1), 5), {},
     VE, r"\bk\b")
case("GlobalLocal-compositions-k-neg", GL.compositions, (-1,), {}, VE, r"\bk\b")
case("GlobalLocal-sample_next-m-zero", GL.sample_next, (0, [0, 0], 0, 0), {}, VE, r"\bm\b")
case("GlobalLocal-simulate-record", GL.simulate, (np.zeros(GL.count_space_size(), int), 2, 1),
     {"record": "bogus"}, VE, r"\brecord\b")
case("GlobalLocal-simulate-n_steps-neg", GL.simulate,
     (np.zeros(GL.count_space_size(), int), -2, 1), {}, VE, r"\bn_steps\b")
case("GlobalLocal-count_mdp-max_nnz-zero", GL.count_mdp, (), {"max_nnz": 0}, VE, r"max_nnz")


# --------------------------------------------------------------------- envs
# (generator, positional args, {arg: kind}) with kind "int", "float" or "prob".
ENV_ARGS = [
    ("riverswim", E.riverswim, {"gamma": 0.9}, {"n_states": "int", "right_reward": "float"}),
    ("chain", E.chain, {"gamma": 0.9}, {"length": "int", "fail_prob": "prob"}),
    ("gridworld", E.gridworld, {"gamma": 0.9}, {"nrows": "int", "slip_prob": "prob",
                                                "goal_reward": "float"}),
    ("garnet", E.garnet, {"n_states": 5, "n_actions": 2, "branching": 2, "gamma": 0.9},
     {"n_states": "int", "branching": "int"}),
    ("deepsea", E.deepsea, {"horizon": 4}, {"size": "int", "move_cost": "float"}),
    ("combination_lock", E.combination_lock, {}, {"horizon": "int", "n_actions": "int",
                                                  "swap_prob": "prob"}),
    ("random_mdp", E.random_mdp, {"n_states": 3, "n_actions": 2, "gamma": 0.9},
     {"n_states": "int", "dirichlet_alpha": "float"}),
    ("lower_bound", E.lower_bound, {}, {"n_actions": "int", "horizon": "int"}),
    ("safe_risky_chain", E.safe_risky_chain, {}, {"horizon": "int", "p_miss": "prob",
                                                  "p_crash": "prob"}),
    ("cvar_lower_bound", E.cvar_lower_bound, {}, {"n_actions": "int", "tau": "prob"}),
    ("random_grid_mdp", E.random_grid_mdp, {}, {"n_states": "int", "levels": "int",
                                                "concentration": "float"}),
    ("cvar_bandit", E.cvar_bandit, {}, {"n_arms": "int", "tau": "prob"}),
    ("random_cvar_bandit", E.random_cvar_bandit, {}, {"n_arms": "int", "levels": "int"}),
    ("tiger", E.tiger, {"horizon": 3}, {"listen_accuracy": "prob", "listen_reward": "float"}),
    ("random_revealing_pomdp", E.random_revealing_pomdp, {"seed": 0},
     {"n_states": "int", "n_observations": "int", "alpha": "prob"}),
    ("random_lowrank", E.random_lowrank, {"n_states": 4, "n_actions": 2, "rank": 2, "horizon": 3},
     {"rank": "int", "alpha": "float"}),
    ("block_mdp", E.block_mdp, {"n_latent": 2, "n_actions": 2, "obs_per_latent": 2,
                                "horizon": 3}, {"obs_per_latent": "int", "alpha": "float"}),
    ("rich_combination_lock", E.rich_combination_lock, {}, {"obs_per_latent": "int",
                                                            "swap_prob": "prob"}),
    ("random_linear_mixture", E.random_linear_mixture,
     {"n_states": 3, "n_actions": 2, "d": 2, "horizon": 3}, {"d": "int", "theta_alpha": "float"}),
    ("random_latent_mdp", E.random_latent_mdp,
     {"n_contexts": 2, "n_states": 3, "n_actions": 2, "horizon": 3},
     {"n_contexts": "int", "dirichlet_alpha": "float"}),
    ("probe_chain_lmdp", E.probe_chain_lmdp, {}, {"n_contexts": "int",
                                                  "probe_accuracy": "prob"}),
    ("action_similar_mdp", E.action_similar_mdp, {"n_states": 3, "n_actions": 4, "gamma": 0.9},
     {"n_components": "int", "dissimilarity": "float"}),
    ("demand_response", E.demand_response, {"n_agents": 2}, {"n_agents": "int", "levels": "int",
                                                            "shift_prob": "prob"}),
    ("queueing", E.queueing, {"n_agents": 2}, {"queue_capacity": "int",
                                               "arrival_prob": "prob"}),
    ("gridworld_layout", E.gridworld_layout, {}, {"nrows": "int", "ncols": "int"}),
    ("combination_lock_actions", E.combination_lock_actions, {}, {"horizon": "int",
                                                                  "n_actions": "int"}),
]
ENV_LOW = {"int": 0, "float": None, "prob": -0.5}
for ename, fn, base, argkinds in ENV_ARGS:
    for arg, kind in argkinds.items():
        bad_scalars(f"envs.{ename}", fn, arg, base=base, kind=kind, low=ENV_LOW[kind])
case("envs.riverswim-variant", E.riverswim, (), {"variant": "bogus", "gamma": 0.9}, VE,
     r"\bvariant\b")
case("envs.garnet-branching-gt-S", E.garnet, (3, 2, 5), {"gamma": 0.9}, VE, r"\bbranching\b")
case("envs.garnet-reward", E.garnet, (3, 2, 2), {"gamma": 0.9, "reward": "bogus"}, VE,
     r"\breward\b")
case("envs.random_mdp-seed-str", E.random_mdp, (3, 2), {"gamma": 0.9, "seed": "x"}, (TE, VE),
     r"\bseed\b")
case("envs.random_mdp-seed-float", E.random_mdp, (3, 2), {"gamma": 0.9, "seed": 1.5},
     (TE, VE), r"\bseed\b")
case("envs.gridworld-start-wall", E.gridworld, (), {"gamma": 0.9, "start": (1, 1)}, VE,
     r"\bstart\b")
case("envs.gridworld-goal-out", E.gridworld, (), {"gamma": 0.9, "goal": (9, 9)}, VE,
     r"\bgoal\b")
case("envs.feature_class-model-type", E.feature_class, ("model", 2), {}, (TE, VE), r"\bmodel\b")
case("envs.feature_class-n_distractors-neg", E.feature_class, (LRK, -1), {}, VE,
     r"\bn_distractors\b")
case("envs.feature_class-kinds", E.feature_class, (LRK, 2), {"kinds": ("bogus",)}, VE,
     r"\bkinds\b")
case("envs.gamma-and-horizon", E.riverswim, (), {"gamma": 0.9, "horizon": 3}, VE,
     r"gamma|horizon")
case("envs.random_mdp-init-rows", E.random_mdp, (3, 2), {"gamma": 0.9, "init": [1, 1, 1]}, VE,
     r"\binit\b")

# --------------------------------------------------------------- algorithms
ALGO_HYPER = {
    "ucbvi-ch": {"delta": "prob", "bonus_scale": "float"},
    "ucbvi-bf": {"delta": "prob"},
    "mvp": {"delta": "prob", "bonus_scale": "float", "c1": "float"},
    "qlearning-ucb-h": {"c": "float", "delta": "prob"},
    "qlearning-ucb-b": {"delta": "prob"},
    "psrl": {"prior_alpha": "float"},
    "greedy": {"epsilon": "prob"},
    "cvar-ucbvi-h": {"tau": "prob", "delta": "prob"},
    "cvar-ucbvi-b": {"tau": "prob", "bonus_scale": "float"},
    "ucbvi-bf-cvar": {"tau": "prob", "delta": "prob"},
    "cvar-bandit": {"tau": "prob", "bonus_var": "float", "bonus_lin": "float"},
    "subsample-q": {"k": "int", "m": "int", "memory_limit": "float"},
    "grouped-vi": {"iterations": "int", "vi_tol": "float"},
    "ungrouped-vi": {"iterations": "int", "vi_tol": "float"},
}
ALGO_LOW = {"int": 0, "float": -1.0, "prob": -0.5}
NONE_OK = {"iterations"}
for aname, hyper in ALGO_HYPER.items():
    for arg, kind in hyper.items():
        rows_marks = {}
        fn = A.ALGORITHMS[aname]
        bad = bad_scalars.__wrapped__ if hasattr(bad_scalars, "__wrapped__") else bad_scalars
        if arg in NONE_OK:  # None is a valid value (the default)
            for suffix, value, exc in [("str", "1", (TE, VE)), ("bool", True, (TE, VE)),
                                       ("float", 1.5, (TE, VE)), ("low", 0, VE)]:
                case(f"algo.{aname}-{arg}-{suffix}", fn, (), {arg: value}, exc, rf"\b{arg}\b")
        else:
            bad(f"algo.{aname}", fn, arg, kind=kind, low=ALGO_LOW[kind])
for aname in ("ucbvi-ch", "mvp", "psrl", "greedy"):
    case(f"algo.{aname}-unknown-kwarg", A.ALGORITHMS[aname], (), {"bogus": 1}, TE, r"\bbogus\b")
case("algo.UCBVI-bonus", A.UCBVI, ("bogus",), {}, VE, r"\bbonus\b")
case("algo.QLearningUCB-bonus", A.QLearningUCB, ("bogus",), {}, VE, r"\bbonus\b")
case("algo.MVP-variant", A.MVP, ("bogus",), {}, VE, r"\bvariant\b")
case("algo.PSRL-rewards", A.PSRL, (), {"rewards": "bogus"}, VE, r"\brewards\b")
case("algo.CVaRUCBVI-rewards", A.CVaRUCBVI, (), {"rewards": "bogus"}, VE, r"\brewards\b")
case("algo.GroupedVI-reward_noise", A.GroupedVI, (), {"reward_noise": "bogus"}, VE,
     r"\breward_noise\b")

UCB = A.UCBVI()
for suffix, value, exc in [("zero", 0, VE), ("neg", -3, VE), ("float", 2.5, (TE, VE)),
                           ("bool", True, (TE, VE)), ("str", "10", (TE, VE)),
                           ("nan", NAN, (TE, VE))]:
    case(f"run-budget-{suffix}", UCB.run, (MDP_H, value), {}, exc, r"\bbudget\b")
for suffix, value, exc in [("neg", -1, VE), ("float", 1.5, (TE, VE)), ("str", "a", (TE, VE)),
                           ("bool", True, (TE, VE))]:
    case(f"run-seed-{suffix}", UCB.run, (MDP_H, 5), {"seed": value}, exc, r"\bseed\b")
for suffix, value, exc in [("zero", 0, VE), ("float", 1.5, (TE, VE)), ("bool", True, (TE, VE))]:
    case(f"run-n_seeds-{suffix}", UCB.run, (MDP_H, 5), {"n_seeds": value}, exc,
         r"\bn_seeds\b")
for suffix, value, exc in [("zero", 0, VE), ("float", 1.5, (TE, VE)), ("str", "2", (TE, VE))]:
    case(f"run-checkpoint_every-{suffix}", UCB.run, (MDP_H, 5), {"checkpoint_every": value},
         exc, r"\bcheckpoint_every\b")
case("run-model-type", UCB.run, ("mdp", 5), {}, TE, r"\bmodel\b|TabularMDP")
case("run-model-discounted", UCB.run, (MDP_G, 5), {}, VE, r"horizon|episodic|discounted")
case("run-subsample-model-type", A.SubsampleQ().run, (MDP_H, 5), {}, TE,
     r"\bmodel\b|GlobalLocalSystem")
case("run-grouped-model-type", A.GroupedVI().run, (TIGER, 5), {}, TE,
     r"\bmodel\b|TabularMDP|GroupedMDP")

# --------------------------------------------------------------------- lab
for suffix, text in [("empty", ""), ("neg", "-1"), ("junk", "a:b"), ("float", "1.5"),
                     ("reversed", "5:2"), ("huge", "0:1000000000000")]:
    case(f"lab.parse_seeds-{suffix}", parse_seeds, (text,), {}, VE, r"seed")
case("lab.parse_seeds-type", parse_seeds, (5,), {}, TE, r"seed")
case("lab.Param-kind", Param, ("x", "bogus", 1), {}, VE, r"\bkind\b")
case("lab.Param-name-empty", Param, ("", "int", 1), {}, VE, r"\bname\b")
case("lab.Param-low-nan", Param, ("x", "float", 1.0), {"low": NAN}, VE, r"\blow\b")
case("lab.Param-low-gt-high", Param, ("x", "float", 1.0), {"low": 2.0, "high": 1.0}, VE,
     r"\blow\b|\bhigh\b")
case("lab.Param-default-out", Param, ("x", "float", 5.0), {"low": 0.0, "high": 1.0}, VE,
     r"\bdefault\b|\bx\b")
case("lab.Param-default-type", Param, ("x", "int", "a"), {}, (TE, VE), r"\bdefault\b|\bx\b")
case("lab.Param-choices-default", Param, ("x", "str", "c"), {"choices": ("a", "b")}, VE,
     r"\bchoices\b|\bx\b")
_P = (Param("n", "int", 2, low=1),)
case("lab.Experiment-name-empty", Experiment, ("", "d", _P, lambda **k: {}), {}, VE,
     r"\bname\b")
case("lab.Experiment-run-type", Experiment, ("e", "d", _P, "run"), {}, TE, r"\brun\b")
case("lab.Experiment-seeds-zero", Experiment, ("e", "d", _P, lambda **k: {}), {"seeds": 0}, VE,
     r"\bseeds\b")
case("lab.Experiment-seeds-bool", Experiment, ("e", "d", _P, lambda **k: {}), {"seeds": True},
     (TE, VE), r"\bseeds\b")
case("lab.Experiment-grid-unknown", Experiment, ("e", "d", _P, lambda **k: {}),
     {"grid": {"bogus": [1]}}, VE, r"\bbogus\b")
case("lab.Experiment-grid-bad-value", Experiment, ("e", "d", _P, lambda **k: {}),
     {"grid": {"n": [0]}}, VE, r"\bn\b")
case("lab.Experiment-quick-unknown", Experiment, ("e", "d", _P, lambda **k: {}),
     {"quick": {"bogus": 1}}, VE, r"\bbogus\b")
case("lab.Experiment-params-type", Experiment, ("e", "d", ("n",), lambda **k: {}), {}, TE,
     r"\bparams\b")
_RC = dict(name="r", x="n", y="m", claimed=0.5, kind="upper")
for key, value, exc in [("claimed", NAN, VE), ("claimed", "0.5", (TE, VE)), ("kind", "bogus", VE),
                        ("confidence", 1.5, VE), ("confidence", 0.0, VE),
                        ("fit_decades", -1.0, VE), ("fit_on", "bogus", VE), ("x", "", VE)]:
    kw = dict(_RC, **{key: value})
    case(f"lab.RateClaim-{key}-{value!r}", RateClaim, (), kw, exc, rf"\b{key}\b")


# ------------------------------------------- planning (core layer; regressions)
from mdplab import planning as PL  # noqa: E402

BIG = M.TabularMDP(P3, np.full_like(R3, 1e308), gamma=0.9)
for fname in ("value_iteration", "policy_iteration", "modified_policy_iteration", "solve_lp"):
    fn = getattr(PL, fname)
    case(f"planning.{fname}-mdp-type", fn, ("not an mdp",), {}, TE, r"\bmdp\b")
    case(f"planning.{fname}-overflow", fn, (BIG,), {}, VE, r"\bR\b|rewards")
for suffix, value, exc in [("str", "1e-3", (TE, VE)), ("nan", NAN, VE), ("neg", -1.0, VE),
                           ("bool", True, (TE, VE))]:
    case(f"planning.value_iteration-eps-{suffix}", PL.value_iteration, (MDP_G,), {"eps": value},
         exc, r"\beps\b")
for suffix, value in [("nan", NAN), ("big", 5.0), ("neg", -1.0)]:
    case(f"planning.solve_lp-tol-{suffix}", PL.solve_lp, (MDP_G,), {"tol": value}, VE,
         r"\btol\b")
case("planning.value_iteration-stopping_rule", PL.value_iteration, (MDP_G,),
     {"stopping_rule": "bogus"}, VE, r"\bstopping_rule\b")
case("planning.value_iteration-V0-nan", PL.value_iteration, (MDP_G,), {"V0": np.full(3, NAN)},
     VE, r"\bV0\b")
case("planning.value_iteration-max_iter-float", PL.value_iteration, (MDP_G,), {"max_iter": 2.5},
     (TE, VE), r"\bmax_iter\b")
case("planning.backward_induction-discounted", PL.backward_induction, (MDP_G,), {}, VE,
     r"horizon|discounted")
case("planning.evaluate_policy-mdp-type", PL.evaluate_policy, ("x", np.zeros(3, int)), {}, TE,
     r"\bmdp\b")
case("planning.evaluate_policy-action-range", PL.evaluate_policy, (MDP_G, np.array([0, 5, 0])),
     {}, VE, r"policy")
case("planning.evaluate_policy-action-float", PL.evaluate_policy,
     (MDP_G, np.array([0.5, 0.0, 0.0])), {}, (TE, VE), r"policy")
case("planning.evaluate_policy-shape", PL.evaluate_policy, (MDP_G, np.zeros(7, int)), {}, VE,
     r"policy")
case("planning.solve-mdp-type", PL.solve, ("x",), {}, TE, r"\bmdp\b")
case("planning.solve_cvar-tau-nan", PL.solve_cvar, (MDP_H,), {"tau": NAN}, VE, r"\btau\b")
case("planning.solve_cvar-tau-zero", PL.solve_cvar, (MDP_H,), {"tau": 0.0}, VE, r"\btau\b")
case("planning.solve_cvar-tau-str", PL.solve_cvar, (MDP_H,), {"tau": "0.5"}, (TE, VE),
     r"\btau\b")
case("planning.P_at-range", MDP_H.P_at, (99,), {}, VE, r"\bh\b")
case("planning.R_at-neg", MDP_H.R_at, (-1,), {}, VE, r"\bh\b")


@pytest.mark.parametrize("fn, args, kwargs, exc, match", CASES)
def test_bad_input(fn, args, kwargs, exc, match):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert match == "" or __import__("re").search(match, str(info.value)), (
        f"message does not name the argument ({match}): {info.value}"
    )

"""CVaR RL: the CVaR objective and CVaR-UCBVI (Hoeffding / Bernstein bonus).

Wang, Kallus, Sun, "Near-Minimax-Optimal Risk-Sensitive Reinforcement Learning
with CVaR", ICML 2023 (arXiv 2302.03201). Episodic tabular MDP, horizon ``H``,
unknown transitions, *known* reward law, returns in ``[0, 1]``; the learner
maximises ``CVaR_tau`` of the return and its regret after ``K`` episodes is

    Reg(K) = sum_k CVaR*_tau - CVaR_tau(return of (pi_k, c_k)),

``pi_k`` the augmented (state, budget) policy and ``c_k`` the initial budget
played in episode ``k``, both evaluated exactly here
(:func:`mdplab.planning.cvar.augmented_law`, the exact return law).

Theorems (verified from the abstract; ../shared/papers/cvar_psr_horizonfree.md
section 1.3): regret ``O~(tau^-1 sqrt(S A K))`` in general (Bernstein bonus),
``O~(sqrt(S A K / tau))`` under a continuity assumption on the return
(minimax-optimal), and the lower bound ``Omega(sqrt(S A K / tau))`` (normalised
returns). The Hoeffding version's ``O~(tau^-1 sqrt(S A H K))`` is inferred, not
read (reconstructed).

Algorithm (structure "bonus-driven value iteration in the Bauerle-Ott augmented
MDP" secondary; details reconstructed): each episode, on the empirical model
``P_hat`` and the budget grid of the reward lattice,

    V_H(s, c) = c^+,   U_h(s, c, a) = P_hat(.|s,a)^T E_r V_{h+1}(., c - r) - bonus,
    V_h(s, c) = clip(min_a U_h(s, c, a), [(c - max remaining)^+, c^+]),
    c_k = argmax_c { c - V_0(init, c) / tau }      (optimistic budget choice),

then plays ``a_h = pi_h(s_h, c_h)``, ``c_{h+1} = c_h - r_h``. Bonuses
(reconstructed; ``bonus_scale`` multiplies them, ``L = log(S A H K / delta)``,
``v`` the largest return): Hoeffding ``v sqrt(2 L / n)`` (no budget
dependence); Bernstein ``sqrt(2 L Var_{P_hat}[E_r V_{h+1}(s', c - r)] / n) + v L / n``
(budget dependent; the EULER-style correction terms are left out). Unvisited
pairs get the fully optimistic shortfall. Transition counts are pooled over
stages for stationary models and kept per stage otherwise.

Learned reward laws (``rewards="learned"``; ours, an extension: the paper and
the notes assume the reward law known). The learner knows the support (the
reward atoms, hence the budget lattice) but not the probabilities: it plans
with the empirical law of the atoms it observed at each pair (counted with the
transitions, pooled the same way; a stage-dependent reward law forces per-stage
counts), ``E_r`` above becomes the empirical expectation, and the Bernstein
variance becomes that of ``V_{h+1}(s', c - r)`` under the empirical joint law of
``(r, s')`` (reconstructed: the same concentration applied to the pair, which
covers the reward's spread too); the Hoeffding bonus is kept as it is, also
reconstructed: the planner uses the *product* of the empirical reward and
transition laws, not the sample mean of the observed pairs, so the one-sample
Hoeffding argument does not apply directly (bounding the two deviations
separately would roughly double it; ``bonus_scale`` absorbs that). For one-atom (deterministic)
rewards the learned law is exact after one visit and the runs are identical to
``rewards="known"``.

The CVaR bandit :class:`CVaRBandit` (``cvar-bandit``; Wang, Kallus, Sun 2023,
section 4, the ``H = 1`` case): Bernstein-UCB on the empirical shortfall, with
Theorem 4.1 ``Reg(K) <= 4 sqrt(A K / tau) L + 16 A L^2 / tau``, ``L = log(A K /
delta)``, w.p. ``1 - delta`` (constants reconstructed, parameters of
:func:`cvar_bandit_regret_bound`; bonus constants are parameters of the class),
and the lower bound ``sqrt((A - 1) K / tau) / (24 e)``.

Baseline :class:`RiskNeutralUCBVI` (``ucbvi-bf-cvar``): UCBVI-BF (Azar, Osband,
Munos 2017; :mod:`mdplab.algorithms.ucbvi`) plays its mean-optimistic Markov
policy and is scored by ``CVaR_tau``: its regret grows linearly wherever the
mean-optimal policy is not CVaR-optimal (no theorem; it shows what ignoring
risk costs).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mdplab.algorithms.base import _check_number, check_stage_dependent
from mdplab.algorithms.objectives import Objective
from mdplab.algorithms.online import record, stage
from mdplab.algorithms.protocol import Learner, Trace
from mdplab.algorithms.ucbvi import plan_ucbvi_lists, update_statistics
from mdplab.kernels.rng import new_state, next_double
from mdplab.kernels.sampling import atom_index, inverse_cdf_dense
from mdplab.models import TabularMDP
from mdplab.planning.cvar import (
    CVaRResult,
    augmented_law,
    check_tau,
    cvar_grid,
    cvar_of_policy,
    lattice_cvar,
    optimistic_dp,
    solve_cvar,
)

__all__ = ["CVaRBandit", "CVaRUCBVI", "RiskNeutralUCBVI", "cvar_bandit_regret_bound",
           "cvar_objective"]

_OBJECTIVES: dict[float, Objective] = {}


def _cvar_value(tau):
    def value(mdp, policy):
        """A Markov policy array, a :class:`CVaRResult`, or ``(augmented policy, budget)``."""
        if isinstance(policy, CVaRResult):
            return cvar_of_policy(mdp, policy, tau)
        if isinstance(policy, tuple) and len(policy) == 2:
            return cvar_of_policy(mdp, policy[0], tau, budget=policy[1])
        return cvar_of_policy(mdp, policy, tau)
    return value


def _exact_cvar_star(mdp: TabularMDP, tau: float) -> float:
    """CVaR* when the budget DP is exact; off the reward lattice its value is only a
    certified lower bound, which would make regret against it meaningless."""
    res = solve_cvar(mdp, tau)
    if not res.exact:
        raise ValueError(f"CVaR* of this model is only bracketed: [{res.value:.6g}, "
                         f"{res.value + res.error_bound:.6g}] (its reward atoms are not on a "
                         "common grid the exact DP can use); score learners on a model with "
                         "lattice rewards")
    return res.value


def cvar_objective(tau) -> Objective:
    """The objective ``CVaR_tau`` of the return (one shared instance per ``tau``):
    optimum :func:`~mdplab.planning.solve_cvar`, value
    :func:`~mdplab.planning.cvar_of_policy` of a Markov policy or of an
    ``(augmented policy, budget)`` pair."""
    t = check_tau(tau)
    if t not in _OBJECTIVES:
        obj = Objective(f"cvar-{t:g}")
        obj.register(TabularMDP, lambda m, _t=t: _exact_cvar_star(m, _t), _cvar_value(t))
        _OBJECTIVES[t] = obj
    return _OBJECTIVES[t]


@njit(parallel=True, cache=True)
def _cvar_ucbvi_kernel(P, steps, probs, init, H, K, every, seeds, cvar_star, nst, mode, scale,
                       delta, tau, c0, eta, n_b, kmax, maxrem, vrange, learned, lsteps):
    n_seeds = seeds.shape[0]
    S, A = P.shape[1], P.shape[2]
    nP, nR = P.shape[0], steps.shape[0]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n_seeds, n_ckpt))
    out_return = np.zeros((n_seeds, n_ckpt))
    J = steps.shape[3]
    L = math.log(S * A * H * K / delta)
    M = H * kmax + 1
    Vn = np.zeros((H + 1, S))          # off-grid-above values: never used (rewards >= 0)
    for i in prange(n_seeds):
        rng = new_state(seeds[i])
        counts = np.zeros((nst, S, A))
        trans = np.zeros((nst, S, A, S))
        Phat = np.zeros((nst, S, A, S))
        V = np.zeros((H + 1, S, n_b))
        pol = np.zeros((H, S, n_b), dtype=np.int64)
        Lb = np.zeros((S, M))
        Nb = np.zeros((S, M))
        states = np.empty(H + 1, dtype=np.int64)
        actions = np.empty(H, dtype=np.int64)
        atoms_seen = np.empty(H, dtype=np.int64)
        # learned reward law: atom counts on the known support, per count group
        rcounts = np.zeros((nst if learned else 1, S, A, J))
        rhat = np.zeros((nst if learned else 1, S, A, J))
        reg = 0.0
        ret = 0.0
        for k in range(K):
            if learned:
                optimistic_dp(Phat, counts, lsteps, rhat, H, c0, eta, Vn, mode, scale, L,
                              vrange, maxrem, V, pol)
            else:
                optimistic_dp(Phat, counts, steps, probs, H, c0, eta, Vn, mode, scale, L,
                              vrange, maxrem, V, pol)
            best = -np.inf
            j0 = 0
            for j in range(n_b):
                v0 = 0.0
                for s in range(S):
                    v0 += init[s] * V[0, s, j]
                f = c0 + j * eta - v0 / tau
                if f > best:
                    best = f
                    j0 = j
            law = augmented_law(P, steps, probs, init, H, pol, j0, 0, kmax, Lb, Nb)
            reg += cvar_star - lattice_cvar(law, 0.0, eta, tau)
            # play (pi_k, c_k) in the true model, rewards from the known law
            s = inverse_cdf_dense(init, next_double(rng))
            jb = j0
            total = 0.0
            for h in range(H):
                jc = 0 if jb < 0 else (n_b - 1 if jb >= n_b else jb)
                a = pol[h, s, jc]
                gr = stage(nR, h)
                jj = atom_index(probs, gr, s, a, next_double(rng))
                jb -= steps[gr, s, a, jj]
                total += steps[gr, s, a, jj] * eta
                atoms_seen[h] = jj
                states[h] = s
                actions[h] = a
                s = inverse_cdf_dense(P[stage(nP, h), s, a], next_double(rng))
            states[H] = s
            ret += total
            for h in range(H):
                g = stage(nst, h)
                s, a, t = states[h], actions[h], states[h + 1]
                counts[g, s, a] += 1.0
                trans[g, s, a, t] += 1.0
                for u in range(S):
                    Phat[g, s, a, u] = trans[g, s, a, u] / counts[g, s, a]
                if learned:
                    rcounts[g, s, a, atoms_seen[h]] += 1.0
                    for u in range(J):
                        rhat[g, s, a, u] = rcounts[g, s, a, u] / counts[g, s, a]
            record(k, K, every, reg, ret, out_regret, out_return, i)
    return out_regret, out_return


_BONUSES = ("hoeffding", "bernstein")
_REWARDS = ("known", "learned")


class CVaRUCBVI(Learner):
    """CVaR-UCBVI (module docstring): ``bonus="hoeffding"`` (``cvar-ucbvi-h``) or
    ``"bernstein"`` (``cvar-ucbvi-b``).

    Parameters
    ----------
    bonus : {"hoeffding", "bernstein"}
    tau : float in (0, 1]
        CVaR level; the learner is scored by ``CVaR_tau`` (its ``objective``).
    delta : float in (0, 1)
        Confidence level inside ``L = log(S A H K / delta)``.
    bonus_scale : float >= 0
        Multiplies the bonus (1 = the reconstructed constants).
    stage_dependent : bool, optional
        Keep transition counts per stage; default: iff the model's P is (or, with
        learned rewards, its reward law).
    rewards : {"known", "learned"}
        The reward law is given to the learner (as in the paper) or learned from the
        atoms observed on the known support (module docstring).

    The model must be finite-horizon with non-negative reward atoms on a common
    lattice (e.g. :func:`mdplab.envs.safe_risky_chain`). Extra column ``return_sum``: the sum of the
    sampled returns so far.
    """

    model_class = TabularMDP
    guarantee = "online"
    check_kwargs = {"bonus_scale": 0.05, "tau": 0.5}
    check_budget = 1500
    invalid_kwargs = (
        ({"bonus": "ucb"}, "bonus must be one of"),
        ({"tau": 0.0}, "tau must be"),
        ({"tau": 1.5}, "tau must be"),
        ({"tau": float("nan")}, "tau must be"),
        ({"delta": 0.0}, "delta must be"),
        ({"delta": 1.0}, "delta must be"),
        ({"bonus_scale": -1.0}, "bonus_scale must be >= 0"),
        ({"stage_dependent": "yes"}, "stage_dependent must be"),
        ({"rewards": "empirical"}, "rewards must be one of"),
    )
    max_budgets = 2001

    def __init__(self, bonus: str = "bernstein", *, tau: float = 0.25, delta: float = 0.1,
                 bonus_scale: float = 1.0, stage_dependent: bool | None = None,
                 rewards: str = "known"):
        if bonus not in _BONUSES:
            raise ValueError(f"bonus must be one of {_BONUSES}; got {bonus!r}")
        if rewards not in _REWARDS:
            raise ValueError(f"rewards must be one of {_REWARDS}; got {rewards!r}")
        self.rewards = rewards
        self.bonus = bonus
        self.tau = check_tau(tau)
        self.delta = _check_number("delta", delta, low=0.0, high=1.0, low_open=True)
        if self.delta >= 1.0:
            raise ValueError(f"delta must be in (0, 1); got {delta!r}")
        self.bonus_scale = _check_number("bonus_scale", bonus_scale, low=0.0)
        self.stage_dependent = check_stage_dependent(stage_dependent)
        self.objective = cvar_objective(self.tau)
        self.name = f"cvar-ucbvi-{bonus[0]}"

    def params(self) -> dict:
        return {"bonus": self.bonus, "tau": self.tau, "delta": self.delta,
                "bonus_scale": self.bonus_scale, "stage_dependent": self.stage_dependent,
                "rewards": self.rewards}

    @classmethod
    def check_models(cls):
        from mdplab.envs import cvar_lower_bound, safe_risky_chain

        bandit = cvar_lower_bound(2, 0.5, n_states=2, horizon=3, gap=0.3)
        staged = bandit.replace(P=np.stack([bandit.P] * bandit.horizon))
        return [("safe-risky-chain", safe_risky_chain(3, p_miss=0.3, p_crash=0.2)),
                ("stage-dependent", staged)]

    def check_model(self, mdp: TabularMDP) -> None:
        if mdp.horizon is None:
            raise ValueError(f"{self.name} learns finite-horizon models; this one is discounted")
        grid = cvar_grid(mdp)
        if not grid.exact:
            from mdplab.planning.cvar import MAX_EXACT_BUDGETS, _lattice_step

            law_atoms, law_probs = mdp.stage_reward_law()
            live = law_atoms[law_probs > 0]
            eta = _lattice_step(live)
            need = None if eta is None else int(round(
                mdp.horizon * (max(0.0, live.max()) - min(0.0, live.min())) / eta)) + 1
            if need is not None and need <= 1000 * MAX_EXACT_BUDGETS:
                # a genuine lattice, only too fine for the exact DP
                raise ValueError(f"{self.name}: the reward lattice (step {eta:.6g}) needs "
                                 f"{need} budgets, more than the exact DP's "
                                 f"{MAX_EXACT_BUDGETS}; use coarser reward atoms")
            raise ValueError(f"{self.name} needs reward atoms on a common grid (e.g. multiples "
                             "of 1/(m H)); this model's are not, so the exact regret is "
                             "undefined on the budget lattice")
        atoms, probs = mdp.stage_reward_law()
        if (atoms[probs > 0] < 0).any():
            raise ValueError(f"{self.name} needs non-negative rewards (returns in [0, v])")
        if grid.n > self.max_budgets:
            raise ValueError(f"the reward lattice needs {grid.n} budgets (> {self.max_budgets}); "
                             "use coarser reward atoms")
        if self.rewards == "learned" and self.stage_dependent is False \
                and grid.steps.shape[0] > 1:
            raise ValueError("rewards='learned' on a stage-dependent reward law needs "
                             "per-stage counts: stage_dependent=True or None")

    def _learn(self, mdp, K, every, checkpoints, seeds, optimum) -> Trace:
        grid = cvar_grid(mdp)
        H = mdp.horizon
        P = np.ascontiguousarray(mdp.stage_P())
        steps = np.ascontiguousarray(grid.steps)
        probs = np.ascontiguousarray(grid.probs)
        kmax = max(0, int(steps.max()))
        # largest return from stage h on (per-stage maxima of the atoms with mass)
        top = np.where(probs > 0, steps, 0).reshape(steps.shape[0], -1).max(axis=1) * grid.eta
        per = np.broadcast_to(top, (H,)) if top.size == 1 else top
        maxrem = np.concatenate([np.cumsum(per[::-1])[::-1], [0.0]])
        vrange = max(float(maxrem[0]), 1e-300)
        learned = self.rewards == "learned"
        sd = self.stage_dependent if self.stage_dependent is not None else (
            P.shape[0] > 1 or (learned and steps.shape[0] > 1))
        nst = H if sd else 1
        mode = 1 if self.bonus == "hoeffding" else (3 if learned else 2)
        # the known support, one copy per count group (learned mode only)
        lsteps = np.ascontiguousarray(np.broadcast_to(steps, (nst,) + steps.shape[1:])) \
            if learned else steps
        regret, ret = _cvar_ucbvi_kernel(
            P, steps, probs, np.ascontiguousarray(mdp.init), H, K, every, seeds, optimum,
            nst, mode, self.bonus_scale, self.delta, self.tau, grid.c0, grid.eta,
            grid.n, kmax, maxrem, vrange, learned, lsteps)
        return Trace(regret, None, {"return_sum": ret})


@njit(parallel=True, cache=True)
def _risk_neutral_kernel(P, R, steps, probs, init, H, K, every, seeds, cvar_star, nst, scale,
                         delta, tau, eta, kmax):
    n_seeds = seeds.shape[0]
    S, A = P.shape[1], P.shape[2]
    nP, nR = P.shape[0], steps.shape[0]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n_seeds, n_ckpt))
    out_return = np.zeros((n_seeds, n_ckpt))
    L = math.log(5.0 * S * A * K * H / delta)
    v_range = H * max(R.max(), 1e-300)
    M = H * kmax + 1
    for i in prange(n_seeds):
        rng = new_state(seeds[i])
        counts = np.zeros((nst, S, A))
        trans = np.zeros((nst, S, A, S))
        seen = np.zeros((nst, S, A, S), dtype=np.int64)
        n_seen = np.zeros((nst, S, A), dtype=np.int64)
        visits = np.zeros((H + 1, S))
        Q = np.empty((H, S, A))
        for h in range(H):
            Q[h] = (H - h) * v_range / H
        pi = np.zeros((H, S), dtype=np.int64)
        pol = np.zeros((H, S, 1), dtype=np.int64)
        Lb = np.zeros((S, M))
        Nb = np.zeros((S, M))
        states = np.empty(H + 1, dtype=np.int64)
        actions = np.empty(H, dtype=np.int64)
        reg = 0.0
        ret = 0.0
        for k in range(K):
            plan_ucbvi_lists(R, H, counts, trans, seen, n_seen, visits, Q, pi, True, scale, L,
                             v_range)
            for h in range(H):
                for s in range(S):
                    pol[h, s, 0] = pi[h, s]
            law = augmented_law(P, steps, probs, init, H, pol, 0, 0, kmax, Lb, Nb)
            reg += cvar_star - lattice_cvar(law, 0.0, eta, tau)
            s = inverse_cdf_dense(init, next_double(rng))
            total = 0.0
            for h in range(H):
                a = pi[h, s]
                gr = stage(nR, h)
                jj = atom_index(probs, gr, s, a, next_double(rng))
                total += steps[gr, s, a, jj] * eta
                states[h] = s
                actions[h] = a
                s = inverse_cdf_dense(P[stage(nP, h), s, a], next_double(rng))
            states[H] = s
            ret += total
            update_statistics(H, states, actions, counts, trans, seen, n_seen, visits)
            record(k, K, every, reg, ret, out_regret, out_return, i)
    return out_regret, out_return


class RiskNeutralUCBVI(CVaRUCBVI):
    """UCBVI-BF's policy scored by ``CVaR_tau`` (``ucbvi-bf-cvar``; module docstring).

    Same hyperparameters as :class:`~mdplab.algorithms.UCBVI` ("bf") plus ``tau``;
    known mean rewards, rewards sampled from the law. No CVaR guarantee (a
    baseline): ``expect_progress`` is False.
    """

    expect_progress = False
    invalid_kwargs = tuple(x for x in CVaRUCBVI.invalid_kwargs
                           if "bonus" not in x[0] and "rewards" not in x[0])

    def __init__(self, *, tau: float = 0.25, delta: float = 0.1, bonus_scale: float = 1.0,
                 stage_dependent: bool | None = None):
        super().__init__("bernstein", tau=tau, delta=delta, bonus_scale=bonus_scale,
                         stage_dependent=stage_dependent)
        self.bonus = "bf"
        self.name = "ucbvi-bf-cvar"

    def params(self) -> dict:
        return {"tau": self.tau, "delta": self.delta, "bonus_scale": self.bonus_scale,
                "stage_dependent": self.stage_dependent}

    def _learn(self, mdp, K, every, checkpoints, seeds, optimum) -> Trace:
        grid = cvar_grid(mdp)
        P = np.ascontiguousarray(mdp.stage_P())
        R = np.ascontiguousarray(mdp.stage_R())
        steps = np.ascontiguousarray(grid.steps)
        probs = np.ascontiguousarray(grid.probs)
        sd = self.stage_dependent if self.stage_dependent is not None else P.shape[0] > 1
        regret, ret = _risk_neutral_kernel(
            P, R, steps, probs, np.ascontiguousarray(mdp.init), mdp.horizon, K, every, seeds,
            optimum, mdp.horizon if sd else 1, self.bonus_scale, self.delta, self.tau,
            grid.eta, max(0, int(steps.max())))
        return Trace(regret, None, {"return_sum": ret})


# ------------------------------------------------------------------ the CVaR bandit (H = 1)
@njit(cache=True)
def _hist_cvar(hist, x, order, a, n, tau):
    """Empirical ``CVaR_tau`` of arm ``a`` from its atom counts ``hist[a]`` (``n`` samples),
    atoms ``x[a]`` visited in ascending ``order[a]``."""
    target = tau * n
    cum = 0.0
    acc = 0.0
    last = 0.0
    for i in range(order.shape[1]):
        j = order[a, i]
        c = hist[a, j]
        if c == 0.0:
            continue
        last = x[a, j]
        if cum + c >= target - 1e-9 * target:
            return (acc + last * (target - cum)) / target
        cum += c
        acc += last * c
    return acc / cum if cum > 0 else last


@njit(parallel=True, cache=True)
def _cvar_bandit_kernel(x, probs, order, K, every, seeds, gaps, cv, tau, L, c_var, c_lin,
                        scale):
    n_seeds = seeds.shape[0]
    A = x.shape[0]
    n_ckpt = (K + every - 1) // every
    out_regret = np.zeros((n_seeds, n_ckpt))
    out_return = np.zeros((n_seeds, n_ckpt))
    out_fail = np.zeros((n_seeds, n_ckpt))
    for i in prange(n_seeds):
        rng = new_state(seeds[i])
        hist = np.zeros((A, x.shape[1]))
        N = np.zeros(A)
        index = np.full(A, np.inf)
        low = np.zeros(A, dtype=np.bool_)      # arm's index below its true CVaR
        n_low = 0
        reg = 0.0
        ret = 0.0
        fails = 0.0
        for k in range(K):
            a = 0
            for b in range(1, A):
                if index[b] > index[a]:
                    a = b
            reg += gaps[a]
            j = atom_index(probs, 0, a, 0, next_double(rng))
            ret += x[a, j]
            hist[a, j] += 1.0
            N[a] += 1.0
            n = N[a]
            bon = scale * (math.sqrt(c_var * tau * L / n) + c_lin * L / n)
            index[a] = _hist_cvar(hist, x, order, a, n, tau) + bon / tau
            now = index[a] < cv[a]
            if now != low[a]:
                n_low += 1 if now else -1
                low[a] = now
            if n_low > 0:
                fails += 1.0
            if (k + 1) % every == 0 or k + 1 == K:
                c = (k + every) // every - 1
                out_regret[i, c] = reg
                out_return[i, c] = ret
                out_fail[i, c] = fails
    return out_regret, out_return, out_fail


def cvar_bandit_regret_bound(episodes, n_arms: int, tau: float, delta: float = 0.1, *,
                             c_main: float = 4.0, c_lower: float = 16.0, horizon=None):
    """Theorem 4.1 of Wang, Kallus, Sun 2023 as implemented (constants reconstructed,
    ../shared/papers/cvar_psr_horizonfree.md section 1.2): with probability at least
    ``1 - delta`` the CVaR bandit's regret after ``k`` rounds is at most

        c_main sqrt(A k / tau) L + c_lower A L^2 / tau,   L = log(A K / delta),

    ``K = horizon`` (the number of rounds the learner was told; default
    ``episodes``, the theorem's statement at ``k = K``; at ``k < K`` this is our
    reading of its proof, which sums the per-round gaps up to ``k``)."""
    k = np.asarray(episodes, dtype=np.float64)
    K = k if horizon is None else float(horizon)
    L = np.log(n_arms * K / delta)
    return c_main * np.sqrt(n_arms * k / tau) * L + c_lower * n_arms * L ** 2 / tau


class CVaRBandit(Learner):
    """The CVaR bandit, Bernstein-UCB (Wang, Kallus, Sun 2023, section 4; the ``H = 1``
    case of CVaR RL), algorithm name ``cvar-bandit``.

    Each arm ``a`` keeps the empirical shortfall ``mu_hat(b, a) = mean_i (b - r_i)^+``
    of its ``N(a)`` rewards and the bonus (reconstructed constants, parameters
    ``bonus_var``, ``bonus_lin`` and ``bonus_scale``; ``L = log(A K / delta)``)

        Bon(a) = bonus_scale (sqrt(bonus_var tau L / N(a)) + bonus_lin L / N(a));

    the optimistic CVaR ``f(b, a) = b - (mu_hat(b, a) - Bon(a)) / tau`` is maximised
    over ``b`` exactly (at the empirical ``tau``-quantile: ``max_b f = CVaR_tau`` of
    the empirical law ``+ Bon(a) / tau``), and the arm with the largest maximum is
    pulled (unpulled arms first, ties to the lowest arm). Theorem 4.1
    (:func:`cvar_bandit_regret_bound`): ``Reg(K) <= 4 sqrt(A K / tau) L + 16 A L^2 /
    tau`` w.p. ``1 - delta``, for rewards in ``[0, 1]``; lower bound
    ``sqrt((A - 1) K / tau) / (24 e)`` (Bernoulli rewards, ``tau < 1/2``). The key
    step is ``Var((b* - R)^+) <= tau`` at the true quantile ``b*``.

    Models: a :class:`TabularMDP` with ``horizon=1``, one start state (the arms are
    its actions) and reward atoms in ``[0, 1]`` on a common grid (so the exact
    optimum is the budget DP's; e.g. :func:`mdplab.envs.cvar_bandit`). The learner
    sees only the rewards it draws. Regret is exact: ``CVaR* - CVaR_tau(arm pulled)``
    per round, with the arms' exact CVaRs. Extras: ``return_sum`` (rewards drawn)
    and ``optimism_failures`` (rounds in which some arm's index was below its true
    CVaR, i.e. the theorem's good event failed; 0 on the event).
    """

    name = "cvar-bandit"
    model_class = TabularMDP
    guarantee = "online"
    check_kwargs = {"bonus_scale": 0.1, "tau": 0.5}
    check_budget = 3000
    invalid_kwargs = (
        ({"tau": 0.0}, "tau must be"),
        ({"tau": 1.5}, "tau must be"),
        ({"tau": float("nan")}, "tau must be"),
        ({"delta": 0.0}, "delta must be"),
        ({"delta": 1.0}, "delta must be"),
        ({"bonus_scale": -1.0}, "bonus_scale must be >= 0"),
        ({"bonus_var": -1.0}, "bonus_var must be >= 0"),
        ({"bonus_lin": float("nan")}, "bonus_lin must be"),
    )

    def __init__(self, *, tau: float = 0.25, delta: float = 0.1, bonus_scale: float = 1.0,
                 bonus_var: float = 2.0, bonus_lin: float = 1.0):
        self.tau = check_tau(tau)
        self.delta = _check_number("delta", delta, low=0.0, high=1.0, low_open=True)
        if self.delta >= 1.0:
            raise ValueError(f"delta must be in (0, 1); got {delta!r}")
        self.bonus_scale = _check_number("bonus_scale", bonus_scale, low=0.0)
        self.bonus_var = _check_number("bonus_var", bonus_var, low=0.0)
        self.bonus_lin = _check_number("bonus_lin", bonus_lin, low=0.0)
        self.objective = cvar_objective(self.tau)

    def params(self) -> dict:
        return {"tau": self.tau, "delta": self.delta, "bonus_scale": self.bonus_scale,
                "bonus_var": self.bonus_var, "bonus_lin": self.bonus_lin}

    @classmethod
    def check_models(cls):
        from mdplab.envs import cvar_bandit, random_cvar_bandit

        return [("bernoulli", cvar_bandit(2, 0.5, gap=0.2)),
                ("grid-atoms", random_cvar_bandit(3, levels=4, seed=1))]

    def check_model(self, mdp: TabularMDP) -> None:
        if mdp.horizon != 1:
            raise ValueError(f"{self.name} learns bandits: a model with horizon=1; got "
                             f"horizon={mdp.horizon}")
        if np.count_nonzero(mdp.init) != 1:
            raise ValueError(f"{self.name} learns a multi-armed bandit: init must be one "
                             "state (the arms are its actions)")
        if not cvar_grid(mdp).exact:
            raise ValueError(f"{self.name} needs reward atoms on a common grid (the exact "
                             "optimum comes from the budget DP)")
        atoms, probs = mdp.stage_reward_law()
        s0 = int(np.flatnonzero(mdp.init)[0])
        live = atoms[0, s0][probs[0, s0] > 0]
        if (live < 0).any() or (live > 1).any():
            raise ValueError(f"{self.name} needs rewards in [0, 1] (the theorem's range)")

    def arm_cvars(self, mdp: TabularMDP) -> np.ndarray:
        """The exact ``CVaR_tau`` of every arm's reward law."""
        return np.array([cvar_of_policy(mdp, np.full((1, mdp.S), a), self.tau)
                         for a in range(mdp.A)])

    def _learn(self, mdp, K, every, checkpoints, seeds, optimum) -> Trace:
        atoms, probs = mdp.stage_reward_law()
        s0 = int(np.flatnonzero(mdp.init)[0])
        x = np.ascontiguousarray(atoms[0, s0], dtype=np.float64)          # (A, J)
        pr = np.ascontiguousarray(probs[0, s0], dtype=np.float64).reshape(1, mdp.A, 1, -1)
        order = np.ascontiguousarray(np.argsort(x, axis=1, kind="stable"))
        cv = self.arm_cvars(mdp)
        gaps = optimum - cv
        L = math.log(mdp.A * K / self.delta)
        regret, ret, fails = _cvar_bandit_kernel(
            x, pr, order, K, every, seeds, gaps, cv, self.tau, L,
            self.bonus_var, self.bonus_lin, self.bonus_scale)
        return Trace(regret, None, {"return_sum": ret, "optimism_failures": fails})

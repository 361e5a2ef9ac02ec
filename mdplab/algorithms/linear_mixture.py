"""HF-O2PS: horizon-free policy search in adversarial linear mixture MDPs.

Paper: Ji, Zhao, He, Zhang, Gu, "Horizon-free reinforcement learning in
adversarial linear mixture MDPs", ICLR 2024 (spec notes
``cvar_psr_horizonfree.md`` section 3.5).

Setting. A finite-horizon MDP with *time-homogeneous* transitions
``P(s'|s,a) = <phi(s'|s,a), theta*>`` (known features, unknown ``theta*``,
:class:`~mdplab.models.LinearMixtureMDP`); an adversary picks the reward
``r^k (H, S, A)`` of episode ``k``, revealed after the episode (full
information), with every episode's total reward at most 1
(``sum_h max_{s,a} r^k_h(s,a) <= 1``, Assumption 3.1; checked).

Theorem (Ji et al. 2024, main result; the notes verify it from the abstract):
with probability ``1 - delta`` the regret against the best fixed policy in
hindsight, ``max_pi sum_k V^pi(r^k) - sum_k V^{pi_k}(r^k)``, is
``O~((d + log(S^2 A)) sqrt(K))``, where ``O~`` hides logarithms of ``H``, ``K``
and ``1/delta``: horizon-free. ``log S`` and ``log A`` cannot be removed, and
without ``log S`` one pays ``sqrt(H)``.

Algorithm (structure from the reviews; details reconstructed, all constants
are parameters):

1. *Policy search*: online mirror descent over occupancy measures
   ``z_h(s, a, s')`` within the confidence set,
   ``z^{k+1} = argmin_{z in D_k} -alpha <z, r^k> + KL(z || z^k)``, where ``D_k``
   holds the occupancy measures whose kernels are ``<phi(.|s,a), theta>`` for
   ``theta`` in ``C_k = {||Sigma_k^{1/2} (theta - theta_hat_k)|| <= beta_k}`` (a
   second-order cone after the perspective ``y = zbar theta``). The first
   iterate is the maximum-entropy element of ``D_0``. The policy played is
   ``pi_h(a|s) ∝ sum_s' z_h(s,a,s')``. Solved by cvxpy + Clarabel: the program
   compiled once per run (:class:`mdplab.planning.linear_mixture.MirrorStep`),
   tested equal to the reference :func:`mdplab.planning.mirror_step_cvxpy`.
2. *Transition estimation* (variance-uncertainty-aware weighted ridge
   regression, HF-UCRL-VTR+ of Zhou & Gu 2022; reconstructed): with ``V`` the
   value of ``pi_k`` for ``r^k`` under the kernel of ``z^k``, for moment orders
   ``m < M`` the targets ``V_{h+1}(s_{h+1})^(2^m)`` are regressed on
   ``phi_m = sum_s' phi(s'|s_h,a_h) V_{h+1}(s')^(2^m)`` with weights
   ``1 / sigma_m^2``, ``sigma_m^2 = max(Var_m + E_m, alpha_w^2, gamma_w^2
   ||phi_m||_{Sigma_m^-1})``, ``Var_m = [<phi_{m+1}, theta_{m+1}>]_{[0,1]} -
   [<phi_m, theta_m>]_{[0,1]}^2``, ``E_m = min(1, 2 beta ||phi_m||) + min(1,
   beta ||phi_{m+1}||)`` (the 2 on the squared order-``m`` estimate; ``Var + E = 1``
   at the last order); ``Sigma_m = lam I + sum phi phi^T / sigma^2``. Only order 0
   defines ``C_k``. The estimates are refreshed once per episode (the paper: per step).
   The regression shapes the policy only once ``C_k`` binds, i.e. excludes some
   ``theta`` whose ``<phi, theta>`` is a kernel: before that ``D_k`` holds every
   valid kernel's occupancy measures and ``hf-o2ps`` and ``o2ps-unweighted`` play the
   same iterates (on flat-Dirichlet ``random_linear_mixture`` instances with rewards
   ``R / H`` and ``lam = B = 1``, for thousands of episodes).

Reconstructed defaults (parameters): learning rate
``alpha = lr_scale H sqrt(log(S^2 A) / K)`` (``learning_rate`` overrides): the notes'
``sqrt(log(S^2 A) / K)`` for occupancy measures normalised to total mass 1; ours
have mass 1 per stage (total ``H``), which multiplies the rate by ``H`` (with the
notes' rate unscaled, the measured regret grew linearly in ``H``);
radius ``beta_k = beta_scale sqrt(2 log(1/delta) + d log(1 + k H / (lam d
alpha_w^2))) + sqrt(lam) B`` with ``B = theta_bound >= ||theta*||_2`` (1 for
``theta`` in the simplex), so ``C_0`` holds ``theta*`` (``beta`` overrides with a
constant); variance floor ``alpha_w = 1 / sqrt(H)`` (so that ``K H alpha_w^2 = K``),
``gamma_w = d^(-1/4)``, ``M = max(1, ceil(log2 H))`` moment orders.

Baselines (same class, ``variant=``):

* ``"known"`` (``hf-o2ps-known``): the true ``theta`` is known, ``D`` is the
  occupancy polytope of the true kernel, a pure experts problem; solved by the
  specialised dual Newton step :func:`mdplab.planning.mirror_step_known`
  (tested equal to the cvxpy program to 1e-6);
* ``"unweighted"`` (``o2ps-unweighted``): ridge regression with unit weights on
  the first moment only (UCRL-VTR style, not horizon-free: its confidence set
  ignores that the values' variance is small).

Exactness: every played policy is evaluated exactly in the true model under
that episode's reward, and the comparator is the exact optimum of the summed
rewards (:func:`mdplab.planning.best_fixed_policy`; values are linear in the
reward) at every checkpoint, so the reported regret has no sampling error.
"""

from __future__ import annotations

import math

import numpy as np

from mdplab.algorithms.objectives import Objective
from mdplab.algorithms.protocol import Learner, Trace
from mdplab.models import LinearMixtureMDP
from mdplab.models._validation import ArgumentTypeError, check_int, check_real
from mdplab.planning.linear_mixture import (
    MirrorStep,
    as_stage_rewards,
    best_fixed_policy,
    mirror_step_known,
    occupancy_kernel,
    occupancy_policy,
    policy_value,
)

__all__ = [
    "ADVERSARIAL_RETURN",
    "HFO2PS",
    "RewardAdversary",
    "check_episode_rewards",
    "check_mixture_features",
]

REWARD_TOL = 1e-9
"""Slack on the per-episode total reward bound ``<= 1`` (rounding of ``R / H``)."""


def check_episode_rewards(R, H: int, S: int, A: int, name: str = "rewards") -> np.ndarray:
    """``R`` as ``(H, S, A)`` with entries in ``[0, 1]`` whose episode total is at
    most 1: ``sum_h max_{s,a} R_h(s,a) <= 1`` (the horizon-free assumption)."""
    R = as_stage_rewards(R, H, S, A, name)
    if not np.isfinite(R).all():
        raise ValueError(f"{name} must be finite")
    if (R < 0).any():
        raise ValueError(f"{name} must be non-negative; min is {R.min():.6g}")
    total = float(R.reshape(H, -1).max(axis=1).sum())
    if total > 1.0 + REWARD_TOL:
        raise ValueError(
            f"{name}: an episode can collect total reward {total:.6g} > 1 (sum over stages "
            "of max_{s,a} r_h); HF-O2PS's horizon-free bound needs total reward <= 1 per "
            "episode (divide per-step rewards by H)")
    return R


def check_mixture_features(F: np.ndarray) -> np.ndarray:
    """The row sums ``u(s,a) = sum_s' phi(s'|s,a)`` must be one vector ``u`` for all
    ``(s, a)``: then ``<phi(.|s,a), theta>`` sums to 1 for every ``theta`` with
    ``u^T theta = 1``, so the confidence set describes kernels. Returns ``u``."""
    u = F.sum(axis=2)
    dev = np.abs(u - u[0, 0]).max(axis=-1)
    if dev.max() > 1e-9:
        s, a = np.unravel_index(int(np.argmax(dev)), dev.shape)
        raise ValueError(
            f"features: sum_s' phi(s'|s={s},a={a}) = {np.round(u[s, a], 6).tolist()} differs "
            f"from sum_s' phi(s'|0,0) = {np.round(u[0, 0], 6).tolist()}, so <phi, theta> is "
            "not a transition kernel for every theta in the confidence set; HF-O2PS needs "
            "features with equal row sums (e.g. LinearMixtureMDP.from_kernels)")
    return u[0, 0]


# ------------------------------------------------------------ adversaries
class RewardAdversary:
    """Reward sequences for HF-O2PS, one ``kind`` each (full information).

    ``R0``, ``R1`` are two reward functions ``(H, S, A)`` with episode total <= 1:

    * ``"fixed"``: ``r^k = R0``;
    * ``"alternating"``: ``R0`` on even episodes, ``R1`` on odd ones;
    * ``"blocks"``: ``R0`` and ``R1`` in blocks of ``block`` episodes
      (default ``ceil(sqrt(K))``);
    * ``"adaptive"``: after the learner commits to ``pi_k`` (a function of the past
      only), the one of ``R0``, ``R1`` on which ``pi_k`` scores lower (exact values).
    """

    KINDS = ("fixed", "alternating", "blocks", "adaptive")

    def __init__(self, kind: str = "fixed", block: int | None = None):
        if kind not in self.KINDS:
            raise ValueError(f"adversary must be one of {self.KINDS}; got {kind!r}")
        self.kind = kind
        self.block = None if block is None else check_int(block, "block", lo=1)

    def reward(self, k: int, K: int, R0, R1, value_of=None) -> np.ndarray:
        """``r^k`` (episode ``k`` of ``K``, from 0); ``value_of(R)`` is the exact value
        of the policy the learner plays in episode ``k`` (adaptive kind only)."""
        if self.kind == "fixed":
            return R0
        if self.kind == "alternating":
            return R0 if k % 2 == 0 else R1
        if self.kind == "blocks":
            b = self.block or max(1, math.ceil(math.sqrt(K)))
            return R0 if (k // b) % 2 == 0 else R1
        return R0 if value_of(R0) <= value_of(R1) else R1

    def __repr__(self) -> str:
        return f"RewardAdversary({self.kind!r}, block={self.block})"


def shifted_reward(R0: np.ndarray) -> np.ndarray:
    """``R1_h(s, a) = R0_h((s + 1) mod S, a)``: the same per-stage maximum (so the
    episode total stays <= 1), with other state-action preferences."""
    return np.ascontiguousarray(np.roll(R0, -1, axis=1))


# --------------------------------------------------------------- objective
def _base_rewards(model: LinearMixtureMDP) -> np.ndarray:
    return check_episode_rewards(model.R, model.horizon, model.S, model.A, "model.R")


def _optimum(model: LinearMixtureMDP) -> float:
    return best_fixed_policy(model.P, model.init, _base_rewards(model))[1]


def _value(model: LinearMixtureMDP, policy) -> float:
    return policy_value(model.P, _base_rewards(model), policy, model.init)


ADVERSARIAL_RETURN = Objective("best-fixed-in-hindsight")
"""Expected return under each episode's reward, against the best fixed policy in
hindsight. Registered optimum/value use the model's own reward (the fixed
adversary); HF-O2PS computes the hindsight comparator itself."""
ADVERSARIAL_RETURN.register(LinearMixtureMDP, _optimum, _value)


# ----------------------------------------------------------------- learner
_STEP_CACHE: dict = {}


def _compiled_step(F, init, H: int, known: bool, solver: str) -> MirrorStep:
    """A compiled mirror step per (features, init, H, known, solver), kept for the
    last few instances: seeds and repeated runs on one model share it (a problem
    is re-solved with new parameter values; nothing else is kept between calls)."""
    key = (F.shape, hash(F.tobytes()), hash(np.asarray(init).tobytes()), H, known, solver)
    step = _STEP_CACHE.get(key)
    if step is None:
        if len(_STEP_CACHE) >= 8:
            _STEP_CACHE.pop(next(iter(_STEP_CACHE)))
        step = _STEP_CACHE[key] = MirrorStep(F, init, H, known=known, solver=solver)
    return step


VARIANTS = ("weighted", "known", "unweighted")
PATHS = ("auto", "newton", "cvxpy")


def _positive(x, name: str) -> float:
    return check_real(x, name, lo=0.0, lo_open=True)


class HFO2PS(Learner):
    """HF-O2PS and its baselines (see the module docstring for theorem and constants).

    Parameters
    ----------
    variant : {"weighted", "known", "unweighted"}
    adversary : str or RewardAdversary
        A :class:`RewardAdversary` kind or instance (default ``"fixed"``).
    second_reward : array_like, optional
        ``R1 (S, A)`` or ``(H, S, A)`` for the two-reward adversaries; default the
        model's reward ``R0`` shifted by one state, ``R1_h(s, a) = R0_h(s + 1 mod S, a)``.
    learning_rate : float > 0, optional
        The OMD rate ``alpha``; default ``lr_scale * H * sqrt(log(S^2 A) / K)``.
    lr_scale, beta_scale : float > 0
        Multiply the default rate and confidence radius.
    beta : float > 0, optional
        Constant confidence radius (overrides the schedule).
    lam : float > 0
        Ridge regulariser. ``theta_bound``: ``B >= ||theta*||_2`` in the radius.
        ``alpha_w``, ``gamma_w``: variance floor and uncertainty weight (defaults
        ``1/sqrt(H)``, ``d^(-1/4)``). ``n_moments``: ``M``.
    delta : float in (0, 1)
    path : {"auto", "newton", "cvxpy"}
        Mirror-step solver. ``auto``: Newton for ``known``, cvxpy otherwise;
        ``newton`` needs ``variant="known"``.
    solver : str
        cvxpy conic solver (default ``"CLARABEL"``).
    """

    model_class = LinearMixtureMDP
    guarantee = "online"
    objective = ADVERSARIAL_RETURN
    check_kwargs = {"learning_rate": 8.0, "beta_scale": 0.5}
    check_budget = 12
    invalid_kwargs = (
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"variant": "bogus"}, "variant"),
        ({"adversary": "bogus"}, "adversary"),
        ({"lam": 0.0}, "lam"),
        ({"path": "newton", "variant": "weighted"}, "path"),
    )

    def __init__(self, variant: str = "weighted", *, adversary="fixed", block=None,
                 second_reward=None, learning_rate=None, lr_scale: float = 1.0,
                 beta=None, beta_scale: float = 1.0, lam: float = 1.0, alpha_w=None,
                 gamma_w=None, n_moments=None, delta: float = 0.1, path: str = "auto",
                 solver: str = "CLARABEL", theta_bound: float = 1.0):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
        if isinstance(adversary, RewardAdversary):
            self.adversary = adversary
        elif isinstance(adversary, str):
            self.adversary = RewardAdversary(adversary, block)
        else:
            raise ArgumentTypeError(f"adversary must be a kind {RewardAdversary.KINDS} or a "
                                    f"RewardAdversary; got {adversary!r}")
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}; got {path!r}")
        if path == "newton" and variant != "known":
            raise ValueError("path='newton' solves the known-kernel step only; use "
                             "variant='known' or path='cvxpy'")
        self.variant = variant
        self.path = ("newton" if variant == "known" else "cvxpy") if path == "auto" else path
        self.second_reward = second_reward
        self.learning_rate = None if learning_rate is None else _positive(learning_rate,
                                                                          "learning_rate")
        self.lr_scale = _positive(lr_scale, "lr_scale")
        self.beta = None if beta is None else _positive(beta, "beta")
        self.beta_scale = _positive(beta_scale, "beta_scale")
        self.lam = _positive(lam, "lam")
        self.alpha_w = None if alpha_w is None else _positive(alpha_w, "alpha_w")
        self.gamma_w = None if gamma_w is None else _positive(gamma_w, "gamma_w")
        self.n_moments = None if n_moments is None else check_int(n_moments, "n_moments", lo=1)
        self.delta = check_real(delta, "delta", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        self.solver = solver
        self.theta_bound = _positive(theta_bound, "theta_bound")
        self.name = {"weighted": "hf-o2ps", "known": "hf-o2ps-known",
                     "unweighted": "o2ps-unweighted"}[variant]

    def params(self) -> dict:
        return {"variant": self.variant, "adversary": self.adversary.kind,
                "learning_rate": self.learning_rate, "lr_scale": self.lr_scale,
                "beta": self.beta, "beta_scale": self.beta_scale, "path": self.path}

    @classmethod
    def check_models(cls):
        from mdplab.envs.lowrank import random_linear_mixture

        m = random_linear_mixture(2, 2, 2, horizon=3, alpha=0.5, seed=3)
        R = np.array([[0.0, 0.2], [1.0, 0.6]]) / 3
        return [("tiny-mixture", LinearMixtureMDP(m.features, m.theta, R, horizon=3))]

    def check_model(self, model) -> None:
        if model.horizon is None:
            raise ValueError(f"{self.name} needs a finite-horizon model; got "
                             f"gamma={model.gamma}")
        _base_rewards(model)
        check_mixture_features(np.asarray(model.features))
        if self.second_reward is not None:
            check_episode_rewards(self.second_reward, model.horizon, model.S, model.A,
                                  "second_reward")

    # ------------------------------------------------------------ internals
    def _rate(self, model, K: int) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return self.lr_scale * model.horizon * math.sqrt(math.log(model.S ** 2 * model.A) / K)

    def _radius(self, k: int, d: int, H: int, alpha_w: float) -> float:
        if self.beta is not None:
            return self.beta
        return self.beta_scale * math.sqrt(
            2 * math.log(1 / self.delta) + d * math.log(1 + k * H / (self.lam * d * alpha_w ** 2))
        ) + math.sqrt(self.lam) * self.theta_bound

    def _learn(self, model, budget, every, checkpoints, seeds, optimum) -> Trace:
        n, c = seeds.size, checkpoints.size
        values = np.zeros((n, c))
        realized = np.zeros((n, c))
        width = np.zeros((n, c))
        for i, s in enumerate(seeds):
            self._one(model, budget, checkpoints, int(s), values[i], realized[i], width[i])
        # theta_error: ||theta_hat - theta*||_2 of the order-0 regression (0 when known).
        return Trace(values, realized, {"theta_error": width})

    def _one(self, model, K, checkpoints, seed, values, realized, theta_err):
        H, S, A, d = model.horizon, model.S, model.A, model.d
        F = np.asarray(model.features)
        P, init, theta_true = model.P, model.init, np.asarray(model.theta)
        R0 = _base_rewards(model)
        R1 = (shifted_reward(R0) if self.second_reward is None
              else check_episode_rewards(self.second_reward, H, S, A, "second_reward"))
        alpha = self._rate(model, K)
        alpha_w = self.alpha_w if self.alpha_w is not None else 1.0 / math.sqrt(H)
        gamma_w = self.gamma_w if self.gamma_w is not None else d ** -0.25
        weighted = self.variant == "weighted"
        M = (self.n_moments or max(1, math.ceil(math.log2(H)))) if weighted else 1
        rng = np.random.default_rng(seed)
        Sig = np.stack([self.lam * np.eye(d) for _ in range(M)])
        bvec = np.zeros((M, d))
        th = np.zeros((M, d))
        R_sum = np.zeros((H, S, A))
        played = 0.0
        returns = 0.0
        j = 0

        v_dual = np.zeros((H + 1, S))  # warm start of the Newton path's multipliers
        conic = None if self.path == "newton" else _compiled_step(
            F, init, H, self.variant == "known", self.solver)

        def step(z_prev, reward, k):
            a = alpha if k else 0.0
            if self.path == "newton":
                return mirror_step_known(z_prev.sum(axis=-1), reward, a, P, init, v0=v_dual)
            if self.variant == "known":
                return conic(z_prev, reward, a, theta_true)
            L = np.linalg.cholesky(Sig[0])
            return conic(z_prev, reward, a, th[0], L.T, self._radius(k, d, H, alpha_w))

        # z^1: the maximum-entropy element of D_0 (a step from z = 1 with no reward).
        # (Known kernel: from z = 1 P, i.e. q = 1, so that both solver paths agree.)
        z0 = (np.broadcast_to(P, (H, S, A, S)) if self.variant == "known"
              else np.ones((H, S, A, S)))
        z = step(z0, np.zeros((H, S, A)), 0)
        for k in range(K):
            pi = occupancy_policy(z)
            r = self.adversary.reward(k, K, R0, R1,
                                      lambda R, pi=pi: policy_value(P, R, pi, init))
            played += policy_value(P, r, pi, init)
            R_sum += r
            # Sample the episode in the true model.
            s = int(rng.choice(S, p=init))
            traj = np.empty((H, 3), dtype=np.int64)
            for h in range(H):
                a = int(rng.choice(A, p=pi[h, s]))
                s2 = int(rng.choice(S, p=P[s, a]))
                returns += r[h, s, a]
                traj[h] = (s, a, s2)
                s = s2
            if self.variant != "known":
                V = policy_value(occupancy_kernel(z), r, pi, stages=True)
                self._regress(F, traj, V, Sig, bvec, th, weighted, alpha_w, gamma_w,
                              self._radius(k + 1, d, H, alpha_w))
            if k + 1 == checkpoints[j]:
                best = best_fixed_policy(P, init, R_sum)[1]
                values[j] = best - played
                realized[j] = best - returns
                theta_err[j] = (0.0 if self.variant == "known"
                                else float(np.linalg.norm(th[0] - theta_true)))
                j += 1
            if k + 1 < K:
                z = step(z, r, k + 1)

    @staticmethod
    def _regress(F, traj, V, Sig, bvec, th, weighted, alpha_w, gamma_w, beta):
        M = Sig.shape[0]
        H = traj.shape[0]
        inv = [np.linalg.inv(Sig[m]) for m in range(M)]
        for h in range(H - 1):          # V_H = 0: the last step carries no information
            s, a, s2 = traj[h]
            Vn = V[h + 1]
            phis = [F[s, a].T @ Vn ** (2 ** m) for m in range(M)]
            for m in range(M):
                phi = phis[m]
                target = Vn[s2] ** (2 ** m)
                if weighted:
                    w_m = math.sqrt(max(phi @ inv[m] @ phi, 0.0))
                    if m + 1 < M:
                        w_n = math.sqrt(max(phis[m + 1] @ inv[m + 1] @ phis[m + 1], 0.0))
                        var = (min(max(phis[m + 1] @ th[m + 1], 0.0), 1.0)
                               - min(max(phi @ th[m], 0.0), 1.0) ** 2)
                        # The squared first-moment estimate carries twice its error:
                        # |a^2 - b^2| <= 2 |a - b| on [0, 1] (Zhou & Gu 2022).
                        ve = var + min(1.0, 2 * beta * w_m) + min(1.0, beta * w_n)
                    else:
                        ve = 1.0
                    sig2 = max(ve, alpha_w ** 2, gamma_w ** 2 * w_m)
                else:
                    sig2 = 1.0
                Sig[m] += np.outer(phi, phi) / sig2
                bvec[m] += phi * target / sig2
        for m in range(M):
            th[m] = np.linalg.solve(Sig[m], bvec[m])

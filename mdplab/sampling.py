"""Sampling from a known tabular MDP: a step-by-step simulator, batched rollouts
and the generative model.

* :class:`EpisodicSimulator` -- ``reset() -> s_0``, ``step(a) -> (s', r, done)``;
* :func:`rollout` -- many episodes of a fixed policy at once, in parallel
  (numba ``prange`` over episodes), returned as a :class:`Rollouts`;
* :func:`sample` / :func:`sample_all` -- the *generative model* (simulator
  access in sample-complexity analyses): i.i.d. next states of one pair
  ``(s, a)``, or ``n`` of them for every pair at once.

Seeds. Every function takes ``seed``: a non-negative int, a
``numpy.random.Generator`` (advanced by the call), a ``numpy.random.SeedSequence``
or ``None`` (fresh entropy). The same seed gives bitwise identical output on any
number of numba threads, because each episode / pair / chunk of draws has its own
xoshiro256** stream (:mod:`mdplab.kernels.rng`). Episode ``k`` of
``rollout(mdp, pi, n, seed)`` does not depend on ``n``, and equals the ``k``-th
episode of ``EpisodicSimulator(mdp, seed)`` driven by the same deterministic
policy. Dense and sparse storage of the same model give identical samples.

Rewards. By default the reward of ``(s, a)`` at stage ``h`` is its mean
``R_h(s, a)``; ``reward_noise="bernoulli"`` draws ``r ~ Bernoulli(R_h(s, a))``
instead (which needs every mean reward in ``[0, 1]``); ``reward_noise="law"``
draws from the model's reward distribution (``reward_atoms``/``reward_probs``),
which is the default (``reward_noise=None``) for a model that has one. Law
draws use a second RNG stream per episode, so an episode's states and actions
do not depend on whether its rewards are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdplab.kernels import sampling as _k
from mdplab.kernels.rng import SeedLike, new_state, seeds_from_key, stream_key, stream_seeds
from mdplab.models._validation import check_index, check_int, check_model
from mdplab.models.tabular import ROW_SUM_TOL, TabularMDP

__all__ = ["EpisodicSimulator", "Rollouts", "rollout", "sample", "sample_all"]

SAMPLE_CHUNK = 65536
"""Draws per RNG stream in :func:`sample` (fixed, so output does not depend on threads)."""

_REWARD_NOISE = ("none", "bernoulli", "law")

OUTPUT_LIMIT_BYTES = 8 * 1024**3
"""Largest output array a sampler allocates (8 GiB); bigger requests are refused up
front with a ValueError naming the count, instead of a MemoryError from the kernel."""


# ------------------------------------------------------------------ helpers
def _check_mdp(mdp, fn: str = "the sampler") -> None:
    check_model(mdp, TabularMDP, fn)


_index = check_index  # ``value`` as an int in ``[0, upper)``, else an error naming it


def _count(value, name: str, minimum: int = 0) -> int:
    return check_int(value, name, lo=minimum)


def _check_output(nbytes: int, what: str, fn: str) -> None:
    if nbytes > OUTPUT_LIMIT_BYTES:
        raise ValueError(
            f"{fn}: {what} would need {nbytes / 1024**3:.3g} GiB of output; the limit is "
            f"{OUTPUT_LIMIT_BYTES / 1024**3:g} GiB (OUTPUT_LIMIT_BYTES): draw in batches"
        )


def _check_stage(mdp: TabularMDP, h) -> int:
    if mdp.horizon is None:
        i = _index(h, "stage h", 1, " (a discounted model has the single stage 0)")
    else:
        i = _index(h, "stage h", mdp.horizon, f" (horizon H = {mdp.horizon})")
    return i


def _noise(mdp: TabularMDP, reward_noise) -> str:
    """Resolve ``reward_noise`` (None: the model's law if it has one, else the mean)."""
    if reward_noise is None:
        return "law" if mdp.has_reward_distribution else "none"
    if reward_noise not in _REWARD_NOISE:
        raise ValueError(f"reward_noise must be one of {_REWARD_NOISE} or None; "
                         f"got {reward_noise!r}")
    return reward_noise


def _bernoulli(mdp: TabularMDP, reward_noise) -> bool:
    if reward_noise not in _REWARD_NOISE:
        raise ValueError(f"reward_noise must be one of {_REWARD_NOISE}; got {reward_noise!r}")
    if reward_noise == "bernoulli":
        R = mdp.R
        bad = (R < 0.0) | (R > 1.0)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                "reward_noise='bernoulli' draws r ~ Bernoulli(R[h, s, a]) and needs every mean "
                f"reward in [0, 1]; R[{', '.join(map(str, idx))}] = {R[idx]:.6g}"
            )
        return True
    return False


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view, so every kernel call sees one array type (one JIT)."""
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


class _Arrays:
    """The kernel-facing arrays of a model (stage axis explicit, read-only)."""

    __slots__ = ("S", "A", "sparse", "P", "indptr", "indices", "data", "R", "init", "ratoms",
                 "rprobs")

    def __init__(self, mdp: TabularMDP):
        self.S, self.A = mdp.S, mdp.A
        self.sparse = mdp.is_sparse
        if self.sparse:
            c = mdp.csr
            self.P = None
            self.indptr = _readonly(c.indptr)
            self.indices = _readonly(c.indices)
            self.data = _readonly(c.data)
        else:
            self.P = _readonly(mdp.stage_P())
            self.indptr = self.indices = self.data = None
        self.R = _readonly(mdp.stage_R())
        self.init = _readonly(mdp.init)
        atoms, probs = mdp.stage_reward_law()
        self.ratoms = _readonly(atoms.astype(np.float64))
        self.rprobs = _readonly(probs.astype(np.float64))


_DUMMY_DET = _readonly(np.zeros((1, 1), dtype=np.int64))
_DUMMY_STO = _readonly(np.ones((1, 1, 1), dtype=np.float64))


def _prepare_policy(mdp: TabularMDP, policy):
    """``(pi_det, pi_sto, stochastic)`` with an explicit stage axis, validated."""
    S, A, H = mdp.S, mdp.A, mdp.horizon
    try:
        arr = np.asarray(policy)
    except Exception as exc:
        raise ValueError(f"policy must be an array: {exc}") from None
    stages = "" if H is None else f" or ({H}, {S}) for a stage-dependent one"
    stages_sto = "" if H is None else f" or ({H}, {S}, {A})"
    if arr.dtype != bool and np.issubdtype(arr.dtype, np.integer):
        if arr.ndim == 1 and arr.shape == (S,):
            pi = arr[None]
        elif arr.ndim == 2 and arr.shape[1] == S and (arr.shape[0] == 1 or arr.shape[0] == H):
            pi = arr
        else:
            raise ValueError(
                f"a deterministic policy (integer array of actions) must have shape ({S},)"
                f"{stages}; got shape {arr.shape}"
            )
        bad = (pi < 0) | (pi >= A)
        if bad.any():
            h, s = (int(i) for i in np.argwhere(bad)[0])
            where = f"[{s}]" if arr.ndim == 1 else f"[{h}, {s}]"
            raise ValueError(f"policy{where} = {pi[h, s]} is not an action in [0, {A})")
        return _readonly(pi.astype(np.int64)), _DUMMY_STO, False
    if np.issubdtype(arr.dtype, np.floating):
        if arr.ndim == 2 and arr.shape == (S, A):
            pi = arr[None]
        elif arr.ndim == 3 and arr.shape[1:] == (S, A) and (arr.shape[0] in (1, H)):
            pi = arr
        else:
            hint = (
                "; for a deterministic policy pass an integer array of actions"
                if arr.shape in ((S,), (H, S)) else ""
            )
            raise ValueError(
                f"a stochastic policy (float array of action probabilities) must have shape "
                f"({S}, {A}){stages_sto}; got shape {arr.shape}{hint}"
            )
        pi = pi.astype(np.float64)
        lead = (lambda h, s: f"[{s}") if arr.ndim == 2 else (lambda h, s: f"[{h}, {s}")
        bad = ~np.isfinite(pi) | (pi < 0)
        if bad.any():
            h, s, a = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"policy{lead(h, s)}, {a}] = {pi[h, s, a]:.6g}; action probabilities must be "
                "finite and non-negative"
            )
        sums = pi.sum(axis=-1)
        off = np.abs(sums - 1.0) > ROW_SUM_TOL
        if off.any():
            h, s = (int(i) for i in np.argwhere(off)[0])
            raise ValueError(
                f"policy{lead(h, s)}, :] sums to {sums[h, s]:.12g}; each row of a stochastic "
                f"policy must sum to 1 within {ROW_SUM_TOL:g}"
            )
        return _DUMMY_DET, _readonly(pi), True
    raise ValueError(
        "policy must be an integer array of actions (deterministic) or a float array of "
        f"action probabilities (stochastic); got dtype {arr.dtype}"
    )


# -------------------------------------------------------------- simulator
class EpisodicSimulator:
    """Step-by-step simulation of a :class:`~mdplab.models.TabularMDP`.

    ``reset()`` draws ``s_0 ~ init`` and ``step(a)`` returns ``(s', r, done)``
    with ``r`` the mean reward ``R_h(s, a)`` (or a Bernoulli draw of it, or a
    draw from the model's reward law: ``reward_noise`` as in :func:`rollout`) and
    ``s' ~ P_h(. | s, a)``. For a finite-horizon model ``done`` becomes True
    after ``H`` steps and further steps raise; a discounted model never ends
    (discounting is the caller's business). ``h`` is the number of steps taken
    in the current episode, i.e. the current stage.

    Episode ``k`` (counting resets since construction or :meth:`reseed`) uses
    RNG stream ``k`` of ``seed``, the stream of episode ``k`` of :func:`rollout`
    with the same seed.
    """

    def __init__(self, mdp: TabularMDP, seed: SeedLike = None, reward_noise: str | None = None):
        _check_mdp(mdp, "EpisodicSimulator")
        self.mdp = mdp
        reward_noise = _noise(mdp, reward_noise)
        self.reward_noise = reward_noise
        self._bern = _bernoulli(mdp, reward_noise)
        self._law = reward_noise == "law"
        self._arr = _Arrays(mdp)
        self.reseed(seed)

    def reseed(self, seed: SeedLike = None) -> None:
        """Restart the episode streams from ``seed``; the next :meth:`reset` is episode 0."""
        self._key = stream_key(seed)
        self._episode = -1
        self._rng = None
        self._s = None
        self._h = 0

    # ------------------------------------------------------------ state
    @property
    def state(self) -> int | None:
        """Current state (``None`` before the first :meth:`reset`)."""
        return self._s

    @property
    def h(self) -> int:
        """Current stage: steps taken since the last :meth:`reset`."""
        return self._h

    @property
    def episode(self) -> int:
        """Index of the current episode (-1 before the first :meth:`reset`)."""
        return self._episode

    @property
    def done(self) -> bool:
        """True once a finite-horizon episode has taken its ``H`` steps."""
        H = self.mdp.horizon
        return self._s is not None and H is not None and self._h >= H

    # ------------------------------------------------------------ dynamics
    def reset(self, state=None) -> int:
        """Start the next episode; return ``s_0 ~ init``, or ``state`` if given."""
        if state is not None:
            state = _index(state, "state", self.mdp.S)
        self._episode += 1
        seed = seeds_from_key(self._key[0], self._key[1], self._episode, 1)[0]
        self._rng = new_state(seed)
        if self._law:
            self._rrng = new_state(_k.reward_stream_seeds(np.array([seed], dtype=np.uint64))[0])
        if state is None:
            state = int(_k.categorical_dense(self._arr.init, self._rng))
        self._s = state
        self._h = 0
        return state

    def step(self, action) -> tuple[int, float, bool]:
        """Take ``action`` in the current state: ``(next_state, reward, done)``."""
        if self._s is None:
            raise RuntimeError("call reset() before step()")
        if self.done:
            raise RuntimeError(
                f"the episode is over (horizon H = {self.mdp.horizon} steps taken); "
                "call reset() to start a new one"
            )
        a = _index(action, "action", self.mdp.A)
        ar = self._arr
        if ar.sparse:
            s2, r = _k.step_csr(
                ar.indptr, ar.indices, ar.data, ar.S, ar.A, ar.R, self._h, self._s, a,
                self._bern, self._rng,
            )
        else:
            s2, r = _k.step_dense(ar.P, ar.R, self._h, self._s, a, self._bern, self._rng)
        if self._law:
            r = _k.draw_reward(ar.ratoms, ar.rprobs, self._h, self._s, a, self._rrng)
        self._s = int(s2)
        self._h += 1
        return self._s, float(r), self.done

    def __repr__(self) -> str:
        return f"EpisodicSimulator({self.mdp!r}, episode={self._episode}, h={self._h})"


# ---------------------------------------------------------------- rollouts
@dataclass(frozen=True, eq=False)
class Rollouts:
    """Episodes of :func:`rollout`: row ``i`` is episode ``i``.

    ``states[i, t]`` is ``s_t`` (``t = 0..T``), ``actions[i, t]`` and
    ``rewards[i, t]`` belong to step ``t < T``. ``returns[i]`` is
    ``sum_t rewards[i, t]`` (finite horizon) or ``sum_{t<T} gamma^t rewards[i, t]``
    (discounted, truncated at ``T``: bias at most ``gamma^T max|R| / (1 - gamma)``).
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    returns: np.ndarray
    gamma: float | None = None

    @property
    def n_episodes(self) -> int:
        return int(self.actions.shape[0])

    @property
    def length(self) -> int:
        """Steps per episode ``T``."""
        return int(self.actions.shape[1])

    def mean_return(self) -> float:
        return float(self.returns.mean())

    def stderr(self) -> float:
        """Standard error of :meth:`mean_return`."""
        n = self.n_episodes
        return float(self.returns.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def rollout(
    mdp: TabularMDP,
    policy,
    n_episodes: int,
    seed: SeedLike = None,
    length: int | None = None,
    reward_noise: str | None = None,
) -> Rollouts:
    """Roll out ``n_episodes`` episodes of ``policy`` in parallel.

    Parameters
    ----------
    policy : array_like
        Deterministic: integer actions of shape ``(S,)`` or (finite horizon)
        ``(H, S)``. Stochastic: action probabilities ``(S, A)`` or ``(H, S, A)``.
        Stationary policies are used at every stage.
    n_episodes : int
        Number of episodes (episode ``i`` uses RNG stream ``i`` of ``seed``).
    length : int, optional
        Steps per episode ``T``. Finite horizon: ``1 <= T <= H``, default ``H``.
        Discounted: required.
    reward_noise : {None, "none", "bernoulli", "law"}
        Mean rewards, Bernoulli draws of them (needs ``R`` in ``[0, 1]``), or
        draws from the model's reward law; None: the law if the model has one,
        else the means.
    """
    _check_mdp(mdp, "rollout")
    reward_noise = _noise(mdp, reward_noise)
    n = _count(n_episodes, "n_episodes")
    bern = _bernoulli(mdp, reward_noise)
    H = mdp.horizon
    if H is None:
        if length is None:
            raise ValueError(
                "a discounted model has no horizon: pass length=T, the number of steps per "
                "episode (the discounted return is truncated at T)"
            )
        T = _count(length, "length", 1)
    else:
        T = H if length is None else _count(length, "length", 1)
        if T > H:
            raise ValueError(f"length = {T} exceeds the horizon H = {H}")
    _check_output(24 * n * (T + 1), f"n_episodes = {n} episodes of length {T}", "rollout")
    pi_det, pi_sto, stochastic = _prepare_policy(mdp, policy)
    seeds = stream_seeds(seed, n)
    ar = _Arrays(mdp)
    if ar.sparse:
        states, actions, rewards = _k.rollout_csr(
            ar.indptr, ar.indices, ar.data, ar.S, ar.A, ar.R, ar.init,
            pi_det, pi_sto, stochastic, bern, T, seeds,
        )
    else:
        states, actions, rewards = _k.rollout_dense(
            ar.P, ar.R, ar.init, pi_det, pi_sto, stochastic, bern, T, seeds
        )
    if reward_noise == "law":
        rewards = _k.draw_rewards(ar.ratoms, ar.rprobs, states, actions, seeds)
    if mdp.gamma is None:
        returns = rewards.sum(axis=1)
    else:
        returns = rewards @ (mdp.gamma ** np.arange(T, dtype=np.float64))
    return Rollouts(states, actions, rewards, returns, mdp.gamma)


# -------------------------------------------------------- generative model
def sample(
    mdp: TabularMDP, s: int, a: int, n: int, seed: SeedLike = None, h: int = 0
) -> np.ndarray:
    """``n`` i.i.d. next states ``s' ~ P_h(. | s, a)`` (int64 array of shape ``(n,)``).

    Draws are split in chunks of :data:`SAMPLE_CHUNK`, one RNG stream each,
    drawn in parallel; the first ``m`` draws do not depend on ``n``.
    """
    _check_mdp(mdp, "sample")
    s = _index(s, "state s", mdp.S)
    a = _index(a, "action a", mdp.A)
    h = _check_stage(mdp, h)
    n = _count(n, "n")
    _check_output(8 * n, f"n = {n} draws", "sample")
    seeds = stream_seeds(seed, max(1, -(-n // SAMPLE_CHUNK)))
    ar = _Arrays(mdp)
    if ar.sparse:
        row = ((h if not mdp.transitions_stationary else 0) * ar.S + s) * ar.A + a
        return _k.sample_csr(ar.indptr, ar.indices, ar.data, row, n, SAMPLE_CHUNK, seeds)
    return _k.sample_dense(ar.P, h, s, a, n, SAMPLE_CHUNK, seeds)


def sample_all(mdp: TabularMDP, n: int, seed: SeedLike = None, h: int = 0) -> np.ndarray:
    """Generative-model call for every pair: ``out[s, a, k] ~ P_h(. | s, a)`` i.i.d.

    Returns an int64 array of shape ``(S, A, n)``; pair ``(s, a)`` uses RNG
    stream ``s * A + a`` of ``seed``, pairs are drawn in parallel.
    """
    _check_mdp(mdp, "sample_all")
    h = _check_stage(mdp, h)
    n = _count(n, "n")
    _check_output(8 * n * mdp.S * mdp.A, f"n = {n} draws for each of the "
                  f"{mdp.S * mdp.A} pairs", "sample_all")
    seeds = stream_seeds(seed, mdp.S * mdp.A)
    ar = _Arrays(mdp)
    if ar.sparse:
        return _k.sample_all_csr(ar.indptr, ar.indices, ar.data, ar.S, ar.A, h, n, seeds)
    return _k.sample_all_dense(ar.P, h, n, seeds)

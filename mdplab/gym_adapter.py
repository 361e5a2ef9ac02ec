"""A tabular MDP as a ``gymnasium.Env``.

Needs the optional ``gymnasium`` dependency (``pip install 'mdplab[gym]'``);
``mdplab`` itself never imports this module.

:class:`MDPEnv` wraps an :class:`~mdplab.sampling.EpisodicSimulator`:
``Discrete(S)`` observations (or ``(state, stage)`` tuples with
``include_stage=True``), ``Discrete(A)`` actions, rewards ``R_h(s, a)`` or
Bernoulli draws of them. Episodes never *terminate* (no absorbing states are
assumed); they are *truncated* after ``H`` steps for a finite-horizon model, or
after ``max_episode_steps`` steps if given (a discounted model otherwise runs
forever -- discount its rewards yourself).

Seeding follows the gymnasium convention: ``reset(seed=k)`` re-seeds
``self.np_random`` and the simulator's streams are then derived from it, so the
same seed gives the same episodes; ``MDPEnv(mdp, seed=k)`` applies ``k`` at the
first ``reset()`` that has no seed of its own.
"""

from __future__ import annotations

import numbers

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - exercised in a patched test
    raise ImportError(
        "mdplab.gym_adapter needs gymnasium, an optional dependency of mdplab; "
        "install it with: pip install 'mdplab[gym]'"
    ) from exc

from mdplab.models.tabular import TabularMDP
from mdplab.sampling import EpisodicSimulator, _index

__all__ = ["MDPEnv"]


class MDPEnv(gym.Env):
    """Gymnasium environment of a :class:`~mdplab.models.TabularMDP`.

    Parameters
    ----------
    mdp : TabularMDP
    seed : int, optional
        Seed applied at the first ``reset()`` called without a seed.
    reward_noise : {"none", "bernoulli"}
        Mean rewards, or ``Bernoulli(R_h(s, a))`` draws (needs ``R`` in ``[0, 1]``).
    max_episode_steps : int, optional
        Truncate episodes after this many steps. Finite horizon: at most ``H``
        (default ``H``). Discounted: default ``None`` (never truncated).
    include_stage : bool
        Observe ``(state, stage)`` (a ``Tuple(Discrete(S), Discrete(L + 1))``
        space, ``L`` the episode length) instead of the state alone.

    ``reset(options={"state": s})`` starts the episode in state ``s`` instead of
    drawing it from ``mdp.init``. ``info`` holds the current ``"stage"``.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        mdp: TabularMDP,
        seed: int | None = None,
        reward_noise: str = "none",
        *,
        max_episode_steps: int | None = None,
        include_stage: bool = False,
    ):
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"expected a TabularMDP; got {type(mdp).__name__}")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise ValueError(f"seed must be a non-negative int or None; got {seed!r}")
        H = mdp.horizon
        if max_episode_steps is not None:
            if isinstance(max_episode_steps, bool) or not isinstance(
                max_episode_steps, numbers.Integral
            ) or max_episode_steps < 1:
                raise ValueError(
                    f"max_episode_steps must be an integer >= 1; got {max_episode_steps!r}"
                )
            if H is not None and max_episode_steps > H:
                raise ValueError(
                    f"max_episode_steps = {max_episode_steps} exceeds the horizon H = {H}"
                )
        limit = max_episode_steps if max_episode_steps is not None else H
        if include_stage and limit is None:
            raise ValueError(
                "include_stage=True needs a bounded episode: give max_episode_steps for a "
                "discounted model"
            )
        self.mdp = mdp
        self.max_episode_steps = None if limit is None else int(limit)
        self.include_stage = bool(include_stage)
        self._sim = EpisodicSimulator(mdp, seed=None, reward_noise=reward_noise)
        self._pending_seed = None if seed is None else int(seed)
        self._truncated = False
        self.render_mode = None
        self.action_space = spaces.Discrete(mdp.A)
        if self.include_stage:
            self.observation_space = spaces.Tuple(
                (spaces.Discrete(mdp.S), spaces.Discrete(self.max_episode_steps + 1))
            )
        else:
            self.observation_space = spaces.Discrete(mdp.S)

    def _obs(self, s: int):
        return (s, self._sim.h) if self.include_stage else s

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._pending_seed is not None:
            seed = self._pending_seed
        self._pending_seed = None
        super().reset(seed=seed)
        if seed is not None:
            self._sim.reseed(self.np_random)
        state = None
        if options:
            unknown = set(options) - {"state"}
            if unknown:
                raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: ['state']")
            state = options.get("state")
        s = self._sim.reset(state=state)
        self._truncated = False
        return self._obs(s), {"stage": 0}

    def step(self, action):
        if self._truncated:
            raise RuntimeError(
                f"the episode was truncated after {self.max_episode_steps} steps; call reset()"
            )
        a = _index(action, "action", self.mdp.A)
        s, r, _ = self._sim.step(a)
        h = self._sim.h
        truncated = self.max_episode_steps is not None and h >= self.max_episode_steps
        self._truncated = truncated
        return self._obs(s), r, False, bool(truncated), {"stage": h}

    def __repr__(self) -> str:
        return f"MDPEnv({self.mdp!r})"

"""Tests of mdplab.gym_adapter.MDPEnv (skipped when gymnasium is absent)."""

from __future__ import annotations

import importlib
import sys
import warnings

import numpy as np
import pytest

from mdplab.models import TabularMDP

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from mdplab.gym_adapter import MDPEnv  # noqa: E402


def make_mdp(horizon=4, S=5, A=3, seed=0, sparse=False):
    gen = np.random.default_rng(seed)
    P = gen.dirichlet(np.ones(S), size=(S, A))
    R = gen.random((S, A))
    kw = {"horizon": horizon} if horizon is not None else {"gamma": 0.9}
    m = TabularMDP(P, R, init=gen.dirichlet(np.ones(S)), **kw)
    return m.to_sparse() if sparse else m


def strict_check_env(env):
    """gymnasium's checker with every warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize(
    "mdp, kwargs",
    [
        (make_mdp(), {}),
        (make_mdp(sparse=True), {"seed": 3, "reward_noise": "bernoulli"}),
        (make_mdp(), {"include_stage": True}),
        (make_mdp(horizon=None), {}),
        (make_mdp(horizon=None), {"max_episode_steps": 6, "include_stage": True}),
    ],
)
def test_check_env(mdp, kwargs):
    strict_check_env(MDPEnv(mdp, **kwargs))


def test_spaces_and_episode_truncation():
    mdp = make_mdp(horizon=3)
    env = MDPEnv(mdp, seed=1)
    assert env.observation_space == gym.spaces.Discrete(5)
    assert env.action_space == gym.spaces.Discrete(3)
    obs, info = env.reset()
    assert isinstance(obs, int) and info == {"stage": 0}
    for h in range(3):
        obs, r, terminated, truncated, info = env.step(h % 3)
        assert obs in env.observation_space and isinstance(r, float)
        assert terminated is False and truncated is (h == 2) and info == {"stage": h + 1}
    with pytest.raises(RuntimeError, match="truncated after 3 steps; call reset"):
        env.step(0)
    env.reset()
    env.step(0)


def test_rewards_are_mean_rewards_and_stage_observation():
    mdp = make_mdp(horizon=3)
    env = MDPEnv(mdp, seed=1, include_stage=True)
    (s, h), _ = env.reset()
    assert h == 0
    for t in range(3):
        (s2, h2), r, *_ = env.step(1)
        assert h2 == t + 1 and r == mdp.R[s, 1]
        s = s2


def test_seeding_is_reproducible():
    mdp = make_mdp(horizon=6)

    def play(env, seed=None):
        obs, _ = env.reset(seed=seed)
        traj = [obs]
        for t in range(6):
            obs, r, *_ = env.step(t % 3)
            traj += [obs, r]
        return traj

    env = MDPEnv(mdp, reward_noise="bernoulli")
    a, b = play(env, seed=5), play(env, seed=5)
    assert a == b
    assert play(env, seed=6) != a
    # constructor seed == first reset's seed
    assert play(MDPEnv(mdp, seed=5, reward_noise="bernoulli")) == a
    # later unseeded resets continue the seeded sequence deterministically
    e1, e2 = MDPEnv(mdp, seed=9), MDPEnv(mdp, seed=9)
    assert [play(e1) for _ in range(3)] == [play(e2) for _ in range(3)]


def test_reset_options_and_bad_inputs():
    mdp = make_mdp()
    env = MDPEnv(mdp, seed=0)
    obs, _ = env.reset(options={"state": 4})
    assert obs == 4
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['start'\]"):
        env.reset(options={"start": 1})
    env.reset()
    with pytest.raises(ValueError, match=r"^action 3 is not in \[0, 3\)$"):
        env.step(3)
    with pytest.raises(ValueError, match="exceeds the horizon H = 4"):
        MDPEnv(mdp, max_episode_steps=5)
    with pytest.raises(ValueError, match="include_stage=True needs a bounded episode"):
        MDPEnv(make_mdp(horizon=None), include_stage=True)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        MDPEnv(mdp, seed=-1)
    with pytest.raises(TypeError, match="expected a TabularMDP"):
        MDPEnv("riverswim")


def test_discounted_runs_until_max_episode_steps():
    env = MDPEnv(make_mdp(horizon=None), seed=0, max_episode_steps=50)
    env.reset()
    flags = [env.step(0)[3] for _ in range(50)]
    assert flags == [False] * 49 + [True]
    env = MDPEnv(make_mdp(horizon=None), seed=0)
    env.reset()
    assert not any(env.step(1)[3] for _ in range(200))


def test_missing_gymnasium_gives_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.delitem(sys.modules, "mdplab.gym_adapter")
    with pytest.raises(ImportError, match=r"pip install 'mdplab\[gym\]'"):
        importlib.import_module("mdplab.gym_adapter")

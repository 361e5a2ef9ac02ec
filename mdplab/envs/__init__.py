"""Named environment families: each is a plain function returning a model (a TabularMDP
unless noted).

============================  ==========================================================
``riverswim``                 RiverSwim, "standard" (gym-riverswim) or "osband" (TabulaRL)
``chain``                     rlberry's noisy Chain
``gridworld``                 grid with walls, slip and a goal (rlberry layout);
                              ``gridworld_layout`` gives the (row, col) <-> state map
``garnet``                    Garnet random MDPs, dense or sparse (fast at 10^6 states)
``deepsea``                   bsuite's Deep Sea
``combination_lock``          HOMER's diabolical combination lock (latent / block MDP);
                              ``combination_lock_actions`` gives its secret actions
``random_mdp``                dense Dirichlet random MDPs, optionally stage-dependent
``lower_bound``               the sqrt(K) minimax lower-bound instance (bandit, then locked)
``safe_risky_chain``          CVaR: safe vs risky steps with a crash (reward law on a grid)
``cvar_lower_bound``          CVaR: the sqrt(SAK/tau) lower-bound family (Bernoulli arms)
``random_grid_mdp``           CVaR: random MDP with reward laws on a grid
``cvar_bandit``               CVaR bandit (H = 1): Bernoulli arms, gap set for K
``random_cvar_bandit``        CVaR bandit (H = 1): random reward laws on a grid
``tiger``                     the Tiger POMDP (standard parameters; returns a POMDP)
``random_revealing_pomdp``    random POMDP whose emissions are alpha-revealing
``random_lowrank``            random low-rank MDP (Dirichlet factors; LowRankMDP)
``block_mdp``                 block MDP: latent transitions + disjoint emissions (BlockMDP)
``rich_combination_lock``     the diabolical lock with discrete rich observations (BlockMDP)
``feature_class``             finite candidate feature class around a model's true features
``random_linear_mixture``     random linear-mixture MDP (LinearMixtureMDP)
``random_latent_mdp``         random latent MDP (LatentMDP)
``probe_chain_lmdp``          latent MDP where probing reveals the context (LatentMDP)
``action_similar_mdp``        MDP with many similar actions, for grouping (GroupedMDP)
``demand_response``           SUB-SAMPLE-Q demand response (GlobalLocalSystem)
``queueing``                  global server, n local queues (GlobalLocalSystem; ours)
============================  ==========================================================

Every function takes ``gamma=`` / ``horizon=`` (with a documented default when both
are omitted; latent MDPs are episodic only), and the random ones a ``seed`` (int,
None or ``np.random.Generator``).
"""

from mdplab.envs.chain import chain
from mdplab.envs.combination_lock import combination_lock, combination_lock_actions
from mdplab.envs.cvar import (
    cvar_bandit,
    cvar_lower_bound,
    random_cvar_bandit,
    random_grid_mdp,
    safe_risky_chain,
)
from mdplab.envs.deepsea import deepsea
from mdplab.envs.garnet import garnet
from mdplab.envs.global_local import demand_response, queueing
from mdplab.envs.gridworld import ACTIONS as GRIDWORLD_ACTIONS
from mdplab.envs.gridworld import GridLayout, gridworld, gridworld_layout
from mdplab.envs.grouped import action_similar_mdp
from mdplab.envs.latent import probe_chain_lmdp, random_latent_mdp
from mdplab.envs.lower_bound import lower_bound
from mdplab.envs.lowrank import (
    block_mdp,
    feature_class,
    random_linear_mdp,
    random_linear_mixture,
    random_lowrank,
    rich_combination_lock,
    tabular_linear_mdp,
)
from mdplab.envs.random_mdp import random_mdp
from mdplab.envs.revealing import random_revealing_pomdp
from mdplab.envs.riverswim import riverswim
from mdplab.envs.tiger import tiger

__all__ = [
    "GRIDWORLD_ACTIONS",
    "GridLayout",
    "action_similar_mdp",
    "block_mdp",
    "cvar_bandit",
    "cvar_lower_bound",
    "random_cvar_bandit",
    "chain",
    "combination_lock",
    "combination_lock_actions",
    "deepsea",
    "demand_response",
    "feature_class",
    "garnet",
    "gridworld",
    "gridworld_layout",
    "lower_bound",
    "probe_chain_lmdp",
    "queueing",
    "random_latent_mdp",
    "random_linear_mdp",
    "random_linear_mixture",
    "random_lowrank",
    "random_grid_mdp",
    "random_mdp",
    "random_revealing_pomdp",
    "rich_combination_lock",
    "riverswim",
    "safe_risky_chain",
    "tabular_linear_mdp",
    "tiger",
]

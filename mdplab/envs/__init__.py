"""Named environment families: each is a plain function returning a model (a TabularMDP
unless noted).

=======================  ==========================================================
``riverswim``            RiverSwim, "standard" (gym-riverswim) or "osband" (TabulaRL)
``chain``                rlberry's noisy Chain
``gridworld``            grid with walls, slip and a goal (rlberry layout);
                         ``gridworld_layout`` gives the (row, col) <-> state map
``garnet``               Garnet random MDPs, dense or sparse (fast at 10^6 states)
``deepsea``              bsuite's Deep Sea
``combination_lock``     HOMER's diabolical combination lock (latent / block MDP);
                         ``combination_lock_actions`` gives its secret actions
``random_mdp``           dense Dirichlet random MDPs, optionally stage-dependent
``lower_bound``          the sqrt(K) minimax lower-bound instance (bandit, then locked)
``tiger``                the Tiger POMDP (standard parameters; returns a POMDP)
=======================  ==========================================================

Every function takes ``gamma=`` / ``horizon=`` (with a documented default when both
are omitted), and the random ones a ``seed`` (int, None or ``np.random.Generator``).
"""

from mdplab.envs.chain import chain
from mdplab.envs.combination_lock import combination_lock, combination_lock_actions
from mdplab.envs.deepsea import deepsea
from mdplab.envs.garnet import garnet
from mdplab.envs.gridworld import ACTIONS as GRIDWORLD_ACTIONS
from mdplab.envs.gridworld import GridLayout, gridworld, gridworld_layout
from mdplab.envs.lower_bound import lower_bound
from mdplab.envs.random_mdp import random_mdp
from mdplab.envs.riverswim import riverswim
from mdplab.envs.tiger import tiger

__all__ = [
    "GRIDWORLD_ACTIONS",
    "GridLayout",
    "chain",
    "combination_lock",
    "combination_lock_actions",
    "deepsea",
    "garnet",
    "gridworld",
    "gridworld_layout",
    "lower_bound",
    "random_mdp",
    "riverswim",
    "tiger",
]

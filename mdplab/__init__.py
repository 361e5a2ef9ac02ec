"""mdplab: exact and sampled MDP models, certified planners and provable RL algorithms.

Quick start::

    import mdplab as ml
    mdp = ml.envs.riverswim(n_states=6, gamma=0.95)
    res = ml.planning.value_iteration(mdp, eps=1e-10)
    res.values, res.policy, res.error_bound
"""

from mdplab import envs, models, planning, sampling
from mdplab.models import TabularMDP

__version__ = "0.1.0"
__all__ = ["TabularMDP", "envs", "models", "sampling", "planning", "__version__"]

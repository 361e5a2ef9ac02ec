"""Model types: exact arrays, validation at construction, samplers.

=======================  ==============================================================
``TabularMDP``           finite-horizon or discounted MDP, dense or sparse
``LowRankMDP``           ``P_h(s'|s,a) = phi_h(s,a)^T mu_h(s')``; ``LinearMDP``, ``BlockMDP``;
                         ``FeatureClass`` (finite candidate features with an MLE oracle)
``LinearMixtureMDP``     ``P(s'|s,a) = <phi(s'|s,a), theta>``
``POMDP``                hidden states, emissions ``O[a, s', o]``, exact belief algebra
``PSR``                  predictive state representation; ``PSR.from_pomdp``
``LatentMDP``            M MDPs mixed per episode, context revealed at the end
``GroupedMDP``           an MDP with a partition of its actions and the grouped MDP
``GlobalLocalSystem``    a global agent and n local agents; exact count representation
=======================  ==============================================================

Models hold data, validation, conversions between representations and samplers;
they never import :mod:`mdplab.planning`. Exact solvers of family ``X``
(``mdplab/models/X.py``) live in ``mdplab/planning/X.py``; ``import mdplab`` also
attaches them to the model classes as methods (see
:mod:`mdplab.planning._model_methods`).
"""

from mdplab.models._validation import ROW_SUM_TOL
from mdplab.models.global_local import GlobalLocalSystem
from mdplab.models.grouped import GroupedMDP
from mdplab.models.latent import LatentMDP
from mdplab.models.lowrank import (
    BlockMDP,
    FeatureClass,
    LinearMDP,
    LinearMixtureMDP,
    LowRankMDP,
)
from mdplab.models.pomdp import POMDP
from mdplab.models.psr import PSR
from mdplab.models.tabular import CSRTransitions, TabularMDP

__all__ = [
    "BlockMDP",
    "CSRTransitions",
    "FeatureClass",
    "GlobalLocalSystem",
    "GroupedMDP",
    "LatentMDP",
    "LinearMDP",
    "LinearMixtureMDP",
    "LowRankMDP",
    "POMDP",
    "PSR",
    "ROW_SUM_TOL",
    "TabularMDP",
]

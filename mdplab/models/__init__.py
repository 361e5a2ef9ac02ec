"""Model types: exact arrays, validation at construction, samplers.

=======================  ==============================================================
``TabularMDP``           finite-horizon or discounted MDP, dense or sparse
``POMDP``                hidden states, emissions ``O[a, s', o]``, exact belief algebra
``PSR``                  predictive state representation; ``PSR.from_pomdp``
``LatentMDP``            M MDPs mixed per episode, context revealed at the end
``GroupedMDP``           an MDP with a partition of its actions and the grouped MDP
=======================  ==============================================================
"""

from mdplab.models._validation import ROW_SUM_TOL
from mdplab.models.grouped import GroupedMDP
from mdplab.models.latent import LatentMDP
from mdplab.models.pomdp import POMDP
from mdplab.models.psr import PSR
from mdplab.models.tabular import CSRTransitions, TabularMDP

__all__ = [
    "CSRTransitions",
    "GroupedMDP",
    "LatentMDP",
    "POMDP",
    "PSR",
    "ROW_SUM_TOL",
    "TabularMDP",
]

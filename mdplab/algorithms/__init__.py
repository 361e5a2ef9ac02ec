"""Tabular episodic learners with compiled online loops and exact regret.

Every learner is an :class:`Algorithm` whose ``run(mdp, episodes, seed=...,
n_seeds=...)`` returns a :class:`LearningCurve` of cumulative exact regret.
``ALGORITHMS`` maps the public names used by experiments to factories.
"""

from mdplab.algorithms.base import Algorithm, LearningCurve
from mdplab.algorithms.conformance import check_algorithm, tiny_mdp
from mdplab.algorithms.greedy import Greedy
from mdplab.algorithms.ucbvi import UCBVI

ALGORITHMS = {
    "ucbvi-ch": lambda **kw: UCBVI("ch", **kw),
    "ucbvi-bf": lambda **kw: UCBVI("bf", **kw),
    "greedy": lambda **kw: Greedy(**kw),
}

__all__ = ["ALGORITHMS", "Algorithm", "Greedy", "LearningCurve", "UCBVI", "check_algorithm",
           "tiny_mdp"]

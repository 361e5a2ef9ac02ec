"""Tabular episodic learners with compiled online loops and exact regret.

Every learner is an :class:`Algorithm` whose ``run(mdp, episodes, seed=...,
n_seeds=...)`` returns a :class:`LearningCurve` of cumulative exact regret.
``ALGORITHMS`` maps the public names used by experiments to factories.
"""

from mdplab.algorithms.base import Algorithm, LearningCurve
from mdplab.algorithms.conformance import check_algorithm, tiny_mdp
from mdplab.algorithms.greedy import Greedy
from mdplab.algorithms.mvp import MVP
from mdplab.algorithms.psrl import PSRL
from mdplab.algorithms.qlearning import QLearningUCB
from mdplab.algorithms.ucbvi import UCBVI

ALGORITHMS = {
    "ucbvi-ch": lambda **kw: UCBVI("ch", **kw),
    "ucbvi-bf": lambda **kw: UCBVI("bf", **kw),
    "mvp": lambda **kw: MVP(**kw),
    "qlearning-ucb-h": lambda **kw: QLearningUCB("hoeffding", **kw),
    "qlearning-ucb-b": lambda **kw: QLearningUCB("bernstein", **kw),
    "psrl": lambda **kw: PSRL(**kw),
    "greedy": lambda **kw: Greedy(**kw),
}

__all__ = ["ALGORITHMS", "MVP", "PSRL", "Algorithm", "Greedy", "LearningCurve", "QLearningUCB",
           "UCBVI", "check_algorithm", "tiny_mdp"]

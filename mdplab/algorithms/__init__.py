"""Learners on one protocol: ``run(model, budget, seed=..., n_seeds=...)``.

Every learner is a :class:`Learner` that declares the model class it learns
on and its guarantee (``online`` regret, ``pac`` suboptimality of an output
policy, ``generative`` loss against a sample budget); ``run`` returns a
:class:`LearningCurve` whose metric is computed exactly on the policy played
or output, under the learner's :class:`Objective` (expected return unless
stated). :class:`Algorithm` is the base of the compiled tabular online
learners (UCBVI, MVP, Q-learning-UCB, PSRL, greedy); :class:`PolicyLearner`
is the base of learners written in Python that hand their policies to the
protocol. ``check_algorithm`` is the conformance suite for all of them, and
``ALGORITHMS`` maps the public names used by experiments to factories.
"""

from mdplab.algorithms.base import Algorithm
from mdplab.algorithms.conformance import check_algorithm, tiny_mdp
from mdplab.algorithms.greedy import Greedy
from mdplab.algorithms.mvp import MVP
from mdplab.algorithms.objectives import EXPECTED_RETURN, ExpectedReturn, Objective
from mdplab.algorithms.protocol import (
    GUARANTEES,
    Learner,
    LearningCurve,
    PolicyLearner,
    Snapshot,
    Trace,
)
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

__all__ = ["ALGORITHMS", "EXPECTED_RETURN", "GUARANTEES", "MVP", "PSRL", "Algorithm",
           "ExpectedReturn", "Greedy", "LearningCurve", "Learner", "Objective",
           "PolicyLearner", "QLearningUCB", "Snapshot", "Trace", "UCBVI", "check_algorithm",
           "tiny_mdp"]

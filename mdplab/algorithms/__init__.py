"""Learners on one protocol: ``run(model, budget, seed=..., n_seeds=...)``.

Every learner is a :class:`Learner` that declares the model class it learns
on and its guarantee (``online`` regret, ``pac`` suboptimality of an output
policy, ``generative`` loss against a sample budget); ``run`` returns a
:class:`LearningCurve` whose metric is computed exactly on the policy played
or output, under the learner's :class:`Objective` (expected return unless
stated). :class:`Algorithm` is the base of the compiled tabular online
learners (UCBVI, MVP, Q-learning-UCB, PSRL, greedy, CVaR-UCBVI);
:class:`PolicyLearner`
is the base of learners written in Python that hand their policies to the
protocol. ``check_algorithm`` is the conformance suite for all of them, and
``ALGORITHMS`` maps the public names used by experiments to factories.
"""

from mdplab.algorithms.base import Algorithm
from mdplab.algorithms.conformance import check_algorithm, tiny_mdp
from mdplab.algorithms.cvar import (
    CVaRBandit,
    CVaRUCBVI,
    RiskNeutralUCBVI,
    cvar_bandit_regret_bound,
    cvar_objective,
)
from mdplab.algorithms.global_local import SubsampleQ, subsample_q
from mdplab.algorithms.greedy import Greedy
from mdplab.algorithms.grouped import GroupedVI, GroupingSelection, UngroupedVI, select_grouping
from mdplab.algorithms.latent import LMDPBlind, LMDPLearner, LMDPOracle
from mdplab.algorithms.linear_mixture import HFO2PS, RewardAdversary
from mdplab.algorithms.lowrank import LSVIUCB
from mdplab.algorithms.lowrank_representation import ELA, ELLA, RepUCB
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
from mdplab.algorithms.psr import OMLE, PSRLCB, UCBPSR
from mdplab.algorithms.psrl import PSRL
from mdplab.algorithms.qlearning import QLearningUCB
from mdplab.algorithms.ucbvi import UCBVI

ALGORITHMS = {
    "ucbvi-ch": lambda **kw: UCBVI("ch", **kw),
    "ucbvi-bf": lambda **kw: UCBVI("bf", **kw),
    "mvp": lambda **kw: MVP(**kw),
    "lmdp-vo": lambda **kw: LMDPLearner("vo", **kw),
    "lmdp-mo": lambda **kw: LMDPLearner("mo", **kw),
    "lmdp-oracle": lambda **kw: LMDPOracle(**kw),
    "lmdp-blind": lambda **kw: LMDPBlind(**kw),
    "qlearning-ucb-h": lambda **kw: QLearningUCB("hoeffding", **kw),
    "qlearning-ucb-b": lambda **kw: QLearningUCB("bernstein", **kw),
    "psrl": lambda **kw: PSRL(**kw),
    "greedy": lambda **kw: Greedy(**kw),
    "cvar-ucbvi-h": lambda **kw: CVaRUCBVI("hoeffding", **kw),
    "cvar-ucbvi-b": lambda **kw: CVaRUCBVI("bernstein", **kw),
    "ucbvi-bf-cvar": lambda **kw: RiskNeutralUCBVI(**kw),
    "cvar-bandit": lambda **kw: CVaRBandit(**kw),
    "subsample-q": lambda **kw: SubsampleQ(**kw),
    "grouped-vi": lambda **kw: GroupedVI(**kw),
    "ungrouped-vi": lambda **kw: UngroupedVI(**kw),
    "rep-ucb": lambda **kw: RepUCB(**kw),
    "ela": lambda **kw: ELA(**kw),
    "ella": lambda **kw: ELLA(**kw),
    "ucb-psr": lambda **kw: UCBPSR(**kw),
    "psr-lcb": lambda **kw: PSRLCB(**kw),
    "omle": lambda **kw: OMLE(**kw),
    "lsvi-ucb": lambda **kw: LSVIUCB(**kw),
    "hf-o2ps": lambda **kw: HFO2PS("weighted", **kw),
    "hf-o2ps-known": lambda **kw: HFO2PS("known", **kw),
    "o2ps-unweighted": lambda **kw: HFO2PS("unweighted", **kw),
}

__all__ = [
    "ALGORITHMS", "Algorithm", "CVaRBandit", "CVaRUCBVI", "ELA", "ELLA", "EXPECTED_RETURN",
    "ExpectedReturn", "RepUCB",
    "GUARANTEES", "Greedy", "GroupedVI", "GroupingSelection", "HFO2PS", "LSVIUCB", "Learner",
    "LearningCurve",
    "LMDPBlind", "LMDPLearner", "LMDPOracle",
    "MVP", "OMLE", "Objective", "PSRL", "PSRLCB", "PolicyLearner", "QLearningUCB",
    "RewardAdversary", "RiskNeutralUCBVI",
    "Snapshot", "SubsampleQ", "Trace", "UCBPSR", "UCBVI", "UngroupedVI", "check_algorithm",
    "cvar_bandit_regret_bound", "cvar_objective", "select_grouping", "subsample_q", "tiny_mdp",
]

"""The lab: experiment registry, sweeps on local or Dask backends, a resumable
Parquet result store, statistics over seeds and plots."""

from mdplab.lab.errors import LabError
from mdplab.lab.params import Param, parse_seeds
from mdplab.lab.plots import PlotSpec, render
from mdplab.lab.registry import Experiment, all_experiments, get_experiment, register
from mdplab.lab.runner import SweepReport, derive_seed, run_once, sweep
from mdplab.lab.stats import SlopeFit, loglog_slope, mean_ci, summarize
from mdplab.lab.store import ResultStore

__all__ = [
    "Experiment", "LabError", "Param", "PlotSpec", "ResultStore", "SlopeFit", "SweepReport",
    "all_experiments", "derive_seed", "get_experiment", "loglog_slope", "mean_ci",
    "parse_seeds", "register", "render", "run_once", "summarize", "sweep",
]

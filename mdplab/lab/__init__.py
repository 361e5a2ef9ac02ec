"""The lab: experiment registry, sweeps on local or Dask backends, a resumable
Parquet result store, statistics over seeds and plots.

Names are imported lazily so that worker processes, which only need the
registry and the runner, do not pay for scipy.stats and matplotlib.
"""

from importlib import import_module

_WHERE = {
    "LabError": "errors",
    "Param": "params", "parse_seeds": "params",
    "PlotSpec": "plots", "render": "plots",
    "RateClaim": "rates", "check_rates": "rates",
    "Experiment": "registry", "all_experiments": "registry", "get_experiment": "registry",
    "register": "registry",
    "SweepReport": "runner", "derive_seed": "runner", "run_once": "runner", "sweep": "runner",
    "SlopeFit": "stats", "loglog_slope": "stats", "mean_ci": "stats", "summarize": "stats",
    "fit_theory_constant": "stats",
    "ResultStore": "store",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f"mdplab.lab.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'mdplab.lab' has no attribute {name!r}")


def __dir__():
    return __all__

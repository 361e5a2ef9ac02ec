"""Experiments used only by the lab tests (loaded through MDPLAB_EXPERIMENTS)."""

import time

import numpy as np

from mdplab.lab import Experiment, Param, PlotSpec


def _noisy_line(params, seed):
    rng = np.random.default_rng(seed)
    xs = np.array([1, 2, 4, 8, 16, 32])
    time.sleep(params["sleep"])
    return [{"x": int(x), "y": float(params["scale"] * x ** params["power"]
                                      * np.exp(0.05 * rng.standard_normal()))} for x in xs]


def _fails_on_odd(params, seed):
    if params["k"] % 2:
        raise RuntimeError(f"k={params['k']} is odd")
    return [{"value": params["k"]}]


def _sleeps(params, seed):
    time.sleep(params["sleep"])
    return [{"slept": params["sleep"]}]


def _threads(params, seed):
    import numba

    return [{"numba_threads": numba.get_num_threads()}]


EXPERIMENTS = [
    Experiment(
        name="fixture-threads",
        description="records the numba thread count a run sees",
        params=(Param("k", "int", 0),),
        run=_threads,
        grid={"k": [0, 1, 2, 3]},
        seeds=1,
    ),
    Experiment(
        name="fixture-line",
        description="y = scale * x^power with log-normal noise",
        params=(Param("scale", "float", 1.0, low=0.0, low_open=True),
                Param("power", "float", 0.5),
                Param("sleep", "float", 0.0, low=0.0)),
        run=_noisy_line,
        grid={"power": [0.5, 1.0]},
        seeds=3,
        quick={"grid": {"power": [0.5]}, "seeds": 2},
        plots=(PlotSpec(name="fixture-line", x="x", y="y", hue="power", logx=True, logy=True,
                        fit_slope=True, theory=lambda x, g: np.sqrt(x), theory_label="sqrt(x)"),),
    ),
    Experiment(
        name="fixture-fails",
        description="raises for odd k",
        params=(Param("k", "int", 0, low=0, high=100),),
        run=_fails_on_odd,
        grid={"k": [0, 1, 2, 3]},
        seeds=1,
    ),
    Experiment(
        name="fixture-sleep",
        description="sleeps",
        params=(Param("sleep", "float", 0.2, low=0.0),),
        run=_sleeps,
        seeds=1,
    ),
]

"""The experiment registry: named experiments with typed parameters and presets.

Experiments are declared in files of the ``experiments/`` folder at the top
of the repository (one file per paper or family), each exposing a module-level
``EXPERIMENTS`` list of :class:`Experiment`. Further folders can be added with
the ``MDPLAB_EXPERIMENTS`` environment variable (``os.pathsep``-separated).
Files are loaded by path, so worker processes find experiments by *name*: no
function is ever pickled.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mdplab.lab.errors import LabError
from mdplab.lab.params import Param
from mdplab.lab.plots import PlotSpec
from mdplab.lab.rates import RateClaim

RunFunction = Callable[[dict, int], object]

MAX_CELLS = 100_000
"""Most cells one sweep may have."""


@dataclass(frozen=True)
class Experiment:
    """A named, parameterised experiment.

    Attributes
    ----------
    name, description : str
    params : tuple of Param
        Every parameter the run function reads, with default and allowed range.
    run : callable ``(params: dict, seed: int) -> rows``
        Returns tidy rows (a list of dicts or a DataFrame), e.g. one per checkpoint.
        ``seed`` is derived per (cell, seed index) with ``numpy.random.SeedSequence``.
    grid : dict or list of dicts
        Default sweep: parameter name -> list of values (others take their
        default); a list of such dicts sweeps the union of their products.
    seeds : int
        Default number of seeds (``0 .. seeds-1``).
    quick : dict
        The CI-sized preset: ``{"grid": {...}, "seeds": n}``.
    plots : tuple of PlotSpec
    version : str
        Bump when the run function's output changes: stored results of other
        versions are ignored (they are keyed by it).
    rates : tuple of RateClaim
        The log-log rates the experiment's theorems claim; ``mdplab rates NAME``
        fits them on the stored results (:func:`mdplab.lab.rates.check_rates`).
    check : callable ``(params: dict) -> None``, optional
        Rejects a parameter combination the run cannot handle (raise
        ``ValueError`` saying why, e.g. more successors than states). ``sweep``
        and ``run`` call it on every cell before running any, so an impossible
        grid is refused at the start instead of stored as failures.
    """

    name: str
    description: str
    params: tuple[Param, ...]
    run: RunFunction
    grid: Mapping[str, Sequence] = field(default_factory=dict)
    seeds: int = 5
    quick: Mapping = field(default_factory=dict)
    plots: tuple[PlotSpec, ...] = ()
    version: str = "1"
    rates: tuple[RateClaim, ...] = ()
    check: Callable[[dict], None] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Experiment name must be a non-empty string; got {self.name!r}")
        if not callable(self.run):
            raise TypeError(f"experiment {self.name}: run must be callable; got "
                            f"{type(self.run).__name__}")
        for p in self.params:
            if not isinstance(p, Param):
                raise TypeError(f"experiment {self.name}: params must be Param objects; got "
                                f"{type(p).__name__}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"experiment {self.name}: seeds must be an integer >= 1; got "
                             f"{self.seeds!r}")
        unknown = set(self.quick) - {"grid", "seeds"}
        if unknown:
            raise ValueError(f"experiment {self.name}: quick keys must be 'grid' and 'seeds'; "
                             f"got {sorted(unknown)}")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name}: duplicate parameter names")
        reserved = {"seed", "seeds"} & set(names)
        if reserved:
            raise ValueError(f"experiment {self.name}: parameter names {sorted(reserved)} "
                             "are reserved (the seed column and the CLI's seeds=)")
        for preset in (self.grid, self.quick.get("grid", {})):
            for sub in _subgrids(preset):
                self.check_grid(sub)
        object.__setattr__(self, "rates", tuple(self.rates))
        self._check_rates()

    def _check_rates(self) -> None:
        seen = set()
        params = self.param_map
        for claim in self.rates:
            if not isinstance(claim, RateClaim):
                raise ValueError(f"experiment {self.name}: rates must be RateClaim objects; "
                                 f"got {type(claim).__name__}")
            if claim.name in seen:
                raise ValueError(f"experiment {self.name}: rate name {claim.name!r} is "
                                 "declared twice")
            seen.add(claim.name)
            for col in (claim.x, claim.y):
                if col in params and params[col].kind not in ("int", "float"):
                    raise ValueError(f"experiment {self.name}, rate {claim.name}: column "
                                     f"{col!r} is a {params[col].kind} parameter; a log-log "
                                     "slope needs a numeric column")
            for key, value in claim.where.items():
                if key not in params:
                    continue  # an output column: checked against the stored rows
                for v in value if isinstance(value, tuple) else (value,):
                    try:
                        params[key].validate(v)
                    except LabError as exc:
                        raise ValueError(f"experiment {self.name}, rate {claim.name}: "
                                         f"where {exc}") from None

    @property
    def param_map(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        try:
            return self.param_map[name]
        except KeyError:
            valid = ", ".join(p.name for p in self.params) or "(none)"
            raise LabError(
                f"experiment {self.name} has no parameter {name!r}; valid: {valid}"
            ) from None

    def check_grid(self, grid: Mapping[str, Sequence]) -> dict[str, list]:
        """Validate every value of a grid; returns it with coerced values."""
        return {k: [self.param(k).validate(v) for v in vs] for k, vs in grid.items()}

    def preset(self, quick: bool = False) -> tuple[list[dict[str, list]], int]:
        """``(grids, n_seeds)`` of the default or quick preset (a list of sub-grids)."""
        if quick:
            grid, seeds = self.quick.get("grid", self.grid), self.quick.get("seeds", 2)
        else:
            grid, seeds = self.grid, self.seeds
        return [dict(g) for g in _subgrids(grid)], int(seeds)

    def check_cells(self, cells: list[dict]) -> None:
        """Run :attr:`check` on every cell; the first refusal is a LabError naming it."""
        if self.check is None:
            return
        for cell in cells:
            try:
                self.check(dict(cell))
            except (ValueError, TypeError) as exc:
                changed = {k: v for k, v in cell.items() if v != self.param(k).default}
                raise LabError(f"experiment {self.name} cannot run the cell "
                               f"{changed or '(defaults)'}: {exc}") from None

    def cells(self, grid) -> list[dict]:
        """Cells of a grid (or the union of a list of grids) over the defaults,
        in a stable order and without repeats (at most :data:`MAX_CELLS`)."""
        base = self.defaults()
        out, seen = [], set()
        subs = [self.check_grid(sub) for sub in _subgrids(grid)]
        total = sum(math.prod(len(v) for v in sub.values()) for sub in subs)
        if total > MAX_CELLS:
            raise LabError(f"experiment {self.name}: the grid has {total} cells; the limit is "
                           f"{MAX_CELLS}")
        for sub in subs:
            keys = [p.name for p in self.params if p.name in sub]
            for combo in itertools.product(*(sub[k] for k in keys)):
                cell = dict(base)
                cell.update(zip(keys, combo, strict=True))
                key = tuple(sorted(cell.items()))
                if key not in seen:
                    seen.add(key)
                    out.append(cell)
        return out


def _subgrids(grid) -> list:
    return [grid] if isinstance(grid, Mapping) else list(grid)


def experiment_dirs() -> list[Path]:
    """Folders searched for experiment files."""
    dirs = [Path(__file__).resolve().parents[2] / "experiments"]
    extra = os.environ.get("MDPLAB_EXPERIMENTS", "")
    dirs += [Path(p) for p in extra.split(os.pathsep) if p]
    return [d for d in dirs if d.is_dir()]


_REGISTRY: dict[str, Experiment] = {}
_LOADED: set[Path] = set()


def _load_file(path: Path) -> None:
    path = path.resolve()
    if path in _LOADED:
        return
    mod_name = f"mdplab_experiments_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    _LOADED.add(path)
    for exp in getattr(module, "EXPERIMENTS", ()):
        register(exp)


def register(exp: Experiment) -> Experiment:
    """Add an experiment to the registry (its name must be new)."""
    old = _REGISTRY.get(exp.name)
    if old is not None and old is not exp and old.run.__module__ != exp.run.__module__:
        raise ValueError(f"experiment name {exp.name!r} is registered twice")
    _REGISTRY[exp.name] = exp
    return exp


def all_experiments() -> dict[str, Experiment]:
    """Every registered experiment, loading the experiment folders first."""
    for d in experiment_dirs():
        for path in sorted(d.glob("*.py")):
            if not path.name.startswith("_"):
                _load_file(path)
    return dict(sorted(_REGISTRY.items()))


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; the error lists the valid names."""
    exps = all_experiments()
    if name not in exps:
        valid = ", ".join(exps) or "(none found)"
        raise LabError(f"unknown experiment {name!r}; valid: {valid}")
    return exps[name]

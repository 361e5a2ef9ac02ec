"""Typed experiment parameters: defaults, allowed ranges, parsing of CLI values.

Grid syntax on the command line (Hydra-style overrides):

* ``key=v``          one value;
* ``key=v1,v2,v3``   a list;
* ``key=a:b``        integers ``a, a+1, ..., b-1`` (``a:b:step`` with a step);
  for float parameters ``a:b:n`` is ``n`` log-spaced values from ``a`` to ``b``
  when both are positive (handy for eps and episode counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mdplab.lab.errors import LabError

_KINDS = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass(frozen=True)
class Param:
    """One experiment parameter.

    ``kind`` is ``"int"``, ``"float"``, ``"str"`` or ``"bool"``. Numeric
    parameters may have bounds ``low``/``high`` (inclusive unless
    ``low_open``/``high_open``); any parameter may list ``choices``.
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Param name must be a non-empty identifier; got {self.name!r}")
        for key in ("low", "high"):
            bound = getattr(self, key)
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)
                                      or not math.isfinite(bound)):
                raise ValueError(f"Param {self.name}: {key} must be a finite number or None; "
                                 f"got {bound!r}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"Param {self.name}: low={self.low} is above high={self.high}")
        if self.kind not in _KINDS:
            raise ValueError(f"Param {self.name}: kind must be one of {sorted(_KINDS)}")
        self.validate(self.default)

    @property
    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        if self.low is None and self.high is None:
            return f"any {self.kind}"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{self.kind} in {left}{lo}, {hi}{right}"

    def validate(self, value):
        """Coerce ``value`` to the parameter's type and check its range."""
        try:
            if self.kind == "bool" and isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1", "yes")
            elif self.kind == "int":
                f = float(value)
                if not f.is_integer():
                    raise ValueError(value)
                value = int(f)
            else:
                value = _KINDS[self.kind](value)
        except (TypeError, ValueError):
            raise LabError(
                f"parameter {self.name}={value!r} is not a valid {self.kind} ({self.allowed})"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise LabError(f"parameter {self.name}={value!r} must be finite ({self.allowed})")
        if self.choices is not None and value not in self.choices:
            raise LabError(f"parameter {self.name}={value!r} is not allowed ({self.allowed})")
        if self.kind in ("int", "float"):
            bad_low = self.low is not None and (
                value < self.low or (self.low_open and value == self.low))
            bad_high = self.high is not None and (
                value > self.high or (self.high_open and value == self.high))
            if bad_low or bad_high:
                raise LabError(f"parameter {self.name}={value!r} is out of range ({self.allowed})")
        return value

    def parse_values(self, text: str) -> list:
        """Parse a CLI value spec (see module docstring) into validated values."""
        text = text.strip()
        if not text:
            raise LabError(f"parameter {self.name} has an empty value")
        if ":" in text and self.kind in ("int", "float") and "," not in text:
            return [self.validate(v) for v in self._parse_range(text)]
        return [self.validate(v.strip()) for v in text.split(",")]

    def _parse_range(self, text: str) -> list:
        parts = text.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise LabError(f"parameter {self.name}={text!r}: a range is a:b or a:b:step") from None
        if len(parts) not in (2, 3):
            raise LabError(f"parameter {self.name}={text!r}: a range is a:b or a:b:step")
        if self.kind == "int":
            if not all(n.is_integer() for n in nums):
                raise LabError(f"parameter {self.name}={text!r}: integer ranges need integers")
            start, stop = int(nums[0]), int(nums[1])
            step = int(nums[2]) if len(nums) == 3 else 1
            if step == 0:
                raise LabError(f"parameter {self.name}={text!r}: step must not be 0")
            _check_count(f"parameter {self.name}", text, len(range(start, stop, step)))
            values = list(range(start, stop, step))
        else:
            if (len(nums) != 3 or nums[0] <= 0 or nums[1] <= 0 or not nums[2].is_integer()
                    or nums[2] < 1):
                raise LabError(
                    f"parameter {self.name}={text!r}: float ranges are a:b:n "
                    "(n >= 1 log-spaced values, a and b > 0)"
                )
            _check_count(f"parameter {self.name}", text, int(nums[2]))
            # Rounded to 12 significant digits so that 2:32:5 gives 8.0, not 7.999...
            values = [float(f"{v:.12g}") for v in np.geomspace(nums[0], nums[1], int(nums[2]))]
        if not values:
            raise LabError(f"parameter {self.name}={text!r} is an empty range")
        return values


MAX_VALUES = 10_000
"""Most values one parameter spec (or a seed spec) may expand to."""


def _check_count(what: str, text: str, n: int) -> None:
    if n > MAX_VALUES:
        raise LabError(f"{what}={text!r} expands to {n} values; the limit is {MAX_VALUES}")


def parse_seeds(text: str) -> list[int]:
    """``"0:20"`` -> 0..19, ``"3"`` -> [3], ``"1,5,9"`` -> [1, 5, 9]."""
    if not isinstance(text, str):
        raise TypeError(f"seeds must be a seed spec string (N, a:b or a,b,c); got {text!r}")
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] <= 0):
                raise ValueError
            seeds = range(*parts)
        else:
            seeds = [int(p) for p in text.split(",")]
    except ValueError:
        raise LabError(f"seeds={text!r} is not a seed spec (use N, a:b or a,b,c)") from None
    _check_count("seeds", text, len(seeds))
    seeds = list(seeds)
    if not seeds or min(seeds) < 0:
        raise LabError(f"seeds={text!r} must give at least one non-negative seed")
    return seeds

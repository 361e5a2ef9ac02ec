"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/X.py``)."""

from __future__ import annotations

import json
import math
import time

import numpy as np


def paired(fa, fb, blocks: int, min_time: float = 0.2, settle: float = 0.3,
           ratios: list | None = None) -> tuple[float, float, float]:
    """Interleaved timing of two functions: ``(median ratio ta/tb, min ta, min tb)``.

    Both are called once to warm up (JIT, caches), then once more to calibrate
    how many calls fill ``min_time`` per block. Blocks alternate which side
    runs first, so drift in machine load hits both alike, and the ratio is
    taken per block. Each block starts after a pause of ``settle`` seconds:
    OpenBLAS workers busy-wait for ~0.1 s after a call (OpenMP's briefly) and
    would otherwise steal the cores from whichever side runs next.
    ``ratios``, if given, receives the per-block ratios.
    """
    reps = []
    for fn in (fa, fb):
        fn()
        t = time.perf_counter()
        fn()
        reps.append(max(1, math.ceil(min_time / max(time.perf_counter() - t, 1e-7))))
    ratios = [] if ratios is None else ratios
    ta, tb = [], []
    for i in range(blocks):
        pair = {}
        order = ((0, fa), (1, fb)) if i % 2 == 0 else ((1, fb), (0, fa))
        for j, fn in order:
            time.sleep(settle)
            t = time.perf_counter()
            for _ in range(reps[j]):
                fn()
            pair[j] = (time.perf_counter() - t) / reps[j]
        ratios.append(pair[0] / pair[1])
        ta.append(pair[0])
        tb.append(pair[1])
    return float(np.median(ratios)), min(ta), min(tb)


def emit(out: dict, path: str | None) -> dict:
    """Print the results as JSON and write them to ``path`` if given."""
    text = json.dumps(out, indent=2)
    print(text)
    if path:
        with open(path, "w") as fh:
            fh.write(text + "\n")
    return out

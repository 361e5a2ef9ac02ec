import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
settings.register_profile("long", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_dense(rng, S, A, H=None, zeros=0.3):
    """A random ``(S, A, S)`` or ``(H, S, A, S)`` kernel with structural zeros."""
    return random_kernel(rng, (S, A, S) if H is None else (H, S, A, S), zeros)


def random_kernel(rng, shape, zeros=0.5):
    """Random rows over the last axis with structural zeros (>= 1 successor per row)."""
    S = shape[-1]
    P = rng.random(shape) * (rng.random(shape) > zeros)
    flat = P.reshape(-1, S)
    empty = flat.sum(1) == 0
    flat[empty, rng.integers(0, S, empty.sum())] = 1.0
    P = flat.reshape(shape)
    return P / P.sum(-1, keepdims=True)

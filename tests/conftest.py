import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_dense(rng, S, A, H=None, zeros=0.3):
    """A random kernel with some structural zeros (every row keeps >= 1 successor)."""
    shape = (S, A, S) if H is None else (H, S, A, S)
    P = rng.random(shape) * (rng.random(shape) > zeros)
    flat = P.reshape(-1, S)
    empty = flat.sum(1) == 0
    flat[empty, rng.integers(0, S, empty.sum())] = 1.0
    P = flat.reshape(shape)
    return P / P.sum(-1, keepdims=True)

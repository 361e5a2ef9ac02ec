"""A stream random-number generator for numba kernels: xoshiro256** seeded by splitmix64.

Why not ``np.random`` inside ``prange``? Numba's NumPy RNG keeps one state per
*thread*, so the numbers an episode sees depend on which thread ran it and the
result changes with ``NUMBA_NUM_THREADS``. Here every episode (or every
state-action pair, or every chunk of draws) owns an independent *stream*: a
4-word ``uint64`` state array seeded from its own 64-bit seed. Which thread
runs a stream is irrelevant, so parallel loops are bitwise reproducible for any
thread count.

Algorithms (Blackman & Vigna, "Scrambled linear pseudorandom number
generators", ACM Trans. Math. Softw. 47(4), 2021; reference code at
https://prng.di.unimi.it/):

* **xoshiro256**\\*\\* -- state ``s = (s0, s1, s2, s3)`` of 256 bits, period
  ``2^256 - 1``; output ``rotl(s1 * 5, 7) * 9``, then the linear update
  ``t = s1 << 17; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45)``.
  All arithmetic is modulo ``2^64``.
* **splitmix64** (Steele, Lea & Flood, OOPSLA 2014) -- ``z = x + 0x9e3779b97f4a7c15``
  followed by the finaliser ``z = (z ^ z>>30) * 0xbf58476d1ce4e5b9;
  z = (z ^ z>>27) * 0x94d049bb133111eb; z ^ z>>31``. It expands a 64-bit seed
  into the four state words (the seeding Vigna recommends) and, being a
  bijection of its counter, never yields the forbidden all-zero state.
* **doubles** -- ``(x >> 11) * 2^-53``: the top 53 bits, uniform on the grid
  ``{k / 2^53 : 0 <= k < 2^53}`` in ``[0, 1)`` (never 1.0).

Seed derivation (Python side). A user seed (int, ``numpy.random.Generator``,
``numpy.random.SeedSequence`` or ``None``) becomes a 128-bit *key*
``(k0, k1)`` through :class:`numpy.random.SeedSequence` (a Generator
contributes 256 fresh bits of its own stream, so it is advanced). Stream ``i``
then gets the seed ``splitmix64_mix(k0 + (i + 1) * 0x9e3779b97f4a7c15) ^ k1``:
distinct for distinct ``i`` (the finaliser is a bijection), well mixed, cheap to
compute for millions of streams, and independent of ``n`` -- the first ``m``
seeds of ``stream_seeds(seed, n)`` are ``stream_seeds(seed, m)``.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit

__all__ = [
    "SeedLike",
    "fill_uniform",
    "new_state",
    "next_double",
    "next_uint64",
    "seed_sequence",
    "seed_state",
    "seeds_from_key",
    "splitmix64_mix",
    "stream_key",
    "stream_seeds",
    "uniforms",
]

SeedLike = int | np.integer | np.random.Generator | np.random.SeedSequence | None
"""Accepted seeds: a non-negative integer, a numpy Generator (advanced by the
call), a SeedSequence, or ``None`` (fresh OS entropy, not reproducible)."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U5 = np.uint64(5)
_U9 = np.uint64(9)
_SH7 = np.uint64(7)
_SH57 = np.uint64(57)
_SH11 = np.uint64(11)
_SH17 = np.uint64(17)
_SH27 = np.uint64(27)
_SH30 = np.uint64(30)
_SH31 = np.uint64(31)
_SH45 = np.uint64(45)
_SH19 = np.uint64(19)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2^-53


# --------------------------------------------------------------------- kernels
@njit(cache=True)
def splitmix64_mix(z):
    """The splitmix64 finaliser (a bijection of ``uint64``); ``z`` must be ``uint64``."""
    z = (z ^ (z >> _SH30)) * _MIX1
    z = (z ^ (z >> _SH27)) * _MIX2
    return z ^ (z >> _SH31)


@njit(cache=True)
def seed_state(seed, state):
    """Fill the xoshiro256** ``state`` (``uint64[4]``) from a ``uint64`` seed.

    ``state[j] = splitmix64_mix(seed + (j + 1) * 0x9e3779b97f4a7c15)``, i.e. the
    first four outputs of a splitmix64 generator started at ``seed``.
    """
    x = np.uint64(seed)
    for j in range(4):
        x = x + _GOLDEN
        state[j] = splitmix64_mix(x)


@njit(cache=True)
def new_state(seed):
    """A fresh ``uint64[4]`` xoshiro256** state seeded by :func:`seed_state`."""
    state = np.empty(4, dtype=np.uint64)
    seed_state(seed, state)
    return state


@njit(cache=True)
def next_uint64(state):
    """Next 64-bit output of xoshiro256** (advances ``state`` in place)."""
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    x = s1 * _U5
    result = ((x << _SH7) | (x >> _SH57)) * _U9
    t = s1 << _SH17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _SH45) | (s3 >> _SH19)
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return result


@njit(cache=True)
def next_double(state):
    """A uniform double in ``[0, 1)``: the top 53 bits of :func:`next_uint64` times ``2^-53``."""
    return np.float64(next_uint64(state) >> _SH11) * _TWO_M53


@njit(cache=True)
def fill_uniform(state, out):
    """Fill the float64 array ``out`` with successive :func:`next_double` draws."""
    for i in range(out.size):
        out[i] = next_double(state)


@njit(cache=True)
def seeds_from_key(k0, k1, start, n):
    """Stream seeds ``i = start, ..., start + n - 1``: ``splitmix64_mix(k0 + (i+1) G) ^ k1``."""
    out = np.empty(n, dtype=np.uint64)
    a = np.uint64(k0)
    b = np.uint64(k1)
    for j in range(n):
        i = np.uint64(start + j + 1)
        out[j] = splitmix64_mix(a + i * _GOLDEN) ^ b
    return out


# ---------------------------------------------------------------- Python side
def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """The :class:`numpy.random.SeedSequence` behind a user seed.

    An integer ``seed`` gives ``SeedSequence(seed)``; a ``Generator`` gives a
    SeedSequence built from 256 bits drawn from it (so it is advanced, and two
    calls with the same Generator differ while a re-seeded Generator repeats);
    a SeedSequence is used as is; ``None`` draws fresh OS entropy.
    """
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        words = seed.integers(0, 2**64, size=4, dtype=np.uint64)
        return np.random.SeedSequence([int(w) for w in words])
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            "seed must be a non-negative int, a numpy.random.Generator, a "
            f"numpy.random.SeedSequence or None; got {type(seed).__name__} {seed!r}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed}")
    return np.random.SeedSequence(int(seed))


def stream_key(seed: SeedLike) -> tuple[np.uint64, np.uint64]:
    """The 128-bit key ``(k0, k1)`` from which all stream seeds of ``seed`` derive."""
    k = seed_sequence(seed).generate_state(2, dtype=np.uint64)
    return k[0], k[1]


def stream_seeds(seed: SeedLike, n: int) -> np.ndarray:
    """``n`` per-stream ``uint64`` seeds derived from ``seed`` (see module docstring).

    Stream ``i`` of a parallel loop is seeded with ``seeds[i]`` via
    :func:`seed_state`, so its draws do not depend on the thread that runs it.
    Prefix-stable: ``stream_seeds(s, n)[:m]`` equals ``stream_seeds(s, m)`` for
    equal integer / SeedSequence seeds.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"number of streams must be >= 0; got {n}")
    k0, k1 = stream_key(seed)
    return seeds_from_key(k0, k1, 0, n)


def uniforms(seed: SeedLike, n: int) -> np.ndarray:
    """``n`` uniform doubles in ``[0, 1)`` from the single stream ``stream_seeds(seed, 1)[0]``."""
    state = new_state(stream_seeds(seed, 1)[0])
    out = np.empty(int(n), dtype=np.float64)
    fill_uniform(state, out)
    return out

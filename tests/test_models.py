"""TabularMDP: construction, storage forms, immutability and the bad-input catalogue."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_dense

from mdplab.models import TabularMDP


def good(S=3, A=2):
    P = np.full((S, A, S), 1.0 / S)
    R = np.zeros((S, A))
    return P, R


def with_P(fix):
    P, R = good()
    fix(P)
    return P, R


def _bad_row(P):
    P[2, 1] = [0.5, 0.47, 0.0]


def _neg(P):
    P[1, 0] = [1.2, -0.2, 0.0]


def _nan(P):
    P[0, 1, 2] = np.nan


# (kwargs for TabularMDP, regex the message must match)
CATALOGUE = [
    # transitions
    (dict(zip("PR", with_P(_bad_row), strict=True), gamma=0.9), r"P\[2, 1, :\] sums to 0\.97"),
    (dict(zip("PR", with_P(_neg), strict=True), gamma=0.9), r"P\[1, 0, 1\] = -0\.2 is negative"),
    (dict(zip("PR", with_P(_nan), strict=True), gamma=0.9), r"P\[0, 1, 2\] is nan"),
    (dict(P=np.full((3, 2, 4), 0.25), R=np.zeros((3, 2)), gamma=0.9), r"next-state axis"),
    (dict(P=np.full((3, 3), 1 / 3), R=np.zeros((3, 1)), gamma=0.9), r"P must have shape"),
    (dict(P=np.array([["a"]]), R=np.zeros((1, 1)), gamma=0.9), r"P must be a real numeric"),
    (dict(P=np.full((2, 3, 2, 3), 1 / 3), R=np.zeros((3, 2)), gamma=0.9), r"needs horizon"),
    (dict(P=np.full((2, 3, 2, 3), 1 / 3), R=np.zeros((3, 2)), horizon=5),
     r"P has 2 stages .* horizon=5"),
    # rewards
    (dict(P=good()[0], R=np.zeros((3, 3)), gamma=0.9),
     r"R has shape \(3, 3\).*\(S, A\) = \(3, 2\)"),
    (dict(P=good()[0], R=np.zeros(3), gamma=0.9), r"R must have shape"),
    (dict(P=good()[0], R=np.array([[0, 1], [np.inf, 0], [0, 0]]), gamma=0.9),
     r"R\[1, 0\] is inf; rewards must be finite"),
    (dict(P=good()[0], R=np.zeros((4, 3, 2)), gamma=0.9), r"stage-dependent R .* needs horizon"),
    (dict(P=good()[0], R=np.zeros((4, 3, 2)), horizon=3), r"R has 4 stages .* horizon=3"),
    # horizon / gamma
    (dict(P=good()[0], R=good()[1], horizon=0), r"horizon must be an integer >= 1; got 0"),
    (dict(P=good()[0], R=good()[1], horizon=2.5), r"horizon must be an integer"),
    (dict(P=good()[0], R=good()[1], gamma=1.0), r"gamma must be in \[0, 1\); got 1\.0"),
    (dict(P=good()[0], R=good()[1], gamma=-0.1), r"gamma must be in \[0, 1\)"),
    (dict(P=good()[0], R=good()[1], gamma="0.9"), r"gamma must be a real number"),
    (dict(P=good()[0], R=good()[1]), r"exactly one of gamma"),
    (dict(P=good()[0], R=good()[1], gamma=0.9, horizon=3), r"exactly one of gamma"),
    # initial distribution
    (dict(P=good()[0], R=good()[1], gamma=0.9, init=3), r"init = 3 is not a state index"),
    (dict(P=good()[0], R=good()[1], gamma=0.9, init=[0.5, 0.6, 0.0]), r"init sums to 1\.1"),
    (dict(P=good()[0], R=good()[1], gamma=0.9, init=[1.5, -0.5, 0.0]), r"init\[1\] = -0\.5"),
    (dict(P=good()[0], R=good()[1], gamma=0.9, init=[1.0, 0.0]), r"init must be .* shape \(3,\)"),
    # sparse form
    (dict(P=sp.csr_matrix(np.full((5, 3), 1 / 3)), R=np.zeros((3, 2)), gamma=0.9),
     r"sparse P has shape \(5, 3\)"),
    (dict(P=sp.csr_matrix(np.array([[1.0, 0, 0], [0.5, 0.4, 0]] + [[1.0, 0, 0]] * 4)),
          R=np.zeros((3, 2)), gamma=0.9), r"P\[0, 1, :\] sums to 0\.9"),
    (dict(P=sp.csr_matrix(np.array([[1.0, 0, 0]] * 5 + [[0.0, 0, 0]])),
          R=np.zeros((3, 2)), gamma=0.9), r"P\[2, 1, :\] sums to 0;"),
    (dict(P=sp.csr_matrix(np.array([[1.0, 0, 0]] * 5 + [[1.5, -0.5, 0]])),
          R=np.zeros((3, 2)), gamma=0.9), r"P\[2, 1, 1\] = -0\.5 is negative"),
]


@pytest.mark.parametrize("kwargs, match", CATALOGUE)
def test_bad_input_catalogue(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TabularMDP(**kwargs)


def test_catalogue_covers_every_field():
    fields = {"P", "R", "horizon", "gamma", "init"}
    starts = [pattern.replace("\\", "") for _, pattern in CATALOGUE]
    named = {f for f in fields for start in starts if start.startswith(f)}
    assert len(CATALOGUE) >= 15 and named == fields


def test_from_successors_bad_index():
    succ = np.zeros((3, 2, 2), dtype=int)
    succ[1, 0, 1] = 7
    with pytest.raises(ValueError, match=r"successors\[1, 0, 1\] = 7 is not a state index"):
        TabularMDP.from_successors(succ, np.full((3, 2, 2), 0.5), np.zeros((3, 2)), gamma=0.9)


def test_immutable_and_does_not_freeze_caller_arrays():
    P, R = good()
    mdp = TabularMDP(P, R, gamma=0.9)
    P[0, 0] = [1.0, 0.0, 0.0]  # the caller's array stays writable and independent
    assert mdp.P[0, 0, 0] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        mdp.P[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        mdp.R[0, 0] = 1.0
    with pytest.raises(AttributeError, match="immutable"):
        mdp.gamma = 0.5
    other = mdp.replace(gamma=0.5)
    assert other.gamma == 0.5 and mdp.gamma == 0.9


def test_dense_sparse_round_trip(rng):
    P = random_dense(rng, 5, 3, H=4)
    R = rng.random((4, 5, 3))
    dense = TabularMDP(P, R, horizon=4, init=[0.2, 0.2, 0.2, 0.2, 0.2])
    sparse = dense.to_sparse()
    assert sparse.is_sparse and not dense.is_sparse
    assert not sparse.stationary and not sparse.transitions_stationary
    np.testing.assert_array_equal(sparse.dense_P(), dense.P)
    np.testing.assert_array_equal(sparse.to_dense().P, dense.P)
    assert sparse.nnz == np.count_nonzero(P)


def test_from_successors_sums_repeats():
    succ = np.array([[[0, 0]], [[1, 0]]])
    prob = np.array([[[0.5, 0.5]], [[0.25, 0.75]]])
    mdp = TabularMDP.from_successors(succ, prob, np.zeros((2, 1)), gamma=0.5)
    np.testing.assert_array_equal(mdp.dense_P()[:, 0], [[1.0, 0.0], [0.75, 0.25]])


def test_sparse_stage_dependent_from_scipy(rng):
    P = random_dense(rng, 3, 2, H=2)
    mdp = TabularMDP(sp.csr_matrix(P.reshape(-1, 3)), np.zeros((3, 2)), horizon=2)
    assert mdp.is_sparse and not mdp.transitions_stationary and mdp.n_stages == 2
    np.testing.assert_allclose(mdp.dense_P(), P)


def test_repr_mentions_form():
    mdp = TabularMDP(*good(), horizon=3, name="toy")
    assert "toy" in repr(mdp) and "horizon=3" in repr(mdp) and "dense" in repr(mdp)

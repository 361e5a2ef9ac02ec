"""Independent reference computations for POMDP planning tests (plain numpy, no mdplab).

* :func:`policy_tree_vectors` enumerates every depth-``H`` policy tree (an action per
  node of the full ``|O|``-ary tree) and values it by pushing the joint distribution
  of (start state, current state) *forward* through the tree -- no alpha-vector
  backups;
* :func:`belief_tree_optimum` is the optimal value at one belief by exhaustive
  search over actions with Bayes' rule at every node;
* :func:`controller_value_forward` values a finite-state controller by pushing the
  joint distribution of (node, state) forward in time.
"""

from __future__ import annotations

import itertools

import numpy as np


def _tree_nodes(H: int, n_obs: int) -> list[tuple[int, int, int]]:
    """Nodes ``(depth, parent, observation)`` of the full tree in breadth-first order."""
    nodes = [(0, -1, -1)]
    frontier = [0]
    for depth in range(1, H):
        nxt = []
        for parent in frontier:
            for o in range(n_obs):
                nodes.append((depth, parent, o))
                nxt.append(len(nodes) - 1)
        frontier = nxt
    return nodes


def policy_tree_vectors(T, O, R, H: int, discount: float = 1.0, limit: int = 200_000):
    """``(n_trees, S)``: the value of every policy tree from every start state."""
    S, A, _ = T.shape
    n_obs = O.shape[2]
    nodes = _tree_nodes(H, n_obs)
    n_trees = A ** len(nodes)
    if n_trees > limit:
        raise ValueError(f"{n_trees} policy trees is too many to enumerate")
    acts = np.array(list(itertools.product(range(A), repeat=len(nodes))))  # (n_trees, nodes)
    # dist[k][t, s0, s]: Pr(reach node k with state s | start s0) under tree t
    dist = [None] * len(nodes)
    dist[0] = np.broadcast_to(np.eye(S), (n_trees, S, S)).copy()
    values = np.zeros((n_trees, S))
    for k, (depth, parent, o) in enumerate(nodes):
        if k > 0:
            a = acts[:, parent]
            step = T[:, a, :].transpose(1, 0, 2) * O[a, :, o][:, None, :]  # (trees, S, S')
            dist[k] = np.einsum("tis,tsu->tiu", dist[parent], step)
        a = acts[:, k]
        values += discount**depth * np.einsum("tis,st->ti", dist[k], R[:, a])
    return values


def belief_tree_optimum(T, O, R, b, H: int, discount: float = 1.0) -> float:
    """``max`` over actions at every node of the belief tree, with exact Bayes updates."""
    if H == 0:
        return 0.0
    S, A, _ = T.shape
    best = -np.inf
    for a in range(A):
        q = float(b @ R[:, a])
        pred = b @ T[:, a, :]
        for o in range(O.shape[2]):
            joint = pred * O[a, :, o]
            p = joint.sum()
            if p > 0:
                q += discount * p * belief_tree_optimum(T, O, R, joint / p, H - 1, discount)
        best = max(best, q)
    return best


def controller_value_forward(T, O, R, psi, eta, init_node, b, steps: int, discount: float):
    """``sum_{t < steps} discount^t E[R(s_t, a_t)]`` for a controller with action rule
    ``psi (N, A)`` and node transitions ``eta (N, A, O, N)``, from node distribution
    ``init_node`` and state distribution ``b``."""
    joint = np.outer(init_node, b)  # (N, S)
    total = 0.0
    for t in range(steps):
        # Pr(n, s, a) = joint[n, s] psi[n, a]
        nsa = joint[:, :, None] * psi[:, None, :]
        total += discount**t * float(np.einsum("nsa,sa->", nsa, R))
        # Pr(n', s') = sum Pr(n, s, a) T(s, a, s') O(a, s', o) eta(n, a, o, n')
        joint = np.einsum("nsa,sat,ato,naom->mt", nsa, T, O, eta)
    return total

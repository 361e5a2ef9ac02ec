"""Global-local (SUB-SAMPLE-Q) instances: demand response and a queueing stand-in.

Both return a :class:`~mdplab.models.global_local.GlobalLocalSystem`; see its
module for the model, the exact count MDP and the samplers.

Tractability of the exact count MDP (``|S_g| C(n + |S_l| - 1, |S_l| - 1)`` states),
measured by ``benchmarks/models.py`` (build the count MDP and certify ``V*`` to
1e-8 by value iteration) on a 2-core machine:

==============================  =====  ==============================================
instance                        |S_l|  largest n in ~30 s (time, transition entries)
==============================  =====  ==============================================
``demand_response``              25    n = 3 (2.5 s, 8.9e6); n = 4 has 3.1e8 entries,
                                       over the default ``max_nnz`` (~3 min if raised)
``demand_response(levels=3)``     9    n = 8 (31 s, 1.5e8); n = 7: 8 s
``demand_response(levels=2)``     4    n = 35 (22 s, 7.5e7); n = 40: 43 s
``queueing`` (capacity 3)         4    n = 30 (33 s, 1.1e8); n = 25: 9 s
==============================  =====  ==============================================
"""

from __future__ import annotations

import numpy as np

from mdplab.envs._common import check_int, check_prob, check_real
from mdplab.models.global_local import GlobalLocalSystem

DEMAND_RESPONSE_ACTIONS = (-1, 0, 1)
"""Global actions of :func:`demand_response`, in action-index order."""


def demand_response_local_index(x: int, y: int, levels: int = 5) -> int:
    """Local-state index ``(x - 1) * levels + (y - 1)`` of ``(x, y)``, ``1 <= x, y <= levels``."""
    levels = check_int(levels, "levels", 2)
    x = check_int(x, "x", 1)
    y = check_int(y, "y", 1)
    if x > levels or y > levels:
        raise ValueError(f"(x, y) = ({x}, {y}) must lie in {{1..{levels}}}^2")
    return (x - 1) * levels + (y - 1)


def demand_response(
    n_agents: int,
    gamma: float = 0.9,
    *,
    levels: int = 5,
    supply_reward: float = 15.0,
    down_cost: float = 1.0,
    excess_penalty: float = 0.5,
    shift_prob: float = 0.5,
    init_g=None,
    init_l=None,
) -> GlobalLocalSystem:
    """The demand-response system of the SUB-SAMPLE-Q experiments.

    With ``D = levels`` (5 in the source):

    * global state ``s_g in {1..D}`` (index ``s_g - 1``), actions
      ``a_g in {-1, 0, +1}`` (index ``a_g + 1``); ``s_g' = clip(s_g + a_g, 1, D)``;
    * local state ``(x, y) in {1..D}^2`` (index :func:`demand_response_local_index`),
      ``|S_l| = D^2``; given ``s_g``: if ``y <= s_g`` then ``x' = y``, else
      ``x' = clip(y + (s_g - x) delta, 1, D)`` with ``delta ~ Bernoulli(shift_prob)``;
      independently ``y' ~ Uniform{1..D}``;
    * reward ``supply_reward / s_g - down_cost 1{a_g = -1}
      + (1/n) sum_i [x_i - excess_penalty 1{x_i > s_g}]``;
    * start: ``s_g`` and every ``(x_i, y_i)`` uniform and independent (override with
      ``init_g`` / ``init_l``, as in :class:`GlobalLocalSystem`).

    Provenance. Verified against the authors' public script (emiletimothy/RL_sampling
    ``small_scale.py``, commit d8c5e95): the spaces for ``D = 5``, the clip rule, the
    ``Bernoulli(1/2)`` shift, the uniform ``y'``, the reward constants 15, 1, 0.5, the
    uniform start and ``gamma = 0.9``. Interpreted (ours): reading ``x`` as the current
    and ``y`` as the desired demand and ``s_g`` as the supply level (the script names
    none of them); the parameter names; and every ``levels != 5`` variant -- ``levels=3``
    (``|S_l| = 9``) or ``levels=2`` (``|S_l| = 4``) is our small variant for exact
    solves at larger ``n`` (the count MDP of ``levels=5`` is tractable for ``n <= 3``
    only). The script learns with a certainty-equivalent local transition; this
    function is the true stochastic system its deployment simulates.

    Note for experiments: with the verified constants the optimal policy ignores the
    local states (``a_g = 0`` at ``s_g = 1``, ``a_g = -1`` elsewhere: the global term
    ``15 / s_g`` dominates), so ``V*`` is the same for every ``n`` and an exactly
    learned ``pi_k`` is optimal for every ``k``. The local states start to matter for
    ``supply_reward`` around 1 or below (checked at ``levels=3``, ``n=6``).
    """
    n = check_int(n_agents, "n_agents", 1)
    D = check_int(levels, "levels", 2)
    c_sup = check_real(supply_reward, "supply_reward")
    c_down = check_real(down_cost, "down_cost")
    c_exc = check_real(excess_penalty, "excess_penalty")
    q = check_prob(shift_prob, "shift_prob")

    A = len(DEMAND_RESPONSE_ACTIONS)
    P_g = np.zeros((D, A, D))
    r_g = np.zeros((D, A))
    for g in range(D):
        for a, move in enumerate(DEMAND_RESPONSE_ACTIONS):
            P_g[g, a, min(max(g + move, 0), D - 1)] = 1.0
            r_g[g, a] = c_sup / (g + 1) - c_down * (move == -1)

    L = D * D
    P_l = np.zeros((L, D, L))
    r_l = np.zeros((L, D))
    for x in range(1, D + 1):
        for y in range(1, D + 1):
            s = (x - 1) * D + (y - 1)
            for g in range(D):
                sg = g + 1
                r_l[s, g] = x - c_exc * (x > sg)
                if y <= sg:
                    x_law = {y: 1.0}
                else:
                    shifted = min(max(y + (sg - x), 1), D)
                    x_law = {y: 1.0 - q}
                    x_law[shifted] = x_law.get(shifted, 0.0) + q
                for x2, px in x_law.items():
                    for y2 in range(1, D + 1):
                        P_l[s, g, (x2 - 1) * D + (y2 - 1)] += px / D
    return GlobalLocalSystem(
        P_g,
        P_l,
        r_g,
        r_l,
        n,
        gamma,
        init_g=init_g,
        init_l=init_l,
        name=f"demand_response(levels={D})",
    )


def queueing(
    n_agents: int,
    queue_capacity: int = 3,
    gamma: float = 0.9,
    *,
    service_probs=(0.2, 0.5, 0.8),
    arrival_prob: float = 0.4,
    service_cost: float = 0.2,
    init_g=0,
    init_l=0,
) -> GlobalLocalSystem:
    """A queueing stand-in: a global server chooses the service level of ``n`` queues.

    Every element and parameter is our design [D]; the SUB-SAMPLE-Q paper's queueing
    setting was not recoverable. With ``K = len(service_probs)`` levels and
    capacity ``C = queue_capacity``:

    * global state ``s_g in {0..K-1}`` is the current service level; action
      ``a_g in {0..K-1}`` sets the next level: ``s_g' = a_g`` (deterministic);
    * local state ``q in {0..C}`` is a queue length; given ``s_g`` a job is served
      with probability ``service_probs[s_g]`` if ``q > 0``, then one arrives with
      probability ``arrival_prob``: ``q' = min(q - served + arrived, C)``, all
      queues independent;
    * reward ``r_g(s_g, a_g) = -service_cost * a_g`` (cost of the level ordered) and
      ``r_l(q, s_g) = -q / C`` (mean normalised backlog);
    * start: level ``init_g`` (default 0) and every queue at ``init_l`` (default
      empty); both accept distributions as in :class:`GlobalLocalSystem`.

    Guesses (all defaults): ``K = 3`` levels with service probabilities
    ``(0.2, 0.5, 0.8)``, ``arrival_prob = 0.4``, ``service_cost = 0.2``,
    ``queue_capacity = 3``, ``gamma = 0.9``. They were picked so that the optimal
    policy depends on the counts (at ``n = 10`` it serves fast in 50-65% of the
    count states, depending on the current level); with ``service_cost >= 0.3`` it is
    always the slowest level and ``<= 0.02`` always the fastest, and then ``V*`` does
    not depend on ``n`` and every subsampled policy is optimal.
    """
    n = check_int(n_agents, "n_agents", 1)
    C = check_int(queue_capacity, "queue_capacity", 1)
    lam = check_prob(arrival_prob, "arrival_prob")
    cost = check_real(service_cost, "service_cost")
    mu = np.asarray(service_probs, dtype=float)
    if mu.ndim != 1 or mu.size < 1:
        raise ValueError(f"service_probs must be a non-empty 1-d sequence; got {service_probs!r}")
    for j, p in enumerate(mu):
        check_prob(float(p), f"service_probs[{j}]")
    K = mu.size

    P_g = np.zeros((K, K, K))
    P_g[:, np.arange(K), np.arange(K)] = 1.0
    r_g = -cost * np.broadcast_to(np.arange(K, dtype=float), (K, K)).copy()

    P_l = np.zeros((C + 1, K, C + 1))
    for q in range(C + 1):
        for g in range(K):
            serve = mu[g] if q > 0 else 0.0
            for served, ps in ((1, serve), (0, 1.0 - serve)):
                for arrived, pa in ((1, lam), (0, 1.0 - lam)):
                    P_l[q, g, min(q - served + arrived, C)] += ps * pa
    r_l = -np.broadcast_to(np.arange(C + 1, dtype=float)[:, None] / C, (C + 1, K)).copy()
    return GlobalLocalSystem(
        P_g,
        P_l,
        r_g,
        r_l,
        n,
        gamma,
        init_g=init_g,
        init_l=init_l,
        name=f"queueing(capacity={C}, levels={K})",
    )

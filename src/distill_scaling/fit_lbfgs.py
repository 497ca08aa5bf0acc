"""A batched, bound-constrained L-BFGS: many independent minimisations advanced together in numpy.

Why: a fit refines hundreds of grid starts and a bootstrap refits thousands of resamples. Each is a small
problem (6 to 9 coordinates, a few hundred runs) for which scipy's L-BFGS-B spends most of its time in Python
and numpy call overhead. Advancing all of them in lock-step turns thousands of tiny numpy calls into a few
large ones.

The method is projected L-BFGS: the two-loop recursion restricted to the coordinates not held at their lower
bound, a projected backtracking (Armijo) line search, and the curvature pairs of each problem kept apart. It
is a fast *first* stage only: every solution the package reports is finished by scipy's L-BFGS-B and must pass
the projected-gradient test of :mod:`distill_scaling.fit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fit_objective import LogLaw, RunData


@dataclass
class BatchResult:
    """Solutions of a batch: coordinates, scaled objectives, projected-gradient norms, iterations."""

    theta: np.ndarray
    objective: np.ndarray
    projected_gradient: np.ndarray
    n_iter: np.ndarray
    n_eval: int


def _lower(law: LogLaw) -> np.ndarray:
    return np.array([-np.inf if lo is None else lo for lo, _ in law.bounds])


def batch_minimize(
    law: LogLaw,
    data: RunData,
    starts: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    max_iter: int = 3000,
    memory: int = 10,
    pg_tol: float = 1e-9,
    f_tol: float = 1e-9,
    patience: int = 25,
) -> BatchResult:
    """Minimise the scaled objective from every row of ``starts`` (one problem per row).

    ``weights`` (rows x runs) gives each problem its own run weights (bootstrap counts). A problem stops when
    its largest projected-gradient component is below ``pg_tol``, when ``patience`` iterations in a row have
    not lowered its objective by a relative ``f_tol`` in total (it crawls along a flat valley: the finishing
    scipy run and the optimality test decide), when its line search fails, or at ``max_iter``.
    """
    x = np.array(starts, float, copy=True)
    k_rows, p = x.shape
    lower = _lower(law)
    x = np.maximum(x, lower)
    w_all = weights

    def evaluate(idx: np.ndarray, pts: np.ndarray):
        return law.batch_objective_and_grad(pts, data, None if w_all is None else w_all[idx])

    f, g = evaluate(np.arange(k_rows), x)
    n_eval = k_rows
    S = np.zeros((k_rows, memory, p))
    Y = np.zeros((k_rows, memory, p))
    rho = np.zeros((k_rows, memory))
    n_mem = np.zeros(k_rows, int)
    n_iter = np.zeros(k_rows, int)
    stall = np.zeros(k_rows, int)
    f_ref = f.copy()  # objective when the problem last made real progress
    done = ~np.isfinite(f)

    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        xa, fa, ga = x[act], f[act], g[act]
        at_bound = (xa <= lower + 1e-12) & (ga > 0)
        pg = xa - np.maximum(xa - ga, lower)
        converged = np.max(np.abs(pg), axis=1) <= pg_tol
        done[act[converged]] = True
        keep = ~converged
        act, xa, fa, ga, at_bound = act[keep], xa[keep], fa[keep], ga[keep], at_bound[keep]
        if act.size == 0:
            break
        free = ~at_bound

        # Two-loop recursion on the free coordinates (memory slots are newest-last; empty slots have rho 0).
        q = np.where(free, ga, 0.0)
        Sa, Ya, ra = S[act] * free[:, None, :], Y[act] * free[:, None, :], rho[act]
        alphas = np.zeros((act.size, memory))
        for j in range(memory - 1, -1, -1):
            a_j = ra[:, j] * np.einsum("kp,kp->k", Sa[:, j], q)
            alphas[:, j] = a_j
            q -= a_j[:, None] * Ya[:, j]
        yy = np.einsum("kp,kp->k", Ya[:, -1], Ya[:, -1])
        sy = np.einsum("kp,kp->k", Sa[:, -1], Ya[:, -1])
        has_mem = (n_mem[act] > 0) & (yy > 0) & (sy > 0)
        gamma0 = np.where(has_mem, sy / np.where(yy > 0, yy, 1.0), 0.0)
        # Without curvature information, take a first step of at most 0.1 in the largest coordinate.
        gmax = np.max(np.abs(q), axis=1)
        gamma0 = np.where(has_mem, gamma0, 0.1 / np.maximum(gmax, 1e-300))
        r = gamma0[:, None] * q
        for j in range(memory):
            b_j = ra[:, j] * np.einsum("kp,kp->k", Ya[:, j], r)
            r += Sa[:, j] * (alphas[:, j] - b_j)[:, None]
        d = -np.where(free, r, 0.0)
        slope = np.einsum("kp,kp->k", d, ga)
        bad = ~(slope < 0)
        if bad.any():  # not a descent direction: forget the memory, use the scaled gradient
            d[bad] = (
                -np.where(free[bad], ga[bad], 0.0)
                * (0.1 / np.maximum(np.max(np.abs(ga[bad]), axis=1), 1e-300))[:, None]
            )
            n_mem[act[bad]] = 0
            rho[act[bad]] = 0.0

        # Projected backtracking line search, all problems together; each keeps its own step.
        step = np.ones(act.size)
        accepted = np.zeros(act.size, bool)
        x_new, f_new, g_new = xa.copy(), fa.copy(), ga.copy()
        for _ls in range(40):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            trial = np.maximum(xa[todo] + step[todo, None] * d[todo], lower)
            ft, gt = evaluate(act[todo], trial)
            n_eval += todo.size
            decrease = np.einsum("kp,kp->k", ga[todo], trial - xa[todo])
            ok = np.isfinite(ft) & (ft <= fa[todo] + 1e-4 * decrease)
            idx = todo[ok]
            x_new[idx], f_new[idx], g_new[idx] = trial[ok], ft[ok], gt[ok]
            accepted[idx] = True
            step[todo[~ok]] *= 0.5
        failed = ~accepted
        done[act[failed]] = True  # no decrease along the direction: as far as this stage goes

        upd = np.flatnonzero(accepted)
        ids = act[upd]
        s_vec = x_new[upd] - xa[upd]
        y_vec = g_new[upd] - ga[upd]
        sy = np.einsum("kp,kp->k", s_vec, y_vec)
        good = sy > 1e-12 * np.sqrt(np.einsum("kp,kp->k", s_vec, s_vec) * np.einsum("kp,kp->k", y_vec, y_vec))
        gid = ids[good]
        S[gid, :-1], Y[gid, :-1], rho[gid, :-1] = S[gid, 1:], Y[gid, 1:], rho[gid, 1:]
        S[gid, -1], Y[gid, -1], rho[gid, -1] = s_vec[good], y_vec[good], 1.0 / sy[good]
        n_mem[gid] = np.minimum(n_mem[gid] + 1, memory)

        progress = (f_ref[ids] - f_new[upd]) / np.maximum(np.abs(f_ref[ids]), 1e-300) >= f_tol
        stall[ids] = np.where(progress, 0, stall[ids] + 1)
        f_ref[ids] = np.where(progress, f_new[upd], f_ref[ids])
        x[ids], f[ids], g[ids] = x_new[upd], f_new[upd], g_new[upd]
        n_iter[ids] += 1
        done[ids[stall[ids] >= patience]] = True

    pg = np.max(np.abs(x - np.maximum(x - g, lower)), axis=1)
    return BatchResult(theta=x, objective=f, projected_gradient=pg, n_iter=n_iter, n_eval=n_eval)

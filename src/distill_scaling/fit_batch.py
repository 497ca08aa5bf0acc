"""Batched, bound-constrained quasi-Newton minimisation: many independent fits advanced together in numpy.

Why: a fit refines hundreds of grid starts and a bootstrap refits thousands of resamples. Each is a small
problem (6 to 9 coordinates, a few hundred runs) for which scipy's L-BFGS-B spends most of its time in Python
and numpy call overhead. Advancing all of them in lock-step turns thousands of tiny numpy calls into a few
large ones.

The method is projected BFGS with a dense inverse-Hessian approximation per problem (the problems have at
most nine coordinates, so the full matrix is cheaper than limited memory and keeps all the curvature the
ill-conditioned valleys of these objectives need): the search direction is restricted to the coordinates
not held at their lower bound, the step is a projected backtracking (Armijo) line search, and each problem
keeps its own matrix and step. It is a fast *first* stage only: every solution the package reports is tested
with the projected gradient (:data:`distill_scaling.fit.KKT_TOL`), and the fits finish their best solutions
with scipy's L-BFGS-B.
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
    eye = np.eye(p)

    def evaluate(idx: np.ndarray, pts: np.ndarray):
        return law.batch_objective_and_grad(pts, data, None if weights is None else weights[idx])

    def value(idx: np.ndarray, pts: np.ndarray):
        return law.batch_objective_only(pts, data, None if weights is None else weights[idx])

    f, g = evaluate(np.arange(k_rows), x)
    n_eval = k_rows
    H = np.zeros((k_rows, p, p))  # inverse-Hessian approximations; zero = not started yet
    n_iter = np.zeros(k_rows, int)
    stall = np.zeros(k_rows, int)
    f_ref = f.copy()  # objective when the problem last made real progress
    done = ~np.isfinite(f)

    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        xa, fa, ga = x[act], f[act], g[act]
        pg = xa - np.maximum(xa - ga, lower)
        converged = np.max(np.abs(pg), axis=1) <= pg_tol
        done[act[converged]] = True
        keep = ~converged
        act, xa, fa, ga = act[keep], xa[keep], fa[keep], ga[keep]
        if act.size == 0:
            break
        free = ~((xa <= lower + 1e-12) & (ga > 0))
        gf = np.where(free, ga, 0.0)
        Ha = H[act]
        fresh = ~np.any(Ha != 0, axis=(1, 2))
        if fresh.any():  # first step: at most 0.1 in the largest coordinate
            scale = 0.1 / np.maximum(np.max(np.abs(gf[fresh]), axis=1), 1e-300)
            Ha[fresh] = scale[:, None, None] * eye
        mask = free[:, :, None] & free[:, None, :]
        d = -(np.where(mask, Ha, 0.0) @ gf[:, :, None])[:, :, 0]
        slope = np.einsum("kp,kp->k", d, ga)
        bad = ~(slope < 0)
        if bad.any():  # not a descent direction: restart from a scaled gradient step
            scale = 0.1 / np.maximum(np.max(np.abs(gf[bad]), axis=1), 1e-300)
            d[bad] = -scale[:, None] * gf[bad]
            Ha[bad] = scale[:, None, None] * eye

        # Projected backtracking line search, all problems together; each keeps its own step.
        step = np.ones(act.size)
        accepted = np.zeros(act.size, bool)
        x_new, f_new, g_new = xa.copy(), fa.copy(), ga.copy()
        for _ls in range(40):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            trial = np.maximum(xa[todo] + step[todo, None] * d[todo], lower)
            decrease = np.einsum("kp,kp->k", ga[todo], trial - xa[todo])
            # Most trial steps are rejected: first the objective alone, then the gradient where the step
            # passed. That evaluation repeats the objective to the bit and has the last word (its objective
            # is inf where the gradient is not finite), so the steps are those of testing with both at once.
            ft = value(act[todo], trial)
            n_eval += todo.size
            ok = np.isfinite(ft) & (ft <= fa[todo] + 1e-4 * decrease)
            sel = np.flatnonzero(ok)
            if sel.size:
                fs, gs = evaluate(act[todo[sel]], trial[sel])
                n_eval += sel.size
                ok[sel] = np.isfinite(fs) & (fs <= fa[todo[sel]] + 1e-4 * decrease[sel])
                keep = ok[sel]
                idx = todo[sel[keep]]
                x_new[idx], f_new[idx], g_new[idx] = trial[sel[keep]], fs[keep], gs[keep]
                accepted[idx] = True
            step[todo[~ok]] *= 0.5
        done[act[~accepted]] = True  # no decrease along the direction: as far as this stage goes

        upd = np.flatnonzero(accepted)
        ids = act[upd]
        s_vec = x_new[upd] - xa[upd]
        y_vec = g_new[upd] - ga[upd]
        sy = np.einsum("kp,kp->k", s_vec, y_vec)
        yy = np.einsum("kp,kp->k", y_vec, y_vec)
        good = (sy > 1e-12 * np.sqrt(np.einsum("kp,kp->k", s_vec, s_vec) * yy)) & (yy > 0)
        Hu = Ha[upd]
        # Scale the very first matrix by s.y / y.y (Nocedal and Wright, eq. 6.20) before the first update.
        first = good & fresh[upd]
        Hu[first] = (sy[first] / yy[first])[:, None, None] * eye
        gi = np.flatnonzero(good)
        if gi.size:
            rho = 1.0 / sy[gi]
            sv, yv = s_vec[gi], y_vec[gi]
            V = eye - rho[:, None, None] * (sv[:, :, None] * yv[:, None, :])
            Hu[gi] = V @ Hu[gi] @ V.transpose(0, 2, 1) + rho[:, None, None] * (
                sv[:, :, None] * sv[:, None, :]
            )
        Ha[upd] = Hu
        H[act] = Ha

        progress = (f_ref[ids] - f_new[upd]) / np.maximum(np.abs(f_ref[ids]), 1e-300) >= f_tol
        stall[ids] = np.where(progress, 0, stall[ids] + 1)
        f_ref[ids] = np.where(progress, f_new[upd], f_ref[ids])
        x[ids], f[ids], g[ids] = x_new[upd], f_new[upd], g_new[upd]
        n_iter[ids] += 1
        done[ids[stall[ids] >= patience]] = True

    pg = np.max(np.abs(x - np.maximum(x - g, lower)), axis=1)
    return BatchResult(theta=x, objective=f, projected_gradient=pg, n_iter=n_iter, n_eval=n_eval)


def batch_gauss_newton(
    law: LogLaw,
    data: RunData,
    starts: np.ndarray,
    weights: np.ndarray,
    *,
    max_iter: int = 200,
    pg_tol: float = 1e-9,
) -> BatchResult:
    """Minimise from every row of ``starts`` with damped, iteratively reweighted Gauss-Newton steps.

    Why beside :func:`batch_minimize`: with a small Huber delta the objective is nearly a sum of absolute
    values. Its gradient is tiny along directions the runs barely determine (the distillation law's ``c1``
    and ``gamma'`` on the paper's design), so a gradient-based method started at the full-data optimum
    stops there on its gradient test, and a bootstrap built on it reports intervals that have collapsed.
    The reweighted Gauss-Newton matrix (:meth:`LogLaw.batch_gauss_newton`) has small eigenvalues in those
    directions, so its steps follow them. Each step solves ``(G + mu diag G) d = -g`` on the coordinates not
    held at their lower bound (Levenberg-Marquardt damping ``mu``, lowered after a full step and raised after
    a shortened one) with a projected backtracking (Armijo) line search. A problem stops when its
    projected gradient is below ``pg_tol``, when its line search fails, or at ``max_iter``.
    """
    x = np.maximum(np.array(starts, float, copy=True), _lower(law))
    k_rows, p = x.shape
    lower = _lower(law)
    eye = np.eye(p)
    f, g, G = law.batch_gauss_newton(x, data, weights)
    n_eval = k_rows
    mu = np.full(k_rows, 1e-3)
    n_iter = np.zeros(k_rows, int)
    done = ~np.isfinite(f)
    for _ in range(max_iter):
        pg = np.max(np.abs(x - np.maximum(x - g, lower)), axis=1)
        done |= pg <= pg_tol
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        xa, fa, ga = x[act], f[act], g[act]
        free = ~((xa <= lower + 1e-12) & (ga > 0))
        mask = free[:, :, None] & free[:, None, :]
        A = np.where(mask, G[act], 0.0)
        diag = np.einsum("kpp->kp", A)
        floor = 1e-12 * np.max(diag, axis=1, keepdims=True) + 1e-300
        A = A + eye * (mu[act, None] * diag + floor + (~free))[:, :, None]
        d = -np.linalg.solve(A, np.where(free, ga, 0.0)[:, :, None])[:, :, 0]

        step = np.ones(act.size)
        accepted = np.zeros(act.size, bool)
        x_new, f_new = xa.copy(), fa.copy()
        g_new, G_new = np.empty_like(ga), np.empty((act.size, p, p))
        for _ls in range(30):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            trial = np.maximum(xa[todo] + step[todo, None] * d[todo], lower)
            decrease = np.einsum("kp,kp->k", ga[todo], trial - xa[todo])
            # As in batch_minimize: the objective alone first, then the full evaluation where the step
            # passed, which has the last word. Its objective is inf where the gradient or the matrix is not
            # finite, so such a step is refused (a finite objective with an overflowing matrix: the one
            # case where the path differs from testing with the objective alone, which took the step and
            # ended the refit with an infinite objective).
            ft = law.batch_objective_only(trial, data, weights[act[todo]])
            n_eval += todo.size
            ok = np.isfinite(ft) & (ft <= fa[todo] + 1e-4 * decrease) & (ft <= fa[todo])
            sel = np.flatnonzero(ok)
            if sel.size:
                fs, gs, Gs = law.batch_gauss_newton(trial[sel], data, weights[act[todo[sel]]])
                n_eval += sel.size
                fa_sel = fa[todo[sel]]
                passed = np.isfinite(fs) & (fs <= fa_sel + 1e-4 * decrease[sel]) & (fs <= fa_sel)
                ok[sel] = passed
                pos = todo[sel[passed]]  # positions in act of the steps taken
                x_new[pos], f_new[pos] = trial[sel[passed]], fs[passed]
                g_new[pos], G_new[pos] = gs[passed], Gs[passed]
                accepted[pos] = True
            step[todo[~ok]] *= 0.5
        done[act[~accepted]] = True
        full_step = accepted & (step == 1.0)
        mu[act[full_step]] = np.maximum(mu[act[full_step]] / 3, 1e-12)
        mu[act[~full_step]] = np.minimum(mu[act[~full_step]] * 4, 1e6)
        ids = act[accepted]
        if ids.size:
            x[ids], f[ids] = x_new[accepted], f_new[accepted]
            g[ids], G[ids] = g_new[accepted], G_new[accepted]
            n_iter[ids] += 1
    pg = np.max(np.abs(x - np.maximum(x - g, lower)), axis=1)
    return BatchResult(theta=x, objective=f, projected_gradient=pg, n_iter=n_iter, n_eval=n_eval)

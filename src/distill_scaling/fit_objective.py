"""The laws in log space (paper Eqs. 44 and 49), the Huber objective and its analytic gradient.

This is the numerical core of :mod:`distill_scaling.fit`: everything here works on the optimiser's
coordinates ``theta`` (logarithms of the scale coefficients, the exponents as they are) and on arrays of runs
prepared once per fit. Entry points per law:

- ``grid_objective(axes, data)`` / ``batch_objective(thetas, data)``: the objective at every start of an
  initialisation grid (or any set of points) in one vectorised pass;
- ``batch_objective_and_grad(thetas, data, weights)``: objective and exact gradient at many points, each with
  its own run weights (the batched optimiser, the bootstrap);
- ``objective_and_grad(theta, data)``: objective and exact gradient at one point, for scipy's L-BFGS-B.

The objective is the paper's ``sum_i Huber_delta(log L_hat_i - log L_i)`` divided by ``delta * sum_i w_i``
(``w_i`` are run weights: 1, or bootstrap counts). Dividing by a positive constant does not move the minimum,
but it makes the objective of order ``mean |log-residual|`` and its gradient of order one: with the raw sum,
which is of order 1e-5 to 1e-3, L-BFGS-B's default stopping rules (an absolute change of 2.2e-9, a gradient of
1e-5) fire long before the optimum (Besiroglu et al. 2024 found the same failure in Hoffmann et al.'s fit).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

#: Largest number of (start, run) pairs evaluated in one numpy call when scoring a grid (bounds memory).
_CHUNK_ELEMENTS = 2_000_000

#: Largest number of (point, run) pairs per numpy call in the gradient evaluations (the batched optimisers,
#: the bootstrap). Small, so that the dozen temporaries of one call stay in the CPU's cache: a bootstrap
#: chunk of the paper's design (3,072 points x 709 runs) evaluates twice as fast as with 2,000,000. Each row's
#: arithmetic does not depend on the chunk, so the results are the same to the bit.
_GRAD_CHUNK_ELEMENTS = 100_000


def _lse_parts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(a, b) and exp(-|a - b|): log(exp(a) + exp(b)) = max + log(1 + exp(-|a - b|)).

    One exp, not two: of exp(a - max) and exp(b - max), the larger term's is exp(0) = 1 exactly and the
    other's is exp(-|a - b|) (a - b is exactly -(b - a)). In place where it can be: the optimisers call this
    millions of times on arrays of a few hundred KB, where every fresh temporary costs as much as the
    arithmetic."""
    e = np.subtract(a, b)
    np.abs(e, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    return np.maximum(a, b), e


def lse(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(exp(a) + exp(b)) and the weight exp(a - lse) of ``a``, stably."""
    m, e = _lse_parts(a, b)
    s = np.add(e, 1.0)  # exp(a - m) + exp(b - m)
    weight = np.where(np.greater_equal(a, b), 1.0, e)  # exp(a - m)
    np.divide(weight, s, out=weight)
    np.log(s, out=s)
    s += m
    return s, weight


def lse_value(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(exp(a) + exp(b)) alone: the same bits as ``lse(a, b)[0]``, without the weight."""
    m, e = _lse_parts(a, b)
    np.add(e, 1.0, out=e)
    np.log(e, out=e)
    e += m
    return e


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber_delta(r): r^2/2 inside [-delta, delta], delta (|r| - delta/2) outside."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _scaled_huber_value(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber_delta(r) / delta."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r / delta, a - 0.5 * delta)


def _scaled_huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber_delta(r) / delta and its derivative clip(r / delta, -1, 1)."""
    return _scaled_huber_value(r, delta), np.clip(r / delta, -1.0, 1.0)


@dataclass(frozen=True)
class RunData:
    """Runs prepared for fitting: logarithms of the inputs and of the measured losses, and run weights.

    ``x = log N``, ``y = log D`` and ``target = log L`` for the supervised law; for the distillation law also
    ``log_teacher = log L_T`` and ``log_student_sup = log L~_S`` (the student's supervised loss from the given
    supervised coefficients, fixed during the fit).
    """

    x: np.ndarray
    y: np.ndarray
    target: np.ndarray
    weights: np.ndarray
    delta: float
    log_teacher: np.ndarray | None = None
    log_student_sup: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: np.ndarray, weights: np.ndarray | None = None) -> RunData:
        """The runs ``index`` (an index or mask array), with new weights if given."""

        def pick(a):
            return None if a is None else a[index]

        return RunData(
            x=self.x[index],
            y=self.y[index],
            target=self.target[index],
            weights=self.weights[index] if weights is None else np.asarray(weights, float),
            delta=self.delta,
            log_teacher=pick(self.log_teacher),
            log_student_sup=pick(self.log_student_sup),
        )


class LogLaw:
    """A scaling law in log space: names and bounds of its coordinates, prediction, objective, gradient."""

    #: Optimiser coordinates, in order.
    names: tuple[str, ...] = ()
    #: Lower bounds of the coordinates (None = unbounded); the coefficients of both laws are positive.
    lower: tuple[float | None, ...] = ()

    def __init__(self, fixed: dict[str, float] | None = None):
        self.fixed = dict(fixed or {})
        unknown = set(self.fixed) - set(self.names)
        if unknown:
            raise ValueError(f"cannot fix unknown coordinate(s) {sorted(unknown)}; known: {self.names}")
        self.free = tuple(n for n in self.names if n not in self.fixed)
        self._free_index = np.array([self.names.index(n) for n in self.free])

    @property
    def _free_rows(self) -> slice | np.ndarray:
        """Index of the free coordinates' Jacobian rows; a slice when all are free, where indexing with every
        coordinate would copy the whole Jacobian for nothing."""
        return self._free_index if self.fixed else slice(None)

    @property
    def bounds(self) -> list[tuple[float | None, None]]:
        lower = dict(zip(self.names, self.lower, strict=True))
        return [(lower[n], None) for n in self.free]

    def full(self, theta: np.ndarray) -> np.ndarray:
        """Free coordinates (..., p_free) -> all coordinates (..., p), inserting the fixed values."""
        theta = np.asarray(theta, float)
        out = np.empty(theta.shape[:-1] + (len(self.names),))
        for i, n in enumerate(self.names):
            out[..., i] = self.fixed[n] if n in self.fixed else theta[..., self.free.index(n)]
        return out

    def log_predict(self, theta: np.ndarray, data: RunData) -> np.ndarray:
        """log L_hat of every run at ``theta`` (all coordinates on its last axis, batched over the others)."""
        return self._log_predict_value(np.moveaxis(np.asarray(theta, float), -1, 0), data)

    # Subclasses implement the Jacobian pass, and may implement a cheaper value pass, on *all* coordinates
    # along the first axis of ``theta``, batched over the others.
    def _log_predict_and_jac(self, theta: np.ndarray, data: RunData) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _log_predict_value(self, theta: np.ndarray, data: RunData) -> np.ndarray:
        """The log-prediction of :meth:`_log_predict_and_jac`, bit for bit, without the Jacobian."""
        return self._log_predict_and_jac(theta, data)[0]

    def batch_objective(self, thetas: np.ndarray, data: RunData) -> np.ndarray:
        """Scaled objective at each row of ``thetas`` (free coordinates), chunked to bound memory."""
        thetas = np.atleast_2d(np.asarray(thetas, float))
        full = self.full(thetas)
        w = data.weights
        total = w.sum()
        out = np.empty(len(full))
        chunk = max(1, _CHUNK_ELEMENTS // max(data.n, 1))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for s in range(0, len(full), chunk):
                block = full[s : s + chunk]
                r = self.log_predict(block[:, None, :], data) - data.target
                value, _ = _scaled_huber(r, data.delta)
                out[s : s + chunk] = (value @ w) / total
        # A start where the law is not finite (overflow, 0 * inf) is never the best one.
        return np.where(np.isfinite(out), out, np.inf)

    def _weighted_chunks(self, full: np.ndarray, data: RunData, weights: np.ndarray | None):
        """Cache-sized chunks of the points ``full`` (all coordinates): ``(rows, block, w, total)`` with
        ``block`` the chunk's coordinates as (p, rows, 1), broadcasting against runs, ``w`` its run weights
        (``data.weights`` when ``weights`` is None) and ``total`` their sums."""
        chunk = max(1, _GRAD_CHUNK_ELEMENTS // (max(data.n, 1) * 4))
        for s in range(0, len(full), chunk):
            w = data.weights[None, :] if weights is None else weights[s : s + chunk]
            yield slice(s, s + chunk), full[s : s + chunk].T[:, :, None], w, w.sum(axis=-1)

    def batch_objective_and_grad(
        self, thetas: np.ndarray, data: RunData, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scaled objective and gradient at each row of ``thetas`` (shape ``(K, p_free)``).

        ``weights`` (shape ``(K, n)``) gives each row its own run weights (bootstrap counts); by default every
        row uses ``data.weights``. Non-finite values come back as ``inf`` with a zero gradient.
        """
        thetas = np.atleast_2d(np.asarray(thetas, float))
        full = self.full(thetas)
        k_rows = len(full)
        f = np.empty(k_rows)
        g = np.empty((k_rows, len(self.free)))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for rows, block, w, total in self._weighted_chunks(full, data, weights):
                pred, jac = self._log_predict_and_jac(block, data)
                value, dvalue = _scaled_huber(pred - data.target, data.delta)
                f[rows] = (value * w).sum(axis=-1) / total
                g[rows] = np.einsum("pki,ki->kp", jac[self._free_rows], dvalue * w) / total[:, None]
        bad = ~(np.isfinite(f) & np.all(np.isfinite(g), axis=1))
        f[bad] = np.inf
        g[bad] = 0.0
        return f, g

    def batch_objective_only(
        self, thetas: np.ndarray, data: RunData, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """The scaled objective of :meth:`batch_objective_and_grad`, to the bit, without the gradient: for
        the trial points of line searches, most of which are rejected. One difference: where the objective
        is finite but the gradient is not, :meth:`batch_objective_and_grad` gives ``inf`` and this the
        objective."""
        thetas = np.atleast_2d(np.asarray(thetas, float))
        full = self.full(thetas)
        f = np.empty(len(full))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for rows, block, w, total in self._weighted_chunks(full, data, weights):
                value = _scaled_huber_value(self._log_predict_value(block, data) - data.target, data.delta)
                f[rows] = (value * w).sum(axis=-1) / total
        return np.where(np.isfinite(f), f, np.inf)

    def batch_gauss_newton(
        self, thetas: np.ndarray, data: RunData, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled objective, gradient and reweighted Gauss-Newton matrix at each row of ``thetas``.

        The matrix is ``sum_i w_i J_i J_i^T / max(|r_i|, delta)`` over runs (``J_i`` the gradient of run i's
        log-prediction, ``r_i`` its log-residual), divided like the objective: the curvature of the quadratic
        that touches each run's Huber term at its current residual (the IRLS weights of Huber regression).
        Unlike the gradient, it sees directions in which the objective is flat but not constant.
        ``weights`` has shape ``(K, n)``; rows that are not finite come back with ``inf`` objective.
        """
        thetas = np.atleast_2d(np.asarray(thetas, float))
        full = self.full(thetas)
        k_rows, p = len(full), len(self.free)
        f, g, h = np.empty(k_rows), np.empty((k_rows, p)), np.empty((k_rows, p, p))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for rows, block, w, total in self._weighted_chunks(full, data, weights):
                pred, jac = self._log_predict_and_jac(block, data)
                r = pred - data.target
                value, dvalue = _scaled_huber(r, data.delta)
                jf = jac[self._free_rows]
                f[rows] = (value * w).sum(axis=-1) / total
                g[rows] = np.einsum("pki,ki->kp", jf, dvalue * w) / total[:, None]
                irls = w / np.maximum(np.abs(r), data.delta) / total[:, None]
                jk = np.moveaxis(jf, 1, 0)  # (rows, p, runs): one batched matrix product
                h[rows] = (jk * irls[:, None, :]) @ jk.transpose(0, 2, 1)
        bad = ~(np.isfinite(f) & np.all(np.isfinite(g), axis=1) & np.all(np.isfinite(h), axis=(1, 2)))
        f[bad], g[bad], h[bad] = np.inf, 0.0, 0.0
        return f, g, h

    def grid_objective(self, axes: list[np.ndarray], data: RunData) -> np.ndarray:
        """Scaled objective at every point of the grid ``product(*axes)`` (free coordinates, in order).

        The result is flat, in ``itertools.product`` order. Laws may override this to exploit the grid's
        product structure.
        """
        points = np.array(list(itertools.product(*axes)), float).reshape(-1, len(self.free))
        return self.batch_objective(points, data)

    def objective_and_grad(self, theta: np.ndarray, data: RunData) -> tuple[float, np.ndarray]:
        """Scaled objective and its gradient with respect to the free coordinates."""
        full = self.full(theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            pred, jac = self._log_predict_and_jac(full, data)
            r = pred - data.target
            value, dvalue = _scaled_huber(r, data.delta)
            total = data.weights.sum()
            f = float(value @ data.weights) / total
            g = (jac[self._free_rows] @ (dvalue * data.weights)) / total
        if not np.isfinite(f) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros(len(self.free))
        return f, g

    def raw_objective(self, theta: np.ndarray, data: RunData) -> float:
        """The paper's objective: the sum over runs of Huber_delta(log-residual), weighted by run counts."""
        r = self.log_predict(self.full(theta), data) - data.target
        return float(huber(r, data.delta) @ data.weights)


class SupervisedLogLaw(LogLaw):
    """log L = LSE(log E, gamma * LSE(log A - alpha log N, log B - beta log D)) (paper Eq. 44)."""

    names = ("log_A", "log_B", "log_E", "alpha", "beta", "gamma")
    lower = (None, None, None, 0.0, 0.0, 0.0)

    def _log_predict_and_jac(self, theta, data):
        a, b, e, alpha, beta, gamma = theta
        s, w1 = lse(a - alpha * data.x, b - beta * data.y)
        t = gamma * s
        m, q_e = lse(e + 0.0 * s, t)
        q = 1.0 - q_e  # weight of the power term in the outer LSE
        qg = q * gamma
        jac = np.stack([qg * w1, qg * (1 - w1), q_e, -qg * w1 * data.x, -qg * (1 - w1) * data.y, q * s])
        return m, jac

    def _log_predict_value(self, theta, data):
        a, b, e, alpha, beta, gamma = theta
        s = lse_value(a - alpha * data.x, b - beta * data.y)
        return lse_value(e + 0.0 * s, gamma * s)


def _softplus_u(absz: np.ndarray, f1) -> np.ndarray:
    """u = |z| / f1, with its limit at f1 = 0 (inf where z != 0, 0 where z = 0). Call under errstate."""
    # The branch (np.where) costs as much as an exp, so it runs only where f1 = 0 somewhere.
    return absz / f1 if np.all(f1 > 0) else np.where(f1 > 0, absz / f1, np.where(absz > 0, np.inf, 0.0))


def _softplus_scaled(z: np.ndarray, f1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi = f1 * softplus(z / f1), d phi / d z = sigmoid(z / f1) and d phi / d f1.

    Written so that f1 = 0 (a value of the paper's grid) gives the limit phi = max(z, 0) instead of 0 * inf.
    d phi / d f1 = softplus(u) - u sigmoid(u) with u = z / f1, the binary entropy of sigmoid(u).
    """
    absz = np.abs(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = _softplus_u(absz, f1)
        e = np.negative(u)
        np.exp(e, out=e)  # exp(-u), in [0, 1]
        log1pe = np.log1p(e)
        phi = np.maximum(z, 0.0)
        phi += np.multiply(f1, log1pe, out=absz)  # max(z, 0) + f1 * log1pe; absz is not needed any more
        sig_neg = np.add(1.0, e)
        np.divide(e, sig_neg, out=sig_neg)  # sigmoid(-|u|) = e / (1 + e)
        dphi_dz = np.where(z >= 0, 1.0 - sig_neg, sig_neg)
        u_sig = np.multiply(u, sig_neg, out=u)
        if not np.all(e > 0):  # a branch only where exp(-u) underflows (u * sigmoid(-u) would be inf * 0)
            u_sig = np.where(e > 0, u_sig, 0.0)  # u * sigmoid(-u) -> 0 as u -> inf
    dphi_df1 = np.add(log1pe, u_sig, out=log1pe)
    return phi, dphi_dz, dphi_df1


def _softplus_value(z: np.ndarray, f1) -> np.ndarray:
    """phi of :func:`_softplus_scaled`, bit for bit, without its derivatives."""
    with np.errstate(divide="ignore", invalid="ignore"):
        u = _softplus_u(np.abs(z), f1)
        np.negative(u, out=u)
        np.exp(u, out=u)
        np.log1p(u, out=u)
        phi = np.maximum(z, 0.0)
        phi += np.multiply(f1, u, out=u)
    return phi


class DistillationLogLaw(LogLaw):
    """log L_S = LSE(log L_T, -c0 log L_T - c1 f1 LSE(0, (log L_T - log L~_S - log d1) / f1)
    + gamma' LSE(log A' - alpha' log N_S, log B' - beta' log D_S)) (paper Eq. 49)."""

    names = ("log_A", "log_B", "alpha", "beta", "gamma", "c0", "c1", "f1", "log_d1")
    lower = (None, None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None)

    def _log_predict_and_jac(self, theta, data):
        a, b, alpha, beta, gamma, c0, c1, f1, g = theta
        s, w1 = lse(a - alpha * data.x, b - beta * data.y)
        z = data.log_teacher - data.log_student_sup - g
        phi, dphi_dz, dphi_df1 = _softplus_scaled(z, f1)
        lt = data.log_teacher
        k = -c0 * lt - c1 * phi + gamma * s
        m, q_t = lse(lt, k)
        q = 1.0 - q_t  # weight of the "ability to mimic the teacher" term
        qg = q * gamma
        # Written into one array instead of stacked (a copy of the whole Jacobian). Each row is the product
        # named beside it, in the same order of operations; negating a product is exact.
        jac = np.empty((9,) + np.broadcast_shapes(np.shape(m), np.shape(qg)))
        np.multiply(qg, w1, out=jac[0])  # qg * w1
        np.subtract(1, w1, out=w1)
        np.multiply(qg, w1, out=jac[1])  # qg * (1 - w1)
        np.negative(jac[0], out=jac[2])
        jac[2] *= data.x  # -qg * w1 * x
        np.negative(jac[1], out=jac[3])
        jac[3] *= data.y  # -qg * (1 - w1) * y
        np.multiply(q, s, out=jac[4])  # q * s
        np.multiply(q, lt, out=jac[5])
        np.negative(jac[5], out=jac[5])  # -q * lt
        np.multiply(q, phi, out=jac[6])
        np.negative(jac[6], out=jac[6])  # -q * phi
        qc1 = np.multiply(q, c1, out=q)
        np.negative(qc1, out=jac[7])
        jac[7] *= dphi_df1  # -q * c1 * dphi_df1
        np.multiply(qc1, dphi_dz, out=jac[8])  # q * c1 * dphi_dz (d z / d log d1 = -1)
        return m, jac

    def _log_predict_value(self, theta, data):
        a, b, alpha, beta, gamma, c0, c1, f1, g = theta
        s = lse_value(a - alpha * data.x, b - beta * data.y)
        phi = _softplus_value(data.log_teacher - data.log_student_sup - g, f1)
        lt = data.log_teacher
        return lse_value(lt, -c0 * lt - c1 * phi + gamma * s)

    def grid_objective(self, axes: list[np.ndarray], data: RunData) -> np.ndarray:
        """The objective on a product grid, factorised: 216,000 starts x 700 runs in seconds.

        log L_S = log L_T + softplus(K - log L_T) with K = T_student + T_teacher, where
        T_student = gamma * LSE(a - alpha x, b - beta y) depends only on (a, b, alpha, beta, gamma) and
        T_teacher = -c0 log L_T - c1 phi(z; f1, d1) only on (c0, c1, f1, d1): each is computed once per
        combination of its own coordinates, and only the sum, the softplus and the Huber loss run over the
        whole grid.
        """
        if self.fixed:
            return super().grid_objective(axes, data)
        a, b, alpha, beta, gamma, c0, c1, f1, g = (np.asarray(ax, float) for ax in axes)
        lt = data.log_teacher
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            s = np.stack(
                [
                    lse(ai - al * data.x, bi - be * data.y)[0]
                    for ai, bi, al, be in itertools.product(a, b, alpha, beta)
                ]
            )
            student = (gamma[None, :, None] * s[:, None, :]).reshape(-1, data.n)
            teacher = []
            for c0i, c1i, f1i, gi in itertools.product(c0, c1, f1, g):
                phi, _, _ = _softplus_scaled(data.log_teacher - data.log_student_sup - gi, f1i)
                teacher.append(-c0i * lt - c1i * phi - lt)
            teacher = np.stack(teacher)
            # Scoring only ranks starts, so float32 is enough and halves the memory traffic.
            teacher = teacher.astype(np.float32)
            offset = (lt - data.target).astype(np.float32)
            w = (data.weights / data.weights.sum()).astype(np.float32)
            delta = np.float32(data.delta)
            out = np.empty((len(student), len(teacher)))
            k = np.empty_like(teacher)
            tmp = np.empty_like(teacher)
            for i, row in enumerate(student.astype(np.float32)):
                np.add(teacher, row, out=k)
                # residual = softplus(k) + offset, softplus(k) = max(k, 0) + log1p(exp(-|k|))
                np.abs(k, out=tmp)
                np.negative(tmp, out=tmp)
                np.exp(tmp, out=tmp)
                np.log1p(tmp, out=tmp)
                np.maximum(k, 0.0, out=k)
                k += tmp
                k += offset
                # scaled Huber without branches: |r| - delta/2 + max(delta - |r|, 0)^2 / (2 delta)
                np.abs(k, out=k)
                np.subtract(delta, k, out=tmp)
                np.maximum(tmp, 0.0, out=tmp)
                tmp *= tmp
                tmp *= 0.5 / delta
                k += tmp
                out[i] = k @ w - 0.5 * delta
        out = out.reshape(-1)
        return np.where(np.isfinite(out), out, np.inf)

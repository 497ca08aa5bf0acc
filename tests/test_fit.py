"""The fitter: gradients, grid scoring, recovery of known coefficients, the convergence trap, the shortcut
against the exhaustive search, Chinchilla's refit against Epoch's numbers, the bootstrap and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distill_scaling import fit, fit_data, laws
from distill_scaling.bootstrap import (
    bootstrap,
    cold_refits,
    extrapolation_check,
    interval_growth,
    resample_weights,
)
from distill_scaling.fit_batch import batch_gauss_newton
from distill_scaling.fit_objective import DistillationLogLaw, RunData, SupervisedLogLaw

#: 2^6 = 64 starts inside the paper's supervised grid: small enough for the exhaustive search.
SMALL_GRID = {
    "log_A": (5.0, 10.0),
    "log_B": (5.0, 10.0),
    "log_E": (-0.5, 0.5),
    "alpha": (0.5, 1.0),
    "beta": (0.5, 1.0),
    "gamma": (0.5, 1.0),
}


def supervised_runs(n: int = 48, noise: float = 0.0, seed: int = 0):
    """Runs from the paper's supervised law: N in [1e8, 1e10], D / N in [5, 300]."""
    rng = np.random.default_rng(seed)
    N = 10 ** rng.uniform(8, 10, n)
    D = N * 10 ** rng.uniform(np.log10(5), np.log10(300), n)
    L = laws.supervised_loss(N, D) * np.exp(noise * rng.standard_normal(n))
    return N, D, L


def rel_err(a: float, b: float) -> float:
    return abs(a / b - 1)


@pytest.fixture(scope="module")
def noisy_fit():
    N, D, L = supervised_runs(48, noise=0.005, seed=1)
    return fit.fit_supervised(N, D, L, gamma=1.0, grid={k: v for k, v in SMALL_GRID.items() if k != "gamma"})


# --- The objective ------------------------------------------------------------------------------------------


def _distillation_data(n: int = 60, seed: int = 0) -> RunData:
    rng = np.random.default_rng(seed)
    N = 10 ** rng.uniform(8, 10, n)
    D = N * 10 ** rng.uniform(1, 2.5, n)
    LT = rng.uniform(2.0, 3.2, n)
    LS = laws.distillation_loss(N, D, LT) * np.exp(0.003 * rng.standard_normal(n))
    return RunData(
        np.log(N), np.log(D), np.log(LS), np.ones(n), 1e-4, np.log(LT), np.log(laws.supervised_loss(N, D))
    )


def _true_theta(coef: laws.DistillationCoefficients) -> np.ndarray:
    c = coef
    return np.array(
        [math.log(c.A), math.log(c.B), c.alpha, c.beta, c.gamma, c.c0, c.c1, c.f1, math.log(c.d1)]
    )


def _textbook_lse(a, b):
    m = np.maximum(a, b)
    ea, eb = np.exp(a - m), np.exp(b - m)
    s = ea + eb
    return m + np.log(s), ea / s


def _textbook_distillation_jac(theta, data):
    """The distillation law's log-prediction and Jacobian as the formulas read (Eq. 49), with fresh arrays."""
    a, b, alpha, beta, gamma, c0, c1, f1, g = theta
    s, w1 = _textbook_lse(a - alpha * data.x, b - beta * data.y)
    z = data.log_teacher - data.log_student_sup - g
    u = np.abs(z) / f1
    e = np.exp(-u)
    phi = np.maximum(z, 0.0) + f1 * np.log1p(e)
    sig_neg = e / (1.0 + e)
    dphi_dz = np.where(z >= 0, 1.0 - sig_neg, sig_neg)
    dphi_df1 = np.log1p(e) + u * sig_neg
    lt = data.log_teacher
    m, q_t = _textbook_lse(lt, -c0 * lt - c1 * phi + gamma * s)
    q = 1.0 - q_t
    qg = q * gamma
    rows = [qg * w1, qg * (1 - w1), -qg * w1 * data.x, -qg * (1 - w1) * data.y, q * s, -q * lt, -q * phi]
    return m, np.stack(rows + [-q * c1 * dphi_df1, q * c1 * dphi_dz])


def test_the_in_place_kernels_are_the_textbook_formulas_to_the_bit():
    """The objective's kernels reuse their arrays and take one exp per log-sum-exp (a speed-up of the
    bootstrap): the same numbers as the formulas written plainly, bit for bit, not merely close."""
    from distill_scaling.fit_objective import lse

    rng = np.random.default_rng(11)
    a, b = rng.normal(0, 3, (6, 50)), rng.normal(0, 3, (6, 50))
    b[0, :5] = a[0, :5]  # ties
    a[1, :4] = -np.inf  # a term that vanishes
    for x, y in [(a, b), (b, a), (a[2], b)]:
        for got, want in zip(lse(x, y), _textbook_lse(x, y), strict=True):
            np.testing.assert_array_equal(got, want)
    law, data = DistillationLogLaw(), _distillation_data()
    theta = _true_theta(laws.PAPER_DISTILLATION.replace(c1=20.0, f1=0.3))
    thetas = theta + rng.normal(0, 0.05, (7, theta.size))
    block = law.full(thetas).T[:, :, None]
    got, want = law._log_predict_and_jac(block, data), _textbook_distillation_jac(block, data)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize(
    "law", [SupervisedLogLaw(), DistillationLogLaw()], ids=["supervised", "distillation"]
)
def test_the_objective_alone_is_the_objective_of_the_gradient_pass_to_the_bit(law):
    """Line searches test trial steps with the objective alone and take them with the gradient pass: the
    two must agree exactly, or the optimisers' paths would change."""
    rng = np.random.default_rng(5)
    if isinstance(law, SupervisedLogLaw):
        N, D, L = supervised_runs(40, noise=0.01)
        data = RunData(np.log(N), np.log(D), np.log(L), np.ones(40), 1e-4)
        p = laws.PAPER_SUPERVISED
        theta = np.array([math.log(p.A), math.log(p.B), math.log(p.E), p.alpha, p.beta, p.gamma])
    else:
        data = _distillation_data()
        theta = _true_theta(laws.PAPER_DISTILLATION.replace(c1=20.0, f1=0.3))
    thetas = theta + rng.normal(0, 0.05, (9, theta.size))
    w = rng.poisson(1.0, (9, data.n)).astype(float)
    np.testing.assert_array_equal(
        law.batch_objective_only(thetas, data, w), law.batch_objective_and_grad(thetas, data, w)[0]
    )


@pytest.mark.parametrize("kind", ["supervised", "distillation"])
def test_gradient_matches_finite_differences(kind):
    rng = np.random.default_rng(3)
    if kind == "supervised":
        N, D, L = supervised_runs(40, noise=0.01)
        law = SupervisedLogLaw()
        data = RunData(np.log(N), np.log(D), np.log(L), np.ones(40), 1e-4)
        p = laws.PAPER_SUPERVISED
        theta = np.array([math.log(p.A), math.log(p.B), math.log(p.E), p.alpha, p.beta, p.gamma])
    else:
        law, data = DistillationLogLaw(), _distillation_data()
        theta = _true_theta(laws.PAPER_DISTILLATION.replace(c1=20.0, f1=0.3))
    theta = theta + rng.normal(0, 0.02, theta.size)
    f, g = law.objective_and_grad(theta, data)
    eps = 1e-6
    numeric = np.array(
        [
            (
                law.objective_and_grad(theta + eps * e, data)[0]
                - law.objective_and_grad(theta - eps * e, data)[0]
            )
            / (2 * eps)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)
    # The batched evaluation with per-row weights agrees with the single one on re-weighted data.
    w = rng.poisson(1.0, (3, data.n)).astype(float) + 0.5
    fb, gb = law.batch_objective_and_grad(np.tile(theta, (3, 1)), data, w)
    for k in range(3):
        f1, g1 = law.objective_and_grad(theta, data.subset(np.arange(data.n), w[k]))
        assert fb[k] == pytest.approx(f1, rel=1e-12)
        np.testing.assert_allclose(gb[k], g1, rtol=1e-10, atol=1e-14)


def test_distillation_law_in_log_space_matches_laws_module_including_f1_zero():
    data = _distillation_data()
    law = DistillationLogLaw()
    coef = laws.PAPER_DISTILLATION
    pred = np.exp(law.log_predict(_true_theta(coef), data))
    N, D, LT = np.exp(data.x), np.exp(data.y), np.exp(data.log_teacher)
    np.testing.assert_allclose(pred, laws.distillation_loss(N, D, LT, coef), rtol=1e-12)
    # f1 = 0 (a value of the paper's grid) is the limit of a sharp break: finite, and the gradient too.
    theta0 = _true_theta(coef)
    theta0[7] = 0.0
    f, g = law.objective_and_grad(theta0, data)
    assert np.isfinite(f) and np.all(np.isfinite(g))
    near = law.objective_and_grad(np.where(np.arange(9) == 7, 1e-9, theta0), data)[0]
    assert near == pytest.approx(f, rel=1e-9)


def test_factorised_grid_scores_equal_direct_evaluation():
    data = _distillation_data(50)
    law = DistillationLogLaw()
    grid = {k: v[::2] for k, v in fit.PAPER_DISTILLATION_GRID.items()}  # 3*3*2*2*2*2*2*2*3 = 1728 starts
    axes = [np.asarray(grid[n]) for n in law.free]
    fast = law.grid_objective(axes, data)
    direct = law.batch_objective(fit.grid_points(law, grid), data)
    assert fast.shape == direct.shape == (1728,)
    np.testing.assert_allclose(fast, direct, rtol=2e-5)  # float32 scoring


# --- Fitting: recovery, the convergence trap, the shortcut --------------------------------------------------


def test_recovers_supervised_coefficients_from_noiseless_runs():
    N, D, L = supervised_runs(48)
    res = fit.fit_supervised(N, D, L)  # gamma free, paper grid (9,600 starts), delta = 1e-4
    assert res.n_starts == 9600 and res.converged
    assert res.projected_gradient <= fit.KKT_TOL
    for name, value in laws.PAPER_SUPERVISED.values().items():
        assert rel_err(getattr(res.params, name), value) < 1e-3, name
    assert np.max(np.abs(res.relative_errors())) < 1e-5
    assert res.predict(N, D) == pytest.approx(L, rel=1e-5)


def test_default_scipy_tolerances_stop_early_and_miss_the_coefficients():
    """The convergence trap: the raw summed Huber loss is ~1e-5, below L-BFGS-B's default tolerances."""
    N, D, L = supervised_runs(48)
    naive = fit.fit_supervised(
        N, D, L, refine=8, method="scipy", settings=fit.OptimizerSettings.scipy_defaults()
    )
    assert naive.objective < 1e-3  # the scale that trips the default stopping rules
    assert not naive.converged
    assert naive.projected_gradient > 100 * fit.KKT_TOL
    worst = max(rel_err(getattr(naive.params, n), v) for n, v in laws.PAPER_SUPERVISED.values().items())
    assert worst > 0.05
    # The same starts with the scaled objective and tight tolerances do converge to the truth.
    good = fit.fit_supervised(N, D, L, refine=8, method="scipy")
    assert good.converged
    assert max(rel_err(getattr(good.params, n), v) for n, v in laws.PAPER_SUPERVISED.values().items()) < 1e-3


def test_batched_shortcut_reaches_the_exhaustive_optimum():
    N, D, L = supervised_runs(48, noise=0.005, seed=2)
    exhaustive = fit.fit_supervised(N, D, L, grid=SMALL_GRID, refine=None, method="scipy")
    shortcut = fit.fit_supervised(N, D, L, grid=SMALL_GRID, refine=8, method="batched")
    assert exhaustive.n_refined == 64 and shortcut.n_refined == 8
    assert exhaustive.converged and shortcut.converged
    assert shortcut.objective <= exhaustive.objective * (1 + 1e-7)
    assert shortcut.objective == pytest.approx(exhaustive.objective, rel=1e-6)
    np.testing.assert_allclose(shortcut.predict(N, D), exhaustive.predict(N, D), rtol=1e-5)


def test_chinchilla_refit_reproduces_epoch_estimates():
    runs = fit_data.chinchilla_runs()
    assert len(runs) == 240
    res = fit.fit_supervised(
        runs["N"], runs["D"], runs["L"], gamma=1.0, delta=1e-3, grid=fit.EPOCH_CHINCHILLA_GRID
    )
    assert res.converged and res.n_starts == 4500
    epoch = laws.EPOCH_CHINCHILLA
    for name in ("E", "alpha", "beta"):
        assert rel_err(getattr(res.params, name), getattr(epoch, name)) < 0.01, name
    for name in ("A", "B"):
        assert rel_err(getattr(res.params, name), getattr(epoch, name)) < 0.05, name


@pytest.mark.slow
def test_distillation_fit_reproduces_noiseless_runs():
    design = fit_data.paper_distillation_design().iloc[::6]
    runs = fit_data.simulate_distillation(
        design, laws.PAPER_SUPERVISED, laws.PAPER_DISTILLATION, 0.0, np.random.default_rng(0)
    )
    # The fitter's own refine (256 starts): with 64, which start wins the flat valley depends on the machine's
    # BLAS and SIMD paths (on an Intel Xeon with OPENBLAS_CORETYPE=Haswell or Zen it stalled at 3e-4).
    res = fit.fit_distillation(
        runs["N_S"], runs["D_S"], runs["L_T"], runs["L_S"], supervised=laws.PAPER_SUPERVISED,
        refine=fit.DEFAULT_REFINE["distillation"],
    )  # fmt: skip
    assert res.n_starts == 216_000 and res.converged
    # The law reproduces its own runs; the coefficients need not match (see the identifiability section of
    # the chapter "Can we trust the fit?": the student term has near-flat directions even without noise).
    assert np.max(np.abs(res.relative_errors())) < 1e-4


# --- Bootstrap and extrapolation ----------------------------------------------------------------------------


def test_resample_weights_are_seeded_counts():
    w = resample_weights(30, 5, seed=4)
    assert w.shape == (5, 30) and np.all(w.sum(axis=1) == 30)
    np.testing.assert_array_equal(w, resample_weights(30, 5, seed=4))
    assert not np.array_equal(w, resample_weights(30, 5, seed=5))


def test_warm_started_refits_match_full_grid_search_on_each_resample(noisy_fit):
    """Warm starts do not shrink intervals: each resample's refit is as good as a cold grid search."""
    boot = bootstrap(noisy_fit, 4, seed=11)
    cold = cold_refits(noisy_fit, resample_weights(noisy_fit.n_runs, 4, seed=11), refine=8)
    assert boot.converged_fraction == 1.0
    for b, (theta, objective, _) in enumerate(cold):
        assert boot.objective[b] <= objective * (1 + 1e-7)
        np.testing.assert_allclose(noisy_fit.law.full(theta), _full(noisy_fit, boot, b), rtol=1e-3, atol=1e-4)


def _full(res, boot, b):
    row = boot.samples.iloc[b]
    return np.array(
        [math.log(row["A"]), math.log(row["B"]), math.log(row["E"]), row["alpha"], row["beta"], 1.0]
    )


def test_bootstrap_refits_really_converge_and_spread():
    """Fails if refits stop early: every refit must pass the optimality test and the refits must move."""
    N, D, L = supervised_runs(73, noise=0.001, seed=5)
    res = fit.fit_supervised(N, D, L, grid=SMALL_GRID, refine=8)
    assert res.objective < 1e-4  # the regime of the convergence trap
    boot = bootstrap(res, 32, level=0.9, seed=0)
    assert boot.converged_fraction == 1.0
    assert np.all(boot.projected_gradient <= fit.KKT_TOL)
    assert np.all(boot.samples.std() > 0)
    iv = boot.intervals()
    for name, (lo, hi) in iv.items():
        assert lo < hi, name
    assert boot.params.intervals == iv
    assert set(boot.table().index) == set(laws.PAPER_SUPERVISED.NAMES)
    wider = boot.intervals(0.99)
    assert all(wider[n][0] <= iv[n][0] and wider[n][1] >= iv[n][1] for n in iv)


def test_gauss_newton_matrix_comes_with_the_same_objective_and_gradient():
    law, data = DistillationLogLaw(), _distillation_data()
    rng = np.random.default_rng(4)
    theta = _true_theta(laws.PAPER_DISTILLATION.replace(c1=20.0, f1=0.3)) + rng.normal(0, 0.02, (3, 9))
    w = rng.poisson(1.0, (3, data.n)).astype(float) + 0.5
    f, g, h = law.batch_gauss_newton(theta, data, w)
    fb, gb = law.batch_objective_and_grad(theta, data, w)
    np.testing.assert_allclose(f, fb, rtol=1e-12)
    np.testing.assert_allclose(g, gb, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h, h.transpose(0, 2, 1))
    assert np.all(np.linalg.eigvalsh(h) > -1e-9 * np.abs(h).max())


def test_gauss_newton_reaches_the_optimum_of_a_well_posed_fit(noisy_fit):
    start = noisy_fit.theta + 0.05
    weights = np.ones((1, noisy_fit.n_runs))
    out = batch_gauss_newton(noisy_fit.law, noisy_fit.data, start[None, :], weights, max_iter=400)
    best, _ = noisy_fit.law.objective_and_grad(noisy_fit.theta, noisy_fit.data)
    assert out.objective[0] <= best * (1 + 1e-6)
    np.testing.assert_allclose(out.theta[0], noisy_fit.theta, rtol=1e-3, atol=1e-3)


def _nearly_constant_tokens_fit():
    """Runs whose token counts span 5%: B / D^beta is one constant, so E trades against it freely."""
    rng = np.random.default_rng(2)
    N = 10 ** rng.uniform(8, 10, 48)
    D = 1e11 * 10 ** rng.uniform(0, 0.05, 48)
    L = laws.supervised_loss(N, D) * np.exp(0.005 * rng.standard_normal(48))
    return fit.fit_supervised(N, D, L, gamma=1.0, grid={k: v for k, v in SMALL_GRID.items() if k != "gamma"})


def test_interval_growth_flags_a_coefficient_the_runs_do_not_bound(noisy_fit):
    """interval_growth flags a coefficient the runs do not bound, and the warm bootstrap does not report a
    narrow interval for it; on a design that spans tokens nothing is flagged.

    With tokens nearly constant, B / D^beta is one constant and E trades against it freely: Gauss-Newton
    refits of the same resamples keep widening E's interval as the objective keeps falling. Where along that
    flat valley a refit stops is a matter of rounding (E's 90% width from the warm bootstrap was 4x E on one
    BLAS kernel and 3000x on another; gradient-tested quasi-Newton refits gave 0.09x and 6000x), so the test
    asserts what every kernel shares: growth, the flag, and a width far above anything the runs could
    support.
    """
    res = _nearly_constant_tokens_fit()
    growth = interval_growth(res, 16, seed=0)
    assert growth.unbounded() == ["E"]
    assert growth.widths.loc["E"].iloc[-1] > 10 * growth.widths.loc["E"].iloc[0]
    objective = growth.objective.to_numpy()
    assert np.all(np.diff(objective) <= 1e-12 * objective[:-1])  # never rises, up to rounding
    warm = bootstrap(res, 16, seed=0)
    assert warm.table().loc["E", "relative_width"] > 1.0  # not "a few per cent": E is not pinned at all
    assert interval_growth(noisy_fit, 16, seed=0).unbounded() == []


def test_warm_and_quasi_newton_refits_agree_on_a_well_posed_law(noisy_fit):
    a = bootstrap(noisy_fit, 16, seed=3)
    b = bootstrap(noisy_fit, 16, seed=3, strategy="quasi-newton")
    assert a.converged_fraction == b.converged_fraction == 1.0
    np.testing.assert_allclose(a.samples.to_numpy(), b.samples.to_numpy(), rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_resamples": 2}, "n_resamples"),
        ({"iterations": (50, 25)}, "iterations"),
        ({"iterations": (0, 25)}, "iterations"),
        ({"level": 1.5}, "level"),
    ],
)
def test_interval_growth_rejects_bad_input(noisy_fit, kwargs, match):
    with pytest.raises(ValueError, match=match):
        interval_growth(noisy_fit, **kwargs)


def test_bootstrap_in_worker_processes_is_the_same_to_the_bit(noisy_fit):
    """Each refit depends on its own resample only, so chunks may run in any process."""
    one = bootstrap(noisy_fit, 12, seed=5, chunk=4)
    two = bootstrap(noisy_fit, 12, seed=5, chunk=4, workers=2)
    np.testing.assert_array_equal(one.samples.to_numpy(), two.samples.to_numpy())
    np.testing.assert_array_equal(one.converged, two.converged)
    assert two.cpu_seconds > 0  # the workers' CPU time comes back with their refits


def test_a_refit_does_not_depend_on_the_others_in_its_chunk(noisy_fit):
    whole = bootstrap(noisy_fit, 12, seed=5, chunk=12)
    pieces = bootstrap(noisy_fit, 12, seed=5, chunk=5)
    np.testing.assert_array_equal(whole.samples.to_numpy(), pieces.samples.to_numpy())


def test_bootstrap_is_reproducible_with_a_seed(noisy_fit):
    a = bootstrap(noisy_fit, 4, seed=7)
    b = bootstrap(noisy_fit, 4, seed=7)
    np.testing.assert_allclose(a.samples.to_numpy(), b.samples.to_numpy())
    assert list(a.samples.columns) == ["E", "A", "B", "alpha", "beta"]  # gamma is fixed: no interval


def test_intervals_without_a_converged_refit_are_nan_not_an_error(noisy_fit):
    """A bootstrap whose refits all fail the optimality test has no interval to give: NaN, said plainly."""
    boot = bootstrap(noisy_fit, 4, seed=7)
    boot.converged[:] = False
    iv = boot.intervals()
    assert set(iv) == {"E", "A", "B", "alpha", "beta"}
    assert all(np.isnan(lo) and np.isnan(hi) for lo, hi in iv.values())
    assert boot.converged_fraction == 0.0


def test_a_refit_whose_coefficients_overflow_is_left_out_not_an_error(noisy_fit):
    """A resample that does not bound a scale coefficient can end with log B beyond exp's range."""
    from distill_scaling.bootstrap import _samples_frame

    thetas = np.array([noisy_fit.theta, noisy_fit.theta])
    thetas[1, noisy_fit.names.index("log_B")] = 800.0
    frame = _samples_frame(noisy_fit, thetas)
    assert frame.iloc[0].notna().all() and frame.iloc[1].isna().all()


def test_extrapolation_check_predicts_held_out_low_loss_runs():
    N, D, L = supervised_runs(48)
    res = fit.fit_supervised(N, D, L, grid=SMALL_GRID, refine=8)
    threshold = float(np.median(L))
    check = extrapolation_check(res, threshold)
    assert check.n_fit + check.n_held_out == 48 and check.n_held_out > 0
    assert np.all(check.held_out["L"] < threshold)
    assert check.max_abs_error < 1e-4
    with pytest.raises(ValueError, match="threshold"):
        extrapolation_check(res, float(L.max()) + 1)
    with pytest.raises(ValueError, match="threshold"):
        extrapolation_check(res, float(L.min()) - 1)


# --- Bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"N": [1e9, 2e9]}, "all arrays need one value per run.*'N' has 2"),
        ({"D": [1e10] * 11 + [-1.0]}, "'D' must be positive"),
        ({"L": [2.5] * 11 + [0.0]}, "'L' must be positive"),
        ({"L": [2.5] * 11 + [float("nan")]}, "'L' has a non-finite value"),
        ({"N": [1e9] * 3, "D": [1e10] * 3, "L": [2.5] * 3}, "3 runs cannot determine 6"),
        ({"delta": 0.0}, "'delta' must be a positive"),
        ({"gamma": -1.0}, "'gamma' must be a positive"),
        ({"refine": 0}, "'refine' must be a positive integer"),
        ({"method": "adam"}, "'method' must be 'batched' or 'scipy'"),
        ({"grid": {"log_A": (1.0,)}}, "grid must give values for exactly"),
        ({"N": "many"}, "'N' must be an array of positive numbers"),
    ],
)
def test_fit_supervised_rejects_bad_input(kwargs, match):
    N, D, L = supervised_runs(12)
    args = {"N": N, "D": D, "L": L, **kwargs}
    N, D, L = args.pop("N"), args.pop("D"), args.pop("L")
    with pytest.raises(ValueError, match=match):
        fit.fit_supervised(N, D, L, **args)


def test_fit_distillation_rejects_bad_input():
    n = 12
    ok = {"N_S": [1e9] * n, "D_S": [2e10] * n, "L_T": [2.5] * n, "L_S": [2.6] * n}
    with pytest.raises(TypeError, match="'supervised' must be a laws.SupervisedCoefficients"):
        fit.fit_distillation(**ok, supervised=laws.PAPER_DISTILLATION)
    with pytest.raises(ValueError, match="'L_T' must be positive"):
        fit.fit_distillation(**{**ok, "L_T": [-2.5] * n}, supervised=laws.PAPER_SUPERVISED)
    with pytest.raises(ValueError, match="'L_S' has 11"):
        fit.fit_distillation(**{**ok, "L_S": [2.6] * 11}, supervised=laws.PAPER_SUPERVISED)
    with pytest.raises(ValueError, match="8 runs cannot determine 9"):
        fit.fit_distillation(**{k: v[:8] for k, v in ok.items()}, supervised=laws.PAPER_SUPERVISED)


def test_bootstrap_rejects_bad_input(noisy_fit):
    with pytest.raises(TypeError, match="'result'"):
        bootstrap("not a fit")
    with pytest.raises(ValueError, match="'n_resamples'"):
        bootstrap(noisy_fit, 1)
    with pytest.raises(ValueError, match="'level'"):
        bootstrap(noisy_fit, 4, level=90)
    with pytest.raises(ValueError, match="'strategy'"):
        bootstrap(noisy_fit, 4, strategy="hot")
    with pytest.raises(ValueError, match="'workers' must be an integer >= 1"):
        bootstrap(noisy_fit, 4, workers=0)
    with pytest.raises(ValueError, match="'chunk' must be an integer >= 1"):
        bootstrap(noisy_fit, 4, chunk=0)


# --- Data for the checks ----------------------------------------------------------------------------------


def test_chinchilla_runs_follow_the_replication():
    all_runs = fit_data.chinchilla_runs(drop_highest=0)
    runs = fit_data.chinchilla_runs()
    assert len(all_runs) == 245 and len(runs) == 240
    assert runs["L"].max() < np.sort(all_runs["L"])[-5]
    np.testing.assert_allclose(runs["C"], 6 * runs["N"] * runs["D"])
    with pytest.raises(ValueError, match="drop_highest"):
        fit_data.chinchilla_runs(drop_highest=-1)


def test_study_scale_design_and_transported_truth_reproduce_the_paper_losses():
    paper = fit_data.paper_distillation_design()
    study = fit_data.rescale_design(paper, fit_data.STUDY_SCALE)
    assert study["N_S"].min() == pytest.approx(3e3) and study["N_T"].max() == pytest.approx(3e6)
    assert study["D_S"].min() == pytest.approx(1e5) and study["D_S"].max() == pytest.approx(3e7)
    sup, dist = fit_data.transported_coefficients(fit_data.STUDY_SCALE)
    for L_T in (2.2, 2.8):
        np.testing.assert_allclose(
            laws.distillation_loss(study["N_S"], study["D_S"], L_T, dist, sup),
            laws.distillation_loss(paper["N_S"], paper["D_S"], L_T),
            rtol=1e-10,
        )
    assert (dist.c0, dist.c1, dist.f1, dist.d1, dist.gamma) == (2.549, 522.6, 0.090, 1.315, 0.764)


# --- Synthetic runs keep their noiseless law ----------------------------------------------------------------


def test_simulated_runs_carry_the_noiseless_law():
    rng = np.random.default_rng(3)
    sup = fit_data.simulate_supervised(fit_data.paper_supervised_design(), laws.PAPER_SUPERVISED, 0.02, rng)
    np.testing.assert_allclose(
        sup["L_clean"], laws.supervised_loss(sup["N"], sup["D"], laws.PAPER_SUPERVISED)
    )
    noise = np.log(sup["L"] / sup["L_clean"])
    assert 0.015 < noise.std() < 0.025  # the noise is relative, of the size asked for

    design = fit_data.paper_distillation_design().iloc[::20]
    dist = fit_data.simulate_distillation(design, laws.PAPER_SUPERVISED, laws.PAPER_DISTILLATION, 0.02, rng)
    clean = laws.distillation_loss(
        dist["N_S"], dist["D_S"], dist["L_T"], laws.PAPER_DISTILLATION, laws.PAPER_SUPERVISED
    )
    np.testing.assert_allclose(dist["L_S_clean"], clean)
    assert not np.allclose(dist["L_S"], dist["L_S_clean"])


def test_supervised_recovery_scores_predictions_against_the_truth():
    from distill_scaling.chapters import trusting_the_fit as chapter

    table = chapter.supervised_recovery([0.0, 0.02], seeds=1, grid=chapter.SMOKE_SUPERVISED_GRID)
    noiseless = table[table["noise"] == 0.0]
    assert (noiseless["truth_max"] < 1e-3).all()
    noisy = table[table["noise"] == 0.02]
    # Against noisy observations the error includes the noise; against the truth it does not.
    assert (noisy["truth_mean"] < noisy["held_out_mean"]).all()

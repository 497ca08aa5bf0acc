"""The supervised and distillation scaling laws and the published coefficient sets.

Units: ``N`` non-embedding parameters, ``D`` tokens (raw counts, not billions), losses in nats per token.

Supervised law (paper Eq. 1)::

    L(N, D) = E + (A / N**alpha + B / D**beta) ** gamma

Distillation law (paper Eq. 8, with the primed coefficients of Eq. 46 / Table 6)::

    L_S = L_T + L_T**(-c0) * (1 + (L_T / (L~_S * d1)) ** (1/f1)) ** (-c1 * f1)
              * (A' / N_S**alpha' + B' / D_S**beta') ** gamma'

where ``L~_S = L(N_S, D_S)`` is the student's supervised loss from the supervised law.
Every function is vectorised over numpy arrays (broadcasting like numpy). ``np.inf`` is a valid size or token
count (the infinite-capacity and infinite-data limits); zero, negative and NaN inputs raise ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

# --- Input checks ------------------------------------------------------------------------------------------


def _positive(name: str, value: ArrayLike, what: str) -> np.ndarray:
    """``value`` as a float array, or ValueError naming ``name`` if any entry is not > 0 (NaN included)."""
    arr = np.asarray(value, dtype=float)
    bad = ~(arr > 0)
    if np.any(bad):
        first = arr[bad].flat[0] if arr.ndim else float(arr)
        raise ValueError(f"{name} must be > 0 ({what}); got {first!r}")
    return arr


def _check_coefficients(obj: SupervisedCoefficients | DistillationCoefficients) -> None:
    # Both laws have non-negative coefficients by construction; zero is allowed because a bounded fit can
    # end on its bound (the fitter's lower bounds are 0), and every formula has a limit there.
    for name in obj.NAMES:
        value = getattr(obj, name)
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"coefficient {name} must be a finite number >= 0; got {value!r}")


def _expect(coef: Any, cls: type, argument: str) -> None:
    if not isinstance(coef, cls):
        raise TypeError(f"{argument} must be a {cls.__name__}; got {type(coef).__name__}")


# --- Coefficient sets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisedCoefficients:
    """Coefficients of L(N, D) = E + (A/N^alpha + B/D^beta)^gamma."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    gamma: float = 1.0
    #: Where the numbers come from (paper, table, fit).
    source: str = field(default="", compare=False)
    #: Published or bootstrap intervals: name -> (low, high). May also hold the derived ``a`` and ``b``.
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False, repr=False)

    NAMES = ("E", "A", "B", "alpha", "beta", "gamma")

    def __post_init__(self) -> None:
        _check_coefficients(self)

    @property
    def a(self) -> float:
        """Compute-optimal exponent of N*: N* ∝ C^a, a = beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Compute-optimal exponent of D*: D* ∝ C^b, b = alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    def values(self) -> dict[str, float]:
        """The coefficients by name (no source, no intervals)."""
        return {n: getattr(self, n) for n in self.NAMES}

    def replace(self, **changes: Any) -> SupervisedCoefficients:
        """A copy with some coefficients changed (validated again)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class DistillationCoefficients:
    """Coefficients of the distillation law (the primed A', B', alpha', beta', gamma' and c0, c1, f1, d1)."""

    A: float
    B: float
    alpha: float
    beta: float
    gamma: float
    c0: float
    c1: float
    f1: float
    d1: float
    source: str = field(default="", compare=False)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False, repr=False)

    NAMES = ("A", "B", "alpha", "beta", "gamma", "c0", "c1", "f1", "d1")

    def __post_init__(self) -> None:
        _check_coefficients(self)

    @property
    def a(self) -> float:
        """a' = beta' / (alpha' + beta')."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """b' = alpha' / (alpha' + beta')."""
        return self.alpha / (self.alpha + self.beta)

    def values(self) -> dict[str, float]:
        """The coefficients by name (no source, no intervals)."""
        return {n: getattr(self, n) for n in self.NAMES}

    def replace(self, **changes: Any) -> DistillationCoefficients:
        """A copy with some coefficients changed (validated again)."""
        return replace(self, **changes)


def coefficient_table(coef: SupervisedCoefficients | DistillationCoefficients) -> list[dict[str, Any]]:
    """Rows ``{name, value, low, high}`` for display (intervals are NaN where none is known)."""
    rows = []
    for name in coef.NAMES:
        low, high = coef.intervals.get(name, (np.nan, np.nan))
        rows.append({"name": name, "value": getattr(coef, name), "low": low, "high": high})
    return rows


# --- Published coefficient sets -------------------------------------------------------------------------

#: Paper Table 6, "Supervised" column, with its 90% bootstrap intervals (4096 resamples, 73 runs).
PAPER_SUPERVISED = SupervisedCoefficients(
    E=1.220,
    A=3355.0,
    B=18186.0,
    alpha=0.408,
    beta=0.431,
    gamma=0.452,
    source="Busbridge et al. (2025), Table 6 (supervised, 73 runs)",
    intervals={
        "A": (3346.0, 3360.0),
        "B": (18157.0, 18236.0),
        "E": (1.190, 1.247),
        "alpha": (0.405, 0.411),
        "beta": (0.428, 0.433),
        "gamma": (0.442, 0.461),
        "a": (0.513, 0.513),
        "b": (0.486, 0.486),
    },
)

#: Paper Table 6, "Distillation" column, with its 90% bootstrap intervals (4096 resamples, 697 runs).
PAPER_DISTILLATION = DistillationCoefficients(
    A=2243.0,
    B=24181.0,
    alpha=0.321,
    beta=0.637,
    gamma=0.764,
    c0=2.549,
    c1=522.6,
    f1=0.090,
    d1=1.315,
    source="Busbridge et al. (2025), Table 6 (distillation, 697 runs)",
    intervals={
        "A": (2227.0, 2255.0),
        "B": (24084.0, 24266.0),
        "alpha": (0.319, 0.324),
        "beta": (0.634, 0.640),
        "gamma": (0.732, 0.788),
        "c0": (2.425, 2.615),
        "c1": (522.6, 522.6),
        "f1": (0.088, 0.093),
        "d1": (1.302, 1.327),
        "a": (0.662, 0.665),
        "b": (0.334, 0.337),
    },
)

#: Hoffmann et al. (2022), approach 3, as published (rounded); gamma = 1 by construction.
CHINCHILLA = SupervisedCoefficients(
    E=1.69,
    A=406.4,
    B=410.7,
    alpha=0.34,
    beta=0.28,
    gamma=1.0,
    source="Hoffmann et al. (2022), approach 3 (published, rounded)",
)

#: Besiroglu et al. (2024), Epoch AI's refit of Chinchilla's Figure 4 data; gamma = 1.
EPOCH_CHINCHILLA = SupervisedCoefficients(
    E=1.8172,
    A=482.01,
    B=2085.43,
    alpha=0.3478,
    beta=0.3658,
    gamma=1.0,
    source="Besiroglu et al. (2024), refit of Hoffmann et al.'s Figure 4 data",
)


# --- The laws ---------------------------------------------------------------------------------------------


def supervised_loss(
    N: ArrayLike, D: ArrayLike, coef: SupervisedCoefficients = PAPER_SUPERVISED
) -> np.ndarray:
    """L(N, D) = E + (A/N^alpha + B/D^beta)^gamma. ``D = np.inf`` gives the infinite-data limit."""
    _expect(coef, SupervisedCoefficients, "coef")
    N = _positive("N", N, "non-embedding parameters")
    D = _positive("D", D, "training tokens")
    return coef.E + (coef.A * N ** (-coef.alpha) + coef.B * D ** (-coef.beta)) ** coef.gamma


def supervised_limit(N: ArrayLike, coef: SupervisedCoefficients = PAPER_SUPERVISED) -> np.ndarray:
    """L(N, D = inf) = E + (A N^-alpha)^gamma (paper Eq. 35)."""
    return supervised_loss(N, np.inf, coef)


def capacity_factor(
    L_T: ArrayLike, L_S_supervised: ArrayLike, coef: DistillationCoefficients = PAPER_DISTILLATION
) -> np.ndarray:
    """The broken-power-law factor (1 + (L_T / (L~_S d1))^(1/f1))^(-c1 f1), in [0, 1].

    Close to 1 while the teacher is much stronger than the student could learn alone; falls steeply to 0 as
    L_T / L~_S approaches d1 (the student then copies the teacher). Computed in log space to avoid overflow.
    """
    _expect(coef, DistillationCoefficients, "coef")
    L_T = _positive("L_T", L_T, "teacher cross-entropy, nats per token")
    L_sup = _positive("L_S_supervised", L_S_supervised, "student supervised cross-entropy, nats per token")
    return _capacity_factor(L_T, L_sup, coef)


def _capacity_factor(L_T: np.ndarray, L_sup: np.ndarray, coef: DistillationCoefficients) -> np.ndarray:
    with np.errstate(divide="ignore"):  # L~_S = inf gives ratio 0, log -inf, factor 1: the intended limit
        log_ratio = np.log(L_T) - np.log(L_sup * coef.d1)
    # Elementwise in f1, so that coefficient arrays (bootstrap samples stacked by optimal) broadcast.
    f1 = np.asarray(coef.f1, dtype=float)
    sharp = f1 == 0  # the sharp limit f1 -> 0: f1 log(1 + r^(1/f1)) -> max(0, log r)
    log_term = f1 * np.logaddexp(0.0, log_ratio / np.where(sharp, 1.0, f1))
    return np.exp(-coef.c1 * np.where(sharp, np.maximum(log_ratio, 0.0), log_term))


def distillation_loss(
    N_S: ArrayLike,
    D_S: ArrayLike,
    L_T: ArrayLike,
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
) -> np.ndarray:
    """Student cross-entropy on data, L_S(N_S, D_S, L_T) (paper Eq. 8).

    ``supervised_coef`` gives L~_S = L(N_S, D_S), the student's supervised loss inside the law.
    """
    _expect(coef, DistillationCoefficients, "coef")
    _expect(supervised_coef, SupervisedCoefficients, "supervised_coef")
    N_S = _positive("N_S", N_S, "student non-embedding parameters")
    D_S = _positive("D_S", D_S, "distillation tokens")
    L_T = _positive("L_T", L_T, "teacher cross-entropy, nats per token")
    L_sup = supervised_loss(N_S, D_S, supervised_coef)
    return _distillation_given(L_T, L_sup, _mimic_term(N_S, D_S, coef), coef)


def _mimic_term(N_S: np.ndarray, D_S: np.ndarray, coef: DistillationCoefficients) -> np.ndarray:
    """(A'/N_S^alpha' + B'/D_S^beta')^gamma': the student's ability to mimic the teacher."""
    return (coef.A * N_S ** (-coef.alpha) + coef.B * D_S ** (-coef.beta)) ** coef.gamma


def _distillation_given(
    L_T: np.ndarray, L_sup: np.ndarray, mimic: np.ndarray, coef: DistillationCoefficients
) -> np.ndarray:
    """Eq. 8 from its teacher-independent parts (inputs already validated; used in inner loops)."""
    return L_T + L_T ** (-coef.c0) * _capacity_factor(L_T, L_sup, coef) * mimic


class OptimalTeacher(NamedTuple):
    """Result of :func:`optimal_teacher`: the best teacher loss L*_T and the student loss it gives."""

    teacher_loss: np.ndarray
    student_loss: np.ndarray


def optimal_teacher(
    N_S: ArrayLike,
    D_S: ArrayLike,
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    *,
    bounds: tuple[float, float] | None = None,
    grid_points: int = 256,
) -> OptimalTeacher:
    """L*_T = argmin over L_T of L_S(N_S, D_S, L_T), and L_S(N_S, D_S, L*_T), broadcast over N_S and D_S.

    The search runs over teacher losses in ``bounds``; by default from the supervised irreducible loss E (no
    teacher of the supervised law gets below it) to 2 d1 L~_S (beyond d1 L~_S the broken-power-law factor has
    switched off and L_S ~ L_T only grows). L_S can have two local minima in L_T (the L_T^-c0 valley and the
    one where the factor switches off), so a geometric grid of ``grid_points`` first picks the basin, then a
    golden-section search polishes it to about 1e-13 relative. A minimum on a bound is returned as the bound.
    """
    _expect(coef, DistillationCoefficients, "coef")
    _expect(supervised_coef, SupervisedCoefficients, "supervised_coef")
    if not isinstance(grid_points, int) or grid_points < 8:
        raise ValueError(f"grid_points must be an int >= 8; got {grid_points!r}")
    N_S = _positive("N_S", N_S, "student non-embedding parameters")
    D_S = _positive("D_S", D_S, "distillation tokens")
    N_S, D_S = np.broadcast_arrays(N_S, D_S)
    L_sup = supervised_loss(N_S, D_S, supervised_coef)
    if bounds is None:
        lo = np.full(N_S.shape, max(supervised_coef.E, 1e-3))
        hi = np.maximum(2.0 * coef.d1 * L_sup, 2.0 * lo)
    else:
        low, high = bounds
        if not (0 < low < high and math.isfinite(high)):
            raise ValueError(f"bounds must satisfy 0 < low < high < inf; got {bounds!r}")
        lo, hi = np.full(N_S.shape, float(low)), np.full(N_S.shape, float(high))

    # Everything but L_T is fixed during the search: compute it once, and skip re-validation in the loop.
    L_sup_, mimic_ = L_sup[..., None], _mimic_term(N_S, D_S, coef)[..., None]

    def loss(L_T: np.ndarray) -> np.ndarray:
        return _distillation_given(L_T, L_sup_, mimic_, coef)

    # Stage 1: geometric grid, last axis.
    t = np.linspace(0.0, 1.0, grid_points)
    grid = lo[..., None] * (hi / lo)[..., None] ** t
    values = loss(grid)
    best = np.argmin(values, axis=-1)[..., None]
    left = np.take_along_axis(grid, np.maximum(best - 1, 0), axis=-1)
    right = np.take_along_axis(grid, np.minimum(best + 1, grid_points - 1), axis=-1)

    # Stage 2: golden-section search inside the bracket around the best grid point (vectorised).
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = left, right
    c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(60):  # the bracket shrinks by 0.618 per step: 60 steps leave ~3e-13 of it
        go_left = fc < fd
        b = np.where(go_left, d, b)
        a = np.where(go_left, a, c)
        new_c = b - inv_phi * (b - a)
        new_d = a + inv_phi * (b - a)
        c, d = np.where(go_left, new_c, d), np.where(go_left, c, new_d)
        fc, fd = np.where(go_left, loss(new_c), fd), np.where(go_left, fc, loss(new_d))
    # Keep the best of the polished point and the grid's end points (a minimum on a bound stays there).
    candidates = np.concatenate([(a + b) / 2.0, grid[..., :1], grid[..., -1:]], axis=-1)
    cand_values = loss(candidates)
    pick = np.argmin(cand_values, axis=-1)[..., None]
    teacher = np.take_along_axis(candidates, pick, axis=-1)[..., 0]
    student = np.take_along_axis(cand_values, pick, axis=-1)[..., 0]
    return OptimalTeacher(teacher_loss=teacher, student_loss=student)


def supervised_params_for_loss(
    loss: ArrayLike, tokens_per_param: ArrayLike = 20.0, coef: SupervisedCoefficients = PAPER_SUPERVISED
) -> np.ndarray:
    """The size N with L(N, M N) = ``loss`` for a model trained on M = ``tokens_per_param`` tokens per param.

    L(N, M N) falls monotonically with N towards E, so every loss in (E, L(1, M)) has exactly one solution;
    it is found by bisection in log N. Used to name the teacher size that reaches a given teacher loss.
    """
    _expect(coef, SupervisedCoefficients, "coef")
    target = _positive("loss", loss, "cross-entropy, nats per token")
    M = _positive("tokens_per_param", tokens_per_param, "tokens per parameter")
    target, M = np.broadcast_arrays(target, M)
    lo_log, hi_log = np.zeros(target.shape), np.full(target.shape, 80.0)  # N in [1, e^80]
    weakest = supervised_loss(1.0, M, coef)
    if np.any(target <= coef.E) or np.any(target >= weakest):
        raise ValueError(
            f"loss must lie strictly between E = {coef.E:g} and L(N=1, D=M) = {float(np.min(weakest)):g}; "
            f"got values in [{float(np.min(target)):g}, {float(np.max(target)):g}]"
        )
    for _ in range(200):
        mid = (lo_log + hi_log) / 2.0
        N = np.exp(mid)
        too_weak = supervised_loss(N, M * N, coef) > target
        lo_log = np.where(too_weak, mid, lo_log)
        hi_log = np.where(too_weak, hi_log, mid)
    return np.exp((lo_log + hi_log) / 2.0)


# --- Serialisation ----------------------------------------------------------------------------------------


def as_dict(coef: SupervisedCoefficients | DistillationCoefficients) -> dict[str, Any]:
    """A JSON-friendly dictionary of the coefficients (with source and intervals)."""
    d = asdict(coef)
    d["intervals"] = {k: list(v) for k, v in coef.intervals.items()}
    d["kind"] = "supervised" if isinstance(coef, SupervisedCoefficients) else "distillation"
    return d


def from_dict(d: dict[str, Any]) -> SupervisedCoefficients | DistillationCoefficients:
    """Inverse of :func:`as_dict`. Unknown or missing keys raise ValueError naming them."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in (None, "supervised", "distillation"):
        raise ValueError(f"kind must be 'supervised' or 'distillation'; got {kind!r}")
    if kind is None:
        kind = "supervised" if "E" in d else "distillation"
    cls = SupervisedCoefficients if kind == "supervised" else DistillationCoefficients
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {kind} coefficient keys {unknown}; allowed: {sorted(names)}")
    missing = [n for n in cls.NAMES if n not in d and not (n == "gamma" and cls is SupervisedCoefficients)]
    if missing:
        raise ValueError(f"missing {kind} coefficients {missing}")
    d["intervals"] = {k: tuple(v) for k, v in d.get("intervals", {}).items()}
    return cls(**d)

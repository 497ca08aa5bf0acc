"""The supervised and distillation scaling laws and the published coefficient sets.

Units: ``N`` non-embedding parameters, ``D`` tokens (raw counts, not billions), losses in nats per token.

Supervised law (paper Eq. 1)::

    L(N, D) = E + (A / N**alpha + B / D**beta) ** gamma

Distillation law (paper Eq. 8, with the primed coefficients of Eq. 46 / Table 6)::

    L_S = L_T + L_T**(-c0) * (1 + (L_T / (L~_S * d1)) ** (1/f1)) ** (-c1 * f1)
              * (A' / N_S**alpha' + B' / D_S**beta') ** gamma'

where ``L~_S = L(N_S, D_S)`` is the student's supervised loss from the supervised law.
Every function is vectorised over numpy arrays (broadcasting like numpy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


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
    #: Published or bootstrap intervals: name -> (low, high).
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False, repr=False)

    NAMES = ("E", "A", "B", "alpha", "beta", "gamma")

    @property
    def a(self) -> float:
        """Compute-optimal exponent of N*: N* ∝ C^a, a = beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Compute-optimal exponent of D*: D* ∝ C^b, b = alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    def values(self) -> dict[str, float]:
        return {n: getattr(self, n) for n in self.NAMES}

    def replace(self, **changes: Any) -> SupervisedCoefficients:
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

    @property
    def a(self) -> float:
        """a' = beta' / (alpha' + beta')."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """b' = alpha' / (alpha' + beta')."""
        return self.alpha / (self.alpha + self.beta)

    def values(self) -> dict[str, float]:
        return {n: getattr(self, n) for n in self.NAMES}

    def replace(self, **changes: Any) -> DistillationCoefficients:
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


def supervised_loss(N: ArrayLike, D: ArrayLike, coef: SupervisedCoefficients = PAPER_SUPERVISED) -> np.ndarray:
    """L(N, D) = E + (A/N^alpha + B/D^beta)^gamma. ``D = np.inf`` gives the infinite-data limit."""
    N = np.asarray(N, dtype=float)
    D = np.asarray(D, dtype=float)
    return coef.E + (coef.A * N ** (-coef.alpha) + coef.B * D ** (-coef.beta)) ** coef.gamma


def supervised_limit(N: ArrayLike, coef: SupervisedCoefficients = PAPER_SUPERVISED) -> np.ndarray:
    """L(N, D = inf) = E + (A N^-alpha)^gamma (paper Eq. 35)."""
    return supervised_loss(N, np.inf, coef)


def capacity_factor(
    L_T: ArrayLike, L_S_supervised: ArrayLike, coef: DistillationCoefficients = PAPER_DISTILLATION
) -> np.ndarray:
    """The broken-power-law factor (1 + (L_T / (L~_S d1))^(1/f1))^(-c1 f1), in [0, 1].

    Close to 1 while the teacher is much stronger than the student could learn alone; falls steeply to 0 as
    L_T / L~_S passes d1 (the student then copies the teacher). Computed in log space to avoid overflow.
    """
    ratio = np.asarray(L_T, dtype=float) / (np.asarray(L_S_supervised, dtype=float) * coef.d1)
    log_term = np.logaddexp(0.0, np.log(ratio) / coef.f1)
    return np.exp(-coef.c1 * coef.f1 * log_term)


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
    N_S = np.asarray(N_S, dtype=float)
    D_S = np.asarray(D_S, dtype=float)
    L_T = np.asarray(L_T, dtype=float)
    L_sup = supervised_loss(N_S, D_S, supervised_coef)
    power = (coef.A * N_S ** (-coef.alpha) + coef.B * D_S ** (-coef.beta)) ** coef.gamma
    return L_T + L_T ** (-coef.c0) * capacity_factor(L_T, L_sup, coef) * power


def as_dict(coef: SupervisedCoefficients | DistillationCoefficients) -> dict[str, Any]:
    """A JSON-friendly dictionary of the coefficients (with source and intervals)."""
    d = asdict(coef)
    d["intervals"] = {k: list(v) for k, v in coef.intervals.items()}
    d["kind"] = "supervised" if isinstance(coef, SupervisedCoefficients) else "distillation"
    return d


def from_dict(d: dict[str, Any]) -> SupervisedCoefficients | DistillationCoefficients:
    """Inverse of :func:`as_dict`."""
    d = dict(d)
    kind = d.pop("kind", None)
    cls = SupervisedCoefficients if kind == "supervised" or "E" in d else DistillationCoefficients
    names = {f.name for f in fields(cls)}
    d["intervals"] = {k: tuple(v) for k, v in d.get("intervals", {}).items()}
    return cls(**{k: v for k, v in d.items() if k in names})

"""Data for testing the fitter: Chinchilla's runs (real) and synthetic runs from known coefficients.

:func:`chinchilla_runs` loads the 245 runs of Hoffmann et al. (2022) as extracted by Besiroglu et al. (2024)
(``data/reference/``, with its provenance note); :data:`EPOCH_BOOTSTRAP` quotes the replication's bootstrap
standard errors and intervals.

Synthetic data: a *design* says which runs exist (sizes and token counts of teachers and students);
:func:`simulate_supervised` and :func:`simulate_distillation` give them losses from chosen coefficients
(by default the paper's Table 6) with multiplicative noise of a known size. Two scales:

- :data:`PAPER_SCALE`: the paper's model zoo (143M to 12.6B non-embedding parameters) and compute budgets
  (paper Sec. 4.2 and App. E: fixed-M teachers with student IsoFLOPs; IsoFLOP teachers with fixed-M students;
  fixed-M teachers with fixed-M students at M_S = 20..320).
- :data:`STUDY_SCALE`: the same shapes stretched over our planned study (3e3 to 3e6 parameters, 1e5 to 3e7
  tokens). The paper's coefficients would give meaningless losses there, so the truth is the Table 6 law
  *transported* to those units through the log-linear map between the two ranges, which changes A, B,
  alpha and beta (:func:`transported_coefficients`); E, gamma and the teacher terms stay the paper's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import paths
from .laws import (
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    DistillationCoefficients,
    SupervisedCoefficients,
    distillation_loss,
    supervised_loss,
)

#: Besiroglu et al. (2024)'s bootstrap of their Chinchilla refit (4000 resamples, BFGS from Hoffmann et
#: al.'s estimates): standard errors and 95% percentile intervals, as printed in the outputs of
#: ``data_analysis.ipynb`` in github.com/epoch-research/analyzing-chinchilla at commit
#: 92258837425e1b5f2851d624287f0120583a3d0e. The paper (arXiv 2404.10102, Table 1) rounds the same
#: standard errors (A 124.58, B 1293.23, E 0.03, alpha 0.02, beta 0.02 as quoted by secondary sources; we
#: could not read the table itself).
EPOCH_BOOTSTRAP = {
    "n_resamples": 4000,
    "std": {"E": 0.02566, "A": 124.52232, "B": 1293.28410, "alpha": 0.01540, "beta": 0.02060},
    "interval_95": {
        "E": (1.769, 1.871),
        "A": (285.214, 743.626),
        "B": (1042.357, 5810.344),
        "alpha": (0.317, 0.373),
        "beta": (0.331, 0.415),
    },
}

#: Besiroglu et al.'s own grid-search fit with the plain Huber loss (delta = 1e-3, L-BFGS-B from their grid),
#: as printed by ``data_analysis.ipynb`` (same commit); their published estimate comes from a second fit
#: (Huber likelihood with a fitted scale, BFGS from Hoffmann et al.'s values).
EPOCH_GRID_FIT = SupervisedCoefficients(
    E=1.817235504463726,
    A=477.84171252965143,
    B=2143.8637880335505,
    alpha=0.34731265761033453,
    beta=0.3671826173946711,
    gamma=1.0,
    source="Besiroglu et al. (2024), grid-search Huber fit printed in their notebook",
)

#: Hoffmann et al. (2022)'s approach-3 estimates at full precision (from the paper's TeX source, as used by
#: Besiroglu et al.'s notebook: log A = 6.0073404, log B = 6.0179186, log E = 0.5267228).
HOFFMANN_TEX = SupervisedCoefficients(
    E=math.exp(0.5267228),
    A=math.exp(6.0073404),
    B=math.exp(6.0179186),
    alpha=0.33917084,
    beta=0.2849083,
    gamma=1.0,
    source="Hoffmann et al. (2022), approach 3, TeX-source precision",
)

CHINCHILLA_FILE = "reference/chinchilla_figure4_epoch_extraction.csv"


def chinchilla_runs(drop_highest: int = 5) -> pd.DataFrame:
    """Chinchilla's runs (columns ``N``, ``D``, ``C``, ``L``), tokens D = C / (6 N), sorted as in the file.

    ``drop_highest`` removes that many highest-loss runs, as the replication did (it keeps the runs whose
    loss is strictly below the ``drop_highest``-th highest); 0 keeps all 245.
    """
    if isinstance(drop_highest, bool) or not isinstance(drop_highest, int) or not 0 <= drop_highest < 245:
        raise ValueError(
            f"chinchilla_runs: 'drop_highest' must be an integer in [0, 244], got {drop_highest!r}"
        )
    raw = pd.read_csv(paths.data_dir() / CHINCHILLA_FILE)
    runs = pd.DataFrame({"N": raw["Model Size"], "C": raw["Training FLOP"], "L": raw["loss"]})
    runs["D"] = runs["C"] / (6 * runs["N"])
    if drop_highest:
        cut = np.sort(runs["L"].to_numpy())[-drop_highest]
        runs = runs[runs["L"] < cut]
    return runs[["N", "D", "C", "L"]].reset_index(drop=True)


#: Non-embedding sizes of the paper's model zoo (Table 13), 103M to 12.6B.
PAPER_ZOO = np.array(
    [
        0.1028, 0.1434, 0.1983, 0.2657, 0.3398, 0.4348, 0.546, 0.6636, 0.8096, 0.9755, 1.147, 1.355, 1.586,
        1.821, 2.102, 2.41, 2.718, 3.082, 3.478, 3.87, 4.329, 4.823, 5.309, 5.873, 6.476, 7.066, 7.747, 8.47,
        9.173, 10.05, 10.84, 11.66, 12.61,
    ]
) * 1e9  # fmt: skip

#: Paper's IsoFLOP budgets (FLOPs, C = 6 N D) for teachers and students.
PAPER_ISOFLOPS = (3e19, 1e20, 3e20, 1e21)


@dataclass(frozen=True)
class Scale:
    """Where a design lives, as an affine map of log sizes and log tokens onto the paper's:
    log N_paper = n_shift + n_slope log N, log D_paper = d_shift + d_slope log D."""

    name: str
    n_shift: float = 0.0
    n_slope: float = 1.0
    d_shift: float = 0.0
    d_slope: float = 1.0

    @classmethod
    def mapping(cls, name: str, ours: tuple[tuple[float, float], tuple[float, float]], paper) -> Scale:
        """The map sending our (N range, D range) onto the paper's, end to end in log space."""
        (n0, n1), (d0, d1) = ours
        (p0, p1), (q0, q1) = paper
        ns = math.log(p1 / p0) / math.log(n1 / n0)
        ds = math.log(q1 / q0) / math.log(d1 / d0)
        return cls(name, math.log(p0) - ns * math.log(n0), ns, math.log(q0) - ds * math.log(d0), ds)


#: The paper's own units.
PAPER_SCALE = Scale("paper")
#: Our planned study: 3e3..3e6 parameters and 1e5..3e7 tokens, mapped end to end onto the range of the
#: paper-shaped designs (1.43e8..1.26e10 parameters, 2.87e9..5.83e11 tokens). Our sizes span three decades
#: where the paper's span two, so the exponents of the transported truth are smaller (alpha x 0.65).
STUDY_SCALE = Scale.mapping("study", ((3e3, 3e6), (1e5, 3e7)), ((1.434e8, 1.261e10), (2.868e9, 5.8272e11)))


def transported_coefficients(
    scale: Scale,
    supervised: SupervisedCoefficients = PAPER_SUPERVISED,
    distillation: DistillationCoefficients = PAPER_DISTILLATION,
) -> tuple[SupervisedCoefficients, DistillationCoefficients]:
    """Coefficients that give, at (N, D) of ``scale``, the losses the given ones give at the mapped point.

    A / N_paper^alpha = A exp(-alpha n_shift) / N^(alpha n_slope): A and alpha change (B and beta alike);
    E, gamma and the teacher terms act on losses and stay as they are.
    """

    def move(c, source):
        return c.replace(
            A=c.A * math.exp(-c.alpha * scale.n_shift),
            alpha=c.alpha * scale.n_slope,
            B=c.B * math.exp(-c.beta * scale.d_shift),
            beta=c.beta * scale.d_slope,
            source=f"{source} transported to the {scale.name} scale",
            intervals={},
        )

    return move(supervised, supervised.source), move(distillation, distillation.source)


def _isoflop_sizes(budget: float, sizes: np.ndarray, m_range: tuple[float, float]) -> np.ndarray:
    tokens = budget / (6 * sizes)
    ratio = tokens / sizes
    return sizes[(ratio >= m_range[0]) & (ratio <= m_range[1])]


def paper_supervised_design() -> pd.DataFrame:
    """73 teacher runs like the paper's supervised fit (App. E.2): eleven fixed-M models (D = 20 N), six
    models on 512B tokens and the four IsoFLOP profiles (D / N from 2.8 to 300)."""
    rows = [("fixed-M", n, 20 * n) for n in PAPER_ZOO[1::3]]
    rows += [("512B tokens", n, 512e9) for n in PAPER_ZOO[[1, 2, 6, 9, 13, 16]]]
    for c in PAPER_ISOFLOPS:
        rows += [("IsoFLOP", n, c / (6 * n)) for n in _isoflop_sizes(c, PAPER_ZOO, (2.8, 300))]
    return pd.DataFrame(rows, columns=["protocol", "N", "D"])


def paper_distillation_design() -> pd.DataFrame:
    """About 700 distillation runs shaped like the paper's three protocols (Sec. 4.2, App. E.3-E.5).

    1. six fixed-M teachers (D_T = 20 N_T), students along the four student IsoFLOPs;
    2. four fixed-M students (198M..1.82B, D_S = 20 N_S), teachers along the four teacher IsoFLOPs;
    3. ten fixed-M teachers, students of five sizes at M_S in {20, 40, 80, 160, 320};
    plus students distilled on 512B tokens from three teachers (App. E.7).
    """
    zoo = PAPER_ZOO
    rows = []
    for nt in (0.546e9, 0.9755e9, 1.821e9, 2.718e9, 4.823e9, 7.747e9):
        for c in PAPER_ISOFLOPS:
            rows += [
                ("student IsoFLOP", nt, 20 * nt, ns, c / (6 * ns)) for ns in _isoflop_sizes(c, zoo, (3, 300))
            ]
    for ns in (0.1983e9, 0.546e9, 0.9755e9, 1.821e9):
        for c in PAPER_ISOFLOPS:
            rows += [
                ("teacher IsoFLOP", nt, c / (6 * nt), ns, 20 * ns)
                for nt in _isoflop_sizes(c, zoo[::2], (2, 400))
            ]
    for nt in zoo[[1, 2, 3, 6, 9, 13, 16, 21, 26, 32]]:
        for ns in (0.1434e9, 0.1983e9, 0.546e9, 0.9755e9, 1.821e9):
            rows += [("fixed-M both", nt, 20 * nt, ns, m * ns) for m in (20, 40, 80, 160, 320)]
    for nt in (0.9755e9, 2.718e9, 7.747e9):
        rows += [("512B tokens", nt, 20 * nt, ns, 512e9) for ns in (0.1434e9, 0.546e9, 1.821e9)]
    return pd.DataFrame(rows, columns=["protocol", "N_T", "D_T", "N_S", "D_S"])


def rescale_design(design: pd.DataFrame, scale: Scale) -> pd.DataFrame:
    """A paper-unit design expressed at ``scale`` (the inverse of the scale's map, column by column)."""
    out = design.copy()
    for col in out.columns:
        if col.startswith("N"):
            out[col] = np.exp((np.log(out[col]) - scale.n_shift) / scale.n_slope)
        elif col.startswith("D"):
            out[col] = np.exp((np.log(out[col]) - scale.d_shift) / scale.d_slope)
    return out


def simulate_supervised(
    design: pd.DataFrame, coef: SupervisedCoefficients, noise: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Add a loss column ``L``: law x exp(noise x standard normal), ``noise`` a relative std; and ``L_clean``,
    the law itself (what a prediction should be judged against)."""
    out = design.copy()
    out["L_clean"] = supervised_loss(out["N"], out["D"], coef)
    out["L"] = out["L_clean"] * np.exp(noise * rng.standard_normal(len(out)))
    return out


def simulate_distillation(
    design: pd.DataFrame,
    supervised: SupervisedCoefficients,
    distillation: DistillationCoefficients,
    noise: float,
    rng: np.random.Generator,
    teacher_noise: float | None = None,
) -> pd.DataFrame:
    """Add teacher losses ``L_T`` (supervised law) and student losses ``L_S`` (distillation law), each with
    multiplicative noise of relative size ``noise`` (``teacher_noise`` for teachers; default the same).

    The student's loss is generated from the *measured* teacher loss, which is what the law takes as input;
    ``L_S_clean`` is the law's student loss at that teacher loss, before the student's noise.
    """
    out = design.copy()
    tn = noise if teacher_noise is None else teacher_noise
    out["L_T"] = supervised_loss(out["N_T"], out["D_T"], supervised) * np.exp(
        tn * rng.standard_normal(len(out))
    )
    clean = distillation_loss(out["N_S"], out["D_S"], out["L_T"], distillation, supervised)
    out["L_S_clean"] = clean
    out["L_S"] = clean * np.exp(noise * rng.standard_normal(len(out)))
    return out

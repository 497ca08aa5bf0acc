"""The format of the files under ``data/fits/``: the coefficient sets the planner reads.

A fit file (:data:`FIT_FORMAT`, ``distill_scaling/coefficients/1``) holds the two laws' coefficients, point
estimates with their intervals and, optionally, bootstrap samples paired by index: a :class:`CoefficientSet`
(:func:`load_coefficient_set`, :func:`write_coefficient_set`). ``"paper"`` is Table 6 of Busbridge et al.
(2025), ``"ours"`` is ``data/fits/ours.json``, our two fits together (written by
:func:`distill_scaling.fits.write_ours`). A single law's fit, ``data/fits/supervised.json`` or
``distillation.json`` (:func:`distill_scaling.fits.save_fit`), is a file of the same format with more in it.

This module is the format alone, apart from :mod:`distill_scaling.fits` (the fits themselves, which need the
fitter, the bootstrap and the study's records), so that the planner and the pages that only read
coefficients import none of that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import laws, paths
from .errors import InputError
from .laws import PAPER_DISTILLATION, PAPER_SUPERVISED, DistillationCoefficients, SupervisedCoefficients

# --- Coefficient sets ------------------------------------------------------------------------------------


class CoefficientFileError(InputError):
    """A coefficients file that cannot be used; the message names the file and what is wrong."""


#: Format tag of a fitted-coefficients file, ``data/fits/<name>.json``.
FIT_FORMAT = "distill_scaling/coefficients/1"


@dataclass(frozen=True)
class CoefficientSet:
    """The two laws' coefficients used together, with optional bootstrap samples (paired by index).

    File format (``data/fits/<name>.json``, written by :func:`write_coefficient_set`)::

        {"format": "distill_scaling/coefficients/1", "name": "ours", "description": "...",
         "supervised":   {<laws.as_dict of the point estimate>},
         "distillation": {<laws.as_dict of the point estimate>},
         "samples": {"supervised":   {"E": [...], "A": [...], ...},     # one list per coefficient,
                     "distillation": {"A": [...], ...}},                # all of one length
         "provenance": {...}}

    ``samples`` is optional; when present both laws have the same number of samples and sample ``i`` of one
    is used with sample ``i`` of the other.
    """

    name: str
    supervised: SupervisedCoefficients
    distillation: DistillationCoefficients
    supervised_samples: tuple[SupervisedCoefficients, ...] = ()
    distillation_samples: tuple[DistillationCoefficients, ...] = ()
    description: str = ""
    #: What the coefficients were fitted on: law -> quantity (``n_params``, ``tokens``, ``teacher_loss``) ->
    #: (low, high). Empty when unknown. The planner flags inputs and answers outside these ranges.
    ranges: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return len(self.supervised_samples)


PAPER = CoefficientSet(
    "paper",
    PAPER_SUPERVISED,
    PAPER_DISTILLATION,
    description="Busbridge et al. (2025), Table 6 (point estimates; the bootstrap samples are not published)",
    # The paper's models span 143M to 12.6B parameters (App. E, Table 13) and its distillation runs D_S from
    # 4B to 512B tokens (Fig. 1's colour bar); teachers train on up to 512B tokens.
    ranges={
        "supervised": {"n_params": (1.43e8, 1.26e10), "tokens": (2.86e9, 5.12e11)},
        "distillation": {"n_params": (1.43e8, 7.75e9), "tokens": (4e9, 5.12e11)},
    },
)

#: Names accepted by :func:`load_coefficient_set` besides a path to a JSON file.
COEFFICIENT_SETS = ("paper", "ours")


def fits_dir() -> Path:
    """Where fitted coefficient files live: ``<data>/fits``."""
    return paths.data_dir() / "fits"


def fit_path(name: str) -> Path:
    """Where a fitted-coefficients file lives: ``<data>/fits/<name>.json`` (``supervised``, ``distillation``,
    ``ours``)."""
    return fits_dir() / f"{name}.json"


def _samples(kind: str, columns: Any, cls: type, where: Path) -> list:
    if not isinstance(columns, dict) or not columns:
        raise CoefficientFileError(f"{where}: samples.{kind} must map coefficient names to lists of numbers")
    if not all(isinstance(v, list) for v in columns.values()):
        raise CoefficientFileError(f"{where}: samples.{kind} must map coefficient names to lists of numbers")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise CoefficientFileError(f"{where}: samples.{kind} lists have different lengths {sorted(lengths)}")
    missing = [
        n for n in cls.NAMES if n not in columns and not (n == "gamma" and cls is SupervisedCoefficients)
    ]
    if missing:
        raise CoefficientFileError(f"{where}: samples.{kind} misses coefficients {missing}")
    n = lengths.pop()
    try:
        return [cls(**{k: float(v[i]) for k, v in columns.items()}) for i in range(n)]
    except (TypeError, ValueError) as exc:
        raise CoefficientFileError(f"{where}: samples.{kind} holds a bad value ({exc})") from None


def _law(doc: dict[str, Any], kind: str, cls: type, where: Path):
    value = doc.get(kind)
    if not isinstance(value, dict):
        raise CoefficientFileError(
            f"{where}: {kind!r} must be an object holding the {kind} law's coefficients; "
            f"got {type(value).__name__ if value is not None else 'nothing'}"
        )
    try:
        coef = laws.from_dict({"kind": kind, **value})
    except (TypeError, ValueError) as exc:
        raise CoefficientFileError(f"{where}: {kind!r}: {exc}") from None
    if not isinstance(coef, cls):
        raise CoefficientFileError(f"{where}: {kind!r} does not hold the {kind} law's coefficients")
    return coef


def _ranges(doc: dict[str, Any], where: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """``provenance.ranges`` of a coefficients file (optional), checked."""
    raw = (doc.get("provenance") or {}).get("ranges") if isinstance(doc.get("provenance"), dict) else None
    if raw is None:
        return {}
    out: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        for law, quantities in raw.items():
            out[law] = {}
            for q, (lo, hi) in quantities.items():
                lo, hi = float(lo), float(hi)
                if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                    raise ValueError(f"{law}.{q} = [{lo}, {hi}]")
                out[law][q] = (lo, hi)
    except (AttributeError, TypeError, ValueError) as exc:
        raise CoefficientFileError(
            f"{where}: provenance.ranges must map law -> quantity -> [low, high] ({exc})"
        ) from None
    return out


def read_fit_file(path: Path) -> dict[str, Any]:
    """The JSON object of a fit file in :data:`FIT_FORMAT`, or CoefficientFileError saying what is wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CoefficientFileError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CoefficientFileError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(doc, dict):
        raise CoefficientFileError(f"{path}: must hold a JSON object; got a {type(doc).__name__}")
    if doc.get("format") != FIT_FORMAT:
        raise CoefficientFileError(f"{path}: format must be {FIT_FORMAT!r}; got {doc.get('format')!r}")
    return doc


def load_coefficient_set(name: str | Path = "paper") -> CoefficientSet:
    """``"paper"`` (Table 6), ``"ours"`` (``data/fits/ours.json``) or a path to a coefficients JSON file.

    Raises :class:`CoefficientFileError` (an :class:`~distill_scaling.errors.InputError`) naming the set or
    the file and what is wrong when it is unknown, missing or malformed.
    """
    if isinstance(name, str) and name == "paper":
        return PAPER
    if isinstance(name, str) and name == "ours":
        path = fit_path("ours")
    elif isinstance(name, Path) or str(name).endswith(".json"):
        path = Path(name)
    else:
        raise CoefficientFileError(
            f"coefficients must be one of {', '.join(map(repr, COEFFICIENT_SETS))} or a .json path; "
            f"got {name!r}"
        )
    if not path.is_file():
        raise CoefficientFileError(
            f"coefficients {str(name)!r}: no fitted coefficients at {path}. They are written by the "
            f"study's fits (format {FIT_FORMAT!r}, see distill_scaling.fit_files.CoefficientSet); until "
            "then use 'paper'"
        )
    doc = read_fit_file(path)
    sup = _law(doc, "supervised", SupervisedCoefficients, path)
    dist = _law(doc, "distillation", DistillationCoefficients, path)
    samples = doc.get("samples") or {}
    if not isinstance(samples, dict):
        raise CoefficientFileError(
            f"{path}: 'samples' must be an object with 'supervised' and 'distillation' lists"
        )
    if samples and set(samples) != {"supervised", "distillation"}:
        raise CoefficientFileError(
            f"{path}: 'samples' must hold both 'supervised' and 'distillation' (they are paired); "
            f"got {sorted(samples)}"
        )
    sup_s = _samples("supervised", samples["supervised"], SupervisedCoefficients, path) if samples else []
    dist_s = (
        _samples("distillation", samples["distillation"], DistillationCoefficients, path) if samples else []
    )
    if len(sup_s) != len(dist_s):
        raise CoefficientFileError(
            f"{path}: {len(sup_s)} supervised but {len(dist_s)} distillation samples; they are paired"
        )
    return CoefficientSet(
        str(doc.get("name", path.stem)),
        sup,
        dist,
        tuple(sup_s),
        tuple(dist_s),
        str(doc.get("description", "")),
        _ranges(doc, path),
    )


def write_coefficient_set(
    path: str | Path,
    supervised: SupervisedCoefficients,
    distillation: DistillationCoefficients,
    *,
    supervised_samples: Sequence[SupervisedCoefficients] = (),
    distillation_samples: Sequence[DistillationCoefficients] = (),
    name: str | None = None,
    description: str = "",
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a coefficients file in the format :func:`load_coefficient_set` reads (atomically)."""
    if len(supervised_samples) != len(distillation_samples):
        raise ValueError(
            "supervised_samples and distillation_samples must have the same length (they are paired)"
        )
    path = Path(path)
    doc: dict[str, Any] = {
        "format": FIT_FORMAT,
        "name": name or path.stem,
        "description": description,
        "supervised": laws.as_dict(supervised),
        "distillation": laws.as_dict(distillation),
        "provenance": provenance or {},
    }
    if supervised_samples:
        doc["samples"] = {
            "supervised": {
                n: [getattr(c, n) for c in supervised_samples] for n in SupervisedCoefficients.NAMES
            },
            "distillation": {
                n: [getattr(c, n) for c in distillation_samples] for n in DistillationCoefficients.NAMES
            },
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)
    return path

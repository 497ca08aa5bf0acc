"""Parameters of the book's chapters and commands: declaration, profiles and validation.

A chapter module declares ``PARAMS: dict[str, Param]``; :func:`validate` rejects unknown names, wrong types
and out-of-range values with one message that names the parameter and what is allowed, and fills values
left at ``None`` from the chosen profile.

Profiles: ``smoke`` (seconds, for tests; writes runs and figures to a temporary folder), ``default`` (what
``make book`` runs; reads committed records, trains nothing when they are complete) and ``full`` (the study
itself: trains whatever records are missing).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .errors import InputError

PROFILES = ("smoke", "default", "full")


class ParameterError(InputError):
    """A notebook or command parameter has a wrong name, type or value."""


@dataclass(frozen=True)
class Param:
    """Specification of one chapter parameter.

    ``kind`` is one of ``int``, ``float``, ``str``, ``bool``, ``list[int]``, ``list[float]``, ``list[str]``.
    A value of ``None`` in the notebook means "take it from ``profiles[profile]``" (or ``default``).
    """

    kind: str
    help: str
    choices: Sequence[Any] | None = None
    min: float | None = None
    max: float | None = None
    default: Any = None
    profiles: Mapping[str, Any] = field(default_factory=dict)

    def value_for(self, profile: str) -> Any:
        return self.profiles.get(profile, self.default)

    def allowed(self) -> str:
        """Human description of the allowed values, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        parts = [self.kind]
        if self.min is not None and self.max is not None:
            parts.append(f"in [{self.min:g}, {self.max:g}]")
        elif self.min is not None:
            parts.append(f">= {self.min:g}")
        elif self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " ".join(parts)


_SCALARS = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce_scalar(name: str, kind: str, value: Any, spec: Param) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                raise ParameterError(
                    f"parameter '{name}' must be finite, got {value!r}; allowed: {spec.allowed()}"
                )
            return value
    elif kind == "str":
        if isinstance(value, str):
            return value
    raise ParameterError(
        f"parameter '{name}' must be {kind}, got {type(value).__name__} {value!r}; allowed: {spec.allowed()}"
    )


def _check_range(name: str, value: Any, spec: Param) -> None:
    if spec.choices is not None and value not in spec.choices:
        raise ParameterError(f"parameter '{name}' = {value!r} is not allowed; allowed: {spec.allowed()}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            raise ParameterError(f"parameter '{name}' = {value!r} is out of range; allowed: {spec.allowed()}")


def validate_value(name: str, value: Any, spec: Param) -> Any:
    """Coerce and check one value against its specification; raise ParameterError if it does not fit."""
    if spec.kind.startswith("list[") and spec.kind.endswith("]"):
        inner = spec.kind[5:-1]
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ParameterError(
                f"parameter '{name}' must be a list of {inner}, got {type(value).__name__} {value!r}; "
                f"allowed: {spec.allowed()}"
            )
        if not value:
            raise ParameterError(f"parameter '{name}' must not be empty; allowed: {spec.allowed()}")
        items = [_coerce_scalar(name, inner, v, spec) for v in value]
        for v in items:
            _check_range(name, v, spec)
        return items
    if spec.kind not in _SCALARS:
        raise TypeError(f"unknown parameter kind {spec.kind!r} for '{name}'")
    value = _coerce_scalar(name, spec.kind, value, spec)
    _check_range(name, value, spec)
    return value


PROFILE_PARAM = Param(
    "str",
    "smoke: seconds, for tests, writes to a temporary folder; default: the book, from committed records; "
    "full: trains whatever records are missing",
    choices=PROFILES,
    default="default",
)


def validate(spec: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against ``spec`` and fill ``None`` values from the profile.

    Raises ParameterError naming the first bad parameter and what is allowed. Unknown names are errors.
    """
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ParameterError(
            f"unknown parameter {', '.join(repr(u) for u in unknown)}; allowed parameters: {', '.join(spec)}"
        )
    profile = given.get("profile", "default")
    profile = validate_value("profile", profile, spec["profile"])
    out: dict[str, Any] = {"profile": profile}
    for name, p in spec.items():
        if name == "profile":
            continue
        value = given.get(name)
        if value is None:
            value = p.value_for(profile)
        if value is None:
            raise ParameterError(
                f"parameter '{name}' has no value for profile {profile!r}; allowed: {p.allowed()}"
            )
        out[name] = validate_value(name, value, p)
    return out


class Params(dict):
    """Validated chapter parameters with attribute access, plus where this run writes its outputs."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    chapter: str
    runs_dir: Path
    figures_dir: Path
    scratch: bool


def with_profile(params: Mapping[str, Param]) -> dict[str, Param]:
    """A chapter's full specification: ``profile`` first, then the chapter's own ``params``."""
    return {"profile": PROFILE_PARAM, **params}


def prepare(chapter: str, values: Mapping[str, Any]) -> Params:
    """Validated ``values`` of ``chapter`` as :class:`Params`, with the folders its runs and figures go to.

    For the ``smoke`` profile, runs and figures go to a temporary folder unless ``DS_RUNS_DIR`` /
    ``DS_FIGURES_DIR`` already point elsewhere; ``default`` and ``full`` use the repository's folders.
    """
    params = Params(values)
    params.chapter = chapter
    params.scratch = values["profile"] == "smoke"
    if params.scratch:
        scratch = Path(os.environ.get("DS_SCRATCH_DIR") or tempfile.mkdtemp(prefix="ds-smoke-"))
        os.environ.setdefault("DS_RUNS_DIR", str(scratch / "runs"))
        os.environ.setdefault("DS_FIGURES_DIR", str(scratch / "figures"))
    params.runs_dir = paths.runs_dir()
    params.figures_dir = paths.figures_dir() / chapter
    params.figures_dir.mkdir(parents=True, exist_ok=True)
    return params

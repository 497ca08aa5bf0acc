"""Set up a chapter notebook: its parameters validated against its module's ``PARAMS``, its output folders
and the plotting theme.

Every chapter notebook starts with a cell tagged ``parameters`` holding plain assignments (what papermill
overrides), followed by::

    from distill_scaling.notebook import setup
    P = setup("01_laws_as_published", globals())

The chapter ``NN_<slug>`` is the module ``distill_scaling.chapters.<slug>`` (:data:`CHAPTERS`). Its
``PARAMS`` declare the parameters (:mod:`distill_scaling.params`); its optional ``check_params(values)``
checks a rule across them. This module sits above the chapters: the book and the notebooks use it, the
chapters never do.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from . import plots
from .chapters import (
    capacity_gap_toys,
    compute_optimal,
    distillation_in_practice,
    distillation_scaling,
    findings,
    laws_as_published,
    plan,
    supervised_scaling,
    trusting_the_fit,
)
from .chapters import (
    setup as setup_chapter,
)
from .params import Param, ParameterError, Params, prepare, validate, with_profile

#: Chapter slug -> its module (the notebook ``NN_<slug>.ipynb`` belongs to ``chapters.<slug>``).
CHAPTERS: dict[str, ModuleType] = {
    "findings": findings,
    "laws_as_published": laws_as_published,
    "setup": setup_chapter,
    "trusting_the_fit": trusting_the_fit,
    "compute_optimal": compute_optimal,
    "plan": plan,
    "supervised_scaling": supervised_scaling,
    "distillation_scaling": distillation_scaling,
    "distillation_in_practice": distillation_in_practice,
    "capacity_gap_toys": capacity_gap_toys,
}

# Names IPython and papermill put into a kernel's namespace; they are not parameters.
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def chapter_module(chapter: str) -> ModuleType:
    """The module of a chapter given its notebook's name (``"01_laws_as_published"``) or its slug."""
    slug = chapter.split("_", 1)[1] if chapter[:2].isdigit() else chapter
    if slug not in CHAPTERS:
        raise ParameterError(
            f"chapter {chapter!r} has no parameter specification: expected PARAMS in "
            f"src/distill_scaling/chapters/{slug}.py, listed in notebook.CHAPTERS; "
            f"allowed: {', '.join(CHAPTERS)}"
        )
    return CHAPTERS[slug]


def chapter_params(chapter: str) -> dict[str, Param]:
    """The parameter specification of a chapter, ``profile`` included."""
    return with_profile(getattr(chapter_module(chapter), "PARAMS", {}))


def validate_chapter(chapter: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`validate` against the chapter's ``PARAMS``, then the chapter's own rule across parameters: its
    optional ``check_params(values)``, raising :class:`ParameterError` (the planner's budget rule, say)."""
    values = validate(chapter_params(chapter), given)
    check = getattr(chapter_module(chapter), "check_params", None)
    if check is not None:
        check(values)
    return values


def _namespace_params(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters defined in a notebook's namespace before ``setup`` (what papermill injected)."""
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_") and k not in _KERNEL_NAMES and not callable(v) and not hasattr(v, "__spec__")
    }


def setup(chapter: str, namespace: Mapping[str, Any] | None = None, **given: Any) -> Params:
    """Validate a chapter's parameters, prepare its output folders (:func:`params.prepare`) and apply the
    plotting theme. Call it from the cell after the ``parameters`` cell with ``globals()``, or with keyword
    arguments."""
    if namespace is not None:
        given = {**_namespace_params(namespace), **given}
    params = prepare(chapter, validate_chapter(chapter, given))
    # myst-nb formats {glue:text}`name:.2f` from the value's text/plain repr: NumPy 2 scalars print as
    # 'np.float64(0.5)', which it cannot format (a Sphinx warning), so chapters print them plainly.
    np.set_printoptions(legacy="1.25")
    plots.use_theme()
    plots.set_output(params.figures_dir)
    return params

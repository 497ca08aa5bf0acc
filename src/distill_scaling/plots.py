"""The book's one plotting theme, palettes, axis helpers, and saving every figure as a file.

Chapters call :func:`publish` for every figure: it saves the figure under ``book/figures/<chapter>/`` (PNG for
the website, PDF for print) and glues it into the page, where a ``{glue:figure}`` directive numbers and
captions it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from . import paths  # noqa: E402
from .optimal import SCENARIO_LABELS  # noqa: E402

_OUTPUT: Path | None = None

#: Colours of the five curves of the compute-optimal figures (paper Fig. 8 order).
SCENARIO_COLORS = {
    "best-case": "#1b9e77",
    "teacher-inference": "#d95f02",
    "teacher-pretraining": "#7570b3",
    "teacher-pretraining+inference": "#e7298a",
    "supervised": "#222222",
}

#: The three terms of the compute split (Eq. 9): a plan's fraction column, its label and its colour.
COMPUTE_SPLIT = (
    ("student_training_fraction", "student training", "#1f77b4"),
    ("teacher_logits_fraction", "teacher logits", "#d95f02"),
    ("teacher_pretraining_fraction", "teacher pretraining", "#7570b3"),
)

PAPER_COLOR = "#7f7f7f"
OURS_COLOR = "#1f77b4"


def use_theme() -> None:
    """Apply the book's seaborn theme (call once per notebook; :func:`notebook.setup` does)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind", font_scale=0.95)
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.titlesize": "medium",
            "legend.fontsize": "small",
            "legend.frameon": False,
            "figure.constrained_layout.use": True,
        }
    )


def sequential(n: int, name: str = "viridis") -> list:
    """``n`` colours from a sequential palette (token budgets, compute levels)."""
    return sns.color_palette(name, n_colors=n)


def set_output(folder: Path | str) -> None:
    """Where :func:`publish` saves figure files."""
    global _OUTPUT
    _OUTPUT = Path(folder)
    _OUTPUT.mkdir(parents=True, exist_ok=True)


def output_dir() -> Path:
    return _OUTPUT if _OUTPUT is not None else paths.figures_dir()


def log_axis(ax, axis: str = "x") -> None:
    """Log scale with plain-number labels like 1e6 written as 10^6."""
    getattr(ax, f"set_{axis}scale")("log")
    getattr(ax, f"{axis}axis").set_major_formatter(mticker.LogFormatterSciNotation())


def sparse_log_axis(ax, axis: str = "x") -> None:
    """Log scale with a labelled tick every other decade and no minor ticks (fast to lay out, readable)."""
    getattr(ax, f"set_{axis}scale")("log")
    a = getattr(ax, f"{axis}axis")
    a.set_major_locator(mticker.LogLocator(base=10, numticks=5))
    a.set_minor_locator(mticker.NullLocator())


def broken_line(ax, x, y, breaks=None, **kw):
    """Plot ``y`` against ``x``, not joining points across a regime change (``breaks[i]``: jump before i)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if breaks is not None and np.any(breaks):
        idx = np.flatnonzero(np.asarray(breaks, bool))
        x, y = np.insert(x, idx, np.nan), np.insert(y, idx, np.nan)
    return ax.plot(x, y, **kw)


def scenario_handles(names: Sequence[str]) -> list[Line2D]:
    """Legend entries for the planner's scenarios (supervised dashed), in the order given."""
    return [
        Line2D(
            [], [], color=SCENARIO_COLORS[n], ls="--" if n == "supervised" else "-", label=SCENARIO_LABELS[n]
        )
        for n in names
    ]


def size_label(n: float) -> str:
    """300M, 1B, 10B, 1.5T."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def save(fig, name: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``<output>/<name>.<fmt>`` for every format; return the paths."""
    out = output_dir()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        fig.savefig(path)
        written.append(path)
    return written


def publish(fig, name: str) -> None:
    """Save ``fig`` as files and glue it under ``name`` for a ``{glue:figure}`` directive; close it.

    The glued output is the saved PNG itself, so the page shows exactly the file under ``book/figures/``.
    (Gluing the figure object would not do: after ``matplotlib.use("Agg")`` the notebook's inline image
    formatter is not active, and the glued output would carry only the figure's text repr.)
    """
    try:
        written = save(fig, name)
        from IPython.display import Image  # noqa: PLC0415 - only inside a notebook
        from myst_nb import glue  # noqa: PLC0415 - only inside a notebook

        png = next(path for path in written if path.suffix == ".png")
        glue(name, Image(filename=str(png)), display=False)
    finally:
        plt.close(fig)


def law_fit_figure(
    law,
    *,
    pending: str,
    observed: str,
    predicted: str,
    symbol: str,
    paper_error: float,
) -> plt.Figure:
    """Predicted against observed loss and the relative error of a law fit (the paper's Fig. 5): blue, the fit
    to all runs; orange, the fit to the high-loss runs only, predicting the runs in the grey region.

    ``law`` has ``predictions()`` (columns ``val_loss``, ``pred_all``, ``err_all``, ``pred_high``,
    ``err_high``, ``held_out``), ``threshold`` and ``high_params``; ``None`` draws ``pending`` instead.
    ``observed``/``predicted`` label the axes, ``symbol`` names the loss in the legend, ``paper_error`` is the
    paper's error band (dashed).
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.2, 6.2), height_ratios=[1.6, 1], sharex=True)
    if law is None:
        top.text(0.5, 0.5, pending, ha="center", va="center", transform=top.transAxes, wrap=True)
        bottom.set_xlabel(observed)
        return fig
    p = law.predictions()
    obs = p["val_loss"]
    lo, hi = obs.min(), obs.max()
    pad = 0.04 * (hi - lo if hi > lo else 1)
    blue, orange = "#1f77b4", "#ff7f0e"
    if law.threshold is not None:
        for ax in (top, bottom):
            ax.axvspan(lo - pad, law.threshold, color="0.85", lw=0, zorder=0)
    top.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8)
    top.scatter(obs, p["pred_all"], color=blue, s=22, label=f"fit to all {len(p)} runs", zorder=3)
    bottom.scatter(obs, 100 * p["err_all"], color=blue, s=22, zorder=3)
    if law.high_params is not None:
        n_fit = int((~p["held_out"]).sum())
        top.scatter(obs, p["pred_high"], color=orange, s=22, marker="D", zorder=4,
                    label=f"fit to the {n_fit} runs with {symbol} ≥ {law.threshold:.3f}")  # fmt: skip
        bottom.scatter(obs, 100 * p["err_high"], color=orange, s=22, marker="D", zorder=4)
    for s in (-1, 1):
        bottom.axhline(100 * s * paper_error, color="k", ls="--", lw=0.8)
    bottom.axhline(0, color="k", lw=0.6)
    top.set_xlim(lo - pad, hi + pad)
    top.set_ylabel(predicted)
    top.legend(loc="upper left")
    bottom.set_xlabel(observed)
    bottom.set_ylabel("prediction error (%)")
    return fig

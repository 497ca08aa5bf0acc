"""The book's one plotting theme, palettes, axis helpers, and saving every figure as a file.

Chapters call :func:`publish` for every figure: it saves the figure under ``book/figures/<chapter>/`` (PNG for
the website, PDF for print) and glues it into the page, where a ``{glue:figure}`` directive numbers and
captions it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import seaborn as sns  # noqa: E402

from . import paths  # noqa: E402

_OUTPUT: Path | None = None

#: Colours of the five curves of the compute-optimal figures (paper Fig. 8 order).
SCENARIO_COLORS = {
    "best-case": "#1b9e77",
    "teacher-inference": "#d95f02",
    "teacher-pretraining": "#7570b3",
    "teacher-pretraining+inference": "#e7298a",
    "supervised": "#222222",
}

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
        from IPython.display import Image
        from myst_nb import glue

        png = next(path for path in written if path.suffix == ".png")
        glue(name, Image(filename=str(png)), display=False)
    finally:
        plt.close(fig)

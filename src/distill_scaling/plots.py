"""The book's one plotting theme, palettes, axis helpers, and saving every figure as a file.

Chapters call :func:`publish` for every figure: it saves the figure under ``book/figures/<chapter>/`` (PNG for
the website, PDF for print) and glues it into the page, where a ``{glue:figure}`` directive numbers and
captions it.

**Legibility.** The page shows a figure at most :data:`COLUMN_PX` CSS pixels wide (the content column of
sphinx-book-theme): a wider PNG is scaled down, and its text with it. The rule: every text of a figure is at
least :data:`MIN_SHOWN_PT` points *at the size shown* (13 CSS pixels), and a figure has at most
:data:`MAX_PANELS_PER_ROW` panels side by side. The theme's smallest text is :data:`MIN_FONT_PT` points, so a
figure may be up to ``8 * MIN_FONT_PT / MIN_SHOWN_PT`` inches wide; figures are drawn :data:`FULL_WIDTH`
inches wide at most (:func:`panel_grid` lays out panels two to a row). :func:`save` measures every PNG it
writes (:class:`Legibility`: the saved width, the dpi, the smallest text drawn, the panels per row), records
the measure in the PNG itself (:func:`read_legibility`) and warns (:class:`LegibilityWarning`) when the rule
is broken; the smoke tests of the chapters check the record of every figure.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import struct
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib
import matplotlib.text as mtext
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

#: The four compute-optimal quantities of a configuration (student size and tokens, teacher size and tokens),
#: wherever a figure draws them side by side (chapters 04 and 05).
CONFIG_COLORS = {"N_S": "#444444", "D_S": "#1f77b4", "N_T": "#d95f02", "D_T": "#2ca02c"}

#: The paper's numbers and ours, where a figure sets them side by side.
PAPER_COLOR = "#7f7f7f"
OURS_COLOR = "#1f77b4"
#: A supervised student (no teacher) drawn as a reference, as in the compute-optimal figures.
SUPERVISED_COLOR = SCENARIO_COLORS["supervised"]
#: A teacher's own loss drawn as a reference line.
TEACHER_COLOR = "black"

# --- Legibility: the rule and the theme that keeps it -------------------------------------------------------

#: The widest a figure is shown: the content column of sphinx-book-theme, in CSS pixels.
COLUMN_PX = 768
#: CSS pixels per inch: a point of text shown at its own size is 96/72 pixels.
CSS_DPI = 96
#: The smallest text a figure may show, in points at the size shown (10 pt = 13.3 CSS pixels).
MIN_SHOWN_PT = 10.0
#: The most panels side by side in one figure.
MAX_PANELS_PER_ROW = 2
#: The smallest text the theme draws (tick labels, legends, annotations), in points at the figure's own size.
MIN_FONT_PT = 10.0
#: The width of a full-column figure, inches. A PNG wider than the column is shown at
#: ``COLUMN_PX / CSS_DPI`` = 8 in, so its ``MIN_FONT_PT`` text shows at ``MIN_FONT_PT * 8 / FULL_WIDTH``
#: = 10.7 pt (10.4 pt with the 0.1 in that ``bbox="tight"`` pads on either side).
FULL_WIDTH = 7.5
#: The theme's font sizes, points: nothing below ``MIN_FONT_PT``. Figures name no other sizes (no "small").
FONT_SIZES = {
    "font.size": 11,
    "axes.labelsize": 11,
    "axes.titlesize": 11,
    "figure.labelsize": 11,
    "figure.titlesize": 12,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
}


def use_theme() -> None:
    """Apply the book's seaborn theme (call once per notebook; :func:`notebook.setup` does)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update(
        {
            **FONT_SIZES,
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
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


def tex_power(x: float) -> str:
    """1e21 as $10^{21}$, 3e22 as $3 \\times 10^{22}$ (mathtext)."""
    mantissa, exponent = f"{x:.1e}".split("e")
    m = float(mantissa)
    return f"$10^{{{int(exponent)}}}$" if m == 1 else f"${m:g} \\times 10^{{{int(exponent)}}}$"


def size_label(n: float) -> str:
    """300M, 1B, 10B, 1.5T."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def panel_grid(
    n: int,
    *,
    height: float = 2.8,
    extra_height: float = 0.0,
    width: float = FULL_WIDTH,
    ncols: int = MAX_PANELS_PER_ROW,
    **subplots_kw,
):
    """``n`` panels in rows of at most ``ncols`` (two), the figure ``width`` inches wide and ``height`` inches
    per row (plus ``extra_height``, for a legend above, say). Spare panels of the last row are hidden; with
    ``sharex``, the panel above a hidden one keeps its x tick labels. Returns ``(fig, axes)``: the figure and
    the ``n`` panels, in reading order."""
    ncols = max(1, min(n, ncols, MAX_PANELS_PER_ROW))
    nrows = max(1, math.ceil(n / ncols))
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(width, height * nrows + extra_height), squeeze=False, **subplots_kw
    )
    flat = list(grid.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
        above = flat[flat.index(ax) - ncols] if flat.index(ax) >= ncols else None
        if above is not None:
            above.xaxis.set_tick_params(labelbottom=True)
    return fig, flat[: max(n, 1)]


def legend_entries(axes) -> tuple[list, list[str]]:
    """The labelled artists of ``axes``, each label once, in order: ``(handles, labels)`` for one legend of
    panels that share their colours."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def spare_legend(fig, handles, labels=None, **kw) -> None:
    """The figure's legend in the hidden spare panel of a :func:`panel_grid` (odd panel counts), else above
    the panels."""
    spare = [ax for ax in fig.axes if not ax.get_visible() and ax.get_subplotspec() is not None]
    args = (handles,) if labels is None else (handles, labels)
    if spare:
        spare[-1].set_visible(True)
        spare[-1].set_axis_off()
        spare[-1].legend(*args, loc="center", **kw)
    else:
        fig.legend(*args, loc="outside upper center", **kw)


class LegibilityWarning(UserWarning):
    """A saved figure breaks the legibility rule (text too small where shown, too many panels per row)."""


@dataclass(frozen=True)
class Legibility:
    """How a saved figure reads on the page: the PNG's width in pixels, its dpi, the smallest text drawn
    (points at the figure's own size) and the most panels side by side."""

    width_px: int
    dpi: float
    smallest_pt: float
    panels_per_row: int

    @property
    def width_in(self) -> float:
        return self.width_px / self.dpi

    @property
    def shown_scale(self) -> float:
        """How much the page scales the PNG: 1 up to the column's width, less beyond."""
        return min(1.0, COLUMN_PX / self.width_px)

    @property
    def shown_pt(self) -> float:
        """The smallest text in points at the size shown: its pixels in the PNG, scaled with the PNG, read at
        96 CSS pixels per inch. For a PNG wider than the column, ``smallest_pt * 8 in / width_in``."""
        return self.smallest_pt * self.dpi / CSS_DPI * self.shown_scale

    def problems(self) -> list[str]:
        out = []
        if self.shown_pt < MIN_SHOWN_PT - 1e-6:
            out.append(
                f"its smallest text ({self.smallest_pt:g} pt in a {self.width_in:.2f} in wide PNG) shows at "
                f"{self.shown_pt:.1f} pt, below {MIN_SHOWN_PT:g} pt (at most {COLUMN_PX} px wide)"
            )
        if self.panels_per_row > MAX_PANELS_PER_ROW:
            out.append(f"it has {self.panels_per_row} panels in a row, more than {MAX_PANELS_PER_ROW}")
        return out


#: The PNG text chunk that carries a figure's :class:`Legibility`.
LEGIBILITY_KEY = "distill_scaling.legibility"


@contextlib.contextmanager
def _drawn_text_sizes():
    """Record the font size of every non-empty text drawn while the block runs (tick labels of ticks outside
    the view, hidden texts and texts of hidden panels are not drawn, so not recorded)."""
    sizes: list[float] = []
    original = mtext.Text.draw

    @functools.wraps(original)
    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            sizes.append(float(self.get_fontsize()))
        return original(self, renderer)

    mtext.Text.draw = draw
    try:
        yield sizes
    finally:
        mtext.Text.draw = original


def panels_per_row(fig) -> int:
    """The most panels a horizontal line through the figure crosses (colour bars and insets are no panels)."""
    spans = [
        (ax.get_position().y0, ax.get_position().y1)
        for ax in fig.axes
        if ax.get_visible() and ax.axison and ax.get_subplotspec() is not None
    ]
    return max((sum(bool(lo < (a + b) / 2 < hi) for lo, hi in spans) for a, b in spans), default=0)


def _png_width(path: Path) -> int:
    with path.open("rb") as f:
        head = f.read(24)
    return struct.unpack(">I", head[16:20])[0]


def _add_png_text(path: Path, key: str, value: str) -> None:
    """Insert a ``tEXt`` chunk before the PNG's closing ``IEND`` chunk (the image data is left as written)."""
    data = path.read_bytes()
    if data[-8:-4] != b"IEND":
        raise ValueError(f"{path.name} does not end with an IEND chunk")
    body = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    path.write_bytes(data[:-12] + chunk + data[-12:])


def read_legibility(path: Path | str) -> Legibility | None:
    """The :class:`Legibility` that :func:`save` recorded in a PNG (``None`` if it has none)."""
    from PIL import Image  # noqa: PLC0415 - only the tests read the record back

    with Image.open(path) as im:
        im.load()
        text = getattr(im, "text", {}).get(LEGIBILITY_KEY)
    return None if text is None else Legibility(**json.loads(text))


def save(fig, name: str, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``<output>/<name>.<fmt>`` for every format; return the paths.

    The PNG carries its :class:`Legibility` (see :func:`read_legibility`); a figure that breaks the rule
    raises a :class:`LegibilityWarning` naming what to change.
    """
    out = output_dir()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        if fmt == "png":
            with _drawn_text_sizes() as sizes:
                fig.savefig(path)
            dpi = plt.rcParams["savefig.dpi"]
            dpi = float(fig.dpi if dpi == "figure" else dpi)
            record = Legibility(
                _png_width(path), dpi, float(min(sizes, default=MIN_FONT_PT)), panels_per_row(fig)
            )
            _add_png_text(path, LEGIBILITY_KEY, json.dumps(asdict(record)))
            if problems := record.problems():
                warnings.warn(
                    f"figure {name!r} is hard to read on the page: {'; '.join(problems)}. Draw it at most "
                    f"{FULL_WIDTH:g} in wide (plots.panel_grid) with the theme's font sizes.",
                    LegibilityWarning,
                    stacklevel=2,
                )
        else:
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
    blue, orange = OURS_COLOR, "#ff7f0e"
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

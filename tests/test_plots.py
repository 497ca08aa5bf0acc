"""Saving and publishing figures (``distill_scaling.plots``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import myst_nb
import pytest
from IPython.display import Image

from distill_scaling import plots


def test_publish_saves_files_and_glues_the_png(tmp_path: Path, monkeypatch):
    glued = {}

    def glue(name, value, display=True):
        glued[name] = (value, display)

    monkeypatch.setattr(myst_nb, "glue", glue)
    monkeypatch.setattr(plots, "_OUTPUT", None)  # restored after the test
    plots.set_output(tmp_path)
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    plots.publish(fig, "fig-test")

    png, pdf = tmp_path / "fig-test.png", tmp_path / "fig-test.pdf"
    assert png.stat().st_size > 1000 and pdf.read_bytes().startswith(b"%PDF")
    value, display = glued["fig-test"]
    assert not display
    # an image the page can show (image/png), the very bytes of the saved file
    assert isinstance(value, Image) and value.format == "png"
    assert value.data == png.read_bytes()
    assert not plt.fignum_exists(fig.number), "publish closes the figure"


def _save(fig, tmp_path: Path, monkeypatch, name: str = "fig") -> plots.Legibility:
    monkeypatch.setattr(plots, "_OUTPUT", None)  # restored after the test
    plots.set_output(tmp_path)
    png, _ = plots.save(fig, name)
    plt.close(fig)
    record = plots.read_legibility(png)
    assert record is not None, "save() records the figure's legibility in the PNG"
    return record


def test_the_shown_size_scales_with_the_png_beyond_the_column():
    # 7.5 in at 150 dpi = 1125 px, shown at 768 px: 10 pt text shows at 10 * 8 / 7.5 pt.
    wide = plots.Legibility(width_px=1125, dpi=150, smallest_pt=10, panels_per_row=2)
    assert wide.shown_pt == pytest.approx(10 * 8 / 7.5) and not wide.problems()
    # A PNG narrower than the column is shown at its own size: 10 pt at 150 dpi is 20.8 px = 15.6 pt.
    narrow = plots.Legibility(width_px=600, dpi=150, smallest_pt=10, panels_per_row=1)
    assert narrow.shown_pt == pytest.approx(10 * 150 / 96)
    # The old compute-optimal figures: 12 in wide with 9.5 pt legends show them at 6.3 pt.
    old = plots.Legibility(width_px=1817, dpi=150, smallest_pt=9.5, panels_per_row=4)
    assert old.shown_pt == pytest.approx(9.5 * 768 / 1817 * 150 / 96)
    assert len(old.problems()) == 2


def test_a_themed_full_width_figure_is_legible(tmp_path: Path, monkeypatch):
    with plt.rc_context():
        plots.use_theme()
        fig, axes = plots.panel_grid(3, height=2.5, sharex=True)
        for ax in axes:
            ax.plot([1, 10, 100], [3, 1, 2], label="a curve")
            ax.set_xlabel("x label")
            ax.set_title("a title")
        plots.spare_legend(fig, *axes[0].get_legend_handles_labels())
        with warnings.catch_warnings():
            warnings.simplefilter("error", plots.LegibilityWarning)
            record = _save(fig, tmp_path, monkeypatch)
    assert record.smallest_pt == plots.MIN_FONT_PT
    assert record.panels_per_row == 2
    assert record.width_in <= plots.FULL_WIDTH + 2 * plt.rcParams["savefig.pad_inches"] + 0.05
    assert record.shown_pt >= plots.MIN_SHOWN_PT


def test_small_text_in_a_wide_figure_and_three_panels_in_a_row_warn(tmp_path: Path, monkeypatch):
    with plt.rc_context():
        plots.use_theme()
        fig, axes = plt.subplots(1, 3, figsize=(12, 3))
        for ax in axes:
            ax.plot([1, 2], [1, 2], label="line")
        axes[0].legend(fontsize="x-small")
        with pytest.warns(plots.LegibilityWarning, match="3 panels in a row") as caught:
            record = _save(fig, tmp_path, monkeypatch)
    assert "shows at" in str(caught[0].message)
    assert record.panels_per_row == 3 and record.smallest_pt < plots.MIN_FONT_PT
    assert record.shown_pt < plots.MIN_SHOWN_PT


def test_panel_grid_puts_two_panels_in_a_row_and_keeps_tick_labels_above_a_spare_panel():
    fig, axes = plots.panel_grid(5, height=2.0, sharex=True)
    assert len(axes) == 5 and tuple(fig.get_size_inches()) == pytest.approx((plots.FULL_WIDTH, 6.0))
    fig.canvas.draw()
    assert plots.panels_per_row(fig) == 2
    spare = [ax for ax in fig.axes if not ax.get_visible()]
    assert len(spare) == 1
    # The panel above the spare one is the last of its column: its x tick labels stay.
    assert any(t.get_visible() for t in axes[3].get_xticklabels())
    assert not any(t.get_visible() for t in axes[0].get_xticklabels())
    plt.close(fig)

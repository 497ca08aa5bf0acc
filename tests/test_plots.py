"""Saving and publishing figures (``distill_scaling.plots``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import myst_nb
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

"""Chapter "Findings at a glance": table, glued numbers and figure come from data/findings.json."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from distill_scaling import comparisons, verdicts
from distill_scaling.chapters import findings as ch


def test_table_has_a_line_per_claim_with_verdict_and_link():
    found = verdicts.load_findings()
    table = ch.verdict_table(found)
    assert list(table["verdict"]) == list(found["verdict"])
    assert all(u.endswith(".html") and u[:2].isdigit() for u in table["where"])
    assert table["ours: effect [90% interval]"].str.contains(r"\[").sum() == found["effect"].notna().sum()
    html = ch.styled(table).to_html()
    assert "<a href=" in html and "font-weight: bold" in html


def test_every_claim_has_every_glued_key_even_when_not_tested():
    found = verdicts.load_findings()
    partial = found[found["id"] != "capacity-gap"]
    numbers = ch.glued_numbers(partial)
    assert numbers["capacity_gap_verdict"] == "not tested" and math.isnan(numbers["capacity_gap_effect"])
    keys = {k for k in ch.glued_numbers(found) if k.startswith("capacity_gap_")}
    assert keys == {k for k in numbers if k.startswith("capacity_gap_")}
    assert sum(numbers[f"n_{v.replace(' ', '_')}"] for v in comparisons.VERDICTS) == len(partial)


def test_effects_figure_draws_the_claims_in_nats():
    found = verdicts.load_findings()
    fig = ch.fig_effects(found)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    in_nats = found[(found["unit"] == "nats") & found["effect"].notna()]
    assert len(labels) == len(in_nats)
    plt.close(fig)


def test_scale_table_without_records_says_so():
    t = ch.scale_table(pd.DataFrame())
    assert "no study runs recorded" in set(t["ours"]) and len(t) == len(ch.PAPER_SCALE)


def test_crossover_table_lists_each_student_and_teacher_with_enough_token_counts():
    found = verdicts.load_findings()
    table = ch.crossover_table(found)
    assert len(table) and set(table.columns) >= {"student", "teacher", "crossover tokens [90%]"}
    assert (table["token counts"] >= 3).all()
    assert ch.crossover_table(found[found["id"] != "threshold-grows-with-student"]).empty

"""Chapter "Findings at a glance": table, glued numbers and figure come from data/findings.json."""

from __future__ import annotations

import dataclasses
import math

import matplotlib.pyplot as plt
import pandas as pd

from distill_scaling import comparisons, fits, study, verdicts
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


def test_coefficient_numbers_count_unbounded_and_zero_reaching_intervals():
    fit = fits.load_fit("supervised")
    values = fit.params.values()
    # Every interval well inside (0, inf), but E's reaches zero and B is reported unbounded.
    intervals = {n: (0.5 * v, 2.0 * v) for n, v in values.items()}
    intervals["E"] = (0.0, 2.0 * values["E"])
    planted = dataclasses.replace(
        fit, params=dataclasses.replace(fit.params, intervals=intervals), provenance={"unbounded": ["B"]}
    )
    numbers = ch.coefficient_numbers({"supervised": planted})
    assert numbers == {
        "n_unidentified": 1,
        "unidentified_names": "B of the supervised law",
        "n_at_bound": 1,
        "at_bound_names": "E of the supervised law",
    }
    clean = dataclasses.replace(
        fit,
        params=dataclasses.replace(fit.params, intervals={n: (0.5 * v, 2.0 * v) for n, v in values.items()}),
        provenance={},
    )
    assert ch.coefficient_numbers({"supervised": clean})["unidentified_names"] == "none"


def test_threats_numbers_read_scale_span_seeds_and_noise_from_the_records():
    rows = []
    for model, n, loss, sd in (("L1-d16", 3408, 2.0, 0.01), ("L4-d64", 201408, 1.6, 0.002)):
        for tokens, flops in ((1e6, 1e12), (2e6, 1e14)):
            for seed, e in enumerate((-1.0, 0.0, 1.0)):
                run = {"model": model, "n_params": n, "lr": study.STUDY_LR, "split": "student"}
                run.update(tokens=tokens, teacher=None, seed=seed, val_loss=loss + e * sd, flops_total=flops)
                rows.append(run)
    numbers = ch.threats_numbers(pd.DataFrame(rows))
    assert numbers["params_max"] == 201408 and numbers["compute_decades"] == 2.0
    assert numbers["seeds_max"] == 3 and numbers["configs_seeded"] == 4
    assert math.isclose(numbers["noise_max"] / numbers["noise_min"], 5.0, rel_tol=1e-9)


def test_threats_numbers_of_no_records_are_unknown_not_an_error():
    numbers = ch.threats_numbers(pd.DataFrame())
    assert math.isnan(numbers["params_max"]) and numbers["seeds_max"] == 0


def test_the_pretraining_paragraph_reads_the_judged_group_from_the_file():
    """Counts of paired runs and groups and the judged group come from the finding; without it, n/a and 0."""
    found = verdicts.load_findings()
    row = found[found["id"] == "teacher-pretraining-never-wins"].iloc[0]
    runs = dict(row["runs"])
    runs.update(paired=6, paired_groups=2)
    runs["best_group"] = {**runs["best_group"], "student": "L1-d16", "teacher_model": "L3-d48", "seeds": 8}
    planted = found.copy()
    planted.at[row.name, "runs"] = runs
    n = ch.glued_numbers(planted)
    assert (n["pretraining_runs_paired"], n["pretraining_paired_groups"]) == (6, 2)
    assert (n["pretraining_best_student"], n["pretraining_best_teacher"], n["pretraining_best_seeds"]) == (
        "L1-d16",
        "L3-d48",
        8,
    )
    missing = ch.glued_numbers(found[found["id"] != "teacher-pretraining-never-wins"])
    assert missing["pretraining_best_student"] == "n/a" and missing["pretraining_runs_paired"] == 0

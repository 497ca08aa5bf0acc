"""Chapter 'Plan a distillation': what the page says about the teacher it quotes."""

from __future__ import annotations

from distill_scaling import fit_files, planner
from distill_scaling.chapters import plan as ch


def test_a_teacher_on_the_solver_bound_is_not_presented_as_advice():
    cs = fit_files.load_coefficient_set("paper")
    bound = planner.plan(1e9, 1e22, "teacher-inference", cs)  # the default: teacher tokens at 1e17
    assert ch.on_solver_bound(bound)
    numbers = ch.prose_numbers(bound)
    assert "not advice" in numbers["teacher_status"]
    assert (
        numbers["n_flagged"] >= 1 and "_" not in numbers["flagged"]
    )  # names, not symbols: glue holds no math
    assert {numbers["winner"], numbers["loser"]} == {"distillation", "supervised training"}
    assert numbers["margin"] == abs(numbers["advantage"])
    inside = planner.plan(1e9, 1e22, "teacher-pretraining", cs)
    assert not ch.on_solver_bound(inside) and ch.teacher_status(inside) == "set by the budget"

"""Chapter 'Plan a distillation': what the page says about the teacher it quotes and the student's range."""

from __future__ import annotations

import math

from distill_scaling import fit_files, planner
from distill_scaling.chapters import plan as ch


def test_a_teacher_on_the_solver_bound_is_not_presented_as_set_by_the_budget():
    cs = fit_files.load_coefficient_set("paper")
    bound = planner.plan(1e9, 1e22, "teacher-inference", cs)  # the default: teacher tokens at 1e17
    inside = planner.plan(1e9, 1e22, "teacher-pretraining", cs)
    free = planner.plan(1e9, 1e22, "best-case", cs)  # the teacher's cost does not count: only L_T is fixed
    assert ch.on_solver_bound(bound) and not ch.on_solver_bound(inside)
    assert not free.optimum.identified
    statuses = {ch.teacher_status(p) for p in (bound, inside, free)}
    assert len(statuses) == 3 and ch.teacher_status(inside) == "set by the budget"
    numbers = ch.numbers(bound)
    assert numbers["teacher_status"] == ch.teacher_status(bound)
    assert (
        numbers["n_flagged"] >= 1 and "_" not in numbers["flagged"]
    )  # names, not symbols: glue holds no math
    assert {numbers["winner"], numbers["loser"]} == {"distillation", "supervised training"}
    assert numbers["margin"] == abs(numbers["advantage"])


def test_the_student_range_is_the_distillation_fit_range():
    cs = fit_files.load_coefficient_set("paper")
    lo, hi = cs.ranges["distillation"]["n_params"]
    assert ch.student_range(planner.plan(1e9, 1e22, "teacher-inference", cs)) == (lo, hi, "inside")
    assert ch.student_range(planner.plan(3e10, 1e24, "teacher-inference", cs))[2] == "outside"
    bare = fit_files.CoefficientSet(cs.name, cs.supervised, cs.distillation)  # no recorded ranges
    low, high, where = ch.student_range(planner.plan(1e9, 1e22, "teacher-inference", bare))
    assert math.isnan(low) and math.isnan(high) and where == "not checked against"
    assert ch.numbers(planner.plan(1e9, 1e22, "teacher-inference", bare))["student_fitted_low"] == "n/a"

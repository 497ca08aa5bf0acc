"""The explorer page's data (distill_scaling.explorer): what the browser computes with is the package's own.

The numbers the page shows are checked against the planner in a browser by ``test_browser.py``; these tests
check the exported file without one: every coefficient, range, bound, search setting and flag rule is the
package's, the FLOP model's constants reproduce its F(N), the defaults are feasible plans, and a missing
``ours`` is reported instead of failing the build.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from distill_scaling import explorer, flops, optimal, planner
from distill_scaling.fit_files import COEFFICIENT_SETS, load_coefficient_set


@pytest.fixture(scope="module")
def data() -> dict:
    return explorer.explorer_data()


def test_every_set_the_planner_knows_is_exported_with_its_coefficients_and_ranges(data):
    assert data["format"] == explorer.FORMAT
    assert set(data["sets"]) | set(data["unavailable"]) == set(COEFFICIENT_SETS)
    assert "paper" in data["sets"]
    for name, exported in data["sets"].items():
        cs = load_coefficient_set(name)
        assert exported["name"] == cs.name
        assert exported["supervised"] == cs.supervised.values()
        assert exported["distillation"] == cs.distillation.values()
        assert exported["ranges"] == {law: {q: list(s) for q, s in r.items()} for law, r in cs.ranges.items()}


def test_solver_settings_scenarios_and_flag_rules_are_the_packages(data):
    assert tuple(data["bounds"]) == optimal.BOUNDS
    assert data["search"] == dataclasses.asdict(optimal.SEARCH)
    assert {k: (v["delta_lgt"], v["delta_pre"]) for k, v in data["scenarios"].items()} == optimal.SCENARIOS
    assert list(data["quantities"]) == list(planner.QUANTITIES)
    rules = data["flag_rules"]
    assert tuple(rules["bounded"]) == planner.BOUNDED
    assert {k: tuple(v) for k, v in rules["range_of"].items()} == planner.RANGE_OF
    assert (rules["bound_rtol"], rules["range_rtol"]) == (planner.BOUND_RTOL, planner.RANGE_RTOL)


def test_the_exported_flop_model_is_the_one_the_planner_uses(data):
    N = np.geomspace(1e3, 1e13, 11)
    for exported in data["sets"].values():
        f = exported["forward_flops"]
        mine = (
            2
            * N
            * (1 + f["sigma1"] * f["n_ctx"] * N ** (-1 / 3) + f["sigma2"] * f["n_vocab"] * N ** (-2 / 3))
        )
        np.testing.assert_allclose(mine, flops.paper_forward_flops(N), rtol=1e-14)


def test_defaults_are_feasible_plans_inside_their_sliders(data):
    for exported in data["sets"].values():
        c = exported["controls"]
        for name, (lo, hi) in c["sliders"].items():
            assert 0 < lo < c[name] < hi, name
        assert c["scenario"] in optimal.SCENARIOS
        low, high = optimal.compute_range(c["student_params"], c["scenario"])
        assert low < c["compute"] < high


def test_write_explorer_data_writes_the_same_strict_json(tmp_path: Path, data):
    path = explorer.write_explorer_data(tmp_path / "_static")
    assert path == tmp_path / "_static" / explorer.DATA_FILE
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text  # JSON.parse in the browser rejects them
    assert json.loads(text) == json.loads(json.dumps(data))
    assert not list(path.parent.glob("*.tmp"))


def test_a_set_that_cannot_be_loaded_is_listed_with_the_reason(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DS_DATA_DIR", str(tmp_path))  # no fits/ours.json there
    data = explorer.explorer_data()
    assert list(data["sets"]) == ["paper"]
    assert "no fitted coefficients" in data["unavailable"]["ours"]

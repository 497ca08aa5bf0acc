"""Chapter parameters (``distill_scaling.notebook``): types, ranges, profiles, the papermill command line."""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from distill_scaling import notebook, params, paths
from distill_scaling.params import Param, ParameterError, validate, validate_value

# --- one value against its specification -----------------------------------------------------------------


def test_allowed_describes_the_specification():
    assert Param("str", "", choices=("a", "b")).allowed() == "one of 'a', 'b'"
    assert Param("int", "", min=1, max=10).allowed() == "int in [1, 10]"
    assert Param("float", "", min=0.5).allowed() == "float >= 0.5"
    assert Param("float", "", max=2).allowed() == "float <= 2"
    assert Param("list[float]", "").allowed() == "list[float]"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int", 3, 3),
        ("int", 3.0, 3),
        ("float", 2, 2.0),
        ("float", 1e9, 1e9),
        ("bool", False, False),
        ("str", "x", "x"),
        ("list[float]", (1, 2.5), [1.0, 2.5]),
        ("list[int]", [4], [4]),
        ("list[str]", ["a", "b"], ["a", "b"]),
    ],
)
def test_valid_values_are_coerced(kind, value, expected):
    result = validate_value("x", value, Param(kind, ""))
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(result, list):
        assert all(type(r) is type(e) for r, e in zip(result, expected, strict=True))


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("int", 3.5, "parameter 'x' must be int, got float 3.5"),
        ("int", True, "parameter 'x' must be int, got bool True"),
        ("int", "3", "parameter 'x' must be int, got str '3'"),
        ("float", "1e9", "parameter 'x' must be float, got str '1e9'"),
        ("float", True, "must be float, got bool"),
        ("float", math.nan, "parameter 'x' must be finite"),
        ("float", math.inf, "parameter 'x' must be finite"),
        ("bool", 1, "parameter 'x' must be bool, got int 1"),
        ("str", 1, "parameter 'x' must be str, got int 1"),
        ("list[float]", 1.0, "parameter 'x' must be a list of float, got float 1.0"),
        ("list[str]", "abc", "must be a list of str, got str 'abc'"),
        ("list[float]", [], "parameter 'x' must not be empty"),
        ("list[int]", [1, "2"], "parameter 'x' must be int, got str '2'"),
    ],
)
def test_wrong_types_name_the_parameter(kind, value, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        validate_value("x", value, Param(kind, ""))


def test_ranges_and_choices():
    spec = Param("float", "", min=0.0, max=1.0)
    assert validate_value("p", 1.0, spec) == 1.0
    with pytest.raises(
        ParameterError, match=re.escape("parameter 'p' = 1.5 is out of range; allowed: float in [0, 1]")
    ):
        validate_value("p", 1.5, spec)
    listed = Param("list[float]", "", min=1e7)
    with pytest.raises(ParameterError, match=re.escape("parameter 'sizes' = 5.0 is out of range; allowed:")):
        validate_value("sizes", [1e8, 5.0], listed)
    choice = Param("str", "", choices=("fast", "slow"))
    with pytest.raises(
        ParameterError, match=re.escape("parameter 'mode' = 'medium' is not allowed; allowed: one of")
    ):
        validate_value("mode", "medium", choice)


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(TypeError, match="unknown parameter kind 'complex'"):
        validate_value("x", 1, Param("complex", ""))


# --- a chapter's set of parameters -----------------------------------------------------------------------

SPEC = {
    "profile": params.PROFILE_PARAM,
    "n": Param("int", "", min=1, profiles={"smoke": 2, "default": 20}),
    "scale": Param("float", "", default=0.5),
    "label": Param("str", ""),
}


def test_validate_fills_missing_values_from_the_profile():
    assert validate(SPEC, {"label": "a"}) == {"profile": "default", "n": 20, "scale": 0.5, "label": "a"}
    assert validate(SPEC, {"profile": "smoke", "label": "a", "n": None}) == {
        "profile": "smoke",
        "n": 2,
        "scale": 0.5,
        "label": "a",
    }
    assert validate(SPEC, {"profile": "full", "n": 7, "label": "a"})["n"] == 7


def test_validate_errors():
    with pytest.raises(
        ParameterError, match="unknown parameter 'm', 'z'; allowed parameters: profile, n, scale"
    ):
        validate(SPEC, {"z": 1, "m": 2, "label": "a"})
    with pytest.raises(ParameterError, match="'profile' = 'quick' is not allowed; allowed: one of 'smoke'"):
        validate(SPEC, {"profile": "quick", "label": "a"})
    with pytest.raises(ParameterError, match="parameter 'n' has no value for profile 'full'"):
        validate(SPEC, {"profile": "full", "label": "a"})
    with pytest.raises(
        ParameterError, match="parameter 'label' has no value for profile 'default'; allowed: str"
    ):
        validate(SPEC, {})


def test_chapter_params_by_name_or_slug():
    by_name = notebook.chapter_params("01_laws_as_published")
    assert list(by_name)[0] == "profile"
    assert by_name == notebook.chapter_params("laws_as_published")
    for name, spec in by_name.items():
        for profile in params.PROFILES:
            value = spec.value_for(profile)
            if name != "profile" and value is not None:
                validate_value(name, value, spec)  # every profile value of the chapter is itself valid


def test_setup_reads_the_notebook_namespace(monkeypatch, tmp_path: Path):
    for var in ("DS_RUNS_DIR", "DS_FIGURES_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DS_SCRATCH_DIR", str(tmp_path))
    namespace = {
        "profile": "smoke",
        "curve_points": 25,
        "grid_points": None,
        "In": [],
        "Out": {},
        "get_ipython": lambda: None,
        "_": 1,
        "os": os,  # a module
        "helper": print,  # a function
    }
    P = notebook.setup("01_laws_as_published", namespace)
    assert P.profile == "smoke" and P.curve_points == 25
    assert P.grid_points == notebook.chapter_params("laws_as_published")["grid_points"].value_for("smoke")
    assert P.scratch and P.chapter == "01_laws_as_published"
    assert P.runs_dir == tmp_path / "runs"
    assert P.figures_dir == tmp_path / "figures" / "01_laws_as_published" and P.figures_dir.is_dir()
    with pytest.raises(ParameterError, match="unknown parameter 'typo'"):
        notebook.setup("01_laws_as_published", {"profile": "smoke", "typo": 1})


# --- the papermill command line of the README ------------------------------------------------------------


def _readme_papermill_commands() -> list[list[str]]:
    """The ``papermill notebooks/...`` commands the README shows, as argument lists."""
    text = (paths.REPO / "README.md").read_text()
    return [
        shlex.split(line.strip())
        for line in text.splitlines()
        if line.strip().startswith(".venv/bin/papermill")
    ]


def _papermill(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run papermill as a user would, from the repository root, with the output notebook in ``tmp_path``."""
    args = [str(tmp_path / "out.ipynb") if a == "out.ipynb" else a for a in args]
    executable = Path(sys.executable).with_name("papermill")
    env = {**os.environ, "DS_SCRATCH_DIR": str(tmp_path / "scratch")}
    env.pop("DS_FIGURES_DIR", None)
    return subprocess.run(
        [str(executable), *args[1:]], cwd=paths.REPO, env=env, capture_output=True, text=True, timeout=900
    )


def test_readme_shows_the_papermill_commands():
    commands = _readme_papermill_commands()
    assert commands and all(c[1].startswith("notebooks/") and c[2] == "out.ipynb" for c in commands)


@pytest.mark.slow
def test_papermill_with_a_changed_parameter(tmp_path: Path):
    command = _readme_papermill_commands()[0]
    assert "-p" in command and "smoke" in command, "the README's first command is a quick smoke run"
    result = _papermill(command, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    name, value = command[command.index("-p", command.index("-p") + 1) + 1 :][:2]
    assert f"{name} = {value}" in injected.source


@pytest.mark.slow
def test_papermill_with_a_bad_parameter_stops_with_one_clear_message(tmp_path: Path):
    command = [*_readme_papermill_commands()[0][:3], "-p", "profile", "smoke", "-p", "curve_points", "3"]
    result = _papermill(command, tmp_path)
    assert result.returncode != 0
    message = "ParameterError: parameter 'curve_points' = 3 is out of range; allowed: int in [10, 5000]"
    assert message in result.stderr
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "ParameterError"
    # it stopped at the validation cell: no figure or later output was produced
    setup_index = next(i for i, c in enumerate(nb.cells) if "setup(" in c.source)
    assert all(not c.get("outputs") for c in nb.cells[setup_index + 1 :])


def test_setup_makes_numpy_scalars_glue_as_plain_numbers():
    """myst-nb formats a glued number ({glue:text}`name:.2f`) from its text/plain repr; NumPy 2's
    'np.float64(0.5)' cannot be formatted (a Sphinx warning, so -W fails the book): setup prints plainly."""
    code = (
        "import numpy as np; from distill_scaling.notebook import setup; "
        "setup('01_laws_as_published', profile='smoke'); print(repr(np.float64(0.5)), repr(np.int64(3)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0.5", "3"]


def test_every_source_notebook_names_its_kernel_and_the_readme_says_to():
    """Plain papermill stops with "No kernel name found" on a notebook without a kernelspec."""
    import nbformat

    for path in sorted((paths.REPO / "notebooks").glob("*.ipynb")):
        spec = nbformat.read(path, as_version=4).metadata.get("kernelspec", {})
        assert spec.get("name") == "python3", path.name
    assert 'nb.metadata["kernelspec"]' in (paths.REPO / "README.md").read_text()

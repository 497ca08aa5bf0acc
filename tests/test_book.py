"""The build pipeline of ``python -m distill_scaling book``: table of contents, parameters, execution."""

from __future__ import annotations

import types
from pathlib import Path

import nbformat
import pytest

from distill_scaling import book, notebook, params, paths

# --- the table of contents -------------------------------------------------------------------------------


def test_repository_toc_lists_numbered_chapters():
    chapters = book.toc_chapters()
    assert chapters, "_toc.yml lists no chapter under book/executed/"
    for chapter in chapters:
        assert chapter.name[:2].isdigit() and chapter.name[2] == "_", chapter.name
        assert chapter.executed == paths.REPO / "book" / "executed" / f"{chapter.name}.ipynb"
        assert chapter.source == paths.REPO / "notebooks" / f"{chapter.name}.ipynb"


def test_toc_chapters_in_reading_order_skip_prose_pages(tmp_path: Path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nparts:\n"
        "  - caption: One\n    chapters:\n      - file: book/executed/02_b\n"
        "        sections:\n          - file: book/executed/03_c.ipynb\n"
        "  - caption: Two\n    chapters:\n      - file: book/about\n      - file: book/executed/01_a\n"
    )
    chapters = book.toc_chapters(tmp_path, notebooks_dir=tmp_path / "nb")
    assert [c.name for c in chapters] == ["02_b", "03_c", "01_a"]
    assert chapters[0].source == tmp_path / "nb" / "02_b.ipynb"
    assert chapters[0].executed == tmp_path / "book" / "executed" / "02_b.ipynb"


def test_missing_toc_is_a_clear_error(tmp_path: Path):
    with pytest.raises(book.BookError, match="no table of contents"):
        book.toc_chapters(tmp_path)


# --- parameters from the command line and from files -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.5", 0.5),
        ("1e9", 1e9),
        ("3E-4", 3e-4),
        ("true", True),
        ("False", False),
        ("None", None),
        ("[1, 2.5]", [1, 2.5]),
        ("[1e9, 2e9]", [1e9, 2e9]),
        ("[a, b]", ["a", "b"]),
        ("smoke", "smoke"),
        ("", ""),
    ],
)
def test_parse_value(text, value):
    parsed = book.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_params_file_reads_scientific_floats_and_lists(tmp_path: Path):
    path = tmp_path / "my.yaml"
    path.write_text("n_points: 50\nteacher_loss: 2.5\nbudgets: [1e9, 2.0e10]\nlabel: run\n")
    assert book.load_params_file(path) == {
        "n_points": 50,
        "teacher_loss": 2.5,
        "budgets": [1e9, 2e10],
        "label": "run",
    }
    assert isinstance(book.load_params_file(path)["budgets"][0], float)


def test_params_file_errors_name_the_file(tmp_path: Path):
    with pytest.raises(params.ParameterError, match="does not exist"):
        book.load_params_file(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(params.ParameterError, match="one mapping"):
        book.load_params_file(bad)


@pytest.mark.parametrize("text", ["[1e8, ", "{a: [1", "[1, 2]]"])
def test_malformed_list_value_names_the_parameter(text):
    with pytest.raises(params.ParameterError, match=r"parameter 'students': .* not a valid JSON/YAML"):
        book.parse_value(text, "students")


def test_malformed_params_file_names_the_file(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("students: [1e8,\ncompute: 3\n")
    with pytest.raises(params.ParameterError, match=r"parameters file '.*bad.yaml' is not valid YAML"):
        book.load_params_file(bad)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(params.ParameterError, match="not UTF-8"):
        book.load_params_file(binary)
    assert book.cli(["--only", "01_laws_as_published", "-f", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: parameters file") and "bad.yaml" in err and "\n" not in err
    assert book.cli(["--only", "01_laws_as_published", "-p", "students", "[1e8, "]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: parameter 'students'") and "\n" not in err


# --- checking everything before running anything ---------------------------------------------------------


@pytest.fixture
def fake_chapter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> book.Chapter:
    """Chapter ``98_fake``: parameters ``n`` (int in [1, 10]) and ``fail``, a source, no executed page."""
    module = types.ModuleType("distill_scaling.chapters.fake")
    module.PARAMS = {
        "n": params.Param("int", "how many", min=1, max=10, profiles={"smoke": 1, "default": 5, "full": 10}),
        "fail": params.Param("bool", "raise an error in the notebook", default=False),
    }
    monkeypatch.setitem(notebook.CHAPTERS, "fake", module)
    source = tmp_path / "notebooks" / "98_fake.ipynb"
    source.parent.mkdir()
    _write_notebook(source)
    return book.Chapter("98_fake", source, tmp_path / "book" / "executed" / "98_fake.ipynb")


def _write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(
        'profile = "default"  # smoke | default | full\nn = None\nfail = False'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A fake chapter"),
        params,
        nbformat.v4.new_code_cell('if fail:\n    raise RuntimeError("asked to fail")\nprint("n is", n)'),
    ]
    nbformat.write(nb, path)


def test_check_params_validates_against_the_chapter(fake_chapter):
    assert book.check_params("98_fake", {"profile": "smoke"}) == {"profile": "smoke", "n": 1, "fail": False}
    assert book.check_params("98_fake", {"profile": "default", "n": 7})["n"] == 7
    with pytest.raises(params.ParameterError, match=r"'n' = 11 is out of range; allowed: int in \[1, 10\]"):
        book.check_params("98_fake", {"profile": "default", "n": 11})
    with pytest.raises(params.ParameterError, match="unknown parameter 'm'; allowed parameters: profile, n"):
        book.check_params("98_fake", {"m": 1})
    with pytest.raises(params.ParameterError, match="'profile' = 'fast' is not allowed"):
        book.check_params("98_fake", {"profile": "fast"})


def test_chapter_without_specification_is_a_clear_error():
    with pytest.raises(
        params.ParameterError, match="expected PARAMS in src/distill_scaling/chapters/nothing.py"
    ):
        book.check_params("97_nothing", {"profile": "default"})


def test_plan(fake_chapter, tmp_path: Path):
    other = book.Chapter("99_other", tmp_path / "notebooks" / "99_other.ipynb", tmp_path / "99_other.ipynb")
    chapters = [fake_chapter, other]
    assert book.chapters_to_execute(chapters, None, keep_executed=False) == [
        (fake_chapter, True),
        (other, True),
    ]
    # --only: the named chapter with the parameters, the others only if their page is missing
    assert book.chapters_to_execute(chapters, ["99_other"], keep_executed=False) == [
        (fake_chapter, False),
        (other, True),
    ]
    fake_chapter.executed.parent.mkdir(parents=True)
    fake_chapter.executed.write_text("{}")
    assert book.chapters_to_execute(chapters, ["99_other"], keep_executed=False) == [(other, True)]
    assert book.chapters_to_execute(chapters, None, keep_executed=True) == [(other, True)]
    with pytest.raises(
        book.BookError, match="--only 42_x: not a chapter of _toc.yml; allowed: 98_fake, 99_other"
    ):
        book.chapters_to_execute(chapters, ["42_x"], keep_executed=False)


def test_bad_parameter_stops_the_command_before_any_notebook_runs(
    fake_chapter, monkeypatch, capsys, tmp_path
):
    monkeypatch.setattr(book, "toc_chapters", lambda root: [fake_chapter])
    monkeypatch.setattr(book, "prepare_copy", lambda out: None)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a notebook ran although a parameter was bad")

    monkeypatch.setattr(book, "execute_chapter", must_not_run)
    out = str(tmp_path / "copy")
    assert book.cli(["--out", out, "--only", "98_fake", "-p", "n", "0"]) == 2
    assert "error: parameter 'n' = 0 is out of range; allowed: int in [1, 10]" in capsys.readouterr().err
    assert book.cli(["--out", out, "--only", "98_fake", "-p", "n", "three"]) == 2
    assert "parameter 'n' must be int, got str 'three'" in capsys.readouterr().err
    assert book.cli(["--out", out, "-p", "n", "3"]) == 2
    assert "name it with --only" in capsys.readouterr().err
    assert book.cli(["--out", out, "--only", "98_nope"]) == 2
    assert "allowed: 98_fake" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        book.cli(["--profile", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_a_rejected_call_writes_nothing_to_out(fake_chapter, monkeypatch, capsys, tmp_path):
    """--out is created only after --only and every parameter were accepted."""
    monkeypatch.setattr(book, "toc_chapters", lambda root: [fake_chapter])
    out = tmp_path / "copy"
    for argv in (["--only", "98_fake", "-p", "n", "0"], ["--only", "98_nope"], ["-p", "n", "3"]):
        assert book.cli(["--out", str(out), *argv]) == 2, argv
        assert not out.exists(), argv
    capsys.readouterr()


def test_copy_refuses_the_repository_itself():
    with pytest.raises(book.BookError, match="other than the repository"):
        book.prepare_copy(paths.REPO)


def test_copy_takes_sources_not_generated_files(tmp_path: Path):
    book.prepare_copy(tmp_path)
    for name in ("_config.yml", "_toc.yml", "requirements.txt", "book/index.md", "book/references.bib"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "book/_static/mathjax/tex-chtml-full.js").is_file()
    for generated in ("executed", "figures", "_build"):
        assert not (tmp_path / "book" / generated).exists()


# --- executing one notebook ------------------------------------------------------------------------------


def test_hide_parameter_cells_is_idempotent():
    nb = nbformat.v4.new_notebook()
    a, b, c = (nbformat.v4.new_code_cell("x = 1") for _ in range(3))
    a.metadata["tags"] = ["parameters"]
    b.metadata["tags"] = ["injected-parameters"]
    nb.cells = [a, b, c]
    assert book.hide_parameter_cells(nb) == 2
    assert book.hide_parameter_cells(nb) == 0
    assert a.metadata["tags"] == ["parameters", "hide-cell"]
    assert b.metadata["tags"] == ["injected-parameters", "hide-cell"]
    assert c.metadata["tags"] == []


@pytest.mark.slow
def test_execute_chapter_moves_only_a_successful_notebook_into_place(fake_chapter):
    failed = book.execute_chapter(fake_chapter, {"profile": "smoke", "fail": True})
    assert not failed.ok
    assert failed.error == "RuntimeError: asked to fail"
    assert not fake_chapter.executed.exists()
    assert failed.failed_notebook is not None and failed.failed_notebook.is_file()
    assert not (fake_chapter.executed.parent / ".partial").exists()  # no empty folder left behind

    done = book.execute_chapter(fake_chapter, {"profile": "smoke", "n": 3})
    assert done.ok and done.seconds > 0
    nb = nbformat.read(fake_chapter.executed, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "n = 3" in injected[0].source
    assert all(
        "hide-cell" in c.metadata["tags"] for c in nb.cells if "parameters" in c.metadata.get("tags", [])
    )
    assert nb.cells[-1].outputs[0]["text"] == "n is 3\n"
    assert not (fake_chapter.executed.parent / ".partial").exists()


def test_toc_is_valid_for_jupyter_book():
    """The same parser ``jupyter-book build`` uses (an empty part, for one, is rejected)."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(paths.REPO / "_toc.yml")
    assert site_map.root.docname == "book/index"
    for chapter in book.toc_chapters():
        assert f"book/executed/{chapter.name}" in site_map


def test_plan_page_rejects_a_budget_the_planner_rejects_before_it_runs():
    """The page's parameters pass the planner's own budget rule in the first cell (and before the build)."""
    with pytest.raises(params.ParameterError, match=r"parameter 'compute' = 1e\+12 is out of range.*allowed"):
        book.check_params("05_plan", {"profile": "default", "compute": 1e12})
    with pytest.raises(params.ParameterError, match="'compute'"):
        notebook.setup("05_plan", compute=1e12)
    assert book.check_params("05_plan", {"profile": "default", "compute": 1e21})["compute"] == 1e21

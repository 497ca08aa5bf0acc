"""The one entry point, ``python -m distill_scaling <command>``: every command is a module with ``cli``, and
bad input to the commands that were chapter scripts is one ``error:`` line with exit status 2."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from distill_scaling import cli


def test_every_command_names_a_module_with_a_cli():
    for command, (module, description) in cli.COMMANDS.items():
        assert callable(importlib.import_module(module).cli), command
        assert description and command in cli.usage()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lr-sweep", "--workers", "0"], "parameter 'workers' = 0 is out of range; allowed: int in [1, 64]"),
        (["lr-sweep", "--workers", "two"], "parameter 'workers' must be int, got str 'two'"),
        (["lr-sweep", "--profile", "fast"], "argument --profile: invalid choice: 'fast'"),
        (["practice", "--teacher-wait-s", "soon"], "argument --teacher-wait-s: invalid float value: 'soon'"),
        (["practice", "--profile", "fast"], "argument --profile: invalid choice: 'fast'"),
        (["practice", "--bogus"], "unrecognized arguments: --bogus"),
        (["toys", "--profile", "smoke", "--device", "tpu"], "--device"),
    ],
)
def test_bad_input_to_a_command_is_one_error_line(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_the_chapter_modules_are_no_longer_scripts():
    """``python -m distill_scaling.chapters.<slug>`` was a second entry point; the commands replace it."""
    done = subprocess.run(
        [sys.executable, "-m", "distill_scaling.chapters.supervised_scaling", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout == ""  # imports, defines, runs nothing
    helped = subprocess.run(
        [sys.executable, "-m", "distill_scaling", "fit", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0 and "--law {supervised,distillation}" in helped.stdout
    assert "--refit" in helped.stdout and "--n-resamples" in helped.stdout

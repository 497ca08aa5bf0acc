"""``python -m distill_scaling <command>``: one entry point, each command implemented by its own module.

Each command module exposes ``cli(argv: list[str]) -> int`` and parses its own arguments, so that a command's
help, validation and work live beside the code they drive.
"""

from __future__ import annotations

import importlib
import os
import sys

from .errors import InputError

#: command -> (module, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "book": ("distill_scaling.book", "execute the chapters through papermill and build the website"),
    "corpus": ("distill_scaling.corpus_build", "build or verify the committed text corpus"),
    "study": ("distill_scaling.study", "train whatever run records of the study are missing"),
    "plan": (
        "distill_scaling.planner",
        "plan a compute-optimal distillation (teacher, tokens, compute split)",
    ),
    "fit": (
        "distill_scaling.fit_command",
        "fit a law to the study's runs and store it in data/fits/ (--law ...)",
    ),
    "toys": (
        "distill_scaling.chapters.capacity_gap_toys",
        "train the capacity-gap toy models' runs (chapter 10)",
    ),
    "practice": (
        "distill_scaling.chapters.distillation_in_practice",
        "train the 'Distillation in practice' runs and measure their calibration (chapter 08)",
    ),
    "lr-sweep": ("distill_scaling.chapters.setup", "train the learning-rate sweep of the Setup chapter (02)"),
    "bench": ("distill_scaling.bench", "print speed figures (training throughput, fitting)"),
    "runs": ("distill_scaling.store", "inspect the run store"),
    "findings": ("distill_scaling.verdicts", "judge the paper's claims on the records: data/findings.json"),
}


def usage() -> str:
    lines = ["usage: python -m distill_scaling <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {desc}" for name, (_, desc) in COMMANDS.items()]
    lines.append("\n`python -m distill_scaling <command> --help` describes a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; allowed: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    # A command's module is imported when it runs: importing all of them costs seconds (torch, matplotlib,
    # scipy) that a quick command such as `plan` should not pay. tests/test_cli.py imports every one.
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return int(module.cli(rest) or 0)
    except InputError as exc:  # bad input or data: one line naming it, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

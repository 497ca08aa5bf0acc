"""The errors a user's input or data can cause, which the commands report as one line and exit status 2,
and the argument parser of the commands, which raises them instead of printing argparse's usage block.

Library code raises them with a message that names the parameter, file or field and what is allowed; the
command-line entry point (:mod:`distill_scaling.cli`) prints ``error: <message>`` instead of a traceback.
"""

from __future__ import annotations

import argparse


class InputError(ValueError):
    """Bad input or data: the message says what was wrong, where, and what is allowed."""


class CorruptRecordError(InputError):
    """A file of the run store (or another committed result) that cannot be read as a record."""


class CorruptRecordWarning(UserWarning):
    """A corrupt record that a reading command skipped; the message names the file and what is wrong."""


class CommandParser(argparse.ArgumentParser):
    """The argument parser of a command: a bad option raises :class:`InputError`, which :func:`main` prints
    as one ``error: ...`` line (exit status 2) instead of argparse's usage block."""

    def error(self, message: str):  # argparse's messages name the option and, for choices, what is allowed
        raise InputError(message)


def int_or_text(text: str) -> int | str:
    """argparse ``type`` of an int option that a parameter specification (:mod:`distill_scaling.notebook`)
    checks afterwards: the int, or else the text, which that check rejects naming what is allowed."""
    try:
        return int(text)
    except ValueError:
        return text

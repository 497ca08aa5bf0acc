"""The errors a user's input or data can cause, which the commands report as one line and exit status 2.

Library code raises them with a message that names the parameter, file or field and what is allowed; the
command-line entry point (:mod:`distill_scaling.cli`) prints ``error: <message>`` instead of a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input or data: the message says what was wrong, where, and what is allowed."""


class CorruptRecordError(InputError):
    """A file of the run store (or another committed result) that cannot be read as a record."""


class CorruptRecordWarning(UserWarning):
    """A corrupt record that a reading command skipped; the message names the file and what is wrong."""

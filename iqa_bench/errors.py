"""Errors that reach the user: one readable message saying what, which file, and what to do."""

from __future__ import annotations


class IQABenchError(Exception):
    """Base class for every error the CLI prints without a traceback.

    Parameters
    ----------
    message
        What went wrong, naming the file or name involved.
    hint
        What the user can do about it.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"


class InputError(IQABenchError):
    """An input image, folder or option cannot be used as given."""


class UnknownNameError(IQABenchError):
    """A metric, model, runner or dataset name is not registered."""


class RunStateError(IQABenchError):
    """A run directory cannot be resumed with the settings given."""


class ComputeError(IQABenchError):
    """A computation produced an unusable result (e.g. NaN output)."""

    exit_code = 1


class MetricUnavailableError(IQABenchError):
    """A registered metric that cannot be computed here (its weights or dependencies cannot be had)."""


def brief(exc: BaseException, limit: int = 200) -> str:
    """One line for an exception from a library: ``Type: first line of its message`` (``Type`` alone
    when the message is empty), at most ``limit`` characters of message."""
    first = (str(exc).strip().splitlines() or [""])[0][:limit]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__

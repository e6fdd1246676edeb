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


# OS errors that are the machine's, not a model's or a metric's: a run stops on them (every value
# flushed before is kept) instead of recording them as one model's failure and going on.
_FULL = {"ENOSPC", "EDQUOT", "EFBIG"}
_NOT_WRITABLE = {"EROFS", "EACCES", "EPERM"}


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk, a file-size/quota limit or an unwritable location."""
    import errno

    return isinstance(exc, OSError) and errno.errorcode.get(exc.errno or -1, "") in _FULL | _NOT_WRITABLE


def storage_error(exc: OSError) -> IQABenchError:
    """An OS error that reached the user, as one message naming the file and the fix."""
    import errno

    code = errno.errorcode.get(exc.errno or -1, "")
    where = exc.filename or "a file"
    err = ComputeError(f"cannot write {where}: {exc.strerror or exc}")
    if code in _FULL:
        err.hint = ("free disk space (or raise the quota/file-size limit) and rerun the same command: every result "
                    "written before this is kept and reused")
    elif code in _NOT_WRITABLE:
        err.hint = ("make the folder writable, or pass --out with a writable folder; a run directory that was "
                    "written before keeps its results")
    else:
        err.message = f"{where}: {exc.strerror or exc}"
        err.hint = "check the path and the disk"
    return err


def brief(exc: BaseException, limit: int = 200) -> str:
    """One line for an exception from a library: ``Type: first line of its message`` (``Type`` alone
    when the message is empty), at most ``limit`` characters of message."""
    first = (str(exc).strip().splitlines() or [""])[0][:limit]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def one_line_cause(exc: BaseException) -> str:
    """One line for a failure: our errors' own message (and fix), else the exception type and its first line."""
    if isinstance(exc, IQABenchError):
        return f"{exc.message} (fix: {exc.hint})" if exc.hint else exc.message
    return brief(exc, limit=10_000)

"""Exceptions whose messages say what is wrong, where, and how to fix it.

Each class also inherits the builtin it refines, so callers may catch either.
"""

from __future__ import annotations


class CodelutraError(Exception):
    """Base class of every error raised by codelutra_nb."""


class ConfigError(CodelutraError, ValueError):
    """A parameter is unknown or has a value that is not allowed."""


class TaskDataError(CodelutraError, ValueError):
    """A task file, database or record is missing or malformed."""


class StoreError(CodelutraError, OSError):
    """An artifact of an iteration is missing or cannot be written."""


class ModelError(CodelutraError, OSError):
    """A base model or adapter cannot be found or loaded."""


class StaleArtifactError(ConfigError):
    """A stored artifact was made with other parameter values than the run asks for."""


class DeviceError(CodelutraError, RuntimeError):
    """The GPU cannot run this work: torch has no kernels for it, or the run's memory plan does not fit it."""


class SessionError(CodelutraError, RuntimeError):
    """The notebook session cannot run the toolkit as it is (a package changed while imported); says what to do."""

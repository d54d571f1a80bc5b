"""Errors that a user can cause: the only exceptions the CLI prints as one line (exit status 2).

Raise :class:`ConvzooError` (or one of its kinds below) for a mistake the user can fix; the
message says what was wrong and what to do. Anything else is a bug and keeps its traceback.

``ConvzooError`` stays a subclass of ``ValueError`` so that code written against the first
releases (``except ValueError``) keeps working; the CLI's boundary catches ``ConvzooError``
itself, never a plain ``ValueError``.
"""

from __future__ import annotations

import os

__all__ = [
    "ConvzooError",
    "DamagedFileError",
    "UnknownModelError",
    "UsageError",
    "UserPathError",
]


class ConvzooError(ValueError):
    """Bad input from the user: the message says what was wrong and what to do."""


class UnknownModelError(ConvzooError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UsageError(ConvzooError):
    """Options that cannot go together, or a value out of range that argparse cannot see."""


class UserPathError(ConvzooError):
    """A path the user gave that cannot be used: missing, not a folder, not writable, a folder
    where a file is expected. ``path`` is the path as the user gave it."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class DamagedFileError(UserPathError):
    """A file the user gave that cannot be read as what it claims to be: truncated, corrupt, or
    another format. Loaders raise it ``from`` the parser's own error, which keeps the cause."""

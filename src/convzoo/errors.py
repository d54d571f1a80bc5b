"""Errors that a user can cause. The CLI prints them in one line and exits with status 2."""

from __future__ import annotations


class ConvzooError(ValueError):
    """Bad input from the user: the message says what was wrong and what to do."""


class UnknownModelError(ConvzooError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

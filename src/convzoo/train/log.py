"""The training loop's messages: the ``convzoo.train`` logger, shown on standard error.

Like Lightning's ``lightning.pytorch`` logger, it comes with its own handler, so that a run
started from Python or a notebook says what it does (the start line, a line per epoch, where a
Ctrl-C left the checkpoint) without the caller configuring logging first. It writes to whatever
``sys.stderr`` is at the time of the message (so that redirected and captured streams receive
it) and does not propagate; an application that wants the messages elsewhere removes the
handler and sets ``propagate = True``.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("convzoo.train")


class StderrHandler(logging.Handler):
    """A handler that writes to the current ``sys.stderr`` (as ``logging.lastResort`` does)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never break training
            self.handleError(record)


if not any(isinstance(h, StderrHandler) for h in logger.handlers):
    _handler = StderrHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

"""Argument types and flags that several commands share, so that each is spelt and checked once.

* :class:`OneLineParser`: argparse's parser whose errors are one line
  (``convzoo CMD: error: ...``, exit status 2) instead of a usage block and a line;
* :func:`device`, :func:`device_or_auto`: ``--device``, refused at parse time when it names no
  device or one this machine lacks;
* :func:`positive_int`, :func:`threads`: counts that must be at least 1;
  :func:`non_negative_int`: counts and indices that may be 0;
* :func:`add_input_size_argument`: the one input-size flag, ``--input-size``, with the older
  spellings (``--image-size``, ``--input``) kept as hidden aliases.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

__all__ = [
    "INPUT_SIZE_ALIASES",
    "THREADS_HELP",
    "OneLineParser",
    "add_input_size_argument",
    "device",
    "device_or_auto",
    "non_negative_int",
    "positive_int",
    "threads",
]

#: The spellings of the input-size flag that commands used before ``--input-size``.
INPUT_SIZE_ALIASES = ("--image-size", "--input")

_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2.

    argparse prints the whole usage before its error line; the usage is one ``--help`` away,
    and every other error of the CLI is one line, so these are too.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` lists the options)\n")


def _int_at_least(value: str, lowest: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < lowest:
        raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {number}")
    return number


def positive_int(value: str) -> int:
    """An integer of at least 1 (``--threads``, ``--batch-size``, ``--epochs``, ...)."""
    return _int_at_least(value, 1)


def non_negative_int(value: str) -> int:
    """An integer of at least 0 (``--workers``, ``--warmup``, a class index)."""
    return _int_at_least(value, 0)


#: The help of every ``--threads`` flag: the one rule is :func:`convzoo.threads.choose_threads`.
THREADS_HELP = (
    "CPU threads (default: CONVZOO_THREADS or OMP_NUM_THREADS, else the usable cores less "
    "those other work keeps busy, measured over 0.15 s); e.g. --threads 2"
)


def threads(value: str) -> int:
    """A CPU thread count: at least 1 (torch and onnxruntime would fail or ignore 0)."""
    return positive_int(value)


def device(value: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps``, present on this machine."""
    if not _DEVICE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a device: give cpu, cuda, cuda:N (N = 0, 1, ...) or mps"
        )
    if value == "cpu":
        return value
    # torch is imported only when a GPU is asked for: `--help` and cpu runs do not pay here.
    import torch

    if value == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError("mps is not available on this machine; use cpu")
        return value
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(value.partition(":")[2] or 0)
    if index >= count:
        have = f"{count} CUDA device(s)" if count else "no CUDA device"
        raise argparse.ArgumentTypeError(f"{value}: this machine has {have}; use cpu")
    return value


def device_or_auto(value: str) -> str:
    """:func:`device`, or ``auto`` (the best device present, decided by the command)."""
    return value if value == "auto" else device(value)


def add_input_size_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    aliases: tuple[str, ...] = INPUT_SIZE_ALIASES,
    **kwargs: Any,
) -> argparse.Action:
    """Add ``--input-size`` (``kwargs`` as for ``add_argument``) and the old spellings in
    ``aliases`` as hidden flags with the same destination, so old command lines keep working."""
    kwargs.setdefault("dest", "input_size")
    action = parser.add_argument("--input-size", **kwargs)
    hidden = {k: v for k, v in kwargs.items() if k not in ("default", "help", "required")}
    for alias in aliases:
        parser.add_argument(alias, **hidden, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return action


def print_error(prog: str, message: str) -> None:
    """The one-line form of every user error: ``convzoo CMD: error: MESSAGE``."""
    first_line = " ".join(str(message).split("\n")).strip()
    print(f"{prog}: error: {first_line}", file=sys.stderr)

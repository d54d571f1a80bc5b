"""The `convzoo` command. Each sub-command lives in its own module with ``register(subparsers)``.

Two jobs live here, and only here:

* **Start-up.** Only the module of the command being run is imported. ``convzoo --help`` lists
  the commands from their modules' docstrings, read as text (first line, without the usage), so
  it imports no command module, no torch, nothing of the library.
* **The single error boundary.** A user's mistake is printed in one line,
  ``convzoo CMD: error: ...``, and exits with status 2: the project's own
  :class:`~convzoo.errors.ConvzooError`, and the OS errors a user causes (no permission, a
  read-only or full disk, a quota or file-size limit, a folder where a file is expected, a path
  that does not exist). Anything else, a plain ``ValueError`` or ``TypeError`` included, is a
  bug in the library and keeps its traceback. A closed pipe on stdout (``convzoo list | head``)
  ends the command quietly; Ctrl-C ends it with status 130.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import errno
import importlib
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from convzoo.cli._args import OneLineParser, print_error
from convzoo.errors import ConvzooError
from convzoo.io import TEMP_MARK
from convzoo.version import __version__

# Sub-command modules, in the order `convzoo --help` lists them; the module ``cmd_NAME``
# registers the command NAME with dashes for underscores (``lr_find``: `convzoo lr-find`).
COMMANDS = (
    "list",
    "summary",
    "audit",
    "train",
    "evaluate",
    "lr_find",  # the module cmd_lr_find registers the command `lr-find`
    "show_batch",  # cmd_show_batch: `show-batch`
    "finetune",
    "predict",
    "weights",
    "bench",
    "plot",
    "export",
    "report",
    "draw",
    "explain",
    "filters",
)

#: Exit status of a user error (argparse's own), of Ctrl-C (128 + SIGINT), and of a closed
#: stdout pipe (128 + SIGPIPE, what the shell shows for a tool the pipe's reader left).
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

# OS errors that the user causes with the paths and the machine they give us, and what to do.
_USER_ERRNOS: dict[int, str] = {
    errno.EACCES: "choose a place you can write to, or change its permissions",
    errno.EPERM: "the file or folder does not allow it (permissions or an immutable flag)",
    errno.EROFS: "the file system is read-only; choose another place",
    errno.ENOSPC: "the disk is full; free some space or choose another place",
    errno.EDQUOT: "the disk quota is exceeded; free some space or choose another place",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f)",
    errno.EISDIR: "a folder is where a file is expected; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "it exists already; choose another name or remove it",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many symbolic links",
}
# Missing paths inside the installed package are a broken install or a bug, not the user's.
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _module_name(command: str) -> str:
    return f"convzoo.cli.cmd_{command.replace('-', '_')}"


def available_commands() -> list[str]:
    """The commands (as typed: ``lr-find``) of :data:`COMMANDS` whose module exists, found
    without importing them."""
    names = [c.replace("_", "-") for c in COMMANDS]
    return [c for c in names if importlib.util.find_spec(_module_name(c)) is not None]


def command_summary(command: str) -> str:
    """One line for ``convzoo --help``, read from the command module's source without importing
    it (importing a command imports torch, and ``--help`` would take as long as a run).

    It is the ``help=`` text of the module's ``add_parser("CMD", help="...")`` call where that is
    a plain string, else the first line of the module's docstring."""
    spec = importlib.util.find_spec(_module_name(command))
    if spec is None or spec.origin is None:
        return ""
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_parser"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == command
        ):
            for keyword in node.keywords:
                if keyword.arg == "help" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    doc = (ast.get_docstring(tree) or "").strip()
    return doc.split("\n", 1)[0].strip()


def build_parser(command: str | None = None, *, all_commands: bool | None = None) -> OneLineParser:
    """The parser of ``convzoo``.

    ``command``: the command about to run: only its module is imported and registers its
    options; the others are listed by name and summary. With neither ``command`` nor
    ``all_commands=False``, every command registers its options (for tests and docs).
    """
    if all_commands is None:
        all_commands = command is None
    parser = OneLineParser(
        prog="convzoo",
        description="The classic ConvNets: list, summarise, audit, train, fine-tune, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"convzoo {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser
    )
    for name in available_commands():
        if all_commands or name == command:
            importlib.import_module(_module_name(name)).register(sub)
        else:
            sub.add_parser(name, help=command_summary(name), add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    # The top-level options (-h, --help, --version) take no value: the first word that is not
    # an option is the command.
    return next((a for a in argv if not a.startswith("-")), None)


def _shown_path(err: OSError) -> str | None:
    """The path to name in the message: the destination of a rename, and the file the user
    asked for rather than the atomic writer's hidden ``.NAME.tmp-XXXX`` beside it."""
    name = err.filename2 if err.filename2 is not None else err.filename
    if name is None:
        return None
    path = Path(os.fsdecode(name))
    if path.name.startswith(".") and TEMP_MARK in path.name:
        path = path.with_name(path.name[1:].split(TEMP_MARK, 1)[0])
    return str(path)


def user_os_error_message(err: OSError) -> str | None:
    """The one-line message for an OS error the user caused, or ``None`` for a bug's."""
    if err.errno is None:
        # Raised by our own code with a message (``FileNotFoundError("no data folder ...")``),
        # or by a decoder about a file it was given (Pillow's "cannot identify image file").
        return str(err)
    hint = _USER_ERRNOS.get(err.errno)
    if hint is None:
        return None
    path = _shown_path(err)
    if err.errno in (errno.ENOENT, errno.ENOTDIR) and (
        path is None or Path(path).resolve().is_relative_to(_PACKAGE_DIR)
    ):
        return None
    what = err.strerror or os.strerror(err.errno)
    return f"{path}: {what}: {hint}" if path else f"{what}: {hint}"


def _os_error_behind(err: BaseException) -> OSError | None:
    """The OSError with an errno that ``err`` was raised while handling, if any (3 links)."""
    link = err.__cause__ or err.__context__
    for _ in range(3):
        if link is None:
            return None
        if isinstance(link, OSError) and link.errno is not None:
            return link
        link = link.__cause__ or link.__context__
    return None


class _StderrHandler(logging.Handler):
    """Writes each record to the current ``sys.stderr`` (which tests and pipes may replace)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _configure_logging() -> None:
    # The library logs (it never prints); the command line shows its INFO records as lines.
    logger = logging.getLogger("convzoo")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    # torch's C++-extension builder, which inductor imports, warns at import on a machine with a
    # CUDA toolkit and no GPU ("No CUDA runtime is found, using CUDA_HOME=..."): convzoo builds
    # no extension, and the line reads like a fault of the command (it led `convzoo bench`).
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _silence_stdout() -> None:
    # The reader of our stdout has gone: send what is left to /dev/null, so that the flush at
    # exit does not raise again (the recipe of Python's signal module documentation).
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``convzoo`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    parser = build_parser(_command_of(argv), all_commands=False)
    args = parser.parse_args(argv)
    prog = f"convzoo {args.command}"
    try:
        result = args.func(args)
        sys.stdout.flush()
    except ConvzooError as err:
        print_error(prog, str(err))
        return EXIT_USER_ERROR
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as err:
        message = user_os_error_message(err)
        if message is None:
            raise
        print_error(prog, message)
        return EXIT_USER_ERROR
    except RuntimeError as err:
        # torch's serialisation turns the writer's OSError (a full disk) into a RuntimeError
        # ("unexpected pos ..."), with the OSError as its context.
        cause = _os_error_behind(err)
        message = None if cause is None else user_os_error_message(cause)
        if message is None:
            raise
        print_error(prog, message)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return int(result or 0)


def run() -> NoReturn:
    """The console script: :func:`main`, then the end of the process without its teardown.

    Why: after ``import torch`` the interpreter's finalization (clearing every module, a last
    garbage collection over torch's objects) took 0.85 s on the 2-core AMD EPYC host, a third of
    ``convzoo report resnet152`` (medians of 6 interleaved: ``python -c "import torch"`` 2.72 s,
    ending with this exit 1.86 s). No command needs it: every file a command writes goes through
    :func:`convzoo.io.atomic_write`, closed and renamed before the command returns. What the
    teardown does that matters still runs here: the ``atexit`` functions (logging's flush,
    multiprocessing's reaping of DataLoader workers, ``weakref.finalize`` and the temporary
    folders it removes) and the flush of stdout and stderr. While a thread other than the main
    one is alive and not a daemon, the normal exit (which joins it) is taken instead.
    """
    code = main()  # a bug's traceback leaves through the normal exit
    main_thread = threading.main_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main_thread):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or a closed stream: nothing to flush to
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()

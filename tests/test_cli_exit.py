"""The console script's exit (``convzoo.cli.run``) skips the interpreter's teardown and keeps
what the teardown was for: atexit functions run, piped output arrives whole, the exit status
is the command's, a live worker thread is joined, and a bug still prints its traceback. And the
command line's logging keeps torch's import-time CUDA_HOME line off a GPU-less machine."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from convzoo.cli import EXIT_USER_ERROR
from convzoo.registry import list_models

pytestmark = pytest.mark.slow  # each test starts a Python that imports torch


def _console(argv: list[str], prelude: str = "") -> subprocess.CompletedProcess:
    script = textwrap.dedent(prelude) + textwrap.dedent(
        f"""
        import sys
        sys.argv = ["convzoo", *{argv!r}]
        from convzoo.cli import run
        run()
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def test_atexit_functions_run_and_piped_output_arrives_whole() -> None:
    done = _console(
        ["list"],
        prelude="""
        import atexit
        atexit.register(lambda: print("atexit ran", flush=True))
        """,
    )
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln]
    # every network's row, then the footer, then the atexit line: nothing lost in the buffer
    assert sorted(ln.split()[0] for ln in lines[2:-2]) == sorted(list_models())
    assert lines[-2].startswith(f"{len(list_models())} networks")
    assert lines[-1] == "atexit ran"


def test_the_exit_status_is_the_commands() -> None:
    done = _console(["summary", "no_such_network"])
    assert done.returncode == EXIT_USER_ERROR
    assert done.stderr.count("\n") == 1 and "convzoo summary: error:" in done.stderr


def test_a_live_worker_thread_is_joined_before_the_process_ends(tmp_path: Path) -> None:
    marker = tmp_path / "thread-finished"
    done = _console(
        ["list"],
        prelude=f"""
        import threading, time
        from pathlib import Path
        def late() -> None:
            time.sleep(1.0)  # outlives the command
            Path({str(marker)!r}).write_text("done")
        threading.Thread(target=late).start()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "done"


def test_a_bug_keeps_its_traceback() -> None:
    done = _console(
        ["list"],
        prelude="""
        import convzoo.cli.cmd_list as cmd_list
        def broken(args):
            raise TypeError("a bug in the library")
        cmd_list.run = broken
        """,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "TypeError: a bug in the library" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the line is only logged without a GPU")
@pytest.mark.parametrize("configured", [False, True])
def test_no_cuda_home_line_from_torch_on_a_machine_without_a_gpu(
    tmp_path: Path, configured: bool
) -> None:
    # inductor imports torch.utils.cpp_extension, which logs a warning at import when it finds
    # a CUDA toolkit (CUDA_HOME) and no GPU; shown unconfigured, so the test can fail
    setup = (
        "from convzoo.cli import _configure_logging; _configure_logging(); " if configured else ""
    )
    done = subprocess.run(
        [sys.executable, "-c", setup + "import torch.utils.cpp_extension"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CUDA_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert ("No CUDA runtime is found" in done.stderr) is not configured

"""The CLI's single error boundary, tried with real faults.

A user's fault (a folder without write permission, a full disk, a file-size limit, a folder
where a file is expected, a path that does not exist, a bad flag) ends in one line on stderr,
``convzoo CMD: error: ...``, exit status 2, and no stray temporary file; a bug keeps its
traceback; a closed stdout pipe ends quietly.

We run as root, and root ignores permissions: the permission tests drop the capabilities that
let root override them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) with ``setpriv``, so the kernel
checks the folder's mode bits as it would for anyone. (``setpriv --reuid=65534`` would do the
same, but the interpreter lives under /root, which user 65534 cannot enter.)
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import convzoo.cli.cmd_list as cmd_list
from convzoo.cli import (
    available_commands,
    build_parser,
    command_summary,
    main,
    user_os_error_message,
)
from convzoo.cli._args import (
    OneLineParser,
    add_input_size_argument,
    device,
    device_or_auto,
    positive_int,
    threads,
)
from convzoo.errors import ConvzooError, DamagedFileError, UserPathError

SRC = str(Path(__file__).resolve().parent.parent / "src")
DROP_ROOT_OVERRIDE = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
]


def convzoo(*argv: str, prefix: list[str] | None = None, preexec_fn=None, cwd=None):
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "convzoo", *argv],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=preexec_fn,
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(result, command: str, *words: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"convzoo {command}: error: "), result.stderr
    assert result.stderr.count("error:") == 1, result.stderr
    for word in words:
        assert word in last, last
    return last


def leftovers(folder: Path) -> list[str]:
    """Hidden or temporary files (``.NAME.tmp-XXXX``, ``.NAME.XXXX``) anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's permission override")
    probe = subprocess.run(
        [*DROP_ROOT_OVERRIDE, sys.executable, "-c", f"open({str(folder / 'x')!r}, 'w')"],
        capture_output=True,
    )
    if probe.returncode == 0:
        pytest.skip("cannot drop the permission override here")
    yield folder
    folder.chmod(0o755)


@contextlib.contextmanager
def small_tmpfs(mount: Path, size: str):
    """A tmpfs of ``size`` on ``mount`` (we are root); the test is skipped where mounting is
    not allowed."""
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last byte by a file named ``filler``."""
    with small_tmpfs(tmp_path / "small-disk", "64k") as mount:
        filler = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(filler, b"\0" * 1024)  # unbuffered: the last write is the failing one
        except OSError as err:
            assert err.errno == errno.ENOSPC
        finally:
            os.close(filler)
        yield mount


def file_size_limit(limit: int):
    def apply() -> None:
        # Without this the kernel kills the process with SIGXFSZ instead of failing the write.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


# --------------------------------------------------------------------------------------------
# Real faults, real commands
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_summary_into_a_folder_without_write_permission(read_only_folder):
    result = convzoo(
        "summary", "lenet5", "-o", str(read_only_folder / "t.txt"), prefix=DROP_ROOT_OVERRIDE
    )
    assert_one_line_error(result, "summary", "Permission denied", str(read_only_folder))
    assert list(read_only_folder.iterdir()) == []


@pytest.mark.slow
def test_train_into_a_folder_without_write_permission(read_only_folder):
    out = read_only_folder / "run"
    result = convzoo(
        "train", "lenet5", "--epochs", "1", "--out", str(out), prefix=DROP_ROOT_OVERRIDE
    )
    assert_one_line_error(result, "train", "Permission denied", str(out))
    assert list(read_only_folder.iterdir()) == []


@pytest.fixture
def immutable_folder(tmp_path):
    """A folder with the immutable flag (``chattr +i``): even root gets EPERM inside it."""
    folder = tmp_path / "immutable"
    folder.mkdir()
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is needed")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot set the immutable flag here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["summary", "train", "export"])
def test_an_immutable_folder_is_one_line_and_nothing_is_written(immutable_folder, capsys, command):
    target = immutable_folder / "out"
    argv = {
        "summary": ["summary", "lenet5", "-o", str(target)],
        "train": ["train", "lenet5", "--epochs", "1", "--out", str(target), "--quiet"],
        "export": ["export", "lenet5", "--out", str(target) + ".onnx"],
    }[command]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Operation not permitted" in err, err
    assert list(immutable_folder.iterdir()) == []


def summary_in_process(capsys, output: Path) -> str:
    """`convzoo summary lenet5 -o OUTPUT` run by ``main``: the fault is real, the process ours."""
    code = main(["summary", "lenet5", "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("convzoo summary: error: "), err
    return err


def test_summary_onto_a_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "table.txt").mkdir()
    assert "table.txt" in summary_in_process(capsys, tmp_path / "table.txt")


def test_summary_onto_a_folder_leaves_no_temp_file(tmp_path, capsys):
    (tmp_path / "table.txt").mkdir()
    summary_in_process(capsys, tmp_path / "table.txt")
    assert leftovers(tmp_path) == []


def test_summary_below_a_file_or_a_missing_folder(tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    for bad in (tmp_path / "a-file" / "t.txt", tmp_path / "no-such-folder" / "t.txt"):
        summary_in_process(capsys, bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.slow
def test_train_out_below_a_file(tmp_path):
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "run"
    result = convzoo("train", "lenet5", "--epochs", "1", "--out", str(out))
    assert_one_line_error(result, "train", "Not a directory", str(out))


def test_summary_on_a_full_disk_is_one_line(full_disk, capsys):
    assert "No space left" in summary_in_process(capsys, full_disk / "t.txt")
    assert not (full_disk / "t.txt").exists()


def test_summary_on_a_full_disk_leaves_no_temp_file(full_disk, capsys):
    summary_in_process(capsys, full_disk / "t.txt")
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


@pytest.mark.slow
def test_summary_past_the_file_size_limit(tmp_path):
    result = convzoo(
        "summary", "lenet5", "-o", str(tmp_path / "t.txt"), preexec_fn=file_size_limit(512)
    )
    assert_one_line_error(result, "summary", "File too large")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("out_exists", [False, True], ids=["new-out", "empty-out"])
def test_train_on_a_full_disk(tmp_path, out_exists):
    """The first checkpoint does not fit: one line, no ``.last.tmp-PID``, and the run that saved
    nothing leaves nothing that blocks the same ``--out`` once there is room."""
    mount = tmp_path / "disk"
    with small_tmpfs(mount, "300k"):  # room for config.json and metrics, not a checkpoint
        out = mount / "run"
        if out_exists:
            out.mkdir()
        result = convzoo("train", "lenet5", "--epochs", "1", "--out", str(out))
        assert_one_line_error(result, "train", "No space left")
        assert leftovers(mount) == []
        assert [p.name for p in mount.rglob("*")] == (["run"] if out_exists else [])
        grown = subprocess.run(["mount", "-o", "remount,size=4m", str(mount)], capture_output=True)
        assert grown.returncode == 0, grown.stderr
        again = convzoo("train", "lenet5", "--epochs", "1", "--out", str(out), "--quiet")
        assert again.returncode == 0, again.stderr
        assert (out / "last" / "meta.json").is_file()


@pytest.mark.slow
def test_export_on_a_full_disk_is_one_line_and_leaves_nothing(full_disk, capsys):
    code = main(["export", "lenet5", "--format", "onnx", "--out", str(full_disk / "m.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and "No space left" in err and err.count("\n") == 1, err
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_a_download_onto_a_full_disk_is_one_line_and_leaves_nothing(
    full_disk, hostile_server, monkeypatch, tmp_path, capsys
):
    """The weights cache (CONVZOO_HOME) on a full disk: a 200 KB download fails in one line, and
    neither the file nor torch hub's ``.partial`` is left in the cache."""
    from PIL import Image

    hostile_server.default = b"\0" * 200_000
    monkeypatch.setenv("CONVZOO_HOME", str(full_disk / "home"))
    monkeypatch.delenv("CONVZOO_OFFLINE", raising=False)
    img = tmp_path / "x.png"
    Image.new("L", (32, 32)).save(img)
    code = main(["predict", "lenet5", str(img), "--weights", hostile_server.url("/w.pth")])
    err = capsys.readouterr().err
    assert hostile_server.requests, "the download was tried"
    # Above it, only the download's progress bar (carriage returns, not lines of their own).
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert "No space left" in err.splitlines()[-1], err
    cached = [p.name for p in (full_disk / "home").rglob("*") if p.is_file()]
    assert [n for n in cached if not n.endswith(".lock")] == [], cached


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "run"
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "command, damage",
    [
        (command, damage)
        for command in ("train-resume", "evaluate", "export", "predict")
        for damage in ("meta-not-json", "weights-truncated", "state-truncated")
        if damage != "state-truncated" or command == "train-resume"  # only a resume reads it
    ],
)
def test_a_damaged_checkpoint_is_one_line_in_every_command(
    small_run, tmp_path, capsys, damage, command
):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    for family in ("best", "last"):
        ck = run / family
        if damage == "state-truncated":
            if (ck / "state.pt").is_file():
                data = (ck / "state.pt").read_bytes()
                (ck / "state.pt").write_bytes(data[: len(data) // 3])
        elif damage == "meta-not-json":
            (ck / "meta.json").write_text('{"model": {"name": "lenet5"')
        else:
            data = (ck / "weights.safetensors").read_bytes()
            (ck / "weights.safetensors").write_bytes(data[: len(data) // 3])
    img = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (32, 32)).save(img)
    argv = {
        "train-resume": ["train", "--resume", str(run), "--epochs", "2", "--quiet"],
        "evaluate": ["evaluate", str(run), "--out", str(tmp_path / "ev"), "--quiet"],
        "export": ["export", str(run), "--out", str(tmp_path / "m.onnx")],
        "predict": ["predict", str(run), str(img)],
    }[command]
    before = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert err.count("\n") == 1, err
    assert any(w in err for w in ("meta.json", "weights.safetensors", "state.pt")), err
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == before  # nothing written
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("command", ["train", "export", "lr-find", "finetune"])
def test_an_absurd_input_size_is_refused_with_the_figure(tmp_path, capsys, command, monkeypatch):
    """--input-size 100000: one line with the memory a step needs and the memory there is,
    before anything is allocated or written (before: the allocator's traceback)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = {
        "train": ["train", "lenet5", "--epochs", "1", "--out", str(out)],
        "export": ["export", "lenet5", "--out", str(out) + ".onnx"],
        "lr-find": ["lr-find", "lenet5", "--out", str(out)],
        "finetune": [
            "finetune",
            "lenet5",
            "--weights",
            "none",
            "--data",
            "digits",
            "--out",
            str(out),
        ],
    }[command]
    code = main([*argv, "--input-size", "100000"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "--input-size 100000 is too large" in err and "needs at least" in err, err
    assert ("TB" in err or "GB" in err) and "available" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_memory_estimate_counts_the_input_and_the_weights():
    """The estimate is a lower bound made of parts computed independently here: the input batch
    (N x C x H x W float32) and the weights (4 bytes a parameter); training adds at least the
    gradients and momentum of the weights. A size that fits is never refused."""
    from convzoo import create_model
    from convzoo.inspect.memory import check_fits_in_memory, memory_needed

    params = sum(p.numel() for p in create_model("lenet5").parameters())
    for side, batch in ((32, 1), (64, 8), (500, 2)):
        forward = memory_needed("lenet5", side, batch, training=False)
        step = memory_needed("lenet5", side, batch, training=True)
        assert forward > 4 * batch * side * side + 4 * params
        assert step >= forward + 2 * 4 * params
    need = memory_needed("lenet5", 500, 2, training=True)
    check_fits_in_memory("lenet5", 500, 2, training=True, available=need)  # fits: no error
    with pytest.raises(ConvzooError, match="too large"):
        check_fits_in_memory("lenet5", 500, 2, training=True, available=need - 1)
    check_fits_in_memory("lenet5", None, 2, training=True, available=0)  # the card's size


@pytest.mark.slow
def test_a_closed_stdout_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: every write is EPIPE
    env = {**os.environ, "PYTHONPATH": SRC}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "convzoo", "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141


@pytest.mark.slow
def test_list_into_head_prints_its_first_lines_and_no_error():
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        f"{sys.executable} -m convzoo list | head -2",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.stdout.splitlines()[0].split()[:2] == ["name", "year"]
    assert len(done.stdout.splitlines()) == 2
    assert done.stderr == ""


# --------------------------------------------------------------------------------------------
# What the boundary turns into one line, and what it leaves alone
# --------------------------------------------------------------------------------------------


def fail_with(monkeypatch, error: BaseException) -> None:
    def broken_rows(pattern=None):
        raise error

    monkeypatch.setattr(cmd_list, "model_rows", broken_rows)


@pytest.mark.parametrize(
    "error",
    [
        ConvzooError("bad thing; do this"),
        UserPathError("no folder x; create it", path="x"),
        DamagedFileError("w.safetensors is truncated; download it again", path="w.safetensors"),
        PermissionError(errno.EACCES, "Permission denied", "/data/out.txt"),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded", "/home/me/x"),
        OSError(errno.EROFS, "Read-only file system", "/mnt/cd/x"),
        IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp/out"),
        FileNotFoundError("data folder 'photos' does not exist"),  # our own, no errno
    ],
    ids=lambda e: (
        type(e).__name__ + (f"-{errno.errorcode[e.errno]}" if getattr(e, "errno", None) else "")
    ),
)
def test_user_errors_are_one_line_and_exit_2(monkeypatch, capsys, error):
    fail_with(monkeypatch, error)
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convzoo list: error: ")


def test_the_temp_name_of_the_atomic_writer_is_shown_as_the_users_file(monkeypatch, capsys):
    fail_with(monkeypatch, IsADirectoryError(21, "Is a directory", "/out/.t.txt.tmp-abc123"))
    assert main(["list"]) == 2
    assert "/out/t.txt: Is a directory" in capsys.readouterr().err


def test_a_full_disk_hidden_by_torch_serialisation_is_one_line(monkeypatch, capsys):
    # torch.save into a file object turns the writer's ENOSPC into a RuntimeError, raised while
    # handling it (so the OSError is its __context__), as it does on a real full disk.
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] unexpected pos") from None
    except RuntimeError as err:
        hidden = err
    fail_with(monkeypatch, hidden)
    assert main(["list"]) == 2
    assert "No space left" in capsys.readouterr().err


@pytest.mark.parametrize(
    "bug",
    [
        ValueError("a library bug"),
        TypeError("a library bug"),
        KeyError("a library bug"),
        RuntimeError("a library bug"),
        OSError(errno.EIO, "Input/output error", "/dev/sda"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_bugs_keep_their_traceback(monkeypatch, bug):
    fail_with(monkeypatch, bug)
    with pytest.raises(type(bug)):
        main(["list"])


def test_a_file_missing_from_the_installed_package_is_a_bug(monkeypatch):
    inside = Path(cmd_list.__file__).parent.parent / "data" / "gone.json"
    fail_with(
        monkeypatch, FileNotFoundError(errno.ENOENT, "No such file or directory", str(inside))
    )
    with pytest.raises(FileNotFoundError):
        main(["list"])


def test_message_names_the_path_and_what_to_do():
    msg = user_os_error_message(PermissionError(errno.EACCES, "Permission denied", "/srv/o"))
    assert msg is not None and msg.startswith("/srv/o: Permission denied: choose a place")
    assert user_os_error_message(OSError(errno.EIO, "Input/output error")) is None


# --------------------------------------------------------------------------------------------
# The shared flags: one spelling, one check, one line
# --------------------------------------------------------------------------------------------


def parser_with_shared_flags() -> OneLineParser:
    p = OneLineParser(prog="convzoo demo")
    p.add_argument("--device", type=device_or_auto, default="auto")
    p.add_argument("--threads", type=threads)
    p.add_argument("--batch-size", type=positive_int, default=1)
    add_input_size_argument(p, type=positive_int, help="square input side")
    return p


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--device", "bogus"], ["--device", "'bogus' is not a device"]),
        (["--device", "cuda:x"], ["not a device"]),
        (["--threads", "0"], ["--threads", "at least 1"]),
        (["--threads", "two"], ["not a whole number"]),
        (["--batch-size", "-3"], ["at least 1"]),
        (["--input-size", "0"], ["--input-size", "at least 1"]),
    ],
)
def test_bad_shared_flags_are_refused_in_one_line(capsys, argv, words):
    with pytest.raises(SystemExit) as stop:
        parser_with_shared_flags().parse_args(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convzoo demo: error: ")
    for word in words:
        assert word in err


# The shared flags and a value each must refuse; every command that has the flag is tried.
BAD_SHARED_VALUES = {
    "--device": ("bogus", "is not a device"),
    "--epochs": ("0", "at least 1"),
    "--batch-size": ("-1", "at least 1"),
    "--threads": ("0", "at least 1"),
    "--workers": ("-1", "at least 0"),
    "--input-size": ("0", "at least 1"),
}


def _commands_with_shared_flags() -> list[tuple[str, str]]:
    parser = build_parser()  # every command registers its options
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        (command, flag)
        for command, p in sub.choices.items()
        for flag in BAD_SHARED_VALUES
        if flag in p._option_string_actions
    ]


COMMAND_FLAGS = _commands_with_shared_flags()


def test_the_shared_flags_are_where_expected():
    """The parametrized test below is not vacuous: these commands have these flags."""
    have = set(COMMAND_FLAGS)
    for command in ("train", "finetune", "evaluate", "predict", "lr-find", "bench"):
        assert (command, "--device") in have, command
    for command in ("train", "finetune", "evaluate", "predict", "lr-find", "export", "summary"):
        assert (command, "--batch-size") in have, command
    assert {("train", "--epochs"), ("finetune", "--epochs"), ("bench", "--threads")} <= have
    assert len(have) >= 25


@pytest.mark.parametrize("command, flag", COMMAND_FLAGS, ids=lambda v: v)
def test_a_bad_shared_flag_is_one_argparse_line_in_every_command(command, flag, capsys):
    value, words = BAD_SHARED_VALUES[flag]
    with pytest.raises(SystemExit) as stop:
        main([command, flag, value])
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"convzoo {command}: error: argument {flag}"), err
    assert words in err, err


def test_a_gpu_this_machine_lacks_is_refused():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(argparse.ArgumentTypeError, match="CUDA device"):
        device(f"cuda:{count}")
    assert device("cpu") == "cpu" and device_or_auto("auto") == "auto"


def test_old_input_size_spellings_still_work_and_are_hidden():
    p = parser_with_shared_flags()
    assert p.parse_args([]).input_size is None
    for flag in ("--input-size", "--image-size", "--input"):
        assert p.parse_args([flag, "64"]).input_size == 64
    help_text = p.format_help()
    assert "--input-size" in help_text
    assert "--image-size" not in help_text and "--input " not in help_text


def test_argparse_errors_of_real_commands_are_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["list", "--no-such-flag"])
    assert stop.value.code == 2
    err = capsys.readouterr().err  # argparse names the top parser for unknown flags
    assert err.count("\n") == 1 and err.startswith("convzoo: error: unrecognized arguments")
    with pytest.raises(SystemExit):
        main(["summary"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convzoo summary: error: ")


# --------------------------------------------------------------------------------------------
# Start-up: `convzoo --help` imports no command and no torch
# --------------------------------------------------------------------------------------------

_NEW_MODULES = """
import sys, json
import convzoo
before = set(sys.modules)
from convzoo.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps(sorted(set(sys.modules) - before)))
"""

_BLOCK_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch imported by `convzoo --help`")
sys.meta_path.insert(0, NoTorch())
from convzoo.cli import main
main(["--help"])
"""


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_help_imports_no_command_module_and_nothing_heavy():
    done = _python(_NEW_MODULES)
    new = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [m for m in new if m.startswith("convzoo.cli.cmd_")], new
    heavy = ("torch", "torchvision", "numpy", "matplotlib", "sklearn", "onnx", "PIL")
    assert not [m for m in new if m.split(".")[0] in heavy], new
    assert "summary" in done.stdout and "finetune" in done.stdout


@pytest.mark.slow
def test_help_runs_without_torch():
    done = _python(_BLOCK_TORCH)
    assert done.returncode == 0, done.stderr
    assert "COMMAND" in done.stdout


def test_help_summaries_read_from_source_are_the_commands_own():
    """`convzoo --help` reads each command's one-line help from its source; it is the same text
    that the command registers when it is imported."""
    full = build_parser()  # every command imported and registered
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert list(registered) == available_commands()
    for name, text in registered.items():
        assert command_summary(name) == text, name

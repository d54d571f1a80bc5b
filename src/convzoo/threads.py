"""How many CPU threads torch uses: a default that does not collapse on a busy machine.

torch's default is one thread per core. Its parallel regions (OpenMP) end with a barrier, so a
region is as slow as its slowest thread; when other processes keep the cores busy, one of
torch's threads is often descheduled and every region waits for it. Measured on a busy 2-core
Xeon (issue 13): ResNet-18 at batch 1 took 743-768 ms with the default 2 threads and 42.65 ms
with 1; a head fine-tune ran at 7 against 26 images/s.

The policy (:func:`default_threads`): the cores this process may run on (its CPU affinity,
physical cores only: a hyper-thread sibling adds little to dense math), less the cores other
processes keep busy (the 1-minute load average, rounded), at least 1. An explicit choice
always wins: ``--threads N``, or ``CONVZOO_THREADS`` / ``OMP_NUM_THREADS`` in the environment.

A ground-floor module (it imports only ``os``, ``torch`` and ``psutil``), so that train,
predict, evaluate and bench share one rule.
"""

from __future__ import annotations

import os

import psutil
import torch

ENV_VARS = ("CONVZOO_THREADS", "OMP_NUM_THREADS")

# Below this many parameters a CPU step is too small to split between threads: a LeNet-5 training
# step on a busy 2-core machine took 94 ms with 2 threads and 9 ms with 1 (issue 13).
SMALL_NETWORK_PARAMS = 1_000_000


class ThreadsError(ValueError):
    """A thread count that cannot be used (zero, negative, not a number).

    A ``ValueError`` (the CLI prints it in one line) rather than ``ConvzooError``: this module
    stays below every other convzoo module, ``convzoo.errors`` included."""


def usable_cores() -> int:
    """Cores this process may run on: its affinity, and physical cores where psutil knows."""
    if hasattr(os, "sched_getaffinity"):
        allowed = len(os.sched_getaffinity(0))
    else:
        allowed = os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or allowed
    logical = psutil.cpu_count(logical=True) or allowed
    # With hyper-threading, the allowed logical CPUs hold about allowed * physical / logical cores.
    return max(1, min(allowed, round(allowed * physical / logical)))


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), or None where the OS has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _from_environment() -> tuple[int, str] | None:
    for var in ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ThreadsError(f"{var}={value!r} is not a whole number of threads") from None
            if n < 1:
                raise ThreadsError(f"{var}={n}: the thread count must be at least 1")
            return n, f"{var}={n}"
    return None


def default_threads(load: float | None = None, cores: int | None = None) -> int:
    """The thread count to use when none is asked for (see the module docstring)."""
    return explain_default_threads(load, cores)[0]


def explain_default_threads(load: float | None = None, cores: int | None = None) -> tuple[int, str]:
    """:func:`default_threads` and the reason, for a log line or a results file."""
    env = _from_environment()
    if env is not None:
        return env[0], f"{env[1]} in the environment"
    cores = cores if cores is not None else usable_cores()
    load = load if load is not None else load_average()
    if load is None:
        return cores, f"{cores} usable cores (no load average on this OS)"
    busy = min(cores - 1, max(0, round(load)))
    n = cores - busy
    return n, f"{cores} usable cores, load average {load:.2f}: {busy} taken by other work"


def choose_threads(
    requested: int | None = None,
    *,
    params: int | None = None,
    load: float | None = None,
    cores: int | None = None,
) -> tuple[int, str]:
    """The thread count for a command and why: ``requested`` (``--threads``) wins, then the
    environment, then 1 for a network under :data:`SMALL_NETWORK_PARAMS` parameters, then the
    load-aware default of :func:`explain_default_threads`. The rule of train, lr-find, predict
    and evaluate; bench, which times many networks, uses the load-aware default alone."""
    if requested is not None:
        _check_count(requested)
        return requested, f"--threads {requested}"
    env = _from_environment()
    if env is not None:
        return env[0], f"{env[1]} in the environment"
    if params is not None and params < SMALL_NETWORK_PARAMS:
        return 1, f"{params:,} parameters: a step too small to split between threads"
    return explain_default_threads(load, cores)


def set_threads_for(requested: int | None, *, params: int, device: torch.device | str) -> str:
    """For a command that runs one network (predict, evaluate): on the CPU, set torch's threads
    by :func:`choose_threads` and return the note to print (``""`` on a GPU)."""
    if torch.device(device).type != "cpu":
        return ""
    n, why = choose_threads(requested, params=params)
    torch.set_num_threads(n)
    return f"{n} CPU thread(s): {why}"


def _check_count(requested: object) -> None:
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise ThreadsError(f"--threads must be a whole number of at least 1, got {requested!r}")


def apply_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads to ``requested`` or to the default; returns the count.

    Call it once at the start of a command; ``requested`` below 1 is refused."""
    if requested is not None:
        _check_count(requested)
        n = requested
    else:
        n = default_threads()
    torch.set_num_threads(n)
    return n

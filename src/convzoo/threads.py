"""How many CPU threads torch uses: a default that does not collapse on a busy machine.

torch's default is one thread per core. Its parallel regions (OpenMP) end with a barrier, so a
region is as slow as its slowest thread; when other processes keep the cores busy, one of
torch's threads is often descheduled and every region waits for it. Measured on a busy 2-core
Xeon (issue 13): ResNet-18 at batch 1 took 743-768 ms with the default 2 threads and 42.65 ms
with 1; a head fine-tune ran at 7 against 26 images/s.

The policy (:func:`default_threads`): the cores this process may run on (its CPU affinity,
physical cores only: a hyper-thread sibling adds little to dense math), less the cores other
processes keep busy, at least 1. An explicit choice always wins: ``--threads N``, or
``CONVZOO_THREADS`` / ``OMP_NUM_THREADS`` in the environment.

"Busy" is measured (:func:`busy_cores`): the CPU time the allowed CPUs spent on work over
0.15 s, less this process's own. An earlier rule used the 1-minute load average, and was wrong
both ways on a quiet machine (docs/benchmarks.md): the average counts this process's own
threads and lags by a minute, so after one workload a quiet 2-core machine read 0.59 and the
next run got 1 thread (ResNet-18 training 706 ms a step against 388 ms with 2). A rule that gave
networks under a million parameters 1 thread cost LeNet-5 1.64x on a quiet machine, and is gone:
on a busy one the measurement gives it 1 thread anyway.

A ground-floor module (it imports only the standard library, ``torch`` and ``psutil``), so
that train, predict, evaluate and bench share one rule.
"""

from __future__ import annotations

import os
import time

import psutil
import torch

ENV_VARS = ("CONVZOO_THREADS", "OMP_NUM_THREADS")

# Long enough that a process spinning on a core shows as about one busy core (the kernel's
# counters tick every 10 ms), short beside the 1.7 s that importing torch takes.
BUSY_WINDOW_S = 0.15


class ThreadsError(ValueError):
    """A thread count that cannot be used (zero, negative, not a number).

    A ``ValueError`` (the CLI prints it in one line) rather than ``ConvzooError``: this module
    stays below every other convzoo module, ``convzoo.errors`` included."""


def _allowed_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cores_per_logical_cpu() -> float:
    physical = psutil.cpu_count(logical=False)
    logical = psutil.cpu_count(logical=True)
    if not physical or not logical:
        return 1.0
    return min(1.0, physical / logical)


def usable_cores() -> int:
    """Cores this process may run on: its affinity, and physical cores where psutil knows."""
    allowed = len(_allowed_cpus())
    # With hyper-threading, the allowed logical CPUs hold about allowed * physical / logical cores.
    return max(1, min(allowed, round(allowed * _cores_per_logical_cpu())))


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), or None where the OS has none. Recorded
    beside bench results (the machine and the stability verdict); the thread policy measures
    :func:`busy_cores` instead."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _busy_cpu_seconds(cpus: list[int]) -> float | None:
    """CPU seconds the given logical CPUs have spent on anything but idling since boot."""
    try:
        per_cpu = psutil.cpu_times(percpu=True)
    except (OSError, AttributeError, NotImplementedError):
        return None
    busy = 0.0
    for i in cpus:
        if i >= len(per_cpu):
            return None
        t = per_cpu[i]._asdict()
        # guest time is already inside user and nice on Linux; steal is time the hypervisor
        # gave to someone else, as lost to us as another process's.
        idle = t.get("idle", 0.0) + t.get("iowait", 0.0)
        total = sum(t.values()) - t.get("guest", 0.0) - t.get("guest_nice", 0.0)
        busy += total - idle
    return busy


def _own_cpu_seconds() -> float:
    own = psutil.Process().cpu_times()
    return float(own.user + own.system)


def busy_cores(window_s: float = BUSY_WINDOW_S) -> float | None:
    """How many of this process's usable cores other work kept busy over the next ``window_s``
    seconds (this process's own threads not counted), or None where the OS does not say."""
    cpus = _allowed_cpus()
    system0, own0 = _busy_cpu_seconds(cpus), _own_cpu_seconds()
    t0 = time.perf_counter()
    time.sleep(window_s)
    system1, own1 = _busy_cpu_seconds(cpus), _own_cpu_seconds()
    elapsed = time.perf_counter() - t0
    if system0 is None or system1 is None or elapsed <= 0:
        return None
    others = (system1 - system0) - (own1 - own0)
    return max(0.0, others / elapsed * _cores_per_logical_cpu())


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


def default_threads(busy: float | None = None, cores: int | None = None) -> int:
    """The thread count to use when none is asked for (see the module docstring)."""
    return explain_default_threads(busy, cores)[0]


def explain_default_threads(
    busy: float | None = None, cores: int | None = None, *, steady: bool = False
) -> tuple[int, str]:
    """:func:`default_threads` and the reason, for a log line or a results file. ``busy``
    (cores kept busy by other work) is measured when not given; ``steady``: every usable core,
    the load not measured (see :func:`choose_threads`)."""
    env = _from_environment()
    if env is not None:
        return env[0], f"{env[1]} in the environment"
    cores = cores if cores is not None else usable_cores()
    if steady:
        why = "whatever the load: a deterministic run keeps one count"
        return cores, f"{cores} usable cores, {why}"
    busy = busy if busy is not None else busy_cores()
    if busy is None:
        return cores, f"{cores} usable cores (this OS does not say how busy they are)"
    n = cores - min(cores - 1, max(0, round(busy)))
    return n, f"{cores} usable cores, {busy:.2f} busy with other work: {n} left to it"


def choose_threads(
    requested: int | None = None,
    *,
    busy: float | None = None,
    cores: int | None = None,
    steady: bool = False,
) -> tuple[int, str]:
    """The thread count for a command and why: ``requested`` (``--threads``) wins, then the
    environment, then the cores that other work leaves free (:func:`explain_default_threads`).
    The rule of train, lr-find, predict, evaluate and bench.

    ``steady`` (a deterministic run): every usable core, whatever the load. The thread count
    changes how a CPU kernel splits its sums, so a count that followed the load would make two
    runs of one seed, or a run and its resumption, differ in the last bits."""
    if requested is not None:
        _check_count(requested)
        return requested, f"--threads {requested}"
    return explain_default_threads(busy, cores, steady=steady)


def set_threads_for(requested: int | None, *, device: torch.device | str) -> str:
    """For a command that runs one network (predict, evaluate): on the CPU, set torch's threads
    by :func:`choose_threads` and return the note to print (``""`` on a GPU)."""
    if torch.device(device).type != "cpu":
        return ""
    n, why = choose_threads(requested)
    torch.set_num_threads(n)
    return f"{n} CPU thread(s): {why}"


def _check_count(requested: object) -> None:
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise ThreadsError(f"--threads must be a whole number of at least 1, got {requested!r}")

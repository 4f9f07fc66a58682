"""Run the real `wscli` and measure what it cost: peak RSS (VmHWM, read from /proc while it
runs), CPU time (the kernel's own accounting, from wait4, when it ends) and the wall time.

Not wait4's ``ru_maxrss``: it keeps the high-water mark of the memory the child had before
it exec'ed wscli, which with vfork is the test process's own (a test holding 200 MB of
hostile frames measured 239 MB for a wscli that peaked at 45 MB).

For the hostile-peer tests: a bound on memory or time is only tested if it is measured on
the process that must keep it, with stdout, stderr and the exit code kept apart.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support import clean_env, scaled, wscli_command

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Measured:
    """How one run ended and what it cost."""

    returncode: int
    stdout: bytes
    stderr: bytes
    peak_rss_kib: int
    cpu_seconds: float
    elapsed: float


def _proc_sample(pid: int) -> tuple[int, float]:
    """(VmHWM in KiB, user+system CPU seconds) of a live process; zeros once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0, 0.0
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    fields = stat.rsplit(")", 1)[-1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)
    return (int(match.group(1)) if match else 0), cpu


def run_measured(
    args: Sequence[str],
    *,
    input: bytes | None = None,
    keep_stdin_open: bool = False,
    discard_stdout: bool = False,
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> Measured:
    """Run `wscli ARGS`; stdin gets ``input`` (then EOF, unless ``keep_stdin_open``);
    stdout is kept (or, with ``discard_stdout``, sent to /dev/null: ``Measured.stdout`` is
    then empty)."""
    proc = subprocess.Popen(
        [*wscli_command(), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL if discard_stdout else subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(env),
    )
    assert proc.stdin is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    streams = [(proc.stderr, err)] + ([(proc.stdout, out)] if proc.stdout is not None else [])
    readers = [
        threading.Thread(target=lambda s=stream, into=into: into.append(s.read()), daemon=True)
        for stream, into in streams
    ]
    for reader in readers:
        reader.start()
    if input:
        try:
            proc.stdin.write(input)
            proc.stdin.flush()
        except BrokenPipeError:
            pass
    if not keep_stdin_open:
        proc.stdin.close()
    started = time.monotonic()
    deadline = started + scaled(timeout)
    peak, cpu = 0, 0.0
    status = None
    while status is None:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = wait_status
            cpu = max(cpu, usage.ru_utime + usage.ru_stime)
            break
        sample_peak, sample_cpu = _proc_sample(proc.pid)
        peak, cpu = max(peak, sample_peak), max(cpu, sample_cpu)
        if time.monotonic() > deadline:
            proc.kill()
            _, status, _ = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if keep_stdin_open:
        proc.stdin.close()
    for reader in readers:
        reader.join(scaled(10))
    for stream, _ in streams:
        stream.close()
    return Measured(proc.returncode, b"".join(out), b"".join(err), peak, cpu, elapsed)

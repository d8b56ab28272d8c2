"""Efficiency measurements: latency percentiles, peak RSS, model size, machine facts.

Peak RSS comes from the kernel's per-process high-water mark (``VmHWM``), reset at the
start of every window through ``/proc/self/clear_refs``; where that is unavailable, from
a thread sampling psutil every 20 ms. Every reset first folds the mark into a
process-wide peak, so :func:`process_usage` still knows the peak of the whole process
(the reset lowers ``ru_maxrss`` too on Linux, so that cannot be used for it).
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import psutil

try:
    import resource
except ImportError:  # Windows: no getrusage
    resource = None  # type: ignore[assignment]


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of the non-missing values, or None if there are none."""
    data = [v for v in values if v is not None]
    if not data:
        return None
    return float(np.percentile(np.asarray(data, dtype=float), q))


def mean(values: Iterable[float | None]) -> float | None:
    data = [v for v in values if v is not None]
    return float(sum(data) / len(data)) if data else None


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _kernel_peak_bytes() -> int | None:
    """The kernel's peak-RSS mark for this process (VmHWM), or None where there is none."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


_folded_peak = 0  # the highest VmHWM seen before a reset, over the process's life


def _reset_kernel_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs), after
    folding the mark into the process-wide peak."""
    global _folded_peak
    _folded_peak = max(_folded_peak, _kernel_peak_bytes() or 0)
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Peak resident set size of this process, in windows.

    On Linux the kernel keeps the peak itself (``VmHWM``), which lmscape resets at the
    start of each window: exact, and no thread competes with the model for a core.
    Elsewhere a daemon thread samples RSS with psutil every ``interval_s``.
    ``take_peak()`` returns the peak since the previous call and starts a new window, so
    each finished batch can be tagged with the memory it needed.
    """

    def __init__(self, interval_s: float = 0.02, *, use_kernel: bool = True) -> None:
        self._proc = psutil.Process()
        self._interval = interval_s
        self._kernel = use_kernel and _kernel_peak_bytes() is not None and _reset_kernel_peak()
        self._lock = threading.Lock()
        self._window_peak = self._proc.memory_info().rss
        self._overall_peak = self._window_peak
        self._samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def samples(self) -> int:
        """How many readings have been taken so far (by the thread and by each call)."""
        with self._lock:
            return self._samples

    @property
    def mode(self) -> str:
        return "kernel VmHWM" if self._kernel else f"psutil every {self._interval * 1000:g} ms"

    def _sample(self) -> None:
        rss = _kernel_peak_bytes() if self._kernel else None
        rss = rss or self._proc.memory_info().rss
        with self._lock:
            self._window_peak = max(self._window_peak, rss)
            self._overall_peak = max(self._overall_peak, rss)
            self._samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> Self:
        if self._kernel:
            _reset_kernel_peak()
        elif self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None
        self._sample()

    def take_peak(self) -> int:
        """Peak RSS (bytes) since the last call; the next window starts at the current RSS."""
        self._sample()
        with self._lock:
            peak = self._window_peak
            if self._kernel:
                _reset_kernel_peak()
            self._window_peak = self._proc.memory_info().rss
        return peak

    @property
    def peak(self) -> int:
        """Peak RSS (bytes) since the sampler was created."""
        self._sample()
        with self._lock:
            return self._overall_peak

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CpuClock:
    """Process CPU seconds (all threads, user + system) and wall seconds since a mark."""

    def __init__(self) -> None:
        self.mark()

    def mark(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def lap(self) -> tuple[float, float]:
        """(wall_s, cpu_s) since the previous mark or lap; starts a new lap."""
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu
        return out


def process_peak_rss_bytes() -> int:
    """Peak RSS of this process since it started (bytes), resets of VmHWM included."""
    kernel = _kernel_peak_bytes()
    if kernel is not None:
        return max(_folded_peak, kernel)
    if resource is None:
        return psutil.Process().memory_info().peak_wset  # Windows keeps the peak itself
    return _maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # never reset


def _maxrss_bytes(value: int) -> int:
    return value if sys.platform == "darwin" else value * 1024  # macOS: bytes; else KiB


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended."""
    t = psutil.Process().cpu_times()
    return (t.user + t.system + getattr(t, "children_user", 0.0)
            + getattr(t, "children_system", 0.0))


@dataclass(frozen=True)
class ProcessUsage:
    """What this process has used since it started: the figures ``lmscape bench`` prints."""

    wall_s: float  # since the process was created (interpreter start and imports included)
    cpu_s: float  # user + system, process + ended children
    peak_rss_bytes: int  # this process
    children_peak_rss_bytes: int  # the largest ended child (0: none)


def process_usage() -> ProcessUsage:
    children = 0 if resource is None else _maxrss_bytes(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return ProcessUsage(
        wall_s=max(0.0, time.time() - psutil.Process().create_time()),
        cpu_s=cpu_seconds(),
        peak_rss_bytes=process_peak_rss_bytes(),
        children_peak_rss_bytes=children,
    )


def path_size_bytes(path: str | os.PathLike[str]) -> int | None:
    """Size on disk of a file, or of every file under a folder; None if it does not exist."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return None


def model_size_bytes(model: Any) -> int | None:
    """Model size on disk from a backend's ``info()``: its ``size_bytes``, else the size
    of its weights ``path``."""
    if model is None:
        return None
    try:
        info = model.info()
    except Exception:  # noqa: BLE001 - a backend without info() has no known size
        return None
    value = info.get("size_bytes")
    if isinstance(value, int | float) and value > 0:
        return int(value)
    path = info.get("path")
    if isinstance(path, str | os.PathLike) and path:
        return path_size_bytes(path) or None
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """The facts shown beside measured rows: CPU model, cores, RAM, OS, Python."""
    return {
        "cpu": _cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True) or os.cpu_count() or 1,
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpu": None,
    }

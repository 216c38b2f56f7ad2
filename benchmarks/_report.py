"""What the benchmarks' reports share: progress lines on stderr, medians, and the line naming the machine."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path


def progress(name: str) -> Callable[[str], None]:
    """A ``log(message)`` for benchmark ``name``: progress goes to stderr; stdout holds only the tables."""

    def log(message: str) -> None:
        sys.stderr.write(f"[{name}] {message}\n")
        sys.stderr.flush()

    return log


def median(values: list[float]) -> float:
    """The median; NaN for no values (a figure no run produced)."""
    return statistics.median(values) if values else math.nan


def machine() -> str:
    """Python's version, the core count and the CPU model: what the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"python {platform.python_version()}, {os.cpu_count()} cores{f' ({model})' if model else ''}"

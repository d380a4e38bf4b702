"""Interpreters for the optional baselines (Quix Streams, Bytewax).

Their wheels need not be installed in cxpulse's own environment (their dependencies
may clash with faust-streaming's), so each baseline is looked up, in order: the
``BENCH_<NAME>_PYTHON`` variable, this interpreter, then
``/tmp/bench-venvs/<name>/bin/python`` (override the folder with ``BENCH_VENVS``).
A baseline found nowhere is reported as unavailable, never as a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

OPTIONAL = {"quix": ("quixstreams", "quixstreams"), "bytewax": ("bytewax", "bytewax")}


@dataclass
class Interpreter:
    name: str
    python: str | None
    version: str | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.python is not None

    def as_dict(self) -> dict[str, object]:
        return {"available": self.available, "python": self.python, "version": self.version, "reason": self.reason}


def _probe(python: str, module: str, dist: str) -> str | None:
    code = (
        f"import {module}; from importlib.metadata import version; print(version({dist!r}))"
    )
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def find(name: str, include_venvs: bool = True) -> Interpreter:
    """The first interpreter that imports the baseline's library; ``include_venvs``
    False looks only at the variable and this interpreter (the smoke run)."""
    module, dist = OPTIONAL[name]
    candidates: list[str] = []
    explicit = os.environ.get(f"BENCH_{name.upper()}_PYTHON")
    if explicit:
        candidates.append(explicit)
    candidates.append(sys.executable)
    if include_venvs:
        venvs = Path(os.environ.get("BENCH_VENVS", "/tmp/bench-venvs"))
        candidates.append(str(venvs / name / "bin" / "python"))
    for python in candidates:
        if not Path(python).exists():
            continue
        found = _probe(python, module, dist)
        if found:
            return Interpreter(name, python, found)
    return Interpreter(name, None, None, f"{dist} not importable by {', '.join(candidates)}")

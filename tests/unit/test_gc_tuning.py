"""processors/gc_tuning.py, in a child interpreter: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_settle_freezes_the_heap_and_sets_the_young_threshold() -> None:
    code = (
        "import gc\n"
        "from processors.gc_tuning import settle\n"
        "before = gc.get_threshold()\n"
        "assert gc.get_freeze_count() == 0\n"
        "settle(50_000)\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert gc.get_threshold() == (50_000, before[1], before[2]), gc.get_threshold()\n"
        "class Cycle: pass\n"
        "a, b = Cycle(), Cycle(); a.b, b.a = b, a\n"
        "import weakref; ref = weakref.ref(a); del a, b\n"
        "gc.collect()\n"
        "assert ref() is None, 'a cycle made after the freeze must still be collected'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

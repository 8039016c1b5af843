"""Smoke test of benchmarks/env_sps.py: a --quick run exits 0 and prints every table row (no timing checks)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "env_sps.py"
NUMBER = r"[\d,]+"


def test_env_sps_quick(tmp_path: Path) -> None:
    out_json = tmp_path / "sps.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout

    assert "machine :" in out and "commit  :" in out and "numpy" in out
    assert "Per core (num_threads=1)" in out
    for game, agents_per_env in (("navigation", 1), ("arena", 24)):
        for num_envs in (1, 8, 32):
            row = rf"^\s+{game}\s+{num_envs}\s+{num_envs * agents_per_env}\s+\d+\s+{NUMBER}\s+\({NUMBER}\)\s+{NUMBER}"
            assert re.search(row, out, re.M), f"no per-core row for {game} x {num_envs}:\n{out}"
    assert "Thread scaling (arena" in out
    assert re.search(rf"^\s+1\s+\d+\s+{NUMBER}\s+\({NUMBER}\)\s+1\.00x", out, re.M), out
    assert "reference" not in out.split("Per core")[1].split("Thread scaling")[0].lower()

    data = json.loads(out_json.read_text())
    assert data["quick"] is True
    assert len(data["per_core"]) == 6
    assert all(r["agent_sps_best"] > 0 and r["num_threads"] == 1 for r in data["per_core"])
    assert data["thread_scaling"]["rows"][0]["num_threads"] == 1

"""Smoke test of benchmarks/time_to_skill.py: --quick runs of navigation and of the arena recipe (PPO plus imitation
of its scripted teacher) exit 0 and report their variant rows and JSON (no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "time_to_skill.py"


@pytest.mark.parametrize("recipe, metric, thresholds", [("navigation", "episode_return", [8.0]),
                                                        ("arena", "agent/heart.gained", [0.1, 0.5])])
def test_time_to_skill_quick(tmp_path: Path, recipe: str, metric: str, thresholds: list[float]) -> None:
    out_json = tmp_path / "tts.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), recipe, "--quick", "--json", str(out_json)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"# {recipe}: {metric} >= {thresholds}")
    data = json.loads(out_json.read_text())
    result = data["results"]["recipe"]
    assert result["metric"] == metric and result["agent_steps"] > 0 and result["curve"]
    assert all(len(point) == 3 for point in result["curve"])  # (seconds, agent steps, value)
    assert result["curve"][-1][1] == result["agent_steps"]

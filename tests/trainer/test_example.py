"""The trainer examples run: functional_training.py (the seed doc's Basic Training Loop) and custom_loss.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "functional_training.py"


def test_functional_training_example(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--epochs", "2", "--num-envs", "2"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Epoch 0: {" in proc.stdout and "Epoch 1: {" in proc.stdout and "policy_loss" in proc.stdout
    assert (tmp_path / "checkpoints" / "policy:v0.safetensors").exists()


def test_custom_loss_example(tmp_path: Path) -> None:
    """examples/custom_loss.py registers a loss and trains with it next to PPO, printing its values."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLE.parent / "custom_loss.py"), "--epochs", "2", "--num-envs", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and all("loss/logit_l2 " in line and "(weight 0.01)" in line for line in lines), proc.stdout

"""The same command under torchrun: two CPU processes (gloo), gradients averaged, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import trainer.experience
from trainer import load_policy
from trainer.distributed import unwrap

ROOT = Path(__file__).resolve().parents[2]
TINY = ["env.num_envs=4", "agent.hidden_dim=32", "agent.cnn_channels=8", "experience.bptt_horizon=16",
        "experience.batch_size=128", "experience.minibatch_size=64", "progress=false"]


def _torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    proc = _torchrun("-m", "trainer.train", "navigation", "run=ddp", f"train_dir={tmp_path}",
                     "trainer.total_timesteps=768", *TINY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "ddp"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["agent_step"] for r in records] == [256, 512, 768]  # 2 ranks x 128 steps per epoch
    assert proc.stdout.count("ddp: done at epoch 3") == 1  # only rank 0 reports
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ddp:v3.safetensors", "trainer_state.pt"]
    assert load_policy(f"file://{run}").checkpoint_metadata["agent_step"] == 768


def test_ranks_stay_identical_with_their_own_games(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    proc = _torchrun(str(Path(__file__).with_name("ddp_worker.py")), str(out), "run=w", f"train_dir={tmp_path}",
                     "total_timesteps=512", *TINY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check = json.loads(out.read_text())
    assert check["world_size"] == 2 and check["epoch"] == 2
    assert check["seeds"][0] != check["seeds"][1]  # each rank steps different games
    assert check["identical"] and check["changed"] > 0  # DDP averaged the gradients of different data


def test_unwrap_lives_with_the_ddp_helpers() -> None:
    inner = torch.nn.Linear(2, 2)
    wrapped = torch.nn.Module()
    wrapped.module = inner  # what DistributedDataParallel holds
    assert unwrap(wrapped) is inner and unwrap(inner) is inner
    assert trainer.experience.unwrap is unwrap  # still importable from where it used to live

"""Kill -9 and resume: a tiny training run is SIGKILLed at seeded random moments, some of them inside a checkpoint
write (the temporary file written, the rename not yet done); after every kill the run's trainer state and the policy
file it names load, and the same command resumes from them, advances, and in the end completes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer import load_policy
from trainer.checkpoint import load_trainer_state

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("kill_worker.py")
EPOCHS = 40  # of 64 agent steps: long enough that no killed run finishes first


def _command(train_dir: Path) -> list[str]:
    return [sys.executable, str(WORKER), "navigation", "run=k", f"train_dir={train_dir}", "device=cpu",
            f"trainer.total_timesteps={64 * EPOCHS}", "env.num_envs=4", "agent.policy=lstm", "agent.hidden_dim=16",
            "agent.cnn_channels=4", "experience.bptt_horizon=16", "experience.batch_size=64",
            "experience.minibatch_size=64", "checkpoint.checkpoint_interval=1", "checkpoint.keep_last=3",
            "progress=false"]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _saved_epoch(checkpoints: Path) -> int:
    """The epoch of the run's trainer state (0 if none yet), after checking that it and its policy file load."""
    state_path = checkpoints / "trainer_state.pt"
    if not state_path.exists():
        return 0
    state = load_trainer_state(state_path)
    policy = load_policy(checkpoints / state["policy_file"])
    assert policy.checkpoint_metadata["epoch"] == state["epoch"]
    assert policy.checkpoint_metadata["agent_step"] == state["agent_step"] == 64 * state["epoch"]
    return state["epoch"]


def _kill_and_resume(tmp_path: Path, seed: int, kills: int) -> None:
    rng = random.Random(seed)
    train_dir = tmp_path / "train_dir"
    checkpoints, metrics = train_dir / "k" / "checkpoints", train_dir / "k" / "metrics.jsonl"
    marker = tmp_path / "marker"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # the kinds of kill, each at least once: inside a policy file write (odd writes), inside a trainer state write
    # (even writes, its temp file half written), and at a random moment of an epoch
    kinds = ["policy write", "state write", "any time"] + [rng.choice(["policy write", "state write", "any time"])
                                                           for _ in range(kills - 3)]
    rng.shuffle(kinds)
    saved, left_behind = _saved_epoch(checkpoints), []
    for kind in kinds:
        marker.unlink(missing_ok=True)
        run_env = dict(env)
        if kind != "any time":
            n = 2 * rng.randint(1, 3) - (kind == "policy write")
            run_env.update(STALL_AT_WRITE=str(n), STALL_MARKER=str(marker),
                           STALL_HALF="1" if rng.random() < 0.5 else "")
        start_lines = _lines(metrics)
        proc = subprocess.Popen(_command(train_dir), cwd=ROOT, env=run_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            after = rng.randint(1, 3)
            while not (marker.exists() if kind != "any time" else _lines(metrics) >= start_lines + after):
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, f"no kill point reached ({kind})"
                time.sleep(0.01)
            if kind == "any time":
                time.sleep(rng.uniform(0.0, 0.3))
            else:
                time.sleep(0.05)  # the marker is written: the process sleeps before the rename
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == -signal.SIGKILL
        assert ("resuming at epoch %d," % saved in out) if saved else ("k: starting" in out), out
        assert not any(p.exists() for p in left_behind)  # the temp files of earlier kills went at this start
        if kind != "any time":
            tmp = Path(marker.read_text())
            assert tmp.exists() and tmp.parent == checkpoints and tmp.name.endswith(".tmp")  # killed inside the write
            left_behind.append(tmp)
        now = _saved_epoch(checkpoints)
        if kind == "any time":  # `after` epochs were logged; the last one's checkpoint may not have been written
            assert now >= saved + after - 1, (kind, saved, after, now)
        else:  # writes alternate policy, state: the states before the n-th write were completed
            assert now == saved + (n + 1) // 2 - 1, (kind, saved, n, now)
        saved = now

    done = subprocess.run(_command(train_dir), cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming at epoch {saved}," in done.stdout and f"k: done at epoch {EPOCHS}" in done.stdout
    assert _saved_epoch(checkpoints) == EPOCHS
    assert not list(checkpoints.glob(".*.tmp"))
    assert sorted(p.name for p in checkpoints.iterdir()) == [f"k:v{EPOCHS - 2}.safetensors",
                                                             f"k:v{EPOCHS - 1}.safetensors",
                                                             f"k:v{EPOCHS}.safetensors", "trainer_state.pt"]


def test_kill_and_resume(tmp_path: Path) -> None:
    _kill_and_resume(tmp_path, seed=7, kills=3)


@pytest.mark.slow
def test_kill_and_resume_many_times(tmp_path: Path) -> None:
    _kill_and_resume(tmp_path, seed=11, kills=10)

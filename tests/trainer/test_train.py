"""The training loop: run outputs, resuming a run, evaluation, and the `python -m trainer.train` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import trainer.train as tt
from tiny_run import tiny_config
from trainer import CheckpointError, ConfigError, TrainerConfig, eval_policy, eval_random, load_policy
from trainer.checkpoint import load_trainer_state

ROOT = Path(__file__).resolve().parents[2]


def _records(cfg: TrainerConfig) -> list[dict]:
    return [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_outputs(tiny: TrainerConfig) -> None:
    tiny.simulation.evaluate_interval = 2
    tiny.simulation.num_episodes = 2
    tiny.simulation.num_envs = 2
    tiny.env.game = {"max_steps": 20}
    tiny.optimizer.anneal_lr = True
    result = tt.train(tiny)
    run = tiny.run_dir
    assert TrainerConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text())) == tiny
    records = _records(tiny)
    train_records = [r for r in records if "policy_loss" in r]
    assert [r["epoch"] for r in train_records] == [1, 2]
    assert [r["lr"] for r in train_records] == pytest.approx([1e-3, 5e-4])
    assert {"sps", "agent_step", "value_loss", "entropy", "approx_kl", "clipfrac", "episode_return",
            "agent/action.noop.success"} <= set(train_records[1])
    evals = [r for r in records if "eval/mean_return" in r]
    assert evals and all(r["eval/mean_length"] == 20 for r in evals)  # whole episodes: no desynchronised first one
    assert result["policy_uri"] == f"file://{run}/checkpoints/tiny:v2.safetensors"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["tiny:v1.safetensors", "tiny:v2.safetensors",
                                                                       "trainer_state.pt"]


def test_resume_continues_from_the_saved_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tiny_config(tmp_path, epochs=2)
    first.checkpoint.checkpoint_interval = 5  # only the final checkpoint is written
    tt.train(first)
    saved = load_policy(f"file://{first.run_dir}")
    assert saved.checkpoint_metadata["epoch"] == 2
    saved_state = load_trainer_state(first.run_dir / "checkpoints" / "trainer_state.pt")

    seen: dict[str, object] = {}
    make_optimizer, wrap = tt.make_optimizer, tt.wrap_distributed

    def capture_optimizer(*args: object, **kw: object) -> object:
        seen["optimizer"] = make_optimizer(*args, **kw)  # type: ignore[arg-type]
        return seen["optimizer"]

    def capture_resume_point(policy: torch.nn.Module, info: object) -> torch.nn.Module:
        seen["weights"] = {k: v.clone() for k, v in policy.state_dict().items()}
        seen["adam"] = {k: v["exp_avg"].clone() for k, v in seen["optimizer"].state_dict()["state"].items()}  # type: ignore[union-attr]
        return wrap(policy, info)  # type: ignore[arg-type]

    monkeypatch.setattr(tt, "make_optimizer", capture_optimizer)
    monkeypatch.setattr(tt, "wrap_distributed", capture_resume_point)
    second = tiny_config(tmp_path, epochs=4)
    second.checkpoint.checkpoint_interval = 5
    result = tt.train(second)

    weights = seen["weights"]
    assert weights.keys() == saved.state_dict().keys()  # type: ignore[union-attr]
    assert all(torch.equal(weights[k], v) for k, v in saved.state_dict().items())  # type: ignore[index]
    saved_adam = saved_state["optimizer"]["state"]
    assert seen["adam"].keys() == saved_adam.keys() and len(saved_adam) > 0  # type: ignore[union-attr]
    assert all(torch.equal(seen["adam"][k], saved_adam[k]["exp_avg"]) for k in saved_adam)  # type: ignore[index]
    assert result["epoch"] == 4 and result["agent_step"] == 512
    assert [r["epoch"] for r in _records(second)] == [1, 2, 3, 4]
    assert load_trainer_state(second.run_dir / "checkpoints" / "trainer_state.pt")["epoch"] == 4
    # a finished run run again does nothing more
    assert tt.train(tiny_config(tmp_path, epochs=4))["epoch"] == 4


def test_optional_loggers_fail_clearly_when_missing(tiny: TrainerConfig) -> None:
    for key, module in (("tensorboard", "tensorboard"), ("wandb", "wandb")):
        try:
            __import__(module)
            continue  # installed: nothing to check here
        except ImportError:
            pass
        cfg = tiny.model_copy(update={key: True})
        with pytest.raises(ConfigError, match=f"{key}=true but {module} is not installed"):
            tt.train(cfg)


def test_resume_with_a_different_architecture_is_an_error(tmp_path: Path) -> None:
    tt.train(tiny_config(tmp_path, epochs=1))
    other = tiny_config(tmp_path, epochs=2)
    other.agent.hidden_dim = 64
    with pytest.raises(CheckpointError, match=r"tiny:v1\.safetensors.*hidden_dim"):
        tt.train(other)


def test_eval_policy_and_random_baseline(tiny: TrainerConfig) -> None:
    result = tt.train(tiny)
    policy = load_policy(result["policy_uri"])
    report = eval_policy(policy, tiny.env, num_episodes=3, device="cpu", num_envs=3)
    assert len(report["episode_returns"]) == 3 and report["mean_length"] == 200
    assert "agent/action.noop.success" in report["stats"]
    baseline = eval_random("navigation", num_episodes=4, num_envs=2)
    assert len(baseline["episode_returns"]) == 4 and baseline["mean_return"] >= 0
    with pytest.raises(ValueError, match="num_episodes"):
        eval_policy(policy, "navigation", num_episodes=0)


def test_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "trainer.train", "navigation", "run=cli", f"train_dir={tmp_path}",
           "trainer.total_timesteps=128", "env.num_envs=4", "agent.policy=fast", "agent.hidden_dim=16",
           "experience.bptt_horizon=16", "experience.batch_size=64", "experience.minibatch_size=64", "device=cpu"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cli: done at epoch 2" in proc.stdout
    assert (tmp_path / "cli" / "checkpoints" / "cli:v2.safetensors").exists()
    bad = subprocess.run(cmd[:4] + ["run=x", "ppo.clip_coeff=0.2"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "ppo.clip_coeff" in bad.stderr


def test_ctrl_c_stops_after_the_epoch_saves_and_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "trainer.train", "navigation", "run=stop", f"train_dir={tmp_path}",
           "env.num_envs=4", "agent.policy=fast", "agent.hidden_dim=16", "experience.bptt_horizon=16",
           "experience.batch_size=64", "experience.minibatch_size=64", "device=cpu", "progress=false",
           "checkpoint.checkpoint_interval=100000"]
    metrics = tmp_path / "stop" / "metrics.jsonl"
    proc = subprocess.Popen(cmd + ["trainer.total_timesteps=1e9"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "interrupt: stopping after this epoch" in err
    state = load_trainer_state(tmp_path / "stop" / "checkpoints" / "trainer_state.pt")
    epoch = state["epoch"]
    assert epoch >= 3 and state["agent_step"] == 64 * epoch
    assert f"stop: stopped (run the same command again to resume) at epoch {epoch}" in out
    assert (tmp_path / "stop" / "checkpoints" / f"stop:v{epoch}.safetensors").exists()

    again = subprocess.run(cmd + [f"trainer.total_timesteps={64 * (epoch + 1)}"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming at epoch {epoch}, {64 * epoch:,} steps" in again.stdout
    assert f"stop: done at epoch {epoch + 1}" in again.stdout

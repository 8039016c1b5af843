"""Replays and the evaluation command: a policy's episode as GIF / HTML / JSON, replays during training, `python -m trainer.sim`."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trainer.train as tt
from mettagrid import MettaGridEnv
from trainer import TrainerConfig, eval_policy, load_policy, policy_actor, save_replay
from trainer.config import ConfigError, SimulationConfig

ROOT = Path(__file__).resolve().parents[2]


def _gif_length(path: Path) -> tuple[int, tuple[int, int]]:
    """(total duration in ms, size) of a GIF."""
    with Image.open(path) as im:
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
        return total, im.size


@pytest.fixture
def trained(tiny: TrainerConfig) -> TrainerConfig:
    tiny.env.game = {"max_steps": 12}
    tt.train(tiny)
    return tiny


def test_policy_actor_is_seeded_and_carries_state(trained: TrainerConfig) -> None:
    policy = load_policy(f"file://{trained.run_dir}")
    env = MettaGridEnv("navigation", num_envs=4, seed=3)
    obs, _ = env.reset(3)

    def play(seed: int) -> list[list[int]]:
        actor = policy_actor(policy, env.num_agents, seed=seed)
        return [actor(obs).tolist() for _ in range(6)]

    first, again, other = play(7), play(7), play(8)
    assert first == again and first != other
    assert all(0 <= a < env.single_action_space.n for row in first for a in row)
    actor = policy_actor(policy, env.num_agents, seed=7)
    assert actor(obs).dtype == np.int32
    assert actor.state is not None  # the lstm policy's state is kept between calls


def test_save_replay_writes_one_episode(trained: TrainerConfig, tmp_path: Path) -> None:
    policy = load_policy(f"file://{trained.run_dir}")
    path = save_replay(policy, trained.env, tmp_path / "sub" / "ep.gif", seed=5, fps=20)
    total, size = _gif_length(path)
    assert total == 12 * 50  # 12 frames at 20 fps (Pillow merges identical frames, summing their durations)
    assert size == (15 * 16, 15 * 16)  # the 15 x 15 navigation room at 16 pixels per cell
    assert not [p for p in path.parent.iterdir() if p.name != "ep.gif"]  # no temporary file left behind
    with pytest.raises(ValueError, match=r"policy's actions .* differ from the env's"):
        save_replay(policy, "arena", tmp_path / "arena.gif")
    with pytest.raises(ValueError, match=r"policy's actions .* differ from the env's"):
        eval_policy(policy, "arena", num_episodes=1)


def test_training_writes_replays(tiny: TrainerConfig, tmp_path: Path) -> None:
    tiny.env.game = {"max_steps": 8}
    tiny.simulation.replay_interval = 2
    tiny.simulation.replay_format = "gif"
    tiny.total_timesteps = 128 * 4
    tt.train(tiny)
    replays = tiny.run_dir / "replays"
    assert sorted(p.name for p in replays.iterdir()) == ["tiny:v2.gif", "tiny:v4.gif"]
    assert _gif_length(replays / "tiny:v4.gif")[0] == 8 * 100

    tiny.run = "elsewhere"
    tiny.simulation.replay_dir = str(tmp_path / "views")
    tiny.simulation.replay_format = "html"
    tiny.total_timesteps = 128 * 2
    tt.train(tiny)
    assert sorted(p.name for p in (tmp_path / "views").iterdir()) == ["elsewhere:v2.html"]
    html = (tmp_path / "views" / "elsewhere:v2.html").read_text()
    replay = json.loads(re.search(r'<script id="replay" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert replay["num_steps"] == 7 and len(replay["agents"]) == 1 and replay["actions"][0] == "noop"
    assert replay["title"] == "elsewhere epoch 2"
    assert SimulationConfig().replay_format == "html"


def test_save_replay_by_suffix(trained: TrainerConfig, tmp_path: Path) -> None:
    policy = load_policy(f"file://{trained.run_dir}")
    data = json.loads(gzip.decompress(save_replay(policy, trained.env, tmp_path / "r.json.gz", seed=5).read_bytes()))
    plain = json.loads(save_replay(policy, trained.env, tmp_path / "r.json", seed=5).read_text())
    assert data == plain and data["num_steps"] == 11 and data["width"] == 15 and data["title"] == "navigation"
    titled = save_replay(policy, trained.env, tmp_path / "t.json", seed=5, max_frames=2, title="mine")
    assert json.loads(titled.read_text())["title"] == "mine"
    capped = json.loads(save_replay(policy, trained.env, tmp_path / "c.json", seed=5, max_frames=4).read_text())
    assert capped["num_steps"] == 3
    with pytest.raises(ValueError, match=r"expected a name ending in one of \['.html', '.gif'"):
        save_replay(policy, trained.env, tmp_path / "r.mp4")


def test_replays_without_pillow_fail_before_training(tiny: TrainerConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pil(name: str, *args: object, **kw: object) -> object:
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_pil)
    tiny.simulation.replay_interval = 1
    tiny.simulation.replay_format = "gif"
    with pytest.raises(ImportError, match=r"metta-gridworld\[gif\]"):
        tt.train(tiny)
    assert not tiny.run_dir.exists()


def test_simulation_config_replay_fields() -> None:
    assert SimulationConfig().replay_interval == 0 and SimulationConfig().replay_dir is None
    with pytest.raises(ValueError, match="replay_interval"):
        SimulationConfig(replay_interval=-1)
    with pytest.raises(ConfigError, match="simulation.replay_interval"):
        tt.build_config("navigation", ["simulation.replay_interval=x"])


def test_sim_command(trained: TrainerConfig, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    gif = tmp_path / "out.gif"
    cmd = [sys.executable, "-m", "trainer.sim", f"file://{trained.run_dir}/checkpoints", "--episodes", "2",
           "--replay", str(gif)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "policy   tiny epoch 2 (256 agent steps)" in proc.stdout
    assert "env      navigation, 2 episodes, seed 12345" in proc.stdout
    assert "trained  mean return" in proc.stdout and "random   mean return" in proc.stdout
    assert f"replay   {gif}" in proc.stdout and _gif_length(gif)[0] == 12 * 100
    assert proc.stderr == ""

    bad = subprocess.run(cmd[:4] + ["--env", "arena"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "differ from the env's" in bad.stderr
    missing = subprocess.run(cmd[:3] + [str(tmp_path / "nothing")], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and "no such checkpoint" in missing.stderr
    loose = tmp_path / "loose.safetensors"
    loose.write_bytes((trained.run_dir / "checkpoints" / "tiny:v2.safetensors").read_bytes())
    no_env = subprocess.run(cmd[:3] + [str(loose)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert no_env.returncode == 2 and "give --env" in no_env.stderr

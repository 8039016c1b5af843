"""Checkpoints: round trips, URIs, atomic writes, clear errors for corrupt or mismatched files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import trainer.checkpoint as ckpt
from trainer import AgentModelConfig, CheckpointError, EnvConfig, load_checkpoint, load_policy, make_agent
from trainer import make_environment, make_optimizer, parse_uri, policy_uri, resolve_uri, save_checkpoint
from trainer.checkpoint import latest_checkpoint, load_trainer_state, parse_checkpoint_name, read_checkpoint_metadata


def _agent(policy: str = "lstm", **kw: object) -> tuple:
    env = make_environment(EnvConfig(num_envs=2))
    agent = make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                       AgentModelConfig(policy=policy, hidden_dim=16, cnn_channels=4, **kw),
                       feature_spec=env.feature_spec(), action_names=env.action_names())
    return env, agent


@pytest.mark.parametrize("policy", ["fast", "lstm", "transformer"])
def test_round_trip_rebuilds_from_the_uri_alone(tmp_path: Path, policy: str) -> None:
    env, agent = _agent(policy)
    path = save_checkpoint(agent, tmp_path / "run" / "checkpoints", epoch=7, agent_step=1234, run="run")
    assert path.name == "run:v7.safetensors"
    loaded = load_policy(policy_uri(path))
    obs = torch.from_numpy(env.reset()[0])
    with torch.no_grad():
        a, b = agent(obs), loaded(obs)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.values, b.values)
    meta = loaded.checkpoint_metadata
    assert (meta["epoch"], meta["agent_step"], meta["run"]) == (7, 1234, "run")
    assert meta["architecture"]["policy"] == policy and meta["action_spec"]["n"] == env.single_action_space.n
    assert meta["action_spec"]["names"] == env.action_names()
    assert meta["observation_spec"] == {"shape": [200, 3], "window": [11, 11], "global_features": None}
    assert meta["feature_spec"] == json.loads(json.dumps(env.feature_spec()))
    assert not list(path.parent.glob("*.tmp"))


def test_uris(tmp_path: Path) -> None:
    assert parse_uri("file://train_dir/r/checkpoints/r:v3.safetensors") == Path("train_dir/r/checkpoints/r:v3.safetensors")
    assert parse_uri("file:///abs/r:v3.safetensors") == Path("/abs/r:v3.safetensors")
    assert parse_uri("plain/path") == Path("plain/path")
    assert policy_uri("train_dir/r/checkpoints/r:v3.safetensors") == "file://train_dir/r/checkpoints/r:v3.safetensors"
    assert parse_checkpoint_name("my:run:v12.safetensors") == ("my:run", 12)
    with pytest.raises(CheckpointError, match="unsupported scheme 's3'"):
        parse_uri("s3://bucket/r:v1.safetensors")
    with pytest.raises(CheckpointError, match="not a policy checkpoint name"):
        parse_checkpoint_name("model.pt")
    _, agent = _agent("fast")
    d = tmp_path / "r" / "checkpoints"
    for v in (2, 9, 10):
        save_checkpoint(agent, d, v, run="r")
    assert latest_checkpoint(d).name == "r:v10.safetensors"  # numeric, not lexicographic
    assert resolve_uri(f"file://{d}").name == "r:v10.safetensors"
    assert resolve_uri(f"file://{d.parent}").name == "r:v10.safetensors"  # the run directory
    assert load_policy(f"file://{d}").checkpoint_metadata["epoch"] == 10
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        resolve_uri(f"file://{d}/r:v99.safetensors")
    with pytest.raises(CheckpointError, match="holds no"):
        resolve_uri(f"file://{tmp_path}")
    save_checkpoint(agent, d, 11, run="r", keep_last=2)
    assert sorted(p.name for p in d.glob("*.safetensors")) == ["r:v10.safetensors", "r:v11.safetensors"]


def test_corrupt_and_foreign_files(tmp_path: Path) -> None:
    garbage = tmp_path / "g:v1.safetensors"
    garbage.write_bytes(b"\x00\x01 this is not a safetensors file")
    with pytest.raises(CheckpointError, match=r"g:v1\.safetensors.*not a readable safetensors"):
        load_policy(garbage)
    foreign = tmp_path / "f:v1.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"f:v1\.safetensors.*not a metta-gridworld policy"):
        load_policy(foreign)
    _, agent = _agent("fast")
    good = save_checkpoint(agent, tmp_path, 1, run="ok")
    truncated = tmp_path / "t:v1.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"t:v1\.safetensors"):
        load_policy(truncated)
    broken = tmp_path / "b:v1.safetensors"
    meta = {"format": ckpt.FORMAT, "architecture": "{not json", "observation_spec": "{}", "action_spec": "{}",
            "feature_spec": "{}", "run": "b", "epoch": "1", "agent_step": "0"}
    save_file({"w": torch.zeros(2)}, str(broken), metadata=meta)
    with pytest.raises(CheckpointError, match=r"b:v1\.safetensors.*metadata is damaged"):
        read_checkpoint_metadata(broken)


def test_mismatched_policy(tmp_path: Path) -> None:
    _, agent = _agent("lstm")
    path = save_checkpoint(agent, tmp_path, 3, run="m")
    _, other = _agent("lstm", mlp_layers=2)
    with pytest.raises(CheckpointError, match=r"m:v3\.safetensors.*architecture differs.*mlp_layers"):
        load_checkpoint(other, path)
    _, fast = _agent("fast")
    with pytest.raises(CheckpointError, match="does not fit this policy"):
        load_checkpoint(fast, path)
    _, same = _agent("lstm")
    meta = load_checkpoint(same, policy_uri(path))
    assert meta["epoch"] == 3 and all(torch.equal(a, b) for a, b in zip(agent.parameters(), same.parameters()))


def test_trainer_state_and_atomic_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, agent = _agent("fast")
    opt = make_optimizer(agent)
    agent(torch.full((1, 200, 3), 0xFF, dtype=torch.uint8)).values.sum().backward()
    opt.step()
    torch.manual_seed(5)
    np.random.seed(5)
    path = save_checkpoint(agent, tmp_path, 4, agent_step=99, run="s", optimizer=opt)
    expected = torch.rand(3), np.random.rand()
    state = load_trainer_state(tmp_path / "trainer_state.pt")
    assert (state["epoch"], state["agent_step"], state["policy_file"]) == (4, 99, path.name)
    ckpt.restore_rng_state(state["rng"])
    assert torch.equal(torch.rand(3), expected[0]) and np.random.rand() == expected[1]
    fresh = make_optimizer(agent)
    load_checkpoint(agent, path, optimizer=fresh)
    saved, restored = opt.state_dict()["state"], fresh.state_dict()["state"]
    assert saved.keys() == restored.keys() and len(saved) > 0
    assert all(torch.equal(saved[k]["exp_avg"], restored[k]["exp_avg"]) for k in saved)

    before = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        Path(args[1]).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(agent, tmp_path, 4, run="s")
    assert path.read_bytes() == before and not list(tmp_path.glob(".*tmp"))

    (tmp_path / "trainer_state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"trainer_state\.pt.*cannot read trainer state"):
        load_trainer_state(tmp_path / "trainer_state.pt")
    torch.save({"format": "other"}, tmp_path / "trainer_state.pt")
    with pytest.raises(CheckpointError, match="not a metta-gridworld trainer state"):
        load_trainer_state(tmp_path / "trainer_state.pt")

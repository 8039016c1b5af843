"""Checkpoints you can trust: every malformed file is a CheckpointError naming it (no torch/Key/AttributeError), the
metadata is checked against the weights before anything is allocated, a content hash catches flipped bits, files
follow the umask, stale temp files of killed writes go at the next start, and a full disk stops training with one
error line and the previous checkpoint intact."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import trainer.checkpoint as ckpt
import trainer.train as tt
from trainer import AgentModelConfig, CheckpointError, EnvConfig, load_checkpoint, load_policy, make_agent
from trainer import make_environment, make_optimizer, save_checkpoint
from trainer.checkpoint import (
    HASH_KEY,
    content_hash,
    load_trainer_state,
    read_checkpoint_metadata,
    remove_stale_temp_files,
)

CLI = ["navigation", "env.num_envs=4", "agent.policy=fast", "agent.hidden_dim=16", "agent.cnn_channels=4",
       "experience.bptt_horizon=16", "experience.batch_size=64", "experience.minibatch_size=64", "device=cpu",
       "progress=false", "checkpoint.checkpoint_interval=1"]


def _agent(policy: str = "fast", **kw: Any) -> torch.nn.Module:
    env = make_environment(EnvConfig(num_envs=1))
    return make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                      AgentModelConfig(policy=policy, hidden_dim=16, cnn_channels=4, embed_dim=16, **kw),
                      feature_spec=env.feature_spec(), action_names=env.action_names())


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A valid checkpoint of each architecture."""
    d = tmp_path_factory.mktemp("good")
    return {p: save_checkpoint(_agent(p), d, 1, run=p) for p in ("fast", "lstm", "transformer")}


def _rewrite(src: Path, dst: Path, meta: dict[str, Any] | None = None, drop: tuple[str, ...] = (),
             tensors: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
             rehash: bool = True) -> Path:
    """A copy of a checkpoint with metadata entries changed (dicts are JSON-encoded) or dropped and tensors
    transformed; re-hashed unless `rehash` is False, so that the check under test, not the hash, is what refuses it."""
    with safe_open(str(src), framework="pt") as f:
        raw = dict(f.metadata())
    weights = load_file(str(src))
    for k, v in (meta or {}).items():
        raw[k] = v if isinstance(v, str) else json.dumps(v)
    for k in drop:
        raw.pop(k, None)
    if tensors is not None:
        weights = tensors(weights)
    if rehash and HASH_KEY in raw:
        raw[HASH_KEY] = content_hash(raw, weights)
    save_file(weights, str(dst), metadata=raw)
    return dst


def _arch(src: Path, **changes: Any) -> dict[str, Any]:
    return {**read_checkpoint_metadata(src)["architecture"], **changes}


def _refused(path: Path, match: str = "", agent: torch.nn.Module | None = None) -> str:
    """Asserts that load_policy (and load_checkpoint into `agent`) raise CheckpointError naming the file."""
    with pytest.raises(CheckpointError) as err:
        load_policy(path)
    message = str(err.value)
    assert str(path) in message and re.search(match, message), message
    if agent is not None:
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            load_checkpoint(agent, path)
    return message


def test_truncated_files_at_every_kind_of_cut(good: dict[str, Path], tmp_path: Path) -> None:
    data = good["lstm"].read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    for cut in (0, 3, 8, 20, header - 1, header, header + 10, (header + len(data)) // 2, len(data) - 1):
        path = tmp_path / f"t{cut}:v1.safetensors"
        path.write_bytes(data[:cut])
        _refused(path, "not a readable safetensors|cannot read the weights", agent=_agent("lstm"))


def test_random_bytes(tmp_path: Path) -> None:
    rng = random.Random(9)
    for i in range(12):
        path = tmp_path / f"r{i}:v1.safetensors"
        body = rng.randbytes(rng.randrange(1, 4000))
        if i % 3 == 0:  # a plausible header length in front of garbage
            body = len(body).to_bytes(8, "little") + body
        elif i % 3 == 1:  # a real JSON header over garbage data
            head = json.dumps({"w": {"dtype": "F32", "shape": [10_000], "data_offsets": [0, 40_000]}}).encode()
            body = len(head).to_bytes(8, "little") + head + body
        path.write_bytes(body)
        _refused(path, "not a readable safetensors")


@pytest.mark.parametrize("key", ["format", "architecture", "observation_spec", "action_spec", "feature_spec", "run",
                                 "epoch", "agent_step"])
def test_metadata_missing_a_key(good: dict[str, Path], tmp_path: Path, key: str) -> None:
    path = _rewrite(good["fast"], tmp_path / "m:v1.safetensors", drop=(key,))
    expected = "not a metta-gridworld policy checkpoint" if key == "format" else f"lacks \\['{key}'\\]"
    _refused(path, expected, agent=_agent("fast"))
    with pytest.raises(CheckpointError, match=expected):
        read_checkpoint_metadata(path)


WRONG = [  # (metadata changes, what the message names)
    ({"architecture": '"lstm"'}, "architecture"),
    ({"architecture": "[1, 2]"}, "architecture"),
    ({"architecture": "{not json"}, "architecture is not JSON"),
    ({"architecture": {"policy": "nope"}}, "architecture.policy"),
    ({"architecture": {"policy": "fast", "hidden_dim": "wide"}}, "architecture.hidden_dim"),
    ({"architecture": {"policy": "fast", "hidden_dim": -3}}, "architecture.hidden_dim"),
    ({"observation_spec": []}, "observation_spec"),
    ({"observation_spec": {"shape": "abc", "window": [11, 11]}}, "observation_spec.shape"),
    ({"observation_spec": {"shape": [200, 3], "window": [0, 11]}}, "observation_spec.window.0"),
    ({"observation_spec": {"shape": [200, 3], "window": [1_000_000, 11]}}, "observation_spec.window.0"),
    ({"observation_spec": {"shape": [10**12, 3], "window": [11, 11]}}, "observation_spec.shape.0"),
    ({"observation_spec": {"shape": [200, 3], "window": [11, 11], "global_features": ["nope"]}}, "global_features"),
    ({"action_spec": {"n": -1}}, "action_spec.n"),
    ({"action_spec": {"n": 10**9}}, "action_spec.n"),
    ({"action_spec": {"n": 8, "names": ["a"]}}, "action names"),
    ({"action_spec": "8"}, "action_spec"),
    ({"feature_spec": []}, "feature_spec"),
    ({"feature_spec": {}}, "feature_spec"),
    ({"feature_spec": {"a": 5}}, "feature_spec.a"),
    ({"feature_spec": {"a": {"id": 300, "normalization": 1.0}}}, "feature_spec.a.id"),
    ({"feature_spec": {"a": {"id": 1, "normalization": 0}}}, "feature_spec.a.normalization"),
    ({"feature_spec": {"a": {"id": 1, "normalization": "NaN"}}}, "feature_spec.a.normalization"),
    ({"epoch": "seven"}, "epoch"),
    ({"epoch": "-1"}, "epoch"),
    ({"agent_step": "1e400"}, "agent_step"),
]


@pytest.mark.parametrize("changes,names", WRONG, ids=[n for _, n in WRONG])
def test_metadata_of_wrong_types_or_bounds(good: dict[str, Path], tmp_path: Path, changes: dict[str, Any],
                                           names: str) -> None:
    path = _rewrite(good["fast"], tmp_path / "w:v1.safetensors", meta=changes)
    message = _refused(path, "metadata is damaged or incomplete", agent=_agent("fast"))
    assert names in message


USES = {"hidden_dim": ("fast", "lstm", "transformer"), "mlp_layers": ("fast", "lstm", "transformer"),
        "cnn_channels": ("fast", "lstm"), "embed_dim": ("transformer",), "lstm_layers": ("lstm",),
        "transformer_layers": ("transformer",)}


@pytest.mark.parametrize("policy", ["fast", "lstm", "transformer"])
@pytest.mark.parametrize("field,value", [("hidden_dim", 10**9), ("cnn_channels", 10**9), ("embed_dim", 2**30),
                                         ("mlp_layers", 10**9), ("lstm_layers", 10**9), ("transformer_layers", 10**9),
                                         ("hidden_dim", 64), ("mlp_layers", 3)])
def test_metadata_that_does_not_describe_the_weights_allocates_nothing(good: dict[str, Path], tmp_path: Path,
                                                                       policy: str, field: str, value: int) -> None:
    path = _rewrite(good[policy], tmp_path / "a:v1.safetensors",
                    meta={"architecture": _arch(good[policy], **{field: value})})
    load_policy(good[policy])  # warm up: lazy imports are not what this test measures
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    try:
        if policy in USES[field] or field.endswith("_layers"):
            message = _refused(path)
            assert field in message, message
        else:  # a size the architecture does not use: it loads, and what it says costs nothing
            assert load_policy(path).checkpoint_metadata["architecture"][field] == value
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 5
    assert peak < 20 * 2**20, peak  # Python allocations
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100 * 2**10  # KiB: no giant tensors either


def test_metadata_fields_the_architecture_does_not_use_still_load(good: dict[str, Path], tmp_path: Path) -> None:
    path = _rewrite(good["lstm"], tmp_path / "u:v1.safetensors",
                    meta={"architecture": _arch(good["lstm"], embed_dim=4096, num_heads=2, transformer_layers=40)})
    assert load_policy(path).checkpoint_metadata["architecture"]["embed_dim"] == 4096


def _shrink(name: str) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    def change(w: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**w, name: w[name][:-1].clone()}
    return change


WEIGHTS = [
    ("shape", _shrink("actor.weight"), "weight 'actor.weight' has shape"),
    ("missing", lambda w: {k: v for k, v in w.items() if k != "critic.bias"}, "missing \\['critic.bias'\\]"),
    ("extra", lambda w: {**w, "extra.weight": torch.zeros(3)}, "unexpected \\['extra.weight'\\]"),
    ("dtype", lambda w: {**w, "actor.weight": w["actor.weight"].double()}, "dtype torch.float64"),
    ("nan", lambda w: {**w, "actor.bias": torch.full_like(w["actor.bias"], float("nan"))}, "NaN or infinite"),
    ("none", lambda w: {}, "holds no weights"),
]


@pytest.mark.parametrize("name,change,match", WEIGHTS, ids=[w[0] for w in WEIGHTS])
def test_weights_of_the_wrong_shape_dtype_or_value(good: dict[str, Path], tmp_path: Path, name: str,
                                                   change: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
                                                   match: str) -> None:
    for policy in ("fast", "lstm"):
        path = _rewrite(good[policy], tmp_path / f"{name}-{policy}:v1.safetensors", tensors=change)
        _refused(path, match, agent=_agent(policy))


def test_content_hash_catches_flipped_bits(good: dict[str, Path], tmp_path: Path) -> None:
    data = good["lstm"].read_bytes()
    header = 8 + int.from_bytes(data[:8], "little")
    assert read_checkpoint_metadata(good["lstm"])["content_sha256"] == content_hash(
        safe_open(str(good["lstm"]), framework="pt").metadata(), load_file(str(good["lstm"])))
    rng = random.Random(3)
    spots = [rng.randrange(header, len(data)) for _ in range(20)]  # weight bytes
    spots += [rng.randrange(0, header) for _ in range(20)]  # the length prefix and the JSON header
    for i, spot in enumerate(spots):
        flipped = bytearray(data)
        flipped[spot] ^= 1 << rng.randrange(8)
        path = tmp_path / f"f{i}:v1.safetensors"
        path.write_bytes(bytes(flipped))
        message = _refused(path)
        if spot >= header:
            assert "content hash mismatch" in message
    # a metadata value changed after writing (epoch 1 -> 2) is caught too
    edited = _rewrite(good["lstm"], tmp_path / "e:v1.safetensors", meta={"epoch": "2"}, rehash=False)
    _refused(edited, "content hash mismatch")


def test_a_flipped_bit_in_the_hash_key_name_is_caught(good: dict[str, Path], tmp_path: Path) -> None:
    """Without the unknown-key check such a file would read as an older checkpoint with no hash."""
    data = good["lstm"].read_bytes()
    at = data.index(HASH_KEY.encode())
    flipped = bytearray(data)
    flipped[at + 2] ^= 0x01  # "content_sha256" -> "cnntent_sha256"
    path = tmp_path / "k:v1.safetensors"
    path.write_bytes(bytes(flipped))
    _refused(path, "unknown metadata keys")


def test_checkpoints_without_a_hash_load_unchecked(good: dict[str, Path], tmp_path: Path) -> None:
    old = _rewrite(good["fast"], tmp_path / "old:v1.safetensors", drop=(HASH_KEY,))
    policy = load_policy(old)
    assert policy.checkpoint_metadata["content_sha256"] is None
    same = load_policy(good["fast"]).state_dict().values()
    assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), same))


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_checkpoint_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    agent = _agent("fast")
    opt = make_optimizer(agent)
    old = os.umask(umask)
    try:
        path = save_checkpoint(agent, tmp_path, 1, run="u", optimizer=opt)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "trainer_state.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_stale_temp_files_are_removed_at_the_next_start(tiny: Any) -> None:
    tiny.agent.policy = "fast"
    tiny.total_timesteps = 128
    directory = tiny.run_dir / "checkpoints"
    directory.mkdir(parents=True)
    stale = [directory / ".tiny:v3.safetensors.k2j_8xq1.tmp", directory / ".trainer_state.pt.ab12cd34.tmp"]
    kept = [directory / "notes.tmp", directory / ".hidden.tmp", directory / "tiny:v9.safetensors.tmp",
            directory / ".tiny:v3.safetensors.tmp", directory / "other.safetensors"]
    for p in stale + kept:
        p.write_bytes(b"half a checkpoint")
        os.utime(p, (time.time() - 60, time.time() - 60))
    fresh = directory / ".tiny:v4.safetensors.newer123.tmp"  # written after the run started: not this run's to take
    fresh.write_bytes(b"")
    os.utime(fresh, (time.time() + 3600, time.time() + 3600))
    assert sorted(remove_stale_temp_files(directory, before=0.0)) == []
    tt.train(tiny)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept + [fresh])
    assert sorted(remove_stale_temp_files(directory, before=time.time() + 7200)) == [fresh]
    assert remove_stale_temp_files(directory / "nowhere") == []


def _enospc_on_call(n: int, real: Callable[..., Any]) -> Callable[..., Any]:
    calls = {"n": 0}

    def write(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            Path(args[1]).write_bytes(b"half")  # the temp file is partly written when the disk fills
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)
    return write


@pytest.mark.parametrize("target", ["policy", "trainer_state"])
def test_a_full_disk_stops_training_with_one_error_line_and_the_previous_checkpoint_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], target: str) -> None:
    argv = CLI + ["run=full", f"train_dir={tmp_path}", "trainer.total_timesteps=256"]
    if target == "policy":
        monkeypatch.setattr(ckpt, "save_file", _enospc_on_call(3, ckpt.save_file))  # epoch 3's policy file
    else:
        monkeypatch.setattr(ckpt.torch, "save", _enospc_on_call(3, torch.save))  # epoch 3's trainer state
    assert tt.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot write the checkpoint of epoch 3 in ")
    assert "No space left on device" in err and "the checkpoint of epoch 2 is intact" in err
    directory = tmp_path / "full" / "checkpoints"
    state = load_trainer_state(directory / "trainer_state.pt")
    assert (state["epoch"], state["policy_file"]) == (2, "full:v2.safetensors")
    assert load_policy(directory / "full:v2.safetensors").checkpoint_metadata["epoch"] == 2
    assert not list(directory.glob(".*.tmp"))
    monkeypatch.undo()
    assert tt.main(argv) == 0  # room again: the same command resumes from epoch 2
    assert "resuming at epoch 2, 128 steps" in capsys.readouterr().out
    assert load_trainer_state(directory / "trainer_state.pt")["epoch"] == 4


def test_damaged_trainer_state_fields_are_checkpoint_errors(tmp_path: Path) -> None:
    agent = _agent("fast")
    opt = make_optimizer(agent)
    save_checkpoint(agent, tmp_path, 1, run="s", optimizer=opt)
    path = tmp_path / "trainer_state.pt"
    good_state = torch.load(path, weights_only=True)
    for changes, match in [({"policy_file": "../../x:v1.safetensors"}, "policy_file"),
                           ({"policy_file": 5}, "policy_file"), ({"epoch": "1"}, "epoch"), ({"epoch": -1}, "epoch"),
                           ({"optimizer": [1]}, "optimizer"), ({"rng": None}, "rng")]:
        torch.save({**good_state, **changes}, path)
        with pytest.raises(CheckpointError, match=rf"trainer_state\.pt: trainer state is damaged: {match}"):
            load_trainer_state(path)
    with pytest.raises(CheckpointError, match=r"trainer_state\.pt: the RNG state .* is damaged"):
        ckpt.restore_rng_state({"torch": torch.zeros(3, dtype=torch.uint8)}, path)


def test_resuming_from_a_damaged_policy_file_names_it_without_blaming_the_config(tiny: Any) -> None:
    tiny.agent.policy = "fast"
    tiny.total_timesteps = 128
    tt.train(tiny)
    path = tiny.run_dir / "checkpoints" / "tiny:v1.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10  # a flipped bit in the weights
    path.write_bytes(bytes(data))
    tiny.total_timesteps = 256
    with pytest.raises(CheckpointError) as err:
        tt.train(tiny)
    message = str(err.value)
    assert message.startswith(f"cannot resume run 'tiny': {path}: content hash mismatch"), message
    assert "with this config" not in message

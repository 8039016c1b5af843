"""Policy URIs beyond the local disk: memory:// (fsspec's in-process filesystem), http(s):// (read-only, from a local
server) and s3:// (a local moto server, when moto and s3fs are installed), with the local rules: atomic writes, the
content hash checked on load, a folder meaning its latest checkpoint, one clear error for what is missing."""

from __future__ import annotations

import functools
import http.server
import importlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

fsspec = pytest.importorskip("fsspec", reason="the remote extra (fsspec) is an optional dependency")

import trainer.train as tt  # noqa: E402
from tiny_run import tiny_config  # noqa: E402
from trainer import AgentModelConfig, CheckpointError, ConfigError, EnvConfig, make_agent, make_environment  # noqa: E402
from trainer import apply_overrides, make_optimizer  # noqa: E402
from trainer.sim import main as sim_main  # noqa: E402
from trainer.checkpoint import (  # noqa: E402
    TRAINER_STATE_FILE,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_policy,
    load_trainer_state,
    location_exists,
    parse_uri,
    policy_uri,
    read_checkpoint_metadata,
    remove_stale_temp_files,
    resolve_uri,
    save_checkpoint,
)


def _agent(policy: str = "lstm") -> tuple:
    env = make_environment(EnvConfig(num_envs=2))
    agent = make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                       AgentModelConfig(policy=policy, hidden_dim=16, cnn_channels=4),
                       feature_spec=env.feature_spec(), action_names=env.action_names())
    return env, agent


@pytest.fixture
def bucket() -> Iterator[str]:
    """A fresh memory:// folder (the in-memory filesystem is shared by the whole process), removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield f"memory://{name}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def _names(uri: str) -> list[str]:
    fs, path = fsspec.core.url_to_fs(uri)
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_memory_round_trip(bucket: str) -> None:
    env, agent = _agent()
    optimizer = make_optimizer(agent)
    folder = f"{bucket}/run/checkpoints"
    uri = save_checkpoint(agent, folder, epoch=7, agent_step=1234, run="run", optimizer=optimizer)
    assert uri == f"{folder}/run:v7.safetensors" and policy_uri(uri) == uri
    assert _names(folder) == ["run:v7.safetensors", TRAINER_STATE_FILE]  # no temporary objects left
    loaded = load_policy(uri)
    obs = torch.from_numpy(env.reset()[0])
    with torch.no_grad():
        a, b = agent(obs), loaded(obs)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.values, b.values)
    meta = loaded.checkpoint_metadata
    assert (meta["epoch"], meta["agent_step"], meta["run"], meta["path"]) == (7, 1234, "run", uri)
    assert read_checkpoint_metadata(uri)["content_sha256"] == meta["content_sha256"] is not None
    state = load_trainer_state(f"{folder}/{TRAINER_STATE_FILE}")
    assert (state["epoch"], state["agent_step"], state["policy_file"]) == (7, 1234, "run:v7.safetensors")
    _, other = _agent()
    other_optimizer = make_optimizer(other)
    load_checkpoint(other, uri, other_optimizer)  # weights and the optimizer state from next to it
    assert _same_weights(other, agent)
    assert other_optimizer.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]
    with pytest.raises(CheckpointError, match="parse_uri takes local URIs only"):
        parse_uri(uri)


def test_latest_of_a_folder_and_keep_last(bucket: str) -> None:
    _, agent = _agent("fast")
    folder = f"{bucket}/r/checkpoints"
    for v in (2, 9, 10):
        save_checkpoint(agent, folder, v, run="r")
    save_checkpoint(agent, folder, 3, run="other")  # another run in the same folder: keep_last leaves it alone
    assert latest_checkpoint(folder) == f"{folder}/r:v10.safetensors"  # numeric, not lexicographic
    assert resolve_uri(folder) == f"{folder}/r:v10.safetensors"
    assert resolve_uri(f"{bucket}/r") == f"{folder}/r:v10.safetensors"  # the run folder means its checkpoints/
    assert load_policy(f"{bucket}/r/").checkpoint_metadata["epoch"] == 10
    assert [u.rsplit("/", 1)[1] for u in list_checkpoints(folder)] == [  # by version
        "r:v2.safetensors", "other:v3.safetensors", "r:v9.safetensors", "r:v10.safetensors"]
    save_checkpoint(agent, folder, 11, run="r", keep_last=2)
    assert _names(folder) == ["other:v3.safetensors", "r:v10.safetensors", "r:v11.safetensors"]
    with pytest.raises(CheckpointError, match="no such checkpoint file, or a folder that holds no"):
        resolve_uri(f"{bucket}/nothing-here")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_policy(f"{folder}/r:v99.safetensors")
    assert location_exists(f"{folder}/r:v11.safetensors") and not location_exists(f"{folder}/r:v2.safetensors")


def test_a_flipped_byte_is_refused(bucket: str) -> None:
    _, agent = _agent()
    uri = save_checkpoint(agent, f"{bucket}/c", epoch=1, run="c")
    fs, path = fsspec.core.url_to_fs(uri)
    data = bytearray(fs.cat_file(path))
    header = 8 + int.from_bytes(data[:8], "little")
    weights = bytearray(data)
    weights[header + (len(data) - header) // 2] ^= 0x01  # one bit of one weight
    fs.pipe_file(path, bytes(weights))
    with pytest.raises(CheckpointError, match=f"{uri}: content hash mismatch"):
        load_policy(uri)
    meta = bytearray(data)
    at = bytes(data[:header]).index(b'"epoch":"1"') + len(b'"epoch":"')
    meta[at] = ord("2")  # the epoch in the metadata, edited by hand
    fs.pipe_file(path, bytes(meta))
    assert read_checkpoint_metadata(uri)["epoch"] == 2  # the header alone reads
    with pytest.raises(CheckpointError, match="content hash mismatch"):
        load_policy(uri)
    fs.pipe_file(path, bytes(data[:5]))
    with pytest.raises(CheckpointError, match="not a readable safetensors file \\(it has 5 bytes\\)"):
        load_policy(uri)
    fs.pipe_file(path, (2**40).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="its header would be"):
        load_policy(uri)
    fs.pipe_file(path, bytes(data))
    assert _same_weights(load_policy(uri), agent)


def test_a_failed_remote_write_leaves_the_old_file(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, agent = _agent("fast")
    uri = save_checkpoint(agent, f"{bucket}/w", epoch=1, run="w")
    fs, path = fsspec.core.url_to_fs(uri)
    before = fs.cat_file(path)
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(1.0)

    def broken_move(self: object, *args: object, **kw: object) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(type(fs), "mv", broken_move)
    with pytest.raises(OSError, match="the write failed \\(RuntimeError: the store went away\\)"):
        save_checkpoint(agent, f"{bucket}/w", epoch=1, run="w")
    assert fs.cat_file(path) == before and _names(f"{bucket}/w") == ["w:v1.safetensors"]  # temporary object removed


def test_stale_temporary_objects_are_removed(bucket: str) -> None:
    folder = f"{bucket}/s/checkpoints"
    fs = fsspec.filesystem("memory")
    root = folder.split("://", 1)[1]
    for name in (".s:v3.safetensors.abc123.tmp", f".{TRAINER_STATE_FILE}.x9.tmp", "notes.tmp", "s:v1.safetensors"):
        fs.pipe_file(f"/{root}/{name}", b"x")
    assert remove_stale_temp_files(folder, before=0.0) == []  # newer than `before`: kept
    removed = remove_stale_temp_files(folder, before=time.time() + 60)
    assert sorted(removed) == [f"{folder}/.s:v3.safetensors.abc123.tmp", f"{folder}/.{TRAINER_STATE_FILE}.x9.tmp"]
    assert _names(folder) == ["notes.tmp", "s:v1.safetensors"]
    assert remove_stale_temp_files(f"{bucket}/nowhere") == []


def _final_weights(cfg_dir: Path, uri: str | None) -> dict[str, torch.Tensor]:
    for epochs in (2, 4):
        cfg = tiny_config(cfg_dir, epochs=epochs)
        cfg.checkpoint.checkpoint_interval = 5  # only the final checkpoints
        cfg.checkpoint.uri = uri
        result = tt.train(cfg)
        assert (result["epoch"], result["agent_step"]) == (epochs, 128 * epochs)
    assert result["policy_uri"] == (f"{uri}/tiny:v4.safetensors" if uri else
                                    f"file://{cfg.run_dir}/checkpoints/tiny:v4.safetensors")
    return load_policy(result["policy_uri"]).state_dict()


def test_training_writes_and_resumes_in_memory(bucket: str, tmp_path: Path) -> None:
    uri = f"{bucket}/tiny/checkpoints"
    remote = _final_weights(tmp_path / "remote", uri)
    assert _names(uri) == ["tiny:v2.safetensors", "tiny:v4.safetensors", TRAINER_STATE_FILE]
    assert not (tmp_path / "remote" / "tiny" / "checkpoints").exists()  # nothing went to the local folder
    assert load_trainer_state(f"{uri}/{TRAINER_STATE_FILE}")["epoch"] == 4
    # the same run on the local disk: resuming from memory:// restored the same weights, optimizer and RNG state
    local = _final_weights(tmp_path / "local", None)
    assert remote.keys() == local.keys() and all(torch.equal(remote[k], local[k]) for k in local)


def test_checkpoint_uri_config_and_command_line(tmp_path: Path) -> None:
    cfg = apply_overrides(tiny_config(tmp_path), ["checkpoint.uri=memory://b/run"])
    assert cfg.checkpoint.uri == "memory://b/run" and tt.checkpoint_location(cfg) == "memory://b/run"
    assert tt.checkpoint_location(tiny_config(tmp_path)) == tmp_path / "tiny" / "checkpoints"
    assert tt.checkpoint_location(apply_overrides(cfg, [f"checkpoint.uri=file://{tmp_path}/c"])) == tmp_path / "c"
    with pytest.raises(ConfigError, match="checkpoint.uri.*http:// is read-only"):
        apply_overrides(cfg, ["checkpoint.uri=http://example.com/run"])
    with pytest.raises(ConfigError, match="checkpoint.uri.*unsupported scheme 'ftp'"):
        apply_overrides(cfg, ["checkpoint.uri=ftp://example.com/run"])


def test_missing_fsspec_or_backend_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = importlib.import_module("fsspec.registry")  # the module (the package's `registry` is a read-only view)
    monkeypatch.setitem(sys.modules, "fsspec", None)  # `import fsspec` now raises ImportError
    with pytest.raises(CheckpointError, match=r"memory:// URIs need fsspec.*pip install 'metta-gridworld\[remote\]'"):
        load_policy("memory://b/r:v1.safetensors")
    monkeypatch.undo()
    monkeypatch.delitem(registry._registry, "gs", raising=False)  # not imported yet, as on a fresh start
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    with pytest.raises(CheckpointError, match="gs:// URIs need the gcsfs package.*pip install gcsfs"):
        load_policy("gs://bucket/run/checkpoints")
    with pytest.raises(CheckpointError, match="unsupported scheme 'ftp'"):
        load_policy("ftp://host/r:v1.safetensors")


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A local folder served read-only over http://127.0.0.1:<port>/ (the standard library's file server)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_http_reads_and_refuses_writes(http_folder: tuple[Path, str]) -> None:
    _, agent = _agent("fast")
    with pytest.raises(CheckpointError, match="cannot write URI 'http://example.com/c': http:// is read-only"):
        save_checkpoint(agent, "http://example.com/c", epoch=1, run="c")
    with pytest.raises(CheckpointError, match="https:// is read-only"):
        remove_stale_temp_files("https://example.com/c")
    pytest.importorskip("aiohttp", reason="fsspec's http backend needs aiohttp (the remote extra installs it)")
    root, url = http_folder
    for v in (1, 2):
        save_checkpoint(agent, root / "run" / "checkpoints", v, run="run")
    assert resolve_uri(f"{url}/run/checkpoints/") == f"{url}/run/checkpoints/run:v2.safetensors"
    assert resolve_uri(f"{url}/run") == f"{url}/run/checkpoints/run:v2.safetensors"
    loaded = load_policy(f"{url}/run/checkpoints/run:v1.safetensors")
    assert loaded.checkpoint_metadata["epoch"] == 1 and _same_weights(loaded, agent)
    with pytest.raises(CheckpointError, match="run:v7.safetensors: no such checkpoint file"):
        load_policy(f"{url}/run/checkpoints/run:v7.safetensors")
    duckdb = pytest.importorskip("duckdb", reason="the stats extra (duckdb) is an optional dependency")
    db = root / "stats.duckdb"  # trainer.sim stores the episodes under the policy's own URI
    assert sim_main([f"{url}/run", "--env", "navigation", "--episodes", "1", "--stats-db", str(db)]) == 0
    with duckdb.connect(str(db)) as con:
        assert con.execute("select distinct policy_uri from episodes").fetchall() == [
            (f"{url}/run/checkpoints/run:v2.safetensors",)]


def test_s3_round_trip_and_resume_against_a_local_moto_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_module = pytest.importorskip("moto.server", reason="moto[server] (dev extra) is an optional dependency")
    pytest.importorskip("s3fs", reason="s3fs (dev extra) is an optional dependency")
    import fsspec.config

    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                           ("AWS_DEFAULT_REGION", "us-east-1")):
            monkeypatch.setenv(key, value)
        # where s3:// goes, as a user would set it: fsspec's config (or FSSPEC_S3_ENDPOINT_URL before the import)
        monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": f"http://{host}:{port}"})
        fs = fsspec.filesystem("s3", endpoint_url=f"http://{host}:{port}", skip_instance_cache=True)
        fs.mkdir("runs")
        _, agent = _agent()
        optimizer = make_optimizer(agent)
        uri = save_checkpoint(agent, "s3://runs/a/checkpoints", 3, 300, run="a", optimizer=optimizer)
        assert uri == "s3://runs/a/checkpoints/a:v3.safetensors"
        assert sorted(p.rsplit("/", 1)[1] for p in fs.ls("runs/a/checkpoints", refresh=True)) == [
            "a:v3.safetensors", TRAINER_STATE_FILE]
        loaded = load_policy("s3://runs/a")  # the run folder: its latest checkpoint
        assert loaded.checkpoint_metadata["path"] == uri and _same_weights(loaded, agent)
        assert load_trainer_state(f"s3://runs/a/checkpoints/{TRAINER_STATE_FILE}")["agent_step"] == 300
        # a tiny run writes and resumes there
        for epochs in (1, 2):
            cfg = tiny_config(tmp_path, epochs=epochs)
            cfg.checkpoint.uri = "s3://runs/tiny/checkpoints"
            assert tt.train(cfg)["policy_uri"] == f"s3://runs/tiny/checkpoints/tiny:v{epochs}.safetensors"
        records = [json.loads(line) for line in (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in records if "policy_loss" in r] == [1, 2]  # the second run resumed at epoch 1
        assert not (tmp_path / "tiny" / "checkpoints").exists()
        assert load_trainer_state(f"s3://runs/tiny/checkpoints/{TRAINER_STATE_FILE}")["epoch"] == 2
    finally:
        server.stop()

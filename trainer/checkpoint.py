"""Policy checkpoints (safetensors with their spec in the metadata), policy URIs and resumable trainer state."""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from trainer.config import AgentModelConfig
from trainer.experience import unwrap
from trainer.policies import Policy, PolicySpec, build_policy

__all__ = [
    "TRAINER_STATE_FILE",
    "CheckpointError",
    "latest_checkpoint",
    "load_checkpoint",
    "load_optimizer_state",
    "load_policy",
    "load_trainer_state",
    "parse_checkpoint_name",
    "parse_uri",
    "policy_uri",
    "read_checkpoint_metadata",
    "resolve_uri",
    "restore_rng_state",
    "save_checkpoint",
    "save_trainer_state",
]

FORMAT = "metta-gridworld-policy/1"
STATE_FORMAT = "metta-gridworld-trainer-state/1"
TRAINER_STATE_FILE = "trainer_state.pt"
_NAME = re.compile(r"^(?P<run>.+):v(?P<version>\d+)\.safetensors$")


class CheckpointError(RuntimeError):
    """A checkpoint or URI cannot be used; the message names the file and the problem."""


# ------------------------------------------------------------------ URIs and names


def parse_checkpoint_name(name: str) -> tuple[str, int]:
    """'<run>:v<N>.safetensors' -> (run, N)."""
    m = _NAME.match(Path(name).name)
    if m is None:
        raise CheckpointError(f"{name!r} is not a policy checkpoint name of the form <run>:v<N>.safetensors")
    return m.group("run"), int(m.group("version"))


def parse_uri(uri: str | Path) -> Path:
    """A policy URI (file://path, file:///abs/path or a plain path) -> the local path it names."""
    text = str(uri)
    if "://" not in text:
        return Path(text)
    scheme, rest = text.split("://", 1)
    if scheme != "file":
        raise CheckpointError(f"policy URI {text!r}: unsupported scheme {scheme!r} (only file:// and plain paths)")
    if not rest:
        raise CheckpointError(f"policy URI {text!r} names no path")
    return Path(rest)


def policy_uri(path: str | Path) -> str:
    """The file:// URI of a local checkpoint path (relative paths stay relative)."""
    return f"file://{Path(path).as_posix()}"


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The highest-version <run>:v<N>.safetensors in a checkpoint directory (or its run directory), or None."""
    directory = Path(directory)
    if (directory / "checkpoints").is_dir():
        directory = directory / "checkpoints"
    found = [(parse_checkpoint_name(p.name)[1], p) for p in directory.glob("*.safetensors") if _NAME.match(p.name)]
    return max(found)[1] if found else None


def resolve_uri(uri: str | Path) -> Path:
    """The checkpoint file a URI names; a directory URI means its latest checkpoint."""
    path = parse_uri(uri)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"{path}: directory holds no <run>:v<N>.safetensors checkpoints")
        return latest
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file or directory (from URI {str(uri)!r})")
    return path


# ------------------------------------------------------------------ atomic writes


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Writes through a temporary file in the same directory, then os.replace: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------ policy files


def save_checkpoint(agent: nn.Module, checkpoint_dir: str | Path, epoch: int, agent_step: int = 0,
                    run: str = "policy", optimizer: Any = None, trainer_state: dict[str, Any] | None = None,
                    keep_last: int | None = None) -> Path:
    """Writes <checkpoint_dir>/<run>:v<epoch>.safetensors (weights + spec metadata); with an optimizer, also trainer_state.pt."""
    policy = unwrap(agent)
    spec: PolicySpec = policy.spec
    path = Path(checkpoint_dir) / f"{run}:v{int(epoch)}.safetensors"
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in policy.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "architecture": json.dumps(spec.config.model_dump()),
        "observation_spec": json.dumps({"shape": list(spec.obs_shape), "window": list(spec.obs_window),
                                        "global_features": spec.global_features}),
        "action_spec": json.dumps({"n": spec.num_actions, "names": spec.action_names}),
        "feature_spec": json.dumps(spec.feature_spec),
        "run": run,
        "epoch": str(int(epoch)),
        "agent_step": str(int(agent_step)),
    }
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    if optimizer is not None:
        save_trainer_state(Path(checkpoint_dir) / TRAINER_STATE_FILE, optimizer, epoch, agent_step, path.name,
                           extra=trainer_state)
    if keep_last is not None:
        versions = sorted((parse_checkpoint_name(p.name)[1], p) for p in Path(checkpoint_dir).glob(f"{run}:v*.safetensors"))
        for _, old in versions[:-keep_last]:
            old.unlink(missing_ok=True)
    return path


def read_checkpoint_metadata(uri: str | Path) -> dict[str, Any]:
    """The decoded metadata of a policy checkpoint: architecture, observation/action/feature spec, run, epoch, agent_step."""
    path = resolve_uri(uri)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a metta-gridworld policy checkpoint "
                              f"(metadata format is {raw.get('format')!r}, expected {FORMAT!r})")
    try:
        meta: dict[str, Any] = {k: json.loads(raw[k]) for k in ("architecture", "observation_spec", "action_spec",
                                                                "feature_spec")}
        meta.update(run=raw["run"], epoch=int(raw["epoch"]), agent_step=int(raw["agent_step"]), path=str(path))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint metadata is damaged or incomplete ({type(e).__name__}: {e})") from None
    return meta


def _spec_from_metadata(meta: dict[str, Any]) -> PolicySpec:
    try:
        return PolicySpec(
            config=AgentModelConfig.model_validate(meta["architecture"]),
            obs_shape=tuple(meta["observation_spec"]["shape"]),  # type: ignore[arg-type]
            obs_window=tuple(meta["observation_spec"]["window"]),  # type: ignore[arg-type]
            num_actions=int(meta["action_spec"]["n"]),
            feature_spec=meta["feature_spec"],
            action_names=meta["action_spec"].get("names"),
            global_features=meta["observation_spec"].get("global_features"),
        )
    except Exception as e:
        raise CheckpointError(f"{meta['path']}: checkpoint spec cannot be used ({e})") from None


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read the weights ({e})") from None


def _load_weights(policy: Policy, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = policy.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the architecture (missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]})")
    for k, v in tensors.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(f"{path}: weight {k!r} has shape {tuple(v.shape)}, the policy expects "
                                  f"{tuple(expected[k].shape)}")
    policy.load_state_dict(tensors)


def load_policy(uri: str | Path, device: torch.device | str = "cpu") -> Policy:
    """Rebuilds a policy from a checkpoint URI alone (a directory URI: its latest); metadata in .checkpoint_metadata."""
    meta = read_checkpoint_metadata(uri)
    path = Path(meta["path"])
    policy = build_policy(_spec_from_metadata(meta))
    _load_weights(policy, _load_tensors(path), path)
    policy.checkpoint_metadata = meta  # type: ignore[assignment]
    return policy.to(device)


def load_checkpoint(agent: nn.Module, uri: str | Path, optimizer: Any = None) -> dict[str, Any]:
    """Loads checkpoint weights into an existing policy of the same spec (and trainer_state.pt into optimizer); returns metadata."""
    policy = unwrap(agent)
    meta = read_checkpoint_metadata(uri)
    path = Path(meta["path"])
    saved = _spec_from_metadata(meta)
    mine: PolicySpec = policy.spec
    problems = []
    if saved.config != mine.config:
        diff = ", ".join(f"agent.{k} {v!r} vs {getattr(mine.config, k)!r}"
                         for k, v in saved.config.model_dump().items() if getattr(mine.config, k) != v)
        problems.append(f"architecture differs (the checkpoint's vs this policy's: {diff})")
    if saved.obs_shape != mine.obs_shape or saved.obs_window != mine.obs_window:
        problems.append(f"observation spec differs ({saved.obs_shape}/{saved.obs_window} vs {mine.obs_shape}/{mine.obs_window})")
    if saved.num_actions != mine.num_actions:
        problems.append(f"action count differs ({saved.num_actions} vs {mine.num_actions})")
    if {k: v["id"] for k, v in saved.feature_spec.items()} != {k: v["id"] for k, v in mine.feature_spec.items()}:
        problems.append("feature spec differs")
    if problems:
        raise CheckpointError(f"{path}: does not fit this policy: {'; '.join(problems)}")
    _load_weights(policy, _load_tensors(path), path)
    if optimizer is not None:
        state = load_trainer_state(path.parent / TRAINER_STATE_FILE)
        load_optimizer_state(optimizer, state, path.parent / TRAINER_STATE_FILE)
        meta["trainer_state"] = state
    return meta


# ------------------------------------------------------------------ trainer state


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restores the torch, numpy and python RNG states saved in trainer state."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_trainer_state(path: str | Path, optimizer: Any, epoch: int, agent_step: int, policy_file: str,
                       extra: dict[str, Any] | None = None) -> None:
    """Writes optimizer state, epoch, agent steps, the policy file name and RNG states atomically with torch.save."""
    state = {"format": STATE_FORMAT, "epoch": int(epoch), "agent_step": int(agent_step), "policy_file": policy_file,
             "optimizer": optimizer.state_dict(), "rng": _rng_state(), "extra": extra or {}}
    _atomic_write(Path(path), lambda tmp: torch.save(state, tmp))


def load_trainer_state(path: str | Path) -> dict[str, Any]:
    """Reads trainer_state.pt; a damaged or foreign file raises CheckpointError naming it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no trainer state file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read trainer state ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a metta-gridworld trainer state (expected format {STATE_FORMAT!r})")
    missing = [k for k in ("epoch", "agent_step", "policy_file", "optimizer", "rng") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: trainer state lacks {missing}")
    return state


def load_optimizer_state(optimizer: Any, state: dict[str, Any], path: str | Path) -> None:
    """Loads the optimizer part of a trainer state (read from `path`), with errors naming the file."""
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: optimizer state does not fit this optimizer ({e})") from None

"""Policy checkpoints (safetensors with their spec in the metadata), policy URIs and resumable trainer state.

Integrity: every write goes to a temporary file `.<name>.<random>.tmp` in the same directory, is chmod-ed to what
the umask allows, then renamed over the final name; `remove_stale_temp_files` deletes those a killed write left.
A policy file's metadata holds `content_sha256`, a hash of its metadata and weights, checked on every load (files
written before it existed have none and load unchecked). Before any policy is allocated the metadata is checked
for types and bounds and against the shapes of the weights in the file, so a damaged or hostile file is a
CheckpointError naming it, never a giant allocation or a torch/KeyError traceback.

Locations: a plain path or file:// is the local disk, as above. memory://, s3://, gs:// and http(s):// (read-only)
go through fsspec (the `remote` extra; s3fs, gcsfs or aiohttp for the backend) with the same rules: a write goes
to a temporary object `.<name>.<random>.tmp` in the same folder, which is then moved over the final name (on S3
and GCS an object appears whole or not at all, and the move is a server-side copy then a delete); the content
hash is checked on every load; a URI naming a folder means its latest checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Literal
from urllib.parse import unquote

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from safetensors.torch import load as load_bytes
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from trainer.config import AgentModelConfig
from trainer.distributed import unwrap
from trainer.names import check_run_name, path_inside
from trainer.policies import Policy, PolicySpec, build_policy
from trainer.uris import BACKEND_PACKAGES, READ_ONLY_SCHEMES, check_writable_uri, is_remote, uri_scheme

__all__ = [
    "HASH_KEY",
    "TRAINER_STATE_FILE",
    "Location",
    "CheckpointError",
    "CheckpointMismatchError",
    "content_hash",
    "is_remote",
    "join_location",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_loss_state",
    "load_optimizer_state",
    "load_policy",
    "load_trainer_state",
    "location",
    "location_exists",
    "parse_checkpoint_name",
    "parse_uri",
    "policy_uri",
    "read_checkpoint_metadata",
    "remove_stale_temp_files",
    "resolve_uri",
    "restore_rng_state",
    "save_checkpoint",
    "save_trainer_state",
]

FORMAT = "metta-gridworld-policy/1"
STATE_FORMAT = "metta-gridworld-trainer-state/1"
TRAINER_STATE_FILE = "trainer_state.pt"
HASH_KEY = "content_sha256"
_NAME = re.compile(r"^(?P<run>.+):v(?P<version>\d+)\.safetensors$")
_TEMP = re.compile(r"^\.(?P<target>.+\.safetensors|" + re.escape(TRAINER_STATE_FILE) + r")\.[A-Za-z0-9_]+\.tmp$")


class CheckpointError(RuntimeError):
    """A checkpoint or URI cannot be used; the message names the file and the problem."""


class CheckpointMismatchError(CheckpointError):
    """A sound checkpoint of another policy (architecture, observations, actions or features) than the one given."""


# ------------------------------------------------------------------ URIs and names


def parse_checkpoint_name(name: str) -> tuple[str, int]:
    """'<run>:v<N>.safetensors' -> (run, N)."""
    m = _NAME.match(Path(name).name)
    if m is None:
        raise CheckpointError(f"{name!r} is not a policy checkpoint name of the form <run>:v<N>.safetensors")
    return m.group("run"), int(m.group("version"))


Location = Path | str
"""Where a checkpoint file or folder lies: a local Path, or the URI (str) of a remote one (see trainer.uris)."""


def _checked_scheme(uri: str | Path) -> str:
    """uri_scheme, with its ValueError as a CheckpointError."""
    try:
        return uri_scheme(uri)
    except ValueError as e:
        raise CheckpointError(f"policy {e}") from None


def parse_uri(uri: str | Path) -> Path:
    """A local policy URI (file://path, file:///abs/path or a plain path) -> the local path it names."""
    text = str(uri)
    scheme = _checked_scheme(uri)
    if scheme == "":
        return Path(text) if not isinstance(uri, Path) else uri
    if scheme != "file":
        raise CheckpointError(f"policy URI {text!r}: parse_uri takes local URIs only, unsupported scheme {scheme!r} "
                              f"here (resolve_uri, load_policy and save_checkpoint read {scheme}:// through fsspec)")
    return Path(text.split("://", 1)[1])


def location(uri: str | Path) -> Location:
    """A URI or path as a Location: a Path for plain paths and file:// URIs, else the URI (a known remote scheme)."""
    if isinstance(uri, Path):
        return uri
    if _checked_scheme(uri) not in ("", "file"):
        scheme, rest = str(uri).split("://", 1)
        return f"{scheme.lower()}://{rest}"
    return parse_uri(uri)


def join_location(base: Location | str, name: str) -> Location:
    """`name` (one path segment: a file name, no `/`) inside the folder `base`."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise CheckpointError(f"{name!r} is not a file name inside {base}")
    where = location(base)
    if isinstance(where, Path):
        return where / name
    return f"{where.rstrip('/')}/{name}"


def _parent(where: Location) -> Location:
    if isinstance(where, Path):
        return where.parent
    return where.rstrip("/").rsplit("/", 1)[0]


def _name(where: Location) -> str:
    return where.name if isinstance(where, Path) else where.rstrip("/").rsplit("/", 1)[-1]


def policy_uri(path: Location) -> str:
    """The URI of a checkpoint location: file://<path> for a local one (relative paths stay relative), a remote URI
    as it is."""
    if isinstance(path, str) and is_remote(path):
        return path
    return f"file://{Path(path).as_posix()}"


def _remote(uri: str, write: bool = False) -> tuple[Any, str]:
    """(fsspec filesystem, path in it) of a remote URI; a missing fsspec or backend package, or a write to a read-only
    scheme, is a CheckpointError naming what to install or do."""
    scheme = _checked_scheme(uri)
    if write:
        try:
            check_writable_uri(uri)
        except ValueError as e:
            raise CheckpointError(f"cannot write {e}") from None
    try:
        import fsspec
    except ImportError as e:
        raise CheckpointError(f"{uri}: {scheme}:// URIs need fsspec, which cannot be imported ({e}): "
                              "pip install 'metta-gridworld[remote]'") from None
    try:
        return fsspec.core.url_to_fs(uri)
    except ImportError as e:
        package = BACKEND_PACKAGES.get(scheme) or "its fsspec backend"
        raise CheckpointError(f"{uri}: {scheme}:// URIs need the {package} package, which cannot be imported "
                              f"({e}): pip install {package}") from None
    except ValueError as e:
        raise CheckpointError(f"{uri}: not a usable {scheme}:// URI ({e})") from None


def _cause(e: BaseException) -> str:
    """' (why: ...)' when a backend's FileNotFoundError wraps another error (http reports a refused connection so)."""
    cause = e.__cause__ or e.__context__
    return f" (why: {type(cause).__name__}: {' '.join(str(cause).split())})" if cause is not None else ""


def _remote_error(uri: str, action: str, e: Exception) -> CheckpointError:
    return CheckpointError(f"{uri}: cannot {action} ({type(e).__name__}: {' '.join(str(e).split())})")


def location_exists(where: Location | str) -> bool:
    """Whether a file (or folder) exists at a path or URI."""
    where = location(where)
    if isinstance(where, Path):
        return where.exists()
    fs, path = _remote(where)
    try:
        return bool(fs.exists(path))
    except Exception as e:
        raise _remote_error(where, "check whether it exists", e) from None


def _read_bytes(where: str) -> bytes:
    """The whole content of a remote file."""
    fs, path = _remote(where)
    try:
        return fs.cat_file(path)
    except FileNotFoundError as e:
        raise CheckpointError(f"{where}: no such file{_cause(e)}") from None
    except Exception as e:
        raise _remote_error(where, "be read", e) from None


def _list_folder(where: Location) -> list[tuple[str, bool]]:
    """(name, is a folder) of each entry of a folder; [] for a folder that does not exist."""
    if isinstance(where, Path):
        return [(p.name, p.is_dir()) for p in where.iterdir()] if where.is_dir() else []
    fs, path = _remote(where)
    try:
        entries = fs.ls(path, detail=True)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except Exception as e:
        raise _remote_error(where, "be listed", e) from None
    own, out = path.rstrip("/"), []
    quoted = uri_scheme(where) in READ_ONLY_SCHEMES  # http(s) listings give URL-quoted links
    for entry in entries:
        full = str(entry.get("name", "")).rstrip("/")
        name = unquote(full.rsplit("/", 1)[-1]) if quoted else full.rsplit("/", 1)[-1]
        if name and full != own:  # some stores list a folder's own marker object
            out.append((name, entry.get("type") == "directory"))
    return out


def list_checkpoints(directory: Location | str) -> list[Location]:
    """The <run>:v<N>.safetensors files of a checkpoint folder (or of its run folder's checkpoints/), by version."""
    directory = location(directory)
    entries = _list_folder(directory)
    if ("checkpoints", True) in entries:
        directory = join_location(directory, "checkpoints")
        entries = _list_folder(directory)
    found = sorted((parse_checkpoint_name(n)[1], n) for n, is_dir in entries if not is_dir and _NAME.match(n))
    return [join_location(directory, n) for _, n in found]


def latest_checkpoint(directory: Location | str) -> Location | None:
    """The highest-version <run>:v<N>.safetensors in a checkpoint directory (or its run directory), or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def _remote_is_file(where: str) -> bool:
    """Whether a remote URI names a file: by its name (<run>:v<N>.safetensors) for http(s), whose listing pages also
    read as files, else by asking the store."""
    if _NAME.match(_name(where)):
        return True
    if uri_scheme(where) in READ_ONLY_SCHEMES:
        return False
    fs, path = _remote(where)
    try:
        return bool(fs.isfile(path))
    except Exception as e:
        raise _remote_error(where, "be looked up", e) from None


def resolve_uri(uri: str | Path) -> Location:
    """The checkpoint file a URI names (a Path, or the URI of a remote one); a folder URI means its latest checkpoint."""
    where = location(uri)
    if isinstance(where, str):
        if _remote_is_file(where):
            return where
        latest = latest_checkpoint(where)
        if latest is None:
            raise CheckpointError(f"{where}: no such checkpoint file, or a folder that holds no "
                                  "<run>:v<N>.safetensors checkpoints")
        return latest
    path = where
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"{path}: directory holds no <run>:v<N>.safetensors checkpoints")
        return latest
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file or directory (from URI {str(uri)!r})")
    return path


# ------------------------------------------------------------------ atomic writes


def _umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it back is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Location | str, write: Callable[[str], None]) -> None:
    """Writes through a temporary file `.<name>.<random>.tmp` in the same directory, gives it the mode a plain
    open() would (0o666 less the umask; mkstemp makes 0o600), then os.replace: readers never see a partial file.
    A remote location: `write` fills a local temporary file, which is uploaded as the temporary object
    `.<name>.<random>.tmp` in the same folder and then moved over the final name; a failure is an OSError naming
    the URI, and leaves the final object as it was."""
    path = location(path)
    if isinstance(path, str):
        _remote_atomic_write(path, write)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remote_atomic_write(uri: str, write: Callable[[str], None]) -> None:
    fs, path = _remote(uri, write=True)
    parent, name = path.rstrip("/").rsplit("/", 1) if "/" in path.rstrip("/") else ("", path)
    tmp = f"{parent}/.{name}.{secrets.token_hex(6)}.tmp"
    with tempfile.TemporaryDirectory(prefix="checkpoint-upload-") as folder:
        local = os.path.join(folder, name)
        write(local)
        try:
            fs.put_file(local, tmp)
            fs.mv(tmp, path)
        except BaseException as e:
            try:
                if fs.exists(tmp):
                    fs.rm_file(tmp)
            except Exception:
                pass  # remove_stale_temp_files deletes it when the next run starts
            if isinstance(e, Exception) and not isinstance(e, OSError):
                raise OSError(f"{uri}: the write failed ({type(e).__name__}: {' '.join(str(e).split())})") from e
            raise


def remove_stale_temp_files(directory: Location | str, before: float | None = None) -> list[Location]:
    """Deletes the temporary files `.<run>:v<N>.safetensors.<random>.tmp` / `.trainer_state.pt.<random>.tmp` that a
    killed checkpoint write left in `directory` (a path or a writable URI), if last modified before `before` (a
    time.time(); default now); other files are never touched. Returns those removed. `train` calls it on the run's
    checkpoint directory when a run starts (or resumes)."""
    directory = location(directory)
    before = time.time() if before is None else before
    if isinstance(directory, str):
        return _remove_stale_remote(directory, before)
    removed: list[Location] = []
    if not directory.is_dir():
        return removed
    for p in directory.iterdir():
        try:
            if _TEMP.match(p.name) and p.is_file() and not p.is_symlink() and p.stat().st_mtime < before:
                p.unlink()
                removed.append(p)
        except FileNotFoundError:
            pass  # gone already
    return removed


def _remove_stale_remote(directory: str, before: float) -> list[Location]:
    """remove_stale_temp_files of a remote folder, by the store's modification times (a store that has none keeps
    its temporary objects)."""
    fs, _ = _remote(directory, write=True)
    removed: list[Location] = []
    for name, is_dir in _list_folder(directory):
        if is_dir or not _TEMP.match(name):
            continue
        uri = join_location(directory, name)
        path = _remote(str(uri))[1]
        try:
            if fs.modified(path).timestamp() < before:
                fs.rm_file(path)
                removed.append(uri)
        except (FileNotFoundError, NotImplementedError):
            pass  # gone already, or no modification time to judge by
        except Exception as e:
            raise _remote_error(str(uri), "be removed", e) from None
    return removed


# ------------------------------------------------------------------ policy files


def content_hash(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the metadata entries (by key, all but `content_sha256` itself) and then each tensor's name,
    dtype, shape and bytes, in name order: what a policy file stores as `content_sha256` and is checked against."""
    h = hashlib.sha256()
    for key in sorted(metadata):
        if key != HASH_KEY:
            h.update(json.dumps(["meta", key, metadata[key]]).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(json.dumps(["tensor", name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def save_checkpoint(agent: nn.Module, checkpoint_dir: Location | str, epoch: int, agent_step: int = 0,
                    run: str = "policy", optimizer: Any = None, trainer_state: dict[str, Any] | None = None,
                    keep_last: int | None = None, losses: dict[str, Any] | None = None) -> Location:
    """Writes <checkpoint_dir>/<run>:v<epoch>.safetensors (weights + spec metadata + content hash); with an
    optimizer, also trainer_state.pt (with the weights of `losses` that have parameters). `checkpoint_dir` is a
    path or a writable URI (file://, memory://, s3://, gs://); `run` must be a valid run name (trainer.names); an
    OSError (e.g. a full disk) leaves the files that were there as they were."""
    policy = unwrap(agent)
    spec: PolicySpec = policy.spec
    check_run_name(run)
    checkpoint_dir = location(checkpoint_dir)
    if isinstance(checkpoint_dir, str):
        _remote(checkpoint_dir, write=True)  # a read-only scheme or a missing package: before anything is written
    name = f"{run}:v{int(epoch)}.safetensors"
    path = path_inside(checkpoint_dir, name) if isinstance(checkpoint_dir, Path) else join_location(checkpoint_dir, name)
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
    metadata[HASH_KEY] = content_hash(metadata, tensors)
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    if optimizer is not None:
        save_trainer_state(join_location(checkpoint_dir, TRAINER_STATE_FILE), optimizer, epoch, agent_step, name,
                           extra=trainer_state, losses=losses)
    if keep_last is not None:
        versions = sorted((parse_checkpoint_name(n)[1], n) for n, is_dir in _list_folder(checkpoint_dir)
                          if not is_dir and _NAME.match(n) and parse_checkpoint_name(n)[0] == run)
        for _, old in versions[:-keep_last]:
            _remove(join_location(checkpoint_dir, old))
    return path


def _remove(where: Location) -> None:
    """Deletes a file (missing is fine)."""
    if isinstance(where, Path):
        where.unlink(missing_ok=True)
        return
    fs, path = _remote(where, write=True)
    try:
        fs.rm_file(path)
    except FileNotFoundError:
        pass
    except Exception as e:
        raise OSError(f"{where}: cannot delete it ({type(e).__name__}: {e})") from e


MAX_TOKENS = 65536
"""The most observation tokens a checkpoint's observation spec may name."""
MAX_ACTIONS = 65536
"""The most actions a checkpoint's action spec may name."""
MAX_LAYERS = 256
"""Layer counts of a checkpoint's architecture may exceed its number of weights up to this (fields the
architecture does not use); used ones cannot."""


class _MetaModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _ObservationSpec(_MetaModel):
    shape: tuple[Annotated[int, Field(ge=1, le=MAX_TOKENS)], Literal[3]]
    window: tuple[Annotated[int, Field(ge=1, le=16)], Annotated[int, Field(ge=1, le=16)]]  # location nibbles
    global_features: list[str] | None = None


class _ActionSpec(_MetaModel):
    n: int = Field(ge=1, le=MAX_ACTIONS)
    names: list[str] | None = None

    @model_validator(mode="after")
    def _names_match(self) -> "_ActionSpec":
        if self.names is not None and len(self.names) != self.n:
            raise ValueError(f"{len(self.names)} action names for n = {self.n} actions")
        return self


class _Feature(_MetaModel):
    id: int = Field(ge=0, le=255)  # a byte of the token
    normalization: float = Field(gt=0, allow_inf_nan=False)


class _PolicyMetadata(_MetaModel):
    """The decoded metadata of a policy file, with the types and bounds a policy can be built from."""

    architecture: AgentModelConfig
    observation_spec: _ObservationSpec
    action_spec: _ActionSpec
    feature_spec: Annotated[dict[str, _Feature], Field(min_length=1, max_length=256)]
    run: str
    epoch: int = Field(ge=0)
    agent_step: int = Field(ge=0)

    @model_validator(mode="after")
    def _known_global_features(self) -> "_PolicyMetadata":
        unknown = [n for n in self.observation_spec.global_features or [] if n not in self.feature_spec]
        if unknown:
            raise ValueError(f"observation_spec.global_features {unknown} are not in the feature_spec")
        return self


def _validation_message(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "metadata"
        value = repr(e.get("input"))
        parts.append(f"{loc}: {e['msg']} (got {value if len(value) <= 80 else value[:80] + '...'})")
    return "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")


MAX_REMOTE_HEADER = 16 * 2**20
"""The largest safetensors header (bytes) read from a remote policy file; policy headers are a few kilobytes."""


def _read_remote_header(uri: str) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """_read_header of a remote file: its first 8 bytes (the header's length) and the header, nothing more."""
    fs, path = _remote(uri)
    bad = f"{uri}: not a readable safetensors file"
    try:
        with fs.open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{bad} (it has {len(head)} bytes)")
            size = int.from_bytes(head, "little")
            if size > MAX_REMOTE_HEADER:
                raise CheckpointError(f"{bad} (its header would be {size:,} bytes; at most {MAX_REMOTE_HEADER:,})")
            text = f.read(size)
    except CheckpointError:
        raise
    except FileNotFoundError as e:
        raise CheckpointError(f"{uri}: no such checkpoint file{_cause(e)}") from None
    except Exception as e:
        raise _remote_error(uri, "be read", e) from None
    try:
        header = json.loads(text)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        raw = header.pop("__metadata__", None) or {}
        if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            raise ValueError("__metadata__ is not a map of strings")
        shapes = {}
        for name, entry in header.items():
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError(f"tensor {name!r} has no shape of integers >= 0")
            shapes[name] = tuple(shape)
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{bad} (header: {' '.join(str(e).split())})") from None
    return raw, shapes


def _read_header(path: Location) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The raw metadata and the weight shapes of a safetensors file, from its header alone (no weights read)."""
    if isinstance(path, str):
        return _read_remote_header(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            shapes = {k: tuple(int(d) for d in f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # safetensors errors, OSError, ...: all mean the same to the caller
        raise CheckpointError(f"{path}: not a readable safetensors file ({' '.join(str(e).split())})") from None
    return raw, shapes


def _decode_metadata(path: Location, raw: dict[str, str]) -> tuple[dict[str, Any], PolicySpec]:
    """The decoded metadata (JSON values as written, plus path and content_sha256) and the policy spec it gives."""
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a metta-gridworld policy checkpoint "
                              f"(metadata format is {raw.get('format')!r}, expected {FORMAT!r})")
    damaged = f"{path}: checkpoint metadata is damaged or incomplete"
    missing = [k for k in ("architecture", "observation_spec", "action_spec", "feature_spec", "run", "epoch",
                           "agent_step") if k not in raw]
    if missing:
        raise CheckpointError(f"{damaged}: it lacks {missing}")
    # Every key a checkpoint may hold is known: an unknown one (e.g. a flipped bit in the hash's own key name,
    # which would otherwise read as an older file without a hash) means the header was damaged.
    unknown = sorted(set(raw) - {"format", "architecture", "observation_spec", "action_spec", "feature_spec", "run",
                                 "epoch", "agent_step", HASH_KEY})
    if unknown:
        raise CheckpointError(f"{damaged}: unknown metadata keys {unknown}")
    meta: dict[str, Any] = {}
    for key in ("architecture", "observation_spec", "action_spec", "feature_spec"):
        try:
            meta[key] = json.loads(raw[key])
        except ValueError as e:
            raise CheckpointError(f"{damaged}: {key} is not JSON ({e})") from None
    try:
        checked = _PolicyMetadata.model_validate({**meta, "run": raw["run"], "epoch": raw["epoch"],
                                                  "agent_step": raw["agent_step"]})
    except ValidationError as e:
        raise CheckpointError(f"{damaged}: {_validation_message(e)}") from None
    meta.update(run=checked.run, epoch=checked.epoch, agent_step=checked.agent_step, path=str(path),
                content_sha256=raw.get(HASH_KEY))
    spec = PolicySpec(
        config=checked.architecture,
        obs_shape=checked.observation_spec.shape,
        obs_window=checked.observation_spec.window,
        num_actions=checked.action_spec.n,
        feature_spec={k: {"id": f.id, "normalization": f.normalization} for k, f in checked.feature_spec.items()},
        action_names=checked.action_spec.names,
        global_features=checked.observation_spec.global_features,
    )
    return meta, spec


def _read(uri: str | Path) -> tuple[Location, dict[str, str], dict[str, tuple[int, ...]], dict[str, Any], PolicySpec]:
    """(path, raw metadata, weight shapes, decoded metadata, policy spec) of a checkpoint URI, from the header."""
    path = resolve_uri(uri)
    raw, shapes = _read_header(path)
    meta, spec = _decode_metadata(path, raw)
    return path, raw, shapes, meta, spec


def read_checkpoint_metadata(uri: str | Path) -> dict[str, Any]:
    """The decoded, type-checked metadata of a policy checkpoint: architecture, observation/action/feature spec, run,
    epoch, agent_step, path and content_sha256 (None in files written before hashes)."""
    return _read(uri)[3]


def _check_against_weights(path: Location, spec: PolicySpec, shapes: dict[str, tuple[int, ...]]) -> None:
    """Checks the metadata against the weight shapes in the file before any policy is allocated: the policy it
    describes is built on the meta device (shapes only, no memory; layer counts bounded first, as each layer is
    Python objects even there) and must have exactly the file's weight names and shapes. So hidden_dim=1e9 over
    small weights is refused without allocating anything."""
    if not shapes:
        raise CheckpointError(f"{path}: the file holds no weights")
    ints = {k: v for k, v in spec.config.model_dump().items() if isinstance(v, int) and not isinstance(v, bool)}
    layer_bound = max(len(shapes), MAX_LAYERS)
    for name, value in ints.items():
        if name.endswith("_layers") and value > layer_bound:
            raise CheckpointError(f"{path}: metadata architecture {name} = {value} is more than the file's "
                                  f"{len(shapes)} weights (or {MAX_LAYERS}) allow; the metadata does not describe "
                                  "these weights")
    largest = max((d for s in shapes.values() for d in s), default=0)
    too_big = [f"{k} = {v}" for k, v in {**ints, "action_spec n": spec.num_actions}.items()
               if not k.endswith("_layers") and v > largest]
    hint = (f"; the metadata's {', '.join(too_big)}: more than any weight dimension in the file (the largest is "
            f"{largest})") if too_big else ""
    try:
        with torch.device("meta"):
            skeleton = build_policy(spec)
    except Exception as e:
        raise CheckpointError(f"{path}: the metadata describes a policy that cannot be built "
                              f"({type(e).__name__}: {' '.join(str(e).split())}){hint}") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    arch = f"the metadata's architecture ({', '.join(f'{k}={v}' for k, v in spec.config.model_dump().items())})"
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: the weights do not match {arch} (missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}){hint}")
    for k, shape in expected.items():
        if shapes[k] != shape:
            raise CheckpointError(f"{path}: weight {k!r} has shape {shapes[k]} in the file, {arch} needs "
                                  f"{shape}{hint}")


def _load_tensors(path: Location, raw: dict[str, str]) -> dict[str, torch.Tensor]:
    """The weights of a policy file, checked against its content hash when it has one."""
    try:
        tensors = load_file(str(path)) if isinstance(path, Path) else load_bytes(_read_bytes(path))
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read the weights ({' '.join(str(e).split())})") from None
    stored = raw.get(HASH_KEY)
    if stored is not None:  # files written before hashes have none, and load unchecked
        actual = content_hash(raw, tensors)
        if actual != stored:
            raise CheckpointError(f"{path}: content hash mismatch (stored {stored[:16]}..., computed "
                                  f"{actual[:16]}...): the file changed or was damaged after it was written; "
                                  "use another checkpoint")
    return tensors


def _load_weights(policy: Policy, tensors: dict[str, torch.Tensor], path: Location) -> None:
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
        if v.dtype != expected[k].dtype:
            raise CheckpointError(f"{path}: weight {k!r} has dtype {v.dtype}, the policy expects {expected[k].dtype}")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"{path}: weight {k!r} holds NaN or infinite values (the run diverged, or the "
                                  "file is damaged)")
    policy.load_state_dict(tensors)


def load_policy(uri: str | Path, device: torch.device | str = "cpu") -> Policy:
    """Rebuilds a policy from a checkpoint URI alone (a directory URI: its latest); metadata in .checkpoint_metadata.
    The metadata is checked against the file's weights before the policy is built, and the content hash on load."""
    path, raw, shapes, meta, spec = _read(uri)
    _check_against_weights(path, spec, shapes)
    tensors = _load_tensors(path, raw)
    try:
        policy = build_policy(spec)
    except Exception as e:
        raise CheckpointError(f"{path}: checkpoint spec cannot be used ({type(e).__name__}: {e})") from None
    _load_weights(policy, tensors, path)
    policy.checkpoint_metadata = meta  # type: ignore[assignment]
    return policy.to(device)


def load_checkpoint(agent: nn.Module, uri: str | Path, optimizer: Any = None) -> dict[str, Any]:
    """Loads checkpoint weights into an existing policy of the same spec (and trainer_state.pt into optimizer); returns metadata."""
    policy = unwrap(agent)
    path, raw, _, meta, saved = _read(uri)
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
        raise CheckpointMismatchError(f"{path}: does not fit this policy: {'; '.join(problems)}")
    _load_weights(policy, _load_tensors(path, raw), path)
    if optimizer is not None:
        state = load_trainer_state(join_location(_parent(path), TRAINER_STATE_FILE))
        load_optimizer_state(optimizer, state, join_location(_parent(path), TRAINER_STATE_FILE))
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


def restore_rng_state(state: dict[str, Any], path: str | Path | None = None) -> None:
    """Restores the torch, numpy and python RNG states saved in trainer state (read from `path`, named in the
    CheckpointError a damaged state raises)."""
    try:
        torch.set_rng_state(state["torch"])
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
        random.setstate(state["python"])
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
    except Exception as e:
        where = f"{path}: " if path is not None else ""
        raise CheckpointError(f"{where}the RNG state in the trainer state is damaged ({type(e).__name__}: "
                              f"{e})") from None


def save_trainer_state(path: str | Path, optimizer: Any, epoch: int, agent_step: int, policy_file: str,
                       extra: dict[str, Any] | None = None, losses: dict[str, Any] | None = None) -> None:
    """Writes optimizer state, epoch, agent steps, the policy file name and RNG states atomically with torch.save;
    with `losses` (name -> Loss), also the weights of those that are nn.Modules (their heads), under "losses"."""
    weights = {name: {k: v.detach().to("cpu") for k, v in loss.state_dict().items()}
               for name, loss in (losses or {}).items() if isinstance(loss, nn.Module)}
    state = {"format": STATE_FORMAT, "epoch": int(epoch), "agent_step": int(agent_step), "policy_file": policy_file,
             "optimizer": optimizer.state_dict(), "rng": _rng_state(), "extra": extra or {}, "losses": weights}
    _atomic_write(location(path), lambda tmp: torch.save(state, tmp))


def load_trainer_state(path: str | Path, losses: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reads trainer_state.pt; a damaged or foreign file raises CheckpointError naming it. With `losses` (name ->
    Loss), the saved weights of those that are nn.Modules are loaded into them (load_loss_state)."""
    path = location(path)
    if not location_exists(path):
        raise CheckpointError(f"{path}: no trainer state file")
    try:
        state = torch.load(path if isinstance(path, Path) else io.BytesIO(_read_bytes(path)), map_location="cpu",
                           weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read trainer state ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a metta-gridworld trainer state (expected format {STATE_FORMAT!r})")
    missing = [k for k in ("epoch", "agent_step", "policy_file", "optimizer", "rng") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: trainer state lacks {missing}")
    problems = [f"{k} is {state[k]!r}, expected an integer >= 0" for k in ("epoch", "agent_step")
                if not isinstance(state[k], int) or isinstance(state[k], bool) or state[k] < 0]
    policy_file = state["policy_file"]
    if not isinstance(policy_file, str) or "/" in policy_file or "\\" in policy_file or not _NAME.match(policy_file):
        problems.append(f"policy_file is {policy_file!r}, expected the name <run>:v<N>.safetensors of a file next "
                        "to it")
    problems += [f"{k} is a {type(state[k]).__name__}, expected a dict" for k in ("optimizer", "rng", "losses")
                 if k in state and not isinstance(state[k], dict)]
    if problems:
        raise CheckpointError(f"{path}: trainer state is damaged: {'; '.join(problems)}")
    if losses is not None:
        load_loss_state(losses, state, path)
    return state


def load_loss_state(losses: dict[str, Any], state: dict[str, Any], path: str | Path) -> None:
    """Loads the saved weights of the losses that are nn.Modules (a trainer state read from `path`); a loss with
    parameters that the state lacks, saved weights of a loss not given, or weights that do not fit are a
    CheckpointError naming the file and the loss (resuming with other losses than the run was trained with)."""
    saved = state.get("losses") or {}
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: trainer state is damaged: losses is a {type(saved).__name__}, expected a dict")
    modules = {name: loss for name, loss in losses.items() if isinstance(loss, nn.Module)}
    lacking = sorted(name for name, loss in modules.items() if name not in saved and loss.state_dict())
    extra = sorted(set(saved) - set(modules))
    if lacking or extra:
        parts = [f"holds no weights for the losses {lacking} (the run was trained without them)"] * bool(lacking)
        parts += [f"holds weights of the losses {extra}, which this config lacks"] * bool(extra)
        raise CheckpointError(f"{path}: the trainer state {' and '.join(parts)}; resume with the losses the run was "
                              "trained with (its config.yaml), or start a new run=<name>")
    for name, loss in modules.items():
        weights = saved.get(name, {})
        if not isinstance(weights, dict):
            raise CheckpointError(f"{path}: trainer state is damaged: the weights of loss {name!r} are a "
                                  f"{type(weights).__name__}, expected a dict")
        bad = [k for k, v in weights.items() if not torch.is_tensor(v)
               or (v.is_floating_point() and not bool(torch.isfinite(v).all()))]
        if bad:
            raise CheckpointError(f"{path}: the saved weights {bad[:5]} of loss {name!r} are not finite tensors")
        try:
            loss.load_state_dict(weights)
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{path}: the saved weights of loss {name!r} do not fit it "
                                  f"({' '.join(str(e).split())})") from None


def load_optimizer_state(optimizer: Any, state: dict[str, Any], path: str | Path) -> None:
    """Loads the optimizer part of a trainer state (read from `path`), with errors naming the file."""
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: optimizer state does not fit this optimizer ({e})") from None

"""Device choice and multi-process training under torchrun (DistributedDataParallel; NCCL on GPUs, gloo on CPU)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

if TYPE_CHECKING:
    from trainer.policies import Policy

__all__ = [
    "DistInfo",
    "StopOnInterrupt",
    "any_rank",
    "cleanup_distributed",
    "resolve_device",
    "setup_distributed",
    "unwrap",
    "wrap_distributed",
]


@dataclass
class DistInfo:
    """This process's place in the job: rank, world size, local rank and training device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_master(self) -> bool:
        """Rank 0 writes logs and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; other names are checked (cuda without a GPU is an error)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"device = {name!r} is not a torch device ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device = {name!r} but CUDA is not available (use device=cpu or device=auto)")
    return device


def setup_distributed(device: str = "auto") -> DistInfo:
    """Joins the torchrun process group when WORLD_SIZE > 1; each rank gets cuda:<LOCAL_RANK> on GPUs."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if world_size > 1:
        if dev.type == "cuda":
            dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, dev)


def wrap_distributed(policy: nn.Module, info: DistInfo) -> nn.Module:
    """The policy wrapped in DistributedDataParallel when several processes train (it averages gradients)."""
    if not info.distributed:
        return policy
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(policy, device_ids=ids)


def unwrap(policy: nn.Module) -> Policy:
    """The Policy inside a DistributedDataParallel wrapper (or the policy itself)."""
    return getattr(policy, "module", policy)  # type: ignore[return-value]


def cleanup_distributed() -> None:
    """Leaves the process group, if one was joined, once every rank has arrived and the DDP wrappers are gone."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # a DDP reducer left for interpreter shutdown would tear the group down too late
        dist.barrier()
        dist.destroy_process_group()


class StopOnInterrupt:
    """While active, a first Ctrl-C (SIGINT) only sets `requested`; a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: object = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\ninterrupt: stopping after this epoch and saving a checkpoint (Ctrl-C again to abort)\n")

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False


def any_rank(flag: bool, info: DistInfo) -> bool:
    """Whether `flag` is set on any rank (every rank gets the same answer, so all stop together)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)

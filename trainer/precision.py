"""Mixed precision for the policy's forward passes: `float32` (the default) or `bfloat16` autocast.

bfloat16 keeps float32's exponent range, so no loss scaling is needed; parameters, optimizer state, advantages and
the loss reductions stay float32 (autocast runs matmuls, convolutions and the LSTM in bfloat16, softmax and
reductions in float32). On CUDA it roughly halves the policy's memory traffic; on a CPU it is mostly slower and is
there so that the same path is tested without a GPU.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

__all__ = ["PRECISIONS", "Precision", "autocast", "check_precision"]

Precision = Literal["float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")


def check_precision(precision: str, device: torch.device | str) -> None:
    """ValueError for an unknown precision, or bfloat16 on a CUDA device that does not support it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision = {precision!r}; expected one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision = 'bfloat16' but {torch.cuda.get_device_name(device)} does not support "
                         "bfloat16; use precision=float32")


def autocast(device: torch.device | str, precision: str = "float32") -> contextlib.AbstractContextManager:
    """The autocast context of `precision` on `device`'s type (a no-op context for float32)."""
    if precision == "float32":
        return contextlib.nullcontext()
    check_precision(precision, device)
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)

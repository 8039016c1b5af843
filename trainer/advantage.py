"""Advantage estimation for the PPO trainer: GAE with V-trace clipping of the importance ratios.

All tensors are shaped ``(num_segments, horizon)``: each row is ``horizon`` consecutive steps of one
environment/agent segment, in the layout of PufferLib's ``compute_puff_advantage``:

* ``values[:, t]`` is the value estimate V(obs_t) recorded at step t;
* ``rewards[:, t]`` and ``dones[:, t]`` are what the environment returned *together with* obs_t, so they
  belong to the transition (t-1 -> t). The transition taken from step t therefore has reward
  ``rewards[:, t+1]``, and ``dones[:, t+1] == 1`` (dones are 0/1) means that transition ended the episode:
  obs_{t+1} is the first observation of the next episode, ``values[:, t+1]`` is not bootstrapped from, and
  the trace is cut.
  ``rewards[:, 0]`` and ``dones[:, 0]`` are never read (they belong to a transition before the segment);
* ``importance[:, t] = exp(new_logprob_t - old_logprob_t)`` is the ratio of the action taken at step t
  (all ones gives plain GAE when the clips are >= 1).

With rho_t = min(importance_t, rho_clip), c_t = min(importance_t, c_clip), n_{t+1} = 1 - dones[t+1]:

    delta_t = rho_t * (rewards[t+1] + gamma * values[t+1] * n_{t+1} - values[t])
    A_t     = delta_t + gamma * gae_lambda * c_t * n_{t+1} * A_{t+1}          for t = horizon-2 .. 0
    A_{horizon-1} = 0   (no successor inside the segment; bootstrapping happens through values[horizon-1])

In textbook notation (r_t, d_t belonging to transition t, bootstrap value V_T) this is GAE over
T = horizon - 1 steps with r_t = rewards[t+1], d_t = dones[t+1] and V_T = values[horizon-1].
NaNs in ``importance`` propagate (like ``torch.clamp``). The result is not differentiable.

``compute_advantage`` dispatches by device: the CUDA kernel for CUDA tensors (when it was compiled and can
run on that GPU with the installed driver), the C++ kernel for CPU tensors, and the plain PyTorch reference
(``compute_advantage_reference``, which runs on any device) otherwise or when ``backend="torch"``.
"""

from __future__ import annotations

import functools
from typing import Literal

import torch

try:
    from trainer import _kernels
except ImportError:  # the native module was not built; everything falls back to the torch reference
    _kernels = None

__all__ = [
    "Backend",
    "compute_advantage",
    "compute_advantage_reference",
    "cpp_kernel_available",
    "cuda_kernel_available",
]

Backend = Literal["auto", "cpp", "cuda", "torch"]
_BACKENDS = ("auto", "cpp", "cuda", "torch")
_INPUT_NAMES = ("values", "rewards", "dones", "importance")


def cpp_kernel_available() -> bool:
    """Whether the compiled C++ (CPU) advantage kernel can be used."""
    return _kernels is not None


@functools.lru_cache(maxsize=None)
def _cuda_status(kernels: object, device_index: int) -> str:
    """Why the compiled CUDA kernel of `kernels` cannot run on a device ('' when it can); cached."""
    if not kernels.cuda_kernel_compiled():  # type: ignore[attr-defined]
        return "the CUDA advantage kernel was not compiled into trainer._kernels"
    return kernels.cuda_status(device_index)  # type: ignore[attr-defined]


def _cuda_index(device: torch.device | str | int | None) -> int:
    """The CUDA device index of `device` (the current device when None or without an index)."""
    if isinstance(device, int):
        return device
    index = None if device is None else torch.device(device).index
    return torch.cuda.current_device() if index is None else index


def cuda_kernel_available(device: torch.device | str | int | None = None) -> bool:
    """Whether the compiled CUDA advantage kernel can run on `device` (default: the current CUDA device)."""
    if _kernels is None or not torch.cuda.is_available():
        return False
    return _cuda_status(_kernels, _cuda_index(device)) == ""


def _check_tensors(
    tensors: dict[str, torch.Tensor], advantages: torch.Tensor | None, float32_only: bool
) -> None:
    """Raises ValueError unless all tensors are same-shape, same-dtype, same-device, contiguous 2-D floats."""
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    values = tensors["values"]
    if values.dim() != 2:
        raise ValueError(f"values must be 2-D (num_segments, horizon), got shape {tuple(values.shape)}")
    if float32_only and values.dtype != torch.float32:
        raise ValueError(f"values must be float32, got {values.dtype}")
    if not values.dtype.is_floating_point:
        raise ValueError(f"values must be a floating-point tensor, got {values.dtype}")
    for name, tensor in tensors.items():
        if tensor.shape != values.shape:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)}, expected {tuple(values.shape)} (the shape of values)"
            )
        if tensor.dtype != values.dtype:
            raise ValueError(f"{name} must be {values.dtype} like values, got {tensor.dtype} (convert with .to())")
        if tensor.device != values.device:
            raise ValueError(f"{name} is on {tensor.device}, but values is on {values.device}")
        if not tensor.is_contiguous():
            raise ValueError(f"{name} must be contiguous (call .contiguous())")
    if advantages is not None:
        for name in _INPUT_NAMES:
            if _overlaps(advantages, tensors[name]):
                raise ValueError(f"advantages must not share memory with {name}")


def _overlaps(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two contiguous tensors on the same device share any memory (never for meta tensors)."""
    if a.device.type == "meta" or a.numel() == 0 or b.numel() == 0:
        return False
    a_start, b_start = a.data_ptr(), b.data_ptr()
    return a_start < b_start + b.numel() * b.element_size() and b_start < a_start + a.numel() * a.element_size()


def _prepare(
    values: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    importance: torch.Tensor,
    advantages: torch.Tensor | None,
    float32_only: bool,
) -> torch.Tensor:
    """Validates the arguments and returns the output tensor (allocated when `advantages` is None)."""
    tensors = {"values": values, "rewards": rewards, "dones": dones, "importance": importance}
    if advantages is not None:
        tensors["advantages"] = advantages
    _check_tensors(tensors, advantages, float32_only)
    return torch.empty_like(values) if advantages is None else advantages


def compute_advantage_reference(
    values: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    importance: torch.Tensor,
    gamma: float,
    gae_lambda: float,
    rho_clip: float,
    c_clip: float,
    advantages: torch.Tensor | None = None,
) -> torch.Tensor:
    """GAE with V-trace clipping in plain PyTorch, any float dtype and device (see the module docstring)."""
    advantages = _prepare(values, rewards, dones, importance, advantages, float32_only=False)
    horizon = values.shape[1]
    with torch.no_grad():
        if horizon == 0:
            return advantages
        rho = importance[:, :-1].clamp(max=rho_clip)
        c = importance[:, :-1].clamp(max=c_clip)
        nextnonterminal = 1.0 - dones[:, 1:]
        delta = rho * (rewards[:, 1:] + gamma * values[:, 1:] * nextnonterminal - values[:, :-1])
        trace = gamma * gae_lambda * c * nextnonterminal
        advantages[:, -1] = 0.0
        lastgae = torch.zeros_like(values[:, 0])
        for t in range(horizon - 2, -1, -1):
            lastgae = delta[:, t] + trace[:, t] * lastgae
            advantages[:, t] = lastgae
    return advantages


def compute_advantage(
    values: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    importance: torch.Tensor,
    gamma: float,
    gae_lambda: float,
    rho_clip: float,
    c_clip: float,
    advantages: torch.Tensor | None = None,
    backend: Backend = "auto",
) -> torch.Tensor:
    """GAE with V-trace clipping on float32 (num_segments, horizon) tensors, dispatched by device (see module doc)."""
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    advantages = _prepare(values, rewards, dones, importance, advantages, float32_only=True)
    device = values.device
    if backend == "auto":
        if device.type == "cpu" and cpp_kernel_available():
            backend = "cpp"
        elif device.type == "cuda" and cuda_kernel_available(device):
            backend = "cuda"
        else:
            backend = "torch"

    args = (float(gamma), float(gae_lambda), float(rho_clip), float(c_clip))
    if backend == "torch":
        return compute_advantage_reference(values, rewards, dones, importance, *args, advantages=advantages)

    needed = "cpu" if backend == "cpp" else "cuda"
    if device.type != needed:
        raise ValueError(f"backend={backend!r} needs {needed} tensors, got tensors on {device}")
    if backend == "cpp" and not cpp_kernel_available():
        raise RuntimeError("backend='cpp' requested but trainer._kernels is not built")
    if backend == "cuda" and not cuda_kernel_available(device):
        reason = "trainer._kernels is not built" if _kernels is None else _cuda_status(_kernels, _cuda_index(device))
        raise RuntimeError(f"backend='cuda' requested but the CUDA kernel cannot run on {device}: {reason}")
    if values.numel() == 0:
        return advantages

    # DLPack export refuses tensors that require grad; detached views share memory with the originals.
    inputs = [t.detach() for t in (values, rewards, dones, importance)]
    out = advantages.detach()
    if backend == "cpp":
        _kernels.advantage_cpu(*inputs, out, *args)
    else:
        stream = torch.cuda.current_stream(device).cuda_stream
        _kernels.advantage_cuda(*inputs, out, *args, stream=stream)
    return advantages

"""Tests of trainer.advantage: the C++ and CUDA kernels against the PyTorch reference and hand-computed GAE."""

from __future__ import annotations

import pytest
import torch

import trainer.advantage as adv_mod
from trainer.advantage import (
    compute_advantage,
    compute_advantage_reference,
    cpp_kernel_available,
    cuda_kernel_available,
)

GAMMA, GAE_LAMBDA = 0.99, 0.95

# Tolerances. The C++ kernel performs the same float32 operations as the float32 torch reference
# (nextnonterminal is 0 or 1, so the different grouping of the trace product is exact), so the two
# agree to rounding: 1e-6. Against a float64 reference computed from the same (exactly upcast)
# float32 inputs the only difference is float32 rounding in the kernel: about 6 roundings per step
# (eps = 6e-8) accumulated over up to 63 discounted steps bounds the relative error by ~2e-5 in the
# worst case; in practice it is below 1e-6 * (1 + |A|). We use rtol = atol = 1e-5.
F32_TOL = dict(rtol=1e-6, atol=1e-6)
F64_TOL = dict(rtol=1e-5, atol=1e-5)


def make_batch(
    segments: int, horizon: int, seed: int, done_prob: float = 0.05, log_ratio_std: float = 0.3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded random float32 (values, rewards, dones, importance)."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(segments, horizon, generator=gen)
    rewards = torch.randn(segments, horizon, generator=gen)
    dones = (torch.rand(segments, horizon, generator=gen) < done_prob).float()
    importance = torch.exp(log_ratio_std * torch.randn(segments, horizon, generator=gen))
    return values, rewards, dones, importance


def f64(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Exact float64 copies."""
    return [t.double() for t in tensors]


def textbook_gae(
    rewards: list[float], values: list[float], dones: list[float], last_value: float, gamma: float, lam: float
) -> list[float]:
    """Textbook GAE: r_t, d_t belong to transition t (s_t -> s_{t+1}), V(s_T) = last_value."""
    T = len(rewards)
    out = [0.0] * T
    gae = 0.0
    for t in reversed(range(T)):
        next_value = values[t + 1] if t + 1 < T else last_value
        delta = rewards[t] + gamma * next_value * (1.0 - dones[t]) - values[t]
        gae = delta + gamma * lam * (1.0 - dones[t]) * gae
        out[t] = gae
    return out


def puffer_to_textbook(values: torch.Tensor, rewards: torch.Tensor, dones: torch.Tensor, row: int):
    """Maps one row of the PufferLib layout to textbook (rewards, values, dones, last_value) over horizon-1 steps."""
    v = values[row].tolist()
    return rewards[row, 1:].tolist(), v[:-1], dones[row, 1:].tolist(), v[-1]


needs_cpp = pytest.mark.skipif(not cpp_kernel_available(), reason="trainer._kernels not built")


# --- exact hand-computed cases --------------------------------------------------------------------

# gamma = lambda = 0.5 and dyadic inputs: every intermediate is exact in float32.
# values  = [1, 2, 0, 4], rewards = [_, 1, 3, 3], dones = [_, 0, 1, 0]  (dones[2] = 1: the step 1 -> 2 ended)
# t=2: delta = 3 + 0.5*4 - 0 = 5                  A2 = 5
# t=1: delta = 3 + 0 - 2 = 1   (no bootstrap)     A1 = 1 + 0            = 1     (trace cut by the done)
# t=0: delta = 1 + 0.5*2 - 1 = 1                  A0 = 1 + 0.25 * 1     = 1.25
# A3 = 0 (last column).
TINY = dict(
    values=[[1.0, 2.0, 0.0, 4.0]],
    rewards=[[9.0, 1.0, 3.0, 3.0]],  # rewards[0] is never read
    dones=[[1.0, 0.0, 1.0, 0.0]],  # dones[0] is never read
)
TINY_GAE = [[1.25, 1.0, 5.0, 0.0]]
# With importance = [4, 0.5, 2, 7], rho_clip = 2, c_clip = 1: rho = [2, 0.5, 2], c = [1, 0.5, 1]
# t=2: A2 = 2 * 5 = 10;  t=1: A1 = 0.5 * 1 = 0.5;  t=0: A0 = 2 * 1 + 0.25 * 1 * 0.5 = 2.125
TINY_IMPORTANCE = [[4.0, 0.5, 2.0, 7.0]]
TINY_VTRACE = [[2.125, 0.5, 10.0, 0.0]]


def tiny(importance: list[list[float]] | None = None):
    """The hand-computed case as float32 tensors."""
    t = {k: torch.tensor(v) for k, v in TINY.items()}
    imp = torch.tensor(importance) if importance is not None else torch.ones_like(t["values"])
    return t["values"], t["rewards"], t["dones"], imp


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_tiny_plain_gae_exact(backend: str) -> None:
    out = compute_advantage(*tiny(), 0.5, 0.5, 1.0, 1.0, backend=backend)
    assert torch.equal(out, torch.tensor(TINY_GAE))


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_tiny_vtrace_exact(backend: str) -> None:
    out = compute_advantage(*tiny(TINY_IMPORTANCE), 0.5, 0.5, 2.0, 1.0, backend=backend)
    assert torch.equal(out, torch.tensor(TINY_VTRACE))


def test_tiny_matches_textbook_loop() -> None:
    values, rewards, dones, _ = tiny()
    expected = textbook_gae(*puffer_to_textbook(values, rewards, dones, 0), gamma=0.5, lam=0.5)
    assert expected == TINY_GAE[0][:-1]


# --- random inputs against the references ---------------------------------------------------------


@needs_cpp
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plain_gae_matches_textbook_and_reference(seed: int) -> None:
    values, rewards, dones, _ = make_batch(16, 33, seed)
    ones = torch.ones_like(values)
    out = compute_advantage(values, rewards, dones, ones, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend="cpp")
    ref32 = compute_advantage_reference(values, rewards, dones, ones, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    torch.testing.assert_close(out, ref32, **F32_TOL)
    for row in range(values.shape[0]):
        expected = textbook_gae(*puffer_to_textbook(*f64(values, rewards, dones), row), GAMMA, GAE_LAMBDA)
        torch.testing.assert_close(out[row, :-1].double(), torch.tensor(expected, dtype=torch.float64), **F64_TOL)
    assert torch.all(out[:, -1] == 0)


@needs_cpp
@pytest.mark.parametrize(
    "shape,rho_clip,c_clip",
    [((1024, 64), 1.0, 1.0), ((37, 129), 2.0, 0.5), ((5, 2), 1.0, 1.0), ((300, 16), float("inf"), float("inf"))],
)
def test_cpp_matches_reference_with_clipping(shape: tuple[int, int], rho_clip: float, c_clip: float) -> None:
    values, rewards, dones, importance = make_batch(*shape, seed=shape[0])
    if importance.numel() >= 1000:  # ratios spread over ~[0.4, 2.5]: the clips are active on many entries
        assert (importance > 1.0).float().mean() > 0.3 and (importance < 0.9).float().mean() > 0.2
    out = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, rho_clip, c_clip)
    ref32 = compute_advantage_reference(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, rho_clip, c_clip)
    ref64 = compute_advantage_reference(
        *f64(values, rewards, dones, importance), GAMMA, GAE_LAMBDA, rho_clip, c_clip
    )
    torch.testing.assert_close(out, ref32, **F32_TOL)
    torch.testing.assert_close(out.double(), ref64, **F64_TOL)


@needs_cpp
def test_clipping_changes_the_result() -> None:
    values, rewards, dones, importance = make_batch(64, 32, seed=7)
    unclipped = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1e9, 1e9)
    clipped = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    manual = compute_advantage(
        values, rewards, dones, importance.clamp(max=1.0), GAMMA, GAE_LAMBDA, 1e9, 1e9
    )
    assert not torch.allclose(clipped, unclipped)
    torch.testing.assert_close(clipped, manual, rtol=0, atol=0)


@needs_cpp
def test_ratios_of_one_give_plain_gae_for_any_clip_at_least_one() -> None:
    values, rewards, dones, _ = make_batch(32, 20, seed=3)
    ones = torch.ones_like(values)
    base = compute_advantage(values, rewards, dones, ones, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    for clips in [(1.5, 1.0), (1.0, 3.0), (float("inf"), float("inf"))]:
        assert torch.equal(compute_advantage(values, rewards, dones, ones, GAMMA, GAE_LAMBDA, *clips), base)


# --- dones ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_done_blocks_bootstrap_and_trace(backend: str) -> None:
    values, rewards, dones, importance = make_batch(8, 24, seed=11, done_prob=0.0)
    k = 10
    dones[:, k] = 1.0  # the transition k-1 -> k ended the episode
    out = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend=backend)
    # A_{k-1} is just the clipped one-step TD error without bootstrap
    rho = importance[:, k - 1].clamp(max=1.0)
    torch.testing.assert_close(out[:, k - 1], rho * (rewards[:, k] - values[:, k - 1]), **F32_TOL)
    # nothing after the episode end (values from k, rewards/dones/ratios from k+1) reaches steps < k
    values2, rewards2, dones2, importance2 = (t.clone() for t in (values, rewards, dones, importance))
    values2[:, k:] += 100.0
    rewards2[:, k + 1 :] -= 50.0
    dones2[:, k + 1 :] = 1.0 - dones2[:, k + 1 :]
    importance2[:, k:] *= 3.0
    out2 = compute_advantage(values2, rewards2, dones2, importance2, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend=backend)
    assert torch.equal(out2[:, :k], out[:, :k])
    assert not torch.allclose(out2[:, k:-1], out[:, k:-1])


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_all_done_is_one_step_td(backend: str) -> None:
    values, rewards, _, importance = make_batch(6, 12, seed=5)
    dones = torch.ones_like(values)
    out = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.2, 1.0, backend=backend)
    expected = importance[:, :-1].clamp(max=1.2) * (rewards[:, 1:] - values[:, :-1])
    torch.testing.assert_close(out[:, :-1], expected, **F32_TOL)
    assert torch.all(out[:, -1] == 0)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_first_column_of_rewards_and_dones_is_ignored(backend: str) -> None:
    values, rewards, dones, importance = make_batch(4, 9, seed=9)
    out = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend=backend)
    rewards[:, 0] = 1e6
    dones[:, 0] = 1.0 - dones[:, 0]
    again = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend=backend)
    assert torch.equal(out, again)


# --- shapes, output buffer, edge cases ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["auto", "torch"])
@pytest.mark.parametrize("shape", [(3, 1), (0, 8), (4, 0)])
def test_degenerate_shapes(backend: str, shape: tuple[int, int]) -> None:
    values, rewards, dones, importance = make_batch(*shape, seed=0)
    out = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend=backend)
    assert out.shape == shape and torch.all(out == 0)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_writes_into_given_buffer(backend: str) -> None:
    values, rewards, dones, importance = make_batch(10, 16, seed=4)
    buffer = torch.full_like(values, float("nan"))
    out = compute_advantage(
        values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0, advantages=buffer, backend=backend
    )
    assert out is buffer
    expected = compute_advantage_reference(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    torch.testing.assert_close(buffer, expected, **F32_TOL)


def test_accepts_tensors_that_require_grad() -> None:
    values, rewards, dones, importance = make_batch(8, 8, seed=6)
    logratio = (0.1 * torch.randn(8, 8)).requires_grad_()
    ratio = logratio.exp()
    out = compute_advantage(values.requires_grad_(), rewards, dones, ratio, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    expected = compute_advantage_reference(values.detach(), rewards, dones, ratio.detach(), GAMMA, GAE_LAMBDA, 1.0, 1.0)
    assert not out.requires_grad
    torch.testing.assert_close(out, expected, **F32_TOL)


@needs_cpp
def test_nan_ratio_propagates_like_reference() -> None:
    values, rewards, dones, importance = make_batch(2, 6, seed=8, done_prob=0.0)
    importance[0, 3] = float("nan")
    out = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    ref = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend="torch")
    torch.testing.assert_close(out, ref, equal_nan=True, **F32_TOL)
    assert torch.isnan(out[0, :4]).all() and not torch.isnan(out[1]).any()


# --- validation ---------------------------------------------------------------------------------------


def _good() -> list[torch.Tensor]:
    return list(make_batch(4, 6, seed=0))


@pytest.mark.parametrize(
    "index,bad,match",
    [
        (0, torch.zeros(4, 6, 1), r"values must be 2-D"),
        (0, torch.zeros(24), r"values must be 2-D"),
        (1, torch.zeros(4, 5), r"rewards has shape \(4, 5\), expected \(4, 6\)"),
        (2, torch.zeros(6, 4), r"dones has shape \(6, 4\)"),
        (2, torch.zeros(4, 6, dtype=torch.bool), r"dones must be torch.float32 like values, got torch.bool"),
        (3, torch.zeros(4, 6, dtype=torch.float64), r"importance must be torch.float32"),
        (0, torch.zeros(4, 6, dtype=torch.float64), r"values must be float32, got torch.float64"),
        (1, torch.zeros(6, 4).t(), r"rewards must be contiguous"),
        (3, torch.zeros(4, 6, device="meta"), r"importance is on meta, but values is on cpu"),
    ],
)
@pytest.mark.parametrize("backend", ["auto", "torch", "cpp"])
def test_bad_inputs_raise(index: int, bad: torch.Tensor, match: str, backend: str) -> None:
    args = _good()
    args[index] = bad
    with pytest.raises(ValueError, match=match):
        compute_advantage(*args, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend=backend)


@pytest.mark.parametrize(
    "out,match",
    [
        (torch.zeros(4, 7), r"advantages has shape \(4, 7\)"),
        (torch.zeros(4, 6, dtype=torch.float64), r"advantages must be torch.float32"),
        (torch.zeros(6, 4).t(), r"advantages must be contiguous"),
    ],
)
def test_bad_output_buffer_raises(out: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_advantage(*_good(), GAMMA, GAE_LAMBDA, 1.0, 1.0, advantages=out)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_output_aliasing_an_input_raises(backend: str) -> None:
    args = _good()
    with pytest.raises(ValueError, match="advantages must not share memory with values"):
        compute_advantage(*args, GAMMA, GAE_LAMBDA, 1.0, 1.0, advantages=args[0], backend=backend)


def test_non_tensor_and_bad_backend_raise() -> None:
    args = _good()
    with pytest.raises(TypeError, match="rewards must be a torch.Tensor"):
        compute_advantage(args[0], args[1].numpy(), args[2], args[3], GAMMA, GAE_LAMBDA, 1.0, 1.0)
    with pytest.raises(ValueError, match="backend must be one of"):
        compute_advantage(*args, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend="numpy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend='cuda' needs cuda tensors"):
        compute_advantage(*args, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend="cuda")


@needs_cpp
def test_native_binding_validates_too() -> None:
    from trainer import _kernels

    v, r, d, i = _good()
    with pytest.raises(ValueError, match=r"dones has shape \(4, 5\), expected \(4, 6\)"):
        _kernels.advantage_cpu(v, r, torch.zeros(4, 5), i, torch.empty_like(v), 0.99, 0.95, 1.0, 1.0)
    # no implicit conversion (a converted copy of the output would silently drop the results)
    with pytest.raises(TypeError):
        _kernels.advantage_cpu(v, r, d, i, torch.empty(4, 6, dtype=torch.float64), 0.99, 0.95, 1.0, 1.0)
    with pytest.raises(TypeError):
        _kernels.advantage_cpu(v, r, d, i, torch.empty(6, 4).t(), 0.99, 0.95, 1.0, 1.0)
    with pytest.raises(TypeError):
        _kernels.advantage_cpu(v, r, d.double(), i, torch.empty_like(v), 0.99, 0.95, 1.0, 1.0)


# --- dispatch and fallbacks ----------------------------------------------------------------------------


def test_fallback_to_torch_when_kernels_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    values, rewards, dones, importance = make_batch(16, 32, seed=12)
    expected = compute_advantage_reference(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    monkeypatch.setattr(adv_mod, "_kernels", None)
    assert not adv_mod.cpp_kernel_available() and not adv_mod.cuda_kernel_available()
    out = adv_mod.compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    assert torch.equal(out, expected)
    with pytest.raises(RuntimeError, match="trainer._kernels is not built"):
        adv_mod.compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0, backend="cpp")


def test_fallback_to_torch_on_devices_without_a_kernel() -> None:
    # "meta" stands in for any device without a native kernel (and for CUDA without a usable CUDA kernel):
    # the dispatcher must run the PyTorch reference there rather than fail.
    values, rewards, dones, importance = (t.to("meta") for t in make_batch(8, 16, seed=1))
    out = compute_advantage(values, rewards, dones, importance, GAMMA, GAE_LAMBDA, 1.0, 1.0)
    assert out.device.type == "meta" and out.shape == (8, 16)


@needs_cpp
def test_auto_uses_the_cpp_kernel_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = adv_mod._kernels

    class Spy:
        def __getattr__(self, name: str):
            attr = getattr(real, name)
            if name == "advantage_cpu":
                return lambda *a, **k: (calls.append(name), attr(*a, **k))[1]
            return attr

    monkeypatch.setattr(adv_mod, "_kernels", Spy())
    adv_mod.compute_advantage(*_good(), GAMMA, GAE_LAMBDA, 1.0, 1.0)
    assert calls == ["advantage_cpu"]
    adv_mod.compute_advantage(*_good(), GAMMA, GAE_LAMBDA, 1.0, 1.0, backend="torch")
    assert calls == ["advantage_cpu"]


@needs_cpp
def test_cuda_status_is_reported_without_a_gpu() -> None:
    from trainer import _kernels

    assert isinstance(_kernels.cuda_kernel_compiled(), bool)
    if not torch.cuda.is_available():
        assert not cuda_kernel_available()
        with pytest.raises(ValueError, match="needs cuda tensors"):
            compute_advantage(*_good(), GAMMA, GAE_LAMBDA, 1.0, 1.0, backend="cuda")
    if _kernels.cuda_device_count() == 0:
        assert _kernels.cuda_status() != "" and _kernels.cuda_status(0) != ""
    if not _kernels.cuda_kernel_compiled():
        assert "not compiled" in _kernels.cuda_status()


# --- CUDA (only where a GPU is present) ---------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("shape,rho_clip,c_clip", [((1024, 64), 1.0, 1.0), ((300, 129), 2.0, 0.5), ((3, 1), 1.0, 1.0)])
def test_cuda_matches_reference(shape: tuple[int, int], rho_clip: float, c_clip: float) -> None:
    cpu = make_batch(*shape, seed=21)
    gpu = [t.cuda() for t in cpu]
    expected = compute_advantage_reference(*f64(*cpu), GAMMA, GAE_LAMBDA, rho_clip, c_clip)
    out = compute_advantage(*gpu, GAMMA, GAE_LAMBDA, rho_clip, c_clip)  # CUDA kernel, or torch fallback
    assert out.device == gpu[0].device
    torch.testing.assert_close(out.double().cpu(), expected, **F64_TOL)
    if cuda_kernel_available():
        out = compute_advantage(*gpu, GAMMA, GAE_LAMBDA, rho_clip, c_clip, backend="cuda")
        torch.testing.assert_close(out.double().cpu(), expected, **F64_TOL)
        torch.testing.assert_close(
            out.cpu(), compute_advantage(*cpu, GAMMA, GAE_LAMBDA, rho_clip, c_clip, backend="torch"), **F32_TOL
        )


# --- benchmark script (smoke test only: no timing assertions) --------------------------------------


def test_benchmark_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "advantage.py"
    spec = importlib.util.spec_from_file_location("benchmark_advantage", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.benchmark(segments=16, horizon=8, repeats=3)
    assert "torch@cpu" in results and all(seconds > 0 for seconds in results.values())
    assert ("cpp@cpu" in results) == cpp_kernel_available()
    assert "advantage (16, 8)" in capsys.readouterr().out

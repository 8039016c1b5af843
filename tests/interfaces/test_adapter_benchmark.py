"""A tiny run of benchmarks/adapters.py (no timing assertions: only that it measures every interface)."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("pettingzoo")


def test_adapter_benchmark_smoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "adapters.py"
    spec = importlib.util.spec_from_file_location("adapters_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    results = module.main(["--steps", "3", "--repeats", "1", "--games", "2", "--no-puffer"])
    interfaces = {r.interface for r in results}
    assert {"native MettaGridEnv", "PettingZoo ParallelEnv", "PettingZoo AEC (parallel_to_aec)",
            "Gymnasium VectorEnv (make_vec)", "Gymnasium Env (make)"} <= interfaces
    assert all(r.agent_steps_per_s > 0 and r.ratio > 0 for r in results)
    out = capsys.readouterr().out
    assert "vs native" in out and "commit" in out

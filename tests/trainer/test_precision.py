"""Mixed precision (bfloat16 autocast) and the CUDA staging path, exercised on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import trainer.train as tt
from trainer import AgentModelConfig, EnvConfig, TrainerConfig, compute_advantages, make_agent, make_environment
from trainer import make_experience_manager, make_optimizer, rollout, train_ppo
from trainer.experience import Experience
from trainer.precision import autocast, check_precision

from tiny_run import tiny_config


def _setup(policy: str) -> tuple:
    torch.manual_seed(0)
    env = make_environment(EnvConfig(num_envs=4), seed=3)
    agent = make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                       AgentModelConfig(policy=policy, encoder="tokens", hidden_dim=32),
                       feature_spec=env.feature_spec())
    return env, agent


@pytest.mark.parametrize("policy", ["fast", "lstm"])
def test_bfloat16_rollout_and_update_keep_float32_state(policy: str) -> None:
    env, agent = _setup(policy)
    exp = make_experience_manager(env, agent, batch_size=4 * 32, bptt_horizon=16, minibatch_size=64, seed=5)
    before = [p.detach().clone() for p in agent.parameters()]
    rollout(exp, agent, precision="bfloat16")
    assert exp.values.dtype == exp.logprobs.dtype == torch.float32
    assert torch.isfinite(exp.values).all() and torch.isfinite(exp.logprobs).all()
    assert (exp.logprobs <= 0).all()
    if exp.recurrent:  # the carried state stays usable by a float32 forward
        assert all(torch.isfinite(s.float()).all() for s in exp.state)
    compute_advantages(exp)
    stats = train_ppo(agent, make_optimizer(agent), exp, precision="bfloat16")
    assert all(p.dtype == torch.float32 for p in agent.parameters())  # autocast never casts the weights
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.parameters()))  # the update did train
    for key in ("loss/ppo", "entropy", "approx_kl", "grad_norm"):
        assert np.isfinite(stats[key]), key


def test_bfloat16_forward_is_close_to_float32() -> None:
    env, agent = _setup("lstm")
    env.reset(7)
    obs = torch.from_numpy(env.observations).unsqueeze(1)
    state = agent.initial_state(obs.shape[0], "cpu")
    with torch.inference_mode():
        full = agent(obs, state)
        with autocast("cpu", "bfloat16"):
            half = agent(obs, state)
    assert half.logits.dtype == torch.bfloat16  # it did run in bfloat16 ...
    assert not torch.equal(half.logits.float(), full.logits)
    # ... and stays within bfloat16's ~3 significant digits of the float32 outputs
    assert torch.allclose(half.logits.float(), full.logits, atol=0.05, rtol=0.05)
    assert torch.allclose(half.values.float(), full.values, atol=0.05, rtol=0.05)


def test_float32_is_the_default_and_untouched() -> None:
    assert TrainerConfig().precision == "float32"
    with autocast("cpu", "float32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast("cpu", "bfloat16"):
        assert torch.is_autocast_enabled("cpu")


def test_precision_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match=r"precision = 'float16'; expected one of float32, bfloat16"):
        check_precision("float16", "cpu")
    with pytest.raises(Exception, match="precision"):
        TrainerConfig(precision="half")


def test_staging_copies_through_the_given_buffer() -> None:
    array = np.arange(12, dtype=np.uint8).reshape(4, 3)
    assert torch.equal(Experience.to_device(None, array), torch.from_numpy(array))
    staging = torch.zeros(4, 3, dtype=torch.uint8)  # stands in for the pinned buffer of a CUDA run
    out = Experience.to_device(staging, array)
    assert out is staging and torch.equal(staging, torch.from_numpy(array))


def test_train_with_bfloat16(tmp_path) -> None:
    cfg = tiny_config(tmp_path, epochs=2)
    cfg.precision = "bfloat16"
    tt.train(cfg)
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "loss/ppo" in r] == [1, 2]
    assert all(np.isfinite(r["loss/ppo"]) for r in records if "loss/ppo" in r)
    assert "precision: bfloat16" in (cfg.run_dir / "config.yaml").read_text()

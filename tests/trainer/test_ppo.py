"""PPO loss pieces on hand-computed cases, and the update's options (custom losses, target KL, prioritised sampling)."""

from __future__ import annotations

import math

import pytest
import torch

from trainer import AgentModelConfig, EnvConfig, ExperienceConfig, PPOConfig
from trainer import compute_advantages, make_agent, make_environment, make_experience_manager, make_optimizer
from trainer import rollout, train_ppo
from trainer.ppo import _sample_prioritized, explained_variance, normalize_advantages, policy_loss, value_loss


def test_policy_loss_by_hand() -> None:
    ratio = torch.tensor([0.5, 1.0, 1.5])
    adv = torch.tensor([1.0, -1.0, 2.0])
    # max(-A r, -A clip(r, 0.8, 1.2)): max(-0.5, -0.8) = -0.5; max(1, 1) = 1; max(-3, -2.4) = -2.4
    assert policy_loss(ratio, adv, 0.2).item() == pytest.approx((-0.5 + 1.0 - 2.4) / 3)
    # a negative advantage with a large ratio is not clipped (pessimistic bound): max(1.5, 1.2) = 1.5
    assert policy_loss(torch.tensor([1.5]), torch.tensor([-1.0]), 0.2).item() == pytest.approx(1.5)


def test_value_loss_by_hand() -> None:
    new, old, ret = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5]), torch.tensor([2.0, 0.0])
    # clipped values 0.7 and 0.3: max(1, 1.69) and max(0, 0.09) -> 0.5 * mean(1.69, 0.09)
    assert value_loss(new, old, ret, 0.2, clip=True).item() == pytest.approx(0.5 * (1.69 + 0.09) / 2)
    assert value_loss(new, old, ret, 0.2, clip=False).item() == pytest.approx(0.5 * (1.0 + 0.0) / 2)


def test_normalize_and_explained_variance() -> None:
    assert torch.allclose(normalize_advantages(torch.tensor([1.0, 2.0, 3.0])), torch.tensor([-1.0, 0.0, 1.0]), atol=1e-6)
    ret = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(ret, ret) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(4), ret) == pytest.approx(0.0)
    assert math.isnan(explained_variance(ret, torch.ones(4)))


def _setup(policy: str = "fast", **exp: object) -> tuple:
    torch.manual_seed(0)
    env = make_environment(EnvConfig(num_envs=4), seed=1)
    agent = make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                       AgentModelConfig(policy=policy, hidden_dim=32, cnn_channels=8), feature_spec=env.feature_spec())
    experience = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=16, batch_size=128,
                                                                      minibatch_size=32, **exp))
    return env, agent, make_optimizer(agent, learning_rate=1e-3), experience


def test_compute_advantages_matches_gae_by_hand() -> None:
    _, agent, _, exp = _setup()
    rollout(exp, agent)
    exp.values.zero_()
    exp.rewards.zero_()
    exp.dones.zero_()
    exp.rewards[0, 2] = 1.0  # reward of the transition from step 1
    exp.dones[0, 3] = 1.0  # the transition from step 2 ends the episode
    exp.values[0, 3] = 5.0  # not bootstrapped across the episode end
    adv = compute_advantages(exp, gamma=0.5, gae_lambda=0.5)
    assert adv[0, 1].item() == pytest.approx(1.0)
    assert adv[0, 0].item() == pytest.approx(0.25)
    assert adv[0, 2].item() == pytest.approx(0.0)
    assert adv[0, -1].item() == 0.0
    assert not exp.advantages_stale


def test_train_ppo_stats_and_custom_loss() -> None:
    _, agent, opt, exp = _setup()
    rollout(exp, agent)
    calls = []

    def l2(policy: torch.nn.Module, minibatch: dict, outputs: dict) -> torch.Tensor:
        calls.append((set(minibatch), set(outputs)))
        return 1e-3 * sum((p ** 2).sum() for p in policy.parameters())

    before = [p.detach().clone() for p in agent.parameters()]
    stats = train_ppo(agent, opt, exp, PPOConfig(), custom_losses=[l2], update_epochs=2)
    assert stats["minibatches"] == 8 and len(calls) == 8
    assert {"obs", "actions", "advantages", "returns", "state"} <= calls[0][0]
    assert {"logits", "values", "logprobs", "entropy", "ratio"} <= calls[0][1]
    assert stats["custom/l2"] > 0
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance"):
        assert math.isfinite(stats[key]), key
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.parameters()))
    # PufferLib 3: the trained segments' ratios were recorded for the next V-trace pass
    assert not torch.all(exp.ratio == 1.0)


def test_advantages_once_per_update_keep_values() -> None:
    _, agent, opt, exp = _setup()
    rollout(exp, agent)
    values = exp.values.clone()
    adv = compute_advantages(exp).clone()
    train_ppo(agent, opt, exp, advantages_per_minibatch=False, update_epochs=2)
    assert torch.equal(exp.values, values) and torch.all(exp.ratio == 1.0) and torch.equal(exp.advantages, adv)


def test_target_kl_stops_early() -> None:
    _, agent, _, exp = _setup()
    opt = make_optimizer(agent, learning_rate=0.05)
    rollout(exp, agent)
    stats = train_ppo(agent, opt, exp, target_kl=1e-9, update_epochs=4)
    assert stats["stopped_early"] == 1.0 and stats["minibatches"] < 16


def test_prioritized_sampling_probabilities() -> None:
    _, agent, opt, exp = _setup(prio_alpha=1.0, prio_beta0=0.5)
    exp.advantages.zero_()
    exp.advantages[:2] = 1.0  # only segments 0 and 1 carry advantage
    torch.manual_seed(0)
    idx, weights = _sample_prioritized(exp, alpha=1.0, beta=0.5)
    assert exp.minibatch_segments == 2 and set(idx.tolist()) == {0, 1}
    probs = exp.advantages.abs().sum(1)
    probs = (probs + 1e-6) / (probs.sum() + 1e-6)
    assert torch.allclose(weights[:, 0], (exp.segments * probs[idx]) ** -0.5)
    rollout(exp, agent)
    stats = train_ppo(agent, opt, exp, progress=0.5)
    assert stats["minibatches"] == 4 and math.isfinite(stats["policy_loss"])

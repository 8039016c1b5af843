"""The buffer's layout: PufferLib's reward/done columns, chunks of agent rows, recurrent state at segment starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mettagrid import MettaGridEnv
from trainer import AgentModelConfig, EnvConfig, ExperienceConfig, make_agent, make_environment
from trainer import make_experience_manager, rollout


def _agent(env: MettaGridEnv, policy: str = "lstm") -> torch.nn.Module:
    return make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                      AgentModelConfig(policy=policy, hidden_dim=16, cnn_channels=4), feature_spec=env.feature_spec())


def test_rollout_matches_a_replay_of_its_actions() -> None:
    torch.manual_seed(0)
    cfg = EnvConfig(num_envs=3, game={"max_steps": 20, "num_agents": 2}, desync_episodes=False)
    env = make_environment(cfg, seed=7)
    twin = make_environment(cfg, seed=7)
    agent = _agent(env)
    exp = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=8, batch_size=6 * 8 * 3))
    assert (exp.segments, exp.chunks, exp.num_agents) == (18, 3, 6)
    info = rollout(exp, agent)
    assert info["steps"] == 144 and info["episodes"] == 3  # 24 steps per agent: each game ended once, at step 20
    obs, _ = twin.reset()
    assert torch.all(exp.dones[:6, 0] == 1)  # the very first observation starts an episode
    for j in range(exp.chunks):
        for t in range(exp.horizon):
            rows = slice(j * 6, (j + 1) * 6)
            assert np.array_equal(exp.obs[rows, t].numpy(), obs)
            obs, rewards, terminals, truncations, _ = twin.step(exp.actions[rows, t].numpy().astype(np.int32))
            nj, nt = (j, t + 1) if t + 1 < exp.horizon else (j + 1, 0)
            if nj < exp.chunks:  # reward and done of step t are stored with the next observation
                nrows = slice(nj * 6, (nj + 1) * 6)
                assert np.array_equal(exp.rewards[nrows, nt].numpy(), rewards)
                assert np.array_equal(exp.dones[nrows, nt].numpy().astype(bool), terminals | truncations)
    assert float(exp.dones.sum()) == 6 + 6  # the first step and the episode ends at step 20


def test_segment_start_state_replays_the_rollout() -> None:
    torch.manual_seed(0)
    env = make_environment(EnvConfig(num_envs=2, game={"max_steps": 12}), seed=3)
    agent = _agent(env)
    exp = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=8, batch_size=2 * 8 * 2))
    rollout(exp, agent)
    rollout(exp, agent)  # the second rollout starts mid-episode with a non-zero state
    assert float(exp.segment_state[0].abs().sum()) > 0
    with torch.no_grad():
        mb = exp.minibatch(torch.arange(exp.segments))
        out = agent(mb["obs"], mb["state"], mb["dones"])
    assert torch.allclose(out.values, exp.values, atol=1e-5)
    logp = torch.distributions.Categorical(logits=out.logits).log_prob(exp.actions)
    assert torch.allclose(logp, exp.logprobs, atol=1e-5)


def test_batch_size_errors() -> None:
    env = make_environment(EnvConfig(num_envs=2))
    agent = _agent(env, "fast")
    with pytest.raises(ValueError, match="multiple of agents x bptt_horizon"):
        make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=8, batch_size=100))
    with pytest.raises(ValueError, match="minibatch_size"):
        make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=8, batch_size=32, minibatch_size=12))
    exp = make_experience_manager(env, agent, bptt_horizon=4)
    assert exp.batch_size == 8 and exp.minibatch_segments == exp.segments == 2

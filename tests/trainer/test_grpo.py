"""GRPO: group-relative returns and advantages by hand, games in groups that share each episode's seed, the rollout's
record of episodes, config errors, the gradient's direction, a smoke run, and (slow) learning navigation."""

from __future__ import annotations

import json
import math
import pickle
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

import trainer.train as tt
from mettagrid import MettaGridEnv
from mettagrid.resolve import resolve_config
from tiny_run import tiny_config
from trainer import AgentModelConfig, EnvConfig, ExperienceConfig, PPOConfig, TrainerConfig, apply_overrides
from trainer import eval_policy, eval_random, load_policy, make_agent, make_environment, make_experience_manager
from trainer import rollout
from trainer.config import ConfigError, CurriculumTaskConfig, GRPOConfig
from trainer.grpo import GRPOLoss, discounted_returns, episode_group_keys, group_relative_buffer, resolve_group_by
from trainer.losses import make_losses, needed_keys
from trainer.ppo import train_ppo
from trainer.recipes import navigation

GAMMA = 0.5
HORIZON = 3  # two chunks of 3 steps: every agent's 6 steps are rows a (steps 0-2) and 4 + a (steps 3-5)

# Per agent, in time order: the reward and done flag that came WITH obs_t, and the episode's group key at t.
REWARDS = [[0, 0, 1, 0, 2, 5],   # agent 0: episode ends after step 1 (inside a segment) and after step 4 (across)
           [0, 3, 0, 0, 0, 1],   # agent 1: one episode, unfinished at the buffer's end
           [0, 1, 1, 0, 0, 0],   # agent 2: ends after step 2 (the last step of the first segment), then unfinished
           [0, 0, 0, 0, 0, 0]]   # agent 3: alone in its group throughout
DONES = [[1, 0, 1, 0, 0, 1],
         [1, 0, 0, 0, 0, 0],
         [1, 0, 0, 1, 0, 0],
         [1, 0, 0, 0, 0, 0]]
KEYS = [[10, 10, 11, 11, 11, 11],  # groups at steps 0-1: {0, 1, 2} and {3}; at step 2: {1, 2}, {0}, {3}; later: ones
        [10, 10, 10, 10, 10, 10],
        [10, 10, 10, 12, 12, 12],
        [20, 20, 20, 20, 20, 20]]
LAST_VALUES = [7.0, 4.0, 2.0, 1.0]  # the critic's value at each agent's last step (the bootstrap point)


def _buffer(series: list[list[float]], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Agents' time series -> the Experience layout: step tau of agent a at row (tau // T) * agents + a, column
    tau % T."""
    n, length = len(series), len(series[0])
    out = torch.zeros((length // HORIZON) * n, HORIZON, dtype=dtype)
    for a in range(n):
        for tau in range(length):
            out[(tau // HORIZON) * n + a, tau % HORIZON] = series[a][tau]
    return out


def _series(buffer: torch.Tensor, agent: int, n: int = 4) -> list[float]:
    return [float(buffer[(tau // HORIZON) * n + agent, tau % HORIZON]) for tau in range(buffer.numel() // n)]


def _normalised(xs: list[float]) -> list[float]:
    """(x - mean) / population std, by hand."""
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    return [(x - mean) / (std + 1e-8) for x in xs]


def _values() -> torch.Tensor:
    return _buffer([[0, 0, 0, 0, 0, v] for v in LAST_VALUES])


def _grpo(use_critic: bool, unfinished: str = "truncate", scale: bool = True) -> dict[str, torch.Tensor]:
    return group_relative_buffer(_buffer(REWARDS), _buffer(DONES), _values(), _buffer(KEYS, torch.long), 4, GAMMA,
                                 use_critic, unfinished, scale)


def test_returns_by_hand_without_and_with_the_critic() -> None:
    out = _grpo(use_critic=False)
    # gamma 0.5; R_t = r_{t+1} + 0.5 (1 - d_{t+1}) R_{t+1}; the last step (bootstrap point) is 0 without the critic
    assert _series(out["returns"], 0) == [0.5, 1.0, 2.25, 4.5, 5.0, 0.0]
    assert _series(out["returns"], 1) == [3.0625, 0.125, 0.25, 0.5, 1.0, 0.0]
    assert _series(out["returns"], 2) == [1.5, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert _series(out["returns"], 3) == [0.0] * 6
    out = _grpo(use_critic=True)  # unfinished episodes carry the critic's value at the last step, discounted
    assert _series(out["returns"], 0) == [0.5, 1.0, 2.25, 4.5, 5.0, 7.0]  # finished at step 4: no bootstrap
    assert _series(out["returns"], 1) == [3.1875, 0.375, 0.75, 1.5, 3.0, 4.0]
    assert _series(out["returns"], 2) == [1.5, 1.0, 0.0, 0.5, 1.0, 2.0]
    assert _series(out["returns"], 3) == [0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0]


@pytest.mark.parametrize("use_critic", [False, True])
def test_group_relative_advantages_by_hand(use_critic: bool) -> None:
    out = _grpo(use_critic)
    r = [_series(out["returns"], a) for a in range(4)]
    adv = [_series(out["advantages"], a) for a in range(4)]
    sizes = [_series(out["group_size"], a) for a in range(4)]
    for t in (0, 1):  # agents 0, 1, 2 share key 10: a group of three; agent 3 is a group of one
        expected = _normalised([r[0][t], r[1][t], r[2][t]])
        assert [adv[a][t] for a in range(3)] == pytest.approx(expected, abs=1e-6)
        assert [sizes[a][t] for a in range(4)] == [3, 3, 3, 1]
    assert adv[0][0] < 0 < adv[1][0]  # returns 0.5 / 1.5 against 3.06+ at step 0
    assert [adv[1][2], adv[2][2]] == pytest.approx([1.0, -1.0])  # a group of two: +-1 (0.25 or 0.75 against 0)
    assert adv[0][2] == 0.0 and sizes[0][2] == 1  # agent 0's new episode (key 11) is alone at step 2
    for a in range(4):
        assert adv[a][3:] == [0.0, 0.0, 0.0]  # every group of one: no group-relative signal; step 5 not trained
        assert adv[3][:3] == [0.0, 0.0, 0.0]
    mask = [_series(out["mask"], a) for a in range(4)]
    assert all(m == [1, 1, 1, 1, 1, 0] for m in mask)  # all but the bootstrap point


def test_unfinished_episodes_dropped_and_mean_only() -> None:
    out = _grpo(use_critic=False, unfinished="drop")
    mask = [_series(out["mask"], a) for a in range(4)]
    assert mask == [[1, 1, 1, 1, 1, 0], [0] * 6, [1, 1, 1, 0, 0, 0], [0] * 6]
    adv = [_series(out["advantages"], a) for a in range(4)]
    assert [adv[0][0], adv[2][0]] == pytest.approx([-1.0, 1.0])  # 0.5 vs 1.5; agent 1 (unfinished) left out
    assert adv[0][1] == adv[2][1] == 0.0  # equal returns (1, 1): 0, not a division by zero
    assert adv[1] == [0.0] * 6
    out = _grpo(use_critic=False, scale=False)  # the group's mean subtracted, no std
    adv = [_series(out["advantages"], a) for a in range(4)]
    mean0 = (0.5 + 3.0625 + 1.5) / 3
    assert [adv[a][0] for a in range(3)] == pytest.approx([0.5 - mean0, 3.0625 - mean0, 1.5 - mean0])


def test_discounted_returns_shapes_and_bootstrap() -> None:
    rewards = torch.tensor([[0.0, 1.0, 1.0]])
    dones = torch.zeros(1, 3)
    values = torch.tensor([[0.0, 0.0, 10.0]])
    returns, finished = discounted_returns(rewards, dones, values, 0.9, bootstrap=True)
    assert returns[0].tolist() == pytest.approx([1 + 0.9 * (1 + 0.9 * 10), 1 + 0.9 * 10, 10])
    assert not finished.any()


# ------------------------------------------------------------------ games in groups that share each episode's seed


def _nav(**game: Any) -> Any:
    return resolve_config("navigation", {"num_agents": 2, "max_steps": 15, **game})


def test_group_members_start_together_and_stay_in_step() -> None:
    env = MettaGridEnv(_nav().model_copy(update={"desync_episodes": True}), num_envs=6, group_size=3, seed=5)
    obs, _ = env.reset(11)
    games = obs.reshape(6, 2, *obs.shape[1:])
    assert env.game_groups.tolist() == [0, 1, 0, 1, 0, 1]
    for g in (0, 1):  # members g, g + 2, g + 4: identical first observations and episode seeds
        assert np.array_equal(games[g], games[g + 2]) and np.array_equal(games[g], games[g + 4])
        assert env.episode_seed(g) == env.episode_seed(g + 2) == env.episode_seed(g + 4)
    assert not np.array_equal(games[0], games[1]) and env.episode_seed(0) != env.episode_seed(1)
    assert env.episode_max_steps(0) == env.episode_max_steps(2) == env.episode_max_steps(4)  # desync: together
    rng = np.random.default_rng(0)
    ends: dict[int, list[int]] = {}
    for step in range(40):  # different actions per member: their episodes still end on the same steps
        infos = env.step(rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32))[4]
        for info in infos:
            ends.setdefault(step, []).append(info["env"])
        if infos:
            assert len({env.episode_seed(i) for i in (0, 2, 4)}) == 1
    assert ends and all(sorted(v) in ([0, 2, 4], [1, 3, 5], [0, 1, 2, 3, 4, 5]) for v in ends.values())
    # the same actions in every member: the members' observations stay identical
    env.reset(3)
    for _ in range(20):
        a = rng.integers(0, env.single_action_space.n, 4, dtype=np.int32)
        members = env.step(np.tile(a, 3))[0].reshape(3, 4, *obs.shape[1:])
        assert np.array_equal(members[0], members[1]) and np.array_equal(members[0], members[2])
    assert pickle.loads(pickle.dumps(env)).group_size == 3


def test_group_size_one_is_unchanged_and_bad_sizes_fail() -> None:
    a = MettaGridEnv(_nav(), num_envs=4, seed=1)
    b = MettaGridEnv(_nav(), num_envs=4, seed=1, group_size=1)
    assert np.array_equal(a.reset(9)[0], b.reset(9)[0])
    assert len({a.episode_seed(i) for i in range(4)}) == 4
    with pytest.raises(ValueError, match="group_size = 3.*divides num_envs = 4"):
        MettaGridEnv(_nav(), num_envs=4, group_size=3)
    with pytest.raises(ValueError, match="group_size = 0"):
        MettaGridEnv(_nav(), num_envs=4, group_size=0)
    with pytest.raises(ValidationError, match="group_size = 3 must divide num_envs = 4"):
        EnvConfig(num_envs=4, group_size=3)


def test_a_curriculum_draws_one_task_per_group() -> None:
    cfg = EnvConfig(num_envs=8, group_size=2, game={"max_steps": 6}, desync_episodes=False, curriculum={
        "small": CurriculumTaskConfig(game={"size": 11}), "large": CurriculumTaskConfig(game={"size": 15}),
        "maze": CurriculumTaskConfig(game={"layout": "maze", "size": 11})})
    env = make_environment(cfg, seed=4)
    env.reset(4)
    seen = set()
    for _ in range(4):  # four episodes of each game
        tasks = [env.game_task(i) for i in range(8)]
        assert tasks[:4] == tasks[4:]  # game g and game g + 4 form a group
        assert all(env.episode_seed(i) == env.episode_seed(i + 4) for i in range(4))
        seen.update(tasks)
        for _ in range(6):
            env.step(np.zeros(env.num_agents, dtype=np.int32))
    assert len(seen) > 1


def _agent(env: MettaGridEnv) -> torch.nn.Module:
    return make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                      AgentModelConfig(policy="lstm", hidden_dim=16, cnn_channels=4), feature_spec=env.feature_spec())


def test_rollout_records_each_steps_episode() -> None:
    torch.manual_seed(0)
    env = make_environment(EnvConfig(num_envs=4, group_size=2, game={"max_steps": 10, "num_agents": 2}), seed=3)
    agent = _agent(env)
    exp = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=4, batch_size=8 * 4 * 3), store={"episodes"})
    rollout(exp, agent)
    assert exp.rollouts == 1 and exp.task_names == [""] and not exp.task_ids.any()
    seeds = exp.episode_seeds.reshape(3, 4, 2, 4)  # chunk, game, agent, step
    assert torch.equal(seeds[:, 0], seeds[:, 2]) and torch.equal(seeds[:, 1], seeds[:, 3])  # groups {0, 2}, {1, 3}
    assert not torch.equal(seeds[:, 0], seeds[:, 1])
    assert torch.equal(seeds[:, :, 0], seeds[:, :, 1])  # one seed per game
    # a new seed exactly where a new episode starts (dones came with obs_t)
    dones = exp.dones.reshape(3, 8, 4).permute(1, 0, 2).reshape(8, 12)
    series = seeds.permute(1, 2, 0, 3).reshape(8, 12)
    changed = series[:, 1:] != series[:, :-1]
    assert torch.equal(changed, dones[:, 1:] > 0) and changed.any()
    current = np.array([env.episode_seed(i) for i in range(4)], dtype=np.uint64).view(np.int64)
    assert np.array_equal(exp.last_episode_seeds, np.repeat(current, 2))  # the games' seeds, as int64
    keys = episode_group_keys(exp, "seed")  # (seed, agent slot): groups of two, one game from each member
    _, counts = torch.unique(keys, return_counts=True)
    assert set((counts % 2).tolist()) == {0}
    assert torch.equal(keys.reshape(3, 4, 2, 4)[:, 0], keys.reshape(3, 4, 2, 4)[:, 2])
    assert not torch.equal(keys.reshape(3, 4, 2, 4)[:, 0, 0], keys.reshape(3, 4, 2, 4)[:, 0, 1])  # slots differ


def test_rollout_records_tasks() -> None:
    cfg = EnvConfig(num_envs=2, game={"max_steps": 5}, curriculum={
        "a": CurriculumTaskConfig(game={"size": 11}), "b": CurriculumTaskConfig(game={"size": 15})})
    env = make_environment(cfg, seed=1)
    agent = _agent(env)
    exp = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=4, batch_size=2 * 4 * 4), store={"episodes"})
    rollout(exp, agent)
    assert sorted(exp.task_names[1:]) == ["a", "b"]
    for info in exp.episode_infos:  # each finished episode's task is the one recorded for its steps
        assert info["task"] in exp.task_names[1:]
    assert torch.equal(episode_group_keys(exp, "task"), exp.task_ids) and set(exp.task_ids.unique().tolist()) <= {1, 2}
    assert resolve_group_by("auto", env) == "task" and not episode_group_keys(exp, "batch").any()


# ------------------------------------------------------------------ config, the loss and its gradient


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="vf_coef = 0.5 is set but use_critic is false"):
        GRPOConfig(vf_coef=0.5)
    with pytest.raises(ValidationError, match="unfinished = 'drop' applies only without the critic"):
        GRPOConfig(use_critic=True, unfinished="drop")
    with pytest.raises(ValidationError, match="group_by"):
        GRPOConfig(group_by="episode")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="losses.grpo: gamma"):
        apply_overrides(TrainerConfig(), ["losses={grpo: {gamma: 2}}"])
    with pytest.raises(ValidationError, match="losses.grpo: unknown key 'critic'"):
        TrainerConfig(losses={"grpo": {"critic": True}})
    env = make_environment(EnvConfig(num_envs=2), seed=0)
    with pytest.raises(ValueError, match="losses.grpo.group_by = 'seed'.*env.group_size = 1"):
        resolve_group_by("seed", env)
    cfg = apply_overrides(TrainerConfig(), ["losses={grpo: {use_critic: true, vf_coef: 0.3}}", "env.group_size=8"])
    assert cfg.losses["grpo"].vf_coef == 0.3 and cfg.env.group_size == 8 and "ppo" not in cfg.losses


class _Buffer(SimpleNamespace):
    """An Experience stand-in (weak-referenceable, as the loss caches per buffer)."""


def _fake_experience(rewards: list[list[float]], keys: list[list[int]]) -> _Buffer:
    """A buffer of one chunk (agents x T) for the loss: rewards, no episode ends inside, the given seed keys."""
    n, t = len(rewards), len(rewards[0])
    return _Buffer(rewards=torch.tensor(rewards, dtype=torch.float32), dones=torch.zeros(n, t),
                   values=torch.zeros(n, t), episode_seeds=torch.tensor(keys),
                   task_ids=torch.zeros(n, t, dtype=torch.long), num_agents=n, segments=n, rollouts=1,
                   env=SimpleNamespace(group_size=2, agents_per_env=1))


def test_gradient_raises_better_than_group_actions() -> None:
    # two groups of two agents; in each, agent 0 gets reward 1 for its step and agent 1 gets 0
    exp = _fake_experience([[0, 1, 0], [0, 0, 0], [0, 2, 0], [0, 1, 0]], [[5] * 3, [5] * 3, [6] * 3, [6] * 3])
    logits = torch.zeros(4, 3, 4, requires_grad=True)
    actions = torch.tensor([[1, 2, 0]] * 4)
    logp = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    old = logp.detach()
    outputs = {"logits": logits, "values": torch.zeros(4, 3), "logprobs": logp, "ratio": (logp - old).exp(),
               "entropy": torch.tensor(0.0)}
    mb = {"indices": torch.arange(4), "actions": actions, "logprobs": old, "values": torch.zeros(4, 3),
          "prio_weights": None}
    loss_fn = GRPOLoss({"kl_coef": 0.1}, PPOConfig(gamma=1.0, ent_coef=0.0), name="grpo")
    with pytest.raises(ValueError, match=r"call prepare\(experience\) before compute"):
        loss_fn.compute(torch.nn.Identity(), mb, outputs)
    loss_fn.prepare(exp)
    loss, stats = loss_fn.compute(torch.nn.Identity(), mb, outputs)
    assert stats["grpo/group_size"] == 2.0 and float(stats["grpo/kl"].detach()) == 0.0
    # advantages at step 0: +1 for agents 0 and 2, -1 for 1 and 3; steps 1 (all equal within groups) and 2: 0
    assert float(loss.detach()) == 0.0  # ratio 1: -mean(A) over the 8 trained steps, and A sums to 0 per group
    loss.backward()
    g = logits.grad
    assert g[0, 0, 1] < 0 and g[2, 0, 1] < 0  # descending the loss raises the better member's action
    assert g[1, 0, 1] > 0 and g[3, 0, 1] > 0  # and lowers the worse one's
    assert torch.all(g[:, 1:] == 0)


@pytest.mark.parametrize("use_critic", [False, True])
def test_value_head_trained_only_with_the_critic(use_critic: bool) -> None:
    torch.manual_seed(1)
    env = make_environment(EnvConfig(num_envs=4, group_size=2, game={"max_steps": 12}), seed=2)
    agent = _agent(env)
    exp = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=8, batch_size=4 * 8 * 3), store={"episodes"})
    rollout(exp, agent)
    loss_fn = make_losses({"grpo": {"use_critic": use_critic}})["grpo"]
    mb = exp.minibatch(torch.arange(exp.segments))
    mb["prio_weights"] = None
    out = agent(mb["obs"], mb["state"], mb["dones"])
    logp = torch.log_softmax(out.logits, -1).gather(-1, mb["actions"].unsqueeze(-1)).squeeze(-1)
    outputs = {"logits": out.logits, "values": out.values, "logprobs": logp, "ratio": (logp - mb["logprobs"]).exp(),
               "entropy": torch.tensor(0.0)}
    loss_fn.prepare(exp)
    loss, stats = loss_fn.compute(agent, mb, outputs)
    loss.backward()
    critic_grad = agent.critic.weight.grad
    assert (critic_grad is not None and float(critic_grad.abs().sum()) > 0) == use_critic
    assert ("grpo/value_loss" in stats) == use_critic and stats["grpo/group_size"] == 2.0
    # train_ppo prepares each loss once per update, before its minibatches
    calls: list[int] = []
    prepare = loss_fn.prepare
    loss_fn.prepare = lambda experience: (calls.append(experience.rollouts), prepare(experience))  # type: ignore
    rollout(exp, agent)
    train_ppo(agent, torch.optim.Adam(agent.parameters()), exp, PPOConfig(update_epochs=2), losses={"grpo": loss_fn})
    assert calls == [2]


@pytest.mark.parametrize("use_critic", [False, True])
def test_training_smoke(tmp_path: Path, use_critic: bool) -> None:
    cfg = tiny_config(tmp_path, run=f"grpo{int(use_critic)}", epochs=2)
    cfg.env.group_size = 2
    cfg.losses = {"grpo": {"use_critic": use_critic}}
    tt.train(cfg)
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "loss/grpo" in r]
    assert len(train_records) == 2 and "loss/ppo" not in train_records[0]
    for r in train_records:
        assert r["grpo/group_size"] == 2.0 and 0.9 < r["grpo/trained_fraction"] < 1.0
        assert ("grpo/value_loss" in r) == use_critic and math.isfinite(r["loss/grpo"])
    assert TrainerConfig.from_yaml(cfg.run_dir / "config.yaml").losses == cfg.losses


# ------------------------------------------------------------------ evidence: GRPO learns navigation


def learn_navigation_grpo(train_dir: Path, total_timesteps: int, group_size: int = 8, use_critic: bool = False,
                          episodes: int = 64) -> dict[str, Any]:
    """The navigation recipe with grpo in place of ppo (games in groups of `group_size`), trained on CPU; then it and
    a random policy are evaluated on the same 64 games (evaluation plays ungrouped games, seed 2024)."""
    cfg = navigation()
    cfg.run, cfg.train_dir, cfg.progress, cfg.device = "grpo", str(train_dir), False, "cpu"
    cfg.total_timesteps = total_timesteps
    cfg.env.group_size = group_size
    cfg.losses = {"grpo": {"use_critic": use_critic}}
    started = time.perf_counter()
    result = tt.train(cfg)
    wall = time.perf_counter() - started
    policy = load_policy(result["policy_uri"])
    sims = cfg.env.model_copy(update={"group_size": 1})
    trained = eval_policy(policy, sims, num_episodes=episodes, num_envs=16, seed=2024)
    random = eval_random(sims, num_episodes=episodes, num_envs=16, seed=2024)
    return {"steps": result["agent_step"], "wall_s": round(wall, 1), "random_reward": random["mean_return"],
            "trained_reward": trained["mean_return"]}


@pytest.mark.slow
def test_grpo_learns_navigation(tmp_path: Path) -> None:
    figures = learn_navigation_grpo(tmp_path, total_timesteps=500_000)
    print(f"\nGRPO navigation: {figures}")
    assert figures["trained_reward"] >= 3.0 * figures["random_reward"], figures


def test_episodes_are_recorded_only_when_a_loss_needs_them() -> None:
    env = make_environment(EnvConfig(num_envs=2, game={"max_steps": 12}), seed=2)
    agent = _agent(env)
    plain = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=4, batch_size=2 * 4))
    rollout(plain, agent)
    assert plain.episode_seeds is None and plain.task_ids is None  # PPO alone: no per-step episode record
    losses = make_losses({"grpo": {}})
    assert "episodes" in needed_keys(losses)
    with pytest.raises(ValueError, match=r"the losses need \['episodes'\]"):
        train_ppo(agent, torch.optim.Adam(agent.parameters()), plain, losses=losses)

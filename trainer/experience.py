"""The experience buffer and the rollout that fills it: segments of bptt_horizon steps per agent row."""

from __future__ import annotations

import time
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from mettagrid import MettaGridEnv
from trainer.config import ExperienceConfig
from trainer.distributed import unwrap  # also importable from here, where it used to live
from trainer.precision import autocast

__all__ = ["Experience", "make_experience_manager", "rollout", "sample_actions", "summarize_episodes", "unwrap"]


class Experience:
    """Rollout storage on the training device, one row per segment of `bptt_horizon` steps of one agent.

    The buffer holds `chunks` blocks of `num_agents` rows: a rollout fills block 0 for `bptt_horizon`
    steps, then block 1, ... so row `j * num_agents + a` is agent a's j-th segment. Column t of a row holds
    obs_t, the action taken from it with its log-probability and value, and the reward and done flag that
    came *with* obs_t (PufferLib's layout: they belong to the transition t-1 -> t; `dones[:, t] = 1` means
    obs_t starts a new episode). Recurrent state is carried per agent across rollouts, zeroed at episode
    starts, and saved at each segment's start so training replays the segment from the same state.
    `store` names optional buffers to keep too (OPTIONAL: teacher_actions, the env's at each obs_t; episodes, below).
    `observers` (e.g. losses.values()) may add buffers of their own: each one's `rollout_buffers(policy, env,
    device)` declares them (name -> (per-step shape, dtype)) and the rollout fills them at every step with what its
    `observe(obs, dones)` returns (the kickstarter's teacher logits and values); `minibatch` hands them on by name.
    With `episodes` stored (the grpo loss needs it, for its groups), each obs_t's episode is recorded:
    `episode_seeds[:, t]` is its game's episode seed (as int64; the games of one group, MettaGridEnv(group_size=G), share it) and `task_ids[:, t]` its task's
    index in `task_names` (0: unnamed); otherwise both are None. `rollouts` counts the rollouts that filled the
    buffer.
    """

    OPTIONAL = frozenset({"teacher_actions", "episodes"})

    def __init__(self, env: MettaGridEnv, policy: nn.Module, config: ExperienceConfig, device: torch.device | str,
                 seed: int | None = None, store: Iterable[str] = (), observers: Iterable[Any] = ()) -> None:
        self.env = env
        self.config = config
        self.device = torch.device(device)
        self.num_agents = env.num_agents
        self.horizon = config.bptt_horizon
        per_block = self.num_agents * self.horizon
        batch = config.batch_size or per_block
        if batch % per_block:
            raise ValueError(f"experience.batch_size = {batch} must be a multiple of agents x bptt_horizon = "
                             f"{self.num_agents} x {self.horizon} = {per_block}")
        minibatch = config.minibatch_size or batch
        if minibatch % self.horizon or batch % minibatch:
            raise ValueError(f"experience.minibatch_size = {minibatch} must be a multiple of bptt_horizon = "
                             f"{self.horizon} and divide batch_size = {batch}")
        self.batch_size = batch
        self.segments = batch // self.horizon
        self.chunks = self.segments // self.num_agents
        self.minibatch_segments = minibatch // self.horizon

        s, t, dev = self.segments, self.horizon, self.device
        obs_shape = env.single_observation_space.shape
        self.obs = torch.zeros((s, t, *obs_shape), dtype=torch.uint8, device=dev)
        self.actions = torch.zeros((s, t), dtype=torch.long, device=dev)
        self.logprobs = torch.zeros((s, t), device=dev)
        self.values = torch.zeros((s, t), device=dev)
        self.rewards = torch.zeros((s, t), device=dev)
        self.dones = torch.zeros((s, t), device=dev)
        self.ratio = torch.ones((s, t), device=dev)
        self.advantages = torch.zeros((s, t), device=dev)
        self.advantages_stale = True
        store = set(store)
        if store - self.OPTIONAL:
            raise ValueError(f"cannot store {sorted(store - self.OPTIONAL)}; optional buffers: {sorted(self.OPTIONAL)}")
        # the env's teacher_actions at each obs_t, only when a loss needs them (action_supervised)
        self.teacher_actions = torch.zeros((s, t), dtype=torch.long, device=dev) if "teacher_actions" in store else None
        self.minibatch_keys = {"indices", "obs", "actions", "logprobs", "values", "rewards", "dones", "advantages",
                               "returns", "state"} | store
        # buffers declared by observers (losses that run something during the rollout), filled from observe()
        self.observers: list[Any] = []
        self.observed: dict[str, torch.Tensor] = {}
        for observer in observers:
            declared = observer.rollout_buffers(policy, env, dev)
            if not declared:
                continue
            for name, (shape, dtype) in declared.items():
                if name in self.minibatch_keys or name in self.observed:
                    raise ValueError(f"{type(observer).__name__} declares the rollout buffer {name!r}, which the "
                                     f"experience buffer already has")
                self.observed[name] = torch.zeros((s, t, *shape), dtype=dtype, device=dev)
            self.observers.append(observer)
        self.minibatch_keys |= set(self.observed)

        core = unwrap(policy)
        self.recurrent = core.is_recurrent
        self.state = core.initial_state(self.num_agents, dev)  # per agent, carried across rollouts
        self.segment_state = core.initial_state(s, dev)  # per segment: the state at its first step
        # on CUDA, pinned host staging buffers: the host-to-device copies of each step are then asynchronous (the
        # sampled actions' copy back to the host, which the env step needs, is the one synchronisation per step)
        pinned = self.device.type == "cuda"
        self.pinned_obs = torch.empty((self.num_agents, *obs_shape), dtype=torch.uint8).pin_memory() if pinned else None
        self.pinned_rewards = torch.empty(self.num_agents).pin_memory() if pinned else None
        self.pinned_dones = torch.empty(self.num_agents, dtype=torch.bool).pin_memory() if pinned else None
        self.last_rewards = torch.zeros(self.num_agents, device=dev)
        self.last_dones = torch.ones(self.num_agents, device=dev)  # the first obs starts an episode
        self.episode_infos: list[dict[str, Any]] = []
        self.env.reset(seed)
        # with `episodes`: each obs_t's episode (seed as int64, task index) and the agent rows' current ones, updated
        # as episodes end (only the grpo loss uses them, so the default rollout does none of this per step)
        self.task_names: list[str] = [""]
        self.episode_seeds: torch.Tensor | None = None
        self.task_ids: torch.Tensor | None = None
        if "episodes" in store:
            self.episode_seeds = torch.zeros((s, t), dtype=torch.long, device=dev)
            self.task_ids = torch.zeros((s, t), dtype=torch.long, device=dev)
            self.last_episode_seeds = np.zeros(self.num_agents, dtype=np.int64)
            self.last_task_ids = np.zeros(self.num_agents, dtype=np.int64)
            self.note_episodes(range(env.num_envs))
        self.rollouts = 0

    def note_episodes(self, games: Iterable[int]) -> None:
        """Notes the current episode (seed and task) of the agent rows of `games`: after a reset or an episode end."""
        per_game = self.env.agents_per_env
        for i in games:
            seed, task = int(self.env.episode_seed(i)), self.env.game_task(i)
            if task not in self.task_names:
                self.task_names.append(task)
            rows = slice(i * per_game, (i + 1) * per_game)
            self.last_episode_seeds[rows] = seed - (1 << 64) if seed >= 1 << 63 else seed
            self.last_task_ids[rows] = self.task_names.index(task)

    @staticmethod
    def to_device(pinned: torch.Tensor | None, array: np.ndarray) -> torch.Tensor:
        """`array` as a tensor to copy to the device: through the pinned staging buffer when there is one."""
        host = torch.from_numpy(array)
        return host if pinned is None else pinned.copy_(host)

    def minibatch(self, idx: torch.Tensor) -> dict[str, Any]:
        """The segments `idx` as a dict of (M, T, ...) tensors plus the recurrent state at their start."""
        state = tuple(s[idx] for s in self.segment_state) if self.segment_state is not None else None
        extra = {"teacher_actions": self.teacher_actions[idx]} if self.teacher_actions is not None else {}
        extra.update({name: buffer[idx] for name, buffer in self.observed.items()})
        return {
            **extra,
            "indices": idx,
            "obs": self.obs[idx],
            "actions": self.actions[idx],
            "logprobs": self.logprobs[idx],
            "values": self.values[idx],
            "rewards": self.rewards[idx],
            "dones": self.dones[idx],
            "advantages": self.advantages[idx],
            "returns": self.advantages[idx] + self.values[idx],
            "state": state,
        }


def make_experience_manager(env: MettaGridEnv, agent: nn.Module, config: ExperienceConfig | None = None,
                            device: torch.device | str | None = None, seed: int | None = None,
                            store: Iterable[str] = (), observers: Iterable[Any] = (), **overrides: Any) -> Experience:
    """An Experience buffer for `env` and `agent` on the agent's device; kwargs override ExperienceConfig fields;
    `store` names optional buffers (teacher_actions: what losses.needed_keys(losses) asks for); `observers` are the
    losses (losses.values()) whose rollout hooks run at every step (the kickstarter's teachers)."""
    cfg = config or ExperienceConfig()
    if overrides:
        cfg = ExperienceConfig.model_validate({**cfg.model_dump(), **overrides})
    if device is None:
        device = next(unwrap(agent).parameters()).device
    return Experience(env, agent, cfg, device, seed, store, observers)


def sample_actions(logits: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Actions sampled from (N, A) logits and their log-probabilities, without a distribution object per step."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    action = torch.multinomial(logp.exp(), 1, generator=generator)
    return action[:, 0], logp.gather(1, action)[:, 0]


@torch.inference_mode()
def rollout(experience: Experience, agent: nn.Module, precision: str = "float32") -> dict[str, Any]:
    """Fills the buffer with `batch_size` agent steps; returns steps, timing and stats of finished episodes.
    `precision="bfloat16"` runs the policy's forward under bfloat16 autocast (trainer.precision). On CUDA the
    observations, rewards and dones go through pinned host buffers with non-blocking copies."""
    exp, env = experience, experience.env
    policy = unwrap(agent)
    n = exp.num_agents
    started = time.perf_counter()
    env_time = 0.0
    infos: list[dict[str, Any]] = []
    for j in range(exp.chunks):
        rows = slice(j * n, (j + 1) * n)
        if exp.recurrent:
            for seg, cur in zip(exp.segment_state, exp.state):
                seg[rows] = cur
        for t in range(exp.horizon):
            obs = exp.obs[rows, t]
            obs.copy_(exp.to_device(exp.pinned_obs, env.observations), non_blocking=True)
            exp.rewards[rows, t] = exp.last_rewards
            exp.dones[rows, t] = exp.last_dones
            if exp.episode_seeds is not None:
                exp.episode_seeds[rows, t] = torch.from_numpy(exp.last_episode_seeds)
                exp.task_ids[rows, t] = torch.from_numpy(exp.last_task_ids)
            if exp.teacher_actions is not None:
                exp.teacher_actions[rows, t] = torch.from_numpy(env.teacher_actions)
            for observer in exp.observers:  # e.g. teachers, on the same observations (none configured: no work)
                produced = observer.observe(obs, exp.last_dones)
                for name, value in (produced or {}).items():
                    exp.observed[name][rows, t] = value
            with autocast(exp.device, precision):
                out = policy(obs.unsqueeze(1), exp.state, exp.last_dones.unsqueeze(1))
            exp.state = out.state
            action, logprob = sample_actions(out.logits[:, 0])
            exp.actions[rows, t] = action
            exp.logprobs[rows, t] = logprob
            exp.values[rows, t] = out.values[:, 0]
            t_env = time.perf_counter()
            _, rewards, terminals, truncations, step_infos = env.step(action.to(torch.int32).cpu().numpy())
            env_time += time.perf_counter() - t_env
            exp.last_rewards.copy_(exp.to_device(exp.pinned_rewards, rewards), non_blocking=True)
            exp.last_dones.copy_(exp.to_device(exp.pinned_dones, terminals | truncations), non_blocking=True)
            infos.extend(step_infos)
            if step_infos and exp.episode_seeds is not None:
                exp.note_episodes(info["env"] for info in step_infos)
    exp.rollouts += 1
    exp.ratio.fill_(1.0)
    exp.advantages_stale = True
    exp.episode_infos = infos
    elapsed = time.perf_counter() - started
    return {"steps": exp.batch_size, "rollout_time": elapsed, "env_time": env_time, **summarize_episodes(infos)}


def summarize_episodes(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every numeric episode stat (episode_return, episode_length, agent/*, game/*) plus the count; with
    named tasks (a curriculum) also `task/<name>/episodes`, `.../episode_return` and `.../episode_length`."""
    out: dict[str, Any] = {"episodes": len(infos)}
    if not infos:
        return out
    keys = [k for k, v in infos[0].items() if isinstance(v, (int, float)) and k not in ("env", "episode_seed")]
    for k in keys:
        out[k] = float(np.mean([i[k] for i in infos if k in i]))
    by_task: dict[str, list[dict[str, Any]]] = {}
    for info in infos:
        if info.get("task"):
            by_task.setdefault(str(info["task"]), []).append(info)
    for task, group in sorted(by_task.items()):
        out[f"task/{task}/episodes"] = len(group)
        for k in ("episode_return", "episode_length"):
            out[f"task/{task}/{k}"] = float(np.mean([i[k] for i in group]))
    return out

"""GRPO: the clipped surrogate on group-relative advantages instead of the critic's GAE.

A step's return is its discounted return-to-go to its episode's end; a group is the set of episodes that share a
start. With `group_by = seed` those are the episodes with the same episode seed and agent slot: the env plays its
games in groups of `env.group_size` that share every episode's seed (MettaGridEnv(group_size=G)), so the members
start from the same state and their episodes begin and end on the same steps. With `task` a group is every episode of
the same curriculum task, with `batch` every episode in the buffer. The advantage of a step is its return minus the
mean of the returns of its group's episodes at the same rollout step, divided by their (population) standard
deviation: a group of one episode has advantage 0.

The buffer (trainer.experience) holds `chunks` blocks of agent rows; agent a's steps are the rows j * agents + a of
block j, one after the other in time. In that layout `rewards[:, t]` / `dones[:, t]` came with obs_t, so the reward
of the action taken at obs_t is `rewards[:, t + 1]` and its episode ends there when `dones[:, t + 1]`. The buffer's
last step has no reward stored: it is the bootstrap point. Its return is the critic's value there (use_critic) or 0,
and it takes no part in the policy term. An episode still running at the buffer's end gets the critic's value there
as the rest of its return (use_critic) or, without the critic, either counts only the rewards up to the buffer's end
(unfinished = truncate; with seed groups all members are cut on the same step) or is left out (drop).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainer.config import GRPOConfig
from trainer.loss_base import Loss, register_loss, value_loss

__all__ = ["GRPOLoss", "discounted_returns", "episode_group_keys", "group_relative_advantages",
           "group_relative_buffer", "resolve_group_by"]


def _to_time(x: torch.Tensor, num_agents: int) -> torch.Tensor:
    """(chunks * agents, T) buffer layout -> (agents, chunks * T), each row one agent's steps in time order."""
    s, t = x.shape
    return x.reshape(s // num_agents, num_agents, t).permute(1, 0, 2).reshape(num_agents, -1)


def _to_buffer(x: torch.Tensor, num_agents: int, horizon: int) -> torch.Tensor:
    """The inverse of _to_time."""
    n, length = x.shape
    return x.reshape(n, length // horizon, horizon).permute(1, 0, 2).reshape(-1, horizon)


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, values: torch.Tensor, gamma: float,
                       bootstrap: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns-to-go of (agents, L) time-ordered steps and whether each step's episode ends inside them.

    The reward of step t is rewards[:, t + 1] and its episode ends after it when dones[:, t + 1]. The last step's
    return is values[:, -1] if `bootstrap`, else 0; an unfinished episode's returns carry it, discounted.
    """
    n, length = rewards.shape
    returns = torch.zeros_like(rewards, dtype=torch.float32)
    finished = torch.zeros((n, length), dtype=torch.bool, device=rewards.device)
    if length == 0:
        return returns, finished
    nxt = values[:, -1].float() if bootstrap else torch.zeros(n, device=rewards.device)
    returns[:, -1] = nxt
    ended = torch.zeros(n, dtype=torch.bool, device=rewards.device)
    for t in range(length - 2, -1, -1):
        done = dones[:, t + 1] > 0.5
        nxt = rewards[:, t + 1].float() + gamma * torch.where(done, torch.zeros_like(nxt), nxt)
        ended = done | ended
        returns[:, t] = nxt
        finished[:, t] = ended
    return returns, finished


def group_relative_advantages(returns: torch.Tensor, groups: torch.Tensor, mask: torch.Tensor,
                              scale_by_std: bool = True, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """(returns - mean of its group) / (std of its group + eps) over the entries where `mask` is set, 0 elsewhere;
    `groups` holds an integer group id per entry. Also returns each entry's group size (0 where masked out)."""
    if returns.shape != groups.shape or returns.shape != mask.shape:
        raise ValueError(f"returns {tuple(returns.shape)}, groups {tuple(groups.shape)} and mask "
                         f"{tuple(mask.shape)} must have the same shape")
    flat_r, flat_m = returns.reshape(-1).float(), mask.reshape(-1)
    _, gid = torch.unique(groups.reshape(-1), return_inverse=True)
    k = int(gid.max()) + 1 if gid.numel() else 0
    w = flat_m.float()
    count = torch.zeros(k, device=returns.device).index_add_(0, gid, w)
    mean = torch.zeros(k, device=returns.device).index_add_(0, gid, flat_r * w) / count.clamp(min=1)
    centred = (flat_r - mean[gid]) * w
    if scale_by_std:
        var = torch.zeros(k, device=returns.device).index_add_(0, gid, centred * centred) / count.clamp(min=1)
        centred = centred / (var.sqrt()[gid] + eps)
    return centred.reshape(returns.shape), (count[gid] * w).reshape(returns.shape)


def resolve_group_by(group_by: str, env: Any) -> str:
    """'auto' -> 'seed' when the env plays games in groups (group_size > 1), else 'task'; 'seed' on an env without
    groups is an error (every group would hold one episode)."""
    size = int(getattr(env, "group_size", 1))
    if group_by == "auto":
        return "seed" if size > 1 else "task"
    if group_by == "seed" and size == 1:
        raise ValueError("losses.grpo.group_by = 'seed' but the env plays every game on its own seed "
                         "(env.group_size = 1), so every group would hold one episode; set env.group_size > 1, or "
                         "group_by: task / batch / auto")
    if group_by not in ("seed", "task", "batch"):
        raise ValueError(f"losses.grpo.group_by = {group_by!r}; expected auto, seed, task or batch")
    return group_by


def episode_group_keys(experience: Any, group_by: str) -> torch.Tensor:
    """The (segments, T) int64 key of each step's episode group in a buffer: seed (episode seed and agent slot in
    its game), task (task index) or batch (0)."""
    exp = experience
    if group_by == "batch":
        return torch.zeros_like(exp.episode_seeds)
    if group_by == "task":
        return exp.task_ids.clone()
    if group_by != "seed":
        raise ValueError(f"group_by = {group_by!r}; expected seed, task or batch")
    per_game = int(getattr(exp.env, "agents_per_env", 1))
    rows = torch.arange(exp.segments, device=exp.episode_seeds.device) % exp.num_agents
    slot = (rows % per_game).unsqueeze(1).expand_as(exp.episode_seeds)
    _, key = torch.unique(torch.stack([exp.episode_seeds, slot], -1).reshape(-1, 2), dim=0, return_inverse=True)
    return key.reshape(exp.episode_seeds.shape)


def group_relative_buffer(rewards: torch.Tensor, dones: torch.Tensor, values: torch.Tensor, keys: torch.Tensor,
                          num_agents: int, gamma: float, use_critic: bool, unfinished: str = "truncate",
                          scale_by_std: bool = True) -> dict[str, torch.Tensor]:
    """GRPO's advantages over a whole buffer in the Experience layout ((chunks * num_agents, T) tensors; `keys` the
    episode group key of each step): returns-to-go, the steps the policy term trains (`mask`), the advantages
    (normalised within each group at the same rollout step) and each step's group size, all (segments, T)."""
    if unfinished not in ("truncate", "drop"):
        raise ValueError(f"unfinished = {unfinished!r}; expected 'truncate' or 'drop'")
    s, horizon = rewards.shape
    if s % num_agents:
        raise ValueError(f"{s} buffer rows are not a multiple of num_agents = {num_agents}")
    r, d, v, k = (_to_time(x, num_agents) for x in (rewards, dones, values, keys))
    returns, finished = discounted_returns(r, d, v, gamma, bootstrap=use_critic)
    length = r.shape[1]
    mask = torch.ones_like(finished)
    mask[:, -1] = False  # the bootstrap point: no reward of its own in the buffer
    if not use_critic and unfinished == "drop":
        mask &= finished
    step = torch.arange(length, device=r.device).unsqueeze(0).expand_as(k)
    _, kid = torch.unique(k, return_inverse=True)
    advantages, sizes = group_relative_advantages(returns, kid * length + step, mask, scale_by_std)
    out = {"returns": returns, "mask": mask, "advantages": advantages, "group_size": sizes}
    return {name: _to_buffer(x, num_agents, horizon) for name, x in out.items()}


@register_loss("grpo")
class GRPOLoss(Loss):
    """Clipped surrogate on group-relative advantages (computed once per rollout over the whole buffer) - ent_coef x
    entropy + kl_coef x KL to the rollout policy (+ vf_coef x value loss with use_critic), averaged over the trained
    steps; the coefficients default to the `ppo` section's. See the module docstring for returns and groups."""

    Config = GRPOConfig
    needs = frozenset({"indices", "actions", "logprobs", "values", "episodes"})  # episodes: the rollout records them
    config: GRPOConfig

    def __init__(self, config: GRPOConfig | dict[str, Any] | None = None, ppo_config: Any = None,
                 name: str | None = None) -> None:
        super().__init__(config, ppo_config, name)
        self._buffer: dict[str, torch.Tensor] | None = None

    def prepare(self, experience: Any) -> None:
        """The buffer-wide returns, mask, advantages and group sizes of the rollout in `experience` (once per update)."""
        cfg, ppo = self.config, self.ppo_config
        group_by = resolve_group_by(cfg.group_by, experience.env)
        gamma = ppo.gamma if cfg.gamma is None else cfg.gamma
        with torch.no_grad():
            self._buffer = group_relative_buffer(
                experience.rewards, experience.dones, experience.values, episode_group_keys(experience, group_by),
                experience.num_agents, gamma, cfg.use_critic, cfg.unfinished, cfg.scale_by_std)

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        buf = self._buffer
        if buf is None:
            raise ValueError("the grpo loss computes its advantages over the whole buffer: call prepare(experience) "
                             "before compute (train_ppo does, once per update)")
        cfg, ppo = self.config, self.ppo_config
        idx = minibatch["indices"]
        adv, mask = buf["advantages"][idx], buf["mask"][idx]
        weight = mask.float()
        if minibatch.get("prio_weights") is not None:
            weight = weight * minibatch["prio_weights"]
        trained = mask.sum().clamp(min=1)
        ratio = outputs["ratio"]
        clip = ppo.clip_coef if cfg.clip_coef is None else cfg.clip_coef
        surrogate = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1.0 - clip, 1.0 + clip))
        pg_loss = (surrogate * weight).sum() / trained
        ent_coef = ppo.ent_coef if cfg.ent_coef is None else cfg.ent_coef
        loss = pg_loss - ent_coef * outputs["entropy"]
        stats: dict[str, Any] = {f"{self.name}/policy_loss": pg_loss,
                                 f"{self.name}/trained_fraction": mask.float().mean(),
                                 f"{self.name}/group_size": buf["group_size"][idx][mask].float().mean()
                                 if bool(mask.any()) else 0.0}
        if cfg.kl_coef > 0:
            logratio = outputs["logprobs"] - minibatch["logprobs"]
            kl = ((torch.exp(-logratio) + logratio - 1.0) * mask).sum() / trained
            loss = loss + cfg.kl_coef * kl
            stats[f"{self.name}/kl"] = kl
        if cfg.use_critic:
            returns = buf["returns"][idx]
            v_loss = value_loss(outputs["values"][mask], minibatch["values"][mask], returns[mask], ppo.vf_clip_coef,
                                ppo.clip_vloss) if bool(mask.any()) else outputs["values"].sum() * 0.0
            loss = loss + (ppo.vf_coef if cfg.vf_coef is None else cfg.vf_coef) * v_loss
            stats[f"{self.name}/value_loss"] = v_loss
        return loss, stats

"""Auxiliary objectives: `dynamics` (predict the next reward and observation) and `contrastive` (InfoNCE over time).

Both read the core's output, `outputs["hidden"]` (M segments, T steps, hidden), and shape it through small heads of
their own: they are Losses that are also nn.Modules, whose parameters `setup(policy)` builds to the policy's sizes,
the optimizer trains (make_optimizer(..., losses=...)) and the trainer state saves and restores. Imported at the end
of trainer/losses.py, so `losses.dynamics.weight=0.1` or `losses.contrastive.weight=0.1` switches one on.

Buffer layout (trainer/experience.py): column t of a segment holds obs_t, the action a_t taken from it, and the
reward that came with obs_t; so the reward of the transition (obs_t, a_t) -> obs_{t+1} is rewards[:, t+1], and
dones[:, t+1] = 1 means obs_{t+1} starts a new episode (it is not a consequence of a_t).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mettagrid.env import GLOBAL_LOCATION, PADDING_LOCATION
from trainer.config import ContrastiveConfig, DynamicsConfig, LossConfig, PPOConfig
from trainer.loss_base import Loss, register_loss
from trainer.policies import TYPE_ONE_HOT

__all__ = [
    "ContrastiveLoss",
    "DynamicsLoss",
    "info_nce",
    "next_obs_target",
    "obs_target_size",
    "pair_mask",
]


def pair_mask(dones: torch.Tensor, k: int) -> torch.Tensor:
    """(M, T) episode-start flags -> (M, T - k) bool: whether steps t and t + k of a segment are in the same episode
    (no episode starts in t+1 .. t+k)."""
    if not 1 <= k < dones.shape[1]:
        raise ValueError(f"offset k = {k} must be in [1, T - 1] for segments of T = {dones.shape[1]} steps")
    starts = torch.cumsum((dones > 0.5).to(torch.int32), dim=1)
    return starts[:, k:] == starts[:, :-k]


def obs_target_size(policy: nn.Module, regions: int) -> int:
    """The length of next_obs_target's vectors: (TYPE_ONE_HOT types + features) x regions² + features."""
    return (TYPE_ONE_HOT + policy.num_features) * regions * regions + policy.num_features


def next_obs_target(policy: nn.Module, obs: torch.Tensor, regions: int) -> torch.Tensor:
    """(N, tokens, 3) uint8 observations -> (N, obs_target_size) float: what the dynamics loss predicts of them.

    The window is cut into regions x regions blocks. For each block: the fraction of its cells holding each object
    type below TYPE_ONE_HOT (types are categorical, so they are counted, not summed as numbers), and for every other
    feature the mean over its cells of the normalised value; then the normalised value of each global token
    (inventory, last action, last reward...). Fixed size, entries mostly in [0, 1], and coarse enough to predict,
    yet it keeps where things are relative to the agent (a move shifts them between blocks).
    """
    f, h, w = policy.num_features, policy.height, policy.width
    used = (obs[..., 0] != PADDING_LOCATION).any(0)  # token columns that are padding in every row carry nothing
    tok = (obs[:, used] if bool(used.any()) else obs[:, :1]).long()
    loc, feat, raw = tok[..., 0], tok[..., 1], tok[..., 2]
    known = (feat < f) & (loc != PADDING_LOCATION)
    feat = torch.where(known, feat, torch.zeros_like(feat))
    value = raw.float() * policy.inv_norm[feat] * known
    row, col = loc >> 4, loc & 15
    on_grid = known & (loc != GLOBAL_LOCATION) & (row < h) & (col < w)
    is_global = known & (loc == GLOBAL_LOCATION)
    spec = policy.spec.feature_spec
    type_feature = int(spec["type_id"]["id"]) if "type_id" in spec else -1
    is_type = on_grid & (feat == type_feature) & (raw < TYPE_ONE_HOT)
    blocks = regions * regions
    block = (row.clamp(max=h - 1) * regions // h) * regions + col.clamp(max=w - 1) * regions // w
    channel = torch.where(is_type, raw, TYPE_ONE_HOT + feat)
    grid_size = (TYPE_ONE_HOT + f) * blocks
    index = torch.where(on_grid, channel * blocks + block, torch.where(is_global, grid_size + feat, grid_size + f))
    weight = torch.where(is_type, torch.ones_like(value), value) * (on_grid | is_global)
    out = value.new_zeros(obs.shape[0], grid_size + f + 1).scatter_add_(1, index, weight)[:, :-1]
    # cells per block, to turn counts and sums into fractions and means
    rows = torch.arange(h, device=obs.device) * regions // h
    cols = torch.arange(w, device=obs.device) * regions // w
    cells = torch.bincount((rows[:, None] * regions + cols[None, :]).flatten(), minlength=blocks).float()
    scale = torch.cat([(1.0 / cells.clamp(min=1)).repeat(TYPE_ONE_HOT + f), value.new_ones(f)])
    return out * scale


def info_nce(anchors: torch.Tensor, candidates: torch.Tensor, valid: torch.Tensor,
             temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """InfoNCE in S independent groups: anchors and candidates (S, M, D), valid (S, M) bool.

    In group s, anchor i scores every valid candidate j by anchors[s, i] . candidates[s, j] / temperature, and the
    loss is the cross-entropy of picking j = i. Counted: valid anchors of groups with at least 2 valid candidates.
    Returns (mean loss, accuracy of the top score, number counted).
    """
    logits = torch.bmm(anchors, candidates.transpose(1, 2)) / temperature
    logits = logits.masked_fill(~valid[:, None, :], -1e9)  # finite: a group of invalid rows stays NaN-free
    use = valid & (valid.sum(1, keepdim=True) >= 2)
    count = use.sum()
    logp = torch.log_softmax(logits, dim=-1).diagonal(dim1=1, dim2=2)
    loss = -torch.where(use, logp, torch.zeros_like(logp)).sum() / count.clamp(min=1)
    with torch.no_grad():
        target = torch.arange(anchors.shape[1], device=anchors.device)
        correct = (logits.argmax(-1) == target) & use
        accuracy = correct.sum().float() / count.clamp(min=1)
    return loss, accuracy, count


def _hidden(outputs: Mapping[str, Any], name: str) -> torch.Tensor:
    hidden = outputs.get("hidden")
    if hidden is None:
        raise ValueError(f"loss {name!r} needs outputs['hidden'], the core's output (M, T, hidden); the policy's "
                         "forward returned none (PolicyOutput.hidden)")
    return hidden


class _ModuleLoss(Loss, nn.Module):
    """A Loss with parameters: nn.Module first, then the Loss fields."""

    def __init__(self, config: LossConfig | Mapping[str, Any] | None = None, ppo_config: PPOConfig | None = None,
                 name: str | None = None) -> None:
        nn.Module.__init__(self)
        Loss.__init__(self, config, ppo_config, name)

    @staticmethod
    def _device(policy: nn.Module) -> torch.device:
        return next(policy.parameters()).device


@register_loss("dynamics")
class DynamicsLoss(_ModuleLoss):
    """From the core state h_t and the action a_t, predict the reward of the transition (rewards[:, t+1]) and
    next_obs_target(obs_{t+1}); pairs where obs_{t+1} starts a new episode, and the last step of each segment,
    do not count. Loss: reward_coef x mean squared reward error + obs_coef x mean over pairs of the summed squared
    error of the observation target. An MLP head (hidden + one-hot action -> head_dim -> 1 + target)."""

    Config = DynamicsConfig
    needs = frozenset({"obs", "actions", "rewards", "dones"})
    config: DynamicsConfig

    def __init__(self, config: LossConfig | Mapping[str, Any] | None = None, ppo_config: PPOConfig | None = None,
                 name: str | None = None) -> None:
        super().__init__(config, ppo_config, name)
        self.head: nn.Sequential | None = None
        self.num_actions = 0

    def setup(self, policy: nn.Module) -> None:
        """Builds the head for the policy's hidden width, action count and observation target (once)."""
        hidden, actions = policy.actor.in_features, policy.spec.num_actions
        size = obs_target_size(policy, self.config.regions)
        if self.head is not None:
            built = (self.head[0].in_features, self.head[-1].out_features)
            if built != (hidden + actions, 1 + size):
                raise ValueError(f"loss {self.name!r} was set up for hidden + actions = {built[0]} and 1 + target = "
                                 f"{built[1]}, not for this policy's {hidden + actions} and {1 + size}")
            return
        self.num_actions = actions
        self.head = nn.Sequential(nn.Linear(hidden + actions, self.config.head_dim), nn.ReLU(),
                                  nn.Linear(self.config.head_dim, 1 + size)).to(self._device(policy))

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """(reward_coef x reward loss + obs_coef x obs loss, {name/reward_loss, name/obs_loss, name/pairs})."""
        if self.head is None:
            self.setup(policy)
        assert self.head is not None
        hidden = _hidden(outputs, self.name)
        cfg = self.config
        valid = pair_mask(minibatch["dones"], 1)  # (M, T - 1): obs_{t+1} follows a_t in the same episode
        h = hidden[:, :-1][valid]
        action = F.one_hot(minibatch["actions"][:, :-1][valid], self.num_actions).to(h.dtype)
        pred = self.head(torch.cat([h, action], dim=-1))
        obs = minibatch["obs"][:, 1:][valid]
        with torch.no_grad():
            target = next_obs_target(policy, obs, cfg.regions)
        reward = minibatch["rewards"][:, 1:][valid].to(pred.dtype)
        pairs = max(int(valid.sum()), 1)
        reward_loss = (pred[:, 0] - reward).pow(2).sum() / pairs
        obs_loss = (pred[:, 1:] - target).pow(2).sum() / pairs
        loss = cfg.reward_coef * reward_loss + cfg.obs_coef * obs_loss
        return loss, {f"{self.name}/reward_loss": reward_loss.detach(), f"{self.name}/obs_loss": obs_loss.detach(),
                      f"{self.name}/pairs": valid.float().mean()}


@register_loss("contrastive")
class ContrastiveLoss(_ModuleLoss):
    """InfoNCE between an agent's core state at t and at t + k in the same segment and episode: anchor projection of
    h_t, target projection of h_{t+k} (each L2-normalised, cosine / temperature); at each t the candidates are the
    t + k states of every row of the minibatch, the other rows being the negatives. k = horizon, or drawn per
    minibatch from a geometric distribution with mean horizon (offset=geometric)."""

    Config = ContrastiveConfig
    needs = frozenset({"dones"})
    config: ContrastiveConfig

    def __init__(self, config: LossConfig | Mapping[str, Any] | None = None, ppo_config: PPOConfig | None = None,
                 name: str | None = None) -> None:
        super().__init__(config, ppo_config, name)
        self.anchor: nn.Linear | None = None
        self.target: nn.Linear | None = None

    def setup(self, policy: nn.Module) -> None:
        """Builds the two projections for the policy's hidden width (once)."""
        hidden, dim = policy.actor.in_features, self.config.projection_dim
        if self.anchor is not None:
            if self.anchor.in_features != hidden:
                raise ValueError(f"loss {self.name!r} was set up for hidden width {self.anchor.in_features}, not "
                                 f"for this policy's {hidden}")
            return
        device = self._device(policy)
        self.anchor = nn.Linear(hidden, dim).to(device)
        self.target = nn.Linear(hidden, dim).to(device)

    def offset(self, steps: int) -> int:
        """k for segments of `steps` steps: horizon, or a geometric draw with mean horizon capped at steps - 1."""
        cfg = self.config
        if cfg.offset == "fixed":
            if cfg.horizon >= steps:
                raise ValueError(f"losses.{self.name}.horizon = {cfg.horizon} must be less than the segment length "
                                 f"(experience.bptt_horizon = {steps})")
            return cfg.horizon
        k = int(torch.empty(()).geometric_(1.0 / cfg.horizon))
        return min(max(k, 1), steps - 1)

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        """(InfoNCE loss, {name/accuracy, name/offset})."""
        if self.anchor is None:
            self.setup(policy)
        assert self.anchor is not None and self.target is not None
        hidden = _hidden(outputs, self.name)
        k = self.offset(hidden.shape[1])
        valid = pair_mask(minibatch["dones"], k)  # (M, T - k)
        anchors = F.normalize(self.anchor(hidden[:, :-k]), dim=-1)
        candidates = F.normalize(self.target(hidden[:, k:]), dim=-1)
        # one group per time step t: rows are the minibatch's segments
        loss, accuracy, _ = info_nce(anchors.transpose(0, 1), candidates.transpose(0, 1), valid.transpose(0, 1),
                                     self.config.temperature)
        return loss, {f"{self.name}/accuracy": accuracy, f"{self.name}/offset": float(k)}

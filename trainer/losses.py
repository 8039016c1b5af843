"""Losses as components: each is a class with its own typed config (a weight and its settings), registered by name.

An update sums weight x loss over `TrainerConfig.losses` (name -> config). A loss declares the minibatch keys it
`needs` (the rollout stores `teacher_actions` only when some loss needs it), computes `(loss, stats)` from the
policy's outputs and the minibatch, and may keep state across updates (`step(progress)` runs before each update).
A new loss is one class and one line:

    class LogitPenaltyConfig(LossConfig):
        scale: float = 1.0

    @register_loss("logit_l2")
    class LogitPenalty(Loss):
        Config = LogitPenaltyConfig

        def compute(self, policy, minibatch, outputs):
            loss = self.config.scale * outputs["logits"].pow(2).mean()
            return loss, {}
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from trainer.config import (
    LOSS_CONFIGS,
    ActionSupervisedConfig,
    LossConfig,
    PPOConfig,
    PPOLossConfig,
    loss_config,
)

__all__ = [
    "LOSSES",
    "MINIBATCH_KEYS",
    "ActionSupervisedLoss",
    "Loss",
    "PPOLoss",
    "action_supervised_loss",
    "make_losses",
    "needed_keys",
    "normalize_advantages",
    "policy_loss",
    "register_loss",
    "value_loss",
]

# What a minibatch holds (trainer.experience.Experience.minibatch) and what a loss may name in `needs`;
# teacher_actions is stored by the rollout only when a loss needs it.
MINIBATCH_KEYS = frozenset({"obs", "actions", "logprobs", "values", "rewards", "dones", "advantages", "returns",
                            "state", "indices", "teacher_actions"})

LOSSES: dict[str, type["Loss"]] = {}


def register_loss(name: str) -> Callable[[type["Loss"]], type["Loss"]]:
    """Class decorator: registers a Loss under `name` (the key of TrainerConfig.losses) with its Config class."""

    def register(cls: type[Loss]) -> type[Loss]:
        if not (isinstance(cls, type) and issubclass(cls, Loss)):
            raise TypeError(f"register_loss({name!r}) decorates a Loss subclass, got {cls!r}")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, LossConfig)):
            raise TypeError(f"{cls.__name__}.Config must subclass trainer.config.LossConfig")
        unknown = set(cls.needs) - MINIBATCH_KEYS
        if unknown:
            raise ValueError(f"{cls.__name__}.needs names unknown minibatch keys {sorted(unknown)}; "
                             f"known: {', '.join(sorted(MINIBATCH_KEYS))}")
        LOSSES[name] = cls
        LOSS_CONFIGS[name] = cls.Config
        return cls

    return register


class Loss:
    """One term of the update's loss. Subclasses set `Config` and `needs` and implement `compute`.

    `compute(policy, minibatch, outputs)` returns the (unweighted) scalar loss and a dict of extra stats (floats or
    0-d tensors, reported under their own keys; prefix them with the loss's name). `minibatch` holds
    MINIBATCH_KEYS (teacher_actions only when needed) plus `prio_weights` (importance weights of prioritised
    sampling, or None); `outputs` holds the policy's logits and values and the derived logprobs (of the taken
    actions), entropy (mean) and ratio. `step(progress)` runs before each update with the training progress in
    [0, 1]; `weight` is read after it, so a loss may anneal its own weight. `ppo_config` is the update's
    PPOConfig (train_ppo sets it before each update).
    """

    Config: ClassVar[type[LossConfig]] = LossConfig
    needs: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: LossConfig | Mapping[str, Any] | None = None, ppo_config: PPOConfig | None = None,
                 name: str | None = None) -> None:
        self.config = config if isinstance(config, self.Config) else self.Config.model_validate(dict(config or {}))
        self.ppo_config = ppo_config or PPOConfig()
        self.name = name or type(self).__name__
        self.weight = self.config.weight

    def step(self, progress: float) -> None:
        """Called before each update with the progress of training in [0, 1] (state across updates goes here)."""

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError


def make_losses(configs: Mapping[str, "Loss | LossConfig | Mapping[str, Any] | None"] | None = None,
                ppo_config: PPOConfig | None = None) -> dict[str, Loss]:
    """The registered losses named by `configs` (name -> config, e.g. TrainerConfig.losses; None: PPO alone), built
    for train_ppo; a value that is already a Loss is kept as it is."""
    configs = {"ppo": PPOLossConfig()} if configs is None else configs
    if not configs:
        raise ValueError(f"no losses given; registered losses: {', '.join(sorted(LOSSES))}")
    losses: dict[str, Loss] = {}
    for name, value in configs.items():
        if isinstance(value, Loss):
            losses[name] = value
        elif name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; registered losses: {', '.join(sorted(LOSSES))}")
        else:
            losses[name] = LOSSES[name](loss_config(name, value), ppo_config, name=name)
    return losses


def needed_keys(losses: Mapping[str, Loss]) -> set[str]:
    """The union of the losses' `needs`."""
    return set().union(*(loss.needs for loss in losses.values()))


# ------------------------------------------------------------------ the built-in losses


def policy_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """The clipped surrogate: mean of max(-A * r, -A * clip(r, 1 - c, 1 + c))."""
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    return torch.max(unclipped, clipped).mean()


def value_loss(new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, vf_clip_coef: float,
               clip: bool = True) -> torch.Tensor:
    """0.5 * mean squared error to the returns; clipped: the max of the errors of V and of V clipped near old V."""
    unclipped = (new_values - returns) ** 2
    if not clip:
        return 0.5 * unclipped.mean()
    v_clipped = old_values + torch.clamp(new_values - old_values, -vf_clip_coef, vf_clip_coef)
    return 0.5 * torch.max(unclipped, (v_clipped - returns) ** 2).mean()


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(A - mean) / (std + eps) over the whole tensor."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)



@register_loss("ppo")
class PPOLoss(Loss):
    """Clipped surrogate + vf_coef x clipped value loss - ent_coef x entropy, with the `ppo` section's coefficients;
    advantages normalised per minibatch (norm_adv) and weighted by the prioritised-sampling importance weights."""

    Config = PPOLossConfig
    needs = frozenset({"actions", "logprobs", "values", "returns", "advantages"})

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        cfg = self.ppo_config
        adv = minibatch["advantages"]
        if cfg.norm_adv:
            adv = normalize_advantages(adv)
        if minibatch.get("prio_weights") is not None:
            adv = minibatch["prio_weights"] * adv
        pg_loss = policy_loss(outputs["ratio"], adv, cfg.clip_coef)
        v_loss = value_loss(outputs["values"], minibatch["values"], minibatch["returns"], cfg.vf_clip_coef,
                            cfg.clip_vloss)
        loss = pg_loss - cfg.ent_coef * outputs["entropy"] + cfg.vf_coef * v_loss
        return loss, {"policy_loss": pg_loss, "value_loss": v_loss}


def action_supervised_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of (..., A) logits to (...) integer target actions."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1).long())


@register_loss("action_supervised")
class ActionSupervisedLoss(Loss):
    """Imitation: cross-entropy of the policy's logits to the env's teacher_actions at each step; the weight is
    annealed linearly to `final_weight` over training when that is set."""

    Config = ActionSupervisedConfig
    needs = frozenset({"teacher_actions"})

    def step(self, progress: float) -> None:
        cfg = self.config
        if cfg.final_weight is not None:
            p = min(max(progress, 0.0), 1.0)
            self.weight = cfg.weight + (cfg.final_weight - cfg.weight) * p

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        logits, targets = outputs["logits"], minibatch["teacher_actions"]
        loss = action_supervised_loss(logits, targets)
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == targets).float().mean()
        return loss, {f"{self.name}/accuracy": accuracy}

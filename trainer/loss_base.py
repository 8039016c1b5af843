"""The loss interface and its registry: `Loss`, `register_loss`, and the PPO loss pieces the built-in losses share.

trainer.losses defines the built-in losses on top of this module and re-exports it; import from there. (The loss
modules (trainer.losses, trainer.aux_losses, trainer.grpo) build on this one, so none imports another in a cycle.)
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import nn

from trainer.config import LOSS_CONFIGS, LossConfig, PPOConfig

__all__ = ["LOSSES", "MINIBATCH_KEYS", "Loss", "needed_keys", "normalize_advantages", "policy_loss", "register_loss",
           "value_loss"]

# What a minibatch holds (trainer.experience.Experience.minibatch) and what a loss may name in `needs`;
# teacher_actions and episodes (each step's episode seed and task, read from the whole buffer) are recorded by the
# rollout only when a loss needs them.
MINIBATCH_KEYS = frozenset({"obs", "actions", "logprobs", "values", "rewards", "dones", "advantages", "returns",
                            "state", "indices", "teacher_actions", "episodes"})

LOSSES: dict[str, type["Loss"]] = {}


def register_loss(name: str) -> Callable[[type["Loss"]], type["Loss"]]:
    """Class decorator: registers a Loss under `name` (the key of TrainerConfig.losses) with its Config class."""

    def register(cls: type[Loss]) -> type[Loss]:
        if not (isinstance(cls, type) and issubclass(cls, Loss)):
            raise TypeError(f"register_loss({name!r}) decorates a Loss subclass, got {cls!r}")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, LossConfig)):
            raise TypeError(f"{cls.__name__}.Config must subclass trainer.config.LossConfig")
        unknown = set(cls.needs) - MINIBATCH_KEYS - set(cls.rollout_keys)
        if unknown:
            raise ValueError(f"{cls.__name__}.needs names unknown minibatch keys {sorted(unknown)}; "
                             f"known: {', '.join(sorted(MINIBATCH_KEYS))}, or the loss's own rollout_keys")
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
    [0, 1] and `self.agent_step` set to the agent steps trained before this update's rollout (train_ppo's
    `agent_step`; make_losses sets the restored count on resume; None when the caller gives none); `weight` is read
    after it, so a loss may anneal its own weight. `ppo_config` is the update's PPOConfig (train_ppo sets it before
    each update).

    Rollout hook (for what must run while the agents play, such as teachers): `rollout_buffers(policy, env,
    device)` is called once when the Experience is built (make_experience_manager(..., observers=losses.values()))
    and returns name -> (per-step shape, dtype) of buffers to add to it, each (segments, T, *shape), handed to
    `compute` in the minibatch under that name (declare the names in `rollout_keys` to list them in `needs`); then
    the rollout calls `observe(obs, dones)` at every step with the (agents, tokens, 3) observations the policy sees
    and the (agents,) flags of episode starts, and stores what it returns (name -> (agents, *shape)); None stores
    nothing (the buffers keep their last values). A loss that declares no buffers is never called during rollouts.

    Parameters (a prediction head): a loss with parameters of its own is also an nn.Module, `class MyLoss(Loss,
    nn.Module)` calling nn.Module.__init__ before Loss.__init__, and builds its layers in `setup(policy)`, sized to
    the policy. Then make_optimizer(policy, cfg, losses=losses) trains them, train_ppo clips their gradients with
    the policy's (and averages them over ranks), save_trainer_state / load_trainer_state(losses=...) save and
    restore them with a run, and policy checkpoints never hold them. `outputs["hidden"]` (M, T, hidden) is the
    core's output that the actor and critic read. trainer/aux_losses.py has two such losses.
    """

    Config: ClassVar[type[LossConfig]] = LossConfig
    needs: ClassVar[frozenset[str]] = frozenset()
    rollout_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: LossConfig | Mapping[str, Any] | None = None, ppo_config: PPOConfig | None = None,
                 name: str | None = None) -> None:
        self.config = config if isinstance(config, self.Config) else self.Config.model_validate(dict(config or {}))
        self.ppo_config = ppo_config or PPOConfig()
        self.name = name or type(self).__name__
        self.weight = self.config.weight
        self.agent_step: int | None = None

    def step(self, progress: float) -> None:
        """Called before each update with the progress of training in [0, 1] (state across updates goes here)."""

    def prepare(self, experience: Any) -> None:
        """Called once per update, after step(), with the whole experience buffer: buffer-wide terms (the grpo loss's
        group returns) are computed here; compute() then sees minibatches."""

    def setup(self, policy: nn.Module) -> None:
        """Called with the (unwrapped) policy before the optimizer is built and before each update: a loss that is
        an nn.Module builds its parameters here, sized to the policy (idempotent)."""

    def rollout_buffers(self, policy: nn.Module, env: Any,
                        device: torch.device) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Buffers the rollout fills from `observe`: name -> (shape of one step, dtype); none by default."""
        return {}

    def observe(self, obs: torch.Tensor, dones: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """Called by the rollout at every step (only if rollout_buffers declared some): name -> (agents, *shape)."""
        return None

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError


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

"""Losses as components: each is a class with its own typed config (a weight and its settings), registered by name.

An update sums weight x loss over `TrainerConfig.losses` (name -> config). A loss declares the minibatch keys it
`needs` (the rollout stores `teacher_actions` only when some loss needs it), computes `(loss, stats)` from the
policy's outputs and the minibatch, and may keep state across updates (`step(progress)` runs before each update,
with `self.agent_step` set). A loss that needs per-step outputs of something run during the rollout (the
kickstarter's teachers) declares its own rollout buffers (`rollout_buffers`) and fills them from `observe(obs, dones)`,
which the rollout calls at every step with the observations the policy sees. A new loss is one class and one line:

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

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from trainer.checkpoint import CheckpointError, load_policy, read_checkpoint_metadata
from trainer.config import (
    ActionSupervisedConfig,
    KickstarterConfig,
    LossConfig,
    PPOConfig,
    PPOLossConfig,
    loss_config,
)
from trainer.distributed import unwrap
from trainer.loss_base import (
    LOSSES,
    MINIBATCH_KEYS,
    Loss,
    needed_keys,
    normalize_advantages,
    policy_loss,
    register_loss,
    value_loss,
)

__all__ = [
    "LOSSES",
    "MINIBATCH_KEYS",
    "ActionSupervisedLoss",
    "KickstarterLoss",
    "Loss",
    "PPOLoss",
    "action_supervised_loss",
    "kickstart_action_loss",
    "make_losses",
    "needed_keys",
    "normalize_advantages",
    "policy_loss",
    "register_loss",
    "value_loss",
    "value_matching_loss",
]

def make_losses(configs: Mapping[str, "Loss | LossConfig | Mapping[str, Any] | None"] | None = None,
                ppo_config: PPOConfig | None = None, agent_step: int | None = None) -> dict[str, Loss]:
    """The registered losses named by `configs` (name -> config, e.g. TrainerConfig.losses; None: PPO alone), built
    for train_ppo; a value that is already a Loss is kept as it is. `agent_step` (the steps already trained, e.g.
    restored on resume) is set on every loss, so a schedule starts where the run is."""
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
    if agent_step is not None:
        for loss in losses.values():
            loss.agent_step = int(agent_step)
    return losses


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
    annealed linearly to `final_weight` over training when that is set, or over `anneal_steps` agent steps (to
    final_weight, default 0) when that is."""

    Config = ActionSupervisedConfig
    needs = frozenset({"teacher_actions"})

    def step(self, progress: float) -> None:
        cfg = self.config
        if cfg.anneal_steps is not None:
            final = 0.0 if cfg.final_weight is None else cfg.final_weight
            p = min(max((self.agent_step or 0) / cfg.anneal_steps, 0.0), 1.0)
            self.weight = cfg.weight + (final - cfg.weight) * p
        elif cfg.final_weight is not None:
            p = min(max(progress, 0.0), 1.0)
            self.weight = cfg.weight + (cfg.final_weight - cfg.weight) * p

    @property
    def finished(self) -> bool:
        """True once the weight is 0 for good (annealed over anneal_steps to a final weight of 0): the env's teacher
        may stop, and compute() returns 0 without looking at the (no longer refreshed) teacher actions."""
        cfg = self.config
        return (cfg.anneal_steps is not None and not cfg.final_weight and self.agent_step is not None
                and self.agent_step >= cfg.anneal_steps)

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        logits, targets = outputs["logits"], minibatch["teacher_actions"]
        if self.finished:
            return logits.new_zeros(()), {}
        loss = action_supervised_loss(logits, targets)
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == targets).float().mean()
        return loss, {f"{self.name}/accuracy": accuracy}


# ------------------------------------------------------------------ the kickstarter (teacher distillation)


def kickstart_action_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                          kind: str = "kl") -> torch.Tensor:
    """Mean over steps of KL(teacher || student) ("kl") or of the cross-entropy H(teacher, student) ("ce") of the
    action distributions given by (..., A) logits; both have the same gradient in the student's logits."""
    if kind not in ("kl", "ce"):
        raise ValueError(f"action_loss = {kind!r}; expected 'kl' or 'ce'")
    log_student = torch.log_softmax(student_logits.float(), dim=-1)
    teacher = torch.softmax(teacher_logits.float(), dim=-1)
    per_step = -(teacher * log_student).sum(-1)
    if kind == "kl":  # minus the teacher's entropy (xlogy: an action the teacher never takes adds 0)
        per_step = per_step + torch.xlogy(teacher, teacher).sum(-1)
    return per_step.mean()


def value_matching_loss(student_values: torch.Tensor, teacher_values: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the student's and the teacher's values."""
    return (student_values.float() - teacher_values.float()).pow(2).mean()


def _policy_spec_summary(obs_shape: Any, window: Any, feature_spec: Mapping[str, Any], num_actions: int,
                         action_names: list[str] | None) -> dict[str, Any]:
    """What a teacher and its student must share: tokens per observation, window, feature ids, actions."""
    return {"tokens": int(obs_shape[0]), "window": f"{int(window[0])}x{int(window[1])}",
            "features": {str(k): int(v["id"]) for k, v in sorted(feature_spec.items())},
            "actions": list(action_names) if action_names else int(num_actions)}


def _describe_spec(spec: Mapping[str, Any]) -> str:
    features = ", ".join(f"{k}={v}" for k, v in spec["features"].items())
    return f"tokens={spec['tokens']}, window={spec['window']}, features={{{features}}}, actions={spec['actions']}"


def _spec_differences(teacher: Mapping[str, Any], student: Mapping[str, Any]) -> list[str]:
    out = [f"{key} {teacher[key]} vs {student[key]}" for key in ("tokens", "window") if teacher[key] != student[key]]
    if teacher["features"] != student["features"]:
        t, s = teacher["features"], student["features"]
        diff = sorted(k for k in set(t) | set(s) if t.get(k) != s.get(k))
        out.append("feature ids differ at " + ", ".join(f"{k} ({t.get(k)} vs {s.get(k)})" for k in diff[:8]))
    ta, sa = teacher["actions"], student["actions"]
    if isinstance(ta, list) and isinstance(sa, list):
        if ta != sa:
            out.append(f"actions {ta} vs {sa}")
    elif (len(ta) if isinstance(ta, list) else ta) != (len(sa) if isinstance(sa, list) else sa):
        out.append(f"action count {ta} vs {sa}")
    return out


@register_loss("kickstarter")
class KickstarterLoss(Loss):
    """Teacher distillation: sum over teachers of weight x (action term + value_coef x value term), where the action
    term is KL(teacher || student) or their cross-entropy and the value term the squared difference of values, on
    the steps the student played; the teachers' logits and values are computed during the rollout (observe) from
    the same observations, each teacher keeping its own recurrent state per agent. The loss's weight is
    config.weight x max(0, 1 - agent_step / anneal_steps); once it reaches 0 the teachers are dropped and no longer
    run. Teachers may have another architecture than the student, not other observations or actions."""

    Config = KickstarterConfig
    needs = frozenset({"teacher_logits", "teacher_values"})
    rollout_keys = frozenset({"teacher_logits", "teacher_values"})
    config: KickstarterConfig

    def __init__(self, config: KickstarterConfig | Mapping[str, Any] | None = None,
                 ppo_config: PPOConfig | None = None, name: str | None = None) -> None:
        super().__init__(config, ppo_config, name)
        cfg = self.config
        self.teacher_configs = cfg.teacher_list()
        self.teacher_weights = [float(t.weight) for t in self.teacher_configs]
        first = 0 if cfg.teacher_uri is None else 1
        self.teacher_fields = (["teacher_uri"] if cfg.teacher_uri is not None else []) + [
            f"teachers[{i - first}].uri" for i in range(first, len(self.teacher_configs))]
        # the checkpoint headers now: a missing file, a bad URI or a foreign file fails when the loss is built
        self.teacher_meta = [self._teacher_call(i, read_checkpoint_metadata, t.uri)
                             for i, t in enumerate(self.teacher_configs)]
        self.teachers: list[nn.Module] = []  # loaded by rollout_buffers, once the student is known
        self.teacher_states: list[Any] = []
        self.dropped = False
        self.steps_observed = 0  # agent steps (this process) the teachers have run on
        self._observed_since_step = 0

    def _teacher_call(self, i: int, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args), a CheckpointError naming the config field of teacher i."""
        try:
            return fn(*args)
        except CheckpointError as e:
            raise CheckpointError(f"losses.{self.name}.{self.teacher_fields[i]}: {e}") from None

    def anneal_factor(self, agent_step: int) -> float:
        """max(0, 1 - agent_step / anneal_steps) (1 when anneal_steps is None)."""
        steps = self.config.anneal_steps
        return 1.0 if steps is None else max(0.0, 1.0 - agent_step / steps)

    def _world_size(self) -> int:
        dist = torch.distributed
        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1

    def current_step(self) -> int:
        """The agent step the schedule is at: `agent_step` as train_ppo / make_losses set it, else the steps the
        teachers have seen (summed over ranks)."""
        return self.agent_step if self.agent_step is not None else self.steps_observed * self._world_size()

    def drop_teachers(self) -> None:
        """Releases the teachers and their recurrent states; later rollouts run no teacher."""
        self.teachers, self.teacher_states, self.dropped = [], [], True

    def step(self, progress: float) -> None:
        """Sets the annealed weight; drops the teachers once it is 0, or will be at the next update (the step
        after this one's rollout), so no rollout runs a teacher whose outputs would be weighted by 0."""
        step = self.current_step()
        factor = self.anneal_factor(step)
        self.weight = self.config.weight * factor
        upcoming = step + self._observed_since_step * self._world_size()
        if factor == 0.0 or (self._observed_since_step and self.anneal_factor(upcoming) == 0.0):
            self.drop_teachers()
        self._observed_since_step = 0

    def rollout_buffers(self, policy: nn.Module, env: Any,
                        device: torch.device) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Checks every teacher against the student (observations and actions), loads them on `device` unless the
        schedule is already at 0, and declares teacher_logits (teachers, actions) and teacher_values (teachers,)."""
        student = unwrap(policy)
        spec = getattr(student, "spec", None)
        if spec is not None:
            mine = _policy_spec_summary(spec.obs_shape, spec.obs_window, spec.feature_spec, spec.num_actions,
                                        spec.action_names)
        else:  # a policy without a spec: the env's observations and actions
            mine = _policy_spec_summary(env.single_observation_space.shape,
                                        (env.config.obs_height, env.config.obs_width), env.feature_spec(),
                                        int(env.single_action_space.n), env.action_names())
        for i, meta in enumerate(self.teacher_meta):
            theirs = _policy_spec_summary(meta["observation_spec"]["shape"], meta["observation_spec"]["window"],
                                          meta["feature_spec"], meta["action_spec"]["n"],
                                          meta["action_spec"].get("names"))
            problems = _spec_differences(theirs, mine)
            if problems:
                raise CheckpointError(
                    f"losses.{self.name}.{self.teacher_fields[i]}: the teacher {meta['path']} does not fit the "
                    f"student ({'; '.join(problems)}); teacher's spec: {_describe_spec(theirs)}; student's spec: "
                    f"{_describe_spec(mine)}")
        self.drop_teachers()
        if self.anneal_factor(self.current_step()) > 0.0:
            self.dropped = False
            for i, t in enumerate(self.teacher_configs):
                teacher = self._teacher_call(i, load_policy, t.uri, device)
                teacher.eval().requires_grad_(False)
                self.teachers.append(teacher)
                self.teacher_states.append(teacher.initial_state(env.num_agents, device))
        k = len(self.teacher_configs)
        num_actions = mine["actions"] if isinstance(mine["actions"], int) else len(mine["actions"])
        return {"teacher_logits": ((k, num_actions), torch.float32), "teacher_values": ((k,), torch.float32)}

    def observe(self, obs: torch.Tensor, dones: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """Each teacher's logits and value at this step (its recurrent state reset where dones is set)."""
        if not self.teachers:
            return None
        n = obs.shape[0]
        self.steps_observed += n
        self._observed_since_step += n
        logits, values = [], []
        for i, teacher in enumerate(self.teachers):
            out = teacher(obs.unsqueeze(1), self.teacher_states[i], dones.view(n, 1))
            self.teacher_states[i] = out.state
            logits.append(out.logits[:, 0].float())
            values.append(out.values[:, 0].float())
        return {"teacher_logits": torch.stack(logits, 1), "teacher_values": torch.stack(values, 1)}

    def compute(self, policy: nn.Module, minibatch: dict[str, Any],
                outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        logits, values = outputs["logits"], outputs["values"]
        if self.weight == 0.0:  # annealed out: the stored teacher outputs are stale and weighted by 0
            zero = logits.sum() * 0.0
            return zero, {}
        t_logits, t_values = minibatch["teacher_logits"], minibatch["teacher_values"]
        action_total = value_total = logits.new_zeros(())
        for i, w in enumerate(self.teacher_weights):
            if w == 0.0:
                continue
            action_total = action_total + w * kickstart_action_loss(logits, t_logits[..., i, :],
                                                                    self.config.action_loss)
            value_total = value_total + w * value_matching_loss(values, t_values[..., i])
        loss = action_total + self.config.value_coef * value_total
        with torch.no_grad():
            agree = (logits.argmax(-1) == t_logits[..., 0, :].argmax(-1)).float().mean()
        return loss, {f"{self.name}/action_loss": action_total.detach(),
                      f"{self.name}/value_loss": value_total.detach(), f"{self.name}/agreement": agree}


import trainer.aux_losses  # noqa: E402,F401  (registers dynamics and contrastive)
import trainer.grpo  # noqa: E402,F401  (registers grpo)

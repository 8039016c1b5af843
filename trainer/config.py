"""Typed training configs (pydantic, unknown keys rejected), YAML loading and dotted command-line overrides."""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator
from pydantic_core import to_jsonable_python

from mettagrid.config import load_yaml

from trainer.names import RUN_NAME_RULE, check_run_name
from trainer.uris import check_writable_uri

__all__ = [
    "LOSS_CONFIGS",
    "ActionSupervisedConfig",
    "AgentModelConfig",
    "BucketRangeConfig",
    "CheckpointConfig",
    "ConfigError",
    "ContrastiveConfig",
    "DynamicsConfig",
    "EnvConfig",
    "ExperienceConfig",
    "GRPOConfig",
    "KickstarterConfig",
    "KickstarterTeacherConfig",
    "LossConfig",
    "OptimizerConfig",
    "PPOConfig",
    "PPOLossConfig",
    "SimulationConfig",
    "TrainerConfig",
    "apply_overrides",
    "config_help",
    "load_trainer_config",
    "parse_value",
]


class ConfigError(ValueError):
    """A config file, field or override is invalid; the message names the key."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CurriculumTaskConfig(_Config):
    """One task of a curriculum: a preset (or file) with overrides, drawn with a relative weight."""

    preset: str | None = Field(None, description="A mettagrid preset name or GameConfig file; None: env.preset.")
    game: dict[str, Any] = Field(default_factory=dict, description="Overrides on top of env.game (preset arguments or GameConfig fields).")
    weight: float = Field(1.0, ge=0, description="Relative probability of drawing this task for an episode.")


class BucketRangeConfig(_Config):
    """A range bucket of env.buckets: `bins` equal bins of [low, high], one task each, the value drawn inside its bin."""

    range: tuple[int | float, int | float] = Field(description="[low, high]: the values the option takes.")
    bins: int = Field(ge=1, description="Equal bins the range is cut into; one task per bin.")
    integer: bool | None = Field(None, description="Draw integers (None: by the option's type).")


class EnvConfig(_Config):
    """Which game to train on and how many copies to step at once."""

    preset: str = Field("navigation", description="A mettagrid preset name or the path of a GameConfig YAML/JSON file.")
    game: dict[str, Any] = Field(default_factory=dict, description="Overrides: preset function arguments (e.g. num_agents, size) or GameConfig fields (deep-merged).")
    num_envs: int = Field(64, ge=1, description="Games stepped together per rank.")
    num_threads: int = Field(1, ge=1, description="C++ threads stepping the games.")
    teacher: str | None = Field(None, description="A scripted teacher (trainer.teachers: navigation, navigation_maze, navigation_curriculum, arena, arena_combat) whose actions for the current observations the env writes into teacher_actions after every reset and step, for the action_supervised loss. None: no teacher (teacher_actions stay 0).")

    @field_validator("teacher")
    @classmethod
    def _known_teacher(cls, value: str | None) -> str | None:
        if value is not None:
            from trainer.teachers import teacher_family  # numpy and mettagrid only

            teacher_family(value)
        return value

    desync_episodes: bool = Field(True, description="Give each game's first episode a random length in [1, max_steps] so games do not all reset on the same step (GAME.md: on for training; evaluations always play full episodes).")
    group_size: int = Field(1, ge=1, description="Games per group of games that share every episode's seed (same map and start, episodes that begin and end together; for the grpo loss's groups); must divide num_envs. 1: every game its own seed.")

    @model_validator(mode="after")
    def _group_size_divides(self) -> "EnvConfig":
        if self.num_envs % self.group_size:
            raise ValueError(f"group_size = {self.group_size} must divide num_envs = {self.num_envs}")
        return self

    curriculum: dict[str, CurriculumTaskConfig] | None = Field(None, description="Task name -> task: each episode of each game plays a task drawn by the curriculum_algorithm. Tasks must share num_agents, actions, items and the observation shape. None: every episode plays preset + game.")
    curriculum_algorithm: Literal["random", "learning_progress"] = Field("random", description="How tasks are drawn: random (by weight, mettagrid.curriculum.RandomCurriculum) or learning_progress (more often where the return is changing, LearningProgressCurriculum; weights unused).")
    buckets: dict[str, list[Any] | BucketRangeConfig] | None = Field(None, description="Bucketed curriculum (mettagrid.curriculum.BucketedCurriculum): option of preset + game -> a list of values, or {range: [low, high], bins: n}; one task per combination, named key=value,..., drawn by curriculum_algorithm. Not with curriculum.")

    @model_validator(mode="after")
    def _curriculum_weights(self) -> "EnvConfig":
        if self.curriculum is not None:
            if not self.curriculum:
                raise ValueError("curriculum is empty; give at least one task or None")
            if sum(t.weight for t in self.curriculum.values()) <= 0:
                raise ValueError("curriculum weights are all 0")
        if self.buckets is not None:
            if not self.buckets:
                raise ValueError("buckets is empty; give at least one option -> values, or None")
            if self.curriculum is not None:
                raise ValueError("curriculum and buckets are both set; use one of them")
        return self


class AgentModelConfig(_Config):
    """The policy architecture and its sizes."""

    policy: Literal["fast", "lstm", "transformer"] = Field("lstm", description="Architecture: fast (encoder + MLP), lstm (encoder + LSTM) or transformer (attention over tokens).")
    encoder: Literal["cnn", "tokens"] = Field("cnn", description="Encoder of fast and lstm: tokens (token-native first layer, no dense planes) or cnn (a CNN over dense feature planes).")
    hidden_dim: int = Field(128, ge=1, description="Width of the core (MLP / LSTM) that feeds the actor and critic heads.")
    cnn_channels: int = Field(32, ge=1, description="Channels of the CNN encoder (fast, lstm).")
    mlp_layers: int = Field(1, ge=1, description="Fully connected layers after the encoder.")
    lstm_layers: int = Field(1, ge=1, description="Stacked LSTM layers (lstm).")
    embed_dim: int = Field(32, ge=8, description="Token embedding width (transformer).")
    num_heads: int = Field(2, ge=1, description="Attention heads (transformer); must divide embed_dim.")
    transformer_layers: int = Field(1, ge=1, description="Self-attention layers over the tokens (transformer).")

    @model_validator(mode="after")
    def _heads(self) -> "AgentModelConfig":
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim = {self.embed_dim} is not divisible by num_heads = {self.num_heads}")
        return self


class OptimizerConfig(_Config):
    """The optimizer: Adam, or Muon for hidden 2-D weights with Adam for the rest."""

    type: Literal["adam", "muon"] = Field("adam", description="adam, or muon (Muon on hidden-layer matrices, Adam elsewhere).")
    learning_rate: float = Field(4.57e-4, gt=0, description="Learning rate (Muon uses it too, RMS-matched to Adam).")
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    eps: float = Field(1e-12, gt=0, description="Adam epsilon.")
    weight_decay: float = Field(0.0, ge=0, description="Decoupled weight decay.")
    momentum: float = Field(0.95, ge=0, lt=1, description="Muon momentum.")
    anneal_lr: bool = Field(False, description="Decay the learning rate linearly to zero over total_timesteps.")


class PPOConfig(_Config):
    """PPO loss coefficients and the V-trace-clipped GAE parameters (defaults are Metta's)."""

    clip_coef: float = Field(0.1, gt=0, description="Policy ratio clip range.")
    ent_coef: float = Field(0.0021, ge=0, description="Entropy bonus coefficient.")
    vf_coef: float = Field(0.44, ge=0, description="Value loss coefficient.")
    vf_clip_coef: float = Field(0.1, gt=0, description="Value clip range around the rollout values.")
    clip_vloss: bool = Field(True, description="Use the clipped value loss.")
    max_grad_norm: float = Field(0.5, gt=0, description="Global gradient norm clip.")
    gamma: float = Field(0.977, ge=0, le=1, description="Discount factor.")
    gae_lambda: float = Field(0.916, ge=0, le=1, description="GAE lambda.")
    vtrace_rho_clip: float = Field(1.0, gt=0, description="V-trace clip of the importance ratio in the TD term.")
    vtrace_c_clip: float = Field(1.0, gt=0, description="V-trace clip of the importance ratio in the trace.")
    norm_adv: bool = Field(True, description="Normalise advantages per minibatch.")
    update_epochs: int = Field(1, ge=1, description="Passes over the buffer per update.")
    target_kl: float | None = Field(None, gt=0, description="Stop the update once a minibatch's approx KL exceeds this (None: never).")
    advantages_per_minibatch: bool = Field(True, description="Recompute advantages before each minibatch with the latest ratios and values (PufferLib 3); else once per update.")


class LossConfig(_Config):
    """What every loss's config has: its weight in the summed loss (a loss's own config subclasses this)."""

    weight: float = Field(1.0, ge=0, description="The loss's multiplier in the update's summed loss.")


class PPOLossConfig(LossConfig):
    """PPO's clipped surrogate + vf_coef x value loss - ent_coef x entropy; the coefficients are the `ppo` section's."""


class ActionSupervisedConfig(LossConfig):
    """Imitation: cross-entropy of the policy's logits to the env's teacher_actions (stored by the rollout)."""

    final_weight: float | None = Field(None, ge=0, description="Anneal the weight linearly from `weight` to this over training, or over anneal_steps when given (None: constant).")
    anneal_steps: int | None = Field(None, ge=1, description="Agent steps over which the weight goes from `weight` to final_weight (default 0 when only this is set); None: over the whole run.")


class DynamicsConfig(LossConfig):
    """Auxiliary: from the core state at t and the action taken, predict the next step's reward and a pooled summary of
    the next observation's tokens (trainer/aux_losses.py)."""

    reward_coef: float = Field(1.0, ge=0, description="Multiplier of the reward-prediction error (squared, mean over step pairs).")
    obs_coef: float = Field(1.0, ge=0, description="Multiplier of the next-observation error (squared, summed over the target's entries, mean over step pairs).")
    regions: int = Field(3, ge=1, le=16, description="The observation window is pooled into regions x regions blocks for the next-observation target.")
    head_dim: int = Field(128, ge=1, description="Width of the prediction head's hidden layer.")


class ContrastiveConfig(LossConfig):
    """Auxiliary: InfoNCE between an agent's projected core state at t and at t+k in the same episode, the other rows
    of the minibatch as negatives (trainer/aux_losses.py)."""

    horizon: int = Field(4, ge=1, description="k, the steps from anchor to positive (offset=fixed), or the mean of k (offset=geometric); k < bptt_horizon.")
    offset: Literal["fixed", "geometric"] = Field("fixed", description="fixed: k = horizon; geometric: k drawn per minibatch from a geometric distribution with mean horizon (capped at bptt_horizon - 1).")
    temperature: float = Field(0.1, gt=0, description="Softmax temperature of the cosine similarities.")
    projection_dim: int = Field(64, ge=1, description="Width of the projections the similarities are computed in.")


class KickstarterTeacherConfig(_Config):
    """One teacher of the kickstarter: a policy checkpoint URI and the weight of its term."""

    uri: str = Field(description="Policy URI of the teacher: file://<path>, a plain path or a remote URI (s3://, gs://, ...); a folder means its latest checkpoint.")
    weight: float = Field(1.0, ge=0, description="Multiplier of this teacher's term in the kickstarter loss.")

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return _check_policy_uri(value)


def _check_policy_uri(value: str) -> str:
    """A teacher URI's form (the checkpoint itself is checked when the loss is built): a path, file:// or a scheme
    trainer.uris supports."""
    from trainer.uris import uri_scheme

    if not value.strip():
        raise ValueError("empty policy URI; expected file://<path>, a path or a supported URI")
    uri_scheme(value)  # ValueError naming the scheme and those supported
    return value


class KickstarterConfig(LossConfig):
    """Teacher distillation: the student's action distribution (and value) pulled towards trained teachers' on the
    steps the student plays, with a coefficient that fades linearly to 0 over anneal_steps agent steps."""

    teacher_uri: str | None = Field(None, description="Policy URI of one teacher (file://<path>, a path or a remote URI; a folder means its latest checkpoint); weight 1. Combine with or replace by `teachers`.")
    teachers: list[KickstarterTeacherConfig] = Field(default_factory=list, description="Several teachers, each {uri, weight}: the loss sums weight x each teacher's term.")
    action_loss: Literal["kl", "ce"] = Field("kl", description="kl: KL(teacher || student) of the action distributions; ce: their cross-entropy H(teacher, student) (the same gradient, plus the teacher's entropy in the value).")
    value_coef: float = Field(1.0, ge=0, description="Multiplier of the value-matching term, the mean squared difference of the student's and the teacher's values.")
    anneal_steps: int | None = Field(500_000, ge=1, description="Agent steps over which the coefficient (weight) goes linearly to 0; after that the teachers are dropped from memory and no longer run (None: constant, teachers kept).")

    @field_validator("teacher_uri")
    @classmethod
    def _teacher_uri(cls, value: str | None) -> str | None:
        return None if value is None else _check_policy_uri(value)

    @model_validator(mode="after")
    def _some_teacher(self) -> "KickstarterConfig":
        if self.teacher_uri is None and not self.teachers:
            raise ValueError("no teacher: set teacher_uri (one policy URI) or teachers (a list of {uri, weight})")
        if self.teacher_uri is None and all(t.weight == 0 for t in self.teachers):
            raise ValueError(f"teachers: every weight is 0 ({[t.weight for t in self.teachers]}); give one a weight > 0")
        return self

    def teacher_list(self) -> list[KickstarterTeacherConfig]:
        """The teachers as one list: teacher_uri (weight 1) first, then `teachers`."""
        one = [KickstarterTeacherConfig(uri=self.teacher_uri)] if self.teacher_uri is not None else []
        return one + list(self.teachers)


class GRPOConfig(LossConfig):
    """GRPO: the clipped surrogate on group-relative advantages, each step's discounted return-to-go normalised over
    the steps of a group of episodes that share a start, at the same step (trainer/grpo.py, docs/TRAINER.md GRPO)."""

    group_by: Literal["auto", "seed", "task", "batch"] = Field("auto", description="Which episodes form a group: seed (the same episode seed and agent slot: the env's games in groups of env.group_size), task (the same curriculum task), batch (every episode in the buffer); auto: seed when env.group_size > 1, else task.")
    use_critic: bool = Field(False, description="Bootstrap the return of episodes unfinished at the buffer's end with the critic's value there and train the value head on the returns (vf_coef); false: no value term, unfinished episodes per `unfinished`.")
    unfinished: Literal["truncate", "drop"] = Field("truncate", description="Without the critic, steps of episodes still running at the buffer's end: truncate (their return counts the rewards up to the buffer's end) or drop (left out of the loss).")
    gamma: float | None = Field(None, ge=0, le=1, description="Discount of the returns-to-go (None: ppo.gamma).")
    clip_coef: float | None = Field(None, gt=0, description="Policy ratio clip range (None: ppo.clip_coef).")
    ent_coef: float | None = Field(None, ge=0, description="Entropy bonus coefficient (None: ppo.ent_coef).")
    kl_coef: float = Field(0.0, ge=0, description="Coefficient of a KL penalty to the rollout policy (the k3 estimate exp(-l) + l - 1 of the log-ratio l of the taken actions); 0: none.")
    vf_coef: float | None = Field(None, ge=0, description="Value loss coefficient with use_critic (None: ppo.vf_coef); must stay unset without the critic.")
    scale_by_std: bool = Field(True, description="Divide by the group's standard deviation at that step (false: subtract the group's mean only).")

    @model_validator(mode="after")
    def _critic_fields(self) -> "GRPOConfig":
        if not self.use_critic and self.vf_coef is not None:
            raise ValueError(f"vf_coef = {self.vf_coef} is set but use_critic is false (no value term is trained); "
                             "set use_critic: true or leave vf_coef unset")
        if self.use_critic and self.unfinished != "truncate":
            raise ValueError(f"unfinished = {self.unfinished!r} applies only without the critic (use_critic: true "
                             "bootstraps unfinished episodes); leave it 'truncate' or set use_critic: false")
        return self


# loss name -> its config class; trainer.losses.register_loss adds to it (the built-in ones are here, torch-free,
# so that a TrainerConfig validates without torch)
LOSS_CONFIGS: dict[str, type[LossConfig]] = {"ppo": PPOLossConfig, "action_supervised": ActionSupervisedConfig}
LOSS_CONFIGS.update(dynamics=DynamicsConfig, contrastive=ContrastiveConfig)  # the auxiliary objectives
LOSS_CONFIGS.update(kickstarter=KickstarterConfig)  # teacher distillation (trainer.losses.KickstarterLoss)
LOSS_CONFIGS.update(grpo=GRPOConfig)  # group-relative advantages (trainer.grpo.GRPOLoss)


def loss_config(name: str, value: Any) -> LossConfig:
    """`value` (a mapping, None or a config) validated as the config of the registered loss `name`."""
    cls = LOSS_CONFIGS.get(name)
    if cls is None:
        raise ValueError(f"unknown loss {name!r}; registered losses: {', '.join(sorted(LOSS_CONFIGS))}")
    if isinstance(value, cls):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    try:
        return cls.model_validate({} if value is None else value)
    except ValidationError as e:
        raise ValueError(f"losses.{name}: {_format_validation_error(e)}") from None


class ExperienceConfig(_Config):
    """The rollout buffer: segments of bptt_horizon steps, minibatches of whole segments."""

    batch_size: int | None = Field(None, ge=1, description="Agent steps per rollout per rank; a multiple of agents x bptt_horizon (None: one segment per agent).")
    minibatch_size: int | None = Field(None, ge=1, description="Agent steps per minibatch; a multiple of bptt_horizon dividing batch_size (None: the whole batch).")
    bptt_horizon: int = Field(64, ge=2, description="Steps per segment (and backprop-through-time length).")
    prio_alpha: float = Field(0.0, ge=0, description="Prioritised segment sampling exponent on summed |advantage| (0: uniform, each segment once per epoch).")
    prio_beta0: float = Field(0.6, ge=0, le=1, description="Initial importance-weight exponent, annealed to 1 over training.")


class CheckpointConfig(_Config):
    """When and where policies and trainer state are written."""

    checkpoint_interval: int = Field(50, ge=1, description="Epochs between checkpoints (one is always written at the end).")
    keep_last: int | None = Field(None, ge=1, description="Keep only this many newest policy files (None: keep all).")
    uri: str | None = Field(None, description="The folder checkpoints and trainer_state.pt go to, and a run resumes from: a path, file://, memory://, s3:// or gs:// (all but local ones need the remote extra) (None: train_dir/<run>/checkpoints).")

    @field_validator("uri")
    @classmethod
    def _writable_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("checkpoint.uri is empty; give a folder path or URI, or leave it unset (None)")
        return None if value is None else check_writable_uri(value)


class SimulationConfig(_Config):
    """Periodic evaluation of the policy on fresh games."""

    evaluate_interval: int = Field(0, ge=0, description="Epochs between evaluations (0: never).")
    num_episodes: int = Field(32, ge=1, description="Episodes per evaluation.")
    num_envs: int = Field(16, ge=1, description="Games stepped together during evaluation.")
    env: EnvConfig | None = Field(None, description="Evaluation env (None: the training env's game).")
    suite: dict[str, EnvConfig] | None = Field(None, description="Named evaluation envs, each evaluated at every evaluation (None: the one env above).")
    stats_db: bool = Field(False, description="Append every evaluation episode to train_dir/<run>/stats.duckdb (needs duckdb, the stats extra).")
    replay_interval: int = Field(0, ge=0, description="Epochs between replays of one evaluation-env episode (0: never).")
    replay_dir: str | None = Field(None, description="Where replays go as <run>:v<epoch>.<format> (None: train_dir/<run>/replays).")
    replay_format: Literal["html", "gif"] = Field("html", description="html: the browser viewer (play, step, inspect agents and objects); gif: an animated GIF (needs Pillow).")

    @model_validator(mode="after")
    def _one_kind_of_sims(self) -> "SimulationConfig":
        if self.suite is not None and self.env is not None:
            raise ValueError("give simulation.env or simulation.suite, not both")
        if self.suite is not None and not self.suite:
            raise ValueError("simulation.suite is empty; give at least one {name: env} or None")
        if self.stats_db and not self.evaluate_interval:
            raise ValueError("simulation.stats_db needs simulation.evaluate_interval > 0")
        return self

    def sims(self, train_env: EnvConfig) -> dict[str, EnvConfig]:
        """The named evaluation envs: the suite, else {its preset: env, or the training env}."""
        if self.suite is not None:
            return dict(self.suite)
        env = self.env or train_env
        return {Path(env.preset).stem: env}


class TrainerConfig(_Config):
    """Everything a training run needs; the root of the command-line overrides (prefix `trainer.` optional)."""

    run: str = Field("run", min_length=1, description=f"Run name: output goes to train_dir/<run>/ and re-running resumes it; {RUN_NAME_RULE}.")
    train_dir: str = Field("train_dir", description="Directory holding run directories.")
    device: str = Field("auto", description="Torch device: auto (cuda when available, else cpu), cpu, cuda, cuda:1 ...")
    precision: Literal["float32", "bfloat16"] = Field("float32", description="The policy's forward passes (rollout and update): float32, or bfloat16 autocast (for GPUs with bf16; losses and optimizer stay float32).")
    seed: int = Field(0, ge=0, description="Seed of torch, numpy and the envs (rank r adds r * 1000003).")
    total_timesteps: int = Field(10_000_000, ge=1, description="Agent steps to train for, summed over ranks.")
    torch_threads: int | None = Field(1, ge=1, description="torch.set_num_threads per process (None: torch's default); 1 suits small CPU batches and shared machines.")
    log_interval: int = Field(1, ge=1, description="Epochs between metrics records and display refreshes.")
    progress: bool = Field(True, description="Show the live progress display (rank 0).")
    tensorboard: bool = Field(False, description="Also log to TensorBoard in train_dir/<run>/tensorboard (needs tensorboard).")
    wandb: bool = Field(False, description="Also log to Weights & Biases (needs wandb).")
    wandb_project: str = Field("metta-gridworld", description="Weights & Biases project.")
    env: EnvConfig = Field(default_factory=EnvConfig, description="The training env.")
    agent: AgentModelConfig = Field(default_factory=AgentModelConfig, description="The policy.")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="The optimizer.")
    ppo: PPOConfig = Field(default_factory=PPOConfig, description="PPO and advantage settings.")
    experience: ExperienceConfig = Field(default_factory=ExperienceConfig, description="Rollout buffer and minibatches.")
    losses: dict[str, SerializeAsAny[LossConfig]] = Field(default_factory=lambda: {"ppo": PPOLossConfig()}, description="Loss name -> its config (each with a weight), summed in every update: ppo (coefficients in `ppo`), action_supervised (imitation of the env's teacher_actions), or any registered with trainer.losses.register_loss; see docs/TRAINER.md, Losses.")
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig, description="Checkpoints.")
    simulation: SimulationConfig = Field(default_factory=SimulationConfig, description="Evaluation.")

    @field_validator("losses", mode="before")
    @classmethod
    def _losses(cls, value: Any) -> dict[str, LossConfig]:
        if not isinstance(value, dict):
            raise ValueError(f"losses must be a mapping of loss name -> config, got {type(value).__name__}")
        if not value:
            raise ValueError(f"losses is empty; give at least one of: {', '.join(sorted(LOSS_CONFIGS))}")
        return {name: loss_config(name, v) for name, v in value.items()}

    @field_validator("run")
    @classmethod
    def _run_name(cls, value: str) -> str:
        return check_run_name(value)

    @model_validator(mode="after")
    def _teacher_for_imitation(self) -> "TrainerConfig":
        if "action_supervised" in self.losses and self.env.teacher is None:
            raise ValueError("losses.action_supervised imitates the env's teacher_actions, but env.teacher is not set "
                             "(nothing would fill them: every label would be noop); set env.teacher=<name>, e.g. "
                             "navigation or arena")
        return self

    @property
    def run_dir(self) -> Path:
        """train_dir/<run>."""
        return Path(self.train_dir) / self.run

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainerConfig":
        """Loads a config from a YAML (or JSON) file; errors name the file and the key."""
        return load_trainer_config(path)

    def to_yaml(self) -> str:
        """The config as YAML text (loadable with from_yaml)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ------------------------------------------------------------------ loading and overrides


def _format_validation_error(err: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        key = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "<root>"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        else:
            parts.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
    return "; ".join(parts)


def load_trainer_config(path: str | Path) -> TrainerConfig:
    """Reads a TrainerConfig from YAML/JSON; a top-level `trainer:` wrapper is accepted."""
    path = Path(path)
    try:
        data = load_yaml(path.read_text(), str(path))  # size- and alias-limited (a YAML bomb is refused)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    if set(data) == {"trainer"} and isinstance(data["trainer"], dict):
        data = data["trainer"]
    try:
        return TrainerConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{path}: {_format_validation_error(e)}") from None


def parse_value(text: str) -> Any:
    """Parses a command-line value: ints, floats (1e6 included), then YAML (true, null, [1, 2], {a: 1}), else the string."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    try:
        return load_yaml(text, "override value")
    except ValueError:
        return text


def _unwrap_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _model_class(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap_optional(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _coerce(value: Any, tp: Any) -> Any:
    """Turns an integral float (1e6) into an int where the field is an int."""
    if _unwrap_optional(tp) is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _unknown_key(dotted: str, model: type[BaseModel], name: str) -> ConfigError:
    fields = list(model.model_fields)
    close = difflib.get_close_matches(name, fields, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; {model.__name__} fields: {', '.join(fields)}"
    return ConfigError(f"unknown config key {dotted!r}: {model.__name__} has no field {name!r}{hint}")


def apply_overrides(config: TrainerConfig, overrides: dict[str, Any] | list[str]) -> TrainerConfig:
    """Returns a copy of `config` with dotted `key=value` overrides applied (a leading `trainer.` is optional)."""
    if isinstance(overrides, list):
        pairs: dict[str, Any] = {}
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not of the form key=value")
            key, text = item.split("=", 1)
            pairs[key.strip()] = parse_value(text)
        overrides = pairs
    data = config.model_dump()
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if parts[0] == "trainer" and len(parts) > 1:
            parts = parts[1:]
        if any(p == "" for p in parts):
            raise ConfigError(f"override key {dotted!r} is malformed")
        node: dict[str, Any] = data
        model: type[BaseModel] | None = TrainerConfig
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            if model is not None:
                if name not in model.model_fields:
                    raise _unknown_key(dotted, model, name)
                tp = model.model_fields[name].annotation
                if last:
                    node[name] = _coerce(value, tp)
                    break
                sub = _model_class(tp)
                if node.get(name) is None:
                    node[name] = {} if sub is None else sub().model_dump() if _has_defaults(sub) else {}
                if not isinstance(node[name], dict):
                    raise ConfigError(f"override {dotted!r}: {'.'.join(parts[:i + 1])} is not a mapping")
                node, model = node[name], sub
            else:  # inside a free-form dict field such as env.game
                if last:
                    node[name] = value
                    break
                node = node.setdefault(name, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"override {dotted!r}: {'.'.join(parts[:i + 1])} is not a mapping")
    try:
        return TrainerConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"invalid override: {_format_validation_error(e)}") from None


def _has_defaults(model: type[BaseModel]) -> bool:
    return all(not f.is_required() for f in model.model_fields.values())


def _type_name(tp: Any) -> str:
    tp_str = getattr(tp, "__name__", None) if not typing.get_args(tp) else None
    text = tp_str or str(tp).replace("typing.", "")
    return re.sub(r"Annotated\[([\w.]+), [^\]]*\]", r"\1", text).replace("trainer.config.", "")


def config_help(model: type[BaseModel] | BaseModel = TrainerConfig, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) for every field, recursing into nested configs; given a config
    instance (e.g. a recipe's TrainerConfig) instead of a class, its values are the defaults shown."""
    instance = model if isinstance(model, BaseModel) else None
    cls = type(model) if isinstance(model, BaseModel) else model
    rows: list[tuple[str, str, str, str]] = []
    for name, field in cls.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model_class(field.annotation)
        if instance is not None:
            value = getattr(instance, name)
        else:
            value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        if sub is not None and field.default is not None:
            rows.extend(config_help(value if instance is not None else sub, f"{key}."))
            continue
        rows.append((key, _type_name(field.annotation), repr(to_jsonable_python(value)), field.description or ""))
    return rows

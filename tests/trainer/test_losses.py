"""The loss interface: PPO and action-supervised losses by hand, the registry, config validation, and training with
several losses summed by weight."""

from __future__ import annotations

import json
import math

import pytest
import torch
from pydantic import ValidationError

import trainer.train as tt
from tiny_run import tiny_config
from trainer import AgentModelConfig, ConfigError, EnvConfig, ExperienceConfig, PPOConfig, TrainerConfig
from trainer import apply_overrides, compute_advantages, make_agent, make_environment, make_experience_manager
from trainer import make_optimizer, rollout, train_ppo
from trainer.config import LOSS_CONFIGS, LossConfig
from trainer.losses import LOSSES, ActionSupervisedLoss, Loss, PPOLoss, make_losses, needed_keys, register_loss


@pytest.fixture
def registry():
    """Restores the loss registry after a test that registers a loss."""
    losses, configs = dict(LOSSES), dict(LOSS_CONFIGS)
    yield
    LOSSES.clear(), LOSSES.update(losses)
    LOSS_CONFIGS.clear(), LOSS_CONFIGS.update(configs)


def test_ppo_loss_by_hand() -> None:
    # ratio [1, 1.5], A [1, -1], clip 0.2: max(-A r, -A clip(r)) = [max(-1, -1), max(1.5, 1.2)] -> mean 0.25
    # V [1, 2], V_old [1, 1], R [0, 3], clip 0.1: [max(1, 1), max(1, (1.1 - 3)^2 = 3.61)] -> 0.5 mean = 1.1525
    ratio = torch.tensor([1.0, 1.5], requires_grad=True)
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    entropy = torch.tensor(1.5, requires_grad=True)
    ppo = PPOConfig(clip_coef=0.2, vf_clip_coef=0.1, ent_coef=0.01, vf_coef=0.5, norm_adv=False)
    loss_fn = PPOLoss({"weight": 2.0}, ppo)
    mb = {"advantages": torch.tensor([1.0, -1.0]), "values": torch.tensor([1.0, 1.0]),
          "returns": torch.tensor([0.0, 3.0]), "prio_weights": None}
    loss, stats = loss_fn.compute(torch.nn.Identity(), mb, {"ratio": ratio, "values": values, "entropy": entropy})
    assert float(stats["policy_loss"].detach()) == pytest.approx(0.25)
    assert float(stats["value_loss"].detach()) == pytest.approx(1.1525)
    assert float(loss.detach()) == pytest.approx(0.25 - 0.01 * 1.5 + 0.5 * 1.1525)
    assert loss_fn.weight == 2.0  # train_ppo multiplies; compute returns the unweighted loss
    loss.backward()
    # d/dr: -A / 2 on each element (element 1 is unclipped: its -A r is the larger)
    assert ratio.grad.tolist() == pytest.approx([-0.5, 0.5])
    # d/dV: vf_coef * 0.5 * 2 (V - R) / 2 = 0.25 on element 0; element 1's clipped term wins, flat in V
    assert values.grad.tolist() == pytest.approx([0.25, 0.0])
    assert float(entropy.grad) == pytest.approx(-0.01)
    # prioritised sampling: the importance weights scale the advantages
    mb["prio_weights"] = torch.tensor([2.0, 2.0])
    _, stats = loss_fn.compute(torch.nn.Identity(), mb, {"ratio": ratio, "values": values, "entropy": entropy})
    assert float(stats["policy_loss"].detach()) == pytest.approx(0.5 * (-2.0 + 3.0))


def test_action_supervised_loss_by_hand() -> None:
    # softmax([0, ln 3]) = [1/4, 3/4] with target 1; softmax([0, 0]) = [1/2, 1/2] with target 0
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]], requires_grad=True)  # (M=1, T=2, A=2)
    loss_fn = ActionSupervisedLoss({"weight": 0.1})
    loss, stats = loss_fn.compute(torch.nn.Identity(), {"teacher_actions": torch.tensor([[1, 0]])},
                                  {"logits": logits})
    assert float(loss.detach()) == pytest.approx((-math.log(0.75) - math.log(0.5)) / 2)
    assert float(stats["ActionSupervisedLoss/accuracy"]) == 1.0
    loss.backward()
    # d CE / d logits = (softmax - onehot) / N
    assert logits.grad[0].tolist() == [pytest.approx([0.125, -0.125]), pytest.approx([-0.25, 0.25])]
    assert ActionSupervisedLoss.needs == {"teacher_actions"}


def test_action_supervised_weight_anneals() -> None:
    loss_fn = make_losses({"action_supervised": {"weight": 1.0, "final_weight": 0.2}})["action_supervised"]
    assert loss_fn.weight == 1.0
    loss_fn.step(0.5)
    assert loss_fn.weight == pytest.approx(0.6)
    loss_fn.step(2.0)  # clamped at the end of training
    assert loss_fn.weight == pytest.approx(0.2)
    constant = make_losses({"action_supervised": {"weight": 0.3}})["action_supervised"]
    constant.step(0.9)
    assert constant.weight == 0.3
    # over agent steps: to 0 (final_weight unset) after anneal_steps, whatever the run's length
    by_steps = make_losses({"action_supervised": {"weight": 2.0, "anneal_steps": 1000}}, agent_step=250)
    loss_fn = by_steps["action_supervised"]
    loss_fn.step(0.01)
    assert loss_fn.weight == pytest.approx(1.5)
    loss_fn.agent_step = 5000
    loss_fn.step(0.02)
    assert loss_fn.weight == 0.0
    to_final = make_losses({"action_supervised": {"weight": 1.0, "final_weight": 0.5, "anneal_steps": 100}},
                           agent_step=50)["action_supervised"]
    to_final.step(0.99)
    assert to_final.weight == pytest.approx(0.75)


def test_loss_configs_are_validated() -> None:
    cfg = TrainerConfig()
    assert list(cfg.losses) == ["ppo"] and cfg.losses["ppo"].weight == 1.0
    both = TrainerConfig(env={"teacher": "navigation"},
                         losses={"ppo": {}, "action_supervised": {"weight": 0.1, "final_weight": 0.0}})
    assert type(both.losses["action_supervised"]).__name__ == "ActionSupervisedConfig"
    # the subclass fields survive a YAML round trip
    assert TrainerConfig.model_validate(both.model_dump()) == both
    assert both.model_dump()["losses"]["action_supervised"] == {"weight": 0.1, "final_weight": 0.0, "anneal_steps": None}

    with pytest.raises(ValidationError, match=r"unknown loss 'ppo2'; registered losses: action_supervised, contrastive, "
                                             r"dynamics, grpo, kickstarter, ppo"):
        TrainerConfig(losses={"ppo2": {}})
    with pytest.raises(ValidationError, match=r"losses.ppo: unknown key 'wieght'"):
        TrainerConfig(losses={"ppo": {"wieght": 1.0}})
    with pytest.raises(ValidationError, match=r"losses.action_supervised: weight"):
        TrainerConfig(losses={"action_supervised": {"weight": -1}})
    with pytest.raises(ValidationError, match=r"losses.action_supervised imitates .* env.teacher is not set"):
        TrainerConfig(losses={"ppo": {}, "action_supervised": {}})  # nothing would fill teacher_actions
    with pytest.raises(ValidationError, match="losses is empty"):
        TrainerConfig(losses={})
    with pytest.raises(ValueError, match=r"unknown loss 'nope'; registered losses: action_supervised, contrastive"):
        make_losses({"nope": {}})
    with pytest.raises(ValidationError):
        ActionSupervisedLoss({"weight": 1.0, "temperature": 2.0})

    # dotted overrides reach into a loss's config
    cfg = apply_overrides(cfg, ["env.teacher=navigation", "losses.action_supervised.weight=0.1"])
    assert set(cfg.losses) == {"ppo", "action_supervised"} and cfg.losses["action_supervised"].weight == 0.1
    with pytest.raises(ConfigError, match="unknown key 'wieght'"):
        apply_overrides(cfg, ["losses.ppo.wieght=2"])
    with pytest.raises(ConfigError, match="registered losses"):
        apply_overrides(cfg, ["losses.imitation.weight=2"])


def test_register_loss(registry) -> None:
    class ScaleConfig(LossConfig):
        scale: float = 1.0

    @register_loss("logit_l2")
    class LogitL2(Loss):
        Config = ScaleConfig

        def compute(self, policy, minibatch, outputs):
            return self.config.scale * outputs["logits"].pow(2).mean(), {}

    cfg = TrainerConfig(losses={"ppo": {}, "logit_l2": {"weight": 0.5, "scale": 2.0}})
    losses = make_losses(cfg.losses, cfg.ppo)
    assert isinstance(losses["logit_l2"], LogitL2) and losses["logit_l2"].config.scale == 2.0
    assert losses["logit_l2"].weight == 0.5 and needed_keys(losses) == PPOLoss.needs
    with pytest.raises(ValidationError, match="unknown key 'scael'"):
        TrainerConfig(losses={"logit_l2": {"scael": 1.0}})

    with pytest.raises(ValueError, match="unknown minibatch keys"):
        @register_loss("bad")
        class Bad(Loss):
            needs = frozenset({"rewardz"})
    with pytest.raises(TypeError, match="Config must subclass"):
        @register_loss("bad")
        class Bad2(Loss):
            Config = dict
    assert "bad" not in LOSSES and "bad" not in LOSS_CONFIGS


def _setup(store: tuple[str, ...] = ()) -> tuple:
    torch.manual_seed(0)
    env = make_environment(EnvConfig(num_envs=4), seed=1)
    agent = make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                       AgentModelConfig(policy="fast", hidden_dim=32, cnn_channels=8), feature_spec=env.feature_spec())
    experience = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=16, batch_size=128,
                                                                      minibatch_size=32), store=store)
    return env, agent, make_optimizer(agent, learning_rate=3e-3), experience


def test_teacher_actions_stored_only_when_needed() -> None:
    _, agent, opt, exp = _setup()
    assert exp.teacher_actions is None and "teacher_actions" not in exp.minibatch_keys
    rollout(exp, agent)
    assert "teacher_actions" not in exp.minibatch(torch.arange(2))
    with pytest.raises(ValueError, match=r"\['teacher_actions'\].*store="):
        train_ppo(agent, opt, exp, losses={"action_supervised": {}})
    with pytest.raises(ValueError, match="cannot store"):
        make_experience_manager(exp.env, agent, store=("rewardz",))


def test_train_ppo_sums_weighted_losses() -> None:
    env, agent, opt, exp = _setup(store=("teacher_actions",))
    env.teacher_actions[:] = 2  # a teacher that always says action 2
    rollout(exp, agent)
    assert torch.equal(exp.teacher_actions[: env.num_agents, 5], torch.from_numpy(env.teacher_actions).long())
    stats = train_ppo(agent, opt, exp, PPOConfig(), losses={"ppo": {}, "action_supervised": {"weight": 0.1}})
    assert stats["loss/ppo/weight"] == 1.0 and stats["loss/action_supervised/weight"] == 0.1
    for key in ("loss/ppo", "loss/action_supervised", "policy_loss", "value_loss", "action_supervised/accuracy"):
        assert math.isfinite(stats[key]), key
    assert stats["loss/action_supervised"] == pytest.approx(math.log(env.single_action_space.n), rel=0.05)

    # imitation alone learns the teacher: the cross-entropy falls and the accuracy reaches 1
    losses = make_losses({"action_supervised": {}})  # built once: kept across updates
    first = None
    for _ in range(15):
        rollout(exp, agent)
        compute_advantages(exp)
        stats = train_ppo(agent, opt, exp, losses=losses, update_epochs=2)
        first = stats["loss/action_supervised"] if first is None else first
        assert "loss/ppo" not in stats and "policy_loss" not in stats
    assert stats["loss/action_supervised"] < 0.5 * first
    assert stats["action_supervised/accuracy"] == 1.0


def test_train_with_two_losses(tmp_path) -> None:
    cfg = tiny_config(tmp_path, epochs=2)
    cfg.env.teacher = "navigation"
    cfg.losses = {"ppo": {}, "action_supervised": {"weight": 0.1}}
    tt.train(cfg)
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "loss/ppo" in r]
    assert len(train_records) == 2
    for r in train_records:
        assert r["loss/ppo/weight"] == 1.0 and r["loss/action_supervised/weight"] == 0.1
        assert r["loss/action_supervised"] > 0 and "policy_loss" in r
    # the run's config.yaml keeps the losses
    assert TrainerConfig.from_yaml(cfg.run_dir / "config.yaml").losses == cfg.losses

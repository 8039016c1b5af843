"""A custom loss in a few lines: an L2 penalty on the policy's logits, trained next to PPO.

A loss is a class with its own typed config (a LossConfig: a weight plus its settings) registered under a name;
TrainerConfig.losses then names it like the built-in ones (`ppo`, `action_supervised`), and every update
minimises the sum of weight x loss. Run it as is, or tiny: `python examples/custom_loss.py --epochs 2 --num-envs 2`.
"""

import argparse

import torch
from pydantic import Field

from trainer import *

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--num-envs", type=int, default=16)
args = parser.parse_args()


class LogitPenaltyConfig(LossConfig):
    """Keeps the logits small (the policy stays soft)."""

    scale: float = Field(1.0, gt=0, description="Multiplies the mean squared logit.")


@register_loss("logit_l2")
class LogitPenalty(Loss):
    Config = LogitPenaltyConfig

    def compute(self, policy, minibatch, outputs):
        logits = outputs["logits"]
        return self.config.scale * logits.pow(2).mean(), {"logit_l2/max_abs_logit": logits.detach().abs().max()}


# The config validates the new loss's settings like any other (an unknown key or loss name is an error).
cfg = TrainerConfig(env=EnvConfig(num_envs=args.num_envs), losses={"ppo": {}, "logit_l2": {"weight": 0.01}})

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
env = make_environment(cfg.env)
agent = make_agent(env.single_observation_space, env.single_action_space, [], device,
                   config=AgentModelConfig(policy="fast", hidden_dim=64), feature_spec=env.feature_spec())
optimizer = make_optimizer(agent, OptimizerConfig(learning_rate=1e-3))
losses = make_losses(cfg.losses, cfg.ppo)  # built once, so a loss's state carries across updates
experience = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=16))

for epoch in range(args.epochs):
    batch = rollout(experience, agent)
    compute_advantages(experience, ppo_config=cfg.ppo)
    stats = train_ppo(agent, optimizer, experience, cfg.ppo, losses=losses, progress=epoch / args.epochs)
    print(f"epoch {epoch}: loss/logit_l2 {stats['loss/logit_l2']:.3e} (weight {stats['loss/logit_l2/weight']}), "
          f"max |logit| {stats['logit_l2/max_abs_logit']:.4f}, loss/ppo {stats['loss/ppo']:.4f}, "
          f"episodes {batch['episodes']}")

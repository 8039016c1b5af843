"""The seed API doc's "Basic Training Loop", on metta-gridworld's trainer.

Run it as is (100 epochs of 64 games), or tiny: `python examples/functional_training.py --epochs 2 --num-envs 2`
(or METTA_EXAMPLE_EPOCHS=2 METTA_EXAMPLE_NUM_ENVS=2). Checkpoints go to ./checkpoints.
"""

import argparse
import os

import torch

from trainer import *

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=int(os.environ.get("METTA_EXAMPLE_EPOCHS", 100)))
parser.add_argument("--num-envs", type=int, default=int(os.environ.get("METTA_EXAMPLE_NUM_ENVS", 64)))
args = parser.parse_args()

# Setup
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# Create environment and agent with configs
env = make_environment(EnvConfig(game={"num_agents": 4}, num_envs=args.num_envs))
agent = make_agent(
    env.single_observation_space,
    env.single_action_space,
    [],
    device,
    config=AgentModelConfig(hidden_dim=512),
    feature_spec=env.feature_spec(),
)

# Create optimizer and experience manager
optimizer = make_optimizer(agent, OptimizerConfig(learning_rate=3e-4))
experience = make_experience_manager(env, agent)

# Training loop
for epoch in range(args.epochs):
    # Collect experience
    batch_info = rollout(experience, agent)

    # Compute advantages
    advantages = compute_advantages(experience)

    # Train
    stats = train_ppo(agent, optimizer, experience, update_epochs=4)

    print(f"Epoch {epoch}: {stats}")

    # Save periodically
    if epoch % 10 == 0:
        save_checkpoint(agent, "./checkpoints", epoch)

"""PPO on mettagrid/Navigation-v0 as a single file in the structure of CleanRL's ppo.py.

The env comes straight from Gymnasium: `gymnasium.make_vec(env_id, num_envs=...)` (by default the id's own vector
entry point, which steps every game in one C++ call; `--vectorization-mode sync|async` gives Gymnasium's
SyncVectorEnv / AsyncVectorEnv over `gymnasium.make` instead), wrapped in Gymnasium's
`RecordEpisodeStatistics`. Every vector env here resets a finished sub-env inside the step that ends it
(`AutoresetMode.SAME_STEP`), the convention the rollout and GAE below are written for.

Observations are 200 uint8 tokens `[location, feature id, value]` (location = row << 4 | col in the agent's
11 x 11 window, 0xFE for global features, 0xFF for padding; docs/GAME.md). The agent embeds each token from two
tables, one indexed by (location, feature id) and one by (feature id, value), adds the two, applies a ReLU and
sums over the tokens (a bag of tokens), then an MLP feeds the actor and critic heads.

At the end it plays a fixed number of seeded episodes with uniformly random actions and with the trained policy
(sampled actions) on the same maps and prints both mean returns. Needs torch.
"""

import argparse
import dataclasses
import random
import time
import typing
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.distributions.categorical import Categorical

import mettagrid  # noqa: F401  (registers the mettagrid/ ids)
from mettagrid.env import PADDING_LOCATION as PADDING  # the location byte of padding tokens


@dataclass
class Args:
    exp_name: str = "cleanrl_ppo"
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = False
    """if toggled, cuda will be used when available (this small network is faster on the CPU)"""
    torch_threads: int = 1
    """torch's CPU threads: the small batches gain little from more, and lose several times over on busy cores"""

    # Algorithm specific arguments
    env_id: str = "mettagrid/Navigation-v0"
    """the id of the environment"""
    vectorization_mode: str | None = None
    """None: the id's vector entry point (all games in one C++ call); or "sync" / "async" (Gymnasium's own)"""
    total_timesteps: int = 400_000
    """total timesteps of the experiments"""
    learning_rate: float = 1e-3
    """the learning rate of the optimizer"""
    num_envs: int = 32
    """the number of parallel game environments"""
    num_steps: int = 64
    """the number of steps to run in each environment per policy rollout"""
    anneal_lr: bool = True
    """Toggle learning rate annealing for policy and value networks"""
    gamma: float = 0.99
    """the discount factor gamma"""
    gae_lambda: float = 0.95
    """the lambda for the general advantage estimation"""
    num_minibatches: int = 4
    """the number of mini-batches"""
    update_epochs: int = 4
    """the K epochs to update the policy"""
    norm_adv: bool = True
    """Toggles advantages normalization"""
    clip_coef: float = 0.2
    """the surrogate clipping coefficient"""
    clip_vloss: bool = True
    """Toggles whether or not to use a clipped loss for the value function, as per the paper."""
    ent_coef: float = 0.01
    """coefficient of the entropy"""
    vf_coef: float = 0.5
    """coefficient of the value function"""
    max_grad_norm: float = 0.5
    """the maximum norm for the gradient clipping"""
    target_kl: float | None = None
    """the target KL divergence threshold"""
    eval_episodes: int = 128
    """episodes played by the random and by the trained policy at the end"""

    # to be filled in runtime
    batch_size: int = 0
    """the batch size (computed in runtime)"""
    minibatch_size: int = 0
    """the mini-batch size (computed in runtime)"""
    num_iterations: int = 0
    """the number of iterations (computed in runtime)"""


def parse_args() -> Args:
    """A flag for each field of Args, spelled as tyro spells them (--total-timesteps 500000, --no-anneal-lr)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    hints = typing.get_type_hints(Args)
    for field in dataclasses.fields(Args):
        if field.name in ("batch_size", "minibatch_size", "num_iterations"):
            continue
        flag, kind = "--" + field.name.replace("_", "-"), hints[field.name]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
        else:
            kind = next(t for t in typing.get_args(kind) or (kind,) if t is not type(None))
            choices = ["vector_entry_point", "sync", "async"] if field.name == "vectorization_mode" else None
            parser.add_argument(flag, type=kind, default=field.default, choices=choices,
                                help=f"default: {field.default}")
    return Args(**vars(parser.parse_args()))


def make_envs(env_id: str, num_envs: int, vectorization_mode: str | None) -> gym.vector.VectorEnv:
    """Gymnasium's make_vec and RecordEpisodeStatistics; Sync/AsyncVectorEnv are asked to autoreset in the same
    step too, as the id's own vector env does."""
    vector_kwargs = None if vectorization_mode in (None, "vector_entry_point") else {
        "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=vectorization_mode, vector_kwargs=vector_kwargs)
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    assert isinstance(envs.single_action_space, gym.spaces.Discrete), "only discrete action space is supported"
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    return envs


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Module:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv, embed_dim: int = 64, hidden_dim: int = 128,
                 max_features: int = 32) -> None:
        super().__init__()
        self.max_features = max_features  # feature ids at or above it share the last row (never in these games)
        # token = (location, feature id, value): one vector for "this feature at this place" and one for
        # "this feature with this value"; their sum through a ReLU lets "an altar, here" differ from "a wall, here"
        self.where = nn.Embedding(256 * max_features, embed_dim)
        self.what = nn.Embedding(max_features * 256, embed_dim)
        for table in (self.where, self.what):
            nn.init.normal_(table.weight, std=0.1)  # a sum over ~50 tokens stays near unit scale
        self.network = nn.Sequential(
            layer_init(nn.Linear(embed_dim, hidden_dim)),
            nn.ReLU(),
            layer_init(nn.Linear(hidden_dim, hidden_dim)),
            nn.ReLU(),
        )
        self.actor = layer_init(nn.Linear(hidden_dim, envs.single_action_space.n), std=0.01)
        self.critic = layer_init(nn.Linear(hidden_dim, 1), std=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, tokens, 3) uint8 -> (B, hidden_dim)."""
        used = max(1, int((x[:, :, 0] != PADDING).sum(1).max()))  # padding only follows the real tokens
        location, feature, value = x[:, :used].long().unbind(-1)
        feature = feature.clamp(max=self.max_features - 1)
        tokens = torch.relu(self.where(location * self.max_features + feature) + self.what(feature * 256 + value))
        bag = (tokens * (location != PADDING).unsqueeze(-1)).sum(1)
        return self.network(bag)

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(self.encode(x))

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
        hidden = self.encode(x)
        logits = self.actor(hidden)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(hidden)


def mean_return(args: Args, policy, seed: int) -> tuple[float, int]:
    """Mean return of the first episode of each of `eval_episodes` sub-envs, reset with `seed`. Always the id's
    own vector env: with --vectorization-mode async, one process per evaluation episode would be a waste."""
    envs = make_envs(args.env_id, args.eval_episodes, None)
    obs, _ = envs.reset(seed=seed)
    envs.action_space.seed(seed)
    returns = np.full(envs.num_envs, np.nan)
    while np.isnan(returns).any():
        obs, _, _, _, infos = envs.step(policy(envs, obs))
        if "_episode" in infos:
            first = infos["_episode"] & np.isnan(returns)
            returns[first] = infos["episode"]["r"][first]
    envs.close()
    return float(returns.mean()), len(returns)


if __name__ == "__main__":
    args = parse_args()
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"

    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    torch.set_num_threads(args.torch_threads)

    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    # env setup
    envs = make_envs(args.env_id, args.num_envs, args.vectorization_mode)
    num_envs = envs.num_envs  # sub-envs: num_envs games x agents per game (one agent in Navigation)
    args.batch_size = int(num_envs * args.num_steps)
    args.minibatch_size = int(args.batch_size // args.num_minibatches)
    args.num_iterations = args.total_timesteps // args.batch_size
    print(f"{run_name}: " + ", ".join(f"{k}={v}" for k, v in vars(args).items()))

    agent = Agent(envs).to(device)
    optimizer = optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # ALGO Logic: Storage setup
    obs = torch.zeros((args.num_steps, num_envs) + envs.single_observation_space.shape, dtype=torch.uint8).to(device)
    actions = torch.zeros((args.num_steps, num_envs) + envs.single_action_space.shape, dtype=torch.long).to(device)
    logprobs = torch.zeros((args.num_steps, num_envs)).to(device)
    rewards = torch.zeros((args.num_steps, num_envs)).to(device)
    dones = torch.zeros((args.num_steps, num_envs)).to(device)
    values = torch.zeros((args.num_steps, num_envs)).to(device)

    # TRY NOT TO MODIFY: start the game
    global_step = 0
    start_time = time.time()
    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = torch.as_tensor(next_obs).to(device)
    next_done = torch.zeros(num_envs).to(device)

    for iteration in range(1, args.num_iterations + 1):
        # Annealing the rate if instructed to do so.
        if args.anneal_lr:
            frac = 1.0 - (iteration - 1.0) / args.num_iterations
            optimizer.param_groups[0]["lr"] = frac * args.learning_rate

        episode_returns = []
        for step in range(0, args.num_steps):
            global_step += num_envs
            obs[step] = next_obs
            dones[step] = next_done

            # ALGO LOGIC: action logic
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs, reward, terminations, truncations, infos = envs.step(action.cpu().numpy())
            next_done = np.logical_or(terminations, truncations)
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32).to(device)
            next_obs = torch.as_tensor(next_obs).to(device)
            next_done = torch.as_tensor(next_done, dtype=torch.float32).to(device)

            if "_episode" in infos:  # RecordEpisodeStatistics: returns of the episodes that ended this step
                episode_returns.extend(infos["episode"]["r"][infos["_episode"]])
        if episode_returns:
            print(f"global_step={global_step}, episodic_return={np.mean(episode_returns):.2f} "
                  f"({len(episode_returns)} episodes), SPS={int(global_step / (time.time() - start_time))}")

        # bootstrap value if not done
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards).to(device)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values

        # flatten the batch
        b_obs = obs.reshape((-1,) + envs.single_observation_space.shape)
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1,) + envs.single_action_space.shape)
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)

        # Optimizing the policy and value network
        b_inds = np.arange(args.batch_size)
        clipfracs = []
        for epoch in range(args.update_epochs):
            np.random.shuffle(b_inds)
            for start in range(0, args.batch_size, args.minibatch_size):
                end = start + args.minibatch_size
                mb_inds = b_inds[start:end]

                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], b_actions[mb_inds])
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()

                with torch.no_grad():
                    # calculate approx_kl http://joschu.net/blog/kl-approx.html
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > args.clip_coef).float().mean().item()]

                mb_advantages = b_advantages[mb_inds]
                if args.norm_adv:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

                # Policy loss
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                # Value loss
                newvalue = newvalue.view(-1)
                if args.clip_vloss:
                    v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                    v_clipped = b_values[mb_inds] + torch.clamp(
                        newvalue - b_values[mb_inds],
                        -args.clip_coef,
                        args.clip_coef,
                    )
                    v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                    v_loss_max = torch.max(v_loss_unclipped, v_loss_clipped)
                    v_loss = 0.5 * v_loss_max.mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()

                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef

                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        y_pred, y_true = b_values.cpu().numpy(), b_returns.cpu().numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        if iteration % 10 == 0 or iteration == args.num_iterations:
            print(f"  iteration {iteration}/{args.num_iterations}: lr={optimizer.param_groups[0]['lr']:.2e}, "
                  f"value_loss={v_loss.item():.3f}, policy_loss={pg_loss.item():.3f}, "
                  f"entropy={entropy_loss.item():.3f}, approx_kl={approx_kl.item():.4f}, "
                  f"clipfrac={np.mean(clipfracs):.3f}, explained_variance={explained_var:.3f}")

    envs.close()

    # Evaluation: the same seeded maps for uniformly random actions and for the trained policy's sampled actions
    eval_seed = args.seed + 10_000

    def random_policy(eval_envs, _obs):
        return eval_envs.action_space.sample()

    def trained_policy(_eval_envs, eval_obs):
        with torch.no_grad():
            return agent.get_action_and_value(torch.as_tensor(eval_obs).to(device))[0].cpu().numpy()

    random_return, n = mean_return(args, random_policy, eval_seed)
    torch.manual_seed(eval_seed)
    trained_return, _ = mean_return(args, trained_policy, eval_seed)
    print(f"trained {global_step} steps in {time.time() - start_time:.0f} s")
    print(f"random return {random_return:.2f} -> trained return {trained_return:.2f} over {n} episodes")

"""Evaluation: run a policy (or uniformly random actions) for a number of episodes and report their returns and stats,
over one env or a named suite (optionally into DuckDB); write an episode of a policy as a replay (browser viewer, GIF
or JSON). `python -m trainer.sim <policy_uri>` does these from the command line, and `python -m trainer.evaluate
<suite> policy_uris=<uri>,...` evaluates many policies on a suite (its code is trainer.evaluate_many)."""

from __future__ import annotations

if __name__ == "__main__":  # the command: checks the `train` extra, then runs trainer.evaluate_many, which imports
    import sys  # this module as trainer.evaluate (so the code below runs once, under its own name)

    from trainer.extras import require_train_extra

    require_train_extra("python -m trainer.evaluate")
    import importlib  # by name: trainer.evaluate_many builds on this module, which imports nothing of it

    sys.exit(importlib.import_module("trainer.evaluate_many").main())

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from mettagrid import MettaGridEnv
from mettagrid.config import GameConfig
from mettagrid.replay import episode_frames, record_episode, require_gif_support, save_gif
from trainer.checkpoint import policy_uri as _policy_uri
from trainer.uris import is_remote
from trainer.config import EnvConfig
from trainer.distributed import unwrap
from trainer.env import make_environment
from trainer.experience import summarize_episodes
from trainer.stats_db import check_writable, write_episodes

__all__ = ["eval_metrics", "eval_policy", "eval_random", "evaluate_policy_suite", "policy_actor", "save_replay"]


def _as_env(env: MettaGridEnv | EnvConfig | GameConfig | str, num_episodes: int, num_envs: int | None,
            seed: int) -> MettaGridEnv:
    if isinstance(env, MettaGridEnv):
        return env
    n = num_envs or min(num_episodes, 16)
    if isinstance(env, EnvConfig):  # evaluations play whole episodes: no desynchronised first episode
        # plain games: whole episodes, every game its own map (no groups), no scripted teacher
        return make_environment(env.model_copy(update={"desync_episodes": False}), seed=seed, num_envs=n,
                                group_size=1, teacher=None)
    if isinstance(env, (GameConfig, str)):
        return MettaGridEnv(env, num_envs=n, seed=seed)
    raise TypeError(f"env must be a MettaGridEnv, EnvConfig, GameConfig or preset name, got {type(env).__name__}")


def _meta_uri(path: str | Path) -> str:
    """The URI of a loaded policy's recorded path: a remote URI as it is, a local file made absolute."""
    return _policy_uri(path if is_remote(str(path)) else Path(path).resolve())


def _check_compatible(policy: nn.Module, env: MettaGridEnv) -> None:
    """Raises ValueError when the policy was built for other observations or actions than the env's."""
    spec = getattr(unwrap(policy), "spec", None)
    if spec is None:
        return
    obs_shape = tuple(env.single_observation_space.shape)
    if tuple(spec.obs_shape) != obs_shape:
        raise ValueError(f"the policy expects observations of shape {tuple(spec.obs_shape)}, the env gives {obs_shape}")
    names = env.action_names()
    if spec.num_actions != len(names) or (spec.action_names is not None and list(spec.action_names) != list(names)):
        raise ValueError(f"the policy's actions {spec.action_names or spec.num_actions} differ from the env's {names}")


def _report(infos: list[dict[str, Any]], num_episodes: int) -> dict[str, Any]:
    infos = infos[:num_episodes]
    returns = [float(i["episode_return"]) for i in infos]
    lengths = [int(i["episode_length"]) for i in infos]
    return {
        "episode_returns": returns,
        "episode_lengths": lengths,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "mean_length": float(np.mean(lengths)),
        "stats": summarize_episodes(infos),
        "episode_infos": infos,
    }


class _Actor:
    """Observations -> actions of a policy, carrying its recurrent state between calls."""

    def __init__(self, policy: nn.Module, num_agents: int, device: torch.device | str | None, deterministic: bool,
                 seed: int | None) -> None:
        self.policy = unwrap(policy)
        self.device = torch.device(device) if device is not None else next(self.policy.parameters()).device
        self.deterministic = deterministic
        self.state = self.policy.initial_state(num_agents, self.device)
        self.dones = torch.ones(num_agents, 1, device=self.device)  # the first call starts every episode
        self.generator = None
        if seed is not None:
            self.generator = torch.Generator(device=self.device)
            self.generator.manual_seed(seed)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        out = self.policy(torch.from_numpy(obs).to(self.device).unsqueeze(1), self.state, self.dones)
        self.state = out.state
        logits = out.logits[:, 0]
        if self.deterministic:
            actions = logits.argmax(-1)
        elif self.generator is not None:
            actions = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=self.generator)[:, 0]
        else:
            actions = torch.distributions.Categorical(logits=logits).sample()
        self.dones = torch.zeros_like(self.dones)
        return actions.to(torch.int32).cpu().numpy()

    def episode_ended(self, dones: np.ndarray) -> None:
        """Marks the agents whose episode ended, so the next call starts them from a fresh recurrent state."""
        self.dones = torch.from_numpy(dones).to(device=self.device, dtype=torch.float32).unsqueeze(1)


def policy_actor(policy: nn.Module, num_agents: int, device: torch.device | str | None = None,
                 deterministic: bool = False, seed: int | None = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A stateful `observations -> int32 actions` function of a policy (its recurrent state carried from call to
    call; sampling seeded by `seed`, argmax if `deterministic`), e.g. for `mettagrid.replay.episode_frames`."""
    return _Actor(policy, num_agents, device, deterministic, seed)


def eval_policy(policy: nn.Module, env: MettaGridEnv | EnvConfig | GameConfig | str, num_episodes: int = 10,
                device: torch.device | str | None = None, deterministic: bool = False, seed: int = 12345,
                num_envs: int | None = None) -> dict[str, Any]:
    """Runs `num_episodes` episodes (returns are per-game means over agents); returns them, their lengths and mean stats.

    `env` may be a MettaGridEnv (reset here) or a config / preset name to build one from. Actions are sampled
    with a generator seeded by `seed` (so the same seed gives the same episodes), unless `deterministic` (argmax
    of the logits).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes = {num_episodes}, expected >= 1")
    env = _as_env(env, num_episodes, num_envs, seed)
    _check_compatible(policy, env)
    actor = _Actor(policy, env.num_agents, device, deterministic, seed=seed)
    obs, _ = env.reset(seed)
    infos: list[dict[str, Any]] = []
    while len(infos) < num_episodes:
        obs, _, terminals, truncations, step_infos = env.step(actor(obs))
        actor.episode_ended(terminals | truncations)
        infos.extend(step_infos)
    return _report(infos, num_episodes)


def evaluate_policy_suite(
    policy: nn.Module,
    suite: Mapping[str, MettaGridEnv | EnvConfig | GameConfig | str],
    num_episodes: int = 10,
    device: torch.device | str | None = None,
    deterministic: bool = False,
    seed: int = 12345,
    num_envs: int | None = None,
    stats_db: str | Path | None = None,
    policy_uri: str | None = None,
    run: str | None = None,
    epoch: int | None = None,
    agent_step: int | None = None,
) -> dict[str, dict[str, Any]]:
    """`eval_policy` on every named sim of a suite ({name: env, config or preset name}); returns the reports by
    name. With `stats_db`, every episode is also appended to that DuckDB file (trainer.stats_db), labelled with
    the policy's URI, run, epoch and steps (taken from its checkpoint unless given); a file that cannot be written
    raises StatsDBError before anything is evaluated."""
    if not suite:
        raise ValueError("evaluate_policy_suite: the suite is empty; give {name: env or config}")
    if stats_db is not None:
        check_writable(stats_db)  # before evaluating: a locked, corrupt or read-only file is a StatsDBError now
    reports = {str(name): eval_policy(policy, env, num_episodes, device, deterministic, seed, num_envs)
               for name, env in suite.items()}
    if stats_db is not None:
        meta = getattr(unwrap(policy), "checkpoint_metadata", None) or {}
        write_episodes(stats_db, {name: r["episode_infos"] for name, r in reports.items()},
                       policy_uri=policy_uri or (_meta_uri(meta["path"]) if "path" in meta else None),
                       run=run if run is not None else meta.get("run"),
                       epoch=epoch if epoch is not None else meta.get("epoch"),
                       agent_step=agent_step if agent_step is not None else meta.get("agent_step"))
    return reports


def eval_metrics(reports: Mapping[str, dict[str, Any]]) -> dict[str, float]:
    """Metrics of a suite's reports: `eval/mean_return`, `eval/std_return` and `eval/mean_length` (means over the
    sims), and with several sims also `eval/<sim>/mean_return` for each."""
    out = {f"eval/{k}": float(np.mean([r[k] for r in reports.values()]))
           for k in ("mean_return", "std_return", "mean_length")}
    if len(reports) > 1:
        out.update({f"eval/{name}/mean_return": r["mean_return"] for name, r in reports.items()})
    return out


REPLAY_SUFFIXES = (".html", ".gif", ".json", ".json.gz")


def save_replay(policy: nn.Module, env: MettaGridEnv | EnvConfig | GameConfig | str, path: str | Path,
                seed: int = 12345, deterministic: bool = False, device: torch.device | str | None = None,
                max_frames: int | None = None, cell: int | None = None, fps: float = 10.0,
                title: str | None = None) -> Path:
    """Plays one episode of `policy` (in game 0 of `env`, or of a one-game env built from a config or preset name)
    and writes it by the suffix of `path`: .html the browser viewer, .gif an animated GIF (needs Pillow, the
    `gif` extra), .json / .json.gz the replay's data (mettagrid.replay), titled `title` (default: the preset);
    returns the path."""
    path = Path(path)
    suffix = ".json.gz" if path.name.endswith(".json.gz") else path.suffix
    if suffix not in REPLAY_SUFFIXES:
        raise ValueError(f"replay path {str(path)!r}: expected a name ending in one of {list(REPLAY_SUFFIXES)}")
    if suffix == ".gif":
        require_gif_support()
    game = _as_env(env, 1, 1, seed)
    _check_compatible(policy, game)
    actor = policy_actor(policy, game.num_agents, device, deterministic, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        frames = episode_frames(game, actor, seed=seed, max_frames=max_frames, cell=cell)
        return save_gif(frames, path, fps=fps)
    if title is None:
        title = env if isinstance(env, str) else env.preset if isinstance(env, EnvConfig) else None
    replay = record_episode(game, actor, seed=seed,
                            max_steps=None if max_frames is None else max_frames - 1, cell=cell or 16, title=title)
    return replay.save_html(path) if suffix == ".html" else replay.save_json(path)


def eval_random(env: MettaGridEnv | EnvConfig | GameConfig | str, num_episodes: int = 10, seed: int = 12345,
                num_envs: int | None = None) -> dict[str, Any]:
    """The same report as eval_policy for uniformly random actions (the baseline a trained policy must beat)."""
    env = _as_env(env, num_episodes, num_envs, seed)
    env.reset(seed)
    rng = np.random.default_rng(seed)
    infos: list[dict[str, Any]] = []
    while len(infos) < num_episodes:
        actions = rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32)
        infos.extend(env.step(actions)[4])
    return _report(infos, num_episodes)

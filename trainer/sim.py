"""`python -m trainer.sim <policy_uri> [--env ...] [--episodes N] [--replay out.gif]`: evaluate a checkpoint.

Loads the policy from its URI alone, plays it and uniformly random actions on the same games, prints both mean
returns, and optionally writes one episode as an animated GIF. The env defaults to the evaluation env of the run
the checkpoint belongs to (train_dir/<run>/config.yaml).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mettagrid.replay import require_gif_support
from trainer.checkpoint import CheckpointError, load_policy, resolve_uri
from trainer.config import ConfigError, EnvConfig, load_trainer_config
from trainer.evaluate import eval_policy, eval_random, save_replay

__all__ = ["main"]


def _run_env(policy_path: Path) -> EnvConfig | None:
    """The evaluation env of the run a checkpoint belongs to (train_dir/<run>/checkpoints/...), if it has a config."""
    for parent in policy_path.parents[:3]:
        config = parent / "config.yaml"
        if config.is_file():
            cfg = load_trainer_config(config)
            return cfg.simulation.env or cfg.env
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer.sim <policy_uri>`: returns against a random policy, optional GIF replay."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.sim",
        description="Evaluate a checkpoint against uniformly random actions and optionally write a GIF replay.")
    parser.add_argument("policy", help="policy URI: file://train_dir/<run>/checkpoints[/<run>:v<N>.safetensors] or a path")
    parser.add_argument("--env", help="a mettagrid preset or GameConfig file (default: the run's own env)")
    parser.add_argument("--episodes", type=int, default=32, help="episodes to evaluate (default 32)")
    parser.add_argument("--seed", type=int, default=12345, help="env and sampling seed (default 12345)")
    parser.add_argument("--deterministic", action="store_true", help="argmax actions instead of sampling")
    parser.add_argument("--replay", metavar="GIF", help="also write one episode to this animated GIF (needs Pillow)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)
    try:
        if args.replay:
            require_gif_support()
        policy = load_policy(args.policy, device=args.device)
        env: EnvConfig | str | None = args.env or _run_env(resolve_uri(args.policy))
        if env is None:
            raise ConfigError(f"{args.policy} is not inside a run directory with a config.yaml; give --env")
        trained = eval_policy(policy, env, args.episodes, deterministic=args.deterministic, seed=args.seed)
        random = eval_random(env, args.episodes, seed=args.seed)
        replay = save_replay(policy, env, args.replay, seed=args.seed, deterministic=args.deterministic) \
            if args.replay else None
    except (CheckpointError, ConfigError, ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = policy.checkpoint_metadata
    name = env if isinstance(env, str) else env.preset
    print(f"policy   {meta['run']} epoch {meta['epoch']} ({meta['agent_step']:,} agent steps)")
    print(f"env      {name}, {args.episodes} episodes, seed {args.seed}")
    print(f"trained  mean return {trained['mean_return']:.3f} +- {trained['std_return']:.3f}, "
          f"mean length {trained['mean_length']:.1f}")
    print(f"random   mean return {random['mean_return']:.3f} +- {random['std_return']:.3f}")
    if replay is not None:
        print(f"replay   {replay}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

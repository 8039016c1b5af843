"""`python -m trainer.sim <policy_uri> [--env ...]... [--episodes N] [--replay out.html] [--stats-db f.duckdb]`.

Loads the policy from its URI alone, plays it and uniformly random actions on the same games of each sim,
prints both mean returns, optionally appends every episode to a DuckDB stats file (trainer.stats_db) and writes
one episode of the first sim as a replay (.html browser viewer, .gif or .json). The sims default to the evaluation envs of the run the
checkpoint belongs to (train_dir/<run>/config.yaml); `--env` (repeatable) names presets or GameConfig files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mettagrid.replay import require_gif_support
from trainer.checkpoint import CheckpointError, load_policy, resolve_uri
from trainer.config import ConfigError, EnvConfig, load_trainer_config
from trainer.evaluate import eval_random, evaluate_policy_suite, save_replay
from trainer.stats_db import require_duckdb

__all__ = ["main"]


def _run_sims(policy_path: Path) -> dict[str, EnvConfig] | None:
    """The evaluation sims of the run a checkpoint belongs to (train_dir/<run>/checkpoints/...), if it has a config."""
    for parent in policy_path.parents[:3]:
        config = parent / "config.yaml"
        if config.is_file():
            cfg = load_trainer_config(config)
            return cfg.simulation.sims(cfg.env)
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer.sim <policy_uri>`: returns against a random policy, stats, a GIF replay."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.sim",
        description="Evaluate a checkpoint against uniformly random actions; optionally store the episodes in "
                    "DuckDB and write a GIF replay.")
    parser.add_argument("policy", help="policy URI: file://train_dir/<run>/checkpoints[/<run>:v<N>.safetensors] or a path")
    parser.add_argument("--env", action="append", help="a mettagrid preset or GameConfig file; repeat for a suite "
                        "(default: the run's own evaluation envs)")
    parser.add_argument("--episodes", type=int, default=32, help="episodes per env (default 32)")
    parser.add_argument("--seed", type=int, default=12345, help="env and sampling seed (default 12345)")
    parser.add_argument("--deterministic", action="store_true", help="argmax actions instead of sampling")
    parser.add_argument("--stats-db", metavar="DB", help="append every episode to this DuckDB file (needs duckdb)")
    parser.add_argument("--replay", metavar="PATH", help="also write one episode of the first env: PATH.html (the browser "
                        "viewer), .gif (needs Pillow) or .json[.gz] (the replay's data)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)
    try:
        if args.replay and args.replay.endswith(".gif"):
            require_gif_support()
        if args.stats_db:
            require_duckdb()
        policy = load_policy(args.policy, device=args.device)
        sims: dict[str, EnvConfig | str] | None = None
        if args.env:
            sims = {}
            for e in args.env:  # named by preset or file stem; by the whole argument where a stem repeats
                if e in sims.values():
                    raise ConfigError(f"--env {e} is given twice")
                sims[Path(e).stem if Path(e).stem not in sims else e] = e
        else:
            sims = _run_sims(resolve_uri(args.policy))  # type: ignore[assignment]
        if sims is None:
            raise ConfigError(f"{args.policy} is not inside a run directory with a config.yaml; give --env")
        trained = evaluate_policy_suite(policy, sims, args.episodes, deterministic=args.deterministic, seed=args.seed,
                                        stats_db=args.stats_db)
        random = {name: eval_random(env, args.episodes, seed=args.seed) for name, env in sims.items()}
        first = next(iter(sims.values()))
        replay = save_replay(policy, first, args.replay, seed=args.seed, deterministic=args.deterministic) \
            if args.replay else None
    except (CheckpointError, ConfigError, ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = policy.checkpoint_metadata
    print(f"policy   {meta['run']} epoch {meta['epoch']} ({meta['agent_step']:,} agent steps)")
    for name, report in trained.items():
        print(f"env      {name}, {args.episodes} episodes, seed {args.seed}")
        print(f"trained  mean return {report['mean_return']:.3f} +- {report['std_return']:.3f}, "
              f"mean length {report['mean_length']:.1f}")
        print(f"random   mean return {random[name]['mean_return']:.3f} +- {random[name]['std_return']:.3f}")
    if args.stats_db:
        print(f"stats    {args.stats_db} (table episodes)")
    if replay is not None:
        print(f"replay   {replay}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

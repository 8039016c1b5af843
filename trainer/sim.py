"""`python -m trainer.sim <policy_uri> [--env ...]... [--episodes N] [--replay out.html] [--stats-db f.duckdb]`.

Loads the policy from its URI alone, plays it and uniformly random actions on the same games of each sim,
prints both mean returns, optionally appends every episode to a DuckDB stats file (trainer.stats_db; checked
for writing before anything is evaluated) and writes
one episode of the first sim as a replay (.html browser viewer, .gif or .json). The sims default to the evaluation envs of the run the
checkpoint belongs to (train_dir/<run>/config.yaml); `--env` (repeatable) names presets (the names of
`mettagrid.PRESETS`, which are also the game names of the recipes and the Gymnasium ids) or GameConfig YAML/JSON
files. The same seed gives the same games and the same sampled actions. `--deterministic` takes the argmax of the
logits instead of sampling; that is not the trained policy, and it often collapses (a warning says so).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer.extras import require_train_extra

# Before the imports that need torch: as a command, a missing `train` extra is one error line, not a traceback.
require_train_extra("python -m trainer.sim" if __name__ == "__main__" else None)

from mettagrid.presets import PRESETS
from mettagrid.resolve import resolve_config
from mettagrid.replay import require_gif_support
from trainer.checkpoint import CheckpointError, is_remote, load_policy, resolve_uri
from trainer.config import ConfigError, EnvConfig, load_trainer_config
from trainer.evaluate import eval_random, evaluate_policy_suite, save_replay
from trainer.stats_db import StatsDBError, check_writable, require_duckdb

__all__ = ["COLLAPSE_SHARE", "DETERMINISTIC_WARNING", "main"]


def _run_sims(policy_path: Path | str) -> dict[str, EnvConfig] | None:
    """The evaluation sims of the run a checkpoint belongs to (train_dir/<run>/checkpoints/...), if it has a config
    (a remote checkpoint has none: give --env)."""
    if not isinstance(policy_path, Path):
        return None
    for parent in policy_path.parents[:3]:
        config = parent / "config.yaml"
        if config.is_file():
            cfg = load_trainer_config(config)
            return cfg.simulation.sims(cfg.env)
    return None


COLLAPSE_SHARE = 0.9
"""Under --deterministic, a warning is printed when one action is more than this share of the actions taken."""

DETERMINISTIC_WARNING = (
    "warning: --deterministic takes the argmax of the logits instead of sampling from them; that is not the "
    "policy that was trained (which samples), and argmax policies often collapse, e.g. always the same move into "
    "a wall, scoring below random")


def _check_env(name: str) -> None:
    """Raises ConfigError unless `name` is a preset or a loadable GameConfig YAML/JSON file."""
    try:
        resolve_config(name)
    except Exception as e:  # pydantic, YAML, JSON and file errors alike: one line naming the argument
        raise ConfigError(f"--env {name}: {' '.join(str(e).split())}") from None


def _action_shares(stats: dict[str, float]) -> dict[str, float]:
    """Each action's share of the actions taken, from the episode stats `agent/action.<name>.success|failed`."""
    counts: dict[str, float] = {}
    for key, value in stats.items():
        if key.startswith("agent/action.") and key.endswith((".success", ".failed")):
            name = key[len("agent/action."):].rsplit(".", 1)[0]
            counts[name] = counts.get(name, 0.0) + value
    total = sum(counts.values())
    return {name: n / total for name, n in counts.items()} if total > 0 else {}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer.sim <policy_uri>`: returns against a random policy, stats, a GIF replay."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.sim",
        description="Evaluate a checkpoint against uniformly random actions; optionally store the episodes in "
                    "DuckDB and write a GIF replay.")
    parser.add_argument("policy", help="policy URI: file://train_dir/<run>/checkpoints[/<run>:v<N>.safetensors], a path, "
                        "or memory://, s3://, gs://, http(s):// (the remote extra; give --env with these)")
    parser.add_argument("--env", action="append", help=f"a mettagrid preset ({', '.join(PRESETS)}) or a GameConfig "
                        "YAML/JSON file; repeat for a suite (default: the run's own evaluation envs)")
    parser.add_argument("--episodes", type=int, default=32, help="episodes per env (default 32)")
    parser.add_argument("--seed", type=int, default=12345, help="env and action-sampling seed: the same seed "
                        "gives the same episodes (default 12345)")
    parser.add_argument("--deterministic", action="store_true",
                        help="take the argmax of the logits instead of sampling actions from them. Not the trained "
                             "policy (which samples): argmax policies often collapse, e.g. always the same move into "
                             "a wall, and score below random; a warning says when one action is over 90%% of those "
                             "taken")
    parser.add_argument("--stats-db", metavar="DB", help="append every episode to this DuckDB file (needs duckdb); "
                        "checked for writing before anything is evaluated")
    parser.add_argument("--replay", metavar="PATH", help="also write one episode of the first env: PATH.html (the browser "
                        "viewer), .gif (needs Pillow) or .json[.gz] (the replay's data)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)
    try:
        if args.replay and args.replay.endswith(".gif"):
            require_gif_support()
        if args.stats_db:
            require_duckdb()
            check_writable(args.stats_db)  # a locked, corrupt or read-only file: now, not after the evaluation
        for e in args.env or []:
            _check_env(e)
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
            raise ConfigError(f"{args.policy} is not inside a local run directory with a config.yaml; give --env")
        if args.deterministic:
            print(DETERMINISTIC_WARNING, file=sys.stderr)
        where = policy.checkpoint_metadata["path"]  # a remote one is stored under its own URI, a local one as file://
        trained = evaluate_policy_suite(policy, sims, args.episodes, deterministic=args.deterministic, seed=args.seed,
                                        stats_db=args.stats_db, policy_uri=where if is_remote(where) else None)
        random = {name: eval_random(env, args.episodes, seed=args.seed) for name, env in sims.items()}
        first = next(iter(sims.values()))
        replay = save_replay(policy, first, args.replay, seed=args.seed, deterministic=args.deterministic) \
            if args.replay else None
    except (CheckpointError, ConfigError, ImportError, StatsDBError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = policy.checkpoint_metadata
    print(f"policy   {meta['run']} epoch {meta['epoch']} ({meta['agent_step']:,} agent steps)")
    for name, report in trained.items():
        print(f"env      {name}, {args.episodes} episodes, seed {args.seed}")
        print(f"trained  mean return {report['mean_return']:.3f} +- {report['std_return']:.3f}, "
              f"mean length {report['mean_length']:.1f}")
        print(f"random   mean return {random[name]['mean_return']:.3f} +- {random[name]['std_return']:.3f}")
        shares = _action_shares(report["stats"]) if args.deterministic else {}
        top = max(shares, key=shares.__getitem__, default=None)
        if top is not None and shares[top] > COLLAPSE_SHARE:
            print(f"warning: {name}: the argmax policy took {top} in {shares[top]:.0%} of its actions; it has "
                  f"collapsed, so drop --deterministic to evaluate the trained (sampling) policy", file=sys.stderr)
    if args.stats_db:
        print(f"stats    {args.stats_db} (table episodes)")
    if replay is not None:
        print(f"replay   {replay}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m trainer.train <recipe> run=<name> [key=value ...]`: the training loop, top to bottom.

A recipe (trainer/recipes.py, `module:function`, or a YAML file) gives a TrainerConfig; dotted overrides
change any field (`trainer.total_timesteps=1e6 ppo.clip_coef=0.2 device=cpu`). Output goes to
train_dir/<run>/: config.yaml, metrics.jsonl, checkpoints/<run>:v<epoch>.safetensors and trainer_state.pt (or
to checkpoint.uri, e.g. s3://bucket/<run>/checkpoints, when set), and
replays/<run>:v<epoch>.html (or .gif) when simulation.replay_interval is set.
Running the same run= again resumes from its last checkpoint; Ctrl-C stops after the current epoch and saves
one (a second Ctrl-C aborts). Under torchrun every rank steps its own games
and DistributedDataParallel averages the gradients; rank 0 alone writes.
Faults: a checkpoint that cannot be written (a full disk) stops the run with one error line and leaves the
previous checkpoint as it was; a stats database that cannot be written is a warning line, and training goes on.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

from trainer.extras import require_train_extra

# Before the imports that need torch: as a command, a missing `train` extra is one error line, not a traceback.
require_train_extra("python -m trainer.train" if __name__ == "__main__" else None)

import numpy as np
import torch

from mettagrid.replay import require_gif_support
from trainer.checkpoint import (
    TRAINER_STATE_FILE,
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    load_loss_state,
    load_optimizer_state,
    Location,
    join_location,
    load_trainer_state,
    location,
    location_exists,
    policy_uri,
    remove_stale_temp_files,
    restore_rng_state,
    save_checkpoint,
)
from trainer.config import ConfigError, TrainerConfig, apply_overrides, config_help, load_trainer_config
from trainer.distributed import StopOnInterrupt, any_rank, cleanup_distributed, setup_distributed, wrap_distributed
from trainer.env import curriculum_metrics, make_environment
from trainer.evaluate import eval_metrics, evaluate_policy_suite, save_replay
from trainer.experience import Experience, make_experience_manager, rollout
from trainer.losses import make_losses, needed_keys
from trainer.metrics import MetricsLogger
from trainer.names import path_inside
from trainer.optim import make_optimizer
from trainer.policies import make_agent
from trainer.precision import check_precision
from trainer.ppo import compute_advantages, train_ppo
from trainer.recipes import describe_recipes, get_recipe
from trainer.stats_db import StatsDBError, require_duckdb, write_episodes

__all__ = ["main", "train"]


def seed_everything(seed: int) -> None:
    """Seeds python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int, epoch: int = 0) -> int:
    """The seed of a rank starting (or resuming) at an epoch, for its RNGs and its games: different on every rank and
    at every resume."""
    return seed + 1_000_003 * rank + 7_919 * epoch


def checkpoint_location(cfg: TrainerConfig) -> Location:
    """Where the run's checkpoints go and it resumes from: checkpoint.uri (a path, or a memory://, s3://, gs:// URI),
    else train_dir/<run>/checkpoints."""
    return location(cfg.checkpoint.uri) if cfg.checkpoint.uri is not None else cfg.run_dir / "checkpoints"


def write_checkpoint(policy: torch.nn.Module, cfg: TrainerConfig, epoch: int, agent_step: int, optimizer: Any,
                     last_saved: int, losses: dict[str, Any] | None = None) -> Location:
    """save_checkpoint of the run's policy and trainer state (with the weights of the losses' heads), returning the
    policy's path; a write that fails (a full disk, a read-only folder) becomes a CheckpointError saying which
    checkpoint is still good (the failed write left it as it was)."""
    checkpoint_dir = checkpoint_location(cfg)
    try:
        return save_checkpoint(policy, checkpoint_dir, epoch, agent_step, cfg.run, optimizer,
                               keep_last=cfg.checkpoint.keep_last, losses=losses)
    except OSError as e:
        kept = f"the checkpoint of epoch {last_saved} is intact" if last_saved >= 0 else "no earlier checkpoint exists"
        raise CheckpointError(f"cannot write the checkpoint of epoch {epoch} in {checkpoint_dir}: {e}; {kept}; "
                              "make room and run the same command again to resume") from e


def train(cfg: TrainerConfig) -> dict[str, Any]:
    """Trains the run described by `cfg`, resuming it if its checkpoint folder (train_dir/<run>/checkpoints or
    checkpoint.uri) holds trainer state; returns a summary: epoch,
    agent_step, policy_uri (of the final checkpoint; None on ranks other than 0, which write none), the last
    metrics record and whether Ctrl-C stopped it."""
    started = time.time()
    # ---- processes, device, seeds
    dist_info = setup_distributed(cfg.device)
    device, rank, world = dist_info.device, dist_info.rank, dist_info.world_size
    check_precision(cfg.precision, device)  # bfloat16 on a GPU without it: one error line, before any work
    seed_everything(rank_seed(cfg.seed, rank))
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    checkpoint_dir = checkpoint_location(cfg)
    if dist_info.is_master and cfg.simulation.replay_interval and cfg.simulation.replay_format == "gif":
        require_gif_support()  # now, not at the first replay
    if dist_info.is_master and cfg.simulation.stats_db:
        require_duckdb()

    # ---- the components: env, policy, optimizer
    env = make_environment(cfg.env, seed=rank_seed(cfg.seed, rank))
    policy = make_agent(env.single_observation_space, env.single_action_space, [], device, cfg.agent,
                        feature_spec=env.feature_spec(), obs_window=(env.config.obs_height, env.config.obs_width),
                        action_names=env.action_names())

    # ---- resume from the run's trainer state, if there is one (after clearing what a killed write left)
    epoch, agent_step = 0, 0
    saved: Location | None = None  # the policy file of the last checkpoint written or resumed from
    state_path = join_location(checkpoint_dir, TRAINER_STATE_FILE)
    if dist_info.is_master:
        remove_stale_temp_files(checkpoint_dir, before=started)
    resuming = location_exists(state_path)
    if resuming:
        state = load_trainer_state(state_path)
        saved = join_location(checkpoint_dir, state["policy_file"])
        try:
            load_checkpoint(policy, saved)
        except CheckpointMismatchError as e:
            raise CheckpointError(f"cannot resume run {cfg.run!r} with this config: {e}; resume it with the "
                                  f"settings it was trained with ({cfg.run_dir / 'config.yaml'}), or start a new "
                                  f"run=<name>") from None
        except CheckpointError as e:  # damaged: a config change would not help
            raise CheckpointError(f"cannot resume run {cfg.run!r}: {e}") from None
        epoch, agent_step = state["epoch"], state["agent_step"]
        if rank == 0:
            restore_rng_state(state["rng"], state_path)
        else:
            seed_everything(rank_seed(cfg.seed, rank, epoch))

    losses = make_losses(cfg.losses, cfg.ppo, agent_step=agent_step)  # name -> Loss, summed by weight in every update
    # the optimizer trains the policy and the losses' own heads; those are built here from a fixed seed (the same on
    # every rank) without moving the run's RNG, so switching on a loss with a head leaves the rest of the run as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        optimizer = make_optimizer(policy, cfg.optimizer, losses=losses)
    if resuming:
        load_loss_state(losses, state, state_path)  # first: a run resumed with other losses is named as such
        load_optimizer_state(optimizer, state, state_path)
    policy_ddp = wrap_distributed(policy, dist_info)
    experience = make_experience_manager(env, policy_ddp, cfg.experience, device, seed=rank_seed(cfg.seed, rank, epoch),
                                         store=needed_keys(losses) & Experience.OPTIONAL,
                                         observers=losses.values())  # resets the games; loads a kickstarter's teachers
    logger = MetricsLogger(cfg, enabled=dist_info.is_master, world_size=world, agents_per_game=env.agents_per_env)
    if dist_info.is_master:
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        (cfg.run_dir / "config.yaml").write_text(cfg.to_yaml())
        where = f"resuming at epoch {epoch}, {agent_step:,} steps" if epoch else "starting"
        logger.message(f"[bold]{cfg.run}[/]: {where}; {logger.layout()}; policy {cfg.agent.policy} on {device}")
    replay_dir = Path(cfg.simulation.replay_dir) if cfg.simulation.replay_dir else cfg.run_dir / "replays"
    sims = cfg.simulation.sims(cfg.env)  # the evaluation envs by name; the first is replayed
    eval_envs = {}
    if dist_info.is_master and cfg.simulation.evaluate_interval:
        # plain games: whole episodes (no desynchronised first episode), every game its own map, no teacher
        eval_envs = {name: make_environment(sim, seed=cfg.seed + 777, num_envs=cfg.simulation.num_envs,
                                            desync_episodes=False, group_size=1, teacher=None)
                     for name, sim in sims.items()}
    stats_db = cfg.run_dir / "stats.duckdb" if cfg.simulation.stats_db else None

    # ---- the loop: rollout -> advantages -> update -> log / checkpoint / evaluate
    last_saved = epoch if resuming else -1
    record: dict[str, Any] = {}
    stop = StopOnInterrupt()  # Ctrl-C: finish the epoch, then save and leave the loop
    with stop:
        while agent_step < cfg.total_timesteps and not any_rank(stop.requested, dist_info):
            if cfg.optimizer.anneal_lr:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.optimizer.learning_rate * max(0.0, 1.0 - agent_step / cfg.total_timesteps)

            rollout_stats = rollout(experience, policy_ddp, precision=cfg.precision)
            compute_advantages(experience, ppo_config=cfg.ppo)
            train_stats = train_ppo(policy_ddp, optimizer, experience, cfg.ppo, progress=agent_step / cfg.total_timesteps,
                                    losses=losses, agent_step=agent_step, precision=cfg.precision)

            epoch += 1
            agent_step += rollout_stats["steps"] * world
            if getattr(env, "labelling", False) and all(getattr(loss, "finished", False) for loss in losses.values()
                                                         if "teacher_actions" in loss.needs):
                env.labelling = False  # the scripted teacher's actions are no longer used: stop computing them
                logger.message(f"[bold]{cfg.run}[/]: imitation annealed out at {agent_step:,} steps; teacher stopped")
            if epoch % cfg.log_interval == 0:
                seconds = rollout_stats["rollout_time"] + train_stats["train_time"]
                record = {"epoch": epoch, "agent_step": agent_step, "sps": rollout_stats["steps"] * world / seconds,
                          "rollout_sps": rollout_stats["steps"] * world / rollout_stats["rollout_time"],
                          "lr": optimizer.param_groups[0]["lr"], **train_stats,
                          **{k: v for k, v in rollout_stats.items() if k != "steps"}, **curriculum_metrics(env)}
                logger.log(record)
            if dist_info.is_master and epoch % cfg.checkpoint.checkpoint_interval == 0:
                saved = write_checkpoint(policy, cfg, epoch, agent_step, optimizer, last_saved, losses)
                last_saved = epoch
            if eval_envs and epoch % cfg.simulation.evaluate_interval == 0:
                reports = evaluate_policy_suite(policy, eval_envs, cfg.simulation.num_episodes, device)
                logger.log({"epoch": epoch, "agent_step": agent_step, **eval_metrics(reports)})
                if stats_db is not None:  # a database that cannot be written costs its rows, not the run
                    try:
                        write_episodes(stats_db, {name: r["episode_infos"] for name, r in reports.items()},
                                       run=cfg.run, epoch=epoch, agent_step=agent_step)
                    except StatsDBError as e:
                        print(f"warning: {e}; epoch {epoch}'s evaluation is in metrics.jsonl only, training goes on",
                              file=sys.stderr, flush=True)
            if dist_info.is_master and cfg.simulation.replay_interval and epoch % cfg.simulation.replay_interval == 0:
                replay = save_replay(policy, next(iter(sims.values())),
                                     path_inside(replay_dir, f"{cfg.run}:v{epoch}.{cfg.simulation.replay_format}"),
                                     seed=cfg.seed + epoch, title=f"{cfg.run} epoch {epoch}")
                logger.message(f"[bold]{cfg.run}[/]: replay of epoch {epoch} in {replay}")

    # ---- the final checkpoint (rank 0 writes; the other ranks report none)
    if dist_info.is_master and last_saved != epoch:
        saved = write_checkpoint(policy, cfg, epoch, agent_step, optimizer, last_saved, losses)
    final = policy_uri(saved) if dist_info.is_master and saved is not None else None
    done = "done" if agent_step >= cfg.total_timesteps else "stopped (run the same command again to resume)"
    logger.message(f"[bold]{cfg.run}[/]: {done} at epoch {epoch}, {agent_step:,} steps; policy {final}")
    logger.close()
    del experience, policy_ddp  # release the DDP wrapper before its process group goes
    cleanup_distributed()
    return {"epoch": epoch, "agent_step": agent_step, "policy_uri": final, "last": record,
            "interrupted": stop.requested}


# ------------------------------------------------------------------ command line


def _help_epilog(recipe: str | None = None) -> str:
    """The recipes, then every config key with its type, default and meaning; the defaults are the recipe's when
    `recipe` names one that loads (so `navigation --help` shows what navigation sets), else TrainerConfig's."""
    base: TrainerConfig | None = None
    if recipe is not None and "=" not in recipe:
        try:
            base = build_config(recipe, [])
        except (ConfigError, ValueError):
            base = None  # the error is reported when the command runs without --help
    lines = ["recipes:"] + [f"  {name:<18} {doc}" for name, doc in describe_recipes().items()]
    whose = f"the defaults of {recipe}" if base is not None else "TrainerConfig's defaults"
    lines += ["", f"config keys ({whose}; override with key=value; a leading `trainer.` is optional):"]
    for key, tp, default, doc in config_help(base if base is not None else TrainerConfig):
        lines.append(f"  {key:<36} {tp:<22} {default:<14} {doc}")
    return "\n".join(lines)


def build_config(recipe: str, overrides: list[str]) -> TrainerConfig:
    """The recipe's (or YAML file's) config with the overrides applied; run=<name> defaults to the recipe's."""
    base = load_trainer_config(recipe) if recipe.endswith((".yaml", ".yml", ".json")) else get_recipe(recipe)
    return apply_overrides(base, overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer.train`; a bad config, checkpoint or missing extra is one `error:` line (exit 2)."""
    recipe = None
    if {"-h", "--help"} & set(sys.argv[1:] if argv is None else argv):  # show the recipe's values as the defaults
        first = argparse.ArgumentParser(add_help=False)
        first.add_argument("recipe", nargs="?")
        recipe = first.parse_known_args(argv)[0].recipe
    parser = argparse.ArgumentParser(
        prog="python -m trainer.train",
        description="Train a policy with PPO: python -m trainer.train <recipe> run=<name> [key=value ...]",
        epilog=_help_epilog(recipe), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", help="a recipe name, module:function, or a YAML config file")
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. run=my_run ppo.clip_coef=0.2")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, doc in describe_recipes().items():
            print(f"{name:<18} {doc}")
        return 0
    if args.recipe is None or "=" in args.recipe:
        parser.error("give a recipe first (see --list), then key=value overrides")
    try:
        train(build_config(args.recipe, args.overrides))
    except (CheckpointError, ConfigError, ImportError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

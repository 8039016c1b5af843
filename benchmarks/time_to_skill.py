"""Time-to-skill: wall time and agent steps from scratch until an evaluated threshold, for one or more variants.

    python benchmarks/time_to_skill.py navigation                          # the recipe as it is: return >= 8
    python benchmarks/time_to_skill.py navigation --variant cnn agent.encoder=cnn --variant tokens agent.encoder=tokens
    python benchmarks/time_to_skill.py arena --metric agent/heart.gained --threshold 0.1 0.5 --budget 1800
    python benchmarks/time_to_skill.py navigation --quick                  # smoke test, a few seconds
    python benchmarks/time_to_skill.py navigation --pufferl .puffer/bin/python   # + PuffeRL side by side

Method. Each variant is the recipe's TrainerConfig with its key=value overrides, trained through the functional
API (rollout -> compute_advantages -> train_ppo, with the recipe's losses) from torch.manual_seed(--seed). Every --eval-every seconds of
training the policy is evaluated on fixed seeds (`eval_policy`: --episodes episodes from seed --eval-seed, actions
sampled with a seeded generator) on the recipe's game; evaluation time is not counted as training time. We report,
for each threshold, the training wall time and agent steps at the first evaluation that reached it, and the
training agent-steps/s. Variants run one after the other in the same process, so compare them within one run.
With --pufferl PYTHON, PufferLib's trainer with its default policy then runs on the same game, budget, seeds
and thresholds through benchmarks/pufferl_side.py in that interpreter (its own virtual environment).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402

from trainer import (  # noqa: E402
    apply_overrides,
    compute_advantages,
    eval_policy,
    make_agent,
    make_environment,
    make_experience_manager,
    make_optimizer,
    rollout,
    train_ppo,
)
from trainer.distributed import resolve_device  # noqa: E402
from trainer.experience import Experience  # noqa: E402
from trainer.losses import make_losses, needed_keys  # noqa: E402
from trainer.recipes import get_recipe  # noqa: E402

DEFAULTS = {"navigation": ("episode_return", [8.0]), "navigation_maze": ("episode_return", [8.0]),
            "arena": ("agent/heart.gained", [0.1, 0.5]), "arena_combat": ("agent/heart.gained", [0.1, 0.5])}


def _metric(report: dict[str, Any], metric: str) -> float:
    if metric == "episode_return":
        return float(report["mean_return"])
    return float(report["stats"].get(metric, float("nan")))


def run_variant(recipe: str, overrides: list[str], metric: str, thresholds: list[float], budget: float,
                eval_every: float, episodes: int, eval_seed: int, seed: int) -> dict[str, Any]:
    """Trains one variant until every threshold is reached or the training budget (seconds) is spent."""
    cfg = apply_overrides(get_recipe(recipe), overrides)
    torch.manual_seed(seed)
    env = make_environment(cfg.env, seed=seed)
    device = resolve_device(cfg.device)
    agent = make_agent(env.single_observation_space, env.single_action_space, [], device, cfg.agent,
                       feature_spec=env.feature_spec(), action_names=env.action_names())
    losses = make_losses(cfg.losses, cfg.ppo)  # the recipe's losses (ppo, imitation of env.teacher, kickstarter...)
    optimizer = make_optimizer(agent, cfg.optimizer, losses=losses)
    experience = make_experience_manager(env, agent, cfg.experience, device, seed=seed,
                                         store=needed_keys(losses) & Experience.OPTIONAL, observers=losses.values())
    reached: dict[float, dict[str, float]] = {}
    curve: list[tuple[float, int, float]] = []
    trained = 0.0
    steps = 0
    next_eval = eval_every
    total = cfg.total_timesteps
    while trained < budget and steps < total and len(reached) < len(thresholds):
        t0 = time.perf_counter()
        rollout(experience, agent)
        compute_advantages(experience, ppo_config=cfg.ppo)
        train_ppo(agent, optimizer, experience, cfg.ppo, progress=steps / total, losses=losses, agent_step=steps)
        trained += time.perf_counter() - t0
        steps += experience.batch_size
        if trained >= next_eval or trained >= budget:
            next_eval = trained + eval_every
            report = eval_policy(agent, cfg.env.model_copy(update={"num_envs": min(episodes, 16)}),
                                 num_episodes=episodes, seed=eval_seed, device=device)
            value = _metric(report, metric)
            curve.append((round(trained, 2), steps, round(value, 4)))
            print(f"  {trained:8.1f} s {steps:>12,} steps  {metric} {value:.4f}", file=sys.stderr, flush=True)
            for th in thresholds:
                if th not in reached and value >= th:
                    reached[th] = {"seconds": round(trained, 2), "agent_steps": steps}
    return {"overrides": overrides, "metric": metric, "reached": {str(k): v for k, v in reached.items()},
            "train_seconds": round(trained, 2), "agent_steps": steps, "sps": round(steps / max(trained, 1e-9)),
            "curve": curve}


def _print_row(name: str, r: dict[str, Any], thresholds: list[float]) -> None:
    got = "  ".join(f">= {th}: " + (f"{r['reached'][str(th)]['seconds']:.1f} s, "
                                    f"{r['reached'][str(th)]['agent_steps']:,} steps"
                                    if str(th) in r["reached"] else "not reached") for th in thresholds)
    last = r["curve"][-1][2] if r["curve"] else float("nan")
    print(f"{name:<14} {got}  | trained {r['train_seconds']:.1f} s, {r['agent_steps']:,} steps, "
          f"{r['sps']:,} steps/s, last eval {last:.3f}", flush=True)


def main() -> None:
    """Runs the variants and prints a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="navigation")
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"),
                        help="a named variant: its name then key=value overrides (repeatable)")
    parser.add_argument("--metric", help="episode_return or an episode stat such as agent/heart.gained")
    parser.add_argument("--threshold", type=float, nargs="+")
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per variant (default 300)")
    parser.add_argument("--eval-every", type=float, default=5.0, help="training seconds between evaluations")
    parser.add_argument("--episodes", type=int, default=16, help="evaluation episodes (default 16)")
    parser.add_argument("--eval-seed", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 s budget, 2 episodes")
    parser.add_argument("--pufferl", metavar="PYTHON", help="also run PuffeRL with this interpreter (its own venv)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    metric, thresholds = DEFAULTS.get(args.recipe, ("episode_return", [1.0]))
    metric = args.metric or metric
    thresholds = args.threshold or thresholds
    variants = [(v[0], v[1:]) for v in args.variant] if args.variant else [("recipe", [])]
    budget, episodes, every = (3.0, 2, 1.0) if args.quick else (args.budget, args.episodes, args.eval_every)
    if args.quick:  # 2 games, one segment per agent row
        base = get_recipe(args.recipe)
        rows = 2 * make_environment(base.env.model_copy(update={"num_envs": 1, "group_size": 1})).num_agents
        batch = rows * base.experience.bptt_horizon
        variants = [(name, [*o, "env.num_envs=2", "env.group_size=1", f"experience.batch_size={batch}",
                            f"experience.minibatch_size={batch // 2 if rows % 2 == 0 else batch}"])
                    for name, o in variants]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = "?"
    print(f"# {args.recipe}: {metric} >= {thresholds}; {platform.machine()}, {os.cpu_count()} cpus, torch "
          f"{torch.__version__}, {args.threads} torch thread(s), commit {commit}, load {os.getloadavg()[0]:.2f}",
          flush=True)
    results = {}
    for name, overrides in variants:
        r = run_variant(args.recipe, overrides, metric, thresholds, budget, every, episodes, args.eval_seed,
                        args.seed)
        results[name] = r
        _print_row(name, r, thresholds)
    if args.pufferl:
        cmd = [args.pufferl, str(Path(__file__).with_name("pufferl_side.py")), args.recipe, "--metric", metric,
               "--threshold", *map(str, thresholds), "--budget", str(budget), "--eval-every", str(every),
               "--episodes", str(episodes), "--eval-seed", str(args.eval_seed), "--seed", str(args.seed)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if proc.returncode == 0:
            results["pufferl"] = json.loads(proc.stdout.strip().splitlines()[-1])
            _print_row("pufferl", results["pufferl"], thresholds)
        else:
            print(f"pufferl        failed (exit {proc.returncode})")
    print(f"# load at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"commit": commit, "recipe": args.recipe, "results": results}, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Training speed: agent-steps per second of the reference trainer for each policy (rollout + PPO update).

    python benchmarks/train_sps.py                    # navigation recipe, 5 timed epochs per policy
    python benchmarks/train_sps.py --quick            # smoke test, a few seconds
    python benchmarks/train_sps.py --recipe arena --policies lstm --json results.json
    python benchmarks/train_sps.py --policies lstm:cnn lstm:tokens   # policy:encoder (default: the recipe's)
    python benchmarks/train_sps.py --device cuda --precision float32 bfloat16 --recipe arena   # on a GPU

On a GPU the last line prints, per recipe, policy and precision, the agent-steps/s of whole epochs, of the rollout and
of the update: the figures a GPU session should record in benchmarks/README.md (with the GPU's name, printed first).

Method. Each policy trains the recipe's config (its env, batch, minibatch and PPO settings; only the policy
changes) through the functional API: one untimed warm-up epoch, then --epochs timed epochs of
rollout -> compute_advantages -> train_ppo. We report agent-steps/s of whole epochs, and separately of the
rollout (env stepping + inference) and of the update, with torch.set_num_threads(--threads). The recipe's losses
train too (e.g. the arena recipe's imitation of its scripted teacher, whose env computes teacher actions each step).
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

from trainer import compute_advantages, make_agent, make_environment, make_experience_manager  # noqa: E402
from trainer import make_optimizer, rollout, train_ppo  # noqa: E402
from trainer.experience import Experience  # noqa: E402
from trainer.losses import make_losses, needed_keys  # noqa: E402
from trainer.recipes import get_recipe  # noqa: E402


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def measure(recipe: str, policy: str, epochs: int, device: str, quick: bool,
            precision: str = "float32") -> dict[str, Any]:
    """Times `epochs` training epochs of `policy` on the recipe's config."""
    cfg = get_recipe(recipe)
    name, _, encoder = policy.partition(":")
    cfg.agent.policy = name  # type: ignore[assignment]
    if encoder:
        cfg.agent.encoder = encoder  # type: ignore[assignment]
    if quick:
        cfg.env.num_envs = 8
        cfg.experience.batch_size = cfg.env.num_envs * cfg.experience.bptt_horizon * _agents(cfg)
        cfg.experience.minibatch_size = cfg.experience.batch_size // 2
    torch.manual_seed(0)
    env = make_environment(cfg.env, seed=0)
    agent = make_agent(env.single_observation_space, env.single_action_space, [], device, cfg.agent,
                       feature_spec=env.feature_spec())
    losses = make_losses(cfg.losses, cfg.ppo)
    optimizer = make_optimizer(agent, cfg.optimizer, losses=losses)
    experience = make_experience_manager(env, agent, cfg.experience, store=needed_keys(losses) & Experience.OPTIONAL,
                                         observers=losses.values())
    rollout_s = train_s = 0.0
    for epoch in range(epochs + 1):
        _sync(device)
        t0 = time.perf_counter()
        rollout(experience, agent, precision=precision)
        _sync(device)
        t1 = time.perf_counter()
        compute_advantages(experience, ppo_config=cfg.ppo)
        train_ppo(agent, optimizer, experience, cfg.ppo, losses=losses, agent_step=epoch * experience.batch_size,
                  precision=precision)
        _sync(device)
        t2 = time.perf_counter()
        if epoch > 0:  # epoch 0 warms up
            rollout_s += t1 - t0
            train_s += t2 - t1
    steps = experience.batch_size * epochs
    return {"recipe": recipe, "policy": f"{name}:{cfg.agent.encoder}" if name != "transformer" else name,
            "precision": precision,
            "params": sum(p.numel() for p in agent.parameters()),
            "agents": env.num_agents, "batch_size": experience.batch_size, "epochs": epochs,
            "sps": steps / (rollout_s + train_s), "rollout_sps": steps / rollout_s, "train_sps": steps / train_s}


def _agents(cfg: Any) -> int:
    return make_environment(cfg.env.model_copy(update={"num_envs": 1})).num_agents


def main() -> None:
    """Runs the benchmark and prints a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="navigation")
    parser.add_argument("--policies", nargs="+", default=["fast", "lstm", "transformer"],
                        help="policy or policy:encoder (cnn or tokens), e.g. lstm:cnn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=["float32", "bfloat16"],
                        help="forward precision(s) to measure (bfloat16: autocast; for GPUs with bf16)")
    parser.add_argument("--quick", action="store_true", help="8 games, 1 timed epoch")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    epochs = 1 if args.quick else args.epochs
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = "?"
    if torch.device(args.device).type == "cuda":
        print(f"# GPU {torch.cuda.get_device_name(torch.device(args.device))}, CUDA {torch.version.cuda}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"{args.threads} torch thread(s), device {args.device}, commit {commit}, load {os.getloadavg()[0]:.2f}")
    results = [measure(args.recipe, p, epochs, args.device, args.quick, precision)
               for p in args.policies for precision in args.precision]
    print(f"{'policy':<16} {'precision':<9} {'params':>8} {'agents':>7} {'batch':>7} {'steps/s':>9} {'rollout/s':>10} "
          f"{'update/s':>9}")
    for r in results:
        print(f"{r['policy']:<16} {r['precision']:<9} {r['params']:>8,} {r['agents']:>7} {r['batch_size']:>7} {r['sps']:>9,.0f} "
              f"{r['rollout_sps']:>10,.0f} {r['train_sps']:>9,.0f}")
    print(f"# load at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"commit": commit, "threads": args.threads, "results": results}, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Environment speed: agent-steps per second of mettagrid.MettaGridEnv, per core and across threads.

    python benchmarks/env_sps.py                      # full run (about a minute)
    python benchmarks/env_sps.py --quick              # smoke test, a few seconds
    python benchmarks/env_sps.py --reference          # also the reference MettaGrid (PyPI `mettagrid`)
    python benchmarks/env_sps.py --json results.json  # save everything as JSON

Method. Random valid actions are generated before timing (a 256 x num_agents int32 array whose rows are
cycled), so the timed loop is only `env.step(row)`. Each measurement builds the env, resets it, warms up
for --warmup seconds, then runs --repeats timed runs of --seconds each, reading time.perf_counter() every
~10 ms of steps; agent-steps/s = steps * num_agents / elapsed. We report the best run (and the median).
"Per core" means num_threads=1. Episodes end and reset inside the timed loop as they would in training.

--reference runs benchmarks/reference_mettagrid.py with the Python of a separate venv that has the reference
installed (default ../ref-venv/bin/python; see that script and benchmarks/README.md), once per per-core
row, and prints ours / reference side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Keep BLAS pools from spinning on the cores the env threads use (numpy is imported below).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import mettagrid  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_SCRIPT = Path(__file__).resolve().parent / "reference_mettagrid.py"
DEFAULT_REFERENCE_PYTHON = str(Path(__file__).resolve().parents[2] / "ref-venv" / "bin" / "python")
ACTION_ROWS = 256


# ------------------------------------------------------------------ machine

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mettagrid": getattr(mettagrid, "__version__", "unknown"),
        "commit": git_commit(),
        "load_average_1min_at_start": load_average(),
    }


# ------------------------------------------------------------------ timing

def time_env(env: Any, seconds: float, repeats: int, warmup: float, seed: int = 0) -> list[dict[str, float]]:
    """Steps `env` with pre-generated random actions; one dict (agent_sps, steps, seconds) per repeat."""
    n_agents = env.num_agents
    rng = np.random.default_rng(seed)
    rows = list(rng.integers(0, env.single_action_space.n, size=(ACTION_ROWS, n_agents), dtype=np.int32))
    step = env.step

    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < warmup or steps < 10:
        step(rows[steps % ACTION_ROWS])
        steps += 1
    chunk = max(1, int(0.01 * steps / max(time.perf_counter() - t0, 1e-9)))  # ~10 ms between clock reads

    samples, i = [], 0
    for _ in range(repeats):
        n, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while True:
            for _ in range(chunk):
                step(rows[i])
                i = (i + 1) % ACTION_ROWS
            n += chunk
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        cpu = time.process_time() - cpu_start
        samples.append({"agent_sps": n * n_agents / elapsed, "agent_sps_cpu": n * n_agents / max(cpu, 1e-9),
                        "steps": n, "seconds": elapsed, "cpu_seconds": cpu})
    return samples


def bench_ours(game: str, num_envs: int, num_threads: int, seconds: float, repeats: int, warmup: float,
               seed: int = 0) -> dict[str, Any]:
    env = mettagrid.MettaGridEnv(game, num_envs=num_envs, num_threads=num_threads, seed=seed)
    env.reset(seed=seed)
    samples = time_env(env, seconds, repeats, warmup, seed)
    sps = [s["agent_sps"] for s in samples]
    result = {
        "impl": "ours", "game": game, "num_envs": num_envs, "num_threads": num_threads,
        "agents_per_env": env.agents_per_env, "num_agents": env.num_agents,
        "num_actions": int(env.single_action_space.n),
        "agent_sps_best": max(sps), "agent_sps_median": statistics.median(sps),
        "agent_sps_cpu_best": max(s["agent_sps_cpu"] for s in samples), "samples": samples,
    }
    env.close()
    return result


def run_reference(python: str, game: str, num_envs: int, seconds: float, repeats: int, warmup: float,
                  seed: int = 0) -> dict[str, Any]:
    """Runs reference_mettagrid.py in the reference venv; its last stdout line is a JSON result or error."""
    if not Path(python).exists():
        return {"error": f"no reference Python at {python}; install the reference into a separate venv: "
                         f"python3 -m venv ../ref-venv && ../ref-venv/bin/pip install mettagrid "
                         f"(or pass --reference-python)"}
    cmd = [python, "-I", str(REFERENCE_SCRIPT), "--game", game, "--num-envs", str(num_envs),
           "--seconds", str(seconds), "--repeats", str(repeats), "--warmup", str(warmup), "--seed", str(seed)]
    # -I: no PYTHONPATH, no user site, no script directory on sys.path, so this repository's `mettagrid`
    # package can never shadow the reference one (they share the import name).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=env,
                              timeout=120 + repeats * seconds * 4)
    except subprocess.TimeoutExpired:
        return {"error": f"reference run timed out: {' '.join(cmd)}"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if lines:
        try:
            out = json.loads(lines[-1])
            if proc.returncode != 0 and "error" not in out:
                out["error"] = f"exit status {proc.returncode}"
            return out
        except json.JSONDecodeError:
            pass
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"reference run failed (exit status {proc.returncode}): " + " | ".join(tail)}


def thread_counts(max_threads: int) -> list[int]:
    counts, t = [], 1
    while t < max_threads:
        counts.append(t)
        t *= 2
    counts.append(max_threads)
    return counts


def scaling_num_envs(counts: list[int], at_least: int) -> int:
    """The smallest multiple of every thread count that is >= at_least, so each thread gets equal games."""
    lcm = 1
    for c in counts:
        lcm = lcm * c // math.gcd(lcm, c)
    return lcm * max(1, -(-at_least // lcm))


# ------------------------------------------------------------------ report

def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Agent-steps per second of mettagrid.MettaGridEnv.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=float, default=1.0, help="timed seconds per repeat")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (best is reported)")
    p.add_argument("--warmup", type=float, default=0.5, help="warmup seconds before timing")
    p.add_argument("--games", nargs="+", default=["navigation", "arena"], help="presets for the per-core table")
    p.add_argument("--num-envs", nargs="+", type=int, default=[1, 8, 32], help="num_envs values per core")
    p.add_argument("--scaling-game", default="arena", help="preset for the thread scaling table")
    p.add_argument("--scaling-envs", type=int, default=64,
                   help="num_envs for thread scaling (raised to a multiple of every thread count)")
    p.add_argument("--max-threads", type=int, default=os.cpu_count() or 1, help="largest num_threads tried")
    p.add_argument("--quick", action="store_true", help="tiny run for a smoke test (timings meaningless)")
    p.add_argument("--json", metavar="PATH", help="save the results as JSON")
    p.add_argument("--markdown", action="store_true", help="also print the results as markdown tables")
    p.add_argument("--reference", action="store_true", help="also time the reference MettaGrid (per-core rows)")
    p.add_argument("--reference-python", default=DEFAULT_REFERENCE_PYTHON,
                   help="Python of the venv that has the reference `mettagrid` installed")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats, args.warmup = 0.05, 1, 0.02
        args.max_threads = min(args.max_threads, 2)
        args.scaling_envs = min(args.scaling_envs, 8)

    info = machine_info()
    method = {"actions": f"uniform random valid actions, pre-generated ({ACTION_ROWS} x num_agents int32, cycled)",
              "warmup_s": args.warmup, "seconds": args.seconds, "repeats": args.repeats,
              "statistic": "best of repeats (median also given)", "per_core": "num_threads=1", "seed": args.seed}
    print("metta-gridworld environment speed (agent-steps per second)")
    print(f"  machine : {info['cpu']}; os.cpu_count() = {info['cpu_count']} ({info['usable_cpus']} usable); "
          f"{info['platform']}")
    print(f"  commit  : {info['commit']}   python {info['python']}, numpy {info['numpy']}, "
          f"mettagrid {info['mettagrid']}")
    print(f"  method  : random actions pre-generated; {args.warmup:g} s warmup; best of {args.repeats} x "
          f"{args.seconds:g} s by the wall clock (median in brackets); cpu = best by the process's CPU time"
          + ("  [--quick: timings are meaningless]" if args.quick else ""))
    print(f"  load    : 1-minute load average {info['load_average_1min_at_start']} at start (other work on the "
          f"machine lowers and scatters the wall-clock figures; the CPU-time ones much less)")
    sys.stdout.flush()

    # -- per core
    per_core: list[dict[str, Any]] = []
    ref_version = None
    print("\nPer core (num_threads=1), agent-steps/s")
    head = f"  {'game':<11}{'num_envs':>9}{'agents':>7}{'acts':>5}{'ours best':>12}{'(median)':>12}{'cpu':>12}"
    if args.reference:
        head += f"{'acts':>6}{'ref best':>10}{'(median)':>11}{'cpu':>10}{'ours/ref':>9}{'cpu':>7}"
    print(head)
    for game in args.games:
        for n in args.num_envs:
            row = bench_ours(game, n, 1, args.seconds, args.repeats, args.warmup, args.seed)
            line = (f"  {game:<11}{n:>9}{row['num_agents']:>7}{row['num_actions']:>5}"
                    f"{fmt(row['agent_sps_best']):>12}{'(' + fmt(row['agent_sps_median']) + ')':>12}"
                    f"{fmt(row['agent_sps_cpu_best']):>12}")
            if args.reference:
                ref = run_reference(args.reference_python, game, n, args.seconds, args.repeats, args.warmup,
                                    args.seed)
                row["reference"] = ref
                if "error" in ref:
                    line += f"  reference failed: {ref['error']}"
                else:
                    ref_version = ref.get("reference_version")
                    row["ratio_best"] = row["agent_sps_best"] / ref["agent_sps_best"]
                    row["ratio_median"] = row["agent_sps_median"] / ref["agent_sps_median"]
                    row["ratio_cpu_best"] = row["agent_sps_cpu_best"] / ref["agent_sps_cpu_best"]
                    line += (f"{ref['num_actions']:>6}{fmt(ref['agent_sps_best']):>10}"
                             f"{'(' + fmt(ref['agent_sps_median']) + ')':>11}{fmt(ref['agent_sps_cpu_best']):>10}"
                             f"{row['ratio_best']:>8.1f}x{row['ratio_cpu_best']:>6.1f}x")
            per_core.append(row)
            print(line)
            sys.stdout.flush()
    if args.reference:
        errors = {r["reference"]["error"] for r in per_core if "error" in r.get("reference", {})}
        if errors:
            print("  The reference could not be run: " + "; ".join(sorted(errors)))
        else:
            print(f"  ref: mettagrid {ref_version} from PyPI ({args.reference_python}), its C++ MettaGrid stepped "
                  "directly, one per game (benchmarks/reference_mettagrid.py);\n  ours/ref = ours best / ref best "
                  "(wall clock), then the same by CPU time; acts = size of the action space")

    # -- thread scaling
    counts = thread_counts(max(1, args.max_threads))
    n_envs = scaling_num_envs(counts, args.scaling_envs)
    scaling: list[dict[str, Any]] = []
    print(f"\nThread scaling ({args.scaling_game}, num_envs={n_envs})")
    print(f"  {'threads':>7}{'agents':>8}{'best':>13}{'(median)':>13}{'speedup':>9}{'efficiency':>12}")
    base = None
    for t in counts:
        row = bench_ours(args.scaling_game, n_envs, t, args.seconds, args.repeats, args.warmup, args.seed)
        base = base or row["agent_sps_best"]
        row["speedup"] = row["agent_sps_best"] / base
        row["efficiency"] = row["speedup"] / t
        scaling.append(row)
        print(f"  {t:>7}{row['num_agents']:>8}{fmt(row['agent_sps_best']):>13}"
              f"{'(' + fmt(row['agent_sps_median']) + ')':>13}{row['speedup']:>8.2f}x{row['efficiency']:>11.0%}")
        sys.stdout.flush()
    if max(counts) > info["usable_cpus"]:
        print(f"  note: more threads than the {info['usable_cpus']} usable CPUs")

    info["load_average_1min_at_end"] = load_average()
    print(f"\n  1-minute load average at the end: {info['load_average_1min_at_end']}")
    out = {"machine": info, "method": method, "quick": args.quick, "per_core": per_core,
           "thread_scaling": {"game": args.scaling_game, "num_envs": n_envs, "rows": scaling},
           "reference_python": args.reference_python if args.reference else None}
    if args.markdown:
        print("\n" + markdown(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nsaved {args.json}")
    return 0


def markdown(out: dict[str, Any]) -> str:
    """The results as the markdown tables of benchmarks/README.md."""
    m = out["machine"]
    lines = [f"Machine: {m['cpu']}, os.cpu_count() = {m['cpu_count']}, {m['platform']}; commit `{m['commit']}`; "
             f"Python {m['python']}, numpy {m['numpy']}; 1-minute load average {m['load_average_1min_at_start']} "
             f"at the start, {m['load_average_1min_at_end']} at the end.", ""]
    has_ref = any("reference" in r and "error" not in r["reference"] for r in out["per_core"])
    head = "| game | num_envs | agents | ours best (median) | ours CPU-time |"
    rule = "|---|---:|---:|---:|---:|"
    if has_ref:
        version = next(r["reference"]["reference_version"] for r in out["per_core"] if "reference" in r)
        head += f" ref {version} best (median) | ref CPU-time | ours/ref | ours/ref CPU-time |"
        rule += "---:|---:|---:|---:|"
    lines += [head, rule]
    for r in out["per_core"]:
        line = (f"| {r['game']} | {r['num_envs']} | {r['num_agents']} | {fmt(r['agent_sps_best'])} "
                f"({fmt(r['agent_sps_median'])}) | {fmt(r['agent_sps_cpu_best'])} |")
        ref = r.get("reference", {})
        if has_ref and "error" not in ref and ref:
            line += (f" {fmt(ref['agent_sps_best'])} ({fmt(ref['agent_sps_median'])}) | "
                     f"{fmt(ref['agent_sps_cpu_best'])} | {r['ratio_best']:.1f}x | {r['ratio_cpu_best']:.1f}x |")
        elif has_ref:
            line += " - | - | - | - |"
        lines.append(line)
    ts = out["thread_scaling"]
    lines += ["", f"Thread scaling, {ts['game']}, num_envs = {ts['num_envs']}:", "",
              "| num_threads | agent-steps/s best (median) | speedup vs 1 thread | efficiency |",
              "|---:|---:|---:|---:|"]
    for r in ts["rows"]:
        lines.append(f"| {r['num_threads']} | {fmt(r['agent_sps_best'])} ({fmt(r['agent_sps_median'])}) | "
                     f"{r['speedup']:.2f}x | {r['efficiency']:.0%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

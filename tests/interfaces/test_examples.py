"""The interface examples run (with small step counts), so none can rot."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "random_native.py": ["--steps", "20", "--games", "2", "--threads", "1"],
    "random_pettingzoo.py": ["--steps", "15", "--preset", "teams"],
    "random_gymnasium.py": ["--steps", "30"],
    "render_gif.py": ["--steps", "5"],  # --out is added below
    "replay_viewer.py": ["--steps", "6", "--preset", "teams"],  # --out is added below
    "puffer_vector.py": ["--steps", "12", "--workers", "1", "--games-per-worker", "2", "--max-steps", "5"],
    "sb3_ppo.py": ["--steps", "256", "--episodes", "2"],
    "cleanrl_ppo.py": ["--total-timesteps", "2048", "--num-envs", "8", "--eval-episodes", "8"],
}
NEEDS = {"puffer_vector.py": "pufferlib", "sb3_ppo.py": "stable_baselines3", "render_gif.py": "PIL",
         "random_pettingzoo.py": "pettingzoo", "cleanrl_ppo.py": "torch"}
# the last line of the training examples: the random policy's and the trained policy's mean return
RETURNS = re.compile(r"random return (\d+\.\d+) -> trained return (\d+\.\d+) over (\d+) episodes")


def test_the_interface_examples_exist() -> None:
    assert all((ROOT / "examples" / name).is_file() for name in EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name: str, tmp_path: Path) -> None:
    module = NEEDS.get(name)
    required_on_ci = module == "pufferlib"  # CI installs pufferlib-core, so its example must run there
    if module and importlib.util.find_spec(module) is None and not (required_on_ci and os.environ.get("CI")):
        pytest.skip(f"{module} is not installed")
    outputs = {"render_gif.py": tmp_path / "episode.gif", "replay_viewer.py": tmp_path / "replay.html"}
    args = EXAMPLES[name] + (["--out", str(outputs[name])] if name in outputs else [])
    scratch = tmp_path / "tmp"  # the examples' temporary directory: they leave nothing behind in it
    scratch.mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**os.environ, "TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "an example should say what it did"
    left = sorted(p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_"))  # torch's own cache
    assert not left, f"{name} left {left} in its temp dir"
    if name in outputs:
        assert outputs[name].stat().st_size > 0
    if name == "replay_viewer.py":
        assert "teams: 5 steps" in proc.stdout and "<canvas" in outputs[name].read_text()
    if name in ("cleanrl_ppo.py", "sb3_ppo.py"):
        assert RETURNS.fullmatch(proc.stdout.strip().splitlines()[-1]), proc.stdout[-2000:]


def test_cleanrl_ppo_vectorization_modes(tmp_path: Path) -> None:
    """Gymnasium's own SyncVectorEnv over gymnasium.make trains too (asked to autoreset in the same step)."""
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "cleanrl_ppo.py"), "--vectorization-mode", "sync",
                           "--total-timesteps", "512", "--num-envs", "4", "--num-steps", "32", "--eval-episodes", "4"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert RETURNS.fullmatch(proc.stdout.strip().splitlines()[-1]), proc.stdout[-2000:]


@pytest.mark.slow
def test_cleanrl_ppo_learns_navigation(tmp_path: Path) -> None:
    """With its defaults (a couple of CPU minutes) the CleanRL-style PPO beats random actions at least 3x."""
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "cleanrl_ppo.py")], capture_output=True,
                          text=True, timeout=1200, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    match = RETURNS.fullmatch(proc.stdout.strip().splitlines()[-1])
    assert match, proc.stdout[-2000:]
    random_return, trained_return = float(match[1]), float(match[2])
    assert random_return > 0 and trained_return >= 3 * random_return, match[0]

"""Clear messages where a newcomer lands: a missing extra, a missing optional package, resuming with another
policy, and `<recipe> --help` are each one plain line (or the recipe's own defaults), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import trainer.sim as sim
import trainer.train as tt
from tiny_run import tiny_config
from trainer.config import TrainerConfig

ROOT = Path(__file__).resolve().parents[2]

# Runs `python -m <module> <args>` with the top-level packages named in argv[1] made unimportable.
BLOCKING_RUNNER = """
import runpy, sys
blocked = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[2:]
if sys.argv[0] == "-c":
    exec(sys.argv[1])
else:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _run_without(packages: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", BLOCKING_RUNNER, packages, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _extra_error(command: str, package: str) -> str:
    return (f"error: python -m {command} needs {package}, which cannot be imported (No module named '{package}'): "
            f"pip install 'metta-gridworld[train]' (torch, safetensors, rich)\n")


@pytest.mark.parametrize(("package", "command", "args"), [
    ("torch", "trainer.train", ["--list"]),
    ("torch", "trainer.train", ["navigation", "run=x"]),
    ("torch", "trainer.sim", ["train_dir/demo"]),
    ("safetensors", "trainer.sim", ["train_dir/demo", "--env", "navigation"]),
    ("rich", "trainer.train", ["--help"]),
])
def test_commands_without_the_train_extra(package: str, command: str, args: list[str]) -> None:
    proc = _run_without(package, command, *args)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", _extra_error(command, package))


def test_the_configs_import_without_torch() -> None:
    code = ("import trainer\n"
            "cfg = trainer.apply_overrides(trainer.get_recipe('navigation'), ['env.num_envs=2'])\n"
            "print(cfg.env.num_envs, 'torch' in sys.modules)\n"
            "try:\n"
            "    from trainer import load_policy\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    proc = _run_without("torch", "-c", code)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.splitlines() == [
        "2 False",
        "the trainer needs torch, which cannot be imported (No module named 'torch'): "
        "pip install 'metta-gridworld[train]' (torch, safetensors, rich)"]


def _tiny_yaml(tmp_path: Path, policy: str = "fast") -> tuple[TrainerConfig, Path]:
    cfg = tiny_config(tmp_path, policy=policy, epochs=1)
    path = tmp_path / "tiny.yaml"
    path.write_text(cfg.to_yaml())
    return cfg, path


@pytest.mark.parametrize(("overrides", "blocked", "message"), [
    (["tensorboard=true"], ["tensorboard", "torch.utils.tensorboard"],
     "tensorboard=true but tensorboard is not installed: pip install 'metta-gridworld[tensorboard]' "
     "(or pip install tensorboard)"),
    (["wandb=true"], ["wandb"],
     "wandb=true but wandb is not installed: pip install 'metta-gridworld[wandb]' (or pip install wandb)"),
    (["simulation.evaluate_interval=1", "simulation.stats_db=true"], ["duckdb"],
     "evaluation stats need DuckDB: pip install 'metta-gridworld[stats]' (or pip install duckdb)"),
    (["simulation.replay_interval=1", "simulation.replay_format=gif"], ["PIL"],
     "writing GIFs needs Pillow: pip install 'metta-gridworld[gif]' (or pip install pillow)"),
])
def test_train_without_an_optional_package(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch, overrides: list[str],
                                           blocked: list[str], message: str) -> None:
    cfg, path = _tiny_yaml(tmp_path)
    for module in blocked:
        monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    assert tt.main([str(path), *overrides]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not cfg.run_dir.exists()  # refused before anything was written


def test_sim_without_an_optional_package(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    monkeypatch.setitem(sys.modules, "PIL", None)
    assert sim.main(["train_dir/none", "--stats-db", str(tmp_path / "s.duckdb")]) == 2
    assert capsys.readouterr().err == ("error: evaluation stats need DuckDB: pip install 'metta-gridworld[stats]' "
                                       "(or pip install duckdb)\n")
    assert sim.main(["train_dir/none", "--replay", str(tmp_path / "r.gif")]) == 2
    assert capsys.readouterr().err == ("error: writing GIFs needs Pillow: pip install 'metta-gridworld[gif]' "
                                       "(or pip install pillow)\n")


def test_resuming_with_another_policy_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, path = _tiny_yaml(tmp_path, policy="lstm")
    assert tt.main([str(path)]) == 0
    capsys.readouterr()
    assert tt.main([str(path), "agent.policy=transformer", "trainer.total_timesteps=256"]) == 2
    ckpt = cfg.run_dir / "checkpoints" / "tiny:v1.safetensors"
    assert capsys.readouterr().err == (
        f"error: cannot resume run 'tiny' with this config: {ckpt}: does not fit this policy: architecture differs "
        f"(the checkpoint's vs this policy's: agent.policy 'lstm' vs 'transformer'); resume it with the settings it "
        f"was trained with ({cfg.run_dir / 'config.yaml'}), or start a new run=<name>\n")


def _help_rows(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    with pytest.raises(SystemExit) as e:
        tt.main(argv)
    assert e.value.code == 0
    return {parts[0]: parts[1:] for line in capsys.readouterr().out.splitlines()
            if line.startswith("  ") and len(parts := line.split()) > 2}


def test_recipe_help_shows_the_recipe_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    root = _help_rows(["--help"], capsys)
    assert root["total_timesteps"][:2] == ["int", "10000000"] and root["env.preset"][:2] == ["str", "'navigation'"]
    nav = _help_rows(["navigation", "--help"], capsys)
    assert nav["total_timesteps"][:2] == ["int", "2000000"]
    assert nav["optimizer.learning_rate"][:2] == ["float", "0.001"]
    from trainer.config import TrainerConfig
    from trainer.recipes import navigation

    recipe, root_cfg = navigation(), TrainerConfig()
    assert recipe.env.num_envs != root_cfg.env.num_envs and recipe.experience.batch_size != root_cfg.experience.batch_size
    assert nav["env.num_envs"][:2] == ["int", str(recipe.env.num_envs)]
    # the recipe's value, not the config default
    assert " ".join(nav["agent.policy"]).startswith("Literal['fast', 'lstm', 'transformer'] 'fast' ")
    assert nav["experience.batch_size"][:4] == ["int", "|", "None", str(recipe.experience.batch_size)]
    arena = _help_rows(["arena", "run=a1", "--help"], capsys)
    assert arena["env.preset"][:2] == ["str", "'arena'"] and arena["env.num_envs"][:2] == ["int", "8"]
    assert arena["run"][:2] == ["str", "'arena'"]
    unknown = _help_rows(["nosuchrecipe", "--help"], capsys)  # falls back to TrainerConfig's defaults
    assert unknown["total_timesteps"][:2] == ["int", "10000000"]

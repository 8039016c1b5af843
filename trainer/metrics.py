"""Run output: metrics.jsonl, the live rich progress display, and optional TensorBoard / wandb."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from trainer.config import ConfigError, TrainerConfig

__all__ = ["MetricsLogger"]

_DISPLAY = [
    ("episode reward", "episode_return", "{:.3f}"),
    ("episode length", "episode_length", "{:.1f}"),
    ("policy loss", "policy_loss", "{:.4f}"),
    ("value loss", "value_loss", "{:.4f}"),
    ("entropy", "entropy", "{:.3f}"),
    ("approx KL", "approx_kl", "{:.5f}"),
    ("clip fraction", "clipfrac", "{:.3f}"),
    ("explained var", "explained_variance", "{:.3f}"),
    ("eval reward", "eval/mean_return", "{:.3f}"),
]


def _missing(key: str) -> ConfigError:
    return ConfigError(f"{key}=true but {key} is not installed: pip install 'metta-gridworld[{key}]' "
                       f"(or pip install {key})")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _duration(seconds: float) -> str:
    """A short duration: 42s, 3m 05s, 2h 07m."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _ranked(tasks: dict[str, dict[str, float]]) -> list[str]:
    """The tasks that have a return, best first (ties by name)."""
    return sorted((n for n in tasks if "episode_return" in tasks[n]), key=lambda n: (-tasks[n]["episode_return"], n))


class MetricsLogger:
    """Appends one JSON record per logged epoch to train_dir/<run>/metrics.jsonl and shows progress (rank 0 only).

    `world_size` (ranks) and `agents_per_game` let the display say what a step is: with 2 ranks of
    env.num_envs = 64 games of 1 agent, each epoch steps 128 agent rows.
    """

    def __init__(self, config: TrainerConfig, enabled: bool = True, world_size: int = 1,
                 agents_per_game: int | None = None) -> None:
        if world_size < 1:
            raise ValueError(f"MetricsLogger: world_size = {world_size}, expected >= 1")
        if agents_per_game is not None and agents_per_game < 1:
            raise ValueError(f"MetricsLogger: agents_per_game = {agents_per_game}, expected >= 1 or None")
        self.config = config
        self.enabled = enabled
        self.world_size = world_size
        self.agents_per_game = agents_per_game
        self.started = time.time()
        self.latest: dict[str, Any] = {}
        self.console = Console()
        self.live: Live | None = None
        self.tensorboard: Any = None
        self.wandb: Any = None
        if not enabled:
            return
        # the optional sinks' packages first, so that a missing one leaves nothing behind
        if config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise _missing("tensorboard") from None
        if config.wandb:
            try:
                import wandb
            except ImportError:
                raise _missing("wandb") from None
        run_dir = config.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / "metrics.jsonl"
        self.file = self.path.open("a")
        if config.tensorboard:
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"))
        if config.wandb:
            self.wandb = wandb.init(project=config.wandb_project, name=config.run, id=config.run, resume="allow",
                                    config=config.model_dump(mode="json"), dir=str(run_dir))
        if config.progress and self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()

    def message(self, text: str) -> None:
        """A one-line message above the display."""
        if self.enabled:
            self.console.print(text, soft_wrap=True)

    def log(self, record: dict[str, Any]) -> None:
        """Writes a record (epoch, agent_step, sps, losses, env stats ...) to every enabled sink."""
        if not self.enabled:
            return
        record = {"time": round(time.time() - self.started, 3), **record}
        self.latest.update({k: v for k, v in record.items() if not (isinstance(v, float) and math.isnan(v))})
        self.file.write(json.dumps(record, allow_nan=True) + "\n")
        self.file.flush()
        step = int(record.get("agent_step", 0))
        numeric = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.tensorboard is not None:
            for k, v in numeric.items():
                self.tensorboard.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(numeric, step=step)
        if self.live is not None:
            self.live.update(self._render())
        elif self.config.progress:
            self.console.print(self._line(), highlight=False, soft_wrap=True)

    def _fmt(self, key: str, fmt: str) -> str:
        v = self.latest.get(key)
        return fmt.format(v) if isinstance(v, (int, float)) else "-"

    def layout(self) -> str:
        """What one step of an epoch is, e.g. `2 ranks x 64 games x 1 agent = 128 agent rows`."""
        ranks, games = _plural(self.world_size, "rank"), _plural(self.config.env.num_envs, "game")
        if self.agents_per_game is None:
            return f"{ranks} x {games}"
        rows = self.world_size * self.config.env.num_envs * self.agents_per_game
        return f"{ranks} x {games} x {_plural(self.agents_per_game, 'agent')} = {_plural(rows, 'agent row')}"

    def _progress(self) -> str:
        """Epoch, agent steps of the total (the percentage capped at 100: the last epoch may overshoot), steps/s
        of the latest epoch and the time left at that rate."""
        total = self.config.total_timesteps
        step = int(self.latest.get("agent_step", 0))
        sps = self.latest.get("sps")
        if step >= total:
            eta = "done"
        elif isinstance(sps, (int, float)) and sps > 0:
            eta = _duration((total - step) / sps)
        else:
            eta = "-"
        return (f"epoch {self.latest.get('epoch', 0)}  agent steps {step:,}/{total:,} "
                f"({min(100.0, 100.0 * step / total):.1f}%)  {self._fmt('sps', '{:,.0f}')} steps/s  ETA {eta}")

    def _header(self) -> str:
        return f"{self.config.run}  {self.layout()}  {self._progress()}"

    def loss_rows(self) -> list[tuple[str, str]]:
        """Each configured loss's latest value and weight, e.g. ("loss action_supervised", "0.4123 x 0.1")."""
        rows = []
        for key, value in self.latest.items():
            if key.startswith("loss/") and key.count("/") == 1 and isinstance(value, (int, float)):
                weight = self.latest.get(f"{key}/weight")
                shown = f"{value:.4f}" + (f" x {weight:g}" if isinstance(weight, (int, float)) else "")
                rows.append((f"loss {key[5:]}", shown))
        return sorted(rows)

    def tasks(self) -> dict[str, dict[str, float]]:
        """Per curriculum task (bucket), its latest `episodes`, `episode_return` and `p` (chance of being drawn)."""
        out: dict[str, dict[str, float]] = {}
        for key, value in self.latest.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if key.startswith("task/") and key.endswith(("/episodes", "/episode_return")):
                name, _, field = key[5:].rpartition("/")
                out.setdefault(name, {})[field] = float(value)
            elif key.startswith("curriculum/"):
                out.setdefault(key[len("curriculum/"):], {})["p"] = float(value)
        return out

    def task_rows(self, limit: int = 8) -> list[tuple[str, str, str, str]]:
        """(task, episodes, episode return, chance of being drawn) rows: every task in name order when there are at
        most `limit`, else the `limit // 2` best and worst by return around a row counting the tasks left out."""
        tasks = self.tasks()

        def row(name: str) -> tuple[str, str, str, str]:
            t = tasks[name]
            cells = [f"{t[k]:{f}}" if k in t else "-" for k, f in (("episodes", ".0f"), ("episode_return", ".3f"),
                                                                  ("p", ".3f"))]
            return (name, *cells)

        if len(tasks) <= limit:
            return [row(name) for name in sorted(tasks)]
        ranked = _ranked(tasks)
        half = max(1, limit // 2)
        shown = ranked if len(ranked) <= 2 * half else ranked[:half] + ranked[-half:]
        rows = [row(name) for name in shown[:half]]
        if len(tasks) > len(shown):
            rows.append((f"... {len(tasks) - len(shown)} more", "", "", ""))
        return rows + [row(name) for name in shown[half:]]

    def _line(self) -> str:
        parts = [self.config.run, self._progress()] + [f"{name} {self._fmt(key, fmt)}" for name, key, fmt in _DISPLAY[:5]]
        parts += [f"{name} {value}" for name, value in self.loss_rows() if name != "loss ppo"]
        tasks = self.tasks()
        ranked = _ranked(tasks)
        if len(ranked) > 1:  # the best and the worst task (markup in a name is shown as written)
            parts.append(f"tasks {len(tasks)} best {escape(ranked[0])} {tasks[ranked[0]]['episode_return']:.3f} "
                         f"worst {escape(ranked[-1])} {tasks[ranked[-1]]['episode_return']:.3f}")
        return "  ".join(parts)

    def _render(self) -> Group:
        table = Table(show_header=False, box=None)
        table.add_column(style="cyan")
        table.add_column(justify="right")
        for name, key, fmt in _DISPLAY:
            table.add_row(name, self._fmt(key, fmt))
        for name, value in self.loss_rows():
            table.add_row(name, value)
        table.add_row("elapsed", f"{time.time() - self.started:.0f}s")
        rows = self.task_rows()
        if not rows:
            return Group(Text(self._header(), style="bold"), table)
        tasks = Table(box=None, header_style="cyan")
        for title in ("task", "episodes", "return", "p(draw)"):
            tasks.add_column(title, justify="left" if title == "task" else "right")
        for name, *cells in rows:
            tasks.add_row(Text(name), *cells)  # Text: a task name is data, never markup
        return Group(Text(self._header(), style="bold"), table, tasks)

    def close(self) -> None:
        """Stops the display and closes the files."""
        if not self.enabled:
            return
        if self.live is not None:
            self.live.stop()
        self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()

"""python -m mettagrid.demo: one plain frame and the speed through a pipe; on a terminal, coloured frames redrawn in
place, and Ctrl-C (SIGINT) ends it cleanly with the cursor shown again."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ESC = "\x1b"
COLOUR = re.compile(r"\x1b\[[0-9;]*38;5;\d+m")


def _demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "mettagrid.demo", *args]


def test_without_a_terminal_one_plain_frame_and_the_speed(tmp_path: Path) -> None:
    # run outside the source tree, so `-m` imports the installed package (as tests/mettagrid/test_play.py does)
    proc = subprocess.run(_demo("navigation", "--envs", "2", "--seconds", "0.3"), capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert ESC not in out
    lines = out.splitlines()
    assert sum(line.startswith("step ") for line in lines) == 1
    assert len([line for line in lines if re.fullmatch(r"[#._^v<>*]{15}", line)]) == 15  # the 15 x 15 map, once
    assert re.search(r"[\d,]+ agent-steps/s \([\d,]+ env steps/s, 1 thread\(s\)\)", out)
    assert "# wall" in out and "_ altar" in out  # the key to the map's characters


def _run_in_pty(args: list[str], cwd: Path, stop_after: str | None = None, size: tuple[int, int] = (80, 70),
                timeout: float = 60) -> tuple[int, str]:
    """Runs a command with stdout on a pseudo-terminal of `size` (columns, lines) and returns (exit status, all it
    wrote); with `stop_after`, sends SIGINT (what Ctrl-C sends) once that text has appeared twice."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(size[0]), "LINES": str(size[1])}
    proc = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    interrupted = False
    try:
        while time.monotonic() < deadline:
            exited = proc.poll() is not None  # checked before reading, so all it wrote is read below
            if not select.select([master], [], [], 0.1)[0]:
                if exited:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child has exited and closed the terminal
                break
            if not data:
                break
            chunks.append(data)
            if stop_after and not interrupted and b"".join(chunks).count(stop_after.encode()) >= 2:
                proc.send_signal(signal.SIGINT)
                interrupted = True
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # say what it wrote, and whether it was interrupted, instead of a bare timeout
            proc.kill()
            err = proc.stderr.read().decode("utf-8", "replace")
            raise AssertionError(f"still running after {timeout} s (SIGINT sent: {interrupted}); stderr:\n{err[-2000:]}"
                                 f"\noutput:\n{b''.join(chunks).decode('utf-8', 'replace')[-2000:]!r}") from None
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    return rc, b"".join(chunks).decode("utf-8", "replace")


def test_on_a_terminal_coloured_frames_redrawn_in_place(tmp_path: Path) -> None:
    rc, out = _run_in_pty(_demo("arena", "--envs", "2", "--frames", "4", "--fps", "20"), tmp_path)
    assert rc == 0, out[-2000:]
    assert out.count(ESC + "[H") == 4  # four frames, each from the top-left corner
    assert COLOUR.search(out) and ESC + "[K" in out
    assert out.index(ESC + "[?25l") < out.index(ESC + "[H") < out.rindex(ESC + "[?25h")  # cursor hidden, then shown
    steps = [int(s) for s in re.findall(r"step (\d+)/1000", out)]
    # the game moved between frames (any later frame past step 0: one may land right on an episode's reset)
    assert len(steps) == 4 and steps[0] == 0 and max(steps[1:]) > 0
    assert len(re.findall(r"[\d,]+ agent-steps/s", out)) >= 4
    # 53 map rows fit in 70 lines: none cropped
    assert "cropped" not in out


def test_ctrl_c_exits_cleanly_and_shows_the_cursor(tmp_path: Path) -> None:
    rc, out = _run_in_pty(_demo("navigation", "--envs", "2", "--fps", "20", "--steps-per-frame", "1"), tmp_path,
                          stop_after=ESC + "[H")
    assert rc == 0, out[-2000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
    assert out.rindex(ESC + "[?25h") > out.rindex(ESC + "[H")  # the cursor is shown after the last frame
    assert "agent-steps/s" in out.rsplit(ESC + "[?25h", 1)[1]  # then the speed


def test_a_small_terminal_crops_the_map(tmp_path: Path) -> None:
    rc, out = _run_in_pty(_demo("arena", "--envs", "1", "--frames", "1"), tmp_path, size=(40, 20))
    assert rc == 0, out[-2000:]
    frame = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.rsplit(ESC + "[?25h", 1)[0]).replace("\r", "")
    lines = frame.split("\n")
    assert "map is cropped to the" in frame
    assert max(map(len, lines)) < 40 and len([line for line in lines if line]) < 20

"""`python kill_worker.py <python -m trainer.train arguments>`: the training command, with a hook for kill tests.

With STALL_AT_WRITE=n the n-th checkpoint write of this process (policy files and trainer_state.pt alternate)
writes its temporary file (only its first half with STALL_HALF=1), writes that file's path to STALL_MARKER and
sleeps before the rename, so that a test can SIGKILL the process inside a checkpoint write.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

import trainer.checkpoint as ckpt
from trainer.train import main

STALL_AT = int(os.environ.get("STALL_AT_WRITE", "0"))
_writes = 0
_atomic_write = ckpt._atomic_write


def _stalling_atomic_write(path: Path, write: Callable[[str], None]) -> None:
    def write_then_stall(tmp: str) -> None:
        global _writes
        write(tmp)
        _writes += 1
        if _writes == STALL_AT:
            if os.environ.get("STALL_HALF"):
                os.truncate(tmp, os.path.getsize(tmp) // 2)
            Path(os.environ["STALL_MARKER"]).write_text(tmp)
            time.sleep(600)

    _atomic_write(path, write_then_stall)


ckpt._atomic_write = _stalling_atomic_write

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run by test_distributed under torchrun: trains, then checks that the ranks hold identical weights."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import trainer.train as tt

seeds: list[int] = []
captured: dict[str, torch.nn.Module] = {}
make_environment, wrap_distributed = tt.make_environment, tt.wrap_distributed


def recording_make_environment(config, seed=0, **kw):  # type: ignore[no-untyped-def]
    seeds.append(seed)
    return make_environment(config, seed=seed, **kw)


def capturing_wrap(policy, info):  # type: ignore[no-untyped-def]
    captured["policy"] = policy
    return wrap_distributed(policy, info)


tt.make_environment = recording_make_environment
tt.wrap_distributed = capturing_wrap
tt.cleanup_distributed = lambda: None  # keep the group for the checks below

out = Path(sys.argv[1])
result = tt.train(tt.build_config("navigation", sys.argv[2:]))
flat = torch.cat([p.detach().flatten() for p in captured["policy"].parameters()])
gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
dist.all_gather(gathered, flat)
all_seeds: list[object] = [None] * dist.get_world_size()
dist.all_gather_object(all_seeds, seeds)
if dist.get_rank() == 0:
    out.write_text(json.dumps({"world_size": dist.get_world_size(), "seeds": all_seeds, "epoch": result["epoch"],
                               "identical": all(torch.equal(g, gathered[0]) for g in gathered),
                               "changed": float(flat.abs().sum())}))
gc.collect()
dist.barrier()
dist.destroy_process_group()

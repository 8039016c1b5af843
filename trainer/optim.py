"""Optimizers: Adam, or Muon on hidden-layer weight matrices combined with Adam for every other parameter."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from trainer.config import OptimizerConfig

__all__ = ["MuonWithAdam", "loss_parameters", "make_optimizer", "muon_parameters"]


class MuonWithAdam:
    """Muon for the hidden 2-D weights and Adam for the rest, stepped together as one optimizer."""

    def __init__(self, muon: torch.optim.Optimizer, adam: torch.optim.Optimizer) -> None:
        self.muon = muon
        self.adam = adam

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """Both optimizers' parameter groups (editing `lr` in them takes effect)."""
        return self.muon.param_groups + self.adam.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the gradients of all parameters."""
        self.muon.zero_grad(set_to_none)
        self.adam.zero_grad(set_to_none)

    def step(self) -> None:
        """One update of every parameter."""
        self.muon.step()
        self.adam.step()

    def state_dict(self) -> dict[str, Any]:
        """{"muon": ..., "adam": ...}."""
        return {"muon": self.muon.state_dict(), "adam": self.adam.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state_dict() of an optimizer built over the same parameters."""
        if set(state) != {"muon", "adam"}:
            raise ValueError(f"expected a Muon+Adam state with keys muon and adam, got keys {sorted(state)}")
        self.muon.load_state_dict(state["muon"])
        self.adam.load_state_dict(state["adam"])


def muon_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(Muon, Adam) parameters: 2-D weights of hidden layers go to Muon; embeddings, heads, convs, biases, norms to Adam."""
    muon: list[nn.Parameter] = []
    adam: list[nn.Parameter] = []
    heads = {id(m) for name in ("actor", "critic") for m in [getattr(model, name, None)] if m is not None}
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        hidden = id(module) not in heads and not isinstance(module, nn.Embedding)
        for p in own:
            (muon if hidden and p.ndim == 2 else adam).append(p)
    return muon, adam


def loss_parameters(losses: Mapping[str, Any] | None) -> list[nn.Parameter]:
    """The parameters of the losses that are nn.Modules (prediction heads), in the mapping's order, each once."""
    params: list[nn.Parameter] = []
    seen: set[int] = set()
    for loss in (losses or {}).values():
        if isinstance(loss, nn.Module):
            for p in loss.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params


def _fusable(params: list[nn.Parameter]) -> bool:
    """Whether Adam's fused kernel (one pass over all parameters: ~4x faster than the per-tensor loop on CPU) can
    take these parameters: floating point, all on one CPU or CUDA device."""
    devices = {p.device for p in params}
    return (len(devices) == 1 and next(iter(devices)).type in ("cpu", "cuda")
            and all(p.is_floating_point() for p in params))


def make_optimizer(agent: nn.Module, config: OptimizerConfig | None = None, losses: Mapping[str, Any] | None = None,
                   **overrides: Any) -> torch.optim.Optimizer | MuonWithAdam:
    """Adam (AdamW: decoupled weight decay) or Muon+Adam over the agent's parameters; kwargs override config fields.

    `losses` (built Loss objects, e.g. make_losses(cfg.losses)): each is set up for the policy (`setup`), and the
    parameters of those that are nn.Modules are trained too, by Adam, in a parameter group of their own after the
    policy's (so an optimizer without such losses is exactly the policy's)."""
    cfg = config or OptimizerConfig()
    if overrides:
        cfg = OptimizerConfig.model_validate({**cfg.model_dump(), **overrides})
    model = getattr(agent, "module", agent)
    for loss in (losses or {}).values():
        loss.setup(model)
    extra = loss_parameters(losses)
    policy_ids = {id(p) for p in model.parameters()}
    shared = [name for name, loss in (losses or {}).items() if isinstance(loss, nn.Module)
              and any(id(p) in policy_ids for p in loss.parameters())]
    if shared:
        raise ValueError(f"losses {shared} hold parameters of the policy itself; a loss's own parameters (its heads) "
                         "must be separate modules")

    def adam(params: list[nn.Parameter]) -> torch.optim.Optimizer:
        groups: list[dict[str, Any]] = [{"params": params}] + ([{"params": extra}] if extra else [])
        return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                                 weight_decay=cfg.weight_decay, fused=_fusable(params + extra) or None)

    if cfg.type == "adam":
        return adam(list(model.parameters()))
    muon_params, adam_params = muon_parameters(model)
    if not muon_params:
        raise ValueError("optimizer.type = 'muon' but the policy has no hidden 2-D weight matrices")
    muon = torch.optim.Muon(muon_params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, momentum=cfg.momentum,
                            adjust_lr_fn="match_rms_adamw")
    return MuonWithAdam(muon, adam(adam_params))

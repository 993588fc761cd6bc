"""Processes: one on CPU or GPU, or many under ``torchrun`` (one per GPU, or several on CPU with gloo).

Distributed runs use DistributedDataParallel (``torch.nn.SyncBatchNorm`` on CUDA; plain per-process batch
norm on CPU, where torch has no synchronised kernel), a sharded sampler, and rank 0 alone writes logs,
pictures and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """This process's place among the processes of a run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_environment() -> Dist:
    """The process layout torchrun describes in the environment (one process without it)."""
    return Dist(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def training_device(name: str, info: Dist) -> torch.device:
    """The device named as everywhere (``fomm_cli.devices``); under torchrun, ``auto`` and a bare ``cuda``
    mean this process's own GPU."""
    from fomm_cli.devices import resolve_device

    if info.world > 1 and name in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device(f"cuda:{info.local_rank}")
    else:
        device = resolve_device(name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def start(info: Dist, device: torch.device) -> None:
    """Join the process group (several processes only)."""
    if info.world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")


def stop(info: Dist) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: Dist) -> None:
    if info.world > 1:
        dist.barrier()


def any_process(flag: bool, info: Dist, device: torch.device) -> bool:
    """Whether ``flag`` is set in any process (all processes must stop at the same step)."""
    if info.world == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_over_processes(values: torch.Tensor, info: Dist) -> torch.Tensor:
    """The element-wise mean of ``values`` over all processes."""
    if info.world > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= info.world
    return values


def gather(item: Any, info: Dist) -> list[Any]:
    """Every process's ``item``, in rank order (picklable objects)."""
    if info.world == 1:
        return [item]
    items: list[Any] = [None] * info.world
    dist.all_gather_object(items, item)
    return items

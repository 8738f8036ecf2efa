"""Process-group set-up for torchrun: DDP or FSDP2 on gloo (CPU) or nccl (GPU).

The same code runs as a single process; torchrun's environment variables switch it to
data parallel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world_size() -> int:
    """How many processes torchrun started (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: str = "auto") -> DistEnv:
    """Join torchrun's process group if launched by it, and set this process's threads.

    With 2 cores, two processes that each use both stall each other badly, so each
    gets cores // local_world_size threads. A single process launched with
    OMP_NUM_THREADS keeps that count: the user is sharing the cores on purpose. (Under
    torchrun, which sets OMP_NUM_THREADS=1 for every rank, the split above applies.)
    """
    world = world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    dev = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    elif world == 1 and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistEnv(int(os.environ.get("RANK", "0")), world, local_rank, local_world, dev)


def all_reduce_sum(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum a small tensor over all processes (identity when alone)."""
    if env.distributed:
        values = values.to(env.device)
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()


def wrap_model(model: torch.nn.Module, env: DistEnv, fsdp: bool) -> torch.nn.Module:
    """Shard with FSDP2 or replicate with DDP across the process group."""
    if not env.distributed:
        return model
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        # Shard each transformer block (transformers names them in _no_split_modules), then the rest.
        blocks = set(getattr(model, "_no_split_modules", None) or [])
        for module in reversed(list(model.modules())):
            if type(module).__name__ in blocks and module is not model:
                fully_shard(module)
        return fully_shard(model)
    from torch.nn.parallel import DistributedDataParallel

    ids = [env.local_rank] if env.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def shutdown(env: DistEnv) -> None:
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()

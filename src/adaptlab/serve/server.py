"""Run the app under uvicorn, with torch's threads shared out among the concurrent generations."""

from __future__ import annotations

import os
from collections.abc import Mapping

from adaptlab.serve.models import ServedModel
from adaptlab.serve.settings import ServeSettings


def torch_threads(max_concurrency: int) -> int:
    """Each of the concurrent generations gets its share of the cores: more threads than cores
    stalls every one of them (see DESIGN.md, known traps)."""
    return max(1, len(os.sched_getaffinity(0)) // max_concurrency)


def run_server(models: Mapping[str, ServedModel], settings: ServeSettings) -> None:
    """Serve until interrupted (Ctrl-C stops it gracefully)."""
    import torch
    import uvicorn

    from adaptlab.serve.app import create_app

    torch.set_num_threads(torch_threads(settings.max_concurrency))
    uvicorn.run(create_app(models, settings), host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=5)

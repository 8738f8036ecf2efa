"""Run the app under uvicorn, with torch's threads shared out among the concurrent generations."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from adaptlab.errors import UserError
from adaptlab.serve.models import ServedModel
from adaptlab.serve.settings import ServeSettings


def torch_threads(max_concurrency: int) -> int:
    """Each of the concurrent generations gets its share of the cores: more threads than cores
    stalls every one of them (see DESIGN.md, known traps)."""
    return max(1, len(os.sched_getaffinity(0)) // max_concurrency)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port; a port in use (or a host not on this machine) is one line naming
    them, before anything is loaded or opened."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"{host}:{port}: cannot listen there ({exc.strerror or exc}); choose another --port, or "
                        "stop what is using it") from None
    return sock


def run_server(models: Mapping[str, ServedModel], settings: ServeSettings) -> None:
    """Serve until interrupted (Ctrl-C stops it gracefully). The port is bound before the app opens its
    feedback database, so a server that cannot listen leaves no database behind."""
    import torch
    import uvicorn

    from adaptlab.serve.app import create_app

    sock = bind(settings.host, settings.port)
    torch.set_num_threads(torch_threads(settings.max_concurrency))
    config = uvicorn.Config(create_app(models, settings), log_level="info", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])

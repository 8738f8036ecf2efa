"""Run the app under uvicorn, with torch's threads shared out among the concurrent generations, until told to stop."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from adaptlab.errors import UserError
from adaptlab.serve.models import ServedModel
from adaptlab.serve.settings import ServeSettings, is_loopback


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


def read_api_key(path: Path) -> str:
    """The first line of `path`: a key kept in a file stays out of `ps` and the shell's history."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--api-key-file {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    key = lines[0].strip() if lines else ""
    if not key:
        raise UserError(f"--api-key-file {path}: its first line is empty; write the key there")
    return key


def start_up_lines(settings: ServeSettings) -> tuple[list[str], list[str]]:
    """What the server says as it starts (where it records what it serves), and its warnings (a server
    open to the network with no key)."""
    lines = [f"recording served completions and feedback in {settings.feedback_db} (kept {settings.record_days:g} "
             f"days, {settings.record_max_rows} at most; --no-record to keep none)" if settings.record
             else "not recording served completions (--no-record): /v1/feedback is off"]
    warnings = []
    if not is_loopback(settings.host) and not settings.api_key:
        warnings.append(f"listening on {settings.host} with no API key: anyone who can reach this port can use the "
                        "models; set ADAPTLAB_API_KEY or --api-key-file")
    trusted = settings.trusted_hosts()
    lines.append(f"answering Host {', '.join(trusted)} (--allowed-host)" if trusted is not None
                 else f"answering any Host header (--host {settings.host}; name them with --allowed-host)")
    return lines, warnings


def run_server(models: Mapping[str, ServedModel], settings: ServeSettings,
               on_shutdown: Sequence[Callable[[], None]] = ()) -> None:
    """Serve until told to stop (SIGTERM or Ctrl-C: running generations get --shutdown-grace seconds to
    finish, `serve.shutdown`). The port is bound before the app opens its feedback database, so a server
    that cannot listen leaves no database behind."""
    import torch

    from adaptlab.serve.app import create_app
    from adaptlab.serve.shutdown import GracefulServer

    sock = bind(settings.host, settings.port)
    torch.set_num_threads(torch_threads(settings.max_concurrency))
    app = create_app(models, settings, on_shutdown)
    GracefulServer(app, app.state.draining, log_level="info").run(sockets=[sock])

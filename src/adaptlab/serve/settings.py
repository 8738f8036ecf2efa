"""How a server runs: address, auth, the limits that keep one client from starving the rest,
what it records, and how it stops."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def user_data_dir() -> Path:
    """Where a user's application data lives (XDG): `$XDG_DATA_HOME`, else ~/.local/share."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "adaptlab"


def default_feedback_db() -> Path:
    """Served completions and ratings outlive any one working folder, and stay out of repositories."""
    return user_data_dir() / "feedback.sqlite3"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port")
    api_key: str | None = Field(default=None, description="bearer token every request but /health must carry")
    allowed_hosts: list[str] | None = Field(
        default=None, description="Host header values answered (a browser page cannot then drive the server by DNS "
                                  "rebinding); default: loopback names and --host, or any when --host is a wildcard")
    max_concurrency: int = Field(default=4, gt=0, description="generations running at once")
    max_queue: int = Field(default=64, ge=0, description="requests waiting for a slot; past it, 429")
    timeout: float = Field(default=60.0, gt=0, description="seconds a request may take, queue included; then 504")
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="larger request bodies get 413")
    max_prompt_tokens: int | None = Field(default=None, gt=0, description="default: the model's context")
    max_tokens: int = Field(default=512, gt=0, description="most tokens one request may ask to generate")
    max_stop_sequences: int = Field(default=4, ge=0, description="stop strings one request may give (OpenAI: 4)")
    max_stop_chars: int = Field(default=256, gt=0, description="longest stop string, in characters")
    record: bool = Field(default=True, description="record served completions and take feedback on them")
    feedback_db: Path = Field(default_factory=default_feedback_db,
                              description="SQLite file of served completions and their ratings")
    record_days: float = Field(default=30.0, gt=0, description="days a served completion and its rating are kept")
    record_max_rows: int = Field(default=100_000, gt=0, description="served completions kept; the oldest go first")
    max_feedback_chars: int = Field(default=16_000, gt=0, description="longest preferred answer a rating may carry")
    shutdown_grace: float = Field(default=30.0, ge=0, description="seconds running generations get to finish once "
                                                                  "the server is told to stop")

    def trusted_hosts(self) -> list[str] | None:
        """The Host names answered; None: any."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        if self.host in WILDCARD_HOSTS:
            return None
        return list(dict.fromkeys([*LOOPBACK_NAMES, self.host]))

"""How a server runs: address, auth, and the limits that keep one client from starving the rest."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0 picks a free port")
    api_key: str | None = Field(default=None, description="bearer token every /v1 request must carry")
    max_concurrency: int = Field(default=4, gt=0, description="generations running at once")
    max_queue: int = Field(default=64, ge=0, description="requests waiting for a slot; past it, 429")
    timeout: float = Field(default=60.0, gt=0, description="seconds a request may take, queue included; then 504")
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="larger request bodies get 413")
    max_prompt_tokens: int | None = Field(default=None, gt=0, description="default: the model's context")
    max_tokens: int = Field(default=512, gt=0, description="most tokens one request may ask to generate")
    feedback_db: Path = Field(default=Path("feedback.sqlite3"),
                              description="SQLite file of served completions and their ratings")

"""`adaptlab serve`: the OpenAI-compatible server over run folders, RAG systems and their caches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from adaptlab.errors import UserError

out = Console(soft_wrap=True)


def serve(
    runs: Annotated[Optional[list[str]], typer.Argument(
        help="Models to serve: RUN or NAME=RUN (a run or model folder; clients ask for NAME, by default the "
             "folder's name). An adapter run is its own model name.", show_default=False)] = None,
    rag: Annotated[Optional[list[str]], typer.Option(
        help="NAME=INDEX:READER: a RAG system over an index folder, read by a served model's NAME or a run "
             "folder. Repeatable.", show_default=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface (then set a key).")]
    = "127.0.0.1",
    port: int = 8000,
    api_key: Annotated[Optional[str], typer.Option(
        envvar="ADAPTLAB_API_KEY", show_envvar=True,
        help="Require 'Authorization: Bearer KEY' on every request but /health. Prefer the environment variable or "
             "--api-key-file: a command line is visible to every user in `ps`.", show_default=False)] = None,
    api_key_file: Annotated[Optional[Path], typer.Option(help="File whose first line is the API key.",
                                                         show_default=False)] = None,
    allowed_host: Annotated[Optional[list[str]], typer.Option(
        help="Host header answered (repeatable); others get 400, so no web page can drive the server through a "
             "name of its own. Default: localhost, 127.0.0.1, ::1 and --host; any when --host is 0.0.0.0 or ::.",
        show_default=False)] = None,
    max_concurrency: Annotated[int, typer.Option(help="Generations running at once.")] = 4,
    max_queue: Annotated[int, typer.Option(help="Requests waiting for a slot; past it, 429.")] = 64,
    timeout: Annotated[float, typer.Option(help="Seconds per request, queue included; then 504.")] = 60.0,
    max_tokens: Annotated[int, typer.Option(help="Most tokens a request may generate.")] = 512,
    max_prompt_tokens: Annotated[Optional[int], typer.Option(help="Longest prompt (default: the model's "
                                                                  "context).")] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body; past it, 413.")] = 1_000_000,
    max_stop_sequences: Annotated[int, typer.Option(help="Stop strings a request may give.")] = 4,
    max_stop_chars: Annotated[int, typer.Option(help="Longest stop string, in characters.")] = 256,
    record: Annotated[bool, typer.Option(help="Record served completions (prompt and answer) so that clients can "
                                              "rate them at /v1/feedback.")] = True,
    feedback_db: Annotated[Optional[Path], typer.Option(
        help="SQLite file of served completions and ratings [default: $XDG_DATA_HOME/adaptlab/feedback.sqlite3, "
             "else ~/.local/share/adaptlab/feedback.sqlite3]", show_default=False)] = None,
    record_days: Annotated[float, typer.Option(help="Days a served completion and its rating are kept.")] = 30.0,
    record_max_rows: Annotated[int, typer.Option(help="Served completions kept; the oldest go first.")] = 100_000,
    max_feedback_chars: Annotated[int, typer.Option(help="Longest preferred answer a rating may carry.")] = 16_000,
    shutdown_grace: Annotated[float, typer.Option(
        help="On SIGTERM or Ctrl-C, seconds running generations get to finish; the rest end with an error.")] = 30.0,
    response_cache: Annotated[Optional[Path], typer.Option(
        help="SQLite file of answers given: a repeated greedy request is answered from it.")] = None,
    cache_ttl: Annotated[float, typer.Option(help="Seconds a cached answer is kept.")] = 24 * 3600,
    cache_max_entries: Annotated[int, typer.Option(help="Cached answers kept at most; the oldest go first.")]
    = 10_000,
    cache_sampled: Annotated[bool, typer.Option(help="Cache sampled answers too (a seeded one then "
                                                     "repeats).")] = False,
    prefix_cache_mb: Annotated[int, typer.Option(
        help="MB of KV per model for prompt prefixes requests share (system prompt, few-shot examples, RAG "
             "passages): reused, not recomputed. 0: off.")] = 0,
    draft: Annotated[Optional[Path], typer.Option(
        help="A small run with the same tokenizer: speculative decoding for the base models (greedy answers "
             "unchanged). With --prefix-cache-mb, base models are drafted and adapter runs and RAG readers "
             "prefix-cached.", show_default=False)] = None,
) -> None:
    """An OpenAI-compatible HTTP server (/v1/models, /v1/completions, /v1/chat/completions, /v1/feedback)."""
    from adaptlab.config import validate
    from adaptlab.serve.decoding import decoding_summary
    from adaptlab.serve.registry import load_models
    from adaptlab.serve.server import bind, read_api_key, run_server, start_up_lines
    from adaptlab.serve.settings import ServeSettings

    if api_key_file is not None:
        if api_key is not None:
            raise UserError("give the API key once: --api-key (or ADAPTLAB_API_KEY) or --api-key-file, not both")
        api_key = read_api_key(api_key_file)
    given = {"host": host, "port": port, "api_key": api_key, "allowed_hosts": allowed_host or None,
             "max_concurrency": max_concurrency, "max_queue": max_queue, "timeout": timeout, "max_tokens": max_tokens,
             "max_prompt_tokens": max_prompt_tokens, "max_body_bytes": max_body_bytes,
             "max_stop_sequences": max_stop_sequences, "max_stop_chars": max_stop_chars, "record": record,
             "record_days": record_days, "record_max_rows": record_max_rows,
             "max_feedback_chars": max_feedback_chars, "shutdown_grace": shutdown_grace}
    settings = validate(ServeSettings, {**given, **({"feedback_db": feedback_db} if feedback_db else {})},
                        source="serve")
    bind(host, port).close()  # a port in use fails now, not after the models load (run_server binds it again)
    cache = None
    if response_cache is not None:
        from adaptlab.engine.response_cache import ResponseCache

        cache = ResponseCache(response_cache, ttl_seconds=cache_ttl, max_entries=cache_max_entries,
                              cache_sampled=cache_sampled)
    models = load_models(runs or [], rag or [], prefix_cache_mb=prefix_cache_mb, draft=draft)
    for line in decoding_summary(models, prefix_cache_mb, draft):
        out.print(line, highlight=False)
    if cache is not None:
        from adaptlab.serve.cached import with_response_cache

        models = with_response_cache(models, cache)
    lines, warnings = start_up_lines(settings)
    for line in lines:
        out.print(line, highlight=False)
    for warning in warnings:
        Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    out.print(f"serving {', '.join(models)} at http://{host}:{port}/v1", highlight=False)
    run_server(models, settings, [cache.close] if cache is not None else [])

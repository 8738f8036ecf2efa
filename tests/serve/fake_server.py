"""`python tests/serve/fake_server.py PORT FEEDBACK_DB RESPONSE_CACHE GRACE`: adaptlab's own server
(`run_server`: uvicorn, its signals, the stores closed at the end) over stand-in models whose timing
the test knows, in a process of its own so that a test can send it SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SLOW_PIECES, SLOW_DELAY = 30, 0.2  # 6 s: longer than uvicorn's own 5 s of grace


def main(port: str, feedback_db: str, response_cache: str, grace: str) -> None:
    from adaptlab.engine.response_cache import ResponseCache
    from adaptlab.serve.cached import with_response_cache
    from adaptlab.serve.server import run_server
    from adaptlab.serve.settings import ServeSettings
    from serve.fakes import EndlessModel, SlowModel

    cache = ResponseCache(response_cache)
    models = with_response_cache({"endless": EndlessModel(), "slow": SlowModel(SLOW_PIECES, SLOW_DELAY)}, cache)
    settings = ServeSettings(port=int(port), feedback_db=Path(feedback_db), shutdown_grace=float(grace))
    run_server(models, settings, [cache.close])


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The HTTP routes: `/health`, and under `/v1` the models, completions, chat completions and
feedback. Each reads the app's `ServerState`; generation itself is `serve.generation`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from adaptlab.serve.errors import APIError
from adaptlab.serve.generation import generate
from adaptlab.serve.schemas import ChatCompletionRequest, CompletionRequest, FeedbackRequest, ModelCard, ModelList
from adaptlab.serve.state import ServerState

COMPLETION_DEFAULT_TOKENS = 16  # OpenAI's default max_tokens for /v1/completions

root = APIRouter()
v1 = APIRouter(prefix="/v1")


def _state(request: Request) -> ServerState:
    return request.app.state.server


@root.get("/health")
async def health(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {"status": "stopping" if state.draining.stopping else "ok", "models": list(state.models),
            "running": state.slots.running, "queued": state.slots.waiting, "preparing": state.prep.running}


@v1.get("/models")
async def list_models(request: Request) -> ModelList:
    state = _state(request)
    return ModelList(data=[ModelCard(id=name, created=state.started) for name in state.models])


@v1.get("/models/{name}")
async def get_model(name: str, request: Request) -> ModelCard:
    state = _state(request)
    state.lookup(name)
    return ModelCard(id=name, created=state.started)


@v1.post("/completions")
async def completions(body: CompletionRequest, request: Request) -> Any:
    state = _state(request)
    served = state.lookup(body.model)
    return await generate(state, request, body, served, lambda: served.completion_prompt(body.text),
                          {"prompt": body.text}, COMPLETION_DEFAULT_TOKENS, chat=False)


@v1.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
    state = _state(request)
    served = state.lookup(body.model)
    messages = [m.as_dict() for m in body.messages]
    return await generate(state, request, body, served, lambda: served.chat_prompt(messages), {"messages": messages},
                          state.settings.max_tokens, chat=True)


@v1.post("/feedback")
async def feedback(body: FeedbackRequest, request: Request) -> dict[str, Any]:
    state = _state(request)
    store, limit = state.store, state.settings.max_feedback_chars
    if store is None:
        raise APIError(404, "this server records no completions (it was started with --no-record), so it takes "
                            "no feedback", "feedback_not_recorded")
    if body.preferred is not None and len(body.preferred) > limit:
        raise APIError(400, f"preferred: {len(body.preferred)} characters, over the server's limit of {limit} "
                            "(--max-feedback-chars)", "preferred_too_long", param="preferred")
    row = await state.bounded(lambda: store.add_feedback(body.id, body.rating, body.preferred))
    if row is None:
        raise APIError(404, f"no completion with id {body.id!r} was served here", "completion_not_found", param="id")
    return {"id": row, "object": "feedback", "completion_id": body.id, "rating": body.rating,
            "preferred": body.preferred}

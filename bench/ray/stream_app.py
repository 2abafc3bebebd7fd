"""Ray Serve's side of the streaming benchmark: the seed's TokenStreamer.
POST /stream with {"prompt", "n", "delay_ms"} answers a text/event-stream
of n events `data: {"index": i, "token": ...}`, then `event: done`, from a
Generator deployment streamed through a handle (stream=True), as the demo's
POST /stream does."""
import asyncio
import json

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse

ROUTE_PREFIX = "/stream"


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.5},
)
class Generator:
    async def __call__(self, prompt: str, n: int, delay_ms: int):
        words = prompt.split() or ["..."]
        for i in range(n):
            yield json.dumps({"index": i, "token": words[i % len(words)]})
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000)


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.5},
)
class TokenStreamer:
    def __init__(self, gen: DeploymentHandle):
        self._gen = gen.options(stream=True)

    async def __call__(self, request: Request):
        if request.method != "POST":  # serve_run.py's readiness probe
            return PlainTextResponse("ok")
        body = await request.json()
        chunks = self._gen.remote(body["prompt"], int(body.get("n", 20)),
                                  int(body.get("delay_ms", 10)))

        async def events():
            async for chunk in chunks:
                yield f"data: {chunk}\n\n"
            yield "event: done\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


app = TokenStreamer.bind(Generator.bind())

"""Ray Serve no-op app: 1 replica, GET/POST /noop -> "ok"."""
from ray import serve
from starlette.requests import Request
from starlette.responses import PlainTextResponse

ROUTE_PREFIX = "/noop"


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.5},  # scheduling token only; fits in num_cpus=2
)
class Noop:
    async def __call__(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")


app = Noop.bind()

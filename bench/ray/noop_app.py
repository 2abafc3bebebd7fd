"""Ray Serve no-op app: GET/POST /noop -> "ok". One replica, or
$RAY_BENCH_REPLICAS of them (the memory-per-replica scenario)."""
import os

from ray import serve
from starlette.requests import Request
from starlette.responses import PlainTextResponse

ROUTE_PREFIX = "/noop"


REPLICAS = int(os.environ.get("RAY_BENCH_REPLICAS", "1"))


@serve.deployment(
    num_replicas=REPLICAS,
    max_ongoing_requests=1000,
    # A scheduling token only: every replica must fit in ray.init(num_cpus=2).
    ray_actor_options={"num_cpus": min(0.5, 1.0 / REPLICAS)},
)
class Noop:
    async def __call__(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")


app = Noop.bind()

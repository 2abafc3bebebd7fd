"""Ray Serve echo chain: Ingress (/echo) reads the body and forwards it to
an Echo deployment through a DeploymentHandle; returns the echoed bytes."""
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import Response

ROUTE_PREFIX = "/echo"


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.5},
)
class Echo:
    async def __call__(self, body: bytes) -> bytes:
        return body


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.5},
)
class Ingress:
    def __init__(self, echo: DeploymentHandle):
        self._echo = echo

    async def __call__(self, request: Request) -> Response:
        body = await request.body()
        echoed = await self._echo.remote(body)
        return Response(content=echoed, media_type="application/octet-stream")


app = Ingress.bind(Echo.bind())

"""Ray Serve handle round trip, deployment -> deployment: a Caller deployment
makes sequential DeploymentHandle calls to an Echo deployment and times each
one (the same loop as bench/handle_roundtrip.cpp). Not exposed over HTTP."""
import time

from ray import serve
from ray.serve.handle import DeploymentHandle

ROUTE_PREFIX = None


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.5},
)
class Echo:
    async def __call__(self, x: int) -> int:
        return x


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=1000,
    ray_actor_options={"num_cpus": 0.5},
)
class Caller:
    def __init__(self, echo: DeploymentHandle):
        self._echo = echo

    async def run(self, n: int) -> list:
        samples = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            await self._echo.remote(1)
            samples.append(time.perf_counter_ns() - t0)
        return samples


app = Caller.bind(Echo.bind())

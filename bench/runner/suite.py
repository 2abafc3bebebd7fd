"""The Suite: the measuring steps of a run and their results, one mixin per
family of scenarios."""
import os
import tempfile

from .config import BUILD
from .scen_calls import CallScenarios
from .scen_chaos import ChaosScenarios
from .scen_cpu import CpuScenarios
from .scen_features import FeatureScenarios
from .scen_fuzz import FuzzScenarios
from .scen_ha import HaScenarios
from .scen_http import HttpScenarios
from .scen_soak import SoakScenarios


class Suite(HttpScenarios, CallScenarios, FeatureScenarios, CpuScenarios,
            FuzzScenarios, ChaosScenarios, SoakScenarios, HaScenarios):
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="actorserve-bench-")
        self.results = {"cluster": {}, "multiplexing": {}, "batching": {}, "control": {}, "streams": {}, "http": {}, "handle": {}, "memory": {}, "ray": {},
                        "callgrind": {}, "fuzz": {}, "chaos": {}, "ha": {},
                        "soak": {}}
        self.ray_error = None if args.ray else "skipped (--no-ray)"

    def bin(self, name):
        return os.path.join(BUILD, "bench", name)

"""Paths, versions and fixed settings of the benchmark run."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
BUILD = os.path.join(ROOT, "build", "bench")
VENV = os.path.join(BENCH, "venv")
RAY_VERSION = "2.60.0"
WRK_SCRIPT = os.path.join(BENCH, "ray", "report.lua")
MULTIPLEX_SCRIPT = os.path.join(BENCH, "multiplex.lua")
# Model popularity in the multiplexing scenario: Zipf exponents.
MULTIPLEX_DISTS = {"uniform": 0, "zipf": 1.1}
# The header routing sees, and one it does not (the baseline).
MULTIPLEX_ROUTINGS = {"model-aware": "serve_multiplexed_model_id",
                      "model-unaware": "x-model-id"}
PACKAGES = ["wrk", "gnuplot-nox", "libbenchmark-dev", "valgrind",
            "python3-venv", "iproute2", "util-linux"]
TICK = os.sysconf("SC_CLK_TCK")

"""bench/run's code, split by concern. The package itself is the `h` that
bench/scaling.py gets: the helpers below are the ones it calls."""
import shutil

from .fmt import fmt_int
from .load import wrk
from .procs import log, run, stop
from .servers import start_local

__all__ = ["fmt_int", "log", "run", "shutil", "start_local", "stop", "wrk"]

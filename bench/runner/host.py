"""This machine: installing what the run needs (setup) and describing it
for the page's header (machine)."""
import os
import platform
import re
import subprocess
import sys

from .config import BUILD, PACKAGES, RAY_VERSION, ROOT, VENV
from .procs import log, run


def setup(with_ray):
    r = subprocess.run(
        ["bash", "-c", f'set -e; ACTORSERVE_ROOT="{ROOT}"; '
         f'source "{ROOT}/tools/setup"; actorserve_install '
         + " ".join(PACKAGES) + "; actorserve_build " + BUILD +
         " -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACTORSERVE_BUILD_TESTS=OFF"],
        timeout=3600)
    if r.returncode != 0:
        sys.exit("bench: setup failed")
    if not with_ray:
        return None
    if os.path.exists(os.path.join(VENV, "bin", "ray")):
        return None
    log(f"installing Ray Serve {RAY_VERSION} into {VENV}")
    r = subprocess.run(
        ["bash", "-c", f'python3 -m venv "{VENV}" && "{VENV}/bin/pip" install '
         f'-q "ray[serve]=={RAY_VERSION}"'], capture_output=True, text=True,
        timeout=1800)
    return None if r.returncode == 0 else (r.stdout + r.stderr)[-2000:]


def machine():
    info = {"cores": os.cpu_count(), "model": "unknown", "mem_gib": 0}
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        info["model"] = m.group(1).strip() if m else "unknown"
    with open("/proc/meminfo") as f:
        kib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
        info["mem_gib"] = round(kib / 1024 / 1024)
    info["kernel"] = platform.release()
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        info["debian"] = "?"
    info["gxx"] = run(["g++", "-dumpfullversion"], 10).stdout.strip()
    info["commit"] = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                         10).stdout.strip()
    info["load"] = os.getloadavg()[0]
    return info

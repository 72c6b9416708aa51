"""`just bench-run`: start-up overhead of `pybun run` on a PEP 723 script vs
the environment's own python and `uv run`, warm caches; and `pybun x` vs `uvx`.

The script declares `requests` and `rich` (PEP 723) and imports them. Each
tool first runs it once (resolving and installing from the public index),
then the timed runs interleave: bare python of pybun's cached environment,
`pybun run`, `uv run`. Prints medians and the overhead over bare python in
ms. PYTHONDONTWRITEBYTECODE=1 for all.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

from common import base_env, pybun_bin, uv_bin

SCRIPT = """# /// script
# requires-python = ">=3.9"
# dependencies = ["requests", "rich"]
# ///
import requests
import rich
"""


def timed(cmd, env, cwd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-run-"))
    script = work / "script.py"
    script.write_text(SCRIPT)
    env = base_env()
    env.pop("VIRTUAL_ENV", None)
    pybun_cache = str(work / "pybun-cache")
    env["UV_CACHE_DIR"] = str(work / "uv-cache")
    env["PYBUN_DATA_DIR"] = str(work / "pybun-data")
    # The cache through the environment, so `pybun run script.py` is measured
    # exactly as users type it.
    env["PYBUN_CACHE_DIR"] = pybun_cache
    pybun = [pybun_bin(), "--cache-dir", pybun_cache]
    uv = uv_bin()
    # Warm both caches, and find the interpreter of pybun's environment.
    subprocess.run(pybun + ["run", str(script)], env=env, cwd=work, check=True)
    subprocess.run([uv, "run", "--no-progress", "--script", str(script)], env=env, cwd=work, check=True)
    probe = subprocess.run(
        pybun + ["run", "-c", "import sys; print(sys.executable)"], env=env, cwd=work, check=True, capture_output=True, text=True
    )
    report = subprocess.run(pybun + ["--format", "json", "run", str(script)], env=env, cwd=work, check=True, capture_output=True, text=True)
    import json
    environment = json.loads(report.stderr[report.stderr.index("{"):])["result"]["environment"]
    bare_python = str(pathlib.Path(environment) / "bin" / "python")
    del probe
    ways = {
        "bare python": [bare_python, str(script)],
        "pybun run": [pybun_bin(), "run", str(script)],
        "uv run": [uv, "run", "--no-progress", "--script", str(script)],
    }
    results = {name: [] for name in ways}
    for _ in range(args.runs):
        for name, cmd in ways.items():
            results[name].append(timed(cmd, env, work))
    medians = {name: statistics.median(values) * 1000 for name, values in results.items()}
    # Python's own start-up varies by several ms between runs; the median of
    # the paired differences (each run against the bare run next to it) is
    # the steadier estimate of the overhead.
    paired = {
        name: statistics.median(a - b for a, b in zip(values, results["bare python"])) * 1000
        for name, values in results.items()
    }
    print("PYTHONDONTWRITEBYTECODE=1; warm caches; script imports requests and rich")
    print(f"{'way':<12} {'median ms':>10} {'overhead ms':>12} {'paired overhead ms':>19}")
    for name, value in medians.items():
        print(f"{name:<12} {value:>10.1f} {value - medians['bare python']:>12.1f} {paired[name]:>19.1f}")

    # pybun x vs uvx, warm.
    subprocess.run(pybun + ["x", "ruff", "--version"], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
    uvx = [uv, "tool", "run", "--no-progress", "ruff", "--version"]
    subprocess.run(uvx, env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
    tools = {"pybun x": pybun + ["x", "ruff", "--version"], "uvx": uvx}
    tool_results = {name: [] for name in tools}
    for _ in range(args.runs):
        for name, cmd in tools.items():
            tool_results[name].append(timed(cmd, env, work))
    px = statistics.median(tool_results["pybun x"]) * 1000
    ux = statistics.median(tool_results["uvx"]) * 1000
    print(f"{'pybun x ruff':<12} {px:>10.1f}")
    print(f"{'uvx ruff':<12} {ux:>10.1f}   ratio pybun/uv {px / ux:.2f}")


if __name__ == "__main__":
    main()

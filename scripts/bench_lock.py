"""`just bench-lock`: pybun lock vs uv lock on each workload, cold and warm, side by side.

cold: empty cache for each run (network); warm: caches filled, `--offline`.
The lock file is removed before every run so both tools resolve from scratch.
Prints medians, the pybun/uv ratio, and peak RSS.
"""

import argparse
import shutil
import statistics
import tempfile

from common import base_env, copy_project, pybun_bin, run_wait4, uv_bin, workloads


def one(tool: str, project, cache: str, offline: bool) -> tuple[float, int]:
    env = base_env()
    for lock in ("pybun.lock", "pybun.lockb", "uv.lock"):
        (project / lock).unlink(missing_ok=True)
    if tool == "pybun":
        cmd = [pybun_bin(), "--cache-dir", cache, "lock"] + (["--offline"] if offline else [])
    else:
        env["UV_CACHE_DIR"] = cache
        cmd = [uv_bin(), "lock", "--no-progress"] + (["--offline"] if offline else [])
    seconds, rss, code, stderr = run_wait4(cmd, project, env)
    if code != 0:
        raise SystemExit(f"{tool} failed in {project}:\n{stderr.decode(errors='replace')}")
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("PYTHONDONTWRITEBYTECODE=1 for both tools; lock file removed before every run")
    print(f"{'workload':<14} {'mode':<5} {'pybun s':>8} {'uv s':>8} {'ratio':>6} {'pybun MiB':>10} {'uv MiB':>8}")
    for workload in workloads():
        project = copy_project(workload)
        for mode in ("cold", "warm"):
            results = {"pybun": [], "uv": []}
            rss = {"pybun": 0, "uv": 0}
            caches = {t: tempfile.mkdtemp(prefix=f"bench-{t}-cache-") for t in results}
            if mode == "warm":
                for tool in results:
                    one(tool, project, caches[tool], offline=False)
            for _ in range(args.runs):
                for tool in results:  # interleaved, so both see the same network conditions
                    if mode == "cold":
                        shutil.rmtree(caches[tool], ignore_errors=True)
                    seconds, peak = one(tool, project, caches[tool], offline=(mode == "warm"))
                    results[tool].append(seconds)
                    rss[tool] = max(rss[tool], peak)
            pybun = statistics.median(results["pybun"])
            uv = statistics.median(results["uv"])
            print(
                f"{workload.name:<14} {mode:<5} {pybun:>8.3f} {uv:>8.3f} {pybun / uv:>6.2f} "
                f"{rss['pybun'] / 1024:>10.1f} {rss['uv'] / 1024:>8.1f}",
                flush=True,
            )
            for cache in caches.values():
                shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()

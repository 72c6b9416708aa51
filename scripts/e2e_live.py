"""`just e2e-live`: lock each workload with pybun and uv against the public index,
and check that the locked name==version sets are equal."""

import sys
import tomllib

from common import base_env, copy_project, pybun_bin, run_wait4, uv_bin, workloads


def locked(path, project_name: str) -> set[tuple[str, str]]:
    """The (name, version) pairs of a lock (a name may appear at several versions: Python forks)."""
    data = tomllib.loads(path.read_text())
    return {(p["name"], p["version"]) for p in data.get("package", []) if p["name"] != project_name}


def main() -> int:
    failures = 0
    for workload in workloads():
        project = copy_project(workload)
        name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
        env = base_env()
        for cmd in ([pybun_bin(), "lock"], [uv_bin(), "lock", "--no-progress"]):
            _, _, code, stderr = run_wait4(cmd, project, env)
            if code != 0:
                print(f"{workload.name}: {cmd[0]} failed:\n{stderr.decode(errors='replace')}")
                return 1
        ours = locked(project / "pybun.lock", name)
        theirs = locked(project / "uv.lock", name)
        if ours == theirs:
            print(f"{workload.name}: same {len(ours)} packages as uv")
        else:
            failures += 1
            print(f"{workload.name}: DIFFERENT from uv")
            for name, version in sorted(ours - theirs):
                print(f"  only pybun: {name}=={version}")
            for name, version in sorted(theirs - ours):
                print(f"  only uv:    {name}=={version}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

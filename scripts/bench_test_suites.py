"""Real open-source test suites for `just bench-test`: pytest-only, pure Python
suites unpacked from their PyPI sdists (downloaded once into a cache, sha256
checked), run as `pybun test` vs `pytest` vs `pytest -n 2` with the same
per-test outcomes required.

Suites (pinned):
- toolz 1.2.0 (`toolz/tests`, `toolz/sandbox/tests`);
- boltons 26.2.0 (`tests/`, a conftest with a collection hook: pybun runs it
  with its pytest engine);
- idna 3.20 (`tests/`; `test_idna_properties.py` needs hypothesis and is
  removed).

more-itertools 11.2.1 was tried and left out of the targets: one test
(`PrimeFunctionTests::test_primes`) takes about half of pytest's whole run, so
no test-level parallelism on two cores can reach 0.5x; `--suite
more-itertools` runs it anyway.
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request

SUITES = {
    "toolz": {"version": "1.2.0", "remove": []},
    "boltons": {"version": "26.2.0", "remove": []},
    "idna": {"version": "3.20", "remove": ["tests/test_idna_properties.py"]},
    "more-itertools": {"version": "11.2.1", "remove": []},
}
DEFAULT = ["toolz", "boltons", "idna"]

CACHE = pathlib.Path(os.environ.get("PYBUN_BENCH_CACHE", pathlib.Path.home() / ".cache" / "pybun-bench"))

# A pytest plugin writing each test's outcome (named as pybun names them) to $PYBUN_BENCH_OUTCOMES.
PLUGIN = r'''
import json, os

_outcomes = {}

def _set(nodeid, outcome):
    _outcomes[nodeid] = outcome

def pytest_runtest_logreport(report):
    if type(report).__name__ != "TestReport":  # subtest reports
        return
    wasxfail = getattr(report, "wasxfail", None)
    current = _outcomes.get(report.nodeid, "passed")
    if report.when == "setup":
        if report.failed:
            current = "error"
        elif report.skipped:
            current = "xfailed" if wasxfail is not None else "skipped"
    elif report.when == "call":
        if report.passed:
            current = "xpassed" if wasxfail is not None else current
        elif report.skipped:
            current = "xfailed" if wasxfail is not None else "skipped"
        else:
            current = "failed"
    elif report.when == "teardown" and report.failed and current in ("passed", "skipped", "xfailed", "xpassed"):
        current = "error"
    _set(report.nodeid, current)

def pytest_sessionfinish(session):
    path = os.environ.get("PYBUN_BENCH_OUTCOMES")
    if path and not hasattr(session.config, "workerinput"):
        with open(path, "w") as f:
            json.dump(_outcomes, f)
'''


def sdist(name: str, version: str) -> pathlib.Path:
    """The sdist from PyPI (simple API, JSON), downloaded once into the cache (sha256 checked)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(
        f"https://pypi.org/simple/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        meta = json.load(response)
    stem = name.replace("-", "_")
    (entry,) = [
        f for f in meta["files"]
        if f["filename"] in (f"{name}-{version}.tar.gz", f"{stem}-{version}.tar.gz")
    ]
    sha256 = entry["hashes"]["sha256"]
    target = CACHE / entry["filename"]
    if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != sha256:
        with urllib.request.urlopen(entry["url"], timeout=120) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SystemExit(f"{entry['filename']}: sha256 mismatch")
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def unpack(name: str, into: pathlib.Path) -> pathlib.Path:
    spec = SUITES[name]
    archive = sdist(name, spec["version"])
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(into)
    (root,) = [p for p in into.iterdir() if p.is_dir()]
    for rel in spec["remove"]:
        (root / rel).unlink(missing_ok=True)
    return root


def pytest_outcomes(python: str, root: pathlib.Path, env: dict) -> dict:
    plugin_dir = pathlib.Path(tempfile.mkdtemp(prefix="pybun-bench-plugin-"))
    (plugin_dir / "pybun_bench_outcomes.py").write_text(PLUGIN)
    out = plugin_dir / "outcomes.json"
    env = dict(env, PYTHONPATH=str(plugin_dir), PYBUN_BENCH_OUTCOMES=str(out))
    subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pybun_bench_outcomes"], env=env, cwd=root, capture_output=True)
    outcomes = json.loads(out.read_text())
    shutil.rmtree(plugin_dir, ignore_errors=True)
    return outcomes


def pybun_outcomes(pybun: list, root: pathlib.Path, env: dict) -> dict:
    proc = subprocess.run(pybun + ["--format", "json", "test"], env=env, cwd=root, capture_output=True, text=True)
    document = json.loads(proc.stdout)
    return {t["id"]: t["outcome"] for t in document["result"]["tests"]}


def compare(name: str, ours: dict, theirs: dict) -> bool:
    """Prints the differences loudly; True when the outcomes are the same."""
    diffs = sorted((i, ours.get(i), theirs.get(i)) for i in set(ours) | set(theirs) if ours.get(i) != theirs.get(i))
    if diffs:
        print(f"!!!!!! {name}: {len(diffs)} tests differ between pybun and pytest (id: pybun / pytest) !!!!!!")
        for i, a, b in diffs[:20]:
            print(f"!!!   {i}: {a} / {b}")
    return not diffs


def counts(outcomes: dict) -> str:
    c: dict = {}
    for o in outcomes.values():
        c[o] = c.get(o, 0) + 1
    return ", ".join(f"{n} {o}" for o, n in sorted(c.items()))

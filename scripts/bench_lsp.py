"""`just bench-lsp`: latency of `pybun lsp` diagnostics and its memory.

A 60-dependency `pyproject.toml` (real packages from the public index, or
`--index-url`), with the cache warmed by one `pybun lock`. The driver speaks
LSP over stdio (Content-Length framing) to `pybun lsp` and measures:

- didOpen -> first publishDiagnostics (static layer) and -> the background
  layer's publication (index + resolver + lock, first run in the process);
- didChange (a benign edit of one lower bound) -> static publication, and ->
  the background publication (a full re-resolution, warm);
- didChange adding a conflicting pin (`click<8` against `flask>=3`) -> the
  publication carrying PB0300;
- RSS after 1,000 edits (one every 5 ms, as fast typing; then the last
  background run), from /proc; and again after a pause (the server releases
  an index handle unused for 10 s), with the time of the next check.

Targets (issue 6): static < 20 ms, resolver-based < 200 ms, RSS < 50 MiB.
There is no competitor to run side by side: no other tool checks
pyproject.toml against an index while typing; the figures are absolute.
"""

import argparse
import json
import os
import pathlib
import queue
import statistics
import subprocess
import tempfile
import threading
import time

from common import base_env, pybun_bin

DEPENDENCIES = [
    "requests>=2.31", "urllib3>=2", "idna>=3", "certifi>=2024", "charset-normalizer>=3",
    "flask>=3.0", "werkzeug>=3", "jinja2>=3", "markupsafe>=2", "itsdangerous>=2",
    "blinker>=1.6", "click>=8", "fastapi>=0.110", "starlette>=0.36", "pydantic>=2.5",
    "pydantic-core>=2", "annotated-types>=0.6", "typing-extensions>=4.8", "anyio>=4", "sniffio>=1.3",
    "h11>=0.14", "httpx>=0.27", "httpcore>=1", "uvicorn>=0.27", "sqlalchemy>=2.0",
    "greenlet>=3", "alembic>=1.13", "mako>=1.3", "rich>=13", "pygments>=2.17",
    "markdown-it-py>=3", "mdurl>=0.1", "pytest>=8", "pluggy>=1.4", "iniconfig>=2",
    "packaging>=23", "attrs>=23", "pyyaml>=6", "boto3>=1.34", "botocore>=1.34",
    "s3transfer>=0.10", "jmespath>=1", "python-dateutil>=2.8", "six>=1.16", "pytz>=2024.1",
    "tzdata>=2024.1", "tqdm>=4.66", "filelock>=3.13", "platformdirs>=4", "jsonschema>=4.21",
    "referencing>=0.33", "rpds-py>=0.18", "jsonschema-specifications>=2023.12", "beautifulsoup4>=4.12",
    "soupsieve>=2.5", "more-itertools>=10", "wrapt>=1.16", "decorator>=5", "toolz>=0.12", "cachetools>=5",
]
assert len(DEPENDENCIES) == 60


def pyproject(dependencies: list[str]) -> str:
    lines = "".join(f'  "{d}",\n' for d in dependencies)
    return f'[project]\nname = "bench-lsp"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = [\n{lines}]\n'


class Server:
    def __init__(self, cmd: list[str], cwd: pathlib.Path, env: dict, log=None):
        stderr = open(log, "w") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = out.read(length)
            self.messages.put((time.perf_counter(), json.loads(body)))

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params):
        rid = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            _, message = self.messages.get(timeout=120)
            if message.get("id") == rid and "method" not in message:
                return message

    def publications(self, version: int, count: int, want=None, timeout: float = 120.0) -> list[float]:
        """Arrival times of the first `count` publications for `version` (the last one satisfying `want`)."""
        times: list[float] = []
        deadline = time.perf_counter() + timeout
        while len(times) < count:
            at, message = self.messages.get(timeout=max(0.01, deadline - time.perf_counter()))
            if message.get("method") != "textDocument/publishDiagnostics":
                continue
            params = message["params"]
            if params.get("version") != version:
                continue
            if len(times) == count - 1 and want is not None and not want(params):
                continue
            times.append(at)
        return times

    def rss_kib(self) -> tuple[int, int]:
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def has_code(code: str):
    return lambda params: any(d.get("code") == code for d in params["diagnostics"])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def summary(label: str, values: list[float], target: float | None) -> None:
    values = sorted(values)
    median = statistics.median(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    verdict = "" if target is None else ("  (target < %d ms: %s)" % (target * 1000, "met" if median < target else "MISSED"))
    print(f"{label:<52} median {ms(median):>10}   p90 {ms(p90):>10}   n={len(values)}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=15.0, help="seconds without edits before the last RSS reading")
    parser.add_argument("--index-url", default=None, help="default: the public index (PyPI)")
    parser.add_argument("--cache-dir", default=str(pathlib.Path(tempfile.gettempdir()) / "pybun-bench-lsp-cache"))
    parser.add_argument("--server-log", default=None, help="write the server's stderr here (with PYBUN_LOG=pybun_lsp=debug: per-layer times)")
    args = parser.parse_args()

    pybun = pybun_bin()
    env = base_env()
    env.pop("PYBUN_OFFLINE", None)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-lsp-"))
    text = pyproject(DEPENDENCIES)
    (work / "pyproject.toml").write_text(text)
    globals_ = ["--cache-dir", args.cache_dir] + (["--index-url", args.index_url] if args.index_url else [])

    # Warm the cache (and check that the set resolves) with `pybun lock`.
    started = time.perf_counter()
    subprocess.run([pybun, *globals_, "lock"], cwd=work, env=env, check=True, stderr=subprocess.DEVNULL)
    print(f"warm-up `pybun lock` (60 direct dependencies): {ms(time.perf_counter() - started)}")
    (work / "pybun.lock").unlink()  # no lock: the background layer is index + resolver only

    server = Server([pybun, *globals_, "lsp"], work, env, args.server_log)
    server.request("initialize", {"processId": os.getpid(), "rootUri": work.as_uri(), "capabilities": {}})
    server.notify("initialized", {})
    uri = (work / "pyproject.toml").as_uri()

    sent = time.perf_counter()
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "toml", "version": 1, "text": text}})
    first, full = server.publications(1, 2)
    print(f"didOpen -> static diagnostics: {ms(first - sent)}; -> index + resolver (first run in the process): {ms(full - sent)}")

    version = 1
    static_times, background_times, conflict_times = [], [], []
    line = text.index('"rich>=13"')
    for run in range(args.runs):
        # A benign edit: `rich>=13` <-> `rich>=12`, as one incremental change of one character.
        version += 1
        column = text[:line + 8].split("\n")[-1]
        pos = {"line": text[:line].count("\n"), "character": len(column)}
        digit = "2" if run % 2 == 0 else "3"
        change = {"range": {"start": pos, "end": {"line": pos["line"], "character": pos["character"] + 1}}, "text": digit}
        sent = time.perf_counter()
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
        static_at, background_at = server.publications(version, 2)
        static_times.append(static_at - sent)
        background_times.append(background_at - sent)

    # A conflicting pin (click<8 against flask>=3's click>=8.1.3), then back.
    conflicted = text.replace('"click>=8"', '"click<8"')
    for _ in range(max(3, args.runs // 2)):
        version += 1
        sent = time.perf_counter()
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": conflicted}]})
        (at,) = server.publications(version, 1, want=has_code("PB0300"))
        conflict_times.append(at - sent)
        version += 1
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]})
        server.publications(version, 2)

    rss_before, _ = server.rss_kib()
    # 1,000 edits, one every 5 ms: retype the digit of `rich>=1N`.
    for i in range(args.edits):
        version += 1
        column = text[:line + 8].split("\n")[-1]
        pos = {"line": text[:line].count("\n"), "character": len(column)}
        change = {"range": {"start": pos, "end": {"line": pos["line"], "character": pos["character"] + 1}}, "text": str(i % 10)}
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
        time.sleep(0.005)
    server.publications(version, 2)
    rss_after, peak = server.rss_kib()
    # The server releases an index unused for 10 s (its in-memory memo); the next check reads the disk cache.
    time.sleep(args.idle)
    rss_idle, _ = server.rss_kib()
    version += 1
    sent = time.perf_counter()
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]})
    _, after_idle = server.publications(version, 2)
    after_idle -= sent

    server.request("shutdown", None)
    server.notify("exit", None)
    server.proc.wait(timeout=10)

    print()
    print("load average (1, 5, 15 min) at the end: %.2f %.2f %.2f (2 cores; figures taken under load are noisy)" % os.getloadavg())
    summary("didChange -> static diagnostics", static_times, 0.020)
    summary("didChange -> index + resolver diagnostics (warm)", background_times, 0.200)
    summary("didChange (conflicting pin) -> PB0300 published", conflict_times, 0.200)
    mib = lambda kib: kib / 1024
    verdict = "met" if rss_after < 50 * 1024 else "MISSED"
    print(f"RSS: {mib(rss_before):.1f} MiB before the edits, {mib(rss_after):.1f} MiB right after {args.edits} edits (peak {mib(peak):.1f} MiB)  (target < 50 MiB: {verdict})")
    verdict = "met" if rss_idle < 50 * 1024 else "MISSED"
    print(f"RSS after {args.idle:.0f} s without edits (index memo released): {mib(rss_idle):.1f} MiB  (target < 50 MiB: {verdict}); the next check then took {ms(after_idle)}")


if __name__ == "__main__":
    main()

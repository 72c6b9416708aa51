"""A tiny PEP 517 / PEP 660 build backend for PyBun's tests (stdlib only).

It reads `name`, `version` and `dependencies` from `[project]` with a small
line-based reader (enough for the test projects, which write them simply);
when `dependencies` is dynamic it reads them from `requirements.txt`, one per
line, so tests have an sdist whose dependencies only a build reveals. It
packs `src/<module>/` or `<module>/` into a wheel, and for editable builds
writes a `.pth` file pointing at the source directory.
"""

import base64
import hashlib
import os
import re
import zipfile

_STRING = re.compile(r'^\s*(name|version)\s*=\s*"([^"]*)"\s*$')
_DEPS = re.compile(r'^\s*dependencies\s*=\s*\[(.*)\]\s*$')


def _project():
    name = version = None
    deps = []
    in_project = False
    with open("pyproject.toml", encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith("["):
                in_project = stripped == "[project]"
                continue
            if not in_project:
                continue
            m = _STRING.match(line)
            if m:
                if m.group(1) == "name":
                    name = m.group(2)
                else:
                    version = m.group(2)
            m = _DEPS.match(line)
            if m:
                deps = re.findall(r'"([^"]*)"', m.group(1))
    if not name or not version:
        raise RuntimeError("pybun_test_backend: [project] needs name and version")
    if os.path.exists("requirements.txt"):
        with open("requirements.txt", encoding="utf-8") as f:
            deps = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    return name, version, deps


def _normalized(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _source_dir(module):
    for candidate in (os.path.join("src", module), module):
        if os.path.isdir(candidate):
            return candidate
    raise RuntimeError("pybun_test_backend: no package directory for %s" % module)


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def _write_wheel(directory, name, version, deps, files):
    dist = "%s-%s" % (_normalized(name), version)
    filename = "%s-py3-none-any.whl" % dist
    metadata = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
    for dep in deps:
        metadata += "Requires-Dist: %s\n" % dep
    files = list(files) + [
        ("%s.dist-info/METADATA" % dist, metadata.encode()),
        ("%s.dist-info/WHEEL" % dist, b"Wheel-Version: 1.0\nGenerator: pybun_test_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = [_record_line(path, data) for path, data in files]
    record.append("%s.dist-info/RECORD,," % dist)
    files.append(("%s.dist-info/RECORD" % dist, ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as zf:
        for path, data in files:
            zf.writestr(path, data)
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, deps = _project()
    module = _normalized(name)
    source = _source_dir(module)
    files = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for file_name in sorted(names):
            full = os.path.join(root, file_name)
            relative = os.path.relpath(full, os.path.dirname(source) or ".").replace(os.sep, "/")
            with open(full, "rb") as f:
                files.append((relative, f.read()))
    print("pybun_test_backend: building", name, version)
    return _write_wheel(wheel_directory, name, version, deps, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, deps = _project()
    module = _normalized(name)
    source = os.path.abspath(os.path.dirname(_source_dir(module)) or ".")
    pth = ("_%s_editable.pth" % module, (source + "\n").encode())
    return _write_wheel(wheel_directory, name, version, deps, [pth])

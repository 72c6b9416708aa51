# PyBun's interpreter probe: prints one JSON object with the facts PyBun
# needs. Runs with `-I -S` on Python 3.6 and later (no f-strings, no walrus).
# It writes its JSON itself and reads the platform from `os.uname()`:
# importing `json` and `platform` (and with them `re`, `enum`, `functools`,
# `collections`) took about 6.5 of the probe's 16 ms. `platform` is imported
# only where those do not answer (Windows, other implementations).
import os
import sys
import sysconfig


def json_string(text):
    out = []
    for c in text:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        else:
            code = ord(c)
            if code > 0xFFFF:
                code -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
            else:
                out.append("\\u%04x" % code)
    return '"' + "".join(out) + '"'


def to_json(value):
    # What `json.dumps` would write for these types (ASCII only).
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, dict):
        return "{" + ", ".join(json_string(k) + ": " + to_json(v) for k, v in value.items()) + "}"
    raise TypeError("no JSON for %r" % (value,))


def format_full_version(info):
    version = "{0}.{1}.{2}".format(info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def glibc_version():
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        text = None
    if text:
        parts = text.split()
        if len(parts) == 2 and parts[0] == "glibc":
            return parts[1]
    try:
        import platform
        name, version = platform.libc_ver()
    except Exception:
        return None
    if name == "glibc" and version:
        return version
    return None


def elf_interpreter(path):
    # The PT_INTERP program header of an ELF file: its dynamic loader.
    import struct
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if len(header) < 52 or header[:4] != b"\x7fELF":
                return None
            is64 = header[4] == 2
            endian = "<" if header[5] == 1 else ">"
            if is64:
                phoff, = struct.unpack(endian + "Q", header[32:40])
                phentsize, phnum = struct.unpack(endian + "HH", header[54:58])
            else:
                phoff, = struct.unpack(endian + "I", header[28:32])
                phentsize, phnum = struct.unpack(endian + "HH", header[42:46])
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                entry = f.read(phentsize)
                p_type, = struct.unpack(endian + "I", entry[:4])
                if p_type != 3:
                    continue
                if is64:
                    offset, = struct.unpack(endian + "Q", entry[8:16])
                    size, = struct.unpack(endian + "Q", entry[32:40])
                else:
                    offset, = struct.unpack(endian + "I", entry[4:8])
                    size, = struct.unpack(endian + "I", entry[16:20])
                f.seek(offset)
                return f.read(size).rstrip(b"\x00").decode("utf-8", "replace")
    except (OSError, struct.error, IndexError):
        return None
    return None


def musl_version():
    loader = elf_interpreter(sys.executable)
    if not loader or "musl" not in loader:
        return None
    import subprocess
    try:
        proc = subprocess.Popen([loader], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = proc.communicate()
    except OSError:
        return None
    for line in err.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith("Version "):
            return line[len("Version "):]
    return None


def libc():
    if not sys.platform.startswith("linux"):
        return None
    version = glibc_version()
    if version:
        return {"name": "glibc", "version": version}
    version = musl_version()
    if version:
        return {"name": "musl", "version": version}
    return None


def platform_facts():
    # What `platform` says, as PEP 508 defines the markers; for CPython and
    # PyPy on POSIX, `platform` itself takes these from the same places.
    uname = getattr(os, "uname", None)
    implementation = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name)
    # On Android and iOS (3.13+) `platform` reports the OS, not the kernel.
    if uname is not None and implementation is not None and sys.platform not in ("android", "ios"):
        u = uname()
        return sys.version.split()[0], u.machine, u.sysname, u.release, u.version, implementation
    import platform
    return (
        platform.python_version(),
        platform.machine(),
        platform.system(),
        platform.release(),
        platform.version(),
        platform.python_implementation(),
    )


def main():
    paths = sysconfig.get_paths()
    full_version, machine, system, release, version, implementation = platform_facts()
    gil_disabled = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    abiflags = getattr(sys, "abiflags", None)
    if abiflags is None:  # Windows has no sys.abiflags.
        abiflags = "t" if gil_disabled else ""
    facts = {
        "sys_executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "base_exec_prefix": getattr(sys, "base_exec_prefix", sys.exec_prefix),
        "implementation_name": sys.implementation.name,
        "python_full_version": full_version,
        "major": sys.version_info[0],
        "minor": sys.version_info[1],
        "abiflags": abiflags,
        "gil_disabled": gil_disabled,
        "os_name": os.name,
        "sys_platform": sys.platform,
        "platform_machine": machine,
        "platform_system": system,
        "platform_release": release,
        "platform_version": version,
        "platform_python_implementation": implementation,
        "implementation_version": format_full_version(sys.implementation.version),
        "libc": libc(),
        "is_64bit": sys.maxsize > 2 ** 32,
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "purelib": paths.get("purelib", ""),
        "platlib": paths.get("platlib", ""),
        "scripts": paths.get("scripts", ""),
        "include": paths.get("include", ""),
        "data": paths.get("data", ""),
    }
    sys.stdout.write(to_json(facts))
    sys.stdout.flush()


main()

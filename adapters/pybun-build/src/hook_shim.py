# PyBun's PEP 517/660 hook shim (Python 3.7+), run as a script:
#   python hook_shim.py RESULT_FILE BACKEND HOOK OUTPUT_DIR [BACKEND_PATH...]
# with the source tree as the working directory. The backend prints freely to
# stdout/stderr (captured by PyBun); the hook's result goes to RESULT_FILE as
# JSON, one of:
#   {"ok": <value>}                   the hook's return value
#   {"unsupported": "<hook>"}         the backend lacks a mandatory hook
#   {"error": "<message>", "traceback": "<text>"}
import json
import os
import sys
import traceback


def _write(result_file, payload):
    with open(result_file, "w", encoding="utf-8") as f:
        json.dump(payload, f)


def _clean_sys_path(backend_path):
    # PEP 517: the source tree (cwd) is not put on sys.path, and neither is
    # this script's directory; `backend-path` entries go first.
    here = os.path.dirname(os.path.abspath(__file__))
    cwd = os.getcwd()
    kept = []
    for entry in sys.path:
        resolved = os.path.abspath(entry) if entry else cwd
        if resolved in (here, cwd):
            continue
        kept.append(entry)
    sys.path[:] = list(backend_path) + kept


def _load_backend(spec, backend_path):
    import importlib

    module_name, _, object_path = spec.partition(":")
    module_name = module_name.strip()
    backend = importlib.import_module(module_name)
    if backend_path:
        origin = getattr(backend, "__file__", None)
        roots = [os.path.normcase(os.path.realpath(p)) for p in backend_path]
        where = os.path.normcase(os.path.realpath(origin)) if origin else ""
        if not any(where == r or where.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            raise ImportError(
                "build backend %r was not loaded from backend-path %r (found at %r)"
                % (spec, list(backend_path), origin)
            )
    for attribute in filter(None, object_path.strip().split(".")):
        backend = getattr(backend, attribute)
    return backend


def _call(backend, hook, output_dir):
    if hook in ("get_requires_for_build_editable", "build_editable"):
        if not hasattr(backend, "build_editable"):
            return {"unsupported": hook}
    if hook in ("get_requires_for_build_wheel", "get_requires_for_build_editable"):
        function = getattr(backend, hook, None)
        if function is None:
            return {"ok": []}
        requires = function(None)
        if not isinstance(requires, (list, tuple)) or not all(
            isinstance(r, str) for r in requires
        ):
            raise TypeError("%s returned %r, not a list of strings" % (hook, requires))
        return {"ok": list(requires)}
    if hook in ("build_wheel", "build_editable"):
        function = getattr(backend, hook, None)
        if function is None:
            return {"unsupported": hook}
        basename = function(output_dir, None, None)
        if not isinstance(basename, str):
            raise TypeError("%s returned %r, not a file name" % (hook, basename))
        return {"ok": basename}
    raise ValueError("unknown hook %r" % (hook,))


def main():
    result_file, spec, hook, output_dir = sys.argv[1:5]
    backend_path = sys.argv[5:]
    try:
        _clean_sys_path(backend_path)
        backend = _load_backend(spec, backend_path)
        payload = _call(backend, hook, output_dir)
    except BaseException as e:  # noqa: B036 - SystemExit from a setup.py is a failure too
        if isinstance(e, KeyboardInterrupt):
            raise
        payload = {
            "error": "%s: %s" % (type(e).__name__, e),
            "traceback": traceback.format_exc(),
        }
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    _write(result_file, payload)
    sys.exit(1 if "error" in payload else 0)


if __name__ == "__main__":
    main()

"""Starts the PyBun test worker (`pybun_test_worker_main.py`, next to this
file) from bytecode kept in PyBun's cache ($PYBUN_TEST_BYTECODE_DIR), keyed
by the source's hash and the interpreter's cache tag: compiling the worker
costs 10-25 ms per process and run, loading it well under a millisecond."""
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER, source_hash

_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pybun_test_worker_main.py")
with open(_path, "rb") as _f:
    _source = _f.read()
_code = None
_cache = os.environ.get("PYBUN_TEST_BYTECODE_DIR")
if _cache:
    _cached = os.path.join(_cache, "pybun-worker-%s-%s.pyc" % (sys.implementation.cache_tag, source_hash(_source).hex()))
    try:
        with open(_cached, "rb") as _f:
            _data = _f.read()
        if _data[:4] == MAGIC_NUMBER:
            _code = marshal.loads(_data[4:])
    except (OSError, ValueError, EOFError, TypeError):
        _code = None
if _code is None:
    _code = compile(_source, _path, "exec")
    if _cache:
        try:
            os.makedirs(_cache, exist_ok=True)
            _partial = "%s.%d.tmp" % (_cached, os.getpid())
            with open(_partial, "wb") as _f:
                _f.write(MAGIC_NUMBER + marshal.dumps(_code))
            os.replace(_partial, _cached)
        except OSError:
            pass
__file__ = _path
del _f, _source, _cache
exec(_code, globals())

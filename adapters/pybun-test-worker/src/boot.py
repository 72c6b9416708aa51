"""Starts the PyBun test worker (`pybun_test_worker_main.py`, next to this
file) from bytecode kept in PyBun's cache ($PYBUN_TEST_BYTECODE_DIR), keyed
by the source's hash and the interpreter's cache tag: compiling the worker
costs 10-25 ms per process and run, loading it well under a millisecond. The
source is kept beside its bytecode, and the code is compiled under that
stable path, so the harness's own frames are recognized (and hidden from
failure reports) in every run."""
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER, source_hash

_here = os.path.dirname(os.path.abspath(__file__))
if sys.path and sys.path[0] == _here:
    sys.path.pop(0)  # the script's directory must not shadow test modules
_path = os.path.join(_here, "pybun_test_worker_main.py")
with open(_path, "rb") as _f:
    _source = _f.read()
_code = None
_cache = os.environ.get("PYBUN_TEST_BYTECODE_DIR")
if _cache:
    _stem = os.path.join(_cache, "pybun-worker-%s-%s" % (sys.implementation.cache_tag, source_hash(_source).hex()))
    try:
        with open(_stem + ".pyc", "rb") as _f:
            _data = _f.read()
        if _data[:4] == MAGIC_NUMBER and os.path.exists(_stem + ".py"):
            _code = marshal.loads(_data[4:])
            _path = _stem + ".py"
    except (OSError, ValueError, EOFError, TypeError):
        _code = None
    if _code is None:
        try:
            os.makedirs(_cache, exist_ok=True)
            for _suffix, _make in ((".py", lambda: _source),
                                   (".pyc", lambda: MAGIC_NUMBER + marshal.dumps(compile(_source, _stem + ".py", "exec")))):
                _partial = "%s%s.%d.tmp" % (_stem, _suffix, os.getpid())
                with open(_partial, "wb") as _f:
                    _f.write(_make())
                os.replace(_partial, _stem + _suffix)
            _path = _stem + ".py"
        except OSError:
            pass
if _code is None:
    _code = compile(_source, _path, "exec")
__file__ = _path
del _f, _source, _cache
exec(_code, globals())

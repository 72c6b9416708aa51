"""PyBun test worker: a long-lived process that runs tests and reports results.

Protocol (JSON lines). Requests arrive on the original stdin (fd 0), answers go
to a private duplicate of the original stdout; fds 0/1/2 are re-pointed at
/dev/null and per-worker capture files, so nothing a test prints can corrupt
the protocol.

    -> {"run": ["tests/test_a.py::test_x", ...], "engine": "native"|"pytest"}
    <- {"start": "<id>"}                     (before each test)
    <- {"id", "outcome", "duration", "stdout", "stderr", "longrepr", "message"}
    <- {"done": true}
    -> {"shutdown": true}

At startup the worker prints {"ready": true, "python": "3.x.y", "pytest": "<version>"|null}.
Python 3.8+.
"""

import codecs
import collections
import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import re
import sys
import time
import types
import warnings


class _LazyModule(types.ModuleType):
    """A standard-library module imported on first attribute use: `ast`,
    `inspect`, `unittest`, `traceback`... cost 20-30 ms together at start-up,
    and most runs (all tests passing, no `unittest`) never need them."""

    def __getattr__(self, attr):
        module = importlib.import_module(self.__name__)
        globals()[self.__name__] = module
        return getattr(module, attr)


ast = _LazyModule("ast")
enum = _LazyModule("enum")
inspect = _LazyModule("inspect")
linecache = _LazyModule("linecache")
shutil = _LazyModule("shutil")
tempfile = _LazyModule("tempfile")
traceback = _LazyModule("traceback")
unittest = _LazyModule("unittest")

_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


def _code_flags(func):
    """The code flags of a plain function (0 for anything else)."""
    code = getattr(func, "__code__", None)
    return code.co_flags if isinstance(code, types.CodeType) else 0


def _is_async(func):
    if isinstance(func, types.FunctionType) and not hasattr(func, "__wrapped__"):
        return bool(func.__code__.co_flags & (_CO_COROUTINE | _CO_ASYNC_GENERATOR))
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


def _is_generator(func):
    if isinstance(func, types.FunctionType) and not hasattr(func, "__wrapped__"):
        return bool(func.__code__.co_flags & _CO_GENERATOR)
    return inspect.isgeneratorfunction(func)


def _required_argnames(func):
    """Names of the positional-or-keyword and keyword-only parameters without
    a default (what `inspect.signature` gives, read from the code object of
    a plain function: 10x cheaper)."""
    if type(func) is types.FunctionType and not hasattr(func, "__wrapped__") \
            and not hasattr(func, "__signature__"):
        code = func.__code__
        positional = code.co_varnames[code.co_posonlyargcount:code.co_argcount]
        ndefaults = len(func.__defaults__ or ())
        names = list(positional[:len(positional) - ndefaults] if ndefaults else positional)
        kwdefaults = func.__kwdefaults__ or {}
        kwonly = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
        names.extend(n for n in kwonly if n not in kwdefaults)
        return names
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty]

try:
    import faulthandler
except ImportError:  # pragma: no cover
    faulthandler = None

WORKER_FILE = os.path.abspath(__file__) if "__file__" in globals() else "<pybun-worker>"
NATIVE_PREFIX = "native-engine: "


# --------------------------------------------------------------------------
# Protocol and capture
# --------------------------------------------------------------------------


class Protocol(object):
    def __init__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.inp = os.fdopen(os.dup(0), "rb")
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.close(devnull)

    def send(self, obj):
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    def recv(self):
        while True:
            line = self.inp.readline()
            if not line:
                return None
            line = line.strip()
            if line:
                return json.loads(line.decode("utf-8"))


_seek = os.lseek


class Capture(object):
    """fd 1 and fd 2 point at two append-only files, emptied before a test
    when the previous one wrote to them (most tests write nothing: then a test
    costs two lseek calls, no truncation and no reads)."""

    def __init__(self, out_path, err_path):
        self.paths = (out_path, err_path)
        for fd, path in ((1, out_path), (2, err_path)):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        self.sys_stdout = sys.stdout
        self.sys_stderr = sys.stderr
        self.dirty = True  # anything written before the first test is dropped

    def _flush(self):
        out, err = sys.stdout, sys.stderr
        for s in (out, err) if (out is self.sys_stdout and err is self.sys_stderr) else \
                (out, err, self.sys_stdout, self.sys_stderr):
            try:
                s.flush()
            except Exception:
                pass

    def begin(self):
        self._flush()
        sys.stdout = self.sys_stdout
        sys.stderr = self.sys_stderr
        # Nothing writes between a test's `end` and the next `begin` but the
        # worker itself (to the protocol): only a dirty file needs emptying.
        if self.dirty:
            os.ftruncate(1, 0)
            os.ftruncate(2, 0)
            self.dirty = False

    def end(self):
        self._flush()
        sys.stdout = self.sys_stdout
        sys.stderr = self.sys_stderr
        try:
            # The files' sizes (their ends: every writer appends), a quarter of
            # the cost of two fstat calls (a stat result each) per test.
            written = _seek(1, 0, 2) or _seek(2, 0, 2)
        except OSError:  # a test left fd 1 or 2 on a pipe or a terminal
            written = os.fstat(1).st_size or os.fstat(2).st_size
        if not written:
            return "", ""
        self.dirty = True
        res = []
        for path in self.paths:
            with open(path, "rb") as f:
                res.append(f.read().decode("utf-8", "replace"))
        return res[0], res[1]


def relpath(path):
    try:
        return os.path.relpath(path, ROOTDIR)
    except ValueError:
        return path


ROOTDIR = os.getcwd()


# --------------------------------------------------------------------------
# The pytest shim, installed only when pytest is not importable
# --------------------------------------------------------------------------


class OutcomeException(BaseException):
    def __init__(self, msg=None, pytrace=True):
        BaseException.__init__(self, msg)
        self.msg = msg
        self.pytrace = pytrace


class Skipped(OutcomeException):
    def __init__(self, msg=None, pytrace=True, allow_module_level=False):
        OutcomeException.__init__(self, msg, pytrace)
        self.allow_module_level = allow_module_level


class Failed(OutcomeException):
    pass


class XFailed(Failed):
    pass


def _skip(reason="", allow_module_level=False, msg=None):
    raise Skipped(msg if msg is not None else reason, allow_module_level=allow_module_level)


def _fail(reason="", pytrace=True, msg=None):
    raise Failed(msg if msg is not None else reason, pytrace)


def _xfail(reason=""):
    raise XFailed(reason)


_skip.Exception = Skipped
_fail.Exception = Failed
_xfail.Exception = XFailed


def _importorskip(modname, minversion=None, reason=None):
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:
        raise Skipped(reason or "could not import %r: %s" % (modname, e), allow_module_level=True)
    if minversion is not None:
        ver = getattr(mod, "__version__", None)
        if ver is None or _version_tuple(ver) < _version_tuple(minversion):
            raise Skipped("module %r has __version__ %r, required is: %r" % (modname, ver, minversion),
                          allow_module_level=True)
    return mod


def _version_tuple(v):
    return tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.+-]", str(v)))


class Mark(object):
    def __init__(self, name, args=(), kwargs=None):
        self.name = name
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})

    def __repr__(self):
        return "Mark(name=%r, args=%r, kwargs=%r)" % (self.name, self.args, self.kwargs)


class MarkDecorator(object):
    def __init__(self, mark):
        self.mark = mark

    name = property(lambda self: self.mark.name)
    args = property(lambda self: self.mark.args)
    kwargs = property(lambda self: self.mark.kwargs)

    def with_args(self, *args, **kwargs):
        return MarkDecorator(Mark(self.mark.name, self.mark.args + args, dict(self.mark.kwargs, **kwargs)))

    def __call__(self, *args, **kwargs):
        if args and not kwargs and len(args) == 1 and (isinstance(args[0], type) or callable(args[0])) \
                and getattr(args[0], "__name__", "<lambda>") != "<lambda>":
            obj = args[0]
            existing = obj.__dict__.get("pytestmark", []) if isinstance(obj, type) else getattr(obj, "pytestmark", [])
            if not isinstance(existing, (list, tuple)):
                existing = [existing]  # `pytestmark = pytest.mark.db`: one mark
            obj.pytestmark = [getattr(m, "mark", m) for m in existing] + [self.mark]
            return obj
        return self.with_args(*args, **kwargs)


class MarkGenerator(object):
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return MarkDecorator(Mark(name))


ParameterSet = collections.namedtuple("ParameterSet", ["values", "marks", "id"])


def _param(*values, **kw):
    marks = kw.get("marks", ())
    if isinstance(marks, MarkDecorator):
        marks = (marks,)
    return ParameterSet(values, tuple(marks), kw.get("id"))


class FixtureMarker(object):
    def __init__(self, scope, params, autouse, ids, name):
        self.scope = scope
        self.params = None if params is None else list(params)
        self.autouse = autouse
        self.ids = ids
        self.name = name

    def __call__(self, func):
        func._pybun_fixture = self
        return func


def _fixture(fixture_function=None, *args, **kw):
    marker = FixtureMarker(kw.get("scope", "function"), kw.get("params"), kw.get("autouse", False),
                           kw.get("ids"), kw.get("name"))
    if fixture_function is not None and callable(fixture_function):
        return marker(fixture_function)
    if fixture_function is not None:  # old positional scope
        marker.scope = fixture_function
    return marker


class ExceptionInfo(object):
    def __init__(self):
        self.type = None
        self.value = None
        self.tb = None

    @property
    def typename(self):
        return self.type.__name__

    def match(self, regexp):
        value = str(self.value)
        if not re.search(regexp, value):
            raise AssertionError("Regex pattern did not match.\n Regex: %r\n Input: %r" % (regexp, value))
        return True

    def errisinstance(self, exc):
        return isinstance(self.value, exc)

    def __repr__(self):
        return "<ExceptionInfo %r>" % (self.value,)


class RaisesContext(object):
    def __init__(self, expected, match=None):
        self.expected = expected
        self.match_expr = match
        self.excinfo = ExceptionInfo()

    def __enter__(self):
        return self.excinfo

    def __exit__(self, tp, val, tb):
        __tracebackhide__ = True
        if tp is None:
            raise Failed("DID NOT RAISE %s" % (getattr(self.expected, "__name__", self.expected),))
        if not issubclass(tp, self.expected):
            return False
        self.excinfo.type, self.excinfo.value, self.excinfo.tb = tp, val, tb
        if self.match_expr is not None:
            self.excinfo.match(self.match_expr)
        return True


def _raises(expected, *args, **kwargs):
    match = kwargs.pop("match", None)
    if not args:
        return RaisesContext(expected, match)
    ctx = RaisesContext(expected, match)
    with ctx:
        args[0](*args[1:], **kwargs)
    return ctx.excinfo


class WarningsRecorder(object):
    def __init__(self):
        self._list = []
        self._cm = None

    @property
    def list(self):
        return self._list

    def __len__(self):
        return len(self._list)

    def __iter__(self):
        return iter(self._list)

    def __getitem__(self, i):
        return self._list[i]

    def pop(self, cls=Warning):
        for i, w in enumerate(self._list):
            if issubclass(w.category, cls):
                return self._list.pop(i)
        raise AssertionError("%r not found in warning list" % (cls,))

    def clear(self):
        del self._list[:]

    def __enter__(self):
        self._cm = warnings.catch_warnings(record=True)
        self._list = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)


class WarningsChecker(WarningsRecorder):
    def __init__(self, expected, match):
        WarningsRecorder.__init__(self)
        self.expected = expected if isinstance(expected, tuple) else (expected,)
        self.match_expr = match

    def __exit__(self, tp, val, tb):
        WarningsRecorder.__exit__(self, tp, val, tb)
        if tp is not None:
            return False
        for w in self._list:
            if issubclass(w.category, self.expected):
                if self.match_expr is None or re.search(self.match_expr, str(w.message)):
                    return False
        raise Failed("DID NOT WARN. No warnings of type %r%s were emitted. The list of emitted warnings is: %r."
                     % (self.expected, "" if self.match_expr is None else " matching %r" % self.match_expr,
                        [w.message for w in self._list]))


def _warns(expected=Warning, *args, **kwargs):
    match = kwargs.pop("match", None)
    checker = WarningsChecker(expected, match)
    if not args:
        return checker
    with checker:
        return args[0](*args[1:], **kwargs)


def _deprecated_call(*args, **kwargs):
    return _warns((DeprecationWarning, PendingDeprecationWarning), *args, **kwargs)


class ApproxBase(object):
    def __init__(self, expected, rel=None, abs=None, nan_ok=False):
        self.expected = expected
        self.rel = rel
        self.abs = abs
        self.nan_ok = nan_ok

    def _scalar(self, x):
        return ApproxScalar(x, self.rel, self.abs, self.nan_ok)

    def __ne__(self, other):
        return not (self == other)

    __hash__ = None


class ApproxScalar(ApproxBase):
    def tolerance(self):
        abs_tol = 1e-12 if self.abs is None else self.abs
        if self.rel is None and self.abs is not None:
            return abs_tol
        rel = 1e-6 if self.rel is None else self.rel
        return max(rel * abs(self.expected), abs_tol)

    def __eq__(self, actual):
        if isinstance(actual, (list, tuple, dict, set)):
            return False
        try:
            if actual == self.expected:
                return True
        except Exception:
            pass
        if not isinstance(self.expected, (int, float, complex)) or isinstance(self.expected, bool):
            return False
        try:
            if math.isnan(abs(self.expected)):
                return self.nan_ok and math.isnan(abs(actual))
            if math.isinf(abs(self.expected)):
                return False
            return abs(self.expected - actual) <= self.tolerance()
        except TypeError:
            return False

    def __repr__(self):
        if isinstance(self.expected, (int, float)) and not isinstance(self.expected, bool) \
                and not math.isinf(self.expected) and not math.isnan(self.expected):
            return "%s \u00b1 %.1e" % (self.expected, self.tolerance())
        return repr(self.expected)


class ApproxSequence(ApproxBase):
    def __eq__(self, actual):
        try:
            if len(actual) != len(self.expected):
                return False
        except TypeError:
            return False
        return all(a == self._scalar(e) for a, e in zip(actual, self.expected))

    def __repr__(self):
        return "approx(%r)" % (type(self.expected)(self._scalar(x) for x in self.expected),)


class ApproxMapping(ApproxBase):
    def __eq__(self, actual):
        try:
            if set(actual.keys()) != set(self.expected.keys()):
                return False
        except AttributeError:
            return False
        return all(actual[k] == self._scalar(v) for k, v in self.expected.items())

    def __repr__(self):
        return "approx(%r)" % ({k: self._scalar(v) for k, v in self.expected.items()},)


def _approx(expected, rel=None, abs=None, nan_ok=False):
    if isinstance(expected, dict):
        return ApproxMapping(expected, rel, abs, nan_ok)
    if isinstance(expected, (list, tuple)):
        return ApproxSequence(expected, rel, abs, nan_ok)
    return ApproxScalar(expected, rel, abs, nan_ok)


def make_shim():
    mod = types.ModuleType("pytest")
    mod.__file__ = WORKER_FILE
    mod.__version__ = "0.0.0+pybun-shim"
    mod.__pybun_shim__ = True
    mod.fixture = _fixture
    mod.mark = MarkGenerator()
    mod.param = _param
    mod.raises = _raises
    mod.warns = _warns
    mod.deprecated_call = _deprecated_call
    mod.approx = _approx
    mod.skip = _skip
    mod.fail = _fail
    mod.xfail = _xfail
    mod.importorskip = _importorskip
    mod.ExceptionInfo = ExceptionInfo
    mod.MarkDecorator = MarkDecorator
    mod.Mark = Mark
    mod.MonkeyPatch = MonkeyPatch
    mod.WarningsRecorder = WarningsRecorder
    mod.PytestWarning = type("PytestWarning", (UserWarning,), {})
    return mod


_REAL_PYTEST = []


class LazyPytest(types.ModuleType):
    """`pytest` for the native engine when pytest is installed.

    Importing pytest costs 0.1-0.2 s per worker. Test modules mostly use
    `pytest.mark`, `pytest.fixture` and `pytest.param` at import time, and
    only the native engine reads what those produce (it reads the shim's and
    pytest's alike): those come from the shim. Any other attribute
    (`raises`, `approx`, `skip`, `MonkeyPatch`, `__version__`...) imports the
    real pytest and comes from it. The pytest engine always runs with the
    real module in `sys.modules`.
    """

    __pybun_lazy__ = True

    def __getattr__(self, name):
        # Private and dunder names (probed by introspection: `_pytestfixturefunction`,
        # `__path__`...) are not pytest's API: they do not import it.
        if name.startswith("_") and name not in ("__version__", "__all__"):
            raise AttributeError(name)
        return getattr(real_pytest(), name)


def real_pytest():
    """The real pytest module, imported on first use (`None` when not installed)."""
    if not _REAL_PYTEST:
        current = sys.modules.pop("pytest", None)
        try:
            import pytest as real
        except Exception:
            real = None
        if current is not None and real is not None and isinstance(current, LazyPytest):
            sys.modules["pytest"] = current
        _REAL_PYTEST.append(real)
    return _REAL_PYTEST[0]


def _installed_pytest_version():
    """pytest's version without importing it (`None` when not installed)."""
    spec = importlib.util.find_spec("_pytest")
    if spec is None or not spec.submodule_search_locations:
        return None
    if importlib.util.find_spec("pytest") is None:
        return None
    for location in spec.submodule_search_locations:
        try:
            with open(os.path.join(location, "_version.py")) as f:
                m = re.search(r"""(?:__version__|version)\s*(?::\s*str)?\s*=\s*['"]([^'"]+)['"]""", f.read())
            if m:
                return m.group(1)
        except OSError:
            continue
    return "unknown"


def ensure_pytest():
    """Return (pytest module, version or None when the shim is used)."""
    version = _installed_pytest_version()
    if version is None:
        shim = make_shim()
        sys.modules["pytest"] = shim
        return shim, None
    lazy = LazyPytest("pytest")
    shim = make_shim()
    lazy.mark = shim.mark
    lazy.fixture = shim.fixture
    lazy.param = shim.param
    lazy.__file__ = WORKER_FILE
    sys.modules["pytest"] = lazy
    return lazy, version


# --------------------------------------------------------------------------
# Reading pytest's (or the shim's) decorations
# --------------------------------------------------------------------------


class FixtureInfo(object):
    def __init__(self, func, scope, params, autouse, ids, name):
        self.func = func
        self.scope = scope or "function"
        self.params = params
        self.autouse = autouse
        self.ids = ids
        self.name = name


def fixture_info(obj):
    marker = getattr(obj, "_pybun_fixture", None)
    func = obj
    if marker is None:
        marker = getattr(obj, "_fixture_function_marker", None)  # pytest >= 8.4
        if marker is not None:
            func = obj._get_wrapped_function() if hasattr(obj, "_get_wrapped_function") else obj._fixture_function
        else:
            try:
                marker = obj.__dict__.get("_pytestfixturefunction") if hasattr(obj, "__dict__") else None
            except Exception:
                marker = None
            if marker is not None:  # pytest < 8.4
                wrapped = getattr(obj, "__pytest_wrapped__", None)
                func = wrapped.obj if wrapped is not None else obj
    if marker is None:
        return None
    scope = marker.scope
    if callable(scope):
        raise NativeUnsupported("dynamic fixture scope")
    params = marker.params
    return FixtureInfo(func, scope, None if params is None else list(params), bool(marker.autouse),
                       marker.ids, marker.name)


def normalize_marks(seq):
    out = []
    if seq is None:
        return out
    if not isinstance(seq, (list, tuple)):
        seq = [seq]
    for m in seq:
        m = getattr(m, "mark", m)
        if hasattr(m, "name") and hasattr(m, "args"):
            out.append(m)
    return out


def obj_marks(obj):
    if isinstance(obj, type):
        res = []
        for klass in obj.__mro__:
            res.extend(normalize_marks(klass.__dict__.get("pytestmark")))
        return res
    return normalize_marks(getattr(obj, "pytestmark", None))


def exc_classes(pytest):
    skip = [Skipped]
    if "unittest" in sys.modules:  # no test can raise SkipTest without importing it
        skip.append(sys.modules["unittest"].SkipTest)
    fail = [Failed]
    xfail = [XFailed]
    for name, lst in (("skip", skip), ("fail", fail), ("xfail", xfail)):
        e = getattr(getattr(pytest, name, None), "Exception", None)
        if isinstance(e, type):
            lst.append(e)
    return tuple(skip), tuple(fail), tuple(xfail)


class NativeUnsupported(Exception):
    pass


class Uncollected(Exception):
    """A conftest's `pytest_ignore_collect` says pytest would not collect this file."""


class _NoConfig(object):
    """The `config` a native-engine hook call gets: any use asks for pytest."""

    def __getattr__(self, name):
        raise NativeUnsupported("a conftest hook uses `config.%s`" % name)


# --------------------------------------------------------------------------
# Parametrize ids as pytest computes them
# --------------------------------------------------------------------------


def ascii_escaped(val):
    if isinstance(val, bytes):
        ret = codecs.escape_encode(val)[0].decode("ascii")
    else:
        ret = val.encode("unicode_escape").decode("ascii")
    return "".join(c if 32 <= ord(c) < 127 else "\\x%02x" % ord(c) for c in ret)


def idval_from_value(val):
    if isinstance(val, (str, bytes)):
        return ascii_escaped(val)
    if val is None or isinstance(val, (float, int, bool, complex)):
        return str(val)
    if isinstance(val, type(re.compile(""))):
        return ascii_escaped(val.pattern)
    if isinstance(val, enum.Enum) and type(val).__name__ != "NotSetType":
        return str(val)
    name = getattr(val, "__name__", None)
    if isinstance(name, str):
        return name
    return None


def make_ids(argnames, parametersets, ids):
    resolved = []
    for idx, ps in enumerate(parametersets):
        if ps.id is not None:
            resolved.append(ascii_escaped(ps.id))
            continue
        if ids is not None and not callable(ids) and idx < len(ids) and ids[idx] is not None:
            v = idval_from_value(ids[idx])
            if v is None:
                raise NativeUnsupported("unsupported id value")
            resolved.append(v)
            continue
        parts = []
        for val, argname in zip(ps.values, argnames):
            v = None
            if callable(ids):
                v = ids(val)
                if v is not None:
                    v = idval_from_value(v)
            if v is None:
                v = idval_from_value(val)
            if v is None:
                v = "%s%d" % (argname, idx)
            parts.append(v)
        resolved.append("-".join(parts))
    if len(resolved) != len(set(resolved)):
        counts = collections.Counter(resolved)
        suffixes = collections.defaultdict(int)
        for index, id_ in enumerate(resolved):
            if counts[id_] > 1:
                suffix = "_" if id_ and id_[-1].isdigit() else ""
                new_id = "%s%s%d" % (id_, suffix, suffixes[id_])
                while new_id in set(resolved):
                    suffixes[id_] += 1
                    new_id = "%s%s%d" % (id_, suffix, suffixes[id_])
                resolved[index] = new_id
                suffixes[id_] += 1
    return resolved


def to_parameterset(v, nargs):
    if hasattr(v, "values") and hasattr(v, "marks") and hasattr(v, "id") and not isinstance(v, dict):
        return ParameterSet(tuple(v.values), tuple(normalize_marks(list(v.marks))), v.id)
    if nargs == 1:
        return ParameterSet((v,), (), None)
    return ParameterSet(tuple(v), (), None)


class CallSpec(object):
    def __init__(self):
        self.ids = []
        self.funcargs = {}
        self.params = {}
        self.marks = []

    def extend(self, id_, funcargs, params, marks):
        c = CallSpec()
        c.ids = self.ids + [id_]
        c.funcargs = dict(self.funcargs, **funcargs)
        c.params = dict(self.params, **params)
        c.marks = self.marks + list(marks)
        return c

    @property
    def id(self):
        return "-".join(self.ids)


# --------------------------------------------------------------------------
# Assertion explanations
# --------------------------------------------------------------------------

_AST_CACHE = {}
_OPS_CACHE = []


def _ops():
    if not _OPS_CACHE:
        _OPS_CACHE.append({ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
                           ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"})
    return _OPS_CACHE[0]


def _saferepr(obj, maxsize=240):
    try:
        r = repr(obj)
    except Exception as e:
        r = "<[%s raised in repr()] %s object>" % (type(e).__name__, type(obj).__name__)
    if len(r) > maxsize:
        r = r[: maxsize // 2 - 2] + "..." + r[-(maxsize // 2 - 1):]
    return r


def _parse_file(filename):
    tree = _AST_CACHE.get(filename)
    if tree is None:
        try:
            with open(filename, "rb") as f:
                src = f.read().decode("utf-8")
            tree = (ast.parse(src), src)
        except Exception:
            tree = (None, None)
        _AST_CACHE[filename] = tree
    return tree


def explain_assert(tb):
    """Explanation for an AssertionError raised by a bare `assert` in the last frame of tb."""
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame, lineno = tb.tb_frame, tb.tb_lineno
    tree, src = _parse_file(frame.f_code.co_filename)
    if tree is None:
        return None
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.lineno <= lineno <= getattr(node, "end_lineno", node.lineno):
            if best is None or node.lineno >= best.lineno:
                best = node
    if best is None:
        return None
    test = best.test
    g, l = frame.f_globals, frame.f_locals

    def ev(node):
        code = compile(ast.Expression(body=node), frame.f_code.co_filename, "eval")
        return eval(code, g, l)

    try:
        if isinstance(test, ast.Compare):
            values = [ev(test.left)] + [ev(c) for c in test.comparators]
            # report the first comparison that fails in a chain
            for i, op in enumerate(test.ops):
                left, right = values[i], values[i + 1]
                sym = _ops().get(type(op), "?")
                ok = _compare(op, left, right)
                if not ok:
                    text = "assert %s %s %s" % (_saferepr(left), sym, _saferepr(right))
                    extra = _compare_detail(op, left, right)
                    return text + ("\n" + extra if extra else "")
            return "assert " + " ".join(
                [_saferepr(values[0])] + ["%s %s" % (_ops().get(type(o), "?"), _saferepr(v))
                                          for o, v in zip(test.ops, values[1:])])
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            val = ev(test.operand)
            seg = ast.get_source_segment(src, test.operand) or "..."
            return "assert not %s\n +  where %s = %s" % (_saferepr(val), _saferepr(val), seg)
        val = ev(test)
        seg = ast.get_source_segment(src, test) or "..."
        if isinstance(test, (ast.Name, ast.Constant)) if hasattr(ast, "Constant") else isinstance(test, ast.Name):
            return "assert %s" % (_saferepr(val),)
        return "assert %s\n +  where %s = %s" % (_saferepr(val), _saferepr(val), seg)
    except Exception:
        return None


def _compare(op, a, b):
    try:
        if isinstance(op, ast.Eq):
            return a == b
        if isinstance(op, ast.NotEq):
            return a != b
        if isinstance(op, ast.Lt):
            return a < b
        if isinstance(op, ast.LtE):
            return a <= b
        if isinstance(op, ast.Gt):
            return a > b
        if isinstance(op, ast.GtE):
            return a >= b
        if isinstance(op, ast.Is):
            return a is b
        if isinstance(op, ast.IsNot):
            return a is not b
        if isinstance(op, ast.In):
            return a in b
        if isinstance(op, ast.NotIn):
            return a not in b
    except Exception:
        return False
    return False


def _compare_detail(op, a, b):
    if not isinstance(op, ast.Eq):
        return None
    try:
        if isinstance(b, Snapshot) and b._failed is not None:
            import difflib
            diff = list(difflib.unified_diff(b._failed.split("\n"), snapshot_text(a).split("\n"), n=2, lineterm=""))[2:]
            return "  Snapshot diff (- stored, + new):\n" + "\n".join("  " + line for line in diff)
        if isinstance(a, str) and isinstance(b, str) and ("\n" in a or "\n" in b or len(a) + len(b) > 80):
            import difflib
            diff = difflib.ndiff(b.splitlines(True) or [""], a.splitlines(True) or [""])
            return "  Full diff:\n" + "".join("  " + line for line in diff).rstrip("\n")
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            for i, (x, y) in enumerate(zip(a, b)):
                if x != y:
                    return "  At index %d diff: %s != %s" % (i, _saferepr(x), _saferepr(y))
            if len(a) != len(b):
                return "  %s contains %d more items" % ("Left" if len(a) > len(b) else "Right", abs(len(a) - len(b)))
        if isinstance(a, dict) and isinstance(b, dict):
            lines = []
            diff = [k for k in a if k in b and a[k] != b[k]]
            if diff:
                lines.append("  Differing items:")
                lines.extend("  {%r: %s} != {%r: %s}" % (k, _saferepr(a[k]), k, _saferepr(b[k])) for k in diff)
            left = [k for k in a if k not in b]
            right = [k for k in b if k not in a]
            if left:
                lines.append("  Left contains %d more items: %s" % (len(left), _saferepr({k: a[k] for k in left})))
            if right:
                lines.append("  Right contains %d more items: %s" % (len(right), _saferepr({k: b[k] for k in right})))
            return "\n".join(lines) or None
    except Exception:
        return None
    return None


def _is_worker_frame(tb):
    f = tb.tb_frame
    return f.f_code.co_filename == WORKER_FILE or f.f_globals.get("__tracebackhide__") \
        or f.f_locals.get("__tracebackhide__")


def format_failure(exc_type, exc, tb, fail_classes=()):
    """(longrepr, message) for an exception, pytest-like."""
    entries = []
    t = tb
    while t is not None:
        if not _is_worker_frame(t):
            entries.append(t)
        t = t.tb_next
    explanation = None
    if isinstance(exc, AssertionError) and tb is not None:
        last = tb
        while last.tb_next is not None:
            last = last.tb_next
        if not _is_worker_frame(last):
            explanation = explain_assert(tb)
    lines = []
    for t in entries:
        code = t.tb_frame.f_code
        src = linecache.getline(code.co_filename, t.tb_lineno).rstrip()
        lines.append("%s:%d: in %s" % (relpath(code.co_filename), t.tb_lineno, code.co_name))
        if src:
            lines.append(">   " + src.strip())
    if isinstance(exc, fail_classes) and not isinstance(exc, AssertionError):
        msg = "Failed: %s" % (getattr(exc, "msg", None) or exc,)
        if not getattr(exc, "pytrace", True):
            return msg, msg
    elif isinstance(exc, AssertionError):
        user = str(exc)
        if explanation is not None:
            msg = ("AssertionError: " + user + "\n" + explanation) if user else explanation
        else:
            msg = ("AssertionError: " + user) if user else "AssertionError"
    else:
        msg = "".join(traceback.format_exception_only(exc_type, exc)).strip()
    for ml in msg.splitlines() or [""]:
        lines.append("E   " + ml)
    if entries:
        last = entries[-1]
        lines.append("")
        lines.append("%s:%d: %s" % (relpath(last.tb_frame.f_code.co_filename), last.tb_lineno, exc_type.__name__))
    return "\n".join(lines), msg.splitlines()[0] if msg else exc_type.__name__


# --------------------------------------------------------------------------
# Builtin fixtures
# --------------------------------------------------------------------------

_NOTSET = object()


class MonkeyPatch(object):
    def __init__(self):
        self._setattr = []
        self._setitem = []
        self._env = []
        self._cwd = None
        self._syspath = None

    @classmethod
    @contextlib.contextmanager
    def context(cls):
        m = cls()
        try:
            yield m
        finally:
            m.undo()

    def setattr(self, target, name, value=_NOTSET, raising=True):
        if value is _NOTSET:
            if not isinstance(target, str):
                raise TypeError("use setattr(target, name, value) or setattr(target, value) with target being a dotted import string")
            value = name
            modpath, attr = target.rsplit(".", 1)
            target = _resolve_dotted(modpath)
            name = attr
        oldval = getattr(target, name, _NOTSET)
        if raising and oldval is _NOTSET:
            raise AttributeError("%r has no attribute %r" % (target, name))
        if isinstance(target, type):
            oldval = target.__dict__.get(name, _NOTSET)
        self._setattr.append((target, name, oldval))
        setattr(target, name, value)

    def delattr(self, target, name=_NOTSET, raising=True):
        if name is _NOTSET:
            modpath, name = target.rsplit(".", 1)
            target = _resolve_dotted(modpath)
        if not hasattr(target, name):
            if raising:
                raise AttributeError(name)
            return
        oldval = getattr(target, name, _NOTSET)
        if isinstance(target, type):
            oldval = target.__dict__.get(name, _NOTSET)
        self._setattr.append((target, name, oldval))
        delattr(target, name)

    def setitem(self, dic, name, value):
        self._setitem.append((dic, name, dic.get(name, _NOTSET)))
        dic[name] = value

    def delitem(self, dic, name, raising=True):
        if name not in dic:
            if raising:
                raise KeyError(name)
            return
        self._setitem.append((dic, name, dic.get(name, _NOTSET)))
        del dic[name]

    def setenv(self, name, value, prepend=None):
        value = str(value)
        if prepend and name in os.environ:
            value = value + prepend + os.environ[name]
        self._env.append((name, os.environ.get(name)))
        os.environ[name] = value

    def delenv(self, name, raising=True):
        if name not in os.environ:
            if raising:
                raise KeyError(name)
            return
        self._env.append((name, os.environ.get(name)))
        del os.environ[name]

    def syspath_prepend(self, path):
        if self._syspath is None:
            self._syspath = sys.path[:]
        sys.path.insert(0, str(path))
        importlib.invalidate_caches()

    def chdir(self, path):
        if self._cwd is None:
            self._cwd = os.getcwd()
        os.chdir(str(path))

    def undo(self):
        for obj, name, value in reversed(self._setattr):
            if value is not _NOTSET:
                setattr(obj, name, value)
            else:
                try:
                    delattr(obj, name)
                except AttributeError:
                    pass
        self._setattr[:] = []
        for dic, name, value in reversed(self._setitem):
            if value is _NOTSET:
                dic.pop(name, None)
            else:
                dic[name] = value
        self._setitem[:] = []
        for name, value in reversed(self._env):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._env[:] = []
        if self._syspath is not None:
            sys.path[:] = self._syspath
            self._syspath = None
        if self._cwd is not None:
            os.chdir(self._cwd)
            self._cwd = None


def _resolve_dotted(name):
    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    used = parts[0]
    for part in parts[1:]:
        used += "." + part
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(used)
    return obj


CaptureResult = collections.namedtuple("CaptureResult", ["out", "err"])


class SysCapture(object):
    def __init__(self):
        self._saved = (sys.stdout, sys.stderr)
        self._out = io.StringIO()
        self._err = io.StringIO()
        sys.stdout, sys.stderr = self._out, self._err

    def readouterr(self):
        out, err = self._out.getvalue(), self._err.getvalue()
        self._out.seek(0)
        self._out.truncate()
        self._err.seek(0)
        self._err.truncate()
        return CaptureResult(out, err)

    @contextlib.contextmanager
    def disabled(self):
        cur = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self._saved
        try:
            yield
        finally:
            sys.stdout, sys.stderr = cur

    def close(self):
        rest = self.readouterr()
        sys.stdout, sys.stderr = self._saved
        sys.stdout.write(rest.out)
        sys.stderr.write(rest.err)


class FdCapture(object):
    def __init__(self, tmpdir):
        for s in (sys.stdout, sys.stderr):
            s.flush()
        self._saved = (os.dup(1), os.dup(2))
        self._paths = (os.path.join(tmpdir, "capfd.out"), os.path.join(tmpdir, "capfd.err"))
        for fd, path in zip((1, 2), self._paths):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)

    def readouterr(self):
        for s in (sys.stdout, sys.stderr):
            s.flush()
        res = []
        for fd, path in zip((1, 2), self._paths):
            with open(path, "rb") as f:
                res.append(f.read().decode("utf-8", "replace"))
            os.ftruncate(fd, 0)
        return CaptureResult(res[0], res[1])

    @contextlib.contextmanager
    def disabled(self):
        yield

    def close(self):
        rest = self.readouterr()
        for fd, saved in zip((1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)
        sys.stdout.write(rest.out)
        sys.stderr.write(rest.err)


class TempPathFactory(object):
    def __init__(self):
        self._base = None
        self._counts = collections.defaultdict(int)

    def getbasetemp(self):
        import pathlib
        if self._base is None:
            self._base = tempfile.mkdtemp(prefix="pybun-test-")
        return pathlib.Path(self._base)

    def mktemp(self, basename, numbered=True):
        base = self.getbasetemp()
        if numbered:
            while True:
                n = self._counts[basename]
                self._counts[basename] += 1
                p = base / ("%s%d" % (basename, n))
                if not p.exists():
                    break
        else:
            p = base / basename
        p.mkdir()
        return p

    def cleanup(self):
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None


# --------------------------------------------------------------------------
# Native engine
# --------------------------------------------------------------------------

SCOPES = {"session": 0, "package": 0, "module": 1, "class": 2, "function": 3}


class FixtureDef(object):
    def __init__(self, name, info, layer, baseid, is_method=False):
        self.name = name
        self.func = info.func
        self.scope = info.scope if info.scope in SCOPES else "function"
        self.params = info.params
        self.ids = info.ids
        self.autouse = info.autouse
        self.layer = layer
        self.baseid = baseid
        self.is_method = is_method
        func = self.func.__func__ if isinstance(self.func, types.MethodType) else self.func
        self.argnames = _required_argnames(func)
        if (is_method or func is not self.func) and self.argnames and self.argnames[0] in ("self", "cls"):
            self.argnames = self.argnames[1:]
        self.is_async = _is_async(func)
        self.is_generator = _is_generator(func)

    def param_ids(self):
        sets = [to_parameterset(p, 1) for p in self.params]
        return sets, make_ids([self.name], sets, self.ids)


class Node(object):
    """What `request.node` offers."""

    def __init__(self, nodeid, name, originalname, marks, obj=None, cls=None, module=None):
        self.nodeid = nodeid
        self.name = name
        self.originalname = originalname
        self.own_markers = list(marks)
        self.obj = self.function = obj
        self.cls = cls
        self.module = module
        self.keywords = {name: 1}
        for m in marks:
            self.keywords[m.name] = m
        self.path = None

    def iter_markers(self, name=None):
        return (m for m in self.own_markers if name is None or m.name == name)

    def get_closest_marker(self, name, default=None):
        for m in self.iter_markers(name):
            return m
        return default

    def add_marker(self, marker, append=True):
        m = getattr(marker, "mark", marker)
        if isinstance(m, str):
            m = Mark(m)
        if append:
            self.own_markers.append(m)
        else:
            self.own_markers.insert(0, m)
        self.keywords[m.name] = m

    def listextrakeywords(self):
        return set()


class Request(object):
    def __init__(self, item, fixturedef=None, param=_NOTSET, param_index=0):
        self._item = item
        self._fixturedef = fixturedef
        self.fixturename = fixturedef.name if fixturedef else None
        self.scope = fixturedef.scope if fixturedef else "function"
        self.function = item.function
        self.cls = item.cls
        self.instance = item.instance
        self.module = item.module
        self.param_index = param_index
        if param is not _NOTSET:
            self.param = param

    # made on first use: most fixtures never look at them
    node = property(lambda self: self._item.node)
    keywords = property(lambda self: self._item.node.keywords)
    path = property(lambda self: self._item.path)
    fspath = property(lambda self: self._item.path)

    @property
    def fixturenames(self):
        return list(self._item.values.keys())

    def addfinalizer(self, fn):
        scope = self._fixturedef.scope if self._fixturedef else "function"
        self._item.session.finalizers[SCOPES[scope]].append(fn)

    def getfixturevalue(self, name):
        return self._item.session.get_fixture(self._item, name, self._fixturedef)

    def applymarker(self, marker):
        self.node.add_marker(marker)

    @property
    def config(self):
        raise NativeUnsupported("request.config")


class Item(object):
    """One test being run. `node` and `path` are made on first use (most
    tests never ask for `request`)."""

    node_cache = None
    path_str = None
    marks = ()
    name = ""
    paramid = None

    @property
    def path(self):
        if self.path_str is None:
            return None
        import pathlib
        return pathlib.Path(self.path_str)

    @property
    def node(self):
        if self.node_cache is None:
            name = self.name + ("[%s]" % self.paramid if self.paramid is not None else "")
            node = Node(self.nodeid, name, self.name, self.marks, self.function, self.cls, self.module)
            node.path = self.path
            self.node_cache = node
        return self.node_cache


class _Plan(object):
    """A test function's setup, shared by its tests (`NativeSession._plan`)."""

    path = conftests = module = cls = class_key = function = error = None
    ignored = unittest = per_test = False
    marks = argnames = direct = layers = by_id = order = None


class NativeSession(object):
    def __init__(self, pytest_mod, capture):
        self.pytest = pytest_mod
        self.capture = capture
        self._exc = None
        self.modules = {}  # abs path -> module or exception info
        self.conftests = {}  # abs dir -> module or None
        self.imported_names = []
        self.cache = [{}, {}, {}, {}]
        self.finalizers = [[], [], [], []]
        self.current = [None, None, None]  # (session, module key, class key)
        self.tmp_factory = TempPathFactory()
        self.builtin_layer = self._builtins()
        self.tmp_counter = 0
        self.static_cache = {}
        self.plans = {}  # (relfile, names) -> _Plan
        self.chains = {}  # directory -> its conftest modules, outermost first
        self.conftest_layers = {}  # ("conftest", id(module)) -> (module, fixture layer)
        self.module_layers = {}  # id(module) -> (module, fixture layer)
        self.packages = {}  # directory -> (the directory its top package is in, package names)
        self.paths = {}  # test file (relative) -> absolute path
        self.files = {}  # test file (absolute) -> (its conftests, ignored by a hook)
        self.file_layers = {}  # test file (absolute) -> its fixture layers (builtins, conftests, module)

    # pytest's outcome exceptions as well as the shim's once pytest is imported
    def _exc_classes(self):
        real = _REAL_PYTEST[0] if _REAL_PYTEST else None
        key = (real is not None, "unittest" in sys.modules)
        if self._exc is None or self._exc[0] != key:
            self._exc = (key, exc_classes(real if real is not None else self.pytest))
        return self._exc[1]

    skip_exc = property(lambda self: self._exc_classes()[0])
    fail_exc = property(lambda self: self._exc_classes()[1])
    xfail_exc = property(lambda self: self._exc_classes()[2])

    # ---- imports ----

    def _module_name(self, path):
        d = os.path.dirname(path)
        package = self.packages.get(d)
        if package is None:
            # (the package a directory belongs to, asked once per directory)
            basedir, parts = d, []
            while os.path.isfile(os.path.join(basedir, "__init__.py")):
                parts.insert(0, os.path.basename(basedir))
                parent = os.path.dirname(basedir)
                if parent == basedir:
                    break
                basedir = parent
            package = self.packages[d] = (basedir, parts)
        basedir, parts = package
        parts = parts + [os.path.splitext(os.path.basename(path))[0]]
        if parts[-1] == "__init__":
            parts.pop()
        return basedir, ".".join(parts)

    def import_path(self, path, conftest=False):
        basedir, name = self._module_name(path)
        if basedir not in sys.path:
            sys.path.insert(0, basedir)
        mod = sys.modules.get(name)
        if mod is not None:
            f = getattr(mod, "__file__", None)
            if f and os.path.abspath(f) == path:
                return mod
            if not conftest:
                raise ImportError("import file mismatch: module %r already imported from %r, not %r"
                                  % (name, f, path))
            name = "_pybun_conftest_%d" % len(self.conftests)
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            self.imported_names.append(name)
            spec.loader.exec_module(mod)
            return mod
        self.imported_names.append(name)
        return importlib.import_module(name)

    def _ignored(self, path, conftests):
        """Whether a conftest's `pytest_ignore_collect(collection_path, config)`
        ignores the file (asked once per file; `True` means pytest would not
        collect it). Hooks taking other arguments, or using `config`, need pytest."""
        key = ("ignored", path)
        if key in self.static_cache:
            return self.static_cache[key]
        ignored = False
        for conf in reversed(conftests):  # the closest conftest answers first
            hook = getattr(conf, "pytest_ignore_collect", None)
            if hook is None:
                continue
            import pathlib
            try:
                params = list(inspect.signature(hook).parameters)
            except (TypeError, ValueError):
                raise NativeUnsupported("`pytest_ignore_collect` without a signature")
            available = {"collection_path": pathlib.Path(path), "config": _NoConfig()}
            if any(p not in available for p in params):
                raise NativeUnsupported("`pytest_ignore_collect` takes %s" % ", ".join(params))
            answer = hook(**{p: available[p] for p in params})
            if answer is not None:  # pytest's firstresult: the first answer decides
                ignored = bool(answer)
                break
        self.static_cache[key] = ignored
        return ignored

    def ignored_files(self, rels):
        """The test files (relative) a conftest's `pytest_ignore_collect` ignores:
        asked of each directory from the rootdir down (an ignored directory
        ignores its files), then of the file, as pytest's collection does."""
        ignored = []
        for rel in rels:
            path = os.path.normpath(os.path.join(ROOTDIR, rel))
            parts = os.path.relpath(path, ROOTDIR).split(os.sep)
            candidates = [os.path.join(ROOTDIR, *parts[:i]) for i in range(1, len(parts))] + [path]
            for candidate in candidates:
                if self._ignored(candidate, self.conftest_chain(candidate)):
                    ignored.append(rel)
                    break
        return ignored

    def conftest_chain(self, testfile):
        chain = self.chains.get(os.path.dirname(testfile))
        if chain is None:
            chain = self._conftest_chain(testfile)
            self.chains[os.path.dirname(testfile)] = chain
        return chain

    def _conftest_chain(self, testfile):
        d = os.path.dirname(testfile)
        dirs = []
        while True:
            dirs.insert(0, d)
            if d == ROOTDIR or os.path.dirname(d) == d or not (d + os.sep).startswith(ROOTDIR + os.sep):
                break
            d = os.path.dirname(d)
        if ROOTDIR not in dirs:
            dirs.insert(0, ROOTDIR)
        mods = []
        for d in dirs:
            if d not in self.conftests:
                p = os.path.join(d, "conftest.py")
                self.conftests[d] = self.import_path(p, conftest=True) if os.path.isfile(p) else None
            if self.conftests[d] is not None:
                mods.append(self.conftests[d])
        return mods

    # ---- fixtures ----

    def _builtins(self):
        session = self
        layer = collections.OrderedDict()

        def add(name, scope="function"):
            def deco(func):
                layer[name] = FixtureDef(name, FixtureInfo(func, scope, None, False, None, name), 0, "")
                return func
            return deco

        @add("tmp_path_factory", "session")
        def tmp_path_factory():
            return session.tmp_factory

        @add("tmp_path")
        def tmp_path(request, tmp_path_factory):
            name = re.sub(r"[\W]", "_", request.node.name)[:30]
            return tmp_path_factory.mktemp(name, numbered=True)

        @add("monkeypatch")
        def monkeypatch():
            mp = MonkeyPatch()
            yield mp
            mp.undo()

        @add("capsys")
        def capsys():
            c = SysCapture()
            yield c
            c.close()

        @add("capfd")
        def capfd(tmp_path_factory):
            c = FdCapture(str(tmp_path_factory.getbasetemp()))
            yield c
            c.close()

        @add("recwarn")
        def recwarn():
            r = WarningsRecorder()
            with r:
                yield r

        @add("snapshot")
        def snapshot(request):
            snap = Snapshot(request.node.nodeid)
            yield snap
            snap.flush()

        return layer

    def _layer_from(self, obj, depth, baseid, is_class=False, instance=None):
        layer = collections.OrderedDict()
        items = obj.__dict__.items() if is_class else list(vars(obj).items())
        if is_class:
            # A class layer is built per test (its fixtures bind to the test's
            # instance): the class is scanned once for the attributes that are fixtures.
            items = [(attr, obj.__dict__[attr]) for attr in self._class_fixture_attrs(obj)]
        for attr, value in items:
            if is_class and isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            try:
                info = fixture_info(value)
            except NativeUnsupported:
                raise
            except Exception:
                info = None
            if info is None:
                continue
            if is_class and instance is not None:
                info.func = types.MethodType(info.func, instance)
            name = info.name or attr
            layer[name] = FixtureDef(name, info, depth, baseid, is_method=is_class)
        return layer

    def lookup(self, item, name, below=None):
        start = len(item.layers) - 1 if below is None else below - 1
        for i in range(start, -1, -1):
            fd = item.layers[i].get(name)
            if fd is not None:
                return fd
        return None

    def closure(self, item, initial):
        """Fixture names needed by the test, and the FixtureDefs they use (for params)."""
        seen = []
        defs = []

        def visit(name, below=None):
            if name in item.callspec.funcargs or name == "request":
                return
            fd = self.lookup(item, name, below)
            if fd is None:
                return
            if (name, fd) in seen:
                return
            seen.append((name, fd))
            defs.append(fd)
            for arg in fd.argnames:
                visit(arg, fd.layer if arg == name else None)

        for n in initial:
            visit(n)
        return defs

    def get_fixture(self, item, name, requester=None):
        if name == "request":
            return Request(item, requester)
        if name in item.callspec.funcargs:
            return item.callspec.funcargs[name]
        below = requester.layer if (requester is not None and requester.name == name) else None
        if below is None and name in item.values:
            return item.values[name]
        fd = self.lookup(item, name, below)
        if fd is None:
            if name in ("pytestconfig", "cache", "tmpdir", "tmpdir_factory", "doctest_namespace",
                        "capsysbinary", "capfdbinary", "caplog", "record_property", "testdir", "pytester"):
                raise NativeUnsupported("builtin fixture %r" % name)
            raise NativeUnsupported("unknown fixture %r (a plugin fixture?)" % name)
        scope = SCOPES[fd.scope]
        param = item.callspec.params.get(name, _NOTSET) if fd.params is not None or name in item.callspec.params else _NOTSET
        if fd.params is not None and param is _NOTSET:
            raise NativeUnsupported("parametrized fixture %r without a param" % name)
        pkey = item.callspec.params_idx.get(name, None)
        scope_key = (None, item.module_key, item.class_key, item.nodeid)[scope]
        key = (id(fd), pkey, scope_key)
        cache = self.cache[scope]
        if key in cache:
            value = cache[key]
        else:
            req = Request(item, fd, param, pkey or 0)
            kwargs = {}
            for arg in fd.argnames:
                kwargs[arg] = req if arg == "request" else self.get_fixture(item, arg, fd)
            func = fd.func
            if fd.is_async:
                raise NativeUnsupported("async fixture %r" % name)
            if fd.is_generator:
                gen = func(**kwargs)
                value = next(gen)

                def fin(gen=gen, name=name):
                    try:
                        next(gen)
                    except StopIteration:
                        return
                    raise ValueError("fixture %r yielded more than once" % name)
                self.finalizers[scope].append(fin)
            else:
                value = func(**kwargs)
            cache[key] = value  # (`finalize` empties the scope's cache)
        if below is None:
            item.values[name] = value
        return value

    def finalize(self, level):
        """Run finalizers of scope `level` and deeper; return the first error."""
        error = None
        for lvl in range(3, level - 1, -1):
            fins = self.finalizers[lvl]
            while fins:
                fn = fins.pop()
                try:
                    fn()
                except BaseException:
                    if error is None:
                        error = sys.exc_info()
            self.cache[lvl] = {}
        return error

    # ---- running ----

    def teardown_all(self):
        self.finalize(0)
        self.current = [None, None, None]

    def run(self, nodeid):
        item = Item()
        item.nodeid = nodeid
        item.values = {}
        item.session = self
        item.function = item.cls = item.instance = item.module = None
        outcome = {"outcome": "passed", "longrepr": "", "message": ""}
        phase = ["setup"]
        xfail = [None]
        try:
            self._run(item, phase, xfail)
        except NativeUnsupported as e:
            outcome.update(outcome="error", message=NATIVE_PREFIX + str(e), longrepr=NATIVE_PREFIX + str(e))
            self.finalize(3)
            return outcome
        except Uncollected:
            outcome.update(outcome="uncollected", message="pytest_ignore_collect")
            return outcome
        except BaseException:
            et, ev, tb = sys.exc_info()
            self._classify(outcome, phase[0], xfail[0], et, ev, tb)
        if phase[0] == "teardown" and outcome["outcome"] == "passed" and xfail[0] is not None:
            m = xfail[0]
            reason = m.kwargs.get("reason", "")
            if m.kwargs.get("strict", False):
                outcome.update(outcome="failed", message="[XPASS(strict)] " + reason,
                               longrepr="[XPASS(strict)] " + reason)
            else:
                outcome.update(outcome="xpassed", message=reason)
        if phase[0] in ("setup", "call", "teardown"):
            err = self.finalize(3)
            if err is not None:
                if isinstance(err[1], NativeUnsupported):
                    outcome.update(outcome="error", message=NATIVE_PREFIX + str(err[1]))
                elif outcome["outcome"] in ("passed", "xpassed", "skipped", "xfailed"):
                    outcome["outcome"] = "error"
                    lr, msg = format_failure(err[0], err[1], err[2], self.fail_exc)
                    outcome["longrepr"], outcome["message"] = lr, msg
                else:
                    lr, _ = format_failure(err[0], err[1], err[2], self.fail_exc)
                    outcome["longrepr"] += "\n\nERROR at teardown:\n" + lr
        return outcome

    def _classify(self, outcome, phase, xfail, et, ev, tb):
        if isinstance(ev, self.skip_exc):
            msg = getattr(ev, "msg", None)
            outcome.update(outcome="skipped", message=str(msg if msg is not None else (ev.args[0] if ev.args else "")))
            return
        if isinstance(ev, self.xfail_exc):
            msg = getattr(ev, "msg", None)
            outcome.update(outcome="xfailed", message=str(msg if msg is not None else ""))
            return
        if isinstance(ev, KeyboardInterrupt):
            raise ev
        if isinstance(ev, _UnittestFailure):
            text = str(ev).rstrip()
            lines = text.splitlines()
            outcome.update(outcome="failed", longrepr=text, message=lines[-1] if lines else "")
            return
        lr, msg = format_failure(et, ev, tb, self.fail_exc)
        if phase == "call" and xfail is not None:
            raises = xfail.kwargs.get("raises")
            if raises is None or isinstance(ev, raises):
                outcome.update(outcome="xfailed", message=xfail.kwargs.get("reason", ""), longrepr=lr)
                return
        outcome.update(outcome="error" if phase != "call" else "failed", longrepr=lr, message=msg)

    def _eval_condition(self, cond, item):
        if isinstance(cond, str):
            g = {"os": os, "sys": sys, "platform": __import__("platform")}
            g.update(vars(item.module))
            return bool(eval(compile(cond, "<condition>", "eval"), g))
        return bool(cond)

    def _parse_id(self, nodeid):
        path, sep, rest = nodeid.partition("::")
        if not sep:
            raise NativeUnsupported("node id without a test name: %r" % nodeid)
        paramid = None
        if "[" in rest:
            rest, paramid = rest.split("[", 1)
            if not paramid.endswith("]"):
                raise NativeUnsupported("cannot parse id")
            paramid = paramid[:-1]
        return path, tuple(rest.split("::")), paramid

    def _enter_scopes(self, item):
        """Tear down module/class scopes when moving to another module/class."""
        if self.current[1] != item.module_key:
            err = self.finalize(1)
            self.current[1] = item.module_key
            self.current[2] = None
            if err is not None:
                sys.stderr.write("".join(traceback.format_exception(*err)))
        if self.current[2] != item.class_key:
            err = self.finalize(2)
            self.current[2] = item.class_key
            if err is not None:
                sys.stderr.write("".join(traceback.format_exception(*err)))

    def _plan(self, relfile, names):
        """What a test function needs that does not change from one of its
        tests to the next (computed once per function): the module, the
        object, its marks and direct parametrization, the fixture layers, the
        fixture closure, the parameter sets by id and the setup order. A class
        with fixture methods binds them to each test's instance: its closure
        is computed per test (`plan.per_test`)."""
        plan = _Plan()
        path = self.paths.get(relfile)
        if path is None:
            path = self.paths[relfile] = os.path.normpath(os.path.join(ROOTDIR, relfile))
        plan.path = path
        found = self.files.get(path)
        if found is None:
            conftests = self.conftest_chain(path)
            found = self.files[path] = (conftests, self._ignored(path, conftests))
        plan.conftests, plan.ignored = found
        key = (relfile, names)
        if plan.ignored:
            self.plans[key] = plan
            return plan
        mod = self.modules.get(path)
        if mod is None:
            try:
                mod = self.import_path(path)
            except BaseException as e:
                mod = e
            self.modules[path] = mod
        if isinstance(mod, BaseException):
            plan.error = mod
            return plan  # not kept: the module's error is raised for each of its tests
        plan.module = mod
        obj, parent = mod, None
        for n in names:
            parent = obj
            obj = getattr(obj, n, _NOTSET)
            if obj is _NOTSET:
                plan.error = NativeUnsupported("cannot find %r in %s" % (n, relfile))
                return plan
        plan.cls = parent if isinstance(parent, type) else None
        plan.class_key = (path, names[:-1]) if plan.cls is not None else None
        plan.function = obj
        unittest_mod = sys.modules.get("unittest")
        if plan.cls is not None and unittest_mod is not None and issubclass(plan.cls, unittest_mod.TestCase):
            plan.unittest = True
            self.plans[key] = plan
            return plan
        if not callable(obj):
            plan.error = NativeUnsupported("%r is not callable" % names[-1])
            return plan
        if _is_async(obj) or (getattr(obj, "__wrapped__", None) is not None and inspect.iscoroutinefunction(obj)):
            plan.error = NativeUnsupported("async test function")
            return plan
        if plan.cls is not None and "__init__" in plan.cls.__dict__:
            plan.error = NativeUnsupported("test class with __init__")
            return plan
        marks, callspecs, argnames = self._static(obj, plan.cls, mod)
        plan.marks = marks
        plan.argnames = argnames
        plan.direct = callspecs
        layers = self.file_layers.get(path)  # (the same for every function of the file)
        if layers is None:
            layers = [self.builtin_layer]
            for i, conf in enumerate(plan.conftests):
                ckey = ("conftest", id(conf))
                if ckey not in self.conftest_layers:
                    d = os.path.dirname(os.path.abspath(conf.__file__))
                    self.conftest_layers[ckey] = (conf, self._layer_from(conf, i + 1, relpath(d) if d != ROOTDIR else ""))
                layers.append(self.conftest_layers[ckey][1])
            mkey = id(mod)
            if mkey not in self.module_layers:
                self.module_layers[mkey] = (mod, self._layer_from(mod, len(layers), relfile))
            layers.append(self.module_layers[mkey][1])
            self.file_layers[path] = layers
        plan.layers = layers
        plan.per_test = plan.cls is not None and bool(self._class_fixture_attrs(plan.cls))
        if not plan.per_test:
            # Without direct parametrization the expansion depends only on the
            # layers (the session's own, kept) and the argument names: the
            # methods of a class, the plain functions of a module share it.
            shared = None
            if len(callspecs) == 1 and not callspecs[0].ids:
                shared = ("expansion", tuple(map(id, layers)), tuple(argnames))
                found = self.static_cache.get(shared)
                if found is not None:
                    plan.by_id, plan.order = found
                    self.plans[key] = plan
                    return plan
            item = Item()
            item.layers = layers
            item.callspec = callspecs[0]
            plan.by_id, plan.order = self._expand(item, callspecs, argnames)
            if shared is not None:
                self.static_cache[shared] = (plan.by_id, plan.order)
        self.plans[key] = plan
        return plan

    def _class_fixture_attrs(self, cls):
        """The attributes of a class that are fixtures (scanned once per class)."""
        key = ("class-fixture-attrs", id(cls))
        found = self.static_cache.get(key)
        if found is None:
            attrs = []
            for attr, value in cls.__dict__.items():
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                try:
                    if fixture_info(value) is not None:
                        attrs.append(attr)
                except NativeUnsupported:
                    raise
                except Exception:
                    pass
            found = (cls, attrs)
            self.static_cache[key] = found
        return found[1]

    def _expand(self, item, callspecs, argnames):
        """The parameter sets by id (fixture params expanded in closure order,
        after the direct parametrization) and the order fixtures are set up in."""
        autouse = []
        for layer in item.layers:
            for name, fd in layer.items():
                if fd.autouse and name not in autouse:
                    autouse.append(name)
        initial = autouse + [a for a in argnames if a not in autouse]
        for fd in self.closure(item, initial):
            if fd.params is None or any(fd.name in c.params for c in callspecs):
                continue
            sets, ids = fd.param_ids()
            new = []
            for c in callspecs:
                for idx, (ps, id_) in enumerate(zip(sets, ids)):
                    nc = c.extend(id_, {}, {fd.name: ps.values[0]}, ps.marks)
                    nc.params_idx = dict(c.params_idx, **{fd.name: idx})
                    new.append(nc)
            callspecs = new
        by_id = {}
        if callspecs[0].ids == []:
            by_id[None] = callspecs[0]
        else:
            for c in callspecs:
                by_id.setdefault(c.id, c)
        order = sorted(initial, key=lambda n: SCOPES[self.lookup(item, n).scope]
                       if self.lookup(item, n) is not None else 3)
        return by_id, order

    def _run(self, item, phase, xfail):
        relfile, names, paramid = self._parse_id(item.nodeid)
        plan = self.plans.get((relfile, names))
        if plan is None:
            plan = self._plan(relfile, names)
        if plan.ignored:
            raise Uncollected()
        if plan.error is not None:
            raise plan.error
        item.relfile = relfile
        item.path_str = plan.path
        item.conftests = plan.conftests
        item.module = plan.module
        item.module_key = plan.path
        item.cls = cls = plan.cls
        item.class_key = plan.class_key
        item.function = plan.function
        item.name = names[-1]
        item.paramid = paramid
        self._enter_scopes(item)
        if plan.unittest:
            return self._run_unittest(item, names[-1], phase)
        if cls is not None:
            item.instance = cls()
            item.function = getattr(item.instance, names[-1])
        if plan.per_test:
            item.layers = plan.layers + [self._layer_from(cls, len(plan.layers), relfile, True, item.instance)]
            item.callspec = plan.direct[0]
            by_id, order = self._expand(item, plan.direct, plan.argnames)
        else:
            item.layers = plan.layers
            by_id, order = plan.by_id, plan.order
        chosen = by_id.get(paramid)
        if chosen is None:
            raise NativeUnsupported("cannot match id")
        item.callspec = chosen
        marks = list(chosen.marks) + plan.marks if chosen.marks else list(plan.marks)
        item.marks = marks

        # skip / skipif / xfail marks
        for m in marks:
            if m.name == "skip":
                reason = m.kwargs.get("reason", m.args[0] if m.args else "unconditional skip")
                raise Skipped(reason)
            if m.name == "skipif":
                conds = m.args or (m.kwargs.get("condition"),)
                for cond in conds:
                    if self._eval_condition(cond, item):
                        raise Skipped(m.kwargs.get("reason", "condition: %s" % (cond,) if isinstance(cond, str) else ""))
        for m in marks:
            if m.name == "xfail":
                conds = m.args or ((m.kwargs["condition"],) if "condition" in m.kwargs else ())
                if conds and not any(self._eval_condition(c, item) for c in conds):
                    continue
                xfail[0] = m
                if not m.kwargs.get("run", True):
                    raise XFailed(m.kwargs.get("reason", "") and "[NOTRUN] " + m.kwargs.get("reason", ""))
                break

        # xunit-style setup
        self._xunit(item, names[-1])

        get_fixture = self.get_fixture
        for name in order:
            get_fixture(item, name)
        kwargs = {}
        for a in plan.argnames:
            kwargs[a] = get_fixture(item, a)
        phase[0] = "call"
        res = item.function(**kwargs)
        if res is not None and inspect.iscoroutine(res):
            res.close()
            raise NativeUnsupported("async test function")
        phase[0] = "teardown"

    def _static(self, obj, cls, mod):
        """(marks, callspecs of the direct parametrization, fixture argument names) of a test function."""
        item = Item()
        item.cls = cls
        marks = obj_marks(obj)
        # (a class's and a module's marks, read once: pytest reads them at collection)
        if item.cls is not None:
            found = self.static_cache.get(("class-marks", cls))
            if found is None:
                found = self.static_cache[("class-marks", cls)] = obj_marks(cls)
            marks += found
        found = self.static_cache.get(("module-marks", mod))
        if found is None:
            found = self.static_cache[("module-marks", mod)] = normalize_marks(vars(mod).get("pytestmark")) \
                if "__getattr__" not in vars(mod) else normalize_marks(getattr(mod, "pytestmark", None))
        marks += found

        # parametrization
        callspecs = [CallSpec()]
        for c in callspecs:
            c.params_idx = {}
        for m in marks:
            if m.name != "parametrize":
                continue
            argnames = m.args[0] if m.args else m.kwargs.get("argnames")
            values = m.args[1] if len(m.args) > 1 else m.kwargs.get("argvalues")
            if isinstance(argnames, str):
                argnames = [a.strip() for a in argnames.split(",") if a.strip()]
            argnames = list(argnames)
            indirect = m.kwargs.get("indirect", False)
            if indirect is True:
                indirect = argnames
            elif not indirect:
                indirect = []
            sets = [to_parameterset(v, len(argnames)) for v in values]
            if not sets:
                raise NativeUnsupported("empty parameter set")
            ids = make_ids(argnames, sets, m.kwargs.get("ids"))
            new = []
            for c in callspecs:
                for idx, (ps, id_) in enumerate(zip(sets, ids)):
                    fa = {a: v for a, v in zip(argnames, ps.values) if a not in indirect}
                    pa = {a: v for a, v in zip(argnames, ps.values) if a in indirect}
                    nc = c.extend(id_, fa, pa, ps.marks)
                    nc.params_idx = dict(c.params_idx, **{a: idx for a in pa})
                    new.append(nc)
            callspecs = new

        argnames = _required_argnames(obj)
        if item.cls is not None and argnames and argnames[0] == "self":
            argnames = argnames[1:]
        return marks, callspecs, argnames

    def _module_xunit(self, mod, key):
        """A module's xunit functions (setup_module, teardown_module,
        setup_function, teardown_function), looked up once per module as
        pytest does at collection: a missing module attribute costs an
        AttributeError with its message, twice per test otherwise."""
        found = self.static_cache.get(("xunit", key))
        if found is None:
            names = vars(mod)
            if "__getattr__" in names:  # PEP 562: the module answers for itself
                get = lambda attr: getattr(mod, attr, None)
            else:
                get = names.get
            found = (get("setup_module") or get("setUpModule"), get("teardown_module") or get("tearDownModule"),
                     get("setup_function"), get("teardown_function"))
            self.static_cache[("xunit", key)] = found
        return found

    def _xunit(self, item, name):
        mod = item.module
        setup_module, teardown_module, setup_function, teardown_function = self._module_xunit(mod, item.module_key)
        if ("xunit-module", item.module_key) not in self.cache[1]:
            self.cache[1][("xunit-module", item.module_key)] = True
            f = setup_module
            if f is not None:
                f(mod) if _nargs(f) else f()
            t = teardown_module
            if t is not None:
                self.finalizers[1].append(lambda: t(mod) if _nargs(t) else t())
        cls = item.cls
        if cls is not None and ("xunit-class", item.class_key) not in self.cache[2]:
            self.cache[2][("xunit-class", item.class_key)] = True
            f = getattr(cls, "setup_class", None)
            if f is not None:
                f()
            t = getattr(cls, "teardown_class", None)
            if t is not None:
                self.finalizers[2].append(t)
        if cls is not None:
            f = getattr(item.instance, "setup_method", None)
            if f is not None:
                f(item.function) if _nargs(f) else f()
            t = getattr(item.instance, "teardown_method", None)
            if t is not None:
                self.finalizers[3].append(lambda: t(item.function) if _nargs(t) else t())
        else:
            f = setup_function
            if f is not None:
                f(item.function) if _nargs(f) else f()
            t = teardown_function
            if t is not None:
                self.finalizers[3].append(lambda: t(item.function) if _nargs(t) else t())

    def _run_unittest(self, item, method, phase):
        cls = item.cls
        mod = item.module
        if ("xunit-module", item.module_key) not in self.cache[1]:
            self.cache[1][("xunit-module", item.module_key)] = True
            f = getattr(mod, "setUpModule", None)
            if f is not None:
                f()
            t = getattr(mod, "tearDownModule", None)
            if t is not None:
                self.finalizers[1].append(t)
        if ("unittest-class", item.class_key) not in self.cache[2]:
            self.cache[2][("unittest-class", item.class_key)] = True
            if getattr(cls, "__unittest_skip__", False):
                raise Skipped(getattr(cls, "__unittest_skip_why__", ""))
            cls.setUpClass()
            self.finalizers[2].append(cls.tearDownClass)
            if hasattr(cls, "doClassCleanups"):
                self.finalizers[2].append(cls.doClassCleanups)
        if not hasattr(cls, method):
            raise NativeUnsupported("cannot find %r" % method)
        phase[0] = "call"
        result = unittest.TestResult()
        case = cls(method)
        case.run(result)
        if result.errors or result.failures:
            tb_text = (result.errors + result.failures)[0][1]
            raise _UnittestFailure(tb_text)
        if result.skipped:
            raise Skipped(result.skipped[0][1])
        if result.expectedFailures:
            raise XFailed("")
        if result.unexpectedSuccesses:
            raise _UnittestFailure("Unexpected success")
        phase[0] = "teardown"


class _UnittestFailure(Exception):
    pass


def _nargs(f):
    try:
        return len([p for p in inspect.signature(f).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
    except (TypeError, ValueError):
        return 0


def native_result(session, nodeid):
    res = session.run(nodeid)
    if res["outcome"] == "failed" and not res["longrepr"]:
        res["longrepr"] = res["message"]
    return res


# --------------------------------------------------------------------------
# snapshot fixture (SPECS §19 "Snapshots")
# --------------------------------------------------------------------------

SNAPSHOT_HEADER = "# pybun snapshot v1"


def snapshot_path(nodeid):
    """`<dir of the test file>/__snapshots__/<test file name>.snap`."""
    test_file = os.path.join(ROOTDIR, nodeid.split("::", 1)[0])
    return os.path.join(os.path.dirname(test_file), "__snapshots__", os.path.basename(test_file) + ".snap")


def snapshot_text(value):
    """A value's stored text: a string's repr, anything else `pprint.pformat`."""
    if isinstance(value, str):
        return repr(value)
    import pprint
    return pprint.pformat(value, width=88, sort_dicts=True)


def parse_snapshots(text, path):
    """{key: text} of a snapshot file; a malformed file raises (it is never rewritten)."""
    entries = {}
    if not text:
        return entries
    lines = text.split("\n")
    if lines[0] != SNAPSHOT_HEADER:
        raise SnapshotFileError("%s:1: the first line is not `%s`" % (path, SNAPSHOT_HEADER))
    key = None
    values = []
    for number, line in enumerate(lines[1:], 2):
        if line.startswith("# name: "):
            if key is not None:
                raise SnapshotFileError("%s:%d: the entry `%s` has no closing `# ---`" % (path, number, key))
            key, values = line[len("# name: "):], []
        elif line == "# ---":
            if key is None:
                raise SnapshotFileError("%s:%d: `# ---` without an entry" % (path, number))
            entries[key] = "\n".join(values)
            key = None
        elif key is not None:
            if not line.startswith("  "):
                raise SnapshotFileError("%s:%d: a value line is not indented by two spaces" % (path, number))
            values.append(line[2:])
        elif line:
            raise SnapshotFileError("%s:%d: a line outside any entry" % (path, number))
    if key is not None:
        raise SnapshotFileError("%s: the entry `%s` has no closing `# ---`" % (path, key))
    return entries


def serialize_snapshots(entries):
    out = [SNAPSHOT_HEADER]
    for key in sorted(entries):
        out.append("# name: " + key)
        out.extend("  " + line for line in entries[key].split("\n"))
        out.append("# ---")
    return "\n".join(out) + "\n"


def _read_text(path):
    try:
        with open(path, "r", encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class SnapshotFileError(Exception):
    pass


class Snapshot(object):
    """The `snapshot` fixture: `assert value == snapshot`. The n-th comparison
    of a test (from 0) uses the key `<node id>` then `<node id> [n]`."""

    __hash__ = None

    def __init__(self, nodeid):
        self._nodeid = nodeid
        self._path = snapshot_path(nodeid)
        self._update = os.environ.get("PYBUN_UPDATE_SNAPSHOTS") == "1"
        self._ci = bool(os.environ.get("CI"))
        self._entries = None
        self._count = 0
        self._shown = None
        self._failed = None
        self._writes = {}

    def __eq__(self, other):
        __tracebackhide__ = True
        text = snapshot_text(other)
        if self._failed is not None:
            # (the failed assertion is evaluated again to explain it)
            return text == self._failed
        key = self._nodeid if self._count == 0 else "%s [%d]" % (self._nodeid, self._count)
        self._count += 1
        if self._entries is None:
            self._entries = parse_snapshots(_read_text(self._path), self._path)
        stored = self._entries.get(key)
        if stored is None:
            if self._ci and not self._update:
                raise AssertionError("no snapshot `%s` (CI is set, so none is written); "
                                     "run `pybun test --update-snapshots`" % key)
            self._writes[key] = self._shown = text
            return True
        self._shown = stored
        if stored == text:
            return True
        if self._update:
            self._writes[key] = self._shown = text
            return True
        self._failed = stored
        return False

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return self._shown if self._shown is not None else "<snapshot>"

    def flush(self):
        """Merges this test's new entries into the file (read-modify-write under
        a lock on its directory: workers may run tests of one file at once)."""
        if not self._writes:
            return
        import fcntl
        directory = os.path.dirname(self._path)
        os.makedirs(directory, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = _read_text(self._path)
            entries = parse_snapshots(text, self._path)
            entries.update(self._writes)
            new = serialize_snapshots(entries)
            if new != text:
                tmp = "%s.%d.tmp" % (self._path, os.getpid())
                with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                    f.write(new)
                os.replace(tmp, self._path)
        finally:
            os.close(fd)
        self._writes = {}


def _snapshot_plugin(pytest):
    """The `snapshot` fixture for the pytest engine."""

    class SnapshotPlugin(object):
        @pytest.fixture(name="snapshot")
        def snapshot(self, request):
            snap = Snapshot(request.node.nodeid)
            yield snap
            snap.flush()

    return SnapshotPlugin()


# --------------------------------------------------------------------------
# pytest engine
# --------------------------------------------------------------------------


class PytestReporter(object):
    def __init__(self, proto, capture, ids):
        self.proto = proto
        self.capture = capture
        self.ids = ids
        self.pending = {}
        self.reported = set()

    def pytest_runtest_logstart(self, nodeid, location):
        self.proto.send({"start": nodeid})
        self.pending[nodeid] = {"outcome": "passed", "duration": 0.0, "longrepr": "", "message": "",
                                "stdout": "", "stderr": ""}

    def _text(self, report):
        lr = report.longrepr
        if lr is None:
            return ""
        if isinstance(lr, tuple) and len(lr) == 3:
            return str(lr[2])
        try:
            return str(lr)
        except Exception:
            return repr(lr)

    def _message(self, report):
        lr = report.longrepr
        if isinstance(lr, tuple) and len(lr) == 3:
            msg = str(lr[2])
            return msg[len("Skipped: "):] if msg.startswith("Skipped: ") else msg
        crash = getattr(lr, "reprcrash", None)
        if crash is not None:
            lines = str(crash.message).splitlines()
            return lines[0] if lines else ""
        text = self._text(report).strip().splitlines()
        return text[-1] if text else ""

    def pytest_runtest_logreport(self, report):
        st = self.pending.setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0, "longrepr": "",
                                                     "message": "", "stdout": "", "stderr": ""})
        st["duration"] += getattr(report, "duration", 0.0) or 0.0
        wasxfail = getattr(report, "wasxfail", None)
        if report.when == "setup":
            if report.failed:
                st.update(outcome="error", longrepr=self._text(report), message=self._message(report))
            elif report.skipped:
                if wasxfail is not None:
                    st.update(outcome="xfailed", message=wasxfail)
                else:
                    st.update(outcome="skipped", message=self._message(report))
        elif report.when == "call":
            if report.passed:
                if wasxfail is not None:
                    st.update(outcome="xpassed", message=wasxfail)
            elif report.skipped:
                if wasxfail is not None:
                    st.update(outcome="xfailed", message=wasxfail, longrepr=self._text(report))
                else:
                    st.update(outcome="skipped", message=self._message(report))
            else:
                st.update(outcome="failed", longrepr=self._text(report), message=self._message(report))
        elif report.when == "teardown":
            if report.failed:
                if st["outcome"] in ("passed", "skipped", "xfailed", "xpassed"):
                    st.update(outcome="error", longrepr=self._text(report), message=self._message(report))
                else:
                    st["longrepr"] += "\n\nERROR at teardown:\n" + self._text(report)
            st["stdout"] = report.capstdout
            st["stderr"] = report.capstderr
            self.emit(report.nodeid, st)

    def emit(self, nodeid, st):
        if nodeid in self.reported:
            return
        self.reported.add(nodeid)
        self.pending.pop(nodeid, None)
        out = {"id": nodeid}
        out.update(st)
        self.proto.send(out)

    def pytest_collectreport(self, report):
        if report.failed:
            text = self._text(report)
            msg = self._message(report)
            base = report.nodeid
            for i in self.ids:
                if i not in self.reported and (base == "" or i == base or i.startswith(base + "::")
                                               or i.startswith(base.rstrip("/") + "/")):
                    self.emit(i, {"outcome": "error", "duration": 0.0, "longrepr": text, "message": msg,
                                  "stdout": "", "stderr": ""})


def _pytest_for_engine():
    """The real pytest module (made `sys.modules["pytest"]`), or None."""
    pytest = real_pytest() if isinstance(sys.modules.get("pytest"), LazyPytest) else None
    if pytest is not None:
        sys.modules["pytest"] = pytest
    else:
        try:
            import pytest
        except ImportError:
            pytest = None
    if pytest is None or getattr(pytest, "__pybun_shim__", False):
        return None
    return pytest


class PytestCollector(object):
    """Records what `pytest --collect-only` lists (after every hook, in its order)."""

    def __init__(self):
        self.items = []
        self.errors = []

    def pytest_collection_finish(self, session):
        for item in session.items:
            try:
                marks = sorted(set(m.name for m in item.iter_markers()))
            except Exception:
                marks = []
            self.items.append({"id": item.nodeid, "marks": marks})

    def pytest_collectreport(self, report):
        if report.failed:
            lr = report.longrepr
            try:
                text = str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
            except Exception:
                text = repr(lr)
            self.errors.append({"id": report.nodeid, "text": text})


def collect_pytest(proto, capture, paths):
    """`{"collect": [paths]}`: pytest's own collection of the paths (none: its defaults)."""
    pytest = _pytest_for_engine()
    if pytest is None:
        proto.send({"collected": None, "error": "pytest is not installed in this environment"})
        return
    collector = PytestCollector()
    capture.begin()
    args = list(paths) + ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", ROOTDIR]
    code = _pytest_main(pytest, args, collector)
    out, err = capture.end()
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = str(code)
    proto.send({"collected": collector.items, "errors": collector.errors, "exit": code,
                "output": (out + err)[-4000:]})


def _pytest_main(pytest, args, *plugins):
    """pytest.main's exit code; a SystemExit's code, or the traceback of anything else raised."""
    try:
        return pytest.main(args, plugins=list(plugins))
    except SystemExit as e:
        return e.code
    except BaseException:
        return traceback.format_exc()


def run_pytest(proto, capture, ids):
    pytest = _pytest_for_engine()
    if pytest is None:
        for i in ids:
            proto.send({"id": i, "outcome": "error", "duration": 0.0, "stdout": "", "stderr": "",
                        "longrepr": "pytest is not installed in this environment",
                        "message": "pytest engine: pytest is not installed"})
        return
    reporter = PytestReporter(proto, capture, ids)
    capture.begin()
    args = list(ids) + ["-p", "no:cacheprovider", "-q", "--rootdir", ROOTDIR, "-o", "console_output_style=classic"]
    code = _pytest_main(pytest, args, reporter, _snapshot_plugin(pytest))
    out, err = capture.end()
    if code == 4 and not reporter.reported and not reporter.pending and len(ids) > 1:
        # a usage error (typically "not found" for one id) runs nothing: isolate the bad ids
        for i in ids:
            run_pytest(proto, capture, [i])
        return
    for nodeid, st in list(reporter.pending.items()):
        if nodeid not in reporter.reported:
            st = dict(st)
            if st["outcome"] == "passed":
                st["outcome"] = "error"
            reporter.emit(nodeid, st)
    for i in ids:
        # A test parametrized through a fixture's `params=` has ids discovery cannot
        # know (`test_x` requested, `test_x[a]`, `test_x[b]` run): its results stand for it.
        # A module's path stands for the tests pytest collected in it.
        if i not in reporter.reported and not any(r.startswith(i + "[") or r.startswith(i + "::")
                                                  for r in reporter.reported):
            reporter.emit(i, {"outcome": "error", "duration": 0.0, "stdout": out, "stderr": err,
                              "longrepr": "pytest did not run this test (exit code %s)\n%s%s" % (code, out, err),
                              "message": "pytest engine: test not run (exit code %s)" % (code,)})


# --------------------------------------------------------------------------
# Main loop
# --------------------------------------------------------------------------


def serve(proto, capture, pytest_mod, in_session=False):
    """Answer requests until shutdown, EOF, or (in a session child) the session's end."""
    native = None
    last_engine = None
    while True:
        try:
            msg = proto.recv()
        except ValueError as e:
            proto.send({"error": "bad request: %s" % e})
            continue
        if msg is None or msg.get("shutdown"):
            break
        session = msg.get("session")
        if session == "begin" and not in_session:
            fork_session(proto, capture, pytest_mod)
            continue
        if session == "end" and in_session:
            break
        if "ignored" in msg:
            if native is None:
                native = NativeSession(pytest_mod, capture)
            capture.begin()
            try:
                answer = {"ignored": native.ignored_files(msg.get("ignored") or [])}
            except NativeUnsupported as e:
                answer = {"ignored": None, "error": NATIVE_PREFIX + str(e)}
            except BaseException as e:
                answer = {"ignored": None, "error": "%s: %s" % (type(e).__name__, e)}
            capture.end()
            proto.send(answer)
            continue
        if "collect" in msg:
            if native is not None:
                # pytest must import the test modules itself
                native.teardown_all()
                for name in native.imported_names:
                    sys.modules.pop(name, None)
                native = None
            last_engine = "pytest"
            collect_pytest(proto, capture, msg.get("collect") or [])
            continue
        ids = msg.get("run") or []
        engine = msg.get("engine", "native")
        if engine != last_engine and native is not None and engine == "pytest":
            # pytest must import test modules itself (assertion rewriting, its own conftest handling)
            native.teardown_all()
            for name in native.imported_names:
                sys.modules.pop(name, None)
            native = None
        last_engine = engine
        if engine == "pytest":
            run_pytest(proto, capture, ids)
        else:
            if native is None:
                native = NativeSession(pytest_mod, capture)
            run_native(proto, capture, native, ids, bool(msg.get("stream")))
        proto.send({"done": True})
    if native is not None:
        capture.begin()
        native.teardown_all()
        native.tmp_factory.cleanup()
        capture.end()


_encode_str = json.encoder.encode_basestring_ascii
#: Results wait in the worker at most this long (seconds) before they are sent.
RESULT_LATENCY = 0.05


def run_native(proto, capture, native, ids, stream):
    """Runs the ids in order with the native engine. Results are written in
    groups: one pipe write (and one wake-up of the pool's reader) per group
    rather than per test, sent when the batch ends or when the oldest unsent
    result is `RESULT_LATENCY` old. No {"start"} per test: the pool learns of
    a crash from the pipe closing; it then reruns the unreported ids with
    `stream` (each result sent as it comes, so the first unreported id is the
    one that crashed)."""
    out_file = proto.out
    write = out_file.write
    begin = capture.begin
    end = capture.end
    clock = time.perf_counter
    pending = []
    oldest = None
    for nodeid in ids:
        begin()
        t0 = clock()
        try:
            res = native_result(native, nodeid)
        except BaseException as e:  # internal error: never lose the protocol
            res = {"outcome": "error", "message": NATIVE_PREFIX + "internal error: %r" % (e,),
                   "longrepr": traceback.format_exc()}
        t1 = clock()
        out, err = end()
        if out or err or res["longrepr"] or res["message"]:
            line = json.dumps({"id": nodeid, "outcome": res["outcome"], "duration": t1 - t0, "stdout": out,
                               "stderr": err, "longrepr": res["longrepr"], "message": res["message"]})
        else:  # the common case, without the JSON encoder's overhead (empty fields are the defaults)
            line = '{"id": %s, "outcome": "%s", "duration": %r}' % (_encode_str(nodeid), res["outcome"], t1 - t0)
        pending.append(line)
        if oldest is None:
            oldest = t1
        if stream or t1 - oldest >= RESULT_LATENCY:
            write("\n".join(pending) + "\n")
            out_file.flush()
            pending = []
            oldest = None
    if pending:
        write("\n".join(pending) + "\n")
        out_file.flush()


def _under_project(path):
    """A file of the project (under the rootdir, outside virtual environments)."""
    if not path:
        return False
    path = os.path.abspath(path)
    if not (path + os.sep).startswith(ROOTDIR + os.sep):
        return False
    return "site-packages" not in path.split(os.sep)


def fork_session(proto, capture, pytest_mod):
    """One run in a forked child (`--watch`'s warm workers).

    This process is the zygote: it has imported the harness, pytest and the
    third-party modules earlier runs used, and never imports project code. Each
    session forks a child that imports the project's modules afresh (so an
    edit is what runs), runs the batches, tears its fixtures down and exits.
    The child reports the third-party modules it imported; the zygote imports
    them so the next child starts with them. A child killed by a signal or
    exiting abnormally takes the zygote down the same way, so the pool sees
    the crash exactly as with a plain worker.
    """
    before = set(sys.modules)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        status = 0
        try:
            proto.send({"session": "begun", "pid": os.getpid()})
            serve(proto, capture, pytest_mod, in_session=True)
            warm = [name for name, mod in list(sys.modules.items())
                    if name not in before and not name.startswith("_pybun_conftest_") and name != "__main__"
                    and getattr(mod, "__file__", None) and not _under_project(mod.__file__)]
            with os.fdopen(wfd, "w") as pipe:
                pipe.write("\n".join(warm))
            proto.send({"session": "ended"})
        except BaseException:
            try:
                sys.stderr.write(traceback.format_exc())
                sys.stderr.flush()
            except Exception:
                pass
            status = 70
        os._exit(status)
    os.close(wfd)
    with os.fdopen(rfd, "r") as pipe:
        warm = pipe.read().split()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        import signal
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    if os.WEXITSTATUS(status) != 0:
        os._exit(os.WEXITSTATUS(status))
    warm_imports(capture, warm)


def warm_imports(capture, names):
    """Import (in the zygote) the third-party modules a session child used."""
    if not names:
        return
    capture.begin()
    for name in names:
        if name in sys.modules:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except BaseException:
            pass
    # nothing of the project may stay in the zygote
    for name, mod in list(sys.modules.items()):
        if _under_project(getattr(mod, "__file__", None)):
            del sys.modules[name]
    capture.end()


def main(argv):
    global ROOTDIR
    rootdir = os.getcwd()
    capdir = None
    i = 0
    while i < len(argv):
        if argv[i] == "--rootdir":
            rootdir = argv[i + 1]
            i += 2
        elif argv[i] == "--capture-prefix":
            capdir = argv[i + 1]
            i += 2
        else:
            i += 1
    ROOTDIR = os.path.abspath(rootdir)
    os.chdir(ROOTDIR)
    # the script's own directory must not shadow test modules
    if sys.path and sys.path[0] == os.path.dirname(WORKER_FILE):
        sys.path.pop(0)
    if ROOTDIR not in sys.path:
        sys.path.insert(0, ROOTDIR)
    proto = Protocol()
    if capdir is None:
        capdir = os.path.join(tempfile.mkdtemp(prefix="pybun-worker-"), "cap")
    capture = Capture(capdir + ".out", capdir + ".err")
    if faulthandler is not None:
        try:
            faulthandler.enable(file=sys.__stderr__)
        except Exception:
            pass
    bytecode_dir = os.environ.get("PYBUN_TEST_BYTECODE_DIR")
    if bytecode_dir:
        keep_bytecode(bytecode_dir)
    import gc
    threshold = gc.get_threshold()
    if threshold[0] < 2000:
        # CPython 3.13's young-generation threshold. With 3.8-3.12's 700 a
        # worker ran three times as many collections, and a full one (10-15 ms,
        # over every module and plan) in the middle of a 2,500-test batch.
        gc.set_threshold(2000, *threshold[1:])
    pytest_mod, pytest_version = ensure_pytest()
    proto.send({"ready": True, "python": "%d.%d.%d" % sys.version_info[:3], "pytest": pytest_version,
                "pid": os.getpid(), "fork": hasattr(os, "fork")})
    serve(proto, capture, pytest_mod)
    exit_quickly(proto)


def keep_bytecode(directory):
    """The project's modules (files under the rootdir, outside virtual
    environments) are compiled once and their bytecode kept in PyBun's cache
    (`directory`, never beside the sources): each run imports the suite's
    modules again, and compiling them is a fifth of the native engine's time.
    Like Python's own import system, it honours PYTHONDONTWRITEBYTECODE /
    `-B` (`sys.dont_write_bytecode`): bytecode already in the cache is read,
    none is written. The files are
    checked hash-based pycs (PEP 552): validated by the source's hash, not its
    mtime, so an edit within the same second that keeps the size (`--watch`,
    an agent's quick fix) is never hidden by stale bytecode. Other modules
    (the standard library, installed packages) load as Python loads them."""
    from importlib import machinery
    import marshal
    magic = importlib.util.MAGIC_NUMBER
    tag = sys.implementation.cache_tag or "py"

    class ProjectBytecodeLoader(machinery.SourceFileLoader):
        def get_code(self, fullname):
            path = self.path
            if not _under_project(path):
                return super().get_code(fullname)
            try:
                source = self.get_data(path)
            except OSError:
                return super().get_code(fullname)
            digest = importlib.util.source_hash(source)
            cached = os.path.join(directory, path.lstrip(os.sep)) + ".%s.pyc" % tag
            try:
                with open(cached, "rb") as f:
                    data = f.read()
                if data[:4] == magic and data[4:8] == b"\3\0\0\0" and data[8:16] == digest:
                    return marshal.loads(data[16:])
            except (OSError, ValueError, EOFError, TypeError):
                pass
            code = self.source_to_code(source, path)
            if sys.dont_write_bytecode:
                return code
            try:
                os.makedirs(os.path.dirname(cached), exist_ok=True)
                partial = "%s.%d.tmp" % (cached, os.getpid())
                with open(partial, "wb") as f:
                    f.write(magic + b"\3\0\0\0" + digest + marshal.dumps(code))
                os.replace(partial, cached)
            except OSError:
                pass
            return code

    details = [(machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
               (ProjectBytecodeLoader, machinery.SOURCE_SUFFIXES),
               (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES)]
    hook = machinery.FileFinder.path_hook(*details)
    for i, existing in enumerate(sys.path_hooks):
        if getattr(existing, "__name__", "") == "path_hook_for_FileFinder":
            sys.path_hooks[i] = hook
            sys.path_importer_cache.clear()
            return


def exit_quickly(proto):
    """Ends the process like a normal exit (non-daemon threads joined, atexit
    handlers run, output flushed) without the interpreter's teardown of every
    module, which takes tens of milliseconds after a large suite."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None and hasattr(threading, "_shutdown"):
            threading._shutdown()
        import atexit
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr, proto.out):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])

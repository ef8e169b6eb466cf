"""A digest of an operator's code, so that a run reuses only batches computed by the same code.

Fail, fix, run again with the version kept: the fixed run reused the batches the failed one had
finished, and committed a day computed by both codes. The version stays the user's say on what
makes committed days stale; this digest only decides which finished batches a run may reuse.

Of each class of the operator but the base: the file of its module (helpers and constants beside
it) and the code of its members as loaded (a notebook's class has no file; a reloaded module's
classes are new classes). Not seen: helpers in other modules it calls, and values a closure
holds. The same in every process and hash seed: no object's repr (it may hold an address) and
no set in its iteration order.
"""

import functools
import hashlib
import sys
import types

_DIGESTS: dict[type, str] = {}  # by class object


def code_digest(kind: type, base: type) -> str:
    if kind not in _DIGESTS:
        digest = hashlib.sha256()
        for cls in kind.__mro__:
            if cls not in (base, object):
                digest.update(_module_source(cls))
                digest.update(_class_code(cls).encode())
        _DIGESTS[kind] = digest.hexdigest()[:16]
    return _DIGESTS[kind]


def _module_source(cls: type) -> bytes:
    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    try:
        with open(path or "", "rb") as source:
            return source.read()
    except OSError:  # a notebook's, or code run from text: its members' code says it
        return b""


NOT_CODE = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"}


def _class_code(cls: type) -> str:
    parts = [cls.__qualname__]
    for name, value in sorted(vars(cls).items()):
        if name in NOT_CODE or name.startswith("__static") or name == "__firstlineno__":
            continue
        if isinstance(value, type):  # a nested class; not one defined elsewhere and named here
            if value.__qualname__.startswith(f"{cls.__qualname__}."):
                parts.append(f"{name}=class {_class_code(value)}")
            continue
        parts.append(f"{name}={_member(value)}")
    return "\n".join(parts)


def _member(value: object) -> str:
    """A method (through its decorators), a property's functions, or a literal value."""
    if isinstance(value, staticmethod | classmethod):
        return _member(value.__func__)
    if isinstance(value, property):
        return "|".join(_member(f) for f in (value.fget, value.fset, value.fdel) if f is not None)
    if isinstance(value, functools.cached_property):
        return _member(value.func)
    code = getattr(value, "__code__", None)
    if isinstance(code, types.CodeType):
        defaults = (getattr(value, "__defaults__", None), getattr(value, "__kwdefaults__", None))
        wrapped = getattr(value, "__wrapped__", None)  # functools.wraps' decorated function
        inner = f" wraps {_member(wrapped)}" if wrapped is not None else ""
        return f"{_code_text(code)}:{_literal(defaults)}{inner}"
    return _literal(value)


def _code_text(code: types.CodeType) -> str:
    consts = [
        _code_text(c) if isinstance(c, types.CodeType) else _literal(c) for c in code.co_consts
    ]
    return f"{code.co_code.hex()}:{code.co_names}:{code.co_varnames}:{consts}"


def _literal(value: object) -> str:
    if isinstance(value, set | frozenset):
        return repr(sorted(_literal(v) for v in value))
    if isinstance(value, tuple | list):
        return repr([_literal(v) for v in value])
    if isinstance(value, dict):
        return repr(sorted((_literal(k), _literal(v)) for k, v in value.items()))
    if isinstance(value, str | bytes | int | float | complex | bool | type(None)):
        return repr(value)
    return type(value).__name__

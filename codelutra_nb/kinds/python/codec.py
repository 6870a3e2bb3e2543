"""Values on the wire between the judge and the candidate: type-tagged JSON, and a strict decoder.

A value is JSON where JSON says it exactly (None, bool, int, float with nan/inf/-0.0, str, list); every other value
is a one-key object naming its type: ``{"t": [...]}`` a tuple, ``{"d": [[k, v], ...]}`` a dict (any plain keys, in
order), ``{"s": ...}`` / ``{"f": ...}`` sets, ``{"b": base64}`` bytes, ``{"i": hex}`` an int too long for JSON,
``{"c": [re, im]}``, ``{"ty": name}`` a built-in type (``int``, ``ValueError``), the standard library's Counter,
OrderedDict, defaultdict, deque, Decimal, Fraction, range and dict views, ``{"m": name}`` a module (the decoder's own
import of it; where it may not import, as in the judge, one it has not imported is a handle), ``{"it": [...]}`` an
iterator (drawn in full, at most `MAX_ITEMS` items), and numpy / pandas values (`arrays`). Subclasses of the plain
types travel as their plain value (a namedtuple as a tuple, an IntEnum member as an int). Anything else becomes
``{"h": [id, type name]}``, a handle: the side that decodes it gets whatever its ``handle`` callback makes of it (the
judge: an object that equals only itself).

The decoder builds nothing but the built-in and standard-library types above: no class of the sender's, no custom
``__eq__``, no code. It refuses messages over `MAX_BYTES`, nesting deeper than the interpreter's recursion limit,
malformed tags and unhashable set members or keys (`CodecError`). Only the standard library is imported here: the
zygote loads this file on its own.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import collections
import decimal
import fractions
import importlib
import json
import os
import re
import sys
import types
from collections.abc import Callable, Iterator

MAX_BYTES = 16 << 20
"""Largest message either side reads."""
MAX_DEPTH = 100
"""Deepest nesting the encoder sends."""
MAX_ITEMS = 1_000_000
"""Most items drawn from one iterator."""
_BIG = 1 << 13_000  # ints from here on travel as hex: JSON's decimal form is capped at 4300 digits and quadratic
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_HEX = re.compile(r"-?[0-9a-f]+")
_FACTORIES = {f.__name__: f for f in (list, dict, set, frozenset, tuple, int, float, str, bytes, bool, complex)}
_DICT_KEYS, _DICT_VALUES, _DICT_ITEMS = (type(getattr({}, name)()) for name in ("keys", "values", "items"))
_write, _read, _dumps, _loads = os.write, os.read, json.dumps, json.loads  # the program may monkeypatch os / json


class CodecError(ValueError):
    """A value that cannot be sent (too deep, too large, an iterator too long), or bytes that are not a value."""


def encode(value: object, other: Callable[[object], object]) -> bytes:
    """``value`` as a message; ``other(obj)`` gives the wire form of each object of no known type (or raises)."""
    data = _dumps(_Encoder(other).encode(value, 0), ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )
    if len(data) > MAX_BYTES:
        raise CodecError(f"the value takes {len(data) >> 20} MiB, more than the {MAX_BYTES >> 20} MiB a message holds")
    return data


def decode(data: bytes, handle: Callable[[int, str], object], imports: bool = True) -> object:
    """The value of a message; ``handle(id, type_name)`` makes what a handle stands for. A module this process has
    not imported is imported where ``imports``, else it is a handle (the judge: the program cannot make it import)."""
    if len(data) > MAX_BYTES:
        raise CodecError(f"a message of {len(data) >> 20} MiB, more than {MAX_BYTES >> 20} MiB")
    try:
        return _loads(
            data.decode("utf-8", "surrogatepass"), object_pairs_hook=lambda pairs: _build(pairs, handle, imports)
        )
    except CodecError:
        raise
    except RecursionError:
        raise CodecError("a value nested too deeply") from None
    except (ValueError, TypeError, ArithmeticError, UnicodeDecodeError) as exc:  # Decimal's errors are arithmetic
        raise CodecError(f"not a value ({type(exc).__name__}: {str(exc)[:200]})") from None


def send(fd: int, data: bytes) -> None:
    """Write one message (a 4-byte length, then the bytes)."""
    view = memoryview(len(data).to_bytes(4, "big") + data)
    while view:
        view = view[_write(fd, view) :]


def receive(fd: int) -> bytes:
    """Read one message; `EOFError` when the other side has gone, `CodecError` when it announces too much."""
    size = int.from_bytes(_read_exactly(fd, 4), "big")
    if size > MAX_BYTES:
        raise CodecError(f"a message of {size >> 20} MiB announced, more than {MAX_BYTES >> 20} MiB")
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = _read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _Encoder:
    def __init__(self, other: Callable[[object], object]) -> None:
        self.other = other

    def encode(self, x: object, depth: int) -> object:  # noqa: C901 - one dispatch over the known types
        t = type(x)
        if t is str or t is bool or t is float or x is None:
            return x
        if t is int:
            return x if -_BIG < x < _BIG else {"i": format(x, "x")}
        if depth >= MAX_DEPTH:
            raise CodecError(f"the value is nested more than {MAX_DEPTH} deep (or holds itself)")
        d = depth + 1
        if t is list:
            return [self.encode(v, d) for v in x]
        if t is tuple:
            return {"t": [self.encode(v, d) for v in x]}
        if t is dict:
            return {"d": self.pairs(x.items(), d)}
        if t is set or t is frozenset:
            return {"s" if t is set else "f": [self.encode(v, d) for v in x]}
        if t is bytes or t is bytearray:
            return {"b" if t is bytes else "ba": base64.b64encode(x).decode()}
        if t is complex:
            return {"c": [x.real, x.imag]}
        if isinstance(x, types.ModuleType):
            return {"m": x.__name__}
        if t is type and getattr(builtins, x.__name__, None) is x:  # int, str, ValueError...
            return {"ty": x.__name__}
        known = _STDLIB.get(t)
        if known is not None:
            return known(self, x, d)
        if t.__module__.partition(".")[0] in ("numpy", "pandas"):
            from . import arrays

            found = arrays.encode(x, self, d)
            if found is not None:
                return found
        for base in (bool, int, float, str, bytes, tuple, list, dict, set, frozenset):  # subclasses: the plain value
            if isinstance(x, base):
                return self.encode(base(x), depth)
        if isinstance(x, Iterator):
            return {"it": self.drawn(x, d)}
        return self.other(x)

    def pairs(self, items, depth: int) -> list:
        return [[self.encode(k, depth), self.encode(v, depth)] for k, v in items]

    def drawn(self, iterator: Iterator, depth: int) -> list:
        items = []
        for item in iterator:
            if len(items) == MAX_ITEMS:
                raise CodecError(f"an iterator of more than {MAX_ITEMS:,} items")
            items.append(self.encode(item, depth))
        return items


def _defaultdict(enc: _Encoder, x: collections.defaultdict, depth: int) -> object:
    factory = x.default_factory
    name = factory.__name__ if factory is not None and _FACTORIES.get(factory.__name__) is factory else None
    return {"dd": [name, enc.pairs(x.items(), depth)]}


_STDLIB: dict[type, Callable[[_Encoder, object, int], object]] = {
    collections.Counter: lambda enc, x, d: {"C": enc.pairs(x.items(), d)},
    collections.OrderedDict: lambda enc, x, d: {"od": enc.pairs(x.items(), d)},
    collections.defaultdict: _defaultdict,
    collections.deque: lambda enc, x, d: {"dq": [[enc.encode(v, d) for v in x], x.maxlen]},
    decimal.Decimal: lambda enc, x, d: {"D": str(x)},
    fractions.Fraction: lambda enc, x, d: {"Fr": [enc.encode(x.numerator, d), enc.encode(x.denominator, d)]},
    range: lambda enc, x, d: {"r": [enc.encode(v, d) for v in (x.start, x.stop, x.step)]},
    _DICT_KEYS: lambda enc, x, d: {"kv": [enc.encode(v, d) for v in x]},
    _DICT_VALUES: lambda enc, x, d: {"vv": [enc.encode(v, d) for v in x]},
    _DICT_ITEMS: lambda enc, x, d: {"iv": enc.pairs(x, d)},
}


def _build(pairs: list, handle: Callable[[int, str], object], imports: bool) -> object:
    if len(pairs) != 1:
        raise CodecError("an object with other than one tag")
    tag, payload = pairs[0]
    if tag == "m" and not imports:
        name = _text(payload, 200, _MODULE)
        return sys.modules[name] if name in sys.modules else handle(-1, f"module {name}")
    if tag == "h":
        if not (_is_list(payload, 2) and type(payload[0]) is int and type(payload[1]) is str):
            raise CodecError("a malformed handle")
        return handle(payload[0], payload[1][:100])
    build = _BUILDERS.get(tag)
    if build is not None:
        return build(payload)
    if tag.startswith(("np", "pd")):
        from . import arrays

        return arrays.decode(tag, payload)
    raise CodecError(f"unknown tag {tag[:20]!r}")


def _is_list(x: object, n: int | None = None) -> bool:
    return type(x) is list and (n is None or len(x) == n)


def _items(x: object) -> list:
    if not _is_list(x):
        raise CodecError("a container whose items are not a list")
    return x


def _pairs(x: object) -> list:
    if not (_is_list(x) and all(_is_list(p, 2) for p in x)):
        raise CodecError("a mapping whose items are not [key, value] pairs")
    return x


def _number(x: object) -> int | float:
    if type(x) not in (int, float):
        raise CodecError("a number that is not one")
    return x


def _text(x: object, limit: int, pattern: re.Pattern | None = None) -> str:
    if type(x) is not str or len(x) > limit or (pattern is not None and not pattern.fullmatch(x)):
        raise CodecError("a malformed text field")
    return x


def _bytes(x: object) -> bytes:
    try:
        return base64.b64decode(_text(x, MAX_BYTES), validate=True)
    except binascii.Error as exc:
        raise CodecError(f"bad base64 ({exc})") from None


def _module(name: object) -> types.ModuleType:
    name = _text(name, 200, _MODULE)
    if name in sys.modules:
        return sys.modules[name]
    try:  # the decoder's own import path: the standard library and the packages its task declares
        return importlib.import_module(name)
    except ImportError as exc:
        raise CodecError(f"module {name!r} cannot be imported here ({exc})") from None


def _complex(x: object) -> complex:
    if not _is_list(x, 2):
        raise CodecError("a malformed complex number")
    return complex(_number(x[0]), _number(x[1]))


def _builtin_type(name: object) -> type:
    found = getattr(builtins, _text(name, 100), None)
    if type(found) is not type:
        raise CodecError(f"{name!r} names no built-in type")
    return found


def _fraction(x: object) -> fractions.Fraction:
    if not (_is_list(x, 2) and all(type(v) is int for v in x) and x[1] != 0):
        raise CodecError("a malformed fraction")
    return fractions.Fraction(x[0], x[1])


def _range(x: object) -> range:
    if not (_is_list(x, 3) and all(type(v) is int for v in x) and x[2] != 0):
        raise CodecError("a malformed range")
    return range(*x)


def _defaultdict_of(x: object) -> collections.defaultdict:
    if not (_is_list(x, 2) and (x[0] is None or x[0] in _FACTORIES)):
        raise CodecError("a malformed defaultdict")
    return collections.defaultdict(_FACTORIES.get(x[0]), _pairs(x[1]))


def _deque(x: object) -> collections.deque:
    if not (_is_list(x, 2) and (x[1] is None or (type(x[1]) is int and x[1] >= 0))):
        raise CodecError("a malformed deque")
    return collections.deque(_items(x[0]), x[1])


def _hashable(build: Callable[[list], object]) -> Callable[[object], object]:
    def checked(x: object) -> object:
        try:
            return build(_items(x))
        except TypeError as exc:  # unhashable member or key
            raise CodecError(str(exc)) from None

    return checked


_BUILDERS: dict[str, Callable[[object], object]] = {
    "t": lambda x: tuple(_items(x)),
    "d": _hashable(lambda x: dict(_pairs(x))),
    "s": _hashable(set),
    "f": _hashable(frozenset),
    "b": _bytes,
    "ba": lambda x: bytearray(_bytes(x)),
    "i": lambda x: int(_text(x, 1_000_000, _HEX), 16),
    "c": _complex,
    "m": _module,
    "ty": _builtin_type,
    "it": lambda x: iter(_items(x)),
    "C": _hashable(lambda x: collections.Counter(dict(_pairs(x)))),
    "od": _hashable(lambda x: collections.OrderedDict(_pairs(x))),
    "dd": _hashable(_defaultdict_of),
    "dq": _deque,
    "D": lambda x: decimal.Decimal(_text(x, 10_000)),
    "Fr": _fraction,
    "r": _range,
    "kv": _hashable(lambda x: dict.fromkeys(x).keys()),
    "vv": lambda x: dict(enumerate(_items(x))).values(),
    "iv": _hashable(lambda x: dict(_pairs(x)).items()),
}

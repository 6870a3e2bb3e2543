"""numpy and pandas values on the wire (`codec`), for the tasks that declare those packages (DS-1000).

numpy: arrays of numbers, booleans, strings, datetimes and timedeltas travel as dtype, shape and raw bytes (``np``),
object arrays item by item (``npo``), scalars as dtype and bytes (``nps``). pandas: DataFrame (``pdf``), Series
(``pds``), Index (``pdi``), RangeIndex (``pdr``), MultiIndex (``pdm``), Categorical (``pdc``), arrays of extension
dtypes by their items and dtype name (``pda``), Timestamp (``pdt``), Timedelta (``pdd``), NaT (``pdn``) and NA
(``pdna``). The decoder builds them with numpy's and pandas' own constructors from plain parts only: no object array
from raw memory, no structured dtype, no pickle. Other numpy / pandas objects are handles. numpy and pandas are
imported when such a value arrives, so a task that does not declare them fails to decode it.
"""

from __future__ import annotations

import base64
import math

from .codec import CodecError, _bytes, _is_list, _items, _text

_KINDS = "biufcmMSU"  # dtype kinds that travel as raw bytes


def encode(x: object, enc, depth: int) -> object | None:
    """The wire form of a numpy / pandas value, or None (the caller makes it a handle)."""
    if type(x).__module__.partition(".")[0] == "numpy":
        import numpy as np

        if isinstance(x, np.ndarray):
            return _array(x, enc, depth)
        if isinstance(x, np.generic) and x.dtype.kind in _KINDS:
            return {"nps": [x.dtype.str, base64.b64encode(x.tobytes()).decode()]}
        return None
    import pandas as pd

    if x is pd.NaT:
        return {"pdn": None}
    if x is pd.NA:
        return {"pdna": None}
    if isinstance(x, pd.Timestamp):
        return {"pdt": [x.isoformat(), None if x.tz is None else str(x.tz)]}
    if isinstance(x, pd.Timedelta):
        return {"pdd": int(x.value)}
    if isinstance(x, pd.DataFrame):
        columns = [_values(x.iloc[:, i], enc, depth) for i in range(x.shape[1])]
        return {"pdf": [enc.encode(x.columns, depth), columns, enc.encode(x.index, depth)]}
    if isinstance(x, pd.Series):
        return {"pds": [_values(x, enc, depth), enc.encode(x.index, depth), enc.encode(x.name, depth)]}
    if isinstance(x, pd.RangeIndex):
        return {"pdr": [x.start, x.stop, x.step, enc.encode(x.name, depth)]}
    if isinstance(x, pd.MultiIndex):
        levels = [_values(x.get_level_values(i), enc, depth) for i in range(x.nlevels)]
        return {"pdm": [levels, [enc.encode(n, depth) for n in x.names]]}
    if isinstance(x, pd.Index):
        return {"pdi": [_values(x, enc, depth), enc.encode(x.name, depth)]}
    if isinstance(x, pd.Categorical):
        return {"pdc": [_array(x.codes, enc, depth), enc.encode(x.categories, depth), bool(x.ordered)]}
    return None


def _array(x, enc, depth: int) -> object:
    import numpy as np

    if x.dtype.hasobject:
        return {"npo": [list(x.shape), [enc.encode(v, depth) for v in x.ravel().tolist()]]}
    if x.dtype.kind in _KINDS and x.dtype.fields is None:
        data = base64.b64encode(np.ascontiguousarray(x).tobytes()).decode()
        return {"np": [x.dtype.str, list(x.shape), data]}
    return enc.other(x)


def _values(x, enc, depth: int) -> object:
    """A Series' or Index's values: a numpy array, a Categorical, or an extension array by its items and dtype."""
    import numpy as np
    import pandas as pd

    if isinstance(x.dtype, np.dtype):
        return _array(x.to_numpy(), enc, depth)
    if isinstance(x.dtype, pd.CategoricalDtype):
        return encode(pd.Categorical(x), enc, depth)
    return {"pda": [[enc.encode(v, depth) for v in x.array], str(x.dtype)]}


def decode(tag: str, x: object) -> object:
    """The value of a numpy / pandas tag."""
    build = _BUILDERS.get(tag)
    if build is None:
        raise CodecError(f"unknown tag {tag[:20]!r}")
    try:
        return build(x)
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise CodecError(f"a malformed {tag} value ({type(exc).__name__}: {str(exc)[:200]})") from None


def _dtype(name: object):
    import numpy as np

    dtype = np.dtype(_text(name, 40))
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.hasobject:
        raise CodecError(f"dtype {dtype} does not travel as bytes")
    return dtype


def _shape(x: object) -> tuple[int, ...]:
    if not (_is_list(x) and len(x) <= 32 and all(type(n) is int and n >= 0 for n in x)):
        raise CodecError("a malformed shape")
    return tuple(x)


def _np(x: object):
    import numpy as np

    if not _is_list(x, 3):
        raise CodecError("a malformed array")
    dtype, shape, data = _dtype(x[0]), _shape(x[1]), _bytes(x[2])
    if math.prod(shape) * dtype.itemsize != len(data):
        raise CodecError("an array whose bytes do not fit its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _npo(x: object):
    import numpy as np

    if not _is_list(x, 2):
        raise CodecError("a malformed object array")
    shape, items = _shape(x[0]), _items(x[1])
    if math.prod(shape) != len(items):
        raise CodecError("an object array whose items do not fit its shape")
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):  # one by one: assigning a list of lists would broadcast
        array[i] = item
    return array.reshape(shape)


def _nps(x: object):
    import numpy as np

    if not _is_list(x, 2):
        raise CodecError("a malformed numpy scalar")
    dtype, data = _dtype(x[0]), _bytes(x[1])
    if len(data) != dtype.itemsize:
        raise CodecError("a numpy scalar of the wrong size")
    return np.frombuffer(data, dtype=dtype)[0]


def _index(x: object):
    import pandas as pd

    if isinstance(x, pd.Index):
        return x
    raise CodecError("an index that is not one")


def _pdf(x: object):
    import pandas as pd

    if not (_is_list(x, 3) and _is_list(x[1])):
        raise CodecError("a malformed DataFrame")
    columns, index = _index(x[0]), _index(x[2])
    if len(columns) != len(x[1]):
        raise CodecError("a DataFrame with a column count that does not match its columns")
    frame = pd.DataFrame({i: pd.Series(values, index=index, copy=False) for i, values in enumerate(x[1])}, index=index)
    frame.columns = columns
    return frame


def _pds(x: object):
    import pandas as pd

    if not _is_list(x, 3):
        raise CodecError("a malformed Series")
    return pd.Series(x[0], index=_index(x[1]), name=x[2])


def _pdi(x: object):
    import pandas as pd

    if not _is_list(x, 2):
        raise CodecError("a malformed Index")
    return pd.Index(x[0], name=x[1], tupleize_cols=False)


def _pdr(x: object):
    import pandas as pd

    if not (_is_list(x, 4) and all(type(v) is int for v in x[:3]) and x[2] != 0):
        raise CodecError("a malformed RangeIndex")
    return pd.RangeIndex(x[0], x[1], x[2], name=x[3])


def _pdm(x: object):
    import pandas as pd

    if not (_is_list(x, 2) and _is_list(x[0]) and _is_list(x[1]) and len(x[0]) == len(x[1])):
        raise CodecError("a malformed MultiIndex")
    return pd.MultiIndex.from_arrays(x[0], names=x[1])


def _pdc(x: object):
    import numpy as np
    import pandas as pd

    if not (_is_list(x, 3) and isinstance(x[0], np.ndarray) and type(x[2]) is bool):
        raise CodecError("a malformed Categorical")
    return pd.Categorical.from_codes(x[0], categories=_index(x[1]), ordered=x[2])


def _pda(x: object):
    import pandas as pd

    if not (_is_list(x, 2) and _is_list(x[0])):
        raise CodecError("a malformed extension array")
    return pd.array(x[0], dtype=_text(x[1], 60))


def _pdt(x: object):
    import pandas as pd

    if not (_is_list(x, 2) and (x[1] is None or type(x[1]) is str)):
        raise CodecError("a malformed Timestamp")
    stamp = pd.Timestamp(_text(x[0], 60))
    return stamp if x[1] is None or str(stamp.tz) == x[1] else stamp.tz_convert(x[1])


def _pdd(x: object):
    import pandas as pd

    if type(x) is not int:
        raise CodecError("a malformed Timedelta")
    return pd.Timedelta(x, unit="ns")


def _pdn(x: object):
    import pandas as pd

    return pd.NaT


def _pdna(x: object):
    import pandas as pd

    return pd.NA


_BUILDERS = {
    "np": _np,
    "npo": _npo,
    "nps": _nps,
    "pdf": _pdf,
    "pds": _pds,
    "pdi": _pdi,
    "pdr": _pdr,
    "pdm": _pdm,
    "pdc": _pdc,
    "pda": _pda,
    "pdt": _pdt,
    "pdd": _pdd,
    "pdn": _pdn,
    "pdna": _pdna,
}

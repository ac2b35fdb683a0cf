"""Codecs: how a value becomes the bytes of an object, and back.

The codec name is recorded next to the oid in every manifest and is all a reader needs to
decode the object. A name never changes meaning: a future incompatible format gets a new
name (``"arrow/pandas.2"``) and the old decoder stays, so the name doubles as the version.

========================  ======================================================
name                      used for
========================  ======================================================
``msgpack``               plain values (see ``canonical.is_plain``); dict order and
                          tuples are kept exactly
``npy``                   numpy arrays without Python objects, ``.npy`` format,
                          never pickled
``npy/scalar``            numpy scalars (``np.float64`` ...), a 0-d ``.npy``
``arrow/pandas``          pandas DataFrames, uncompressed Arrow IPC file with
                          pyarrow's pandas metadata (index, dtypes, attrs)
``arrow/pandas-series``   pandas Series, as a one-column frame
``arrow/polars``          polars DataFrames
``arrow/polars-series``   polars Series
``arrow/table``           pyarrow Tables (decoded zero-copy)
``pickle``                anything else; runs code when loaded (see below)
========================  ======================================================

Type checks never import pandas, numpy, pyarrow or polars: a value can only be a
DataFrame if pandas is already in ``sys.modules``, so the check looks there (see
``lazytypes``). The Arrow codecs live in ``arrow_codecs``; this module keeps the rest
and the registry (``choose_codec``, ``get_codec``).

Pickle: decoding a pickle runs arbitrary code, so flowyml decodes only pickles read back
from the user's own local object store, which wrote them. ``ObjectStore(...,
allow_pickle=False)`` refuses them; objects that came from anywhere else (a remote, a
shared folder) must be read through such a store unless the user opts in.

``encode`` returns one bytes-like object or a list of them; the store hashes and writes
the chunks back to back without joining them, so a large array or table is never copied
into one buffer. ``decode`` takes any bytes-like object, including a read-only memory map.
"""

from __future__ import annotations

import io
import math
from typing import Any, Protocol, runtime_checkable

import msgpack

from flowyml.errors import CodecError
from flowyml.store.arrow_codecs import (
    ArrowTableCodec,
    PandasFrameCodec,
    PandasSeriesCodec,
    PolarsFrameCodec,
    PolarsSeriesCodec,
)
from flowyml.store.canonical import is_plain
from flowyml.store.lazytypes import is_exact, loaded_class

__all__ = ["Codec", "choose_codec", "codec_names", "get_codec"]

# msgpack extension type for tuples, so the msgpack codec gives back what it was given.
_EXT_TUPLE = 1


@runtime_checkable
class Codec(Protocol):
    """Turns values of some types into bytes and back.

    Attributes:
        name: the codec name recorded in manifests, e.g. ``"arrow/pandas"``.
    """

    name: str

    def accepts(self, value: Any) -> bool:
        """Tell whether this codec can store ``value`` faithfully (type check only)."""

    def encode(self, value: Any) -> Any:
        """Return the stored form: a bytes-like object or a list of bytes-like chunks."""

    def decode(self, buffer: Any) -> Any:
        """Rebuild the value from the stored bytes (any bytes-like object)."""


# -- msgpack ---------------------------------------------------------------------------


def _pack_default(value: Any) -> Any:
    if type(value) is tuple:
        return msgpack.ExtType(_EXT_TUPLE, _packb(list(value)))
    raise TypeError(f"{type(value).__name__} is not a plain value")


def _packb(value: Any) -> bytes:
    # strict_types sends tuples to _pack_default instead of packing them as lists.
    return msgpack.packb(value, default=_pack_default, strict_types=True)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_TUPLE:
        return tuple(_unpackb(data))
    raise CodecError(f"unknown msgpack extension type {code}")


def _unpackb(data: Any) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_ext_hook)


class MsgpackCodec:
    """Plain values as msgpack, exactly as given.

    Unlike ``canonical.pack`` (used for manifests and keys), dict insertion order is
    kept and tuples come back as tuples, because a step downstream may depend on either.
    The bytes are still deterministic: the same value built the same way always gives
    the same oid.
    """

    name = "msgpack"

    def accepts(self, value: Any) -> bool:
        """Plain values only (see ``canonical.is_plain``)."""
        return is_plain(value)

    def encode(self, value: Any) -> bytes:
        """Pack ``value``; raises CodecError for values msgpack cannot hold exactly."""
        if type(value) is int or type(value) is str or value is None:
            try:
                return msgpack.packb(value)  # fast path for the commonest small outputs
            except OverflowError as exc:
                raise CodecError(f"int {value} does not fit msgpack's 64 bits") from exc
        try:
            # strict_types sends subclasses (enums, numpy floats) to _pack_default, which
            # refuses them, so nothing comes back as a different type.
            return _packb(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"msgpack cannot store this {type(value).__name__}: {exc}") from exc

    def decode(self, buffer: Any) -> Any:
        """Unpack the value; raises CodecError on bytes that are not msgpack."""
        try:
            return _unpackb(buffer)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise CodecError(f"object is not valid msgpack: {exc}") from exc


# -- numpy -----------------------------------------------------------------------------


def _npy_chunks(array: Any) -> list[Any]:
    """The ``.npy`` bytes of ``array`` as [header, body], the body a view, not a copy."""
    import numpy as np

    fmt = np.lib.format
    header_data = fmt.header_data_from_array_1_0(array)
    header = io.BytesIO()
    try:
        fmt.write_array_header_1_0(header, header_data)
    except ValueError:  # header longer than 64 KiB: many fields or dimensions
        header = io.BytesIO()
        fmt.write_array_header_2_0(header, header_data)
    # .npy stores Fortran-ordered arrays as the C-order bytes of their transpose.
    body = array.T if header_data["fortran_order"] else np.ascontiguousarray(array)
    if body.dtype.itemsize == 0:
        return [header.getvalue()]
    return [header.getvalue(), memoryview(body.reshape(-1).view(np.uint8))]


def _encode_npy(array: Any) -> Any:
    try:
        return _npy_chunks(array)
    except UnicodeEncodeError:  # non-latin-1 field names need the 3.0 header numpy picks
        import numpy as np

        out = io.BytesIO()
        np.save(out, array, allow_pickle=False)
        return out.getbuffer()


def _decode_npy(buffer: Any) -> Any:
    """Read an ``.npy`` image without pickle; the array owns (a copy of) its memory."""
    import numpy as np

    view = memoryview(buffer).cast("B")
    fmt = np.lib.format
    try:
        head = io.BytesIO(view[:70000])  # a 1.0/2.0 header is at most 64 KiB + 12 bytes
        version = fmt.read_magic(head)
        read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read_header is None:  # a 3.0 header (utf-8 names): let numpy read it
            return np.load(io.BytesIO(view), allow_pickle=False)
        shape, fortran, dtype = read_header(head)
        if dtype.hasobject:
            raise CodecError("npy object holds Python objects; refusing to unpickle it")
        count = math.prod(shape)
        if dtype.itemsize == 0:
            return np.zeros(shape, dtype=dtype)
        flat = np.frombuffer(view, dtype=dtype, count=count, offset=head.tell())
        array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    except (ValueError, EOFError) as exc:
        raise CodecError(f"object is not a valid .npy image: {exc}") from exc
    # Views of the store's read-only buffer would be read-only; the step that made the
    # array could write to it, so the one that loads it must be able to as well.
    return array if array.flags.writeable else array.copy(order="K")


class NpyCodec:
    """Numpy arrays as ``.npy`` (``allow_pickle=False``); object arrays are refused."""

    name = "npy"

    def accepts(self, value: Any) -> bool:
        """Exact ``numpy.ndarray`` (not a subclass) whose dtype holds no Python objects."""
        return is_exact(value, "numpy", "ndarray") and not value.dtype.hasobject

    def encode(self, value: Any) -> Any:
        """Return the ``.npy`` image as chunks; raises CodecError for object arrays."""
        if not is_exact(value, "numpy", "ndarray"):
            raise CodecError(f"npy stores numpy arrays, not {type(value).__name__}")
        if value.dtype.hasobject:
            raise CodecError("npy refuses arrays holding Python objects (dtype=object); they need pickle")
        return _encode_npy(value)

    def decode(self, buffer: Any) -> Any:
        """Return a writable array equal to the stored one."""
        return _decode_npy(buffer)


class NumpyScalarCodec:
    """Numpy scalars (``np.float64(0.5)``) as a 0-d ``.npy``, so their type survives."""

    name = "npy/scalar"

    def accepts(self, value: Any) -> bool:
        """Instances of ``numpy.generic`` without Python objects inside."""
        generic = loaded_class("numpy", "generic")
        return generic is not None and isinstance(value, generic) and not value.dtype.hasobject

    def encode(self, value: Any) -> Any:
        """Return the 0-d ``.npy`` image of the scalar."""
        if not self.accepts(value):
            raise CodecError(f"npy/scalar stores numpy scalars, not {type(value).__name__}")
        import numpy as np

        return _encode_npy(np.asarray(value))

    def decode(self, buffer: Any) -> Any:
        """Return the numpy scalar."""
        return _decode_npy(buffer)[()]


# -- pickle ----------------------------------------------------------------------------


class PickleCodec:
    """Anything picklable. Loading a pickle runs code: only the local store decodes it."""

    name = "pickle"

    def accepts(self, value: Any) -> bool:
        """Always True: pickle is the fallback (``encode`` fails for unpicklable values)."""
        return True

    def encode(self, value: Any) -> bytes:
        """Pickle with the highest protocol; raises CodecError if the value cannot be."""
        try:
            import pickle  # only for this codec: ~2.5 ms of import time

            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # pickling raises whatever the object's __reduce__ raises
            raise CodecError(
                f"cannot store {type(value).__module__}.{type(value).__qualname__}: it cannot be pickled ({exc})"
            ) from exc

    def decode(self, buffer: Any) -> Any:
        """Unpickle; call only on bytes from the local store (see module docstring)."""
        try:
            import pickle

            return pickle.loads(buffer)
        except Exception as exc:  # unpickling can raise anything
            raise CodecError(f"cannot unpickle object: {exc}") from exc


# -- registry --------------------------------------------------------------------------

_MSGPACK = MsgpackCodec()
_PICKLE = PickleCodec()
# Order matters: the first codec that accepts a value is chosen; pickle catches the rest.
_BY_TYPE: tuple[Codec, ...] = (
    NpyCodec(),
    NumpyScalarCodec(),
    PandasFrameCodec(),
    PandasSeriesCodec(),
    PolarsFrameCodec(),
    PolarsSeriesCodec(),
    ArrowTableCodec(),
)
_CODECS: dict[str, Codec] = {c.name: c for c in (_MSGPACK, *_BY_TYPE, _PICKLE)}


def choose_codec(value: Any) -> Codec:
    """Pick the codec for a value by its type.

    msgpack for plain values, npy for numpy arrays (object arrays go to pickle), Arrow
    for pandas/polars/pyarrow tables, pickle for everything else. The check is by type
    only; an encoder may still refuse a value (``ObjectStore.put`` then uses pickle).

    Args:
        value: the value to store.

    Returns:
        The codec to encode it with.
    """
    if is_plain(value):
        return _MSGPACK
    for codec in _BY_TYPE:
        if codec.accepts(value):
            return codec
    return _PICKLE


def get_codec(name: str) -> Codec:
    """Return the codec recorded under ``name``.

    Args:
        name: a codec name from a manifest, e.g. ``"arrow/pandas"``.

    Returns:
        The codec.

    Raises:
        CodecError: if no codec has that name.
    """
    try:
        return _CODECS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_CODECS))
        raise CodecError(f"unknown codec {name!r}; known codecs: {known}") from None


def codec_names() -> tuple[str, ...]:
    """Return the names of every codec, sorted."""
    return tuple(sorted(_CODECS))

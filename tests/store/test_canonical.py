"""Canonical msgpack and the blake3 digest."""

from __future__ import annotations

import collections
import enum

import blake3
import pytest

from flowyml.errors import CodecError
from flowyml.store.canonical import digest, digest_chunks, is_plain, pack, unpack


def test_dicts_filled_in_different_orders_pack_to_the_same_bytes() -> None:
    a = {"b": 1, "a": {"y": [1, {"q": 2, "p": 3}], "x": None}}
    b = {"a": {"x": None, "y": [1, {"p": 3, "q": 2}]}, "b": 1}
    assert list(a) != list(b)
    assert pack(a) == pack(b)
    assert digest(pack(a)) == digest(pack(b))


def test_unpack_gives_back_the_value_with_keys_sorted() -> None:
    value = {"z": 1.5, "a": [b"raw", "text", True, None, -(2**63), 2**64 - 1]}
    out = unpack(pack(value))
    assert out == value
    assert list(out) == ["a", "z"]


def test_tuples_pack_as_lists() -> None:
    # Documented: canonical packing has no tuple type; (1, 2) and [1, 2] are the same value.
    assert pack((1, (2, 3))) == pack([1, [2, 3]])
    assert unpack(pack({"t": (1, 2)})) == {"t": [1, 2]}


def test_scalar_fast_path_matches_the_general_path() -> None:
    for value in (0, -1, 2**40, 1.25, "s", b"b", None, True):
        assert pack(value) == pack([value])[1:]  # a one-element array is a 1-byte header + the value


def test_int_keys_are_sorted_after_str_keys() -> None:
    assert unpack(pack({2: "b", "k": 0, 1: "a"})) == {"k": 0, 1: "a", 2: "b"}
    assert list(unpack(pack({2: "b", "k": 0, 1: "a"}))) == ["k", 1, 2]


def test_pack_refuses_what_msgpack_cannot_hold() -> None:
    with pytest.raises(CodecError):
        pack({"x": object()})
    with pytest.raises(CodecError):
        pack(2**64)
    with pytest.raises(CodecError):
        pack({(1, 2): "tuple key"})


def test_unpack_refuses_garbage() -> None:
    with pytest.raises(CodecError):
        unpack(b"\xc1")  # never used in msgpack
    with pytest.raises(CodecError):
        unpack(pack([1, 2, 3])[:-1])  # truncated


class Colour(enum.Enum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**63), 2**64 - 1, 1.5, float("nan"), "", b"", [], (), {}, [1, ("a", b"b")], {"k": {"n": [None]}}],
)
def test_plain_values(value: object) -> None:
    assert is_plain(value)


@pytest.mark.parametrize(
    "value",
    [
        2**64,
        -(2**63) - 1,
        {1: "int key"},
        {1.5, 2.5},
        bytearray(b"x"),
        collections.OrderedDict(a=1),
        collections.namedtuple("P", "x")(1),
        Colour.RED,
        [1, object()],
        {"k": [1, {"deep": object()}]},
    ],
)
def test_values_that_are_not_plain(value: object) -> None:
    assert not is_plain(value)


def test_numpy_scalars_are_not_plain() -> None:
    np = pytest.importorskip("numpy")
    assert not is_plain(np.float64(1.0))  # a float subclass: msgpack would return a float
    assert not is_plain([np.int64(1)])


def test_self_referencing_value_is_not_plain() -> None:
    loop: list = []
    loop.append(loop)
    assert not is_plain(loop)


def test_digest_is_blake3_hex() -> None:
    assert digest(b"abc") == blake3.blake3(b"abc").hexdigest()
    assert len(digest(b"")) == 64
    assert digest(memoryview(b"abc")) == digest(bytearray(b"abc"))


def test_large_inputs_hash_the_same_threaded() -> None:
    data = bytes(range(256)) * 20_000  # 5 MB: above the threaded-hashing threshold
    assert digest(data) == blake3.blake3(data).hexdigest()
    assert digest(memoryview(data)) == digest(data)


def test_digest_chunks_equals_digest_of_the_concatenation() -> None:
    chunks = [b"head", memoryview(b"x" * 3_000_000), bytearray(b"tail")]
    joined = b"".join(bytes(c) for c in chunks)
    assert digest_chunks(chunks) == digest(joined)
    assert digest_chunks(chunks, total=len(joined)) == digest(joined)
    assert digest_chunks([b"a", b"b"], total=2) == digest(b"ab")

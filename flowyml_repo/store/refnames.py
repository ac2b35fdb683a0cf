"""Safe git ref names for arbitrary pipeline, step and project names.

Every ref flowyml writes lives under ``refs/flowyml/``. A user's names can hold
anything (spaces, slashes, ``..``, unicode), so each name becomes exactly one ref
*component* through :func:`encode_component`:

* ``[A-Za-z0-9_-]`` and ``.`` are kept, so ``git log refs/flowyml/runs/train_model``
  reads naturally;
* every other byte of the UTF-8 form is written ``%XX`` (upper-case hex), so ``/``
  can never add a path level and nothing git forbids (space, ``~ ^ : ? * [ \\``,
  ``@{``, control characters) survives;
* a ``.`` that would start the component, end it, or follow another ``.`` is
  escaped too, as is a leading ``-`` and the dot of a trailing ``.lock``;
* the empty name is the lone ``%``;
* a component longer than :data:`MAX_COMPONENT` is cut and ends in ``%_`` plus 16
  hex digits of the name's hash. Encoding never otherwise produces ``%_``, so such
  names stay unique and are recognisable; decoding them is lossy (see
  :func:`decode_component`).

Known limit: names that differ only in letter case map to different refs, which a
case-insensitive file system (macOS, Windows) stores in one file. Both histories
then share that ref; compare-and-swap still keeps every run.
"""

from __future__ import annotations

import hashlib
import re

ROOT = "refs/flowyml/"
RUNS_PREFIX = ROOT + "runs/"

#: Longest encoded component, in characters. A file name may hold 255 bytes and git
#: appends ``.lock`` while writing; 120 leaves room and keeps ``git log`` lines short.
MAX_COMPONENT = 120

_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_HASH_MARK = "%_"
_ESCAPE = re.compile(r"%([0-9A-F]{2})")
_COMPONENT = re.compile(r"^(%|(?:[A-Za-z0-9_.-]|%[0-9A-F]{2})+(?:%_[0-9a-f]{16})?)$")
# What git's check-ref-format refuses anywhere in a ref name.
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)|^/|/$|\.$")


def encode_component(name: str) -> str:
    """Turn any string into one safe, reversible git ref component.

    Args:
        name: a pipeline, step or project name; any string, including ``""``.

    Returns:
        A component that passes ``git check-ref-format`` and holds no ``/``.
    """
    if name == "":
        return "%"
    data = name.encode("utf-8", "surrogatepass")
    out: list[str] = []
    last = len(data) - 1
    for i, byte in enumerate(data):
        out.append(chr(byte) if _keep_byte(data, i, last) else f"%{byte:02X}")
    encoded = "".join(out)
    if encoded.lower().endswith(".lock"):
        encoded = encoded[:-5] + "%2E" + encoded[-4:]
    if len(encoded) > MAX_COMPONENT:
        encoded = _shorten(encoded, data)
    return encoded


def _keep_byte(data: bytes, i: int, last: int) -> bool:
    """Whether byte ``i`` of ``data`` may stay as it is in a component."""
    byte = data[i]
    if byte == ord("."):
        return 0 < i < last and data[i - 1] != ord(".")
    if byte == ord("-"):
        return i > 0
    return byte in _KEEP


def _shorten(encoded: str, data: bytes) -> str:
    """Cut an over-long component and append a hash of the whole name."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    keep = MAX_COMPONENT - len(_HASH_MARK) - len(digest)
    head = encoded[:keep]
    # Never cut an escape in half: drop a dangling "%" or "%X".
    cut = head.rfind("%", max(0, keep - 2))
    if cut != -1:
        head = head[:cut]
    return head + _HASH_MARK + digest


def is_shortened(component: str) -> bool:
    """Whether ``component`` was cut to :data:`MAX_COMPONENT` and carries a hash."""
    return _HASH_MARK in component


def decode_component(component: str) -> str:
    """Invert :func:`encode_component`.

    Args:
        component: a component made by :func:`encode_component`.

    Returns:
        The original name. For a shortened component (see :func:`is_shortened`)
        the original cannot be recovered: the kept head is returned followed by
        ``"…"``; store the full name elsewhere (the manifest) when it matters.

    Raises:
        ValueError: ``component`` is not something :func:`encode_component` makes.
    """
    if not _COMPONENT.match(component):
        raise ValueError(f"not an encoded flowyml ref component: {component!r}")
    if component == "%":
        return ""
    head, mark, _ = component.partition(_HASH_MARK)
    raw = _ESCAPE.sub(lambda m: "\x00" + m.group(1), head)
    data = bytearray()
    parts = raw.split("\x00")
    data += parts[0].encode("ascii")
    for part in parts[1:]:
        data.append(int(part[:2], 16))
        data += part[2:].encode("ascii")
    if mark:
        # The cut may have split the last character's UTF-8 bytes.
        return bytes(data).decode("utf-8", "ignore") + "…"
    name = bytes(data).decode("utf-8", "surrogatepass")
    if encode_component(name) != component:  # e.g. ".x" or "%2D" where "-" is kept
        raise ValueError(f"not an encoded flowyml ref component: {component!r}")
    return name


def ref_for(kind: str, *names: str) -> str:
    """Build a ref under ``refs/flowyml/<kind>/`` from user-supplied names.

    Args:
        kind: a fixed, flowyml-chosen word such as ``"runs"`` or ``"versions"``.
        *names: user names, each encoded into one component.

    Returns:
        For example ``ref_for("runs", "my pipeline")`` is
        ``"refs/flowyml/runs/my%20pipeline"``.

    Raises:
        ValueError: ``kind`` is not a plain lower-case word, or no name was given.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", kind):
        raise ValueError(f"ref kind must be a plain lower-case word, not {kind!r}")
    if not names:
        raise ValueError("ref_for needs at least one name")
    return ROOT + kind + "/" + "/".join(encode_component(n) for n in names)


def run_ref(pipeline_name: str) -> str:
    """The ref whose commits are the runs of ``pipeline_name``."""
    return ref_for("runs", pipeline_name)


def parse_ref(ref: str) -> tuple[str, tuple[str, ...]]:
    """Split a ref made by :func:`ref_for` back into its kind and names.

    Args:
        ref: for example ``"refs/flowyml/runs/my%20pipeline"``.

    Returns:
        ``(kind, names)``, for example ``("runs", ("my pipeline",))``.

    Raises:
        ValueError: ``ref`` is not under ``refs/flowyml/`` or is not encoded.
    """
    if not ref.startswith(ROOT):
        raise ValueError(f"not a flowyml ref: {ref!r}")
    kind, _, rest = ref[len(ROOT) :].partition("/")
    if not kind or not rest:
        raise ValueError(f"flowyml ref has no name part: {ref!r}")
    return kind, tuple(decode_component(c) for c in rest.split("/"))


def check_ref(ref: str) -> str:
    """Check that ``ref`` is a well-formed ref under ``refs/flowyml/``.

    Args:
        ref: the full ref name.

    Returns:
        ``ref`` unchanged, so the call can be used inline.

    Raises:
        ValueError: the ref is outside ``refs/flowyml/`` or git would refuse it.
    """
    if not isinstance(ref, str) or not ref.startswith(ROOT) or len(ref) == len(ROOT):
        raise ValueError(f"flowyml only writes refs under {ROOT!r}, not {ref!r}")
    if _BAD_REF.search(ref) or any(c.startswith(".") for c in ref.split("/")):
        raise ValueError(f"{ref!r} is not a valid git ref name")
    return ref

"""Plain files as git trees: ``{path: bytes}`` written as nested trees and read back.

Paths use ``/`` and must be names git (and ``git fsck --strict``) accepts. Objects
are written and read through callables the caller gives, so this module never opens
a repository and never decides how objects are stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from flowyml.errors import ObjectNotFound

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dulwich.objects import ShaFile

__all__ = ["read_file", "read_files", "split_path", "write_tree"]

_FILE_MODE = 0o100644
_TREE_MODE = 0o040000


def split_path(path: str) -> list[str]:
    """Split a tree path and refuse names git (or ``fsck --strict``) rejects.

    Raises:
        ValueError: an empty path or a component ``""``, ``.``, ``..``, ``.git`` or with NUL.
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"tree path must be a non-empty string, not {path!r}")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or part.lower() == ".git" or "\0" in part:
            raise ValueError(f"tree path {path!r} has a forbidden component {part!r}")
    return parts


def write_tree(tree_files: Mapping[str, bytes], add: Callable[[ShaFile], None]) -> bytes:
    """Write blobs and (nested) trees for ``tree_files``; return the root tree id.

    Args:
        tree_files: path -> bytes; ``a/b.json`` makes a subfolder ``a``.
        add: writes one object (blobs and subtrees are added before the trees naming them).

    Raises:
        ValueError: a bad path, or one that is both a file and a folder.
    """
    from dulwich.objects import Blob, Tree

    nested: dict = {}
    for path, data in tree_files.items():
        *folders, name = split_path(path)
        node = nested
        for folder in folders:
            node = node.setdefault(folder, {})
            if not isinstance(node, dict):
                raise ValueError(f"tree path {path!r} runs through a file")
        if name in node:
            raise ValueError(f"tree path {path!r} is both a file and a folder")
        node[name] = bytes(data)

    def build(node: dict) -> bytes:
        tree = Tree()
        for name, value in node.items():
            if isinstance(value, dict):
                tree.add(name.encode(), _TREE_MODE, build(value))
            else:
                blob = Blob.from_string(value)
                add(blob)
                tree.add(name.encode(), _FILE_MODE, blob.id)
        add(tree)
        return tree.id

    return build(nested)


def read_file(get: Callable[[str], ShaFile], tree_id: str, path: str, commit: str) -> bytes:
    """The bytes of file ``path`` under tree ``tree_id`` (of commit ``commit``, for errors).

    Args:
        get: reads one object by hex id, raising ObjectNotFound.

    Raises:
        ObjectNotFound: no such file.
    """
    from dulwich.objects import Tree

    obj = get(tree_id)
    for name in split_path(path):
        if not isinstance(obj, Tree) or name.encode() not in obj:
            raise ObjectNotFound(f"{commit}:{path}", where="history")
        obj = get(obj[name.encode()][1].decode())
    if isinstance(obj, Tree):
        raise ObjectNotFound(f"{commit}:{path}", where="history (a folder)")
    return obj.as_raw_string()


def read_files(get: Callable[[str], ShaFile], tree_id: str) -> dict[str, bytes]:
    """Every file under tree ``tree_id``, ``{path: bytes}`` with ``/`` separators.

    Args:
        get: reads one object by hex id, raising ObjectNotFound.
    """
    files: dict[str, bytes] = {}

    def walk(tree_id: str, prefix: str) -> None:
        for item in get(tree_id).iteritems():
            name = prefix + item.path.decode()
            if item.mode == _TREE_MODE:
                walk(item.sha.decode(), name + "/")
            else:
                files[name] = get(item.sha.decode()).as_raw_string()

    walk(tree_id, "")
    return files

"""Where code comes from: the user's project, or Python and installed packages.

Fingerprints follow project-local functions, classes and modules into their code and
name library ones only (``module:qualname`` and the package's ``__version__``).
"Project-local" means defined in ``__main__``, in a module without a file, or in a
file outside the interpreter's prefixes, the standard library and site-packages.
flowyml itself counts as a library. Answers are memoised per path and per module.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import types

__all__ = [
    "class_is_local",
    "function_is_local",
    "library_roots",
    "module_is_local",
    "package_version",
    "path_is_local",
    "top_is_local",
]


@functools.lru_cache(maxsize=1)
def library_roots() -> tuple[str, ...]:
    """Folders whose files belong to Python or installed packages, each ending in ``os.sep``.

    The standard library and site-packages folders, plus the interpreter prefixes
    except one that contains the current directory (a project may live under a
    prefix, e.g. a conda base at ``~``).
    """
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    folders = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    try:
        folders += site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # old virtualenv's site.py lacks them
        pass
    cwd = _with_sep(os.path.realpath(os.getcwd()))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        if not cwd.startswith(_with_sep(os.path.realpath(prefix))):
            folders.append(prefix)
    return tuple(sorted({_with_sep(os.path.realpath(f)) for f in folders if f}))


def _with_sep(path: str) -> str:
    return path if path.endswith(os.sep) else path + os.sep


_PATH_LOCAL: dict[str, bool] = {}
_MODULE_LOCAL: dict[str, tuple[types.ModuleType, bool]] = {}
_TOP_LOCAL: dict[str, bool] = {}
_LIBRARY_PACKAGES = frozenset({"flowyml", "flowyml_tui"})


def path_is_local(path: str) -> bool:
    """True for a source file of the user's project (or a pseudo-file like ``<string>``)."""
    known = _PATH_LOCAL.get(path)
    if known is None:
        if not os.path.isabs(path):
            known = True
        else:
            real = os.path.realpath(path)
            parts = real.split(os.sep)
            known = not ("site-packages" in parts or "dist-packages" in parts
                         or real.startswith(library_roots()))
        _PATH_LOCAL[path] = known
    return known


def module_is_local(module: types.ModuleType) -> bool:
    """True if a module belongs to the user's project."""
    name = getattr(module, "__name__", None) or ""
    known = _MODULE_LOCAL.get(name)
    if known is not None and known[0] is module:
        return known[1]
    if name == "__main__":
        local = True
    elif name.partition(".")[0] in _LIBRARY_PACKAGES or name in sys.builtin_module_names:
        local = False
    else:
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        file = getattr(module, "__file__", None)
        if origin in ("built-in", "frozen"):
            local = False
        else:
            local = not file or path_is_local(file)
    _MODULE_LOCAL[name] = (module, local)
    return local


def class_is_local(cls: type) -> bool:
    """True if a class was defined in the user's project."""
    modname = getattr(cls, "__module__", None)
    module = sys.modules.get(modname) if isinstance(modname, str) else None
    return module is None or module_is_local(module)


def function_is_local(fn: types.FunctionType) -> bool:
    """True if a function was defined in the user's project.

    Judged by the namespace it was defined in, not ``__module__``: ``functools.wraps``
    copies ``__module__`` from the wrapped function onto the wrapper.
    """
    namespace = fn.__globals__
    modname = namespace.get("__name__")
    module = sys.modules.get(modname) if isinstance(modname, str) else None
    if module is not None and getattr(module, "__dict__", None) is namespace:
        return module_is_local(module)
    return path_is_local(fn.__code__.co_filename)


def top_is_local(name: str) -> bool:
    """Whether an importable (maybe not yet imported) top-level package is project-local."""
    top = name.partition(".")[0]
    if top in sys.modules:
        return module_is_local(sys.modules[top])
    known = _TOP_LOCAL.get(top)
    if known is None:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin in ("built-in", "frozen"):
            known = False
        elif spec.origin:
            known = top not in _LIBRARY_PACKAGES and path_is_local(spec.origin)
        else:  # namespace package: judge by its first folder
            locations = list(spec.submodule_search_locations or ())
            known = bool(locations) and path_is_local(os.path.join(locations[0], "__init__.py"))
        _TOP_LOCAL[top] = known
    return known


def package_version(modname: str) -> str:
    """The ``__version__`` of the top-level package of ``modname`` if imported, else ``""``."""
    top = sys.modules.get(modname.partition(".")[0])
    version = getattr(top, "__version__", None)
    return version if isinstance(version, str) else ""

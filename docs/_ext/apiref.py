"""The API reference's catalogue: each namespace's public names, and the one page that documents each object.

A namespace's public names are its ``__all__``; a module without one exports the functions,
classes and constants its own source defines at top level (names without a leading underscore).
An object re-exported by several namespaces (``augkit.Compose`` is ``augkit.transforms.Compose``)
is documented once, under the first namespace of :data:`NAMESPACES` that exports it; the
others list it with a link. A cross-reference written with any of an object's import paths
(``:class:`augkit.transforms.Compose```) or its bare name, when that name is unique among the
documented objects, resolves to that page.

The autosummary module template in ``docs/_templates/autosummary`` reads :func:`template_context`.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
import types
import typing
from dataclasses import asdict, dataclass, field
from functools import cache

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

logger = logging.getLogger(__name__)

# Namespaces documented in the API reference, in the order that decides an object's home page.
NAMESPACES = (
    "augkit", "augkit.transforms", "augkit.functional", "augkit.functional.geometry", "augkit.tta",
    "augkit.data", "augkit.sampling", "augkit.params", "augkit.registry", "augkit.validation",
    "nets",
    "ensemble", "ensemble.metrics", "ensemble.recipes",
    "conventions",
)

# The packages whose modules the site places (on the Layout page or in the API reference).
PACKAGES = ("augkit", "nets", "ensemble", "conventions")

# The autosummary section each kind of object goes in, in page order.
# Constants and type aliases are documented inline on their namespace's page, with their value when it is short.
SECTIONS = (("class", "Classes"), ("exception", "Exceptions"), ("function", "Functions"), ("data", "Constants"))
ROLES = {"module": "mod", "class": "class", "exception": "exc", "function": "func", "data": "data"}


def public_names(modname: str) -> list[str]:
    """``__all__`` of module ``modname``, or the public top-level names its source defines."""
    module = importlib.import_module(modname)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [name for name in dict.fromkeys(names) if not name.startswith("_")]


def kind_of(value: object) -> str:
    """"module", "class", "exception", "function" or "data" (type aliases such as ``tuple[int, int]`` too)."""
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, (types.GenericAlias, types.UnionType, typing._GenericAlias)):  # type: ignore[attr-defined]
        return "data"
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if callable(value):
        return "function"
    return "data"


def _short_value(value: object) -> bool:
    text = repr(value)
    return len(text) <= 100 and " at 0x" not in text


def _key(value: object, name: str) -> tuple:
    # Constants are told apart by name too: two modules may bind the same small int or string.
    return (id(value),) if kind_of(value) in ("class", "exception", "function", "module") else (id(value), name)


@dataclass
class Page:
    """What one namespace's page shows: its own entries by section, and links to the others."""

    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    constants: list[tuple[str, bool]] = field(default_factory=list)  # (name, whether its value is short enough to show)
    modules: list[str] = field(default_factory=list)
    elsewhere: list[tuple[str, str, str]] = field(default_factory=list)  # (name, documented as, role)


@cache
def catalogue() -> tuple[dict[str, Page], dict[tuple, str], dict[str, list[str]]]:
    """Every namespace's :class:`Page`, each object's documented name by identity, and the
    documented names by their last component."""
    home: dict[tuple, str] = {}
    pages: dict[str, Page] = {}
    by_short_name: dict[str, list[str]] = {}
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        page, own = Page(), {kind: [] for kind, _ in SECTIONS}
        for name in public_names(namespace):
            value = getattr(module, name)
            kind = kind_of(value)
            if kind == "module":
                page.modules.append(value.__name__)
                continue
            key = _key(value, name)
            if key in home:
                page.elsewhere.append((name, home[key], ROLES[kind]))
                continue
            home[key] = f"{namespace}.{name}"
            by_short_name.setdefault(name, []).append(home[key])
            own[kind].append(name)
        page.sections = [(title, own[kind]) for kind, title in SECTIONS if own[kind] and kind != "data"]
        page.constants = [(name, _short_value(getattr(module, name))) for name in own["data"]]
        pages[namespace] = page
    return pages, home, by_short_name


def template_context() -> dict[str, dict]:
    """Every namespace's page as plain data (``augkit_api`` in the autosummary module template)."""
    return {namespace: asdict(page) for namespace, page in catalogue()[0].items()}


def _import_path(target: str) -> object:
    """The object a dotted path names (its longest importable module, then attributes), or :data:`_MISSING`."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part, _MISSING)
            if value is _MISSING:
                break
        return value
    return _MISSING


_MISSING = object()


def documented_name(target: str, context_module: str | None = None) -> str | None:
    """The documented name a cross-reference ``target`` means, or None when it is not documented.

    Tried in turn: ``target`` inside the current module, ``target`` as a full import path (of an
    object, or of a member of a class: ``augkit.transforms.Compose.replay``), and its first
    component as a name that only one documented object has (``Compose``, ``Compose.replay``).
    """
    _, home, by_short_name = catalogue()
    for candidate in ([f"{context_module}.{target}"] if context_module else []) + [target]:
        parts = candidate.split(".")
        for cut in range(len(parts), 0, -1):
            value = _import_path(".".join(parts[:cut]))
            if value is not _MISSING and _key(value, parts[cut - 1]) in home:
                return ".".join([home[_key(value, parts[cut - 1])], *parts[cut:]])
    first, *rest = target.split(".")
    matches = by_short_name.get(first, [])
    return ".".join([matches[0], *rest]) if len(matches) == 1 else None


def resolve_reference(app, env, node, contnode):
    """``missing-reference`` handler: retry a Python reference under the object's documented name."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    name = documented_name(target, node.get("py:module"))
    if name is None or name == target:
        return None
    domain = env.get_domain("py")
    # Also as any object: a type alias written as a class in an annotation is documented as data.
    for reftype in dict.fromkeys([node["reftype"], "obj"]):
        resolved = domain.resolve_xref(env, node["refdoc"], app.builder, reftype, name, node, contnode)
        if resolved is not None:
            return resolved
    return None


def public_bases(app, name, obj, options, bases: list) -> None:
    """Show a private base class (``_Geometric``) as its nearest public ancestor (``Transform``)."""
    public = []
    for base in bases:
        while inspect.isclass(base) and base.__name__.startswith("_") and base.__bases__:
            base = base.__bases__[0]
        if base not in public:
            public.append(base)
    bases[:] = public


def skip_foreign_members(app, what, name, obj, skip, options) -> bool | None:
    """Leave out the members a class gets from elsewhere: the ``set_*_request`` methods
    scikit-learn adds to every estimator (its API, documented there), and a NamedTuple's field
    accessors, whose docstring is Python's "Alias for field number 0" (the fields are the
    class's parameters, documented in its docstring)."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    if type(obj).__name__ == "_tuplegetter":
        return True
    return None


def no_signature_for_data(app, what, name, obj, options, signature, return_annotation):
    """End ``autodoc-process-signature`` for constants: numpydoc offers a signature for a callable type
    alias (``tuple[int, int]``), which Sphinx 9 then fails to apply to an object that has none."""
    return (None, None) if what == "data" else None


@cache
def constant_comments() -> dict[tuple[str, int], list[str]]:
    """The ``#:`` comment of every top-level constant of the packages' imported modules, by
    (name, id of its value).

    autodoc reads ``#:`` comments in the module a page documents; a constant re-exported by a
    package (``augkit.functional.FILLS``, bound in ``augkit/functional/warp.py``) has its
    comment in the module that binds it, which the re-export has imported.
    """
    comments = {}
    for modname, module in sorted(sys.modules.items()):
        if module is None or modname.split(".")[0] not in PACKAGES:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except PycodeError:  # no source (a namespace package)
            continue
        for (scope, name), comment in docs.items():
            if scope == "" and hasattr(module, name):
                comments.setdefault((name, id(getattr(module, name))), list(comment))
    return comments


def adjust_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    """``autodoc-process-docstring``, before numpydoc: what the page shows of a docstring.

    A constant's docstring is its ``#:`` comment, in the module that binds it, never its type's
    (``int``'s, ``dict``'s).
    """
    if what == "data" and "\n".join(lines).strip() in {inspect.cleandoc(doc) for doc in
                                                       (getattr(obj, "__doc__", None), type(obj).__doc__) if doc}:
        lines[:] = constant_comments().get((name.rsplit(".", 1)[-1], id(obj)), [])


def check_every_module_is_placed(app, env) -> None:
    """``env-check-consistency``: every module of the packages is on the Layout page or in the API reference."""
    # A module that shares its name with the function it exports (``augkit.audit``) is placed as that function.
    documented = set(env.get_domain("py").modules) | set(env.get_domain("py").objects)
    for package in PACKAGES:
        root = importlib.import_module(package)
        names = {package} | {info.name for info in pkgutil.walk_packages(root.__path__, f"{package}.")}
        for name in sorted(names - documented):
            logger.warning("module %s is neither on the Layout page (docs/layout.md) nor in the API reference", name,
                           type="apiref", subtype="layout")


def setup(app):
    app.connect("missing-reference", resolve_reference)
    app.connect("autodoc-process-docstring", adjust_docstring, priority=400)
    app.connect("autodoc-process-signature", no_signature_for_data, priority=100)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("env-check-consistency", check_every_module_is_placed)
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.config.autosummary_context["augkit_api"] = template_context()
    return {"parallel_read_safe": True, "parallel_write_safe": True}

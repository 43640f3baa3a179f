"""A fast checker for the JSON Schema keywords the export schema uses.

Why not only ``jsonschema``: a 10-minute 60 fps export has 36 000 frame rows and the
reference validator needs seconds of CPU for it, which would stall an eventlet server (one
OS thread) for every upload. This module compiles the schema once into plain closures
(about 50x faster). It knows a fixed subset of draft 2020-12 and refuses a schema that uses
any other keyword, so it can never silently ignore a rule; the tests check that it agrees
with ``jsonschema`` on valid and broken documents.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

Path = tuple  # of str | int
Check = Callable[[Any, Path, list], None]

SUPPORTED_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$defs", "$ref", "title", "description",
        "type", "const", "enum", "required", "properties", "additionalProperties", "propertyNames",
        "items", "prefixItems", "minItems", "maxItems",
        "minimum", "maximum", "exclusiveMinimum", "maxLength", "pattern", "not", "anyOf",
    }
)


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this checker does not implement."""


class _Full(Exception):
    """Enough problems collected; stop walking the document."""


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if name == "number":
        return isinstance(value, (int, float))
    if name == "integer":
        # Draft 2020-12: a number with a zero fractional part is an integer (1.0 included).
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    raise UnsupportedSchema(f"unknown type {name!r}")


_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum")
# json.loads only makes these exact types, so ``type(v) in`` is both right and fast.
_EXACT_TYPES = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "null": (type(None),),
    "boolean": (bool,),
    "number": (int, float),
}


def _folds_bounds(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer" and any(k in schema for k in _BOUNDS)


def _type_check(names: list[str], schema: dict[str, Any]) -> Check:
    label = " or ".join(repr(n) for n in names)
    if _folds_bounds(schema):
        # Hot path (every frame number and action): one closure for type and range.
        low = schema.get("minimum", -math.inf)
        high = schema.get("maximum", math.inf)
        above = schema.get("exclusiveMinimum", -math.inf)

        def check_integer(v: Any, p: Path, s: Any) -> None:
            t = type(v)
            if not (t is int or (t is float and math.isfinite(v) and v.is_integer())):
                s.add(p, f"{_short(v)} is not of type {label}")
            elif v < low:
                s.add(p, f"{_short(v)} is less than the minimum of {low}")
            elif v > high:
                s.add(p, f"{_short(v)} is more than the maximum of {high}")
            elif v <= above:
                s.add(p, f"{_short(v)} is less than or equal to the exclusive minimum of {above}")

        return check_integer
    if all(n in _EXACT_TYPES for n in names):
        exact = frozenset(t for n in names for t in _EXACT_TYPES[n])

        def check_exact(v: Any, p: Path, s: Any) -> None:
            if type(v) not in exact:
                s.add(p, f"{_short(v)} is not of type {label}")

        return check_exact

    def check_type(v: Any, p: Path, s: Any) -> None:
        if not any(_is_type(v, n) for n in names):
            s.add(p, f"{_short(v)} is not of type {label}")

    return check_type


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: true is not 1, 1 is 1.0, lists and objects compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class CompiledSchema:
    """``CompiledSchema(schema).problems(doc)`` -> ``[(path_tuple, message), ...]`` in document order."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._root = schema
        self._refs: dict[str, Check] = {}
        self._check = self._compile(schema)
        self._fast = _FastCompiler(schema).predicate()

    def problems(self, doc: Any, limit: int = 50) -> list[tuple[Path, str]]:
        # A valid document (the usual upload) is confirmed by one generated expression; only
        # an invalid one walks the closures that say where and why.
        if self._fast(doc):
            return []
        return self.slow_problems(doc, limit)

    def slow_problems(self, doc: Any, limit: int = 50) -> list[tuple[Path, str]]:
        """The full walk, without the fast path (the tests check both agree)."""
        found: list[tuple[Path, str]] = []
        sink = _Sink(found, limit)
        try:
            self._check(doc, (), sink)
        except _Full:
            pass
        return found

    def is_valid(self, doc: Any) -> bool:
        return not self.problems(doc, limit=1)

    # --- compilation
    def _resolve(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise UnsupportedSchema(f"only local references are supported, not {ref!r}")
        if ref not in self._refs:
            target: Any = self._root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            holder: list[Check] = []
            # Placeholder first: lets a (future) recursive schema refer to itself.
            self._refs[ref] = lambda v, p, s: holder[0](v, p, s)
            holder.append(self._compile(target))
            self._refs[ref] = holder[0]
        return self._refs[ref]

    def _compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v, p, s: None
        if schema is False:
            return lambda v, p, s: s.add(p, "no value is allowed here")
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"a schema must be an object or a boolean, not {_short(schema)}")
        unknown = set(schema) - SUPPORTED_KEYWORDS
        if unknown:
            raise UnsupportedSchema(f"unsupported keywords {sorted(unknown)}")
        if set(schema) - _ANNOTATIONS == {"$ref"}:
            return self._resolve(schema["$ref"])  # no wrapper: refs sit on every frame row
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._resolve(schema["$ref"]))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            checks.append(_type_check(names, schema))
        if "const" in schema:
            const = schema["const"]
            checks.append(lambda v, p, s: None if json_equal(v, const) else s.add(p, f"{_short(const)} was expected"))
        if "enum" in schema:
            options = list(schema["enum"])
            checks.append(
                lambda v, p, s: None
                if any(json_equal(v, o) for o in options)
                else s.add(p, f"{_short(v)} is not one of {options!r}")
            )
        for keyword, test, words in (
            ("minimum", lambda v, x: v >= x, "less than the minimum of"),
            ("maximum", lambda v, x: v <= x, "more than the maximum of"),
            ("exclusiveMinimum", lambda v, x: v > x, "less than or equal to the exclusive minimum of"),
        ):
            if keyword in schema and not _folds_bounds(schema):
                bound = schema[keyword]

                def check_bound(v: Any, p: Path, s: _Sink, bound: Any = bound, test: Any = test, words: str = words) -> None:
                    if _is_type(v, "number") and not test(v, bound):
                        s.add(p, f"{_short(v)} is {words} {bound}")

                checks.append(check_bound)
        if "maxLength" in schema:
            most = schema["maxLength"]
            checks.append(
                lambda v, p, s: s.add(p, f"{_short(v)} is longer than {most} characters")
                if isinstance(v, str) and len(v) > most
                else None
            )
        if "pattern" in schema:
            regex = re.compile(schema["pattern"])
            source = schema["pattern"]
            checks.append(
                lambda v, p, s: s.add(p, f"{_short(v)} does not match {source!r}")
                if isinstance(v, str) and not regex.search(v)
                else None
            )
        if "not" in schema:
            negated = self._compile(schema["not"])

            def check_not(v: Any, p: Path, s: _Sink, negated: Check = negated) -> None:
                if _passes(negated, v):
                    s.add(p, f"{_short(v)} should not be valid under {schema['not']!r}")

            checks.append(check_not)
        if "anyOf" in schema:
            branches = [self._compile(b) for b in schema["anyOf"] if b != {"type": "null"}]
            allows_null = len(branches) < len(schema["anyOf"])

            def check_any(v: Any, p: Path, s: _Sink, branches: list = branches) -> None:
                if v is None and allows_null:
                    return
                if not any(_passes(b, v) for b in branches):
                    s.add(p, f"{_short(v)} is not valid under any of the given schemas")

            checks.append(check_any)
        if "required" in schema or "properties" in schema or "additionalProperties" in schema or "propertyNames" in schema:
            checks.append(self._compile_object(schema))
        if "items" in schema or "prefixItems" in schema or "minItems" in schema or "maxItems" in schema:
            checks.append(self._compile_array(schema))
        if len(checks) == 1:
            return checks[0]

        def check_all(v: Any, p: Path, s: _Sink, checks: list = checks) -> None:
            for c in checks:
                c(v, p, s)

        return check_all

    def _compile_object(self, schema: dict[str, Any]) -> Check:
        required = list(schema.get("required", ()))
        props = {k: self._compile(v) for k, v in schema.get("properties", {}).items()}
        extra_schema = schema.get("additionalProperties", True)
        extra = None if extra_schema is True else self._compile(extra_schema)
        forbid_extra = extra_schema is False
        names = self._compile(schema["propertyNames"]) if "propertyNames" in schema else None

        def check_object(v: Any, p: Path, s: _Sink) -> None:
            if not isinstance(v, dict):
                return
            for key in required:
                if key not in v:
                    s.add(p, f"{key!r} is a required property")
            for key, value in v.items():
                if names is not None:
                    names(key, p + (key,), s)
                check = props.get(key)
                if check is not None:
                    check(value, p + (key,), s)
                elif forbid_extra:
                    s.add(p, f"additional property {key!r} is not allowed")
                elif extra is not None:
                    extra(value, p + (key,), s)

        return check_object

    def _compile_array(self, schema: dict[str, Any]) -> Check:
        prefix = [self._compile(x) for x in schema.get("prefixItems", ())]
        rest_schema = schema.get("items", True)
        rest = None if rest_schema is True else self._compile(rest_schema)
        least = schema.get("minItems", 0)
        most = schema.get("maxItems")
        n_prefix = len(prefix)

        def check_array(v: Any, p: Path, s: _Sink) -> None:
            if not isinstance(v, list):
                return
            n = len(v)
            if n < least:
                s.add(p, f"{_short(v)} should have at least {least} items")
            if most is not None and n > most:
                s.add(p, f"{_short(v)} should have at most {most} items")
            for i, check in enumerate(prefix[:n]):
                check(v[i], p + (i,), s)
            if rest is not None:
                for i in range(n_prefix, n):
                    rest(v[i], p + (i,), s)

        return check_array


class _Sink:
    __slots__ = ("found", "limit")

    def __init__(self, found: list, limit: int) -> None:
        self.found = found
        self.limit = limit

    def add(self, path: Path, message: str) -> None:
        self.found.append((path, message))
        if len(self.found) >= self.limit:
            raise _Full


class _Probe:
    """A sink that only remembers whether anything failed (for anyOf / not)."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    def add(self, path: Path, message: str) -> None:
        self.failed = True
        raise _Full


def _passes(check: Check, value: Any) -> bool:
    probe = _Probe()
    try:
        check(value, (), probe)
    except _Full:
        pass
    return not probe.failed


class _FastCompiler:
    """Turns the schema into one Python boolean expression: True exactly when the value is valid.

    Generated source (not closures) because CPython evaluates an inline expression over
    36 000 frame rows several times faster than a call per keyword per value.
    """

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.names: dict[str, Any] = {"json_equal": json_equal, "isfinite": math.isfinite}
        self.depth = 0

    def const(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def predicate(self) -> Callable[[Any], bool]:
        source = f"lambda x0: bool({self.expr(self.root, 'x0', 0)})"
        return eval(compile(source, "<export-schema>", "eval"), self.names)  # noqa: S307 - our own schema

    def expr(self, schema: Any, x: str, depth: int) -> str:
        if schema is True:
            return "True"
        if schema is False:
            return "False"
        if depth > 40:
            raise UnsupportedSchema("schema nested too deeply (or recursive) for the fast path")
        parts: list[str] = []
        if "$ref" in schema:
            target: Any = self.root
            for part in schema["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            parts.append(self.expr(target, x, depth + 1))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            alts = []
            for n in names:
                if n == "integer":
                    alts.append(f"type({x}) is int or (type({x}) is float and isfinite({x}) and {x}.is_integer())")
                elif n == "number":
                    alts.append(f"type({x}) in (int, float)")
                else:
                    alts.append(f"type({x}) is {self.const(_EXACT_TYPES[n][0])}")
            parts.append("(" + " or ".join(f"({a})" for a in alts) + ")")
        if "const" in schema:
            parts.append(f"json_equal({x}, {self.const(schema['const'])})")
        if "enum" in schema:
            parts.append(f"any(json_equal({x}, o) for o in {self.const(list(schema['enum']))})")
        numeric = f"type({x}) not in (int, float)"
        if "minimum" in schema:
            parts.append(f"({numeric} or {x} >= {self.const(schema['minimum'])})")
        if "maximum" in schema:
            parts.append(f"({numeric} or {x} <= {self.const(schema['maximum'])})")
        if "exclusiveMinimum" in schema:
            parts.append(f"({numeric} or {x} > {self.const(schema['exclusiveMinimum'])})")
        if "maxLength" in schema:
            parts.append(f"(type({x}) is not str or len({x}) <= {int(schema['maxLength'])})")
        if "pattern" in schema:
            regex = self.const(re.compile(schema["pattern"]))
            parts.append(f"(type({x}) is not str or {regex}.search({x}) is not None)")
        if "not" in schema:
            parts.append(f"not ({self.expr(schema['not'], x, depth + 1)})")
        if "anyOf" in schema:
            parts.append("(" + " or ".join(f"({self.expr(b, x, depth + 1)})" for b in schema["anyOf"]) + ")")
        if any(k in schema for k in ("required", "properties", "additionalProperties", "propertyNames")):
            parts.append(self.object_expr(schema, x, depth))
        if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
            parts.append(self.array_expr(schema, x, depth))
        return "(" + " and ".join(parts) + ")" if parts else "True"

    def object_expr(self, schema: dict[str, Any], x: str, depth: int) -> str:
        y = f"x{depth + 1}"
        k = f"k{depth + 1}"
        props = schema.get("properties", {})
        checks = []
        for key in schema.get("required", ()):
            checks.append(f"{key!r} in {x}")
        for key, sub in props.items():
            inner = self.expr(sub, f"{x}[{key!r}]", depth + 1)
            if inner != "True":
                checks.append(f"({key!r} not in {x} or {inner})")
        extra = schema.get("additionalProperties", True)
        if extra is False:
            checks.append(f"{x}.keys() <= {self.const(frozenset(props))}")
        elif extra is not True:
            inner = self.expr(extra, y, depth + 1)
            checks.append(f"all({inner} for {k}, {y} in {x}.items() if {k} not in {self.const(frozenset(props))})")
        if "propertyNames" in schema:
            checks.append(f"all({self.expr(schema['propertyNames'], k, depth + 1)} for {k} in {x})")
        body = " and ".join(checks) or "True"
        return f"(type({x}) is not dict or ({body}))"

    def array_expr(self, schema: dict[str, Any], x: str, depth: int) -> str:
        y = f"x{depth + 1}"
        checks = []
        if "minItems" in schema:
            checks.append(f"len({x}) >= {int(schema['minItems'])}")
        if "maxItems" in schema:
            checks.append(f"len({x}) <= {int(schema['maxItems'])}")
        prefix = schema.get("prefixItems", [])
        for i, sub in enumerate(prefix):
            inner = self.expr(sub, f"{x}[{i}]", depth + 1)
            checks.append(f"(len({x}) <= {i} or {inner})")
        rest = schema.get("items", True)
        if rest is False:
            checks.append(f"len({x}) <= {len(prefix)}")
        elif rest is not True:
            inner = self.expr(rest, y, depth + 1)
            source = f"{x}[{len(prefix)}:]" if prefix else x
            checks.append(f"all({inner} for {y} in {source})")
        body = " and ".join(checks) or "True"
        return f"(type({x}) is not list or ({body}))"

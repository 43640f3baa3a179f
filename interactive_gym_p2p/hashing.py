"""Canonical state hash, the Python twin of ``static/js/hashing.js`` (contract: docs/hashing.md).

``state_hash(state) = sha256(utf8(JCS(normalize(state))))[:8]`` as 16 lowercase hex chars.

STDLIB ONLY and free of package-relative imports: the browser loads this very file into
Pyodide (as a stand-alone module) to hash Python environment states, so the hash of a state
is the same in CPython, Pyodide and the JavaScript client.
"""

from __future__ import annotations

import decimal
import hashlib
import logging
import math
import re
from json.encoder import encode_basestring as _json_string
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "HashError",
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "NAN_TOKEN",
    "POS_INF_TOKEN",
    "NEG_INF_TOKEN",
    "normalize_float",
    "normalize_float_exact",
    "normalize_state",
    "canonicalize",
    "state_hash",
]

MAX_SAFE_INTEGER = 2**53
"""Largest integer magnitude accepted: beyond it a JavaScript Number cannot hold every integer."""

MAX_DEPTH = 256
"""Deepest container nesting accepted; also turns a reference cycle into a clear error."""

NAN_TOKEN = "NaN"
POS_INF_TOKEN = "Infinity"
NEG_INF_TOKEN = "-Infinity"

_INF = math.inf
# Any non-integral double with |x| >= 2**19 has ulp(x)/2 >= 2**-34 > 0.5e-10, so rounding it
# to 10 places moves it by less than half an ulp and the nearest double is x itself.
_FAST_LIMIT = 524288.0
_QUANTUM = decimal.Decimal("1e-10")
# A private context: the caller's decimal context (precision, traps) must not change a hash.
_DECIMAL_CONTEXT = decimal.Context(
    prec=60, rounding=decimal.ROUND_HALF_UP, Emin=-999999, Emax=999999, traps=[decimal.InvalidOperation]
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


class HashError(ValueError):
    """The state cannot be hashed; ``path`` names the offending value (``$.players[1].score``)."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"{reason} at {path}")
        self.reason = reason
        self.path = path


class _Fail(Exception):
    """Internal: carries the path segments outward while the recursion unwinds (cheap when unused)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[int | str] = []


def _format_path(segments: list[int | str]) -> str:
    parts = ["$"]
    for seg in reversed(segments):
        if isinstance(seg, int):
            parts.append(f"[{seg}]")
        elif _IDENTIFIER.fullmatch(seg):
            parts.append(f".{seg}")
        else:
            parts.append(f"[{_json_string(seg)}]")
    return "".join(parts)


# ---------------------------------------------------------------- floats


def normalize_float_exact(x: float) -> float:
    """The spec path: the double nearest to finite ``x`` rounded to 10 places, half away from zero.

    Works on the exact binary value of ``x`` (``Decimal(x)`` is exact), so ties such as
    ``2**-11 = 0.00048828125`` round up in magnitude, where ``round()`` and ``format`` round
    to even and ``x * 1e10`` has already lost the tie. Integral ``x`` is returned unchanged.
    """
    if not math.isfinite(x):
        raise ValueError(f"normalize_float_exact needs a finite float, not {x!r}")
    if x.is_integer():
        return x
    return float(decimal.Decimal(x).quantize(_QUANTUM, rounding=decimal.ROUND_HALF_UP, context=_DECIMAL_CONTEXT))


def _fast_normalize(x: float) -> float:
    """Non-integral finite ``x``: the same result as :func:`normalize_float_exact`, 3x cheaper."""
    if not -_FAST_LIMIT < x < _FAST_LIMIT:
        return x
    # Exact integers on x = n/d (d a power of two): q = round_half_up(|x| * 10**10).
    n, d = x.as_integer_ratio()
    q = (abs(n) * 20_000_000_000 + d) // (d << 1)
    # |x| < 2**19 keeps q < 2**53: q and 1e10 are exact doubles, so IEEE division returns the
    # double nearest to q / 10**10, as float(Decimal) does. copysign keeps -0.0 like Decimal.
    return math.copysign(q / 1e10, x)


def normalize_float(x: float) -> float | str:
    """One float as the hash sees it: rounded, unchanged if integral, or a NaN/Infinity token."""
    if x != x:
        return NAN_TOKEN
    if x == _INF:
        return POS_INF_TOKEN
    if x == -_INF:
        return NEG_INF_TOKEN
    if x.is_integer():
        return x
    return _fast_normalize(x)


# ---------------------------------------------------------------- JCS number formatting


def _es_number_general(x: float) -> str:
    """ECMAScript Number::toString of finite non-zero ``x`` built from Python's shortest repr digits."""
    r = repr(x)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mantissa, _, exponent = r.partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    # value = 0.<digits> * 10**n
    n = len(int_part) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exp_text = ("e+" if e >= 0 else "e-") + str(abs(e))
    if k == 1:
        return sign + digits + exp_text
    return sign + digits[0] + "." + digits[1:] + exp_text


def _es_number(x: float) -> str:
    """JCS (ECMAScript) text of any finite float (``_float_text`` fuses this with rounding)."""
    if x.is_integer():
        # Below 2**53 every integer is exact and is its own shortest digit string.
        if -MAX_SAFE_INTEGER <= x <= MAX_SAFE_INTEGER:
            return str(int(x))  # int(-0.0) == 0: JCS writes -0 as 0
        return _es_number_general(x)
    if -1e-4 < x < 1e-4:
        return _es_number_general(x)
    # Non-integral means |x| < 2**52: repr is then plain 'ddd.ddd', which ES writes identically.
    return repr(x)


# ---------------------------------------------------------------- walking the state


def _check_string(s: str) -> None:
    # isascii() is O(1) in CPython, so the common case costs nothing.
    if not s.isascii() and _SURROGATE.search(s):
        raise _Fail("string contains a surrogate code point (U+D800..U+DFFF), which UTF-8 cannot encode")


def _check_int(v: int) -> str:
    if -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
        return int.__repr__(v)
    raise _Fail(f"integer {int.__repr__(v)} is outside +-2**53 (not exact in JavaScript)")


def _key_text(k: Any) -> str:
    if isinstance(k, str):
        return str.__str__(k)
    if isinstance(k, int) and not isinstance(k, bool):
        return int.__repr__(k)  # like json: int keys become their decimal string
    raise _Fail(f"dict key {k!r} of type {type(k).__name__} is not a str or int")


def _utf16_key(k: str) -> bytes:
    return k.encode("utf-16-be", "surrogatepass")


def _sorted_items(d: dict) -> list[tuple[str, Any]]:
    """``d``'s members with str keys in RFC 8785 order; bad keys and collisions fail."""
    try:
        # The usual case: every key a str and ASCII (str.isascii raises TypeError on non-str).
        all_ascii = all(map(str.isascii, d))
    except TypeError:
        all_ascii = False
    if all_ascii:
        return sorted(d.items())  # ASCII: code-point order is UTF-16 order; keys are unique
    items: dict[str, Any] = {}
    origin: dict[str, Any] = {}
    for k, v in d.items():
        text = _key_text(k)
        _check_string(text)
        if text in items:
            raise _Fail(f"dict keys {origin[text]!r} and {k!r} collide: both become {text!r}")
        items[text] = v
        origin[text] = k
    # Code-point order differs from UTF-16 order when a non-BMP char meets U+E000..U+FFFF.
    return sorted(items.items(), key=lambda kv: _utf16_key(kv[0]))


def _float_text(x: float) -> str:
    """JCS text of ``normalize_float(x)``; fused for speed, equal to the two steps (tested)."""
    if x.is_integer():
        if -MAX_SAFE_INTEGER <= x <= MAX_SAFE_INTEGER:
            return str(int(x))
        return _es_number_general(x)
    if x != x or x == _INF or x == -_INF:
        return _json_string(normalize_float(x))  # type: ignore[arg-type]
    if -_FAST_LIMIT < x < _FAST_LIMIT:
        x = _fast_normalize(x)
        if x.is_integer():  # rounding can land on an integer (100.00000000005 -> 100)
            return str(int(x))
        if -1e-4 < x < 1e-4:
            return _es_number_general(x)
    return repr(x)  # non-integral, 1e-4 <= |x| < 2**52: repr is ES's plain form


def _scalar_text(v: Any) -> str | None:
    """JCS text of a scalar, or None for a container (the caller recurses)."""
    t = type(v)
    if t is str:
        if not v.isascii() and _SURROGATE.search(v):
            _check_string(v)
        return _json_string(v)
    if t is float:
        return _float_text(v)
    if t is int:
        return _check_int(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if t is dict or t is list or t is tuple:
        return None
    if isinstance(v, str):
        return _scalar_text(str.__str__(v))
    if isinstance(v, int):  # IntEnum and friends; bool was caught above
        return _check_int(int(v))
    if isinstance(v, float):
        return _float_text(float(v))
    if isinstance(v, (dict, list, tuple)):
        return None
    raise _Fail(f"value of type {type(v).__module__}.{type(v).__qualname__} is not JSON-able")


def _write(v: Any, out: list[str], depth: int) -> None:
    """Appends the JCS text of ``v`` to ``out``; one function call per container, not per leaf."""
    text = _scalar_text(v)
    if text is not None:
        out.append(text)
        return
    if depth >= MAX_DEPTH:
        raise _Fail(f"containers nested deeper than {MAX_DEPTH} (a reference cycle?)")
    depth += 1
    if isinstance(v, dict):
        sep = "{"
        for k, item in _sorted_items(v):
            try:
                text = _scalar_text(item)
                if text is None:
                    out.append(f"{sep}{_json_string(k)}:")
                    _write(item, out, depth)
                else:
                    out.append(f"{sep}{_json_string(k)}:{text}")
            except _Fail as f:
                f.segments.append(k)
                raise
            sep = ","
        out.append("{}" if sep == "{" else "}")
    else:
        sep = "["
        for i, item in enumerate(v):
            try:
                text = _scalar_text(item)
                if text is None:
                    out.append(sep)
                    _write(item, out, depth)
                else:
                    out.append(sep + text)
            except _Fail as f:
                f.segments.append(i)
                raise
            sep = ","
        out.append("[]" if sep == "[" else "]")


def _normalize(v: Any, depth: int) -> Any:
    t = type(v)
    if t is float:
        return normalize_float(v)
    if t is str or t is int or t is bool or v is None:
        _scalar_text(v)  # validates (surrogates, integer range)
        return v
    if isinstance(v, str):
        return _normalize(str.__str__(v), depth)
    if isinstance(v, int):
        return _normalize(int(v), depth)
    if isinstance(v, float):
        return normalize_float(float(v))
    if not isinstance(v, (dict, list, tuple)):
        _scalar_text(v)  # raises the "not JSON-able" error
    if depth >= MAX_DEPTH:
        raise _Fail(f"containers nested deeper than {MAX_DEPTH} (a reference cycle?)")
    depth += 1
    if isinstance(v, dict):
        result: dict[str, Any] = {}
        for k, item in _sorted_items(v):
            try:
                result[k] = _normalize(item, depth)
            except _Fail as f:
                f.segments.append(k)
                raise
        return result
    items = []
    for i, item in enumerate(v):
        try:
            items.append(_normalize(item, depth))
        except _Fail as f:
            f.segments.append(i)
            raise
    return items


def _located(f: _Fail) -> HashError:
    return HashError(f.reason, _format_path(f.segments))


# ---------------------------------------------------------------- public API


def normalize_state(state: Any) -> Any:
    """A new JSON value equal to ``state`` as the hash sees it.

    Floats rounded (see :func:`normalize_float`), NaN/Infinity as string tokens, tuples as
    lists, dict keys as str. Raises :class:`HashError` (with ``.path``) for anything the
    contract refuses.
    """
    try:
        return _normalize(state, 0)
    except _Fail as f:
        raise _located(f) from None


def canonicalize(state: Any) -> str:
    """The canonical text that is hashed: RFC 8785 JCS of ``normalize_state(state)``."""
    out: list[str] = []
    try:
        _write(state, out, 0)
    except _Fail as f:
        raise _located(f) from None
    return "".join(out)


def state_hash(state: Any) -> str:
    """First 8 bytes of SHA-256 over the UTF-8 canonical text, as 16 lowercase hex chars."""
    return hashlib.sha256(canonicalize(state).encode("utf-8")).hexdigest()[:16]

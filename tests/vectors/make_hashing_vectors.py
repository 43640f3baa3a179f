"""Write tests/vectors/hashing.json, the state hash vectors (docs/hashing.md).

    python tests/vectors/make_hashing_vectors.py

The expected values are computed here WITHOUT interactive_gym_p2p.hashing, so the vectors
check both implementations instead of echoing one: rounding with fractions.Fraction (exact
rational arithmetic), canonical text with the `rfc8785` package, SHA-256 with hashlib. The
trap vectors also carry a hand-written canonical string that the computed one must equal.
The output is checked in as data; pytest and node tests read the JSON, not this script.

Markers (a JSON object with exactly one of these keys) stand for inputs JSON cannot hold:
  {"$float": "nan" | "inf" | "-inf" | "-0.0"}   that float (Python float, JS number)
  {"$int": "<decimal>"}                          an integer of any size (Python int, JS BigInt)
  {"$tuple": [...]}                              a Python tuple (JS: an array)
  {"$deep_list": n}                              n lists nested in each other, [] innermost
  {"$js": "undefined" | "function" | "symbol" | "map" | "set" | "date" | "class" | "typed_array" | "hole"}
                                                 JavaScript-only values (error cases with lang "js")
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import rfc8785

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("hashing.json")
sys.path.insert(0, str(ROOT / "benchmarks"))
from hash_bench import SIZES, make_game_state  # noqa: E402  (the states both benches hash)
from markers import decode  # noqa: E402  (this folder; shared with the tests)

MAX = 2**53
SEED = 8785


# ---------------------------------------------------------------- markers


def f(token: str) -> dict:
    return {"$float": token}


# ---------------------------------------------------------------- reference implementation


def ref_float(x: float) -> float | str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == int(x):
        return x
    exact = abs(Fraction(x))
    q = math.floor(exact * 10**10 + Fraction(1, 2))  # half away from zero on the magnitude
    return math.copysign(float(Fraction(q, 10**10)), x)  # float(Fraction) rounds correctly


def ref_normalize(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        assert -MAX <= v <= MAX
        # rfc8785 stops at 2**53 - 1; the contract includes +-2**53, which print the same as floats.
        return float(v) if abs(v) == MAX else v
    if isinstance(v, float):
        return ref_float(v)
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            key = k if isinstance(k, str) else str(int(k))
            assert key not in out
            out[key] = ref_normalize(x)
        return out
    return [ref_normalize(x) for x in v]


def reference(state_json: Any) -> tuple[str, str]:
    canonical = rfc8785.dumps(ref_normalize(decode(state_json))).decode("utf-8")
    return canonical, hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- vectors

VECTORS: list[dict] = []


def v(name: str, state: Any, canonical: str | None = None, note: str = "") -> None:
    computed, digest = reference(state)
    if canonical is not None and computed != canonical:
        raise SystemExit(f"{name}: reference gives {computed!r}, hand-written {canonical!r}")
    entry = {"name": name, "state": state, "canonical": computed, "hash": digest}
    if note:
        entry["note"] = note
    VECTORS.append(entry)


# Exact binary ties at the 11th decimal: m / 2**11 with m odd. Half away from zero rounds the
# magnitude up; round()/format (half even) and x*1e10 get the first four wrong.
v("tie 2**-11 = 0.00048828125", {"x": 2**-11}, '{"x":0.0004882813}',
  "exact tie: half away from zero gives ...813, round()/format give ...812")
v("tie -2**-11", {"x": -(2**-11)}, '{"x":-0.0004882813}')
v("tie 1 + 2**-11 = 1.00048828125", {"x": 1 + 2**-11}, '{"x":1.0004882813}')
v("tie -(1 + 2**-11)", {"x": -(1 + 2**-11)}, '{"x":-1.0004882813}')
v("tie 1234 + 2**-11", {"x": 1234 + 2**-11}, '{"x":1234.0004882813}')
v("tie -(1234 + 2**-11)", {"x": -(1234 + 2**-11)}, '{"x":-1234.0004882813}')
v("tie 3 * 2**-11 = 0.00146484375 (half even agrees)", {"x": 3 * 2**-11}, '{"x":0.0014648438}')
v("tie -3 * 2**-11", {"x": -3 * 2**-11}, '{"x":-0.0014648438}')
v("tie 2047 * 2**-11 = 0.99951171875", {"x": 2047 * 2**-11}, '{"x":0.9995117188}')
v("tie 524287 + 2**-11 (largest magnitude below 2**19)", {"x": 524287 + 2**-11}, '{"x":524287.0004882813}')
# Decimal literals that LOOK like ties but are not: the double lies above or below.
v("not a tie: 1.00000000005 (double is above)", {"x": 1.00000000005}, '{"x":1.0000000001}',
  "x*1e10 rounds to 1 here; the exact value is above the tie")
v("not a tie: -1.00000000005", {"x": -1.00000000005}, '{"x":-1.0000000001}')
v("not a tie: 0.12345678905 (double is above)", {"x": 0.12345678905}, '{"x":0.1234567891}')
v("not a tie: 100.00000000005 (double is below, rounds to an integer)", {"x": 100.00000000005}, '{"x":100}')
v("not a tie: -100.00000000005", {"x": -100.00000000005}, '{"x":-100}')
v("not a tie: 0.00000000015 (double is below)", {"x": 0.00000000015}, '{"x":1e-10}',
  "x*1e10 gives 1.5000000000000002 and rounds to 2e-10; the exact value is below the tie")
v("not a tie: -0.00000000015", {"x": -0.00000000015}, '{"x":-1e-10}')
v("0.1 + 0.2", {"x": 0.1 + 0.2}, '{"x":0.3}')
v("0.1 + 0.2 vs 0.3: same hash", {"x": 0.3}, '{"x":0.3}')
v("pi", {"x": math.pi, "neg": -math.pi}, '{"neg":-3.1415926536,"x":3.1415926536}')
# ECMAScript number formatting
v("1e21 (exponent form)", {"x": 1e21}, '{"x":1e+21}')
v("1e20 (plain form)", {"x": 1e20}, '{"x":100000000000000000000}')
v("-1e21", {"x": -1e21}, '{"x":-1e+21}')
v("1e-7 (exponent form)", {"x": 1e-7}, '{"x":1e-7}')
v("1.5e-7", {"x": 1.5e-7}, '{"x":1.5e-7}')
v("1e-6 (plain form)", {"x": 1e-6}, '{"x":0.000001}')
v("1e-10 (smallest nonzero result)", {"x": 1e-10, "neg": -1e-10}, '{"neg":-1e-10,"x":1e-10}')
v("123e-20 rounds to 0", {"x": 123e-20}, '{"x":0}')
v("5e-324 rounds to 0", {"x": 5e-324, "neg": -5e-324}, '{"neg":0,"x":0}')
v("max double", {"x": 1.7976931348623157e308, "neg": -1.7976931348623157e308},
  '{"neg":-1.7976931348623157e+308,"x":1.7976931348623157e+308}')
v("integral float 2**60 (unchanged, shortest digits)", {"x": 2.0**60}, '{"x":1152921504606847000}')
v("integral float 1e300", {"x": 1e300}, '{"x":1e+300}')
v("-0.0 writes as 0", {"x": f("-0.0")}, '{"x":0}')
v("0 (int)", {"x": 0}, '{"x":0}')
v("1.0 (float)", {"x": 1.0}, '{"x":1}', "same hash as the int 1")
v("1 (int)", {"x": 1}, '{"x":1}')
v("tokens NaN/Infinity/-Infinity", [f("nan"), f("inf"), f("-inf")], '["NaN","Infinity","-Infinity"]')
v("token strings hash like the floats", ["NaN", "Infinity", "-Infinity"], '["NaN","Infinity","-Infinity"]',
  "by design: the tokens are plain strings after normalization")
# Integers at the edge of the contract
v("integers +-2**53", {"max": 2**53, "min": -(2**53), "max_minus_1": 2**53 - 1},
  '{"max":9007199254740992,"max_minus_1":9007199254740991,"min":-9007199254740992}')
v("2**53 as an arbitrary-size int marker", {"x": {"$int": str(2**53)}}, '{"x":9007199254740992}')
# Key order: UTF-16 code units, not code points
v("keys: non-BMP vs U+E000..U+FFFF (UTF-16 order)",
  {"\ufb33": 1, "\U0001f600": 2, "\ue000": 3, "\uffff": 4, "a": 5, "\u00e9": 6, "": 7},
  '{"":7,"a":5,"\u00e9":6,"\U0001f600":2,"\ue000":3,"\ufb33":1,"\uffff":4}',
  "code-point order would put U+1F600 last")
v("RFC 8785 3.2.3 sorting example",
  {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
   "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
   "\u00f6": "Latin Small Letter O With Diaeresis"},
  '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",'
  '"\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
v("RFC 8785 3.2.2 example (1e-27 rounds to 0)",
  {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
   "string": "\u20ac$\u000f\nA'B\"\\\\\"/", "literals": [None, True, False]},
  '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,0],'
  '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
# Strings
v("control characters and escapes",
  {"s": "\u0000\u0001\u0007\b\t\n\u000b\f\r\u000e\u001f \"\\/\u007f"},
  '{"s":"\\u0000\\u0001\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f \\"\\\\/\u007f"}')
v("unicode text stays literal", {"s": "caf\u00e9 \u6f22\u5b57 \U0001f600 \u2028\u2029 \ufeff"},
  '{"s":"caf\u00e9 \u6f22\u5b57 \U0001f600 \u2028\u2029 \ufeff"}')
# Shapes
v("empty containers", {"o": {}, "l": [], "s": "", "nested": [{}, [], [[]]]},
  '{"l":[],"nested":[{},[],[[]]],"o":{},"s":""}')
v("empty object", {}, "{}")
v("empty list", [], "[]")
v("top-level scalars", [None, True, False, 0, -1, "x"], '[null,true,false,0,-1,"x"]')
v("top-level string", "hello", '"hello"')
v("top-level float", 2.5, "2.5")
v("top-level null", None, "null")
v("nested lists of dicts",
  {"players": [{"id": 1, "pos": [0.1, 0.25], "inv": [{"k": "gem", "n": 2}, {"n": 1, "k": "key"}]},
               {"pos": [-3.000000000049, 7], "id": 2, "inv": []}]},
  '{"players":[{"id":1,"inv":[{"k":"gem","n":2},{"k":"key","n":1}],"pos":[0.1,0.25]},'
  '{"id":2,"inv":[],"pos":[-3,7]}]}')
v("tuple is a list", {"t": {"$tuple": [1, 2.5, {"$tuple": []}]}}, '{"t":[1,2.5,[]]}')
v("bools and null are not numbers", {"a": True, "b": False, "c": None, "d": 1, "e": 0},
  '{"a":true,"b":false,"c":null,"d":1,"e":0}')
v("__proto__ is an ordinary key", json.loads('{"__proto__": {"x": 1}, "a": 2}'), '{"__proto__":{"x":1},"a":2}')


def random_floats(rng: random.Random, n: int) -> list[float]:
    """Mixed magnitudes, exact ties, near ties and short decimals."""
    out: list[float] = []
    while len(out) < n:
        kind = rng.randrange(6)
        if kind == 0:
            x = rng.uniform(-1, 1) * 10.0 ** rng.randint(-13, 8)
        elif kind == 1:
            x = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
        elif kind == 2:  # exact tie m/2**11
            x = rng.randrange(524288) + (2 * rng.randrange(1024) + 1) / 2048
        elif kind == 3:  # one ulp either side of a tie
            x = math.nextafter(rng.randrange(1024) + (2 * rng.randrange(1024) + 1) / 2048, rng.choice([0, math.inf]))
        elif kind == 4:  # decimal literal with 5 in the 11th place
            x = float(f"{rng.randrange(100000)}.{rng.randrange(10**10):010d}5")
        else:  # short decimals: already on the grid
            x = round(rng.uniform(-1000, 1000), rng.randint(0, 10))
        if math.isfinite(x):
            out.append(-x if rng.random() < 0.5 else x)
    return out


rng = random.Random(SEED)
v("random floats (seeded, mixed magnitudes, ties)", {"xs": random_floats(rng, 400)})

# The benchmark states: hash_bench.py and hash_bench.mjs must build exactly these.
for bench_name, players, entities in SIZES:
    if bench_name == "small":
        v("benchmark state small (hash_bench make_game_state)", make_game_state(players, entities))

BENCH_STATES = []
for bench_name, players, entities in SIZES:
    canonical, digest = reference(make_game_state(players, entities))
    BENCH_STATES.append({"name": bench_name, "players": players, "entities": entities,
                         "canonical_bytes": len(canonical.encode("utf-8")), "hash": digest})


# ---------------------------------------------------------------- float rounding table


def bits(x: float) -> str:
    return struct.pack(">d", x).hex()


FLOAT_ROUNDING = [[bits(x), bits(ref_float(x))] for x in random_floats(random.Random(SEED + 1), 3000)
                  if x != int(x)]
FLOAT_ROUNDING += [[bits(x), bits(ref_float(x))] for x in
                   [2**-11, -(2**-11), 1 + 2**-11, 0.00000000015, 1.00000000005, -1e-12, 5e-324, 0.5e-10,
                    math.nextafter(0.5e-10, 1), 2**19 - 2**-33, -(2**19 - 2**-33), 2**19 + 0.5, 2**52 - 0.5]]

# ---------------------------------------------------------------- ES number formatting table
# RFC 8785 Appendix B (IEEE 754 bits -> ECMAScript text), before normalization.

NUMBER_FORMATTING = [
    ["0000000000000000", "0"], ["8000000000000000", "0"], ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"], ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"], ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"], ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"], ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"], ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"], ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"], ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"], ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"], ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"], ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
]
for hex_bits, text in NUMBER_FORMATTING:  # the rfc8785 package agrees with the RFC's table
    value = struct.unpack(">d", bytes.fromhex(hex_bits))[0]
    assert rfc8785.dumps(value).decode() == text, (hex_bits, text)

# ---------------------------------------------------------------- errors


def err(name: str, lang: str, error_path: str, state: Any = None, py_expr: str | None = None) -> dict:
    entry: dict[str, Any] = {"name": name, "lang": lang}
    if py_expr is not None:
        entry["state_py_expr"] = py_expr
    else:
        entry["state"] = state
    entry["error_path"] = error_path
    return entry


MAX_DEPTH = 256
ERRORS = [
    err("int 2**53 + 1", "both", "$.players[1].score",
        {"players": [{"score": 1}, {"score": {"$int": str(2**53 + 1)}}]}),
    err("int -(2**53 + 1)", "both", "$.a[0][0]", {"a": [[{"$int": str(-(2**53 + 1))}]]}),
    err("int 2**64 at the top", "both", "$", {"$int": str(2**64)}),
    err("key needing quotes in the path", "both", '$["a b"][0]["x-y"]',
        {"a b": [{"x-y": {"$int": str(2**60)}}]}),
    err("lone surrogate in a string", "both", "$.s[1]", json.loads('{"s": ["ok", "\\ud800"]}')),
    err("lone low surrogate in a key (reported at the object)", "both", "$.o",
        json.loads('{"o": {"\\udc00": 1}}')),
    err(f"lists nested deeper than {MAX_DEPTH}", "both", "$" + "[0]" * MAX_DEPTH, {"$deep_list": MAX_DEPTH + 1}),
    # Python only: what JSON cannot express
    err("int key and str key collide", "py", "$.d", py_expr="{'d': {1: 'a', '1': 'b'}}"),
    err("float key", "py", "$", py_expr="{1.5: 0}"),
    err("bool key", "py", "$.x", py_expr="{'x': {True: 0}}"),
    err("None key", "py", "$", py_expr="{None: 0}"),
    err("tuple key", "py", "$", py_expr="{(1, 2): 0}"),
    err("set value", "py", "$.s", py_expr="{'s': {1, 2}}"),
    err("bytes value", "py", "$[2]", py_expr="[1, 2, b'x']"),
    err("complex value", "py", "$.c", py_expr="{'c': 1j}"),
    err("big int inside a tuple", "py", "$.t[1]", py_expr="{'t': (0, 2**53 + 1)}"),
    err("surrogate pair as two code points (Python str, not JSON)", "py", "$.s",
        py_expr="{'s': '\\ud83d\\ude00'}"),
    # JavaScript only
    err("undefined value", "js", "$.a.b", {"a": {"b": {"$js": "undefined"}}}),
    err("undefined in an array", "js", "$[1]", [1, {"$js": "undefined"}]),
    err("array hole", "js", "$.l[1]", {"l": {"$js": "hole"}}),
    err("function", "js", "$.f", {"f": {"$js": "function"}}),
    err("symbol", "js", "$.s", {"s": {"$js": "symbol"}}),
    err("Map (Pyodide toJs default) is not accepted", "js", "$.m", {"m": {"$js": "map"}}),
    err("Set", "js", "$[0]", [{"$js": "set"}]),
    err("Date", "js", "$.d", {"d": {"$js": "date"}}),
    err("class instance", "js", "$.c", {"c": {"$js": "class"}}),
    err("typed array", "js", "$.t", {"t": {"$js": "typed_array"}}),
]


def render(doc: dict) -> str:
    """Pure-ASCII JSON (lone surrogates survive as escapes), one vector or case per line."""

    def dump(x: Any) -> str:
        return json.dumps(x, ensure_ascii=True, allow_nan=False)

    lines = ["{"]
    for i, (key, value) in enumerate(doc.items()):
        end = "," if i < len(doc) - 1 else ""
        if isinstance(value, list):
            lines.append(f" {dump(key)}: [")
            lines += [f"  {dump(x)}{',' if j < len(value) - 1 else ''}" for j, x in enumerate(value)]
            lines.append(f" ]{end}")
        elif isinstance(value, dict) and "cases" in value:
            lines.append(f" {dump(key)}: {{")
            lines.append(f"  \"description\": {dump(value['description'])},")
            lines.append('  "cases": [')
            cases = value["cases"]
            lines += [f"   {dump(x)}{',' if j < len(cases) - 1 else ''}" for j, x in enumerate(cases)]
            lines.append("  ]")
            lines.append(f" }}{end}")
        else:
            lines.append(f" {dump(key)}: {dump(value)}{end}")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == json.loads(json.dumps(doc)), "render() must not change the data"
    return text


def main() -> None:
    doc = {
        "description": "State hash vectors (docs/hashing.md): hash = sha256(utf8(JCS(normalize(state))))[:8] "
                       "as 16 hex. Generated by tests/vectors/make_hashing_vectors.py; read by "
                       "tests/test_hashing.py and tests/js/hashing.test.mjs.",
        "markers": {
            "$float": "nan | inf | -inf | -0.0: that float",
            "$int": "decimal string: an integer of any size (Python int, JS BigInt)",
            "$tuple": "a Python tuple (JS: array)",
            "$deep_list": "n nested lists, [] innermost",
            "$js": "undefined | function | symbol | map | set | date | class | typed_array | hole: "
                   "JavaScript-only values",
        },
        "vectors": VECTORS,
        "errors": ERRORS,
        "bench_states": BENCH_STATES,
        "float_rounding": {
            "description": "[input bits, normalized bits] as big-endian IEEE 754 hex; non-integral finite inputs",
            "cases": FLOAT_ROUNDING,
        },
        "number_formatting": {
            "description": "RFC 8785 Appendix B: IEEE 754 bits -> ECMAScript Number::toString (JCS) text, "
                           "before normalization",
            "cases": NUMBER_FORMATTING,
        },
    }
    OUT.write_text(render(doc), encoding="ascii")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(VECTORS)} vectors, {len(ERRORS)} error cases, "
          f"{len(FLOAT_ROUNDING)} float roundings, {len(NUMBER_FORMATTING)} number formats")


if __name__ == "__main__":
    main()

"""interactive_gym_p2p.hashing against tests/vectors/hashing.json, the rfc8785 package, exact
rational arithmetic, and the JavaScript twin (static/js/hashing.js run by node)."""

from __future__ import annotations

import ast
import collections
import decimal
import enum
import hashlib
import json
import math
import random
import re
import shutil
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from interactive_gym_p2p import hashing
from interactive_gym_p2p.hashing import (
    HashError,
    canonicalize,
    normalize_float,
    normalize_float_exact,
    normalize_state,
    state_hash,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "vectors"))
from markers import decode  # noqa: E402  (shared with the vector generator and the Pyodide test)

VECTORS = json.loads((ROOT / "tests" / "vectors" / "hashing.json").read_text(encoding="utf-8"))
MAX = 2**53


def bits(x: float) -> str:
    return struct.pack(">d", x).hex()


def from_bits(h: str) -> float:
    return struct.unpack(">d", bytes.fromhex(h))[0]


def for_rfc8785(v: Any) -> Any:
    """rfc8785 stops at 2**53 - 1; +-2**53 print the same as floats."""
    if isinstance(v, dict):
        return {k: for_rfc8785(x) for k, x in v.items()}
    if isinstance(v, list):
        return [for_rfc8785(x) for x in v]
    if type(v) is int and abs(v) == MAX:
        return float(v)
    return v


def ref_float(x: float) -> float:
    """Independent exact rounding: rational arithmetic, half away from zero."""
    q = math.floor(abs(Fraction(x)) * 10**10 + Fraction(1, 2))
    return math.copysign(float(Fraction(q, 10**10)), x)


def random_double(rng: random.Random) -> float:
    """Doubles across all magnitudes, with ties and near-ties over-represented."""
    kind = rng.randrange(7)
    if kind == 0:
        x = struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
    elif kind == 1:
        x = rng.uniform(-1, 1) * 10.0 ** rng.randint(-15, 16)
    elif kind == 2:
        x = rng.randrange(2**19) + (2 * rng.randrange(1024) + 1) / 2048  # exact tie
    elif kind == 3:
        tie = rng.randrange(2**19) + (2 * rng.randrange(1024) + 1) / 2048
        x = math.nextafter(tie, rng.choice([-math.inf, math.inf]))
    elif kind == 4:
        x = (rng.randrange(5 * 10**15) + 0.5) / 1e10  # near a decimal tie
    elif kind == 5:
        x = round(rng.uniform(-1e4, 1e4), rng.randint(0, 12))
    else:
        x = rng.uniform(-(2.0**53), 2.0**53) / 2.0 ** rng.randint(0, 80)
    return -x if rng.random() < 0.5 else x


# ---------------------------------------------------------------- vectors


@pytest.mark.parametrize("vec", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vector(vec: dict) -> None:
    state = decode(vec["state"])
    assert canonicalize(state) == vec["canonical"]
    assert state_hash(state) == vec["hash"]
    assert hashlib.sha256(vec["canonical"].encode("utf-8")).hexdigest()[:16] == vec["hash"]
    normalized = normalize_state(state)
    assert canonicalize(normalized) == vec["canonical"]  # normalization is idempotent
    assert rfc8785.dumps(for_rfc8785(normalized)).decode("utf-8") == vec["canonical"]


def test_vectors_cover_the_traps() -> None:
    by_name = {v["name"]: v for v in VECTORS["vectors"]}
    same = [
        ("1.0 (float)", "1 (int)"),
        ("0.1 + 0.2", "0.1 + 0.2 vs 0.3: same hash"),
        ("-0.0 writes as 0", "0 (int)"),
        ("tokens NaN/Infinity/-Infinity", "token strings hash like the floats"),
    ]
    for a, b in same:
        assert by_name[a]["hash"] == by_name[b]["hash"], (a, b)
    assert len({v["hash"] for v in VECTORS["vectors"]}) >= len(VECTORS["vectors"]) - len(same) - 4
    # The vector file really holds a float 1.0 and an int 1, -0.0, and an exact binary tie.
    assert type(decode(by_name["1.0 (float)"]["state"])["x"]) is float
    assert type(decode(by_name["1 (int)"]["state"])["x"]) is int
    assert math.copysign(1, decode(by_name["-0.0 writes as 0"]["state"])["x"]) == -1
    tie = decode(by_name["tie 2**-11 = 0.00048828125"]["state"])["x"]
    assert decimal.Decimal(tie) == decimal.Decimal("0.00048828125")
    assert round(tie, 10) == 0.0004882812 and format(tie, ".10f") == "0.0004882812"  # naive: half even
    assert normalize_float(tie) == 0.0004882813


@pytest.mark.parametrize("case", [e for e in VECTORS["errors"] if e["lang"] in ("both", "py")],
                         ids=lambda e: e["name"])
def test_error_vector(case: dict) -> None:
    if "state_py_expr" in case:
        expr = case["state_py_expr"]
        state = ast.literal_eval(expr) if "**" not in expr else eval(expr, {"__builtins__": {}})  # noqa: S307
    else:
        state = decode(case["state"])
    for fn in (canonicalize, state_hash, normalize_state):
        with pytest.raises(HashError) as info:
            fn(state)
        assert info.value.path == case["error_path"]
        assert str(info.value).endswith(f" at {case['error_path']}")
        assert isinstance(info.value, ValueError)


def test_error_messages_name_the_problem() -> None:
    with pytest.raises(HashError, match=r"integer 9007199254740993 is outside \+-2\*\*53 \(not exact in JavaScript\) at \$\.players\[1\]\.score"):
        state_hash({"players": [{"score": 0}, {"score": 2**53 + 1}]})
    with pytest.raises(HashError, match=r"dict keys 1 and '1' collide"):
        canonicalize({1: "a", "1": "b"})
    with pytest.raises(HashError, match=r"builtins\.object is not JSON-able at \$\.o"):
        canonicalize({"o": object()})
    with pytest.raises(HashError, match=r"nested deeper than 256") as info:
        cycle: list = []
        cycle.append(cycle)
        canonicalize(cycle)
    assert info.value.path == "$" + "[0]" * 256


# ---------------------------------------------------------------- floats


def test_float_rounding_table() -> None:
    cases = VECTORS["float_rounding"]["cases"]
    assert len(cases) > 1000
    for x_bits, want in cases:
        x = from_bits(x_bits)
        assert bits(normalize_float(x)) == want, x
        assert bits(normalize_float_exact(x)) == want, x


def test_fast_path_equals_exact_path_on_random_doubles() -> None:
    rng = random.Random(20240611)
    checked = 0
    while checked < 120_000:
        x = random_double(rng)
        if not math.isfinite(x) or x.is_integer():
            continue
        fast = normalize_float(x)
        exact = normalize_float_exact(x)
        assert bits(fast) == bits(exact), x  # bitwise: the sign of a zero result agrees too
        assert hashing._float_text(x) == hashing._es_number(fast), x
        checked += 1
    # And the exact path against rational arithmetic (slower, so a subset).
    for _ in range(20_000):
        x = random_double(rng)
        if math.isfinite(x) and not x.is_integer():
            assert bits(normalize_float_exact(x)) == bits(ref_float(x)), x


def test_normalize_float_special_values() -> None:
    assert normalize_float(math.nan) == "NaN"
    assert normalize_float(math.inf) == "Infinity"
    assert normalize_float(-math.inf) == "-Infinity"
    for integral in (0.0, -0.0, 1.0, -7.0, 2.0**60, 1e300, -1.7976931348623157e308):
        assert bits(normalize_float(integral)) == bits(integral)
    assert bits(normalize_float(-1e-12)) == bits(-0.0)  # like Decimal: a negative rounds to -0
    assert canonicalize(-1e-12) == "0"


def test_caller_decimal_context_does_not_matter() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = decimal.ROUND_FLOOR
        ctx.traps[decimal.Inexact] = True
        assert normalize_float_exact(2**-11) == 0.0004882813
        assert normalize_float_exact(-(524287 + 2**-11)) == -524287.0004882813


# ---------------------------------------------------------------- JCS numbers


def test_number_formatting_table() -> None:
    for x_bits, text in VECTORS["number_formatting"]["cases"]:
        x = from_bits(x_bits)
        assert hashing._es_number(x) == text, x_bits
        if normalize_float(x) == x:
            assert canonicalize(x) == text


def test_number_formatting_matches_rfc8785_on_random_doubles() -> None:
    rng = random.Random(8785)
    for _ in range(50_000):
        x = random_double(rng)
        if math.isfinite(x):
            assert hashing._es_number(x) == rfc8785.dumps(x).decode(), repr(x)


# ---------------------------------------------------------------- canonical JSON vs rfc8785

KEY_POOL = ["a", "b", "B", "_", "id", "x y", "\u00e9", "\u20ac", "\ue000", "\uffff", "\ufb33", "\U0001f600",
            "\U00010000", "\r", "1", "10", "2", "", "\u0080", "__proto__"]


def random_state(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return random_double(rng)
    if kind == 1:
        return rng.randint(-MAX, MAX) if rng.random() < 0.3 else rng.randint(-1000, 1000)
    if kind == 2:
        return "".join(rng.choice(KEY_POOL + ["\n", "\"", "\\", "\u0001", "\u2028", "z"]) for _ in range(rng.randrange(5)))
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 0.5, 1.0])
    if kind == 5:
        return round(rng.uniform(-100, 100), rng.randrange(12))
    if kind == 6:
        return [random_state(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 7:
        return tuple(random_state(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {k: random_state(rng, depth + 1) for k in rng.sample(KEY_POOL, rng.randrange(6))}


def test_canonical_matches_rfc8785_on_generated_states() -> None:
    rng = random.Random(2024)
    for _ in range(1500):
        state = {"s": random_state(rng), "t": random_state(rng)}
        normalized = normalize_state(state)
        text = canonicalize(state)
        assert rfc8785.dumps(for_rfc8785(normalized)).decode("utf-8") == text
        assert canonicalize(normalized) == text
        assert json.loads(text) is not None  # valid JSON


def test_key_insertion_order_does_not_matter() -> None:
    rng = random.Random(7)
    keys = list(KEY_POOL)
    state = {k: i for i, k in enumerate(keys)}
    want = state_hash(state)
    for _ in range(20):
        rng.shuffle(keys)
        assert state_hash({k: state[k] for k in keys}) == want


def test_int_keys_become_strings_and_sort_as_strings() -> None:
    assert canonicalize({10: "a", 2: "b", "1": "c", -1: "d"}) == '{"-1":"d","1":"c","10":"a","2":"b"}'


def test_python_types_accepted() -> None:
    class Color(enum.IntEnum):
        RED = 3

    class Name(str):
        pass

    class Ratio(float):
        pass

    state = {
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "default": collections.defaultdict(int, {"k": 1}),
        "enum": Color.RED,
        Name("sub"): Name("str subclass"),
        "ratio": Ratio(2**-11),
        "tuple": (1, (2, 3)),
        "named": collections.namedtuple("P", "x y")(1, 2),
        Color.RED: "int-enum key",
    }
    assert canonicalize(state) == (
        '{"3":"int-enum key","default":{"k":1},"enum":3,"named":[1,2],"ordered":{"a":2,"b":1},'
        '"ratio":0.0004882813,"sub":"str subclass","tuple":[1,[2,3]]}'
    )
    assert canonicalize(normalize_state(state)) == canonicalize(state)


def test_input_is_not_mutated() -> None:
    state = {"b": [0.30000000000000004, (1, 2)], "a": {1: math.nan}}
    before = repr(state)
    normalize_state(state)
    canonicalize(state)
    state_hash(state)
    assert repr(state) == before


def test_state_hash_shape() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", state_hash({"frame": 1}))
    assert state_hash({}) == hashlib.sha256(b"{}").hexdigest()[:16]


def test_module_is_stdlib_only_and_standalone() -> None:
    """Pyodide loads hashing.py on its own: no package-relative and no third-party imports."""
    tree = ast.parse((ROOT / "interactive_gym_p2p" / "hashing.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            modules = [node.module or ""]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        for name in modules:
            top = name.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names, name


# ---------------------------------------------------------------- cross-language

NODE_SCRIPT = """
import { stateHash, canonicalize } from %s;
let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const out = JSON.parse(input).map((s) => [canonicalize(s), stateHash(s)]);
process.stdout.write(JSON.stringify(out));
"""


def test_javascript_twin_agrees_on_generated_states(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node (20+) is required: the JavaScript twin must be checked against Python"
    rng = random.Random(99)
    states = []
    for _ in range(400):
        state = {"s": random_state(rng), "t": random_state(rng)}
        # JSON text cannot carry NaN/Infinity or -0.0: give them as their tokens / 0.
        states.append(json.loads(json.dumps(normalize_state(state))))
    script = tmp_path / "hash_states.mjs"
    script.write_text(NODE_SCRIPT % json.dumps((ROOT / "static" / "js" / "hashing.js").as_uri()), encoding="utf-8")
    done = subprocess.run([node, str(script)], input=json.dumps(states), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for state, (js_canonical, js_hash) in zip(states, results, strict=True):
        assert js_canonical == canonicalize(state)
        assert js_hash == state_hash(state)


def test_benchmark_states_match_the_vectors() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import hash_bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for entry in VECTORS["bench_states"]:
        state = hash_bench.make_game_state(entry["players"], entry["entities"])
        assert state_hash(state) == entry["hash"]
        assert len(canonicalize(state).encode("utf-8")) == entry["canonical_bytes"]
    sizes = {e["name"]: e["canonical_bytes"] for e in VECTORS["bench_states"]}
    assert 800 <= sizes["small"] <= 1300 and 90_000 <= sizes["large"] <= 110_000

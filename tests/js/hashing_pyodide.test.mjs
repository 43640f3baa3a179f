// interactive_gym_p2p/hashing.py inside Pyodide (as the browser loads it: a stand-alone module
// from source) must pass the same vectors as CPython and static/js/hashing.js.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from 'pyodide';

import { stateHash } from '../../static/js/hashing.js';
import { makeGameState } from '../../benchmarks/hash_bench.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE = readFileSync(`${ROOT}interactive_gym_p2p/hashing.py`, 'utf8');
const VECTORS_TEXT = readFileSync(`${ROOT}tests/vectors/hashing.json`, 'utf8');
const MARKERS = readFileSync(`${ROOT}tests/vectors/markers.py`, 'utf8');

// Runs in Pyodide: loads hashing.py like the browser does, checks every vector, returns a report.
const CHECK = `
import ast, json, math, struct, sys, types

def load(name, source):
    module = types.ModuleType(name)
    module.__file__ = "hashing.py"
    sys.modules[name] = module
    exec(compile(source, "hashing.py", "exec"), module.__dict__)
    return module

h = load("interactive_gym_p2p_hashing", SOURCE)
doc = json.loads(VECTORS_TEXT)

exec(MARKERS, globals())  # tests/vectors/markers.py: decode()

failures = []
for vec in doc["vectors"]:
    state = decode(vec["state"])
    got = (h.canonicalize(state), h.state_hash(state))
    if got != (vec["canonical"], vec["hash"]):
        failures.append(["vector", vec["name"], got])
errors = 0
for case in doc["errors"]:
    if case["lang"] == "js":
        continue
    if "state_py_expr" in case:
        expr = case["state_py_expr"]
        state = ast.literal_eval(expr) if "**" not in expr else eval(expr, {"__builtins__": {}})
    else:
        state = decode(case["state"])
    try:
        h.state_hash(state)
        failures.append(["error not raised", case["name"]])
    except h.HashError as e:
        errors += 1
        if e.path != case["error_path"]:
            failures.append(["error path", case["name"], e.path])
roundings = 0
for x_bits, want in doc["float_rounding"]["cases"]:
    x = struct.unpack(">d", bytes.fromhex(x_bits))[0]
    for fn in (h.normalize_float, h.normalize_float_exact):
        if struct.pack(">d", fn(x)).hex() != want:
            failures.append(["rounding", x_bits, fn.__name__])
    roundings += 1
json.dumps({"version": sys.version.split()[0], "vectors": len(doc["vectors"]), "errors": errors,
            "roundings": roundings, "failures": failures[:20]})
`;

test('hashing.py in Pyodide passes every vector, error case and rounding case', { timeout: 120_000 }, async () => {
  const pyodide = await loadPyodide();
  pyodide.globals.set('SOURCE', SOURCE);
  pyodide.globals.set('VECTORS_TEXT', VECTORS_TEXT);
  pyodide.globals.set('MARKERS', MARKERS);
  const report = JSON.parse(pyodide.runPython(CHECK));
  assert.deepEqual(report.failures, []);
  const vectors = JSON.parse(VECTORS_TEXT);
  assert.equal(report.vectors, vectors.vectors.length);
  assert.equal(report.errors, vectors.errors.filter((e) => e.lang !== 'js').length);
  assert.equal(report.roundings, vectors.float_rounding.cases.length);
  assert.match(report.version, /^3\.\d+/);

  // A state built in JS, converted to Python by Pyodide, hashes the same on both sides.
  const state = makeGameState(2, 4);
  const pyState = pyodide.toPy(state);
  try {
    pyodide.globals.set('py_state', pyState);
    const pyHash = pyodide.runPython('import sys\nsys.modules["interactive_gym_p2p_hashing"].state_hash(py_state)');
    assert.equal(pyHash, stateHash(state));
  } finally {
    pyState.destroy();
  }
});

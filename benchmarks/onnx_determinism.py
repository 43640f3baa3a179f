"""Are onnxruntime-web's outputs bit-identical across runs and engines? A small policy network
(64 -> 128 tanh -> 128 relu -> 6 softmax, float32, seeded weights) is built with the `onnx`
package; onnxruntime-web's wasm backend runs it on the same 256 inputs in node and in Debian's
Chromium (several runs, each in a fresh session; `env.wasm.simd` on and off: onnxruntime-web
1.31 ships only the SIMD build, so the flag may change nothing), and numpy computes the
same network in CPython. The table gives each output's SHA-256 prefix and the largest
difference from the first engine's output, and how often the argmax (the action) differs.

    pip install onnx numpy; npm install --no-save onnxruntime-web@1.31.1
    python benchmarks/onnx_determinism.py [--runs 3]

What it can show: identity across runs, across SIMD and non-SIMD wasm, and between node's and
Chromium's wasm on this one x86-64 CPU. What it cannot: other browsers (Firefox, Safari) and
other CPUs, which is where floating-point differences between wasm engines (relaxed SIMD, fused
multiply-add) would come from. docs/ai.md draws the conclusion.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(1, str(REPO / "tests"))  # harness imports tests/waiting.py
ORT_DIST = REPO / "node_modules" / "onnxruntime-web" / "dist"
N, IN, H, OUT = 256, 64, 128, 6


def build(folder: Path) -> tuple[Path, Any]:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w = {"W1": (IN, H), "b1": (H,), "W2": (H, H), "b2": (H,), "W3": (H, OUT)}
    arrays = {k: (rng.standard_normal(shape) / 8).astype(np.float32) for k, shape in w.items()}
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h1"]), helper.make_node("Tanh", ["h1"], ["a1"]),
             helper.make_node("Gemm", ["a1", "W2", "b2"], ["h2"]), helper.make_node("Relu", ["h2"], ["a2"]),
             helper.make_node("MatMul", ["a2", "W3"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    graph = helper.make_graph(nodes, "policy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", IN])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", OUT])],
                              [numpy_helper.from_array(a, k) for k, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = folder / "policy.onnx"
    onnx.save(model, str(path))
    return path, arrays


def inputs() -> list[float]:
    """The same float32-exact inputs everywhere: an integer LCG mapped to [-2, 2)."""
    out, s = [], 12345
    for _ in range(N * IN):
        s = (s * 1103515245 + 12345) & 0xFFFFFFFF
        out.append(((s >> 8) / 16777216) * 4 - 2)
    return out


def numpy_probs(arrays: dict[str, Any], x: list[float]) -> bytes:
    import numpy as np

    a = np.asarray(x, dtype=np.float32).reshape(N, IN)
    h = np.tanh(a @ arrays["W1"] + arrays["b1"])
    h = np.maximum(h @ arrays["W2"] + arrays["b2"], np.float32(0))
    z = h @ arrays["W3"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32).tobytes()


RUNNER = """
const [ortUrl, modelB64, runs, simd] = ARGS;
const ort = await import(ortUrl);
ort.env.wasm.numThreads = 1;
ort.env.wasm.simd = simd;
ort.env.wasm.wasmPaths = WASM_PATHS;
const model = Uint8Array.from(atob(modelB64), (c) => c.charCodeAt(0));
const x = new Float32Array(%(n)d * %(inp)d);
let s = 12345;
for (let i = 0; i < x.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; x[i] = ((s >>> 8) / 16777216) * 4 - 2; }
const outs = [];
for (let r = 0; r < runs; r++) {
  const sess = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const res = await sess.run({ x: new ort.Tensor('float32', x, [%(n)d, %(inp)d]) });
  outs.push(Array.from(new Uint8Array(res.probs.data.buffer, res.probs.data.byteOffset, res.probs.data.byteLength)));
  await sess.release();
}
""" % {"n": N, "inp": IN}


def node_runs(model: Path, runs: int, simd: bool) -> list[bytes]:
    import base64

    script = ("const ARGS = %s; const WASM_PATHS = %s;\n%s\nprocess.stdout.write(JSON.stringify(outs));\n" % (
        json.dumps([(ORT_DIST / "ort.node.min.mjs").as_uri(), base64.b64encode(model.read_bytes()).decode(), runs, simd]),
        json.dumps(str(ORT_DIST) + "/"), RUNNER))
    done = subprocess.run(["node", "--input-type=module"], input=script, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"node: {done.stderr[-2000:]}")
    return [bytes(o) for o in json.loads(done.stdout)]


async def chromium_runs(model: Path, runs: int, simd: bool, port: int) -> list[bytes]:
    import base64

    from playwright.async_api import async_playwright

    from harness.chromium import launch_chromium

    base = f"http://127.0.0.1:{port}/"
    body = ("const ARGS = %s; const WASM_PATHS = %s;\n%s\nreturn outs;" % (
        json.dumps([base + "ort.wasm.min.mjs", base64.b64encode(model.read_bytes()).decode(), runs, simd]),
        json.dumps(base), RUNNER))
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            page = await browser.new_page()
            await page.goto(base + "index.html")
            outs = await page.evaluate("async () => { %s }" % body)
        finally:
            await browser.close()
    return [bytes(o) for o in outs]


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def compare(name: str, outs: list[bytes], ref: bytes) -> None:
    import numpy as np

    r = np.frombuffer(ref, dtype=np.float32).reshape(N, OUT)
    for i, o in enumerate(outs):
        a = np.frombuffer(o, dtype=np.float32).reshape(N, OUT)
        diff = float(np.max(np.abs(a.astype(np.float64) - r.astype(np.float64))))
        bits = int(np.sum(a.view(np.uint32) != r.view(np.uint32)))
        actions = int(np.sum(a.argmax(axis=1) != r.argmax(axis=1)))
        print(f"{name:<24} {i:>3} {hashlib.sha256(o).hexdigest()[:16]:>17} {bits:>10} {diff:>12.3g} {actions:>8}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (ORT_DIST / "ort.wasm.min.mjs").is_file():
        raise SystemExit("onnxruntime-web is not installed: npm install --no-save onnxruntime-web@1.31.1")
    with tempfile.TemporaryDirectory(prefix="p2p-onnx-") as tmp:
        folder = Path(tmp)
        model, arrays = build(folder)
        for f in ORT_DIST.glob("ort-wasm-simd-threaded*"):
            shutil.copy(f, folder / f.name)
        shutil.copy(ORT_DIST / "ort.wasm.min.mjs", folder / "ort.wasm.min.mjs")
        (folder / "index.html").write_text("<!doctype html><title>onnx</title>", encoding="utf-8")
        server, port = serve(folder)
        try:
            results: dict[str, list[bytes]] = {}
            for simd in (True, False):
                results[f"node wasm simd={simd}"] = node_runs(model, args.runs, simd)
                results[f"chromium wasm simd={simd}"] = asyncio.run(chromium_runs(model, args.runs, simd, port))
        finally:
            server.shutdown()
        ref = results["node wasm simd=True"][0]
        print(f"{'engine':<24} {'run':>3} {'sha256':>17} {'bits diff':>10} {'max |diff|':>12} {'argmax':>8}")
        for name, outs in results.items():
            compare(name, outs, ref)
        compare("numpy (CPython)", [numpy_probs(arrays, inputs())], ref)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

// Small statistics helpers for the session's telemetry (export stats and the benchmark).

/** Nearest-rank percentile of a numeric array (q in [0, 1]); null for no samples. */
export function percentile(values, q) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Map(depth -> count) -> {"1": n, "2": n, ...} with keys in increasing numeric order. */
export function histogramObject(map) {
  const out = {};
  for (const k of Array.from(map.keys()).sort((a, b) => a - b)) out[String(k)] = map.get(k);
  return out;
}

/** Round to 3 decimals so exported numbers stay short and stable. */
export function round3(x) {
  return x === null || x === undefined ? null : Math.round(x * 1000) / 1000;
}

/** ISO 8601 (UTC, milliseconds) of epoch milliseconds. */
export function isoTime(ms) {
  return new Date(Math.round(ms)).toISOString();
}

// Checks a value against the validation export's JSON Schema (draft 2020-12), in the browser
// and in node. Mirrors interactive_gym_p2p/validation/schema_compiler.py: the same fixed
// keyword subset, compiled once into closures, and any other keyword refused, so a rule is
// never silently skipped. Problems are {path: '$.episodes[0].frames[3][2]', message}.

export const SUPPORTED_KEYWORDS = new Set([
  '$schema', '$id', '$defs', '$ref', 'title', 'description',
  'type', 'const', 'enum', 'required', 'properties', 'additionalProperties', 'propertyNames',
  'items', 'prefixItems', 'minItems', 'maxItems',
  'minimum', 'maximum', 'exclusiveMinimum', 'maxLength', 'pattern', 'not', 'anyOf',
]);

export class UnsupportedSchemaError extends Error {
  constructor(message) { super(message); this.name = 'UnsupportedSchemaError'; }
}

class Full extends Error {}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** ['episodes', 0, 'frames'] -> '$.episodes[0].frames' (same spelling as schema.py's json_path). */
export function jsonPath(parts) {
  let out = '$';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (IDENT.test(part)) out += `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

function isType(v, name) {
  switch (name) {
    case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'null': return v === null;
    case 'boolean': return typeof v === 'boolean';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    default: throw new UnsupportedSchemaError(`unknown type ${JSON.stringify(name)}`);
  }
}

/** Equality as JSON sees it (deep; true is not 1). */
export function jsonEqual(a, b) {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isType(a, 'object') || isType(b, 'object')) {
    if (!isType(a, 'object') || !isType(b, 'object')) return false;
    const ka = Object.keys(a); const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return a === b;
}

function short(v) {
  let text;
  try { text = JSON.stringify(v); } catch { text = String(v); }
  if (text === undefined) text = String(v);
  return text.length <= 60 ? text : `${text.slice(0, 57)}...`;
}

/**
 * Compile a schema. Returns `check(value, limit = 50) -> problems[]` (empty when valid).
 * Throws UnsupportedSchemaError for a keyword outside the supported subset.
 */
export function compileSchema(root) {
  const refs = new Map();

  function resolve(ref) {
    if (!ref.startsWith('#/')) throw new UnsupportedSchemaError(`only local references are supported, not ${ref}`);
    if (!refs.has(ref)) {
      let target = root;
      for (const part of ref.slice(2).split('/')) target = target[part.replaceAll('~1', '/').replaceAll('~0', '~')];
      if (target === undefined) throw new UnsupportedSchemaError(`unresolvable reference ${ref}`);
      let compiled = null;
      refs.set(ref, (v, p, s) => compiled(v, p, s));
      compiled = compile(target);
      refs.set(ref, compiled);
    }
    return refs.get(ref);
  }

  function passes(check, v) {
    const probe = { failed: false, add() { this.failed = true; throw new Full(); } };
    try { check(v, [], probe); } catch (err) { if (!(err instanceof Full)) throw err; }
    return !probe.failed;
  }

  function compile(schema) {
    if (schema === true) return () => {};
    if (schema === false) return (v, p, s) => s.add(p, 'no value is allowed here');
    if (!isType(schema, 'object')) throw new UnsupportedSchemaError(`a schema must be an object or a boolean, not ${short(schema)}`);
    const unknown = Object.keys(schema).filter((k) => !SUPPORTED_KEYWORDS.has(k));
    if (unknown.length) throw new UnsupportedSchemaError(`unsupported keywords ${JSON.stringify(unknown.sort())}`);
    const checks = [];
    if ('$ref' in schema) checks.push(resolve(schema.$ref));
    if ('type' in schema) {
      const names = Array.isArray(schema.type) ? schema.type : [schema.type];
      const label = names.map((n) => `'${n}'`).join(' or ');
      checks.push((v, p, s) => { if (!names.some((n) => isType(v, n))) s.add(p, `${short(v)} is not of type ${label}`); });
    }
    if ('const' in schema) {
      const c = schema.const;
      checks.push((v, p, s) => { if (!jsonEqual(v, c)) s.add(p, `${short(c)} was expected`); });
    }
    if ('enum' in schema) {
      const options = schema.enum;
      checks.push((v, p, s) => { if (!options.some((o) => jsonEqual(v, o))) s.add(p, `${short(v)} is not one of ${short(options)}`); });
    }
    const bounds = [
      ['minimum', (v, x) => v >= x, 'less than the minimum of'],
      ['maximum', (v, x) => v <= x, 'more than the maximum of'],
      ['exclusiveMinimum', (v, x) => v > x, 'less than or equal to the exclusive minimum of'],
    ];
    for (const [keyword, test, words] of bounds) {
      if (keyword in schema) {
        const bound = schema[keyword];
        checks.push((v, p, s) => { if (isType(v, 'number') && !test(v, bound)) s.add(p, `${short(v)} is ${words} ${bound}`); });
      }
    }
    if ('maxLength' in schema) {
      const most = schema.maxLength;
      // Length in code points, as JSON Schema counts it.
      checks.push((v, p, s) => { if (typeof v === 'string' && [...v].length > most) s.add(p, `${short(v)} is longer than ${most} characters`); });
    }
    if ('pattern' in schema) {
      const regex = new RegExp(schema.pattern, 'u');
      checks.push((v, p, s) => { if (typeof v === 'string' && !regex.test(v)) s.add(p, `${short(v)} does not match ${JSON.stringify(schema.pattern)}`); });
    }
    if ('not' in schema) {
      const negated = compile(schema.not);
      checks.push((v, p, s) => { if (passes(negated, v)) s.add(p, `${short(v)} should not be valid under ${short(schema.not)}`); });
    }
    if ('anyOf' in schema) {
      const branches = schema.anyOf.map(compile);
      checks.push((v, p, s) => { if (!branches.some((b) => passes(b, v))) s.add(p, `${short(v)} is not valid under any of the given schemas`); });
    }
    if (['required', 'properties', 'additionalProperties', 'propertyNames'].some((k) => k in schema)) {
      const required = schema.required ?? [];
      const props = new Map(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, compile(v)]));
      const extraSchema = schema.additionalProperties ?? true;
      const extra = extraSchema === true ? null : compile(extraSchema);
      const forbidExtra = extraSchema === false;
      const names = 'propertyNames' in schema ? compile(schema.propertyNames) : null;
      checks.push((v, p, s) => {
        if (!isType(v, 'object')) return;
        for (const key of required) if (!Object.hasOwn(v, key)) s.add(p, `'${key}' is a required property`);
        for (const [key, value] of Object.entries(v)) {
          if (names) names(key, [...p, key], s);
          const check = props.get(key);
          if (check) check(value, [...p, key], s);
          else if (forbidExtra) s.add(p, `additional property '${key}' is not allowed`);
          else if (extra) extra(value, [...p, key], s);
        }
      });
    }
    if (['items', 'prefixItems', 'minItems', 'maxItems'].some((k) => k in schema)) {
      const prefix = (schema.prefixItems ?? []).map(compile);
      const restSchema = schema.items ?? true;
      const rest = restSchema === true ? null : compile(restSchema);
      const least = schema.minItems ?? 0;
      const most = schema.maxItems ?? Infinity;
      checks.push((v, p, s) => {
        if (!Array.isArray(v)) return;
        if (v.length < least) s.add(p, `${short(v)} should have at least ${least} items`);
        if (v.length > most) s.add(p, `${short(v)} should have at most ${most} items`);
        const n = Math.min(prefix.length, v.length);
        for (let i = 0; i < n; i += 1) prefix[i](v[i], [...p, i], s);
        if (rest) for (let i = prefix.length; i < v.length; i += 1) rest(v[i], [...p, i], s);
      });
    }
    if (checks.length === 1) return checks[0];
    return (v, p, s) => { for (const c of checks) c(v, p, s); };
  }

  const top = compile(root);
  return function check(value, limit = 50) {
    const problems = [];
    const sink = {
      add(path, message) {
        problems.push({ path: jsonPath(path), message });
        if (problems.length >= limit) throw new Full();
      },
    };
    try { top(value, [], sink); } catch (err) { if (!(err instanceof Full)) throw err; }
    return problems;
  };
}

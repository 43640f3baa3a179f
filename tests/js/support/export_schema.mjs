// The export's JSON Schema (interactive_gym_p2p/validation/export.schema.json) checked with Ajv,
// the maintained Draft 2020-12 validator, in node tests: the same file the server checks with
// jsonschema-rs. Problems come back as {path, message} with the server's JSON paths
// ($.episodes[0].frames[5][2]).
import Ajv2020 from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';

export const EXPORT_SCHEMA = JSON.parse(readFileSync(new URL('../../../interactive_gym_p2p/validation/export.schema.json', import.meta.url), 'utf8'));

/** JSON Pointer (/a/0/b c) -> the server's path ($.a[0]["b c"]). */
export function pointerToPath(pointer) {
  let out = '$';
  if (!pointer) return out;
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^(0|[1-9][0-9]*)$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

/** A checker of `schema` (default: the export schema): doc -> [{path, message}], [] when valid. */
export function schemaChecker(schema = EXPORT_SCHEMA) {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const validate = ajv.compile(schema);
  return (doc, limit = 50) => {
    if (validate(doc)) return [];
    return validate.errors.slice(0, limit).map((e) => ({ path: pointerToPath(e.instancePath), message: e.message }));
  };
}

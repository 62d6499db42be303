/**
 * A small JSON Schema validator for the keywords schema/lib_users.schema.json
 * uses (type, also as a list, const, enum, oneOf, required, properties,
 * additionalProperties, items, minItems, minimum, $ref to #/$defs). It throws
 * on any other keyword, so the schema cannot quietly outgrow it.
 */

type Schema = Record<string, unknown>;

const KNOWN = new Set([
  "$schema",
  "$id",
  "$defs",
  "$ref",
  "title",
  "description",
  "type",
  "const",
  "enum",
  "oneOf",
  "required",
  "properties",
  "additionalProperties",
  "items",
  "minItems",
  "minimum",
  "contentEncoding",
]);

/** Returns the list of violations of `value` against `root` (empty when valid). */
export function validate(root: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(root, root, value, "$", errors);
  return errors;
}

function check(root: Schema, schema: Schema, v: unknown, at: string, errors: string[]): void {
  for (const key of Object.keys(schema)) {
    if (!KNOWN.has(key)) throw new Error(`Unsupported schema keyword "${key}" at ${at}`);
  }
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace(/^#\/\$defs\//, "");
    check(root, (root.$defs as Record<string, Schema>)[name]!, v, at, errors);
    return;
  }
  const passes = (option: Schema) => {
    const found: string[] = [];
    check(root, option, v, at, found);
    return found.length === 0;
  };
  if (Array.isArray(schema.oneOf)) {
    const matching = (schema.oneOf as Schema[]).filter(passes).length;
    if (matching !== 1) errors.push(`${at}: matches ${matching} of oneOf`);
    return;
  }
  if (Array.isArray(schema.type)) {
    if (!(schema.type as string[]).some((type) => passes({ ...schema, type }))) {
      errors.push(`${at}: not ${schema.type.join(" or ")}`);
    }
    return;
  }
  if ("const" in schema && v !== schema.const) errors.push(`${at}: not ${schema.const}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(v)) errors.push(`${at}: not in enum`);
  switch (schema.type) {
    case "object": {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        errors.push(`${at}: not an object`);
        return;
      }
      const record = v as Record<string, unknown>;
      for (const key of (schema.required as string[] | undefined) ?? []) {
        if (!(key in record)) errors.push(`${at}: missing ${key}`);
      }
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      for (const [key, item] of Object.entries(record)) {
        if (properties[key]) check(root, properties[key], item, `${at}.${key}`, errors);
        else if (schema.additionalProperties === false) errors.push(`${at}: extra ${key}`);
      }
      break;
    }
    case "array":
      if (!Array.isArray(v)) {
        errors.push(`${at}: not an array`);
        return;
      }
      if (typeof schema.minItems === "number" && v.length < schema.minItems) {
        errors.push(`${at}: fewer than ${schema.minItems} items`);
      }
      v.forEach((item, i) => check(root, schema.items as Schema, item, `${at}[${i}]`, errors));
      break;
    case "string":
      if (typeof v !== "string") errors.push(`${at}: not a string`);
      else if (schema.contentEncoding === "base64" && !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
        errors.push(`${at}: not base64`);
      }
      break;
    case "integer":
      if (!Number.isInteger(v)) errors.push(`${at}: not an integer`);
      else if (typeof schema.minimum === "number" && (v as number) < schema.minimum) {
        errors.push(`${at}: below ${schema.minimum}`);
      }
      break;
    case "null":
      if (v !== null) errors.push(`${at}: not null`);
      break;
    case "boolean":
      if (typeof v !== "boolean") errors.push(`${at}: not a boolean`);
      break;
    case undefined:
      break;
    default:
      throw new Error(`Unsupported type "${schema.type}" at ${at}`);
  }
}

/** Loads the project's JSON Schema. */
export async function loadSchema(): Promise<Schema> {
  return JSON.parse(
    await Deno.readTextFile(new URL("../schema/lib_users.schema.json", import.meta.url)),
  );
}

// Values from the cluster as JSON text. A result or a stored value is
// anything CBOR carries, which is more than JSON has, so a few kinds are
// written the way the CLI prints them (Sets as arrays, Maps as objects,
// bigints as decimal strings), bytes as base64 text, and undefined as null.

export function toJson(value: unknown): string {
  return JSON.stringify(value, replacer) ?? 'null';
}

// A function rather than an arrow: `this[key]` is the value before its
// toJSON ran, which tells a Buffer (whose toJSON makes { type, data }) as bytes.
function replacer(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64');
  if (value instanceof Set) return [...(value as Set<unknown>)];
  if (value instanceof Map) return Object.fromEntries(value as Map<unknown, unknown>);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

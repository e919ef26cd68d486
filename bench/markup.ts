// The report's markup is written as strings, so every piece of text that came
// from a results file (metric names, labels, notes: anything a bench or a
// hand-edited JSON put there) goes through escapeXml, and every attribute
// through el(). The output is well-formed XML as well as HTML, so an XML
// parser can check it.

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `s` as text or an attribute value: the five characters XML gives meaning to, escaped. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export type Attrs = Record<string, string | number | undefined>;

/** `<tag attrs>children</tag>`, or `<tag attrs/>` without children. Attribute values are escaped; children are markup already. */
export function el(tag: string, attrs: Attrs = {}, ...children: string[]): string {
  const attributes = Object.entries(attrs)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, v]) => ` ${name}="${escapeXml(String(v))}"`)
    .join('');
  return children.length === 0 ? `<${tag}${attributes}/>` : `<${tag}${attributes}>${children.join('')}</${tag}>`;
}

/** An element holding only `text`, escaped. */
export function textEl(tag: string, attrs: Attrs, text: string): string {
  return el(tag, attrs, escapeXml(text));
}

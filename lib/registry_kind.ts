// What the registry cache needs to know of one kind of registered thing.

export interface RegistryKind<T> {
  /** The registry notice type that invalidates an entry. */
  notice: string;
  key(name: string): string;
  /** The record from the stored value; throws the kind's not-found or damaged error. */
  parse(name: string, stored: unknown): T;
}

/**
 * Values that repeat across keys (tenants, owners, prefixes, scope lists) stored once and
 * referred to by a small number, so a key's columns hold 4 bytes instead of a pointer to
 * its own copy.
 */
export class InternedValues<T> {
  private readonly ids = new Map<string, number>();
  private readonly values: T[] = [];

  constructor(private readonly identify: (value: T) => string) {}

  idOf(value: T): number {
    const identity = this.identify(value);
    const known = this.ids.get(identity);
    if (known !== undefined) return known;
    this.values.push(value);
    this.ids.set(identity, this.values.length - 1);
    return this.values.length - 1;
  }

  /** The id of a value if it was ever stored, without storing it. */
  find(identity: string): number | undefined {
    return this.ids.get(identity);
  }

  /** Every value, by id. */
  all(): readonly T[] {
    return this.values;
  }

  valueOf(id: number): T {
    return this.values[id]!;
  }
}

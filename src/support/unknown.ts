/**
 * Marker types for values a newer QEMU may send that the schema the code
 * was generated from does not know about.
 */

declare const unknownBrand: unique symbol;

/**
 * An enum value, union tag or event name the generated code does not know.
 * At run time it is a plain string. It is deliberately not a `string`
 * subtype: no string literal is assignable to it, so comparing with a
 * known value still narrows unions, and `switch` statements keep it in
 * `default`. Use `String(value)` to read it.
 */
export interface UnknownValue {
  readonly [unknownBrand]: 'a value this schema does not know (sent by a newer QEMU)';
}

/** The shape of a union branch the generated code does not know. */
export type UnknownBranch<Base, Tag extends string> = Omit<Base, Tag> & {
  readonly [K in Tag]: UnknownValue;
} & { readonly [member: string]: unknown };

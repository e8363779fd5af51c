/**
 * The symbols generated code may import from the support library
 * (`qapi-ts/support`), and how: `value` names are run-time exports
 * (generated code may also use them as types), `type` names exist only for
 * the type checker. The generators import through this table only, and a
 * test checks it against this module's real exports, so the two cannot
 * drift apart.
 */
export const SUPPORT_SYMBOLS = {
  z: 'value',
  ValidatorKit: 'value',
  ValidatorRegistry: 'value',
  SchemaValidators: 'value',
  QapiClientBase: 'value',
  UnknownValue: 'type',
  UnknownBranch: 'type',
  ExecuteOptions: 'type',
  QapiClientOptions: 'type',
  QmpExecutor: 'type',
  TypedEvent: 'type',
  ValidatorSet: 'type',
} as const satisfies Record<string, 'value' | 'type'>;

/** A name generated code may import from the support library. */
export type SupportSymbol = keyof typeof SUPPORT_SYMBOLS;

/** A support symbol that exists at run time. */
export type SupportValue = {
  [K in SupportSymbol]: (typeof SUPPORT_SYMBOLS)[K] extends 'value' ? K : never;
}[SupportSymbol];

/** Awaits a promise that must reject with an instance of `cls`; returns the error. */
import { expect } from 'vitest';
import { QmpError } from '../../src/runtime/errors.js';

export async function rejection<T extends Error = QmpError>(
  p: Promise<unknown>,
  cls: abstract new (...args: never[]) => T = QmpError as unknown as abstract new (...args: never[]) => T,
): Promise<T> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    return e as T;
  }
  throw new Error(`expected a rejection with ${cls.name}`);
}

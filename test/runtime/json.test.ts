import { describe, expect, it } from 'vitest';
import { JsonParseError } from '../../src/runtime/errors.js';
import {
  MAX_JSON_DEPTH,
  PARSE_FIRST_LIMIT,
  parseJson,
  parseJsonExact,
  previewJson,
  stringifyJson,
} from '../../src/runtime/json.js';

const nested = (depth: number, inner = '1'): string => '['.repeat(depth) + inner + ']'.repeat(depth);

/** A value `depth` arrays deep, built without recursion. */
function deepValue(depth: number, inner: unknown = 1): unknown {
  let v: unknown = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function parseError(text: string): JsonParseError {
  try {
    parseJson(text);
  } catch (e) {
    expect(e).toBeInstanceOf(JsonParseError);
    return e as JsonParseError;
  }
  throw new Error('expected a JsonParseError');
}

describe('parseJson', () => {
  it('agrees with JSON.parse on ordinary messages', () => {
    const samples = [
      '{"return": {"status": "running", "singlestep": false, "running": true}, "id": 7}\r\n',
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, ' +
        '"capabilities": ["oob"]}}',
      '[1, -2, 3.5, 1e3, -0.25e-2, "a\\"b\\n", true, false, null, [], {}]',
      '"\\u00e9\\ud83d\\ude00"',
      '9007199254740991',
      '-9007199254740991',
    ];
    for (const s of samples) expect(parseJson(s)).toEqual(JSON.parse(s));
  });

  it('keeps integers beyond 2^53 exact as bigint', () => {
    const v = parseJson(
      '{"return": {"model": {"props": {"x": 18446744073709551552, "y": 9007199254740992, ' +
        '"z": -9223372036854775808, "s": 9007199254740991}}}}',
    );
    expect(v).toEqual({
      return: {
        model: {
          props: { x: 18446744073709551552n, y: 9007199254740992n, z: -9223372036854775808n, s: 9007199254740991 },
        },
      },
    });
  });

  it('treats fractions and exponents as numbers even when long', () => {
    expect(parseJson('[12345678901234567.5, 1234567890123456789e2, 0.12345678901234567890]')).toEqual([
      // eslint-disable-next-line no-loss-of-precision -- the literals are the rounded numbers the parser must give
      12345678901234567.5, 1234567890123456789e2, 0.1234567890123456789,
    ]);
  });

  it('keeps long digit runs inside strings as strings', () => {
    expect(parseJson('{"uuid": "12345678901234567890", "n": 1}')).toEqual({ uuid: '12345678901234567890', n: 1 });
  });

  it('drops __proto__ keys, plain or escaped, in both paths', () => {
    for (const s of [
      '{"__proto__": {"polluted": true}, "a": 1}',
      '{"\\u005f_proto__": {"polluted": true}, "a": 1}',
      '{"__proto__": {"polluted": true}, "a": 12345678901234567890}',
    ]) {
      const v = parseJson(s) as Record<string, unknown>;
      expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
      expect(Object.keys(v)).toEqual(['a']);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.assign({}, v)).not.toHaveProperty('polluted');
    }
  });

  it('throws JsonParseError with a position on garbage, never anything else', () => {
    const bad = [
      '',
      '{',
      '{"a" 1}',
      '[1,]',
      'nul',
      '"abc',
      '"a\u0001"',
      '{"a":1}x',
      '01',
      '-',
      '"\\x"',
      '[1 2]',
      '{1:2}',
      '\u0000',
      'garbage line\n',
      '9999999999999999999999 x',
    ];
    for (const s of bad) {
      let caught: unknown;
      try {
        parseJson(s);
      } catch (e) {
        caught = e;
      }
      expect(caught, s).toBeInstanceOf(JsonParseError);
      expect((caught as JsonParseError).code).toBe('QMP_ERR_JSON');
    }
    const deep = '['.repeat(100_000) + '1' + ']'.repeat(100_000) + ' 12345678901234567';
    expect(() => parseJson(deep)).toThrow(JsonParseError);
  });

  it('never throws anything but JsonParseError on random bytes', () => {
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const alphabet = '{}[]",:0123456789-.eE truefalsnul\\u_p\n';
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const len = Math.floor(rnd() * 40);
      for (let j = 0; j < len; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      try {
        const v = parseJson(s);
        // Whatever parses must parse the same as JSON.parse (modulo bigints).
        if (!/\d{16}/.test(s) && !s.includes('__proto__')) expect(v).toEqual(JSON.parse(s));
      } catch (e) {
        expect(e, s).toBeInstanceOf(JsonParseError);
      }
    }
  });
});

describe('parseJson with integers beyond 2^53 (JSON.parse of the text with them marked)', () => {
  /** The value, or the error's message, as comparable text. */
  const outcome = (parse: () => unknown): string => {
    try {
      return JSON.stringify(parse(), (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    } catch (e) {
      expect(e).toBeInstanceOf(JsonParseError);
      return `error: ${(e as Error).message}`;
    }
  };
  const same = (text: string): void => {
    expect(
      outcome(() => parseJson(text)),
      text,
    ).toBe(outcome(() => parseJsonExact(text)));
  };

  it('gives exactly what the exact parser gives, on hand-picked texts', () => {
    const texts = [
      '18446744073709551552',
      '-9223372036854775808',
      '[9007199254740991, 9007199254740992, -9007199254740991, -9007199254740992, 1234567890123456]',
      '{"a": "12345678901234567890", "b": 12345678901234567890, "c": 1.12345678901234567890}',
      '{"d": 1e12345678901234567, "e": 12345678901234567890e2, "f": 1E-12345678901234567, "g": 1e+12345678901234567}',
      '{"s": "x\\\\", "n": 12345678901234567890}',
      '{"s": "x\\"y 12345678901234567890", "n": 12345678901234567890, "t": "\\\\\\"12345678901234567890"}',
      '{12345678901234567890: 1}',
      '[012345678901234567890]',
      '[-012345678901234567890]',
      '[--12345678901234567890]',
      '[12345678901234567890 12345678901234567890]',
      '[12345678901234567890"x"]',
      '["12345678901234567890]',
      '[12345678901234567890',
      nested(1024, '18446744073709551615'),
      nested(1025, '18446744073709551615'),
      `[${'"a", '.repeat(1100)}{"x": [${nested(1023, '18446744073709551615')}]}]`,
      `[${'"a", '.repeat(1100)}{"x": [${nested(1022, '18446744073709551615')}]}]`,
    ];
    for (const text of texts) same(text);
  });

  it('gives exactly what the exact parser gives, on random texts and their mutations', () => {
    let seed = 19;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const digits = (n: number): string =>
      Array.from({ length: n }, (_, i) => String(i === 0 ? 1 + rand(9) : rand(10))).join('');
    const scalar = (): string => {
      switch (rand(9)) {
        case 0:
          return digits(1 + rand(25));
        case 1:
          return `-${digits(1 + rand(25))}`;
        case 2:
          return `${digits(1 + rand(20))}.${digits(1 + rand(20))}`;
        case 3:
          return `${digits(1 + rand(20))}e${rand(2) ? '-' : ''}${digits(1 + rand(18))}`;
        case 4:
          return `"${digits(rand(25))}"`;
        case 5:
          return `"a\\"${digits(rand(20))}\\\\"`;
        case 6:
          return 'true';
        case 7:
          return 'null';
        default:
          return `"\\\\${digits(17)}"`;
      }
    };
    const value = (depth: number): string => {
      if (depth > 4 || rand(3) === 0) return scalar();
      const n = rand(5);
      if (rand(2)) return `[${Array.from({ length: n }, () => value(depth + 1)).join(', ')}]`;
      const member = (i: number): string => `"k${i}${rand(2) ? digits(17) : ''}": ${value(depth + 1)}`;
      return `{${Array.from({ length: n }, (_, i) => member(i)).join(', ')}}`;
    };
    const junk = '"\\-.e0 1,:[]{}x';
    for (let i = 0; i < 3000; i++) {
      const text = value(0);
      same(text);
      // One character changed, inserted or removed.
      const at = rand(text.length + 1);
      const c = junk[rand(junk.length)]!;
      same(text.slice(0, at) + c + text.slice(at + 1));
      same(text.slice(0, at) + c + text.slice(at));
      same(text.slice(0, at) + text.slice(at + 1));
    }
  });
});

describe('parseJson nesting limit (QEMU accepts 1024 levels, and so do we)', () => {
  // Exact path: a bigint or a \u escape sends the text to the exact parser.
  const paths = { fast: '1', exact: '12345678901234567890', escape: '"\\u0041"' };

  it('accepts 1024 levels on every path, with the same result', () => {
    expect(MAX_JSON_DEPTH).toBe(1024);
    for (const [path, inner] of Object.entries(paths)) {
      const v = parseJson(nested(1024, inner));
      const expected = deepValue(1024, path === 'fast' ? 1 : path === 'exact' ? 12345678901234567890n : 'A');
      expect(v, path).toEqual(expected);
    }
    // Objects count as levels too.
    const objects = '{"a":'.repeat(1024) + '1' + '}'.repeat(1024);
    expect(() => parseJson(objects)).not.toThrow();
  });

  it('refuses 1025 levels, and 100,000, on every path, with a located JsonParseError', () => {
    // Up to PARSE_FIRST_LIMIT characters the fast path checks depth after
    // JSON.parse; 300,000 levels are beyond it (brackets scanned first).
    expect(2 * 300_000).toBeGreaterThan(PARSE_FIRST_LIMIT);
    for (const [path, inner] of Object.entries(paths)) {
      for (const depth of [1025, 10_000, 100_000, 300_000]) {
        const e = parseError(nested(depth, inner));
        expect(e.message, `${path} ${depth}`).toBe('nesting deeper than 1024 levels at position 1024');
        expect(e.position).toBe(1024);
      }
    }
    const mixed = '[{"a":'.repeat(600) + '1' + '}]'.repeat(600);
    expect(parseError(mixed).code).toBe('QMP_ERR_JSON');
  });

  it('does not count brackets inside strings', () => {
    const text = JSON.stringify({ s: '['.repeat(5000), t: '\\"[[[', u: ['{'.repeat(3000)] });
    expect(parseJson(text)).toEqual(JSON.parse(text));
    expect(parseJson(text.replace('"s"', '"big":12345678901234567890,"s"'))).toHaveProperty(
      'big',
      12345678901234567890n,
    );
  });
});

describe('stringifyJson', () => {
  it('writes bigints as bare integers and round-trips with parseJson', () => {
    const v = { a: 18446744073709551552n, b: [1, -9223372036854775808n, 'x'], c: { d: null, skip: undefined }, e: 2.5 };
    const s = stringifyJson(v);
    expect(s).toBe('{"a":18446744073709551552,"b":[1,-9223372036854775808,"x"],"c":{"d":null},"e":2.5}');
    expect(parseJson(s)).toEqual({
      a: 18446744073709551552n,
      b: [1, -9223372036854775808n, 'x'],
      c: { d: null },
      e: 2.5,
    });
  });
  it('matches JSON.stringify without bigints', () => {
    const v = { execute: 'query-status', arguments: { a: [1, 'b', true, null] }, id: 3 };
    expect(stringifyJson(v)).toBe(JSON.stringify(v));
    expect(stringifyJson(undefined)).toBe('null');
  });
  it('rejects cycles with a TypeError', () => {
    const v: Record<string, unknown> = { n: 1n };
    v.self = v;
    expect(() => stringifyJson(v)).toThrow(TypeError);
    const plain: unknown[] = [];
    plain.push({ list: plain });
    expect(() => stringifyJson(plain)).toThrow(TypeError);
    expect(() => stringifyJson(plain, { maxDepth: 5 })).toThrow(TypeError);
  });

  it('writes any depth without overflowing the stack, and honours maxDepth', () => {
    for (const inner of [1, 5n]) {
      const v = deepValue(100_000, inner);
      expect(stringifyJson(v)).toBe(nested(100_000, String(inner)));
      expect(() => stringifyJson(v, { maxDepth: 1023 })).toThrow(new RangeError('nesting deeper than 1023 levels'));
    }
    expect(stringifyJson(deepValue(1023), { maxDepth: 1023 })).toBe(nested(1023));
    expect(() => stringifyJson(deepValue(1024), { maxDepth: 1023 })).toThrow(RangeError);
  });

  it('writes what JSON.stringify writes on its fallback path too', () => {
    const date = new Date(0);
    const v = {
      big: 1n,
      date,
      boxed: [Object(2), Object('s'), Object(false)],
      skip: [undefined, () => 1, Symbol('x')],
      nan: NaN,
      neg: -0,
      nested: { toJSON: (key: string) => `key:${key}` },
    };
    const { big, ...rest } = v;
    expect(stringifyJson(v)).toBe(`{"big":${String(big)},${JSON.stringify(rest).slice(1)}`);
  });

  it('previewJson stops early on huge values and never throws', () => {
    const huge = Array.from({ length: 100_000 }, (_, i) => ({ i, n: BigInt(i) }));
    expect(previewJson(huge, 30)).toBe(`${stringifyJson(huge).slice(0, 30)}…`);
    expect(previewJson(deepValue(200_000), 10)).toBe(`${'['.repeat(10)}…`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(previewJson(cyclic, 16)).toBe('{"self":{"self":…');
    expect(previewJson(cyclic, 100_000)).toBe('[object Object]');
  });
});

/**
 * `--introspection FILE`, `--from-socket PATH`, `--from-tcp HOST:PORT` and
 * `--from-qemu BINARY`: where `generate` and `verify` get a QEMU's own
 * schema (its `query-qmp-schema` reply).
 */
import type { IntrospectionSource } from '../introspection/fetch.js';
import { parseTcpTarget } from '../runtime/transport.js';

export const SOURCE_OPTIONS = {
  introspection: { type: 'string' },
  'from-socket': { type: 'string' },
  'from-tcp': { type: 'string' },
  'from-qemu': { type: 'string' },
  timeout: { type: 'string' },
} as const;

export const SOURCE_HELP = `  --introspection FILE     a saved query-qmp-schema reply ('-': stdin)
  --from-socket PATH       ask the QEMU listening on this QMP unix socket
  --from-tcp HOST:PORT     ask the QEMU listening on this QMP TCP endpoint
  --from-qemu BINARY       start BINARY (-machine none -nodefaults -display
                           none -S, QMP on stdio), ask it, stop it
  --timeout MS             connect and reply timeout (default 10000)
`;

interface SourceValues {
  introspection?: string | undefined;
  'from-socket'?: string | undefined;
  'from-tcp'?: string | undefined;
  'from-qemu'?: string | undefined;
  timeout?: string | undefined;
}

/** The source given, undefined when none, or a usage problem (a string in `problem`). */
export function introspectionSource(values: SourceValues): {
  source?: IntrospectionSource;
  timeout: number;
  problem?: string;
} {
  const given = (['introspection', 'from-socket', 'from-tcp', 'from-qemu'] as const).filter(
    (k) => values[k] !== undefined,
  );
  let timeout = 10_000;
  if (values.timeout !== undefined) {
    timeout = /^\d+$/.test(values.timeout) ? Number(values.timeout) : NaN;
    if (!Number.isSafeInteger(timeout) || timeout <= 0) {
      return { timeout, problem: `--timeout: expected a positive number of milliseconds, got '${values.timeout}'` };
    }
  }
  if (given.length > 1) return { timeout, problem: `give at most one of ${given.map((k) => `--${k}`).join(', ')}` };
  const key = given[0];
  if (key === undefined) return { timeout };
  const value = values[key]!;
  if (value === '') return { timeout, problem: `--${key}: expected a value, got an empty string` };
  switch (key) {
    case 'introspection':
      return { timeout, source: { kind: 'file', path: value } };
    case 'from-socket':
      return { timeout, source: { kind: 'target', target: { path: value } } };
    case 'from-tcp':
      try {
        return { timeout, source: { kind: 'target', target: parseTcpTarget(value) } };
      } catch {
        return { timeout, problem: `--from-tcp: expected HOST:PORT with a port from 1 to 65535, got '${value}'` };
      }
    case 'from-qemu':
      return { timeout, source: { kind: 'qemu', binary: value } };
  }
}

/** How a source is named in messages. */
export function describeSource(source: IntrospectionSource): string {
  switch (source.kind) {
    case 'file':
      return source.path;
    case 'qemu':
      return source.binary;
    case 'target':
      return 'path' in source.target ? source.target.path : `${source.target.host}:${source.target.port}`;
  }
}

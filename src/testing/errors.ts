/**
 * Errors of the test server, each with a stable `code`:
 *
 * | code                  | class              | when                                                        |
 * |-----------------------|--------------------|-------------------------------------------------------------|
 * | QMP_TEST_SCRIPT       | QmpScriptError     | a script the schema forbids (bad reply, unknown command…),  |
 * |                       |                    | thrown at once by the scripting call                        |
 * | QMP_TEST_TRANSCRIPT   | QmpTranscriptError | a transcript to replay that cannot be read or replayed      |
 * | QMP_TEST_FAILED       | QmpTestFailure     | `assertDone()`: expected commands never came, or failures   |
 *
 * `QmpErrorResponse` is not a failure: a handler throws it to answer with
 * a QMP error reply.
 */

export type QmpTestErrorCode = 'QMP_TEST_SCRIPT' | 'QMP_TEST_TRANSCRIPT' | 'QMP_TEST_FAILED';

export class QmpTestError extends Error {
  readonly code: QmpTestErrorCode;
  constructor(code: QmpTestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A scripted reply, event or rule the schema does not allow. */
export class QmpScriptError extends QmpTestError {
  constructor(message: string) {
    super('QMP_TEST_SCRIPT', message);
  }
}

/** A transcript that cannot be replayed; `line` is 1-based when known. */
export class QmpTranscriptError extends QmpTestError {
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super('QMP_TEST_TRANSCRIPT', line === undefined ? message : `line ${line}: ${message}`);
    this.line = line;
  }
}

/** Something the server noticed while serving that a test should fail on. */
export interface TestFailure {
  /** `unexpected` command, `order` broken, `invalid-reply` from a handler,
   *  `handler` threw, `replay` found no recorded answer, `unused` expectation. */
  readonly kind: 'unexpected' | 'order' | 'invalid-reply' | 'handler' | 'replay' | 'unused';
  readonly message: string;
  /** The command concerned, when there is one. */
  readonly command?: string;
}

export class QmpTestFailure extends QmpTestError {
  readonly failures: readonly TestFailure[];
  constructor(failures: readonly TestFailure[]) {
    const lines = failures.map((f) => `  - ${f.message}`);
    super(
      'QMP_TEST_FAILED',
      `QMP test server: ${failures.length} problem${failures.length === 1 ? '' : 's'}:\n${lines.join('\n')}`,
    );
    this.failures = failures;
  }
}

/** Thrown by a handler: the command is answered with this QMP error. */
export class QmpErrorResponse extends Error {
  readonly errorClass: string;
  readonly desc: string;
  constructor(errorClass: string, desc: string) {
    super(`${errorClass}: ${desc}`);
    this.name = 'QmpErrorResponse';
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

function guard<T extends Error>(cls: abstract new (...args: never[]) => T): (e: unknown) => e is T {
  return (e: unknown): e is T => e instanceof cls;
}

export const isQmpTestError = guard(QmpTestError);
export const isQmpScriptError = guard(QmpScriptError);
export const isQmpTranscriptError = guard(QmpTranscriptError);
export const isQmpTestFailure = guard(QmpTestFailure);
export const isQmpErrorResponse = guard(QmpErrorResponse);

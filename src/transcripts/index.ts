/**
 * Recorded QMP sessions: the transcript format (format.ts), the QMP
 * messages in it (messages.ts), the verifier (verify.ts) and its report
 * (report.ts).
 */
export * from './format.js';
export * from './messages.js';
export * from './verify.js';
export * from './report.js';

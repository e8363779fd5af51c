/**
 * Replaying a recorded session: the transcript format `verify` reads
 * (`{"dir": "client"|"server", "msg": …}` per line).
 *
 * Each command the client sends is answered with the recorded reply to the
 * first not yet used recording of the same command with the same
 * arguments (exact JSON equality, exact integers), keeping the caller's
 * id. The events recorded between that command and its reply are sent
 * before the reply, those recorded after it (up to the next command) after.
 * A command that was recorded, but not with these arguments or not this
 * many times, gets a GenericError and is recorded as a failure; a command
 * never recorded is left to the server's other rules.
 *
 * Everything recorded is checked against the server's schema when the
 * transcript is loaded, as scripted replies are, so a replay cannot send
 * what that schema does not allow. Recorded commands the server would
 * refuse (a malformed envelope, unknown commands, bad arguments) are
 * skipped: the server refuses them itself, with QEMU's words. Negotiation is the server's own business.
 */
import { parseTranscript } from '../transcripts/format.js';
import { jsonKey, MAX_MESSAGE_NESTING, PendingCommands, readCommand, type Command } from '../transcripts/messages.js';
import { nestingExceeds } from '../support/nesting.js';
import { Fifo } from '../runtime/fifo.js';
import { parseGreeting } from '../runtime/protocol.js';
import { QmpTranscriptError, type TestFailure } from './errors.js';
import type { ServerSchema } from './schema.js';
import { serverError, type Call, type Plan, type Response, type ScriptedEvent } from './script.js';
import type { Greeting } from './session.js';

export interface RecordedCommand {
  /** 1-based line of the command in the transcript. */
  readonly line: number;
  readonly command: string;
  /** The arguments as the server's checks turn them out. */
  readonly args: Record<string, unknown>;
  readonly id: unknown;
  /** The recorded answer; undefined when the recording has none. */
  reply: Response | undefined;
  readonly before: ScriptedEvent[];
  readonly after: ScriptedEvent[];
  used: boolean;
}

export interface ReplayOptions {
  /** assertDone() also fails on recorded commands never replayed. */
  requireAll?: boolean;
}

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where a recording waits: its command, and its arguments exactly (`jsonEqual`'s equality). */
function callKey(command: string, args: Record<string, unknown>): string {
  return `${command}\0${jsonKey(args)}`;
}

export class Replay {
  readonly commands: RecordedCommand[] = [];
  /** The recorded greeting, if the transcript has one. */
  greeting: Greeting | undefined;
  private readonly names = new Set<string>();
  /** Recordings not used yet, by command and arguments (`jsonKey`), in order. */
  private readonly unanswered = new Map<string, Fifo<RecordedCommand>>();

  constructor(
    private readonly schema: ServerSchema,
    private readonly fail: (failure: TestFailure) => void,
    readonly options: ReplayOptions = {},
  ) {}

  /** Reads a transcript's text; throws QmpTranscriptError on what cannot be replayed. */
  load(text: string): this {
    const { entries, badLines } = parseTranscript(text);
    const bad = badLines[0];
    if (bad !== undefined) throw new QmpTranscriptError(bad.reason, bad.line);
    const pending = new PendingCommands<RecordedCommand | null>();
    let answered: RecordedCommand | undefined;
    for (const { line, dir, msg } of entries) {
      // QEMU's JSON parser refuses input nested deeper than it allows,
      // and our clients refuse such output: neither can be replayed.
      const tooDeep = nestingExceeds(msg, MAX_MESSAGE_NESTING);
      if (dir === 'client') {
        answered = undefined;
        if (tooDeep) {
          // Refused before its id was read: answered by an id-less error.
          pending.add(null, false, undefined);
          continue;
        }
        const command = readCommand(msg);
        const rec = this.record(line, command);
        pending.add(rec, command.hasId, command.id, rec !== null);
        continue;
      }
      if (tooDeep)
        throw new QmpTranscriptError(
          `a server message nested deeper than ${MAX_MESSAGE_NESTING} levels ` +
            "(QEMU's JSON parser, and so every client, refuses it)",
          line,
        );
      if (!isDict(msg)) throw new QmpTranscriptError('a server message that is not an object', line);
      if (Object.hasOwn(msg, 'QMP')) {
        try {
          this.greeting = parseGreeting(msg) as Greeting;
        } catch (e) {
          throw new QmpTranscriptError((e as Error).message, line);
        }
      } else if (Object.hasOwn(msg, 'event')) {
        const event = this.readEvent(line, msg);
        const target = pending.firstFlagged();
        if (pending.size > 0) target?.before.push(event);
        else answered?.after.push(event);
      } else if (Object.hasOwn(msg, 'return') || Object.hasOwn(msg, 'error')) {
        const rec = Object.hasOwn(msg, 'id') ? pending.takeById(msg.id) : pending.takeIdless();
        // undefined: a refusal of input too broken to carry an id; null: a command the server refuses itself.
        if (rec === undefined || rec === null) continue;
        rec.reply = this.readReply(line, rec.command, msg);
        answered = rec;
      }
    }
    for (const rec of this.commands) this.names.add(rec.command);
    return this;
  }

  /** A recorded command the server would pass on to its script, or null. */
  private record(line: number, sent: Command): RecordedCommand | null {
    const { name, args = {} } = sent;
    if (name === null || sent.envelope.length > 0 || name === 'qmp_capabilities') return null;
    const command = this.schema.command(name);
    if (command === undefined) return null;
    const checked = this.schema.checkArguments(command, args as Record<string, unknown>);
    if (!checked.ok) return null;
    const rec: RecordedCommand = {
      line,
      command: name,
      args: checked.value,
      id: sent.id,
      reply: undefined,
      before: [],
      after: [],
      used: false,
    };
    this.commands.push(rec);
    const key = callKey(name, rec.args);
    let recs = this.unanswered.get(key);
    if (recs === undefined) this.unanswered.set(key, (recs = new Fifo()));
    recs.push(rec);
    return rec;
  }

  private readEvent(line: number, msg: Record<string, unknown>): ScriptedEvent {
    const name = msg.event;
    if (typeof name !== 'string') throw new QmpTranscriptError('an event without a name', line);
    const problem = this.schema.eventProblem(name, msg.data);
    if (problem !== '') throw new QmpTranscriptError(`event '${name}': ${problem}`, line);
    return { name, data: msg.data, delay: 0 };
  }

  private readReply(line: number, command: string, msg: Record<string, unknown>): Response {
    if (Object.hasOwn(msg, 'return')) {
      const problem = this.schema.replyProblem(command, msg.return);
      if (problem !== '') throw new QmpTranscriptError(`reply to '${command}': ${problem}`, line);
      return { kind: 'return', value: msg.return };
    }
    const error = msg.error;
    if (!isDict(error) || typeof error.class !== 'string' || typeof error.desc !== 'string') {
      throw new QmpTranscriptError(`error reply to '${command}' without a string 'class' and 'desc'`, line);
    }
    return { kind: 'error', errorClass: error.class, desc: error.desc };
  }

  /** The server's fallback: answers recorded commands (see the file comment). */
  answer(call: Call): Plan | undefined {
    if (!this.names.has(call.command)) return undefined;
    const rec = this.unanswered.get(callKey(call.command, call.args))?.shift();
    if (rec === undefined) {
      const message = `no recorded reply left for '${call.command}' with these arguments`;
      this.fail({ kind: 'replay', command: call.command, message });
      return serverError(message);
    }
    rec.used = true;
    if (rec.reply === undefined) {
      // QEMU never answered it in the recording; neither do we.
      return {
        response: { kind: 'return', value: {} },
        fault: { fault: 'no-reply' },
        delay: 0,
        before: rec.before,
        after: [],
      };
    }
    return { response: rec.reply, delay: 0, before: rec.before, after: rec.after };
  }

  /** Recorded commands not replayed yet, as failures. */
  unused(): TestFailure[] {
    return this.commands
      .filter((r) => !r.used)
      .map((r) => ({
        kind: 'unused' as const,
        command: r.command,
        message: `recorded '${r.command}' (transcript line ${r.line}) was never replayed`,
      }));
  }
}

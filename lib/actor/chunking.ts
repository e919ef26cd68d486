// Messages larger than the server's max_payload, carried as chunks. One set of
// pieces serves both directions; rpc.ts (the requester) and actor.ts (the
// receiver) only decide who pushes and who pulls.
//
// Request (push): piece 0 goes to the target subject as a request. It may be
// a queue group, so the member that took piece 0 acknowledges it with a
// subject of its own (`<Actor.subject>.xfer`), and every later piece goes
// there, each a request the member acknowledges: one piece in flight at a
// time is the flow control. The member answers the last piece with the answer
// to the whole message.
//
// Reply (pull): an answer larger than max_payload is kept by the actor, and
// the reply is a `chunked` message with piece 0, the piece count, the total
// size and the actor's transfer subject; the requester asks for the remaining
// pieces there, one request each.
//
// A transfer is refused before anything is kept if it declares more than the
// receiver's limit (PayloadTooLarge); pieces must arrive in order and add up
// to the declared size (MalformedMessage otherwise); an unfinished transfer,
// either direction, is dropped at the request's deadline (a piece for it then
// gets DeadlineExceeded). So what a node holds is bounded by the limit per
// transfer and by the deadline in time.

import { encodeMessage, num, str, type Envelope } from '../codec/index.js';
import { timerMs } from '../deadline.js';
import { DeadlineExceeded, MalformedMessage, PayloadTooLarge } from '../errors.js';
import { newId } from '../ids.js';

/** A piece of a message: `{id, i, data}`; piece 0 of a request also has `{n, size, deadline}`. */
export const CHUNK = 'chunk';
/** The receiver took a piece; the answer to piece 0 has `{subject}` for the rest. */
export const CHUNK_ACK = 'chunk.ack';
/** Asks for piece `i` of kept reply `id`: `{id, i}`; answered with a CHUNK. */
export const CHUNK_GET = 'chunk.get';
/** A reply too large for one message: `{id, i: 0, n, size, subject, data}`. */
export const CHUNKED = 'chunked';

/**
 * Room kept in every piece's message for its envelope: type, transfer id,
 * index, counts, deadline and a subject. Generous: the encoder still refuses,
 * typed, a piece message that would not fit, so nothing is ever truncated.
 */
export const CHUNK_ENVELOPE_MARGIN = 4096;

/** Payload bytes per piece when the server takes `maxPayload` per message. */
export function pieceBytes(maxPayload: number): number {
  return maxPayload - Math.min(CHUNK_ENVELOPE_MARGIN, maxPayload >> 2);
}

/** The subject on which an actor takes the later pieces of its transfers. */
export function transferSubjectOf(actorSubject: string): string {
  return `${actorSubject}.xfer`;
}

export function tooLarge(size: number, limit: number): PayloadTooLarge {
  return new PayloadTooLarge(`message of ${size} B exceeds the limit of ${limit} B`, { data: { size, limit } });
}

/** An encoded message cut into pieces, handed out once each, in order. */
export class Outgoing {
  readonly id = newId('xfer-');
  readonly size: number;
  readonly n: number;
  private next = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly piece: number,
  ) {
    this.size = bytes.byteLength;
    this.n = Math.ceil(this.size / piece);
  }

  get done(): boolean {
    return this.next === this.n;
  }

  /**
   * The message carrying piece `i` (of type `t`, with `extra` fields), at most
   * `maxPayload` bytes. Piece 0 also says how many pieces and bytes follow.
   */
  message(t: string, i: number, maxPayload: number, extra: Record<string, unknown> = {}): Uint8Array {
    if (i !== this.next) {
      throw new MalformedMessage(`transfer ${this.id}: piece ${i} asked for, ${this.next} expected next`);
    }
    const data = this.bytes.subarray(i * this.piece, Math.min(this.size, (i + 1) * this.piece));
    const first = i === 0 ? { n: this.n, size: this.size } : {};
    const msg = encodeMessage(t, { ...extra, ...first, id: this.id, i, data }, maxPayload);
    this.next++;
    return msg;
  }
}

/** A message put back together from pieces that arrive in order. */
export class Incoming {
  private readonly pieces: Uint8Array[] = [];
  private received = 0;

  private constructor(
    readonly id: string,
    readonly n: number,
    readonly size: number,
  ) {}

  /**
   * Starts a transfer from its piece 0 (a CHUNK or a CHUNKED reply). Refuses
   * one that declares more than `limit` bytes before keeping anything.
   */
  static first(msg: Envelope, limit: number): Incoming {
    const id = str(msg, 'id');
    const n = num(msg, 'n');
    const size = num(msg, 'size');
    if (!Number.isSafeInteger(size) || size < 1) throw new MalformedMessage(`transfer ${id}: bad size ${size}`);
    if (size > limit) throw tooLarge(size, limit);
    if (!Number.isSafeInteger(n) || n < 2 || n > size) throw new MalformedMessage(`transfer ${id}: bad piece count ${n}`);
    const incoming = new Incoming(id, n, size);
    incoming.accept(msg);
    return incoming;
  }

  /** Adds the piece in `msg`; returns the whole message once its last piece is in. */
  accept(msg: Envelope): Uint8Array | undefined {
    if (msg.t !== CHUNK && !(msg.t === CHUNKED && this.pieces.length === 0)) {
      throw new MalformedMessage(`transfer ${this.id}: a ${msg.t} message is not a piece`);
    }
    const id = str(msg, 'id');
    const i = num(msg, 'i');
    const data = msg['data'];
    if (id !== this.id) throw new MalformedMessage(`transfer ${this.id}: piece of transfer ${id} arrived`);
    if (i !== this.pieces.length) {
      throw new MalformedMessage(`transfer ${id}: piece ${i} arrived, ${this.pieces.length} expected next`);
    }
    if (!(data instanceof Uint8Array) || data.byteLength === 0) {
      throw new MalformedMessage(`transfer ${id}: piece ${i} has no data`);
    }
    if (this.received + data.byteLength > this.size) {
      throw new MalformedMessage(`transfer ${id}: pieces exceed the declared ${this.size} B`);
    }
    // `data` is the decoder's own copy (copyBuffers), not a view into a read buffer.
    this.pieces.push(data);
    this.received += data.byteLength;
    if (this.pieces.length < this.n) return undefined;
    if (this.received !== this.size) {
      throw new MalformedMessage(`transfer ${id}: ${this.received} B arrived of the declared ${this.size} B`);
    }
    const whole = new Uint8Array(this.size);
    let at = 0;
    for (const piece of this.pieces) {
      whole.set(piece, at);
      at += piece.byteLength;
    }
    this.pieces.length = 0;
    return whole;
  }
}

type Ending = 'finished' | 'expired' | 'aborted';

/**
 * The transfers a node is in the middle of, by id, each dropped at its
 * deadline. Remembers how the last few ended, so a late piece gets a precise
 * error and a reused id is refused.
 */
export class TransferTable<T> {
  private readonly live = new Map<string, { value: T; timer: NodeJS.Timeout }>();
  private readonly ended = new Map<string, Ending>();
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly remember = 1024) {}

  get size(): number {
    return this.live.size;
  }

  open(id: string, deadline: number, value: T): void {
    if (this.live.has(id) || this.ended.has(id)) throw new MalformedMessage(`transfer ${id} was already started`);
    const timer = setTimeout(() => this.end(id, 'expired'), timerMs(deadline));
    timer.unref();
    this.live.set(id, { value, timer });
  }

  get(id: string): T {
    const entry = this.live.get(id);
    if (entry) return entry.value;
    switch (this.ended.get(id)) {
      case 'expired':
        throw new DeadlineExceeded(`transfer ${id} expired at its deadline; its pieces were dropped`, {
          data: { transfer: id },
        });
      case 'finished':
        throw new MalformedMessage(`transfer ${id} is already complete`);
      case 'aborted':
        throw new MalformedMessage(`transfer ${id} was aborted after a malformed piece`);
      case undefined:
        throw new MalformedMessage(`no transfer ${id} here (never started, or ended long ago)`);
    }
  }

  end(id: string, how: Ending): void {
    const entry = this.live.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.live.delete(id);
    this.ended.set(id, how);
    if (this.ended.size > this.remember) {
      const oldest = this.ended.keys().next();
      if (!oldest.done) this.ended.delete(oldest.value);
    }
    if (this.live.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once no transfer is in progress. */
  idle(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

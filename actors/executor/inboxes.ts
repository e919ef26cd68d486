// Inboxes of running function instances, for `cb.send` / `cb.recv`
// (Cloudburst's direct communication). A message may arrive before its
// recipient starts (a DAG's stages start at different moments), so an inbox
// is created by whichever comes first and kept until the recipient ends or,
// unclaimed, for INBOX_TTL_MS. Each holds at most INBOX_LIMIT messages; a
// send to a full inbox is refused, so a sender learns of it.

import { timerMs } from '../../lib/deadline.js';
import { DeadlineExceeded, NoCapacity } from '../../lib/errors.js';

export const INBOX_LIMIT = 1024;
const INBOX_TTL_MS = 30_000;

export interface Delivered {
  from: string;
  data: Uint8Array;
}

interface Inbox {
  messages: Delivered[];
  waiter: ((m: Delivered | undefined) => void) | undefined;
  expiry: NodeJS.Timeout | undefined;
}

export class Inboxes {
  private readonly boxes = new Map<string, Inbox>();

  /** The recipient started: its inbox lives until `close`. */
  open(id: string): void {
    const box = this.box(id);
    clearTimeout(box.expiry);
    box.expiry = undefined;
  }

  close(id: string): void {
    const box = this.boxes.get(id);
    if (!box) return;
    clearTimeout(box.expiry);
    box.waiter?.(undefined);
    this.boxes.delete(id);
  }

  deliver(to: string, message: Delivered): void {
    const box = this.box(to);
    if (box.waiter) {
      const waiter = box.waiter;
      box.waiter = undefined;
      return waiter(message);
    }
    if (box.messages.length >= INBOX_LIMIT) throw new NoCapacity(`the inbox of ${to} is full (${INBOX_LIMIT} messages)`);
    box.messages.push(message);
  }

  /** The next message for `id`, waiting until `deadline` for one. */
  receive(id: string, deadline: number): Promise<Delivered> {
    const box = this.box(id);
    const next = box.messages.shift();
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        box.waiter = undefined;
        reject(new DeadlineExceeded(`no message reached ${id} in time`));
      }, timerMs(deadline));
      box.waiter = (m) => {
        clearTimeout(timer);
        if (m) resolve(m);
        else reject(new DeadlineExceeded(`${id} ended while waiting for a message`));
      };
    });
  }

  private box(id: string): Inbox {
    let box = this.boxes.get(id);
    if (!box) {
      box = { messages: [], waiter: undefined, expiry: undefined };
      const created = box;
      created.expiry = setTimeout(() => this.boxes.get(id) === created && this.boxes.delete(id), INBOX_TTL_MS);
      created.expiry.unref();
      this.boxes.set(id, box);
    }
    return box;
  }
}

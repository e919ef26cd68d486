// Preloaded into every node the harness starts (`node --import
// dist/verify/clock_skew.js ...`): shifts the wall clock (`Date.now()` and
// `new Date()`) by the number of milliseconds in the file named by
// CB_CLOCK_SKEW_FILE, re-read on a short timer, so the harness can skew and
// unskew a running node without restarting it (libfaketime is not on CI
// machines). Monotonic clocks (performance.now, hrtime) are left alone, as
// a skewed machine's are. Worker threads do not get this preload (the
// executor strips --import from their execArgv), so a skewed executor's
// functions run on the true clock; only its main thread is skewed.

import { readFileSync } from 'node:fs';

export const SKEW_FILE_ENV = 'CB_CLOCK_SKEW_FILE';
const REREAD_MS = 50;

const file = process.env[SKEW_FILE_ENV];
if (file) {
  let offset = 0;
  const read = (): void => {
    try {
      const n = Number(readFileSync(file, 'utf8').trim());
      offset = Number.isFinite(n) ? n : 0;
    } catch {
      offset = 0; // No file: no skew.
    }
  };
  read();
  setInterval(read, REREAD_MS).unref();
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  const now = (): number => realNow() + offset;
  RealDate.now = now;
  // A proxy rather than a subclass, so `Date()` called as a function (a
  // string of now) still works and `instanceof Date` is unchanged.
  globalThis.Date = new Proxy(RealDate, {
    construct: (target, args, newTarget) => Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget) as object,
    apply: () => new RealDate(now()).toString(),
  });
}

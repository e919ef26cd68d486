// The harness's own small workload: clients add unique elements to a few
// set-lattice keys with exactly-once calls; the checker promises every
// acknowledged add is in the final sets, and nothing that was never added is.
// The control run stores each key as a plain list by read-modify-write (last
// writer wins) instead of merging a set, so concurrent adds overwrite each
// other and acknowledged adds go missing.

import type { Cb } from '../../lib/function_api.js';
import type { CheckResult, History, Workload, WorkloadContext } from '../workload.js';

const KEYS = ['smoke/a', 'smoke/b', 'smoke/c'];
const EXAMPLES = 5;
/** Each call's deadline: well under the harness's own bound on an op. */
const CALL_TIMEOUT_MS = 5_000;

interface AddValue {
  key: string;
  element: string;
}

export const smoke: Workload = {
  name: 'smoke',
  description: 'exactly-once adds of unique elements to 3 set-lattice keys; every acknowledged add is in the final sets, and only invoked ones are',
  control: 'read-modify-write of a plain list (last writer wins) instead of a set-lattice merge',

  async setup(ctx: WorkloadContext): Promise<void> {
    await ctx.client.register('smoke_add', async (cb: Cb, key: string, element: string) => {
      await cb.put(key, new cb.lattices.SetLattice([element]));
      return element;
    });
    await ctx.client.register('smoke_add_plain', async (cb: Cb, key: string, element: string) => {
      const list = (await cb.get<string[]>(key)) ?? [];
      // Widen the window between the read and the write, so concurrent adds overlap.
      await new Promise((resolve) => setTimeout(resolve, 10));
      await cb.put(key, [...list, element]);
      return element;
    });
  },

  async client(ctx: WorkloadContext, process: number): Promise<void> {
    const fn = ctx.control ? 'smoke_add_plain' : 'smoke_add';
    for (let n = 0; !ctx.signal.aborted; n++) {
      const key = KEYS[Math.floor(ctx.rng() * KEYS.length)]!;
      const element = `${process}-${n}`;
      const value: AddValue = { key, element };
      await ctx.op(process, 'add', value, () =>
        ctx.client.call(fn, [key, element], { exactlyOnce: true, requestId: `smoke-${ctx.control ? 'c' : 'm'}-${element}`, timeoutMs: CALL_TIMEOUT_MS }),
      );
    }
  },

  async final(ctx: WorkloadContext): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const key of KEYS) {
      const value = await ctx.client.get<Iterable<string> | string[]>(key, { all: true });
      out[key] = value === undefined ? [] : [...value].map(String).sort();
    }
    return out;
  },

  check(history: History, final: unknown): CheckResult {
    const sets = final as Record<string, string[]>;
    const present = new Map<string, Set<string>>(KEYS.map((k) => [k, new Set(sets[k] ?? [])]));
    const invoked = new Map<string, string>();
    const acked: AddValue[] = [];
    const failed: AddValue[] = [];
    const lost: unknown[] = [];
    const unexpected: unknown[] = [];
    const failedButPresent: unknown[] = [];
    for (const op of history) {
      if (op.f !== 'add') continue;
      const v = op.value as AddValue;
      if (op.type === 'invoke') invoked.set(v.element, v.key);
      // An ok's value is the element the call returned; its key is its invoke's.
      else if (op.type === 'ok') acked.push({ key: invoked.get(String(op.value)) ?? '?', element: String(op.value) });
      else if (op.type === 'fail') failed.push(v);
    }
    for (const a of acked) if (!present.get(a.key)?.has(a.element)) lost.push(a);
    for (const f of failed) if (present.get(f.key)?.has(f.element)) failedButPresent.push(f);
    for (const [key, elements] of present) {
      for (const e of elements) if (invoked.get(e) !== key) unexpected.push({ key, element: e });
    }
    const anomalies: CheckResult['anomalies'] = {};
    const add = (kind: string, list: unknown[]): void => {
      if (list.length > 0) anomalies[kind] = { count: list.length, examples: list.slice(0, EXAMPLES) };
    };
    add('lost-acknowledged-add', lost);
    add('failed-add-present', failedButPresent);
    add('unexpected-element', unexpected);
    return {
      valid: Object.keys(anomalies).length === 0,
      anomalies,
      stats: { invoked: invoked.size, acknowledged: acked.length, failed: failed.length, present: [...present.values()].reduce((n, s) => n + s.size, 0) },
    };
  },
};

// The fault harness's checkers on synthetic histories: each accepts a valid
// history (with unknown ops in it) and finds each anomaly it promises, so a
// clean run of the harness means something.

import t from 'tap';
import { checkBank, type BankFinal } from '../verify/checkers/bank.js';
import { checkCausal } from '../verify/checkers/causal.js';
import { checkEoCounter } from '../verify/checkers/eo_counter.js';
import { calls } from '../verify/checkers/history.js';
import { SKEW_BOUND_MS, checkReadAtomic } from '../verify/checkers/read_atomic.js';
import { STALE_BOUND_MS, checkRegister } from '../verify/checkers/register.js';
import { checkRr } from '../verify/checkers/rr.js';
import { checkSerializable } from '../verify/checkers/serializable.js';
import { checkSets, type SetsFinal } from '../verify/checkers/sets.js';
import { checkSends, type SendsFinal } from '../verify/checkers/sends.js';
import type { CheckResult, History, Op } from '../verify/workload.js';

/** Builds a history; `call` is an invoke and its completion at once. */
class H {
  readonly ops: History = [];
  /** Added to every later op's time (ms): time passing between ops. */
  private elapsed = 0;

  later(ms: number): this {
    this.elapsed += ms;
    return this;
  }

  invoke(process: number, f: string, value: unknown): this {
    return this.push({ process, type: 'invoke', f, value });
  }

  complete(process: number, f: string, type: 'ok' | 'fail' | 'info', value: unknown = null): this {
    return this.push({ process, type, f, value, ...(type === 'ok' ? {} : { error: type === 'fail' ? 'FUNCTION_NOT_FOUND: no' : 'DEADLINE_EXCEEDED: late' }) });
  }

  call(process: number, f: string, value: unknown, type: 'ok' | 'fail' | 'info' = 'ok', result: unknown = true): this {
    return this.invoke(process, f, value).complete(process, f, type, type === 'ok' ? result : null);
  }

  private push(op: Omit<Op, 'index' | 'time'>): this {
    this.ops.push({ ...op, index: this.ops.length, time: this.ops.length + this.elapsed });
    return this;
  }
}

/** The anomaly kinds found, sorted. */
const kinds = (r: CheckResult): string[] => Object.keys(r.anomalies).sort();

t.test('history: an invoke pairs with the next completion of its process; one never completed is pending', async (t) => {
  const h = new H().invoke(0, 'add', 1).invoke(1, 'add', 2).complete(1, 'add', 'ok', 'two').complete(0, 'add', 'info').invoke(0, 'add', 3);
  const cs = calls(h.ops);
  t.same(
    cs.map((c) => [c.process, c.args, c.type, c.result]),
    [
      [0, 1, 'info', undefined],
      [1, 2, 'ok', 'two'],
      [0, 3, 'pending', undefined],
    ],
  );
});

t.test('sets', async (t) => {
  const valid = (): { h: H; final: SetsFinal } => {
    const h = new H()
      .call(0, 'add', { key: 's', element: 'a' })
      .call(1, 'put', { key: 's', element: 'b' })
      .call(0, 'add', { key: 's', element: 'c' }, 'info') // unknown: present
      .call(1, 'add', { key: 's', element: 'd' }, 'info') // unknown: absent
      .call(0, 'add', { key: 's', element: 'e' }, 'fail')
      // One increment: a concurrent second attempt and a retry, one entry.
      .invoke(0, 'incr', { key: 'c', id: 'i1' })
      .invoke(4, 'incr', { key: 'c', id: 'i1' })
      .complete(0, 'incr', 'info')
      .complete(4, 'incr', 'info')
      .call(0, 'incr', { key: 'c', id: 'i1' })
      .call(1, 'incr', { key: 'c', id: 'i2' }, 'info') // unknown, applied
      .call(1, 'incr', { key: 'c', id: 'i3' }, 'info') // unknown, not applied
      .call(0, 'bump', { key: 'm', value: 5 })
      .call(1, 'bump', { key: 'm', value: 9 }, 'info')
      .invoke(1, 'add', { key: 's', element: 'f' }); // pending at the end: absent
    return { h, final: { sets: { s: ['a', 'b', 'c'] }, counters: { c: ['i1#x', 'i2#y'] }, max: { m: 9 } } };
  };
  const { h, final } = valid();
  const ok = checkSets(h.ops, final);
  t.ok(ok.valid, 'a valid history passes');
  t.same(ok.anomalies, {});
  t.equal(ok.stats['increments'], 3);

  const bad = (change: (f: SetsFinal, h: H) => void): string[] => {
    const v = valid();
    change(v.final, v.h);
    return kinds(checkSets(v.h.ops, v.final));
  };
  t.same(bad((f) => (f.sets['s'] = ['b', 'c'])), ['lost-add'], 'an ok add missing');
  t.same(bad((f) => f.sets['s']!.push('z')), ['phantom-element'], 'an element never added');
  t.same(bad((f) => f.sets['s']!.push('e')), ['failed-op-visible'], 'a failed add present');
  t.same(bad((f) => (f.counters['c'] = ['i2#y'])), ['lost-increment'], 'an ok increment missing');
  t.same(bad((f) => f.counters['c']!.push('i1#w')), ['duplicate-increment'], 'an increment applied twice');
  t.same(bad((f) => f.counters['c']!.push('i9#w')), ['phantom-increment'], 'an increment never invoked');
  t.same(bad((f) => (f.max['m'] = 4)), ['lost-max', 'phantom-max'], 'a max below an ok bump, never bumped');
  t.same(bad((f) => (f.max['m'] = 7)), ['phantom-max'], 'a max no bump wrote');
});

t.test('sends', async (t) => {
  const valid = (): { h: H; final: SendsFinal } => {
    const h = new H()
      .call(0, 'send', { key: 'm', id: 'a', delayMs: 0 }, 'ok', 'a')
      .call(1, 'send', { key: 'm', id: 'b', delayMs: 500 }, 'info') // unknown, then sent again: ran once
      .call(1, 'send', { key: 'm', id: 'b', delayMs: 500 }, 'ok', 'b')
      .call(0, 'send', { key: 'm', id: 'c', delayMs: 0 }, 'info') // unknown, never recorded
      .call(0, 'send', { key: 'm', id: 'd', delayMs: 0 }, 'fail');
    return { h, final: { marks: { m: ['a#x', 'b#y'] } } };
  };
  const { h, final } = valid();
  const ok = checkSends(h.ops, final);
  t.ok(ok.valid, 'a valid history passes');
  t.same(ok.stats, { sends: 5, sendsOk: 2, delayed: 2, entries: 2, info: 2 });
  const bad = (change: (f: SendsFinal) => void): string[] => {
    const v = valid();
    change(v.final);
    return kinds(checkSends(v.h.ops, v.final));
  };
  t.same(bad((f) => (f.marks['m'] = ['b#y'])), ['lost-send'], 'an acknowledged send that never ran');
  t.same(bad((f) => f.marks['m']!.push('a#z')), ['duplicate-send'], 'a send that ran twice');
  t.same(bad((f) => f.marks['m']!.push('q#z')), ['phantom-mark'], 'a run of nothing sent');
  t.same(bad((f) => f.marks['m']!.push('d#z')), ['failed-send-visible'], 'a run of a send that failed');
});

t.test('register', async (t) => {
  const valid = (): H =>
    new H()
      .call(0, 'write', { key: 'r0', value: 'v1' }, 'ok', 'v1')
      // An unknown write of the same key may land after the next one.
      .call(0, 'write', { key: 'r0', value: 'v2' }, 'info')
      .call(0, 'write', { key: 'r0', value: 'v3' }, 'ok', 'v2')
      .call(1, 'seed', { key: 'k', elements: ['ada', 'grace'] })
      .call(1, 'add', { key: 'k', element: 'edsger' }, 'ok', ['ada', 'edsger', 'grace'])
      // Concurrent with the next add: not required in its read, but may be there.
      .invoke(2, 'add', { key: 'k', element: 'barbara' })
      .call(1, 'add', { key: 'k', element: 'alan' }, 'ok', ['ada', 'alan', 'barbara', 'edsger', 'grace'])
      .complete(2, 'add', 'ok', ['ada', 'alan', 'barbara', 'edsger', 'grace'])
      .call(1, 'add', { key: 'k', element: 'tony' }, 'info')
      .call(1, 'add', { key: 'k', element: 'john' }, 'ok', ['ada', 'alan', 'barbara', 'edsger', 'grace', 'john']);
  const ok = checkRegister(valid().ops, null);
  t.ok(ok.valid, 'a valid history passes');
  t.same(ok.anomalies, {});

  t.same(kinds(checkRegister(valid().call(0, 'write', { key: 'r0', value: 'v4' }, 'ok', 'v3').ops, null)), ['read-not-own-write'], 'a write reading an older write');
  t.same(kinds(checkRegister(valid().call(0, 'write', { key: 'r0', value: 'v4' }, 'ok', null).ops, null)), ['read-not-own-write'], 'a write reading nothing');
  // Defect (a): on a cold cache the read shows only the delta just written.
  const cold = new H().call(1, 'seed', { key: 'k2', elements: ['ada', 'grace'] }).call(3, 'add', { key: 'k2', element: 'edsger' }, 'ok', ['edsger']);
  const found = checkRegister(cold.ops, null);
  t.same(kinds(found), ['delta-only-read'], 'a read of only the delta written');
  t.same((found.anomalies['delta-only-read']!.examples[0] as { missing: string[] }).missing, ['ada', 'grace']);
  // Two adds at once on a cold cache: each read shows both deltas and nothing stored before.
  const both = new H()
    .call(1, 'seed', { key: 'k3', elements: ['ada'] })
    .invoke(1, 'add', { key: 'k3', element: 'edsger' })
    .call(2, 'add', { key: 'k3', element: 'grace' }, 'ok', ['edsger', 'grace'])
    .complete(1, 'add', 'ok', ['edsger', 'grace']);
  t.same(kinds(checkRegister(both.ops, null)), ['delta-only-read'], 'reads of concurrent deltas only');
  t.equal(checkRegister(both.ops, null).anomalies['delta-only-read']!.count, 2);
  t.same(kinds(checkRegister(valid().call(1, 'add', { key: 'k', element: 'x' }, 'ok', ['ada', 'alan', 'barbara', 'edsger', 'grace', 'john']).ops, null)), ['lost-own-write']);
  const lacksBarbara = (h: H): CheckResult => checkRegister(h.call(1, 'add', { key: 'k', element: 'x' }, 'ok', ['ada', 'alan', 'edsger', 'grace', 'john', 'x']).ops, null);
  t.same(kinds(lacksBarbara(valid().later(STALE_BOUND_MS + 1))), ['stale-read'], 'an element acknowledged long before the call missing');
  const recent = lacksBarbara(valid().later(STALE_BOUND_MS - 100));
  t.ok(recent.valid, 'an element acknowledged within the staleness bound may be missing (lww: its push may not have arrived)');
  t.equal(recent.stats['behindWithinBound'], 1, 'and is counted');
  t.same(kinds(checkRegister(valid().call(1, 'add', { key: 'k', element: 'x' }, 'ok', ['ada', 'alan', 'barbara', 'edsger', 'grace', 'john', 'x', 'zz']).ops, null)), ['phantom-element']);
  t.ok(checkRegister(valid().call(1, 'add', { key: 'k', element: 'x' }, 'ok', ['ada', 'alan', 'barbara', 'edsger', 'grace', 'john', 'tony', 'x']).ops, null).valid, 'an unknown add may show');
});

t.test('bank', async (t) => {
  const pairs: BankFinal['pairs'] = { L0: ['a', 'b'], L1: ['c', 'd'] };
  const initial = { a: 10, b: 10, c: 10, d: 10 };
  const tr = (id: string, from: string, to: string, amount: number, ledger: string) => ({ id, from, to, amount, ledger });
  const valid = (): H =>
    new H()
      .call(0, 'transfer', tr('t1', 'a', 'b', 3, 'L0'), 'ok', { from: 7, to: 13 })
      .call(0, 'transfer', tr('t2', 'b', 'a', 1, 'L0'), 'info') // unknown, then retried: applied once
      .call(0, 'transfer', tr('t2', 'b', 'a', 1, 'L0'), 'ok', { from: 12, to: 8 })
      .call(1, 'transfer', tr('t3', 'c', 'd', 5, 'L1'), 'info') // unknown, not applied
      .call(1, 'transfer', tr('t4', 'd', 'c', 2, 'L1'), 'info') // unknown, applied
      .call(2, 'audit', {}, 'ok', { balances: { a: 7, b: 13, c: 10, d: 10 }, ledgers: { L0: ['t1'], L1: [] } })
      .call(2, 'audit', {}, 'info');
  const final = (): BankFinal => ({ initial, pairs, balances: { a: 8, b: 12, c: 12, d: 8 }, ledgers: { L0: ['t1', 't2'], L1: ['t4'] } });
  const ok = checkBank(valid().ops, final());
  t.ok(ok.valid, 'a valid history passes');
  t.same(ok.anomalies, {});
  t.equal(ok.stats['transfers'], 4);

  const audit = (balances: Record<string, number>, ledgers: Record<string, string[]>): H => valid().call(3, 'audit', {}, 'ok', { balances, ledgers });
  t.same(kinds(checkBank(audit({ a: 7, b: 10, c: 10, d: 10 }, { L0: [], L1: [] }).ops, final())), ['audit-ledger-mismatch', 'wrong-total'], 'an audit seeing half a transfer');
  t.same(kinds(checkBank(audit({ a: 7, b: 13, c: 10, d: 10 }, { L0: [], L1: [] }).ops, final())), ['audit-ledger-mismatch'], 'an audit whose balances show a transfer its ledger lacks');
  const wrong = (change: (f: BankFinal) => void): string[] => {
    const f = final();
    change(f);
    return kinds(checkBank(valid().ops, f));
  };
  t.same(wrong((f) => ((f.ledgers['L0'] = ['t2']), (f.balances = { a: 11, b: 9, c: 12, d: 8 }))), ['lost-transfer'], 'an ok transfer missing');
  t.same(wrong((f) => ((f.ledgers['L0'] = ['t1', 't2', 't2']), (f.balances = { a: 9, b: 11, c: 12, d: 8 }))), ['duplicate-transfer'], 'a transfer applied twice');
  t.same(wrong((f) => f.ledgers['L1']!.push('t9')), ['phantom-transfer'], 'a transfer never invoked');
  t.same(wrong((f) => (f.balances = { a: 7, b: 13, c: 12, d: 8 })), ['balance-mismatch'], 'balances that do not follow the ledger');
});

t.test('eo-counter', async (t) => {
  const inc = (key: string, requestId: string) => ({ key, requestId });
  const valid = (): H =>
    new H()
      // Two attempts at once, one result.
      .invoke(0, 'incr', inc('c', 'r1'))
      .invoke(4, 'incr', inc('c', 'r1'))
      .complete(0, 'incr', 'ok', 1)
      .complete(4, 'incr', 'ok', 1)
      .call(0, 'incr', inc('c', 'r2'), 'info') // unknown, may count
      .call(0, 'incr', inc('c', 'r3'), 'ok', 3)
      .call(0, 'incr', inc('c', 'r4'), 'fail')
      .call(1, 'incr', inc('d', 'r5'), 'ok', 1);
  for (const c of [2, 3]) t.ok(checkEoCounter(valid().ops, { counters: { c, d: 1 } }).valid, `a valid history passes (final ${c}: the unknown one counts 0 or 1)`);
  const v = checkEoCounter(valid().ops, { counters: { c: 3, d: 1 } });
  t.equal(v.stats['overlapping'], 1);
  t.same(kinds(checkEoCounter(valid().call(5, 'incr', inc('c', 'r1'), 'ok', 2).ops, { counters: { c: 3, d: 1 } })), ['divergent-results'], 'two results for one request');
  t.same(kinds(checkEoCounter(valid().call(0, 'incr', inc('c', 'r6'), 'ok', 3).ops, { counters: { c: 4, d: 1 } })), ['duplicate-result'], 'one result for two requests');
  t.same(kinds(checkEoCounter(valid().ops, { counters: { c: 1, d: 1 } })), ['counter-too-low']);
  t.same(kinds(checkEoCounter(valid().ops, { counters: { c: 4, d: 1 } })), ['counter-too-high'], 'a request applied twice');
  t.same(kinds(checkEoCounter(valid().ops, { counters: { c: 3, d: null } })), ['counter-too-low'], 'a key never written');
});

t.test('serializable', async (t) => {
  const inc = (key: string, requestId: string) => ({ key, requestId });
  const valid = (): H => {
    const h = new H()
      // Two attempts of one request, one answer.
      .invoke(0, 'incr', inc('k', 'r1'))
      .invoke(1, 'incr', inc('k', 'r1'))
      .complete(0, 'incr', 'ok', 1)
      .complete(1, 'incr', 'ok', 1)
      .call(0, 'incr', inc('k', 'r2'), 'info') // unknown: 0 or 1
      .call(1, 'incr', inc('k', 'r3'), 'ok', 3)
      .call(0, 'incr', inc('k', 'r4'), 'fail')
      .call(1, 'incr', inc('j', 'r5'), 'ok', 1)
      .invoke(0, 'incr', inc('j', 'r6'));
    // TransactionAborted: recorded as info, promises nothing committed.
    h.ops.push({ index: h.ops.length, process: 0, type: 'info', f: 'incr', value: null, time: h.ops.length, error: 'TRANSACTION_ABORTED: gave up' });
    return h;
  };
  for (const k of [2, 3]) t.ok(checkSerializable(valid().ops, { values: { k, j: 1 } }).valid, `a valid history passes (final ${k}: the unknown one counts 0 or 1)`);
  t.same(checkSerializable(valid().ops, { values: { k: 2, j: 1 } }).stats['aborted'], 1);
  t.same(kinds(checkSerializable(valid().ops, { values: { k: 1, j: 1 } })), ['lost-update'], 'an acknowledged increment missing');
  t.same(kinds(checkSerializable(valid().ops, { values: { k: 2, j: null } })), ['lost-update'], 'a key never written');
  t.same(kinds(checkSerializable(valid().call(1, 'incr', inc('k', 'r7'), 'ok', 3).ops, { values: { k: 4, j: 1 } })), ['duplicate-result'], 'two increments that wrote one value');
  t.same(kinds(checkSerializable(valid().call(2, 'incr', inc('k', 'r1'), 'ok', 2).ops, { values: { k: 3, j: 1 } })), ['divergent-results'], 'one request run twice');
  t.same(kinds(checkSerializable(valid().ops, { values: { k: 4, j: 1 } })), ['too-high'], 'an increment applied twice');
  t.same(kinds(checkSerializable(valid().ops, { values: { k: 3, j: 2 } })), ['aborted-applied'], 'an aborted increment applied');
  t.same(kinds(checkSerializable(valid().ops, { error: 'timed out' })), ['missing-final']);
});

t.test('read-atomic', async (t) => {
  const w = (id: string, ...keys: string[]) => ({ id, keys });
  const read = (result: Record<string, string | null>): [string, unknown, 'ok', unknown] => ['read', { keys: Object.keys(result) }, 'ok', result];
  const valid = (): H =>
    new H()
      .call(0, 'write', w('T', 'k0', 'k1'))
      .invoke(1, 'write', w('U', 'k1', 'k2'))
      .call(2, ...read({ k0: 'T', k1: 'T', k2: null })) // U not yet
      // U is concurrent with T's visibility on k1 and never wrote k0: U after T on k1 is fine.
      .call(2, ...read({ k0: 'T', k1: 'U', k2: 'U' }))
      .complete(1, 'write', 'info') // U unknown, seen: committed
      .call(0, 'write', w('V', 'k2', 'k3'), 'fail')
      .call(2, ...read({ k0: null, k1: null, k2: null, k3: null }));
  const ok = checkReadAtomic(valid().ops, null);
  t.ok(ok.valid, 'a valid history passes');
  t.same(ok.anomalies, {});

  const rule = (h: H): unknown => (checkReadAtomic(h.ops, null).anomalies['fractured-read']?.examples[0] as { rule?: string } | undefined)?.rule;
  t.equal(rule(valid().call(2, ...read({ k0: 'T', k1: null }))), 'initial', 'T seen on k0, the initial state on k1 which T wrote');
  t.equal(rule(new H().call(0, 'write', w('T', 'k0', 'k1')).call(1, 'write', w('U', 'k0', 'k1')).call(2, ...read({ k0: 'T', k1: 'U' }))), 'both-wrote-both-keys', 'T on one key, U on the other, both wrote both');
  // T wrote k0 and k1 after U (which wrote k1, k2, not k0) completed: reading T on k0 and U on k1 misses T's k1.
  const rt = new H().call(1, 'write', w('U', 'k1', 'k2')).later(SKEW_BOUND_MS + 1).call(0, 'write', w('T', 'k0', 'k1')).call(2, ...read({ k0: 'T', k1: 'U' }));
  t.equal(rule(rt), 'real-time', 'U completed before T began, so U on k1 is older than T');
  // Within the clock skew a blind write may commit before one that completed earlier (docs/consistency.md).
  const close = checkReadAtomic(new H().call(1, 'write', w('U', 'k1', 'k2')).later(SKEW_BOUND_MS - 10).call(0, 'write', w('T', 'k0', 'k1')).call(2, ...read({ k0: 'T', k1: 'U' })).ops, null);
  t.ok(close.valid, 'U completed within the skew bound before T began: no real-time order');
  t.equal(close.stats['reorderedWithinSkew'], 1, 'counted in the stats');
  t.ok(checkReadAtomic(new H().call(1, 'write', w('U', 'k1', 'k2'), 'info').call(0, 'write', w('T', 'k0', 'k1')).call(2, ...read({ k0: 'T', k1: 'U' })).ops, null).valid, 'an unknown U gives no real-time order');
  t.equal(rule(new H().call(0, 'write', w('T', 'k0', 'k1'), 'info').call(2, ...read({ k0: 'T', k1: null }))), 'initial', 'an unknown T seen on one key must be seen on the other');
  t.same(kinds(checkReadAtomic(valid().call(2, ...read({ k0: 'Z', k3: 'T' })).ops, null)), ['phantom-read'], 'a value never written (or written to other keys)');
  t.same(kinds(checkReadAtomic(valid().call(2, ...read({ k2: 'V', k3: 'V' })).ops, null)), ['failed-write-visible']);
  const finalOk = { plain: { k0: 'T', k1: 'U', k2: 'U', k3: null }, atomic: { k0: 'T', k1: 'U', k2: 'U', k3: null } };
  t.ok(checkReadAtomic(valid().ops, finalOk).valid, 'a final state that is not fractured');
  const finalBad = checkReadAtomic(valid().ops, { plain: { k0: 'T', k1: 'U', k2: null, k3: null }, atomic: finalOk.atomic });
  t.same(kinds(finalBad), ['fractured-final'], 'a final state with U on k1 and not on k2');
  t.match(finalBad.anomalies['fractured-final']!.examples[0], { final: 'plain', rule: 'initial' });
});

t.test('causal', async (t) => {
  const readOf = (slot: string, reply: { id: string; parent: number }[], post: number[]): [string, unknown, 'ok', unknown] => ['read', { slot }, 'ok', { reply, post }];
  const valid = (): H =>
    new H()
      .call(0, 'post', { slot: 's', seq: 0 })
      .call(0, 'reply', { slot: 's', id: 'r0' }, 'ok', 0)
      .call(1, ...readOf('s', [{ id: 'r0', parent: 0 }], [0]))
      .call(0, 'post', { slot: 's', seq: 1 }, 'info')
      .call(1, ...readOf('s', [{ id: 'r0', parent: 0 }], [1])) // a later post overwrote the parent
      .call(1, ...readOf('s', [], []))
      .call(1, ...readOf('s', [], [0, 1]));
  const ok = checkCausal(valid().ops, null);
  t.ok(ok.valid, 'a valid history passes');
  t.same(ok.anomalies, {});
  t.same(kinds(checkCausal(valid().call(1, ...readOf('s', [{ id: 'r0', parent: 0 }], [])).ops, null)), ['reply-without-parent'], 'a reply without its post');
  t.same(kinds(checkCausal(valid().call(0, 'reply', { slot: 's', id: 'r1' }, 'ok', 1).call(1, ...readOf('s', [{ id: 'r1', parent: 1 }], [0])).ops, null)), ['reply-without-parent'], 'a reply with an older post only');
  t.same(kinds(checkCausal(valid().call(1, ...readOf('s', [{ id: 'r7', parent: 0 }], [0])).ops, null)), ['phantom-reply']);
  t.same(kinds(checkCausal(valid().call(1, ...readOf('s', [], [5])).ops, null)), ['phantom-post']);
});

t.test('rr', async (t) => {
  const step = (fn: string, key: string, value: string | null) => ({ fn, key, value });
  const valid = (): H =>
    new H()
      .call(0, 'write', { key: 'k0', value: 'a' })
      .call(0, 'write', { key: 'k1', value: 'b' }, 'info')
      .call(1, 'read', {}, 'ok', [step('e1.1', 'k0', 'a'), step('e1.1', 'k1', 'b'), step('e2.1', 'k0', 'a'), step('e2.1', 'k1', 'b')])
      .call(1, 'read', {}, 'ok', [step('e1.1', 'k0', null), step('e2.1', 'k0', null)])
      .call(1, 'read', {}, 'info');
  const ok = checkRr(valid().ops, null);
  t.ok(ok.valid, 'a valid history passes');
  t.same(ok.anomalies, {});
  t.same(kinds(checkRr(valid().call(1, 'read', {}, 'ok', [step('e1.1', 'k0', null), step('e2.1', 'k0', 'a')]).ops, null)), ['non-repeatable-read'], 'a key read at two versions');
  t.same(kinds(checkRr(valid().call(1, 'read', {}, 'ok', [step('e1.1', 'k0', 'q'), step('e2.1', 'k0', 'q')]).ops, null)), ['phantom-read']);
});

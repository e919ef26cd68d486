// docs/protocol.md cannot drift from the code: its generated blocks (byte
// examples, lattice encodings, ring vectors) must be what the code builds
// now, its Python ring reference must print the same vectors, and the
// constants and names it states must be the code's.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { pieceBytes } from '../lib/actor/chunking.js';
import { DEFAULT_MAX_PAYLOAD, PROTOCOL_VERSION } from '../lib/codec/index.js';
import { DEFAULT_MAX_MESSAGE_BYTES, kvsConfig } from '../lib/config.js';
import { errors } from '../lib/errors.js';
import { DEFAULT_VNODES } from '../lib/kvs/hash_ring.js';
import { DEFAULT_REPLICATION } from '../lib/kvs/ring_view.js';
import { LATTICE_TYPES } from '../lib/lattice/index.js';
import { REFERENCE_TAG } from '../lib/reference.js';
import { subjectsFor } from '../lib/subjects.js';
import { GENERATED_BLOCK, generatedBlocks, regenerate, ringVectors } from './fixtures/protocol_examples.js';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

void t.test('every generated block is what the code encodes now', async (t) => {
  const blocks = generatedBlocks();
  const inDoc = [...doc.matchAll(GENERATED_BLOCK)].map((m) => [m[1]!, m[2]!] as const);
  t.same(inDoc.map(([name]) => name).sort(), [...blocks.keys()].sort(), 'the doc has each block once, and no other');
  for (const [name, text] of inDoc) t.equal(text, blocks.get(name), `block ${name}`);
  // One message for all: how to bring the page up to date after a deliberate change.
  t.equal(regenerate(doc), doc, 'docs/protocol.md is up to date (else: node dist/test/fixtures/protocol_examples.js --write docs/protocol.md)');
});

void t.test('the Python ring reference prints the vectors', async (t) => {
  const python = spawnSync('python3', ['--version']);
  if (python.error) return void t.comment('python3 is not installed: the reference was not run');
  const code = /<!-- checked: ring\.py -->\n```python\n([\s\S]*?)\n```/.exec(doc)?.[1];
  t.ok(code, 'the doc has the reference');
  const run = spawnSync('python3', ['-c', code ?? ''], { encoding: 'utf8', env: { ...process.env, PYTHONIOENCODING: 'utf-8' } });
  t.equal(run.stderr, '', 'it runs');
  t.equal(run.stdout.trimEnd(), ringVectors(), 'and prints what the JavaScript ring computes');
});

void t.test('names and numbers the doc states are the code\'s', async (t) => {
  const says = (text: string, what: string): void => void t.ok(doc.includes(text), `the doc says ${what}: ${text}`);
  const s = subjectsFor('cb');
  for (const subject of [s.sched, s.members, s.membersPing, s.replication, s.registry, s.kvsShard('ID').replace('ID', '<shard id>')]) says(`\`${subject}\``, 'the subject');
  t.equal(s.kvsShard('x'), 'cb.kvs.x');
  says('queue group `routers`', 'the routers\' queue group');
  says('the integer `1`', 'the protocol version');
  t.equal(PROTOCOL_VERSION, 1);

  const codes = Object.values(errors).map((cls) => new cls('').code).sort();
  const section = doc.slice(doc.indexOf('## Errors'), doc.indexOf('## Large messages'));
  const listed = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!).sort();
  t.same(listed, codes, 'the error table lists every code, and no other');

  const lattices = doc.slice(doc.indexOf('## Lattices'), doc.indexOf('## Registering'));
  for (const { kind, tag } of LATTICE_TYPES) t.match(lattices, `| \`${kind}\` | ${tag} |`, `lattice ${kind} is tag ${tag}`);
  says('tag 40520 around the key', 'the reference tag');
  t.equal(REFERENCE_TAG, 40520);

  t.equal(DEFAULT_VNODES, 64, 'the doc says 64 points per shard');
  says('64 points', 'the points per shard');
  t.equal(DEFAULT_REPLICATION, 2, 'the doc says replication 2 when no shard says');
  const kvs = kvsConfig({ nats: 'nats://x' });
  t.equal(kvs.heartbeatMs, 1000, 'heartbeats once a second');
  t.equal(kvs.memberTimeoutMs, 3000, 'a shard silent 3 s is gone');
  says('no heartbeat came for 3 s', 'the member timeout');
  t.equal(DEFAULT_MAX_MESSAGE_BYTES, 64 * 1024 * 1024, 'the doc says up to 64 MiB');
  says('up to 64 MiB', 'the message limit');
  t.equal(pieceBytes(DEFAULT_MAX_PAYLOAD), DEFAULT_MAX_PAYLOAD - 4096, 'pieces of max_payload - 4096 bytes');
  says('`max_payload` − 4096 bytes', 'the piece size');
});

void t.test('the README links the page', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  t.match(readme, 'docs/protocol.md');
});

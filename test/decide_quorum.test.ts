// The rule a key's primary decides by (kvs-node/decide_quorum.ts): a majority
// of the shards it knows of, or of the key's replicas among them. (Which
// shards count, those that have served, is the shard's: kvs_node.ts.)

import t from 'tap';
import { RingView, type ShardInfo } from '../lib/kvs/ring_view.js';
import { DecideQuorum, type QuorumView } from '../kvs-node/decide_quorum.js';

const shard = (id: string, state: ShardInfo['state'] = 'active'): ShardInfo => ({ id, subject: `kvs.${id}`, state, replication: 2 });
const view = (self: string, heard: string[], silent: string[], joining: string[] = []): QuorumView => ({
  self: shard(self),
  heard: [...heard.map((id) => shard(id)), ...joining.map((id) => shard(id, 'joining'))],
  silent: silent.map((id) => shard(id)),
  overrides: [],
});

t.test('a majority of the known shards decides; a minority does not', async (t) => {
  const q = new DecideQuorum();
  t.equal(q.refusal('k', ['a', 'b'], view('a', ['b'], ['c'])), undefined, 'two of three');
  t.match(q.refusal('k', ['a'], view('a', [], ['b', 'c'])), /hears 1 of the 3 serving shards/, 'one of three, cut off');
  t.match(q.refusal('k', ['a'], view('a', [], ['b'])), /hears 1 of the 2/, 'one of two is no majority');
  t.equal(q.refusal('k', ['a'], view('a', [], [])), undefined, 'a shard alone in a cluster of one');
});

t.test('a shard catching up (joining again) still counts, heard or silent', async (t) => {
  const q = new DecideQuorum();
  t.equal(q.refusal('k', ['a', 'b'], view('a', [], ['c'], ['b'])), undefined, 'b heard while it catches up: two of three');
  t.match(q.refusal('k', ['a'], view('a', [], ['b', 'c'])), /hears 1 of the 3/);
});

t.test('short of a majority of the cluster, a majority of the key\'s replicas among the known shards decides', async (t) => {
  const q = new DecideQuorum();
  const known = ['a', 'b', 'c', 'd', 'e'];
  const ring = new RingView();
  ring.update(known.map((id) => shard(id)));
  // A key whose two replicas both hear each other, with three of five shards silent.
  const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => ring.readReplicas(k)[0]!.id === 'a' && ring.readReplicas(k)[1]!.id === 'b')!;
  t.ok(key, 'a key on a and b');
  t.equal(q.refusal(key, ['a', 'b'], view('a', ['b'], ['c', 'd', 'e'])), undefined, 'both replicas take it');
  const other = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => !ring.readReplicas(k).some((s) => s.id === 'b'))!;
  t.match(q.refusal(other, ['a', 'b'], view('a', ['b'], ['c', 'd', 'e'])), /of the 2 replicas/, 'stand-ins for silent replicas do not count');
});

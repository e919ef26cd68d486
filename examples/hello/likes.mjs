// examples/hello/likes.mjs: `node examples/hello/likes.mjs` in the directory
// where `cloudburst up` runs (connect() finds the cluster up recorded there).
import { Cloudburst, SetLattice } from 'cloudburst-ts';

const client = await Cloudburst.connect();

// A function gets `cb` (its handle on shared state) and the call's arguments.
// It is shipped as source to an executor's worker thread, so it must not use
// variables from the scope around it.
await client.register('like', async (cb, post, user) => {
  // A set lattice: concurrent likes merge instead of overwriting each other.
  await cb.put(`likes/${post}`, new cb.lattices.SetLattice([user]));
  const likes = await cb.get(`likes/${post}`);
  return likes.size;
});

await client.put('likes/post-1', new SetLattice(['ada', 'grace']));   // the client writes too
// The function reads its own write merged with what was there:
console.log(`edsger makes it ${await client.call('like', ['post-1', 'edsger'])}`);   // 3
await Promise.all(['alan', 'barbara'].map((user) => client.call('like', ['post-1', user])));
const likes = await client.get('likes/post-1');
console.log(`post-1 is liked by ${[...likes].sort().join(', ')}`);

await client.put('motd', 'hello');               // plain values: last writer wins
console.log(await client.get('motd'));
await client.close();

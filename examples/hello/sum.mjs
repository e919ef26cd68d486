// A function for `cloudburst register examples/hello/sum.mjs`: the module's
// default export, called with `cb` (its handle on shared state) and the call's
// arguments. It is shipped as source, so it imports nothing relative.
export default async (cb, a, b) => a + b;

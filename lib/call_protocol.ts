// Executor → router: the calls (by id) that finished, batched per tick, so
// the router stops tracking them for a retry.
export const CALLS_DONE = 'done';

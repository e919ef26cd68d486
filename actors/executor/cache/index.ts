// The executor's shared-memory cache (docs/architecture.md): one writer (the main
// thread) and many readers (worker threads) over one SharedArrayBuffer.

export { SharedCacheWriter } from './shared_cache_writer.js';
export { SharedCacheReader } from './shared_cache_reader.js';
export { sharedCacheBytes, type SharedCacheOptions } from './layout.js';

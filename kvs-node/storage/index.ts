// Durable shard storage: the one door kvs-node goes through to keep lattices.
export { ShardStore, type OpenReport, type ShardStoreOptions } from './shard_store.js';

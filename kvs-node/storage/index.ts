// Durable shard storage: the one door kvs-node goes through to keep lattices.
export { ShardStore, type KeyRecord, type OpenReport, type ShardStoreOptions } from './shard_store.js';

// The public surface of cloudburst-ts: everything a user program imports.
export { Cloudburst, type ConnectOptions, type CallOptions, type ReadOptions, type DagCallOptions, type CallFuture, type RegisterOptions } from './client/cloudburst.js';
export {
  defineFunction,
  type FunctionDefinition,
  type FunctionArgs,
  type FunctionResult,
  type TypedFunction,
  type TypedDag,
} from './typed_functions.js';
// The schema builder of defineFunction's `args`, so a user needs no import of typebox of their own.
export { Type, type Static, type TSchema } from 'typebox';
export { natsAuthFromEnv, type NatsAuth, type NatsTls } from './actor/nats_auth.js';
export type { DagRecord } from './dag.js';
export type { PutOptions } from './kvs/expiry.js';
export type { ClusterStatus } from '../router/router_node.js';
export type { Member } from './membership.js';
export type { Cb, CloudburstFunction } from './function_api.js';
export * from './errors.js';
export * from './lattice/index.js';
export { ref, Ref } from './reference.js';

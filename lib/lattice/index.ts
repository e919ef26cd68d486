// The lattice library's public face, and the table the codec registers: one
// CBOR tag per lattice kind, so a value keeps its merge semantics on the wire.

import { BoolLattice } from './bool.js';
import { Lattice } from './lattice.js';
import type { LatticeKind } from './lattice.js';
import { LWWPair } from './lww.js';
import { MapLattice } from './map.js';
import { MaxIntLattice } from './max_int.js';
import { MultiKeyCausal } from './multi_causal.js';
import { OrderedSetLattice } from './ordered_set.js';
import { PriorityLattice } from './priority.js';
import { SetLattice } from './set.js';
import { SingleKeyCausal } from './single_causal.js';
import { VectorClock } from './vector_clock.js';

export { Lattice, mergeLattices, type LatticeKind } from './lattice.js';
export { compareValues, isPlainValue } from './value_order.js';
export { LWWPair } from './lww.js';
export { SetLattice, type SetElement } from './set.js';
export { OrderedSetLattice } from './ordered_set.js';
export { MapLattice } from './map.js';
export { MaxIntLattice } from './max_int.js';
export { BoolLattice } from './bool.js';
export { VectorClock, type ClockOrder } from './vector_clock.js';
export { SingleKeyCausal, type SingleCausalVersion } from './single_causal.js';
export { MultiKeyCausal, type MultiCausalVersion, type Dependencies } from './multi_causal.js';
export { PriorityLattice } from './priority.js';

export interface LatticeType {
  readonly kind: LatticeKind;
  /** The CBOR tag the codec writes this kind under. */
  readonly tag: number;
  /** The class, for the codec's `instanceof` test when encoding. */
  readonly cls: abstract new (...args: never[]) => Lattice;
  /** Rebuilds a lattice from its `toData()`; throws MalformedMessage otherwise. */
  readonly fromData: (data: unknown) => Lattice;
}

// Tags are part of the wire format: never renumber, only append.
export const LATTICE_TYPES = [
  { kind: 'lww', tag: 40501, cls: LWWPair, fromData: (data: unknown) => LWWPair.fromData(data) },
  { kind: 'set', tag: 40502, cls: SetLattice, fromData: (data: unknown) => SetLattice.fromData(data) },
  { kind: 'ordered-set', tag: 40503, cls: OrderedSetLattice, fromData: (data: unknown) => OrderedSetLattice.fromData(data) },
  { kind: 'map', tag: 40504, cls: MapLattice, fromData: (data: unknown) => MapLattice.fromData(data) },
  { kind: 'max-int', tag: 40505, cls: MaxIntLattice, fromData: (data: unknown) => MaxIntLattice.fromData(data) },
  { kind: 'bool', tag: 40506, cls: BoolLattice, fromData: (data: unknown) => BoolLattice.fromData(data) },
  { kind: 'vector-clock', tag: 40507, cls: VectorClock, fromData: (data: unknown) => VectorClock.fromData(data) },
  { kind: 'single-causal', tag: 40508, cls: SingleKeyCausal, fromData: (data: unknown) => SingleKeyCausal.fromData(data) },
  { kind: 'multi-causal', tag: 40509, cls: MultiKeyCausal, fromData: (data: unknown) => MultiKeyCausal.fromData(data) },
  { kind: 'priority', tag: 40510, cls: PriorityLattice, fromData: (data: unknown) => PriorityLattice.fromData(data) },
] as const satisfies readonly LatticeType[];

export function isLattice(x: unknown): x is Lattice {
  return x instanceof Lattice;
}

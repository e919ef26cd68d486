// The lattice classes a function can build values with. A registered
// function is shipped as source and loaded from a data: URL, where it cannot
// import this package, so `cb.lattices` hands it the classes instead.

import {
  BoolLattice,
  LWWPair,
  MapLattice,
  MaxIntLattice,
  MultiKeyCausal,
  OrderedSetLattice,
  PriorityLattice,
  SetLattice,
  SingleKeyCausal,
  VectorClock,
} from './lattice/index.js';

export const lattices = {
  LWWPair,
  SetLattice,
  OrderedSetLattice,
  MapLattice,
  MaxIntLattice,
  BoolLattice,
  VectorClock,
  SingleKeyCausal,
  MultiKeyCausal,
  PriorityLattice,
} as const;

export type LatticeConstructors = typeof lattices;

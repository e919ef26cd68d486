// Values typed on the command line, as the lattice the user names with
// --type. `lww` (the default) stays a plain value: the client wraps it.

import { InvalidArgument } from '../lib/errors.js';
import { BoolLattice, MaxIntLattice, OrderedSetLattice, SetLattice, type Lattice } from '../lib/lattice/index.js';
import { parseValue } from './options.js';

export const CLI_LATTICE_TYPES = ['lww', 'set', 'ordered-set', 'max-int', 'bool'] as const;
export type CliLatticeType = (typeof CLI_LATTICE_TYPES)[number];

export function valueFromCli(type: CliLatticeType, text: string): unknown {
  const value = parseValue(text);
  const elements = (): (string | number)[] => {
    const list = Array.isArray(value) ? value : [value];
    if (!list.every((e) => typeof e === 'string' || typeof e === 'number')) {
      throw new InvalidArgument(`a ${type} takes a JSON array of strings and numbers, or one of them`);
    }
    return list;
  };
  const lattices: Record<Exclude<CliLatticeType, 'lww'>, () => Lattice> = {
    set: () => new SetLattice(elements()),
    'ordered-set': () => new OrderedSetLattice(elements()),
    'max-int': () => new MaxIntLattice(value as number),
    bool: () => new BoolLattice(value as boolean),
  };
  return type === 'lww' ? value : lattices[type]();
}

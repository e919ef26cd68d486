// Every workload `npm run verify` knows, by the name on its command line.
// Add a workload with one line here.

import type { Workload } from '../workload.js';
import { bank } from './bank.js';
import { causal } from './causal.js';
import { eoCounter } from './eo_counter.js';
import { readAtomic } from './read_atomic.js';
import { register } from './register.js';
import { rr } from './rr.js';
import { sends } from './sends.js';
import { serializable } from './serializable.js';
import { sets } from './sets.js';
import { smoke } from './smoke.js';

export const workloads: Record<string, Workload> = {
  smoke,
  sets,
  register,
  bank,
  'eo-counter': eoCounter,
  'read-atomic': readAtomic,
  causal,
  rr,
  sends,
  serializable,
};

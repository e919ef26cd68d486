// Every workload `npm run verify` knows, by the name on its command line.
// Add a workload with one line here.

import type { Workload } from '../workload.js';
import { smoke } from './smoke.js';

export const workloads: Record<string, Workload> = {
  smoke,
};

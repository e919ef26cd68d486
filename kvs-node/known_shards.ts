// The serving shards a shard knew, kept in its data directory, so that after
// a restart it still counts the ones it cannot hear yet (decide_quorum.ts):
// a shard restarted while a partition cuts it off from its peers must not
// take itself for the whole cluster. A small JSON file, replaced by a rename
// so a crash mid-write leaves the old one; a missing or unreadable file is an
// empty list (a shard's first start, or a directory from an older version).

import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ShardInfo } from '../lib/kvs/ring_view.js';

const FILE = 'known-shards.json';

/** The shards saved in `dataDir`, or none. */
export async function loadKnownShards(dataDir: string): Promise<ShardInfo[]> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(dataDir, FILE), 'utf8'));
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (s): s is ShardInfo => typeof s === 'object' && s !== null && typeof (s as ShardInfo).id === 'string' && typeof (s as ShardInfo).subject === 'string',
    );
  } catch {
    return [];
  }
}

/** Saves the known shards whenever they change; one write at a time, the last list wins. */
export class KnownShardsFile {
  private saved = '';
  private pending: string | undefined;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  save(shards: ShardInfo[]): void {
    const text = JSON.stringify(
      shards.map(({ id, subject, state, replication }) => ({ id, subject, state, ...(replication ? { replication } : {}) })).sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    if (text === (this.pending ?? this.saved)) return;
    this.pending = text;
    this.writing ??= this.drain();
  }

  /** Resolves once the last list asked for is on disk (or failed). */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined) {
      const text = this.pending;
      this.pending = undefined;
      const path = join(this.dataDir, FILE);
      try {
        await writeFile(`${path}.tmp`, text);
        await rename(`${path}.tmp`, path);
        this.saved = text;
      } catch (err) {
        this.onError(err);
      }
    }
    this.writing = undefined;
  }
}

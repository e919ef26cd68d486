// Collects items per group during one event-loop turn and hands each group's
// items over once, at the end of the turn: one message per destination per
// tick instead of one per item (done notices, watch updates).

export class TickBatcher<G, I> {
  private pending = new Map<G, I[]>();
  private scheduled = false;

  constructor(private readonly flushGroup: (group: G, items: I[]) => void) {}

  add(group: G, item: I): void {
    let items = this.pending.get(group);
    if (!items) this.pending.set(group, (items = []));
    items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const pending = this.pending;
    this.pending = new Map();
    for (const [group, items] of pending) this.flushGroup(group, items);
  }
}

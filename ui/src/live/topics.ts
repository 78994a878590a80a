// Topic reference counting with seq/resume, independent of the socket and the cache.
//   - Topics are reference-counted over all callers of retain(); the first retain subscribes, the last
//     release unsubscribes.
//   - Events carry seq; an event with seq <= the last seq applied is a duplicate (resume replay) and is ignored.
//     The last seq also advances from Subscribed.seq of a subscribe sent without `since`.
//   - On (re)connect the topics the cache already follows are re-subscribed with `since` = last seq,
//     new topics without (they get a Snapshot).
import type { ClientOp, Topic } from "@generated";

interface PendingSubscribe {
  readonly topics: ReadonlyArray<Topic>;
  readonly withSince: boolean;
}

export class TopicSubscriptions {
  private lastSeq: number | null = null;
  private readonly wanted = new Map<Topic, number>();
  /** Topics whose cached state follows the event stream up to lastSeq (resumable with `since`). */
  private readonly synced = new Set<Topic>();
  private pending: PendingSubscribe[] = [];

  /** `send` delivers an op on the open socket and returns false when there is none. */
  constructor(private readonly send: (op: ClientOp) => boolean) {}

  /** Ask for topics; returns a release function. */
  retain(topics: ReadonlyArray<Topic>): () => void {
    const added: Topic[] = [];
    for (const topic of topics) {
      const count = this.wanted.get(topic) ?? 0;
      this.wanted.set(topic, count + 1);
      if (count === 0) added.push(topic);
    }
    if (added.length > 0) this.subscribe(added, false);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const removed: Topic[] = [];
      for (const topic of topics) {
        const count = this.wanted.get(topic) ?? 0;
        if (count <= 1) {
          this.wanted.delete(topic);
          this.synced.delete(topic);
          removed.push(topic);
        } else {
          this.wanted.set(topic, count - 1);
        }
      }
      if (removed.length > 0) this.send({ op: "unsubscribe", topics: removed });
    };
  }

  /** A socket opened: resume the followed topics, subscribe the others afresh. */
  connected(): void {
    this.pending = [];
    const topics = [...this.wanted.keys()];
    const resumable = this.lastSeq === null ? [] : topics.filter((topic) => this.synced.has(topic));
    const fresh = topics.filter((topic) => !resumable.includes(topic));
    if (resumable.length > 0) this.subscribe(resumable, true);
    if (fresh.length > 0) this.subscribe(fresh, false);
  }

  /** The socket is gone: unanswered subscribes are void. */
  disconnected(): void {
    this.pending = [];
  }

  /** Subscribed answers the oldest unanswered subscribe. */
  subscribed(topics: ReadonlyArray<Topic>, seq: number): void {
    const request = this.pending.shift();
    for (const topic of request?.topics ?? topics) {
      if (this.wanted.has(topic)) this.synced.add(topic);
    }
    const withSince = request?.withSince ?? false;
    if (this.lastSeq === null || !withSince || seq < this.lastSeq) {
      // Without `since` a Snapshot at this seq follows. A seq below ours means the server started
      // afresh (in-memory events): its numbering is the one to follow from now on.
      this.lastSeq = seq;
    }
    // With `since`, the replayed events (<= seq) still have to come: keep lastSeq where it is.
  }

  /** True (and remembered) when seq is newer than anything applied. */
  accept(seq: number): boolean {
    if (this.lastSeq !== null && seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    return true;
  }

  getLastSeq(): number | null {
    return this.lastSeq;
  }

  /** The topics retained now. */
  topics(): Topic[] {
    return [...this.wanted.keys()];
  }

  isWanted(topic: Topic): boolean {
    return this.wanted.has(topic);
  }

  private subscribe(topics: ReadonlyArray<Topic>, withSince: boolean): void {
    const op: ClientOp =
      withSince && this.lastSeq !== null
        ? { op: "subscribe", topics, since: this.lastSeq }
        : { op: "subscribe", topics };
    if (this.send(op)) this.pending.push({ topics, withSince: "since" in op });
  }
}

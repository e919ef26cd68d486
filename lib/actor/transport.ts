// The only thing actors and clients know of the network. NATS is the one real
// implementation (nats_transport.ts); keeping it behind this interface lets a
// test wrap it to watch or drop messages, as nats.js keeps sockets out of core.

export interface InboundMessage {
  readonly subject: string;
  /** Only valid during the handler call: it may be a view into a read buffer. */
  readonly data: Uint8Array;
  /** Where an answer goes, when the sender asked for one. */
  readonly reply: string | undefined;
}

export interface SubscribeOptions {
  /** Members of one queue group share the subject's messages, one each. */
  queue?: string;
}

export interface Subscription {
  unsubscribe(): void;
}

/** A publish or subscription the server refused (a role may not use the subject). */
export interface Refusal {
  operation: 'publish' | 'subscribe';
  subject: string;
  /** An Unauthorized naming the subject. */
  error: Error;
}

export interface Transport {
  /** Largest message the server accepts, in bytes. */
  readonly maxPayload: number;
  /** A name unique to this connection, usable in ids and inbox subjects. */
  readonly connectionName: string;
  publish(subject: string, data: Uint8Array, reply?: string): void;
  /** The handler must not await: it runs inside the transport's read loop. */
  subscribe(subject: string, handler: (msg: InboundMessage) => void, opts?: SubscribeOptions): Subscription;
  /** One request, one reply; rejects with DeadlineExceeded or NoCapacity (no responders). */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Resolves when the server has seen everything published so far. */
  flush(): Promise<void>;
  /** Lets in-flight subscription callbacks finish, then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
  /** Resolves once the connection is closed for good. */
  readonly closed: Promise<void>;
  /**
   * Calls `listener` for each publish or subscription the server refuses;
   * returns a function that stops it. Requests on a refused subject fail
   * with Unauthorized themselves. Optional: transports without permissions
   * (test wrappers) need not have it.
   */
  onRefused?(listener: (refusal: Refusal) => void): () => void;
}

/**
 * A small promise-based reader over a real WebSocket, for tests.
 * @module
 */

/** A connected test client that queues every frame it receives. */
export class WsTestClient {
  /** The underlying socket. */
  readonly socket: WebSocket;
  #frames: unknown[] = [];
  #waiters: (() => void)[] = [];
  #closed: Promise<CloseEvent>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (event) => {
      this.#frames.push(
        typeof event.data === "string" ? JSON.parse(event.data) : event.data,
      );
      this.#wake();
    };
    this.#closed = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        resolve(event);
        this.#wake();
      });
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Opens a socket to `url` (with extra upgrade `headers`, Deno only) and waits until it is open. */
  static async connect(
    url: string,
    options: { headers?: Record<string, string> } = {},
  ): Promise<WsTestClient> {
    const socket = options.headers
      ? new WebSocket(url, { headers: options.headers } as unknown as string[])
      : new WebSocket(url);
    const client = new WsTestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    return client;
  }

  /** Sends a JSON value (or a raw string) as a text frame. */
  send(value: unknown): void {
    this.socket.send(typeof value === "string" ? value : JSON.stringify(value));
  }

  /** The next frame; rejects if the socket closes first. */
  async next(): Promise<Record<string, unknown>> {
    while (this.#frames.length === 0) {
      if (this.socket.readyState >= WebSocket.CLOSING) {
        throw new Error("Socket closed while waiting for a frame");
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.#frames.shift() as Record<string, unknown>;
  }

  /** Frames up to and including the first that satisfies `last`. */
  async until(
    last: (frame: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>[]> {
    const frames = [];
    while (true) {
      const frame = await this.next();
      frames.push(frame);
      if (last(frame)) return frames;
    }
  }

  /** Frames of one answer: through `done` or a terminal `error`. */
  answer(): Promise<Record<string, unknown>[]> {
    return this.until((f) =>
      f.type === "done" ||
      (f.type === "error" && f.request_id !== undefined && f.seq !== undefined)
    );
  }

  /** The frames received but not read yet. */
  pending(): Record<string, unknown>[] {
    return this.#frames as Record<string, unknown>[];
  }

  /** Resolves with the close event. */
  closed(): Promise<CloseEvent> {
    return this.#closed;
  }

  /** Closes the socket and waits for the close to finish. */
  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await this.#closed;
  }
}

/** Concatenates the `content` of content frames. */
export function textOf(frames: Record<string, unknown>[]): string {
  return frames.filter((f) => f.type === "content").map((f) => f.content).join(
    "",
  );
}

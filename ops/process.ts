/**
 * A child process the fleet owns: spawned with piped output that is kept
 * (the last part, for error messages) and optionally echoed line by line
 * with a prefix; waits for a line, sends signals, and stops gracefully
 * (SIGTERM, wait, SIGKILL).
 * @module
 */

/** How much of a child's output is kept for error messages, by default. */
const KEEP_CHARS = 16_000;

/** Options of {@link Child.spawn}. */
export interface ChildOptions {
  /** Arguments after the command. */
  args?: string[];
  /** Working directory. */
  cwd?: string;
  /** Environment variables added to (or replacing) the parent's. */
  env?: Record<string, string>;
  /** When set, every output line is printed with this prefix. */
  echo?: string;
  /** How many characters of the output {@link Child.output} keeps (default 16,000). */
  keepChars?: number;
}

/** A running child process. */
export class Child {
  /** Process id. */
  readonly pid: number;
  /** Settles when the process exited and its output is read. */
  readonly exited: Promise<Deno.CommandStatus>;
  #proc: Deno.ChildProcess;
  #output = "";
  #watchers = new Set<() => void>();
  #name: string;
  #keepChars: number;

  private constructor(name: string, proc: Deno.ChildProcess, options: ChildOptions) {
    this.#name = name;
    this.#proc = proc;
    this.#keepChars = options.keepChars ?? KEEP_CHARS;
    this.pid = proc.pid;
    const read = Promise.all([
      this.#read(proc.stdout, options.echo),
      this.#read(proc.stderr, options.echo),
    ]);
    this.exited = read.then(() => proc.status);
  }

  /** Spawns `command` with stdin closed and output piped. */
  static spawn(command: string, options: ChildOptions = {}): Child {
    const proc = new Deno.Command(command, {
      args: options.args ?? [],
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new Child(command, proc, options);
  }

  /**
   * Spawns `command` and waits until its output matches `ready`; stops it
   * and rejects (with its output) when it exits first or `timeoutMs` passes.
   */
  static async start(
    command: string,
    options: ChildOptions & { ready: RegExp; timeoutMs: number },
  ): Promise<{ child: Child; match: RegExpMatchArray }> {
    const child = Child.spawn(command, options);
    try {
      return { child, match: await child.waitFor(options.ready, options.timeoutMs) };
    } catch (error) {
      await child.stop(1_000);
      throw error;
    }
  }

  async #read(
    stream: ReadableStream<Uint8Array<ArrayBuffer>>,
    echo: string | undefined,
  ): Promise<void> {
    let partial = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      this.#output = (this.#output + text).slice(-this.#keepChars);
      for (const watcher of this.#watchers) watcher();
      if (echo === undefined) continue;
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines) console.log(`${echo}${line}`);
    }
    if (echo !== undefined && partial) console.log(`${echo}${partial}`);
  }

  /** The last part of what the process printed (stdout and stderr interleaved). */
  get output(): string {
    return this.#output;
  }

  /**
   * Waits until the output matches `pattern` and returns the match. Rejects
   * when the process exits first or `timeoutMs` passes, with its output.
   */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const { promise, resolve, reject } = Promise.withResolvers<RegExpMatchArray>();
    const check = () => {
      const match = this.#output.match(pattern);
      if (match) resolve(match);
    };
    this.#watchers.add(check);
    check();
    const timer = setTimeout(
      () => reject(this.#failure(`no output matching ${pattern} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.exited.then((status) => reject(this.#failure(`exited with code ${status.code}`)));
    try {
      return await promise;
    } finally {
      clearTimeout(timer);
      this.#watchers.delete(check);
    }
  }

  #failure(reason: string): Error {
    return new Error(`Cannot start "${this.#name}": ${reason}: ${this.#output.trim()}`);
  }

  /** Sends `signal`; false when the process has already exited. */
  signal(signal: Deno.Signal): boolean {
    try {
      this.#proc.kill(signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends SIGTERM, waits up to `graceMs` for the exit, then SIGKILL; resolves
   * with the exit status.
   */
  async stop(graceMs = 15_000): Promise<Deno.CommandStatus> {
    this.signal("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    const exitedInTime = await Promise.race([this.exited.then(() => true), late.then(() => false)]);
    clearTimeout(timer);
    if (!exitedInTime) this.signal("SIGKILL");
    return await this.exited;
  }
}

/** True when `path` is an existing file (an installed binary). */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 (the OS picks it; it is released at once). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`Cannot connect to 127.0.0.1:${port}: ${error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

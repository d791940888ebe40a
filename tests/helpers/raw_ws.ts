/**
 * A raw WebSocket client over `Deno.connect`, for tests that must send
 * frames no well-behaved client library would send (bad opcodes, reserved
 * bits, unmasked frames, invalid UTF-8...) or behave like a broken peer
 * (never read, never answer pings, drop the TCP connection).
 * @module
 */

/** One parsed frame from the server. */
export interface RawFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Options of {@link rawFrame}. */
export interface RawFrameOptions {
  /** Final fragment bit; default true. */
  fin?: boolean;
  /** RSV1-3 bits as a number 0-7; default 0. */
  rsv?: number;
  /** Mask the payload (clients must); default true. */
  mask?: boolean;
}

/** Opcodes of RFC 6455 section 5.2. */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Encodes one frame as a client would put it on the wire. */
export function rawFrame(
  opcode: number,
  payload: Uint8Array | string,
  options: RawFrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const { fin = true, rsv = 0, mask = true } = options;
  const header: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xf)];
  const maskBit = mask ? 0x80 : 0;
  if (data.length < 126) header.push(maskBit | data.length);
  else if (data.length < 65_536) {
    header.push(maskBit | 126, data.length >> 8, data.length & 0xff);
  } else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    const n = data.length;
    header.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  const key = mask ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(0);
  const out = new Uint8Array(header.length + key.length + data.length);
  out.set(header, 0);
  out.set(key, header.length);
  const start = header.length + key.length;
  for (let i = 0; i < data.length; i++) {
    out[start + i] = mask ? data[i] ^ key[i & 3] : data[i];
  }
  return out;
}

/** A close frame payload: 2-byte code plus a UTF-8 reason. */
export function closePayload(code: number, reason = ""): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** A WebSocket connection driven byte by byte. */
export class RawWs {
  /** The TCP connection. */
  readonly conn: Deno.TcpConn;
  #buffer: Uint8Array = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.TcpConn, rest: Uint8Array) {
    this.conn = conn;
    this.#buffer = rest;
  }

  /**
   * Connects to `url` (`ws://host:port/path`) and performs the opening
   * handshake; `headers` are added to the upgrade request.
   *
   * @throws {Error} when the server does not answer 101; the message holds the status line.
   */
  static async connect(
    url: string,
    headers: Record<string, string> = {},
  ): Promise<RawWs> {
    const { status, head, conn, rest } = await rawUpgrade(url, headers);
    if (status !== 101) {
      conn.close();
      throw new Error(`Cannot upgrade: got "${head.split("\r\n")[0]}"`);
    }
    return new RawWs(conn, rest);
  }

  /** Writes raw bytes. Resolves false when the connection is gone. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      let written = 0;
      while (written < bytes.length) {
        written += await this.conn.write(bytes.subarray(written));
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Sends one text frame (masked). */
  sendText(text: string): Promise<boolean> {
    return this.write(rawFrame(Opcode.Text, text));
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const merged = new Uint8Array(this.#buffer.length + n);
    merged.set(this.#buffer);
    merged.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = merged;
    return true;
  }

  /** The next frame from the server, or `null` once the TCP stream ended. */
  async next(): Promise<RawFrame | null> {
    while (true) {
      const frame = this.#parse();
      if (frame) return frame;
      if (!await this.#fill()) return null;
    }
  }

  #parse(): RawFrame | null {
    const b = this.#buffer;
    if (b.length < 2) return null;
    let length = b[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = (b[2] << 8) | b[3];
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return null;
      length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
      offset = 10;
    }
    if (b.length < offset + length) return null;
    const frame = {
      fin: (b[0] & 0x80) !== 0,
      opcode: b[0] & 0x0f,
      payload: b.slice(offset, offset + length),
    };
    this.#buffer = b.subarray(offset + length);
    return frame;
  }

  /** The next text frame parsed as JSON, skipping control frames; `null` at close. */
  async nextJson(): Promise<Record<string, unknown> | null> {
    while (true) {
      const frame = await this.next();
      if (!frame || frame.opcode === Opcode.Close) return null;
      if (frame.opcode === Opcode.Text) {
        return JSON.parse(new TextDecoder().decode(frame.payload));
      }
    }
  }

  /**
   * Reads until the server's close frame or the end of the TCP stream.
   * Returns the close code and reason, or `code: null` when the stream
   * ended without a close frame.
   */
  async closeInfo(): Promise<{ code: number | null; reason: string; frames: number }> {
    let frames = 0;
    while (true) {
      const frame = await this.next();
      if (!frame) return { code: null, reason: "", frames };
      frames++;
      if (frame.opcode === Opcode.Close) {
        const p = frame.payload;
        const code = p.length >= 2 ? (p[0] << 8) | p[1] : 1005;
        return { code, reason: new TextDecoder().decode(p.subarray(2)), frames };
      }
    }
  }

  /** Drops the TCP connection without a close frame. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** What {@link rawUpgrade} returns. */
export interface RawUpgrade {
  status: number;
  head: string;
  conn: Deno.TcpConn;
  /** Bytes read after the response head. */
  rest: Uint8Array;
}

/**
 * Sends an upgrade request and reads the response head; `headers` may
 * replace `Upgrade` and `Host`.
 */
export async function rawUpgrade(
  url: string,
  headers: Record<string, string> = {},
): Promise<RawUpgrade> {
  const target = new URL(url);
  const conn = await Deno.connect({
    hostname: target.hostname,
    port: Number(target.port),
  });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const lines = [
    `GET ${target.pathname}${target.search} HTTP/1.1`,
    ...(Object.keys(headers).some((k) => k.toLowerCase() === "host")
      ? []
      : [`Host: ${target.host}`]),
    ...Object.keys(headers).some((name) => name.toLowerCase() === "upgrade")
      ? []
      : ["Upgrade: websocket"],
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ];
  await conn.write(new TextEncoder().encode(lines.join("\r\n")));
  let data = new Uint8Array(0);
  const chunk = new Uint8Array(16 * 1024);
  while (true) {
    const text = new TextDecoder().decode(data);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const headBytes = new TextEncoder().encode(text.slice(0, end + 4)).length;
      const status = Number(text.slice(9, 12));
      return { status, head: text.slice(0, end), conn, rest: data.slice(headBytes) };
    }
    const n = await conn.read(chunk);
    if (n === null) {
      return { status: 0, head: text, conn, rest: new Uint8Array(0) };
    }
    const merged = new Uint8Array(data.length + n);
    merged.set(data);
    merged.set(chunk.subarray(0, n), data.length);
    data = merged;
  }
}

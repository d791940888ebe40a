/**
 * File upload over the WebSocket: a JSON `upload` header announces a file,
 * binary frames carry its bytes, and the finished file is kept per session
 * in Deno KV (split into values under KV's 64 KiB limit) so the agent can
 * read it and any instance can serve it.
 * @module
 */

/** What the `upload` header frame announces. */
export interface UploadHeader {
  uploadId: string;
  name: string;
  mime: string;
  size: number;
}

/** A finished upload. */
export interface StoredUpload {
  uploadId: string;
  name: string;
  mime: string;
  size: number;
  /** The text of a `text/*` (or JSON/markdown) upload; absent for binary files. */
  text?: string;
}

/** Why an upload was refused. */
export class UploadError extends Error {
  /** Creates an upload error with a protocol error code. */
  constructor(
    readonly code: "upload_too_large" | "unsupported_media" | "upload_invalid",
    message: string,
  ) {
    super(message);
    this.name = "UploadError";
  }
}

const TEXT_TYPES = /^(text\/[a-z0-9.+-]+|application\/(json|markdown|x-ndjson))$/;
const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;

/** True when the media type is read as text for the agent. */
export function isTextType(mime: string): boolean {
  return TEXT_TYPES.test(mime);
}

/** Checks a header against the limits. @throws {UploadError} */
export function checkHeader(header: UploadHeader, maxBytes: number): void {
  if (header.size > maxBytes) {
    throw new UploadError(
      "upload_too_large",
      `Cannot accept upload: "${header.name}" is ${header.size} bytes, the limit is ${maxBytes}`,
    );
  }
  if (!isTextType(header.mime) && !IMAGE_TYPES.test(header.mime)) {
    throw new UploadError(
      "unsupported_media",
      `Cannot accept upload: media type "${header.mime}" is not text or a PNG/JPEG/GIF/WebP image`,
    );
  }
}

/** Collects the binary frames of one announced upload. */
export class UploadAssembler {
  readonly header: UploadHeader;
  #chunks: Uint8Array[] = [];
  #received = 0;

  /** Starts collecting for a checked header. */
  constructor(header: UploadHeader) {
    this.header = header;
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#received;
  }

  /**
   * Adds one binary frame. Returns the finished upload once all announced
   * bytes arrived, `undefined` while more are expected.
   * @throws {UploadError} when more bytes arrive than announced or a text file is not UTF-8.
   */
  push(chunk: Uint8Array): StoredUpload | undefined {
    this.#received += chunk.byteLength;
    if (this.#received > this.header.size) {
      throw new UploadError(
        "upload_invalid",
        `Cannot accept upload: "${this.header.name}" sent more than the announced ${this.header.size} bytes`,
      );
    }
    this.#chunks.push(chunk);
    if (this.#received < this.header.size) return undefined;
    const bytes = new Uint8Array(this.header.size);
    let at = 0;
    for (const part of this.#chunks) {
      bytes.set(part, at);
      at += part.byteLength;
    }
    const { uploadId, name, mime, size } = this.header;
    if (!isTextType(mime)) return { uploadId, name, mime, size };
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      return { uploadId, name, mime, size, text };
    } catch {
      throw new UploadError(
        "upload_invalid",
        `Cannot accept upload: "${name}" is not valid UTF-8 text`,
      );
    }
  }
}

/** Longest text slice kept in one KV value (characters; UTF-8 may triple it). */
const TEXT_SLICE = 20_000;

/** Keeps finished uploads per session. */
export interface UploadStore {
  /** Saves an upload for a session. */
  save(sessionId: string, upload: StoredUpload): Promise<void>;
  /** Loads an upload of a session, or `undefined`. */
  load(sessionId: string, uploadId: string): Promise<StoredUpload | undefined>;
}

/** An {@link UploadStore} in Deno KV; entries expire after `ttlMs`. */
export class KvUploadStore implements UploadStore {
  #kv: Deno.Kv;
  #ttlMs: number;

  /** Wraps an open KV database. */
  constructor(kv: Deno.Kv, options: { ttlMs: number }) {
    this.#kv = kv;
    this.#ttlMs = options.ttlMs;
  }

  async save(sessionId: string, upload: StoredUpload): Promise<void> {
    const { text, ...meta } = upload;
    const slices = text === undefined ? [] : sliceText(text);
    const expireIn = this.#ttlMs;
    const op = this.#kv.atomic().set(["uploads", sessionId, upload.uploadId, "meta"], {
      ...meta,
      slices: slices.length,
      hasText: text !== undefined,
    }, { expireIn });
    slices.forEach((slice, i) =>
      op.set(["uploads", sessionId, upload.uploadId, "text", i], slice, { expireIn })
    );
    const result = await op.commit();
    if (!result.ok) throw new Error(`Cannot save upload: "${upload.uploadId}" was not written`);
  }

  async load(sessionId: string, uploadId: string): Promise<StoredUpload | undefined> {
    const meta = await this.#kv.get<
      Omit<StoredUpload, "text"> & { slices: number; hasText: boolean }
    >(
      ["uploads", sessionId, uploadId, "meta"],
    );
    if (!meta.value) return undefined;
    const { slices: _slices, hasText, ...upload } = meta.value;
    if (!hasText) return upload;
    let text = "";
    for await (
      const entry of this.#kv.list<string>({ prefix: ["uploads", sessionId, uploadId, "text"] })
    ) {
      text += entry.value;
    }
    return { ...upload, text };
  }
}

function sliceText(text: string): string[] {
  const slices = [];
  for (let at = 0; at < text.length; at += TEXT_SLICE) slices.push(text.slice(at, at + TEXT_SLICE));
  return slices.length ? slices : [""];
}

/** An {@link UploadStore} in process memory (single instance: Bun, tests). */
export class MemoryUploadStore implements UploadStore {
  #uploads = new Map<string, { upload: StoredUpload; at: number }>();
  #ttlMs: number;

  /** Forgets uploads `ttlMs` after they arrive. */
  constructor(options: { ttlMs: number }) {
    this.#ttlMs = options.ttlMs;
  }

  save(sessionId: string, upload: StoredUpload): Promise<void> {
    const now = Date.now();
    for (const [key, entry] of this.#uploads) {
      if (now - entry.at > this.#ttlMs) this.#uploads.delete(key);
    }
    this.#uploads.set(`${sessionId}/${upload.uploadId}`, { upload, at: now });
    return Promise.resolve();
  }

  load(sessionId: string, uploadId: string): Promise<StoredUpload | undefined> {
    const entry = this.#uploads.get(`${sessionId}/${uploadId}`);
    if (!entry || Date.now() - entry.at > this.#ttlMs) return Promise.resolve(undefined);
    return Promise.resolve(entry.upload);
  }
}

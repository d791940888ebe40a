/**
 * File upload over `/ws/chat`: a JSON `upload` header announces a file,
 * binary frames carry its bytes, and the finished file goes to the
 * backend's upload store (per session) so the agent can read it and any
 * instance can serve it.
 * @module
 */
import { ErrorCode, isAcceptedUploadType, isTextUploadType } from "../../../protocol/codes.ts";
import type { ServerFrame, UploadFrame } from "../../../protocol/frames.ts";
import { newId } from "../../core.ts";
import type { StoredUpload } from "../../store/types.ts";
import { errorFrame, ownsSession, type WsSession } from "./session.ts";

/** What the `upload` header frame announces. */
export interface UploadHeader {
  uploadId: string;
  name: string;
  mime: string;
  size: number;
}

/** Why an upload was refused. */
export class UploadError extends Error {
  /** Creates an upload error with a protocol error code. */
  constructor(
    readonly code:
      | typeof ErrorCode.UploadTooLarge
      | typeof ErrorCode.UnsupportedMedia
      | typeof ErrorCode.UploadInvalid,
    message: string,
  ) {
    super(message);
    this.name = "UploadError";
  }
}

/** Checks a header against the limits. @throws {UploadError} */
export function checkHeader(header: UploadHeader, maxBytes: number): void {
  if (header.size > maxBytes) {
    throw new UploadError(
      ErrorCode.UploadTooLarge,
      `Cannot accept upload: "${header.name}" is ${header.size} bytes, the limit is ${maxBytes}`,
    );
  }
  if (!isAcceptedUploadType(header.mime)) {
    throw new UploadError(
      ErrorCode.UnsupportedMedia,
      `Cannot accept upload: media type "${header.mime}" is not text or a PNG/JPEG/GIF/WebP image`,
    );
  }
}

/** The first bytes every file of an accepted image type starts with. */
const IMAGE_SIGNATURES: Record<string, (bytes: Uint8Array) => boolean> = {
  "image/png": (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  "image/jpeg": (b) => startsWith(b, [0xff, 0xd8, 0xff]),
  "image/gif": (b) => startsWith(b, ascii("GIF87a")) || startsWith(b, ascii("GIF89a")),
  "image/webp": (b) => startsWith(b, ascii("RIFF")) && startsWith(b.subarray(8), ascii("WEBP")),
};

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}

/**
 * Checks that a finished upload's bytes are what its media type says:
 * an image starts with its format's signature, text is valid UTF-8.
 * Returns the text of a text upload.
 * @throws {UploadError} `upload_invalid` when they are not.
 */
export function checkContent(header: UploadHeader, bytes: Uint8Array): string | undefined {
  const { name, mime } = header;
  if (isTextUploadType(mime)) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new UploadError(
        ErrorCode.UploadInvalid,
        `Cannot accept upload: "${name}" is not valid UTF-8 text`,
      );
    }
  }
  if (!IMAGE_SIGNATURES[mime]?.(bytes)) {
    throw new UploadError(
      ErrorCode.UploadInvalid,
      `Cannot accept upload: "${name}" is declared "${mime}" but its bytes do not start with that format's signature`,
    );
  }
  return undefined;
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
   * @throws {UploadError} when more bytes arrive than announced, a text file
   * is not UTF-8 or an image does not start with its format's signature.
   */
  push(chunk: Uint8Array): StoredUpload | undefined {
    this.#received += chunk.byteLength;
    if (this.#received > this.header.size) {
      throw new UploadError(
        ErrorCode.UploadInvalid,
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
    const text = checkContent(this.header, bytes);
    return text === undefined
      ? { uploadId, name, mime, size }
      : { uploadId, name, mime, size, text };
  }
}

/** The upload a socket is receiving, and the session it is for. */
interface PendingUpload {
  assembler: UploadAssembler;
  sessionId: string;
  /** Drops the upload when its bytes do not all arrive within `UPLOAD_TIMEOUT_MS`. */
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The uploads of one socket: at most one in flight, dropped (error
 * `timeout`) when its bytes do not all arrive within `UPLOAD_TIMEOUT_MS`.
 */
export class WsUploads {
  #session: WsSession;
  #pending: PendingUpload | undefined;
  /** Bytes still to come of an upload refused by the budget: dropped without a word. */
  #discard = 0;

  /** Handles the uploads of `session`. */
  constructor(session: WsSession) {
    this.#session = session;
  }

  /**
   * An `upload` header frame: checks it against the limits and the client's
   * upload budgets, then waits for the bytes (a refused upload's bytes are
   * dropped).
   */
  async announce(frame: UploadFrame): Promise<void> {
    this.#discard = 0;
    if (this.#pending) {
      this.#fail(
        ErrorCode.UploadInvalid,
        `Cannot start upload "${frame.upload_id}": upload "${this.#pending.assembler.header.uploadId}" is not complete`,
        frame.upload_id,
      );
      return;
    }
    const header = {
      uploadId: frame.upload_id,
      name: frame.name,
      mime: frame.mime,
      size: frame.size,
    };
    try {
      checkHeader(header, this.#session.deps.config.UPLOAD_MAX_BYTES);
    } catch (error) {
      if (!(error instanceof UploadError)) throw error;
      this.#fail(error.code, error.message, frame.upload_id);
      return;
    }
    const sessionId = frame.session_id ?? newId();
    const { budgets } = this.#session.deps;
    const refusal = await budgets.upload(this.#session.clientKey, sessionId, header.size);
    if (refusal) {
      this.#discard = header.size;
      this.#session.send(errorFrame(refusal.code, refusal.message, {
        uploadId: header.uploadId,
        retryAfter: refusal.retryAfter,
      }));
      return;
    }
    const timeoutMs = this.#session.deps.config.UPLOAD_TIMEOUT_MS;
    const pending: PendingUpload = {
      assembler: new UploadAssembler(header),
      sessionId,
      timer: setTimeout(() => {
        if (this.#pending !== pending) return;
        this.#pending = undefined;
        this.#fail(
          ErrorCode.Timeout,
          `Cannot accept upload: "${header.name}" did not arrive within ${timeoutMs} ms (${pending.assembler.received} of ${header.size} bytes)`,
          header.uploadId,
        );
      }, timeoutMs),
    };
    this.#pending = pending;
  }

  /** The socket closed: the upload in flight is dropped. */
  close(): void {
    if (this.#pending) clearTimeout(this.#pending.timer);
    this.#pending = undefined;
  }

  /** A binary frame: the next bytes of the announced upload; stores it once complete. */
  async receive(bytes: Uint8Array): Promise<void> {
    if (this.#discard > 0) {
      this.#discard = Math.max(0, this.#discard - bytes.byteLength);
      return;
    }
    const upload = this.#pending;
    if (!upload) {
      this.#session.send(errorFrame(
        ErrorCode.BinaryUnsupported,
        "Cannot accept a binary frame: announce the file with an upload frame first",
      ));
      return;
    }
    try {
      const stored = upload.assembler.push(bytes);
      if (!stored) return;
      clearTimeout(upload.timer);
      this.#pending = undefined;
      if (!await ownsSession(this.#session, upload.sessionId)) {
        this.#fail(
          ErrorCode.Forbidden,
          `Cannot upload into session "${upload.sessionId}": it belongs to another identity`,
          stored.uploadId,
        );
        return;
      }
      await this.#session.deps.uploads.save(upload.sessionId, stored);
      this.#session.send(JSON.stringify(
        {
          type: "uploaded",
          upload_id: stored.uploadId,
          session_id: upload.sessionId,
          name: stored.name,
          mime: stored.mime,
          size: stored.size,
        } satisfies ServerFrame,
      ));
    } catch (error) {
      clearTimeout(upload.timer);
      this.#pending = undefined;
      const uploadId = upload.assembler.header.uploadId;
      if (error instanceof UploadError) {
        this.#fail(error.code, error.message, uploadId);
        return;
      }
      this.#session.deps.logger.error("Cannot store upload", { error });
      this.#fail(ErrorCode.UploadInvalid, "Cannot store the upload; please try again", uploadId);
    }
  }

  /** An error about an upload names it, so the client knows which file failed. */
  #fail(code: ErrorCode, message: string, uploadId: string): void {
    this.#session.send(errorFrame(code, message, { uploadId }));
  }
}

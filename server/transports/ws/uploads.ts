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
import { errorFrame, type WsSession } from "./session.ts";

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
    if (!isTextUploadType(mime)) return { uploadId, name, mime, size };
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      return { uploadId, name, mime, size, text };
    } catch {
      throw new UploadError(
        ErrorCode.UploadInvalid,
        `Cannot accept upload: "${name}" is not valid UTF-8 text`,
      );
    }
  }
}

/** The upload a socket is receiving, and the session it is for. */
interface PendingUpload {
  assembler: UploadAssembler;
  sessionId: string;
}

/** The uploads of one socket: at most one in flight. */
export class WsUploads {
  #session: WsSession;
  #pending: PendingUpload | undefined;

  /** Handles the uploads of `session`. */
  constructor(session: WsSession) {
    this.#session = session;
  }

  /** An `upload` header frame: checks it and waits for the bytes. */
  announce(frame: UploadFrame): void {
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
    this.#pending = {
      assembler: new UploadAssembler(header),
      sessionId: frame.session_id ?? newId(),
    };
  }

  /** A binary frame: the next bytes of the announced upload; stores it once complete. */
  async receive(bytes: Uint8Array): Promise<void> {
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
      this.#pending = undefined;
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

/**
 * File uploads over the WebSocket: the error an upload fails with, the
 * media type a file is announced with (the accepted types come from the
 * protocol), and the queue that sends one upload at a time as a header
 * frame plus binary chunks.
 * @module
 */
import { ErrorCode, IMAGE_UPLOAD_TYPES, isAcceptedUploadType } from "../../protocol/codes.ts";
import type { ServerFrameOf } from "../../protocol/frames.ts";
import type { Uploaded, UploadFile } from "./types.ts";

/** Why an upload failed; `code` is the server's error code, or `connection_lost`. */
export class UploadFailed extends Error {
  /** Creates the error. */
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "UploadFailed";
  }
}

/** Largest binary frame of an upload (the server's default frame limit). */
export const UPLOAD_CHUNK_BYTES = 64 * 1024;

/** Text files the browser may leave untyped, by extension. */
const TEXT_BY_EXTENSION: Record<string, string> = {
  txt: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
  csv: "text/csv",
  json: "application/json",
  log: "text/plain",
};

/** Every guessable type by extension: the text ones and the protocol's images. */
const MIME_BY_EXTENSION: Record<string, string> = {
  ...TEXT_BY_EXTENSION,
  ...Object.fromEntries(IMAGE_UPLOAD_TYPES.map((type) => [type.slice("image/".length), type])),
  jpg: "image/jpeg",
};

/** What the file picker offers first (the server decides): the `accept` attribute. */
export const UPLOAD_ACCEPT: string = [
  "text/*",
  ...Object.keys(TEXT_BY_EXTENSION).map((ext) => `.${ext}`),
  ...new Set(Object.values(TEXT_BY_EXTENSION).filter((type) => !type.startsWith("text/"))),
  ...IMAGE_UPLOAD_TYPES,
].join(",");

/**
 * The media type an upload is announced with: the browser's, or one
 * guessed from the extension when the browser has none.
 */
export function mimeOf(file: Pick<UploadFile, "name" | "type">): string {
  if (file.type) return file.type;
  const ext = /\.([A-Za-z0-9]+)$/.exec(file.name)?.[1].toLowerCase() ?? "";
  const guess = MIME_BY_EXTENSION[ext];
  return guess && isAcceptedUploadType(guess) ? guess : "application/octet-stream";
}

/** Error codes (sent without a request id) that answer an upload. */
const UPLOAD_CODES: ReadonlySet<string> = new Set([
  ErrorCode.UploadTooLarge,
  ErrorCode.UnsupportedMedia,
  ErrorCode.UploadInvalid,
  ErrorCode.BinaryUnsupported,
  ErrorCode.InvalidFrame,
]);

/** Where an upload is written: an open WebSocket. */
export interface UploadSink {
  send(data: string | Uint8Array): void;
}

interface InFlight {
  id: string;
  resolve(frame: Uploaded): void;
  reject(error: UploadFailed): void;
}

/** Sends uploads one at a time (the server takes one per socket) and settles them. */
export class UploadQueue {
  #open: () => Promise<UploadSink>;
  #current: InFlight | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  /** `open` resolves with the socket once it is open. */
  constructor(open: () => Promise<UploadSink>) {
    this.#open = open;
  }

  /** Queues an upload; resolves with the server's `uploaded` frame. */
  upload(file: UploadFile, options: { uploadId: string; sessionId: string }): Promise<Uploaded> {
    const run = this.#chain.then(() => this.#run(file, options));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Settles the upload an `uploaded` frame names. */
  uploaded(frame: Uploaded): void {
    const current = this.#current;
    if (current?.id !== frame.upload_id) return;
    this.#current = undefined;
    current.resolve(frame);
  }

  /**
   * Takes an error sent without a request id when it answers the upload in
   * flight (an upload code, or no answer is running); returns true if so.
   */
  refused(frame: ServerFrameOf<"error">, answerRunning: boolean): boolean {
    const current = this.#current;
    if (!current || (!UPLOAD_CODES.has(frame.code) && answerRunning)) return false;
    this.#current = undefined;
    current.reject(new UploadFailed(frame.code, frame.message));
    return true;
  }

  /** Fails the upload in flight, if any: the connection is gone. */
  fail(message: string): void {
    const current = this.#current;
    this.#current = undefined;
    current?.reject(new UploadFailed("connection_lost", message));
  }

  async #run(
    file: UploadFile,
    { uploadId, sessionId }: { uploadId: string; sessionId: string },
  ): Promise<Uploaded> {
    if (file.size === 0) {
      throw new UploadFailed(ErrorCode.UploadInvalid, `Cannot upload "${file.name}": it is empty`);
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sink = await this.#open();
    return await new Promise<Uploaded>((resolve, reject) => {
      this.#current = { id: uploadId, resolve, reject };
      try {
        sink.send(JSON.stringify({
          type: "upload",
          upload_id: uploadId,
          name: file.name,
          mime: mimeOf(file),
          size: bytes.byteLength,
          session_id: sessionId,
        }));
        for (let at = 0; at < bytes.byteLength; at += UPLOAD_CHUNK_BYTES) {
          sink.send(bytes.subarray(at, at + UPLOAD_CHUNK_BYTES));
        }
      } catch {
        this.fail("Connection lost during the upload");
      }
    });
  }
}

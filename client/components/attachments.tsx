/**
 * The attachment chips above the composer (name, size, upload state,
 * remove) and the paperclip icon they share with sent messages.
 * @module
 */
import type { JSX } from "preact";
import type { ChatController } from "../chat_state.ts";
import { type Attachment, formatBytes } from "../messages.ts";

/** A paperclip icon (SVG: no emoji font needed). */
export function Clip(): JSX.Element {
  return (
    <svg class="clip" viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
      <path
        d="M16.5 6.5 8.6 14.4a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.6-5.6l-8 8a6 6 0 0 0 8.5 8.5l6.4-6.4"
        fill="none"
        stroke="currentColor"
        stroke-width="2"
        stroke-linecap="round"
      />
    </svg>
  );
}

/** The files attached to the next question, and a note about attaching. */
export function Attachments(
  { chat, note }: { chat: ChatController; note?: string },
): JSX.Element | null {
  const items = chat.attachments.value;
  if (items.length === 0 && !note) return null;
  return (
    <div class="attachments">
      {note ? <p class="attach-note" role="status">{note}</p> : null}
      {items.length > 0
        ? (
          <ul class="chips" aria-label="Attached files">
            {items.map((item) => <Chip key={item.id} chat={chat} item={item} />)}
          </ul>
        )
        : null}
    </div>
  );
}

/** One attached file. */
function Chip({ chat, item }: { chat: ChatController; item: Attachment }): JSX.Element {
  const status = item.status.value;
  return (
    <li class={`chip chip-${status}`} data-testid="attachment" data-status={status}>
      <span class="chip-name">{item.name}</span>
      <span class="chip-size">{formatBytes(item.size)}</span>
      {status === "uploading"
        ? <span class="chip-state" role="status">uploading…</span>
        : status === "ready"
        ? <span class="chip-state">uploaded</span>
        : (
          <span class="chip-problem" role="alert">
            Upload failed: {item.error.value}
          </span>
        )}
      <button
        type="button"
        class="chip-remove"
        aria-label={`Remove ${item.name}`}
        onClick={() => chat.detach(item.id)}
      >
        ×
      </button>
    </li>
  );
}

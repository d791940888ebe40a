/**
 * The chat island: toolbar (transport switch, connection state, New chat),
 * message list with the streaming answer, and the composer with its Attach
 * button (files upload over the WebSocket as soon as they are chosen).
 * @module
 */
import { useSignal, useSignalEffect } from "@preact/signals";
import type { JSX } from "preact";
import { useEffect, useMemo, useRef } from "preact/hooks";
import {
  type Activity,
  type Attachment,
  ChatController,
  formatBytes,
  type HistoryTurn,
  type Message,
} from "../chat_state.ts";
import { loadMarkdown, markdownRenderer } from "../markdown_loader.ts";
import { browserPersistence, storedSessionId, storedTransport } from "../prefs.ts";
import { type ConnectionState, createTransport, type TransportKind } from "../transport.ts";

/** Props of {@link Chat}; all serialisable. */
export interface ChatProps {
  /** The session the server rendered (from the `session_id` cookie). */
  sessionId?: string;
  /** The transport the server rendered as selected. */
  transport: TransportKind;
  /** The session's finished turns, oldest first. */
  history: HistoryTurn[];
  /** URL of the markdown bundle, loaded after hydration. */
  markdownUrl?: string;
  /** The server's `UPLOAD_MAX_BYTES`; larger files are refused before upload. */
  uploadMaxBytes?: number;
}

const STATE_LABEL: Record<ConnectionState, string> = {
  idle: "Ready",
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Closed",
};

const RELOAD_FLAG = "chat.reloaded";
const ATTACH_HINT = "Attaching files needs the WebSocket transport: switch to WebSocket above";
/** What the file picker offers first (the server decides). */
const ACCEPT =
  "text/*,.txt,.md,.markdown,.csv,.json,.log,application/json,image/png,image/jpeg,image/gif,image/webp";

/** The chat island. */
export default function Chat(props: ChatProps): JSX.Element {
  const chat = useMemo(
    () =>
      new ChatController({
        history: props.history,
        sessionId: props.sessionId,
        transport: props.transport,
        createTransport: (kind) => createTransport(kind, { origin: location.origin }),
        persistence: browserPersistence,
        uploadMaxBytes: props.uploadMaxBytes,
      }),
    [],
  );
  const hydrated = useSignal(false);
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const attachNote = useSignal<string | undefined>(undefined);

  useEffect(() => {
    // localStorage is the source of truth; the cookie lets the server render.
    const stored = storedSessionId();
    if (stored && stored !== props.sessionId) {
      browserPersistence.saveSession(stored);
      if (!sessionStorage.getItem(RELOAD_FLAG)) {
        sessionStorage.setItem(RELOAD_FLAG, "1");
        location.reload();
        return;
      }
    } else if (!stored && props.sessionId) {
      browserPersistence.saveSession(props.sessionId);
    }
    sessionStorage.removeItem(RELOAD_FLAG);
    const transport = storedTransport();
    if (transport && transport !== props.transport) {
      chat.transportKind.value = transport;
    }
    browserPersistence.saveTransport(chat.transportKind.value);
    chat.start();
    hydrated.value = true;
    if (props.markdownUrl) {
      const url = props.markdownUrl;
      if ("requestIdleCallback" in globalThis) {
        requestIdleCallback(() => loadMarkdown(url), { timeout: 500 });
      } else setTimeout(() => loadMarkdown(url), 0);
    }
    return () => chat.dispose();
  }, []);

  const busy = chat.busy.value;
  const ready = hydrated.value;
  const overSse = chat.transportKind.value !== "ws";
  const canAttach = ready && chat.canAttach.value;
  const failed = chat.attachmentFailed.value;
  const focusInput = () => input.current?.focus();

  const submit = (event?: Event) => {
    event?.preventDefault();
    const el = input.current;
    if (!el || !chat.send(el.value)) return;
    el.value = "";
    el.focus();
  };

  return (
    <div class="chat">
      <div class="toolbar" role="toolbar" aria-label="Chat controls">
        <fieldset class="switch" disabled={!ready || busy}>
          <legend class="sr-only">Transport</legend>
          {(["ws", "sse"] as const).map((kind) => (
            <label key={kind}>
              <input
                type="radio"
                name="transport"
                value={kind}
                checked={chat.transportKind.value === kind}
                onChange={() => chat.setTransport(kind)}
              />
              <span>{kind === "ws" ? "WebSocket" : "SSE"}</span>
            </label>
          ))}
        </fieldset>
        <span
          class={`conn conn-${ready ? chat.connection.value : "offline"}`}
          data-testid="connection"
          role="status"
        >
          {ready ? STATE_LABEL[chat.connection.value] : "Loading…"}
        </span>
        <button
          type="button"
          class="new-chat"
          disabled={!ready}
          onClick={() => {
            chat.newChat();
            focusInput();
          }}
        >
          New chat
        </button>
      </div>
      <MessageList chat={chat} />
      <Attachments chat={chat} note={overSse ? attachNote.value : undefined} />
      <form class="composer" onSubmit={submit}>
        <input
          type="file"
          ref={picker}
          class="sr-only"
          tabIndex={-1}
          aria-hidden="true"
          accept={ACCEPT}
          multiple
          data-testid="file-input"
          onChange={(event) => {
            const el = event.currentTarget;
            for (const file of Array.from(el.files ?? [])) chat.attach(file);
            el.value = "";
            focusInput();
          }}
        />
        <button
          type="button"
          class="attach"
          aria-label="Attach a file"
          aria-disabled={!canAttach}
          aria-describedby={overSse ? "attach-hint" : undefined}
          title={overSse ? ATTACH_HINT : "Attach a text file or an image"}
          disabled={!ready}
          onClick={() => {
            if (canAttach) picker.current?.click();
            else if (overSse) attachNote.value = ATTACH_HINT;
          }}
        >
          <Clip />
        </button>
        {overSse ? <span id="attach-hint" class="sr-only">{ATTACH_HINT}</span> : null}
        <label for="chat-input" class="sr-only">Your question</label>
        <textarea
          id="chat-input"
          ref={input}
          rows={2}
          placeholder={ready
            ? "Ask something… (Enter to send, Shift+Enter for a new line)"
            : "Loading the chat…"}
          disabled={!ready}
          onKeyDown={(event) => {
            if (
              event.key === "Enter" && !event.shiftKey && !event.isComposing
            ) {
              event.preventDefault();
              if (!busy) submit();
            }
          }}
        />
        {busy
          ? (
            <button
              type="button"
              class="send stop"
              onClick={() => {
                chat.stop();
                focusInput();
              }}
            >
              Stop
            </button>
          )
          : (
            <button
              type="submit"
              class="send"
              disabled={!ready || failed}
              title={failed ? "Remove the file that failed to upload first" : undefined}
            >
              Send
            </button>
          )}
      </form>
    </div>
  );
}

/** A paperclip icon (SVG: no emoji font needed). */
function Clip(): JSX.Element {
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

function Attachments(
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

function MessageList({ chat }: { chat: ChatController }): JSX.Element {
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const messages = chat.messages.value;
  const busy = chat.busy.value;

  useSignalEffect(() => {
    // Follow the stream while the reader is at the bottom.
    chat.messages.value;
    chat.current.value?.text.value;
    chat.current.value?.activity.value;
    const el = list.current;
    if (el && stick.current) {
      requestAnimationFrame(() => el.scrollTop = el.scrollHeight);
    }
  });

  return (
    <div
      class="messages"
      ref={list}
      onScroll={(event) => {
        const el = event.currentTarget;
        stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 48;
      }}
    >
      {messages.length === 0
        ? (
          <p class="empty">
            No messages yet. Try “what is 2+3*4” or “what time is it”.
          </p>
        )
        : null}
      <div
        class="log"
        role="log"
        aria-live="polite"
        aria-busy={busy}
        aria-label="Conversation"
      >
        <ol>
          {messages.map((message) => <MessageItem key={message.id} message={message} />)}
        </ol>
      </div>
    </div>
  );
}

function MessageItem({ message }: { message: Message }): JSX.Element {
  const state = message.state.value;
  return (
    <li class={`turn ${state}`} data-state={state}>
      <div class="bubble user">
        <span class="sr-only">You:</span>
        {message.query}
        {message.attachments?.length
          ? (
            <span class="sent-files">
              <span class="sr-only">Attached:</span>
              {message.attachments.map((name) => (
                <span key={name} class="sent-file">
                  <Clip />
                  {name}
                </span>
              ))}
            </span>
          )
          : null}
      </div>
      <div class="bubble assistant">
        <span class="sr-only">Answer:</span>
        <ActivityList items={message.activity.value} />
        {message.tools.length > 0
          ? <p class="tools-used">Used: {message.tools.join(", ")}</p>
          : null}
        <Answer message={message} />
        <EndNote message={message} />
      </div>
    </li>
  );
}

function Answer({ message }: { message: Message }): JSX.Element {
  const render = markdownRenderer.value;
  const text = message.text.value;
  const streaming = message.state.value === "streaming";
  // Model text only reaches the DOM as text nodes or sanitised HTML.
  return (
    <div class="answer-wrap">
      {render
        ? (
          <div
            class="answer md"
            // deno-lint-ignore react-no-danger
            dangerouslySetInnerHTML={{ __html: render(text) }}
          />
        )
        : <div class="answer plain">{text}</div>}
      {streaming ? <span class="caret" aria-hidden="true" /> : null}
    </div>
  );
}

function EndNote({ message }: { message: Message }): JSX.Element | null {
  const state = message.state.value;
  if (state === "cancelled") {
    return <p class="end-note" data-testid="stopped">Stopped</p>;
  }
  if (state === "error") {
    return (
      <p class="end-note error" role="alert">
        {message.error.value ?? "The answer ended with an error"}
      </p>
    );
  }
  return null;
}

function ActivityList({ items }: { items: Activity[] }): JSX.Element | null {
  if (items.length === 0) return null;
  return (
    <div class="activity">
      {items.map((item, i) =>
        item.kind === "status" ? <p key={i} class="status">{item.message}</p> : (
          <details
            key={item.id}
            class={`tool ${item.done ? "done" : "running"}`}
          >
            <summary>
              <span class="tool-name">{item.name}</span>
              {item.done
                ? (item.isError ? " failed" : " ✓")
                : <span class="spinner" aria-label="running" />}
            </summary>
            <pre>{`input: ${show(item.input)}${
                item.done ? `\noutput: ${show(item.output)}` : ""
              }`}</pre>
          </details>
        )
      )}
    </div>
  );
}

function show(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The chat island: wires a {@link ChatController} to the page (stored
 * session and transport, markdown loading) and lays out the toolbar
 * (transport switch, connection state, New chat), the conversation and the
 * composer with its Attach button.
 * @module
 */
import { type Signal, useSignal } from "@preact/signals";
import type { JSX } from "preact";
import { useEffect, useMemo, useRef } from "preact/hooks";
import type { ChatProps } from "../../protocol/page.ts";
import { ChatController } from "../chat_state.ts";
import { Attachments, Clip } from "../components/attachments.tsx";
import { MessageList } from "../components/message_list.tsx";
import { loadMarkdown } from "../markdown_loader.ts";
import { browserPersistence, storedSessionId, storedTransport } from "../prefs.ts";
import { type ConnectionState, createTransport, UPLOAD_ACCEPT } from "../transport/mod.ts";

const STATE_LABEL: Record<ConnectionState, string> = {
  idle: "Ready",
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Closed",
};

const RELOAD_FLAG = "chat.reloaded";
const ATTACH_HINT = "Attaching files needs the WebSocket transport: switch to WebSocket above";

/** Creates the controller and, once hydrated, syncs it with storage and connects. */
function useChat(props: ChatProps): { chat: ChatController; hydrated: Signal<boolean> } {
  const chat = useMemo(
    () =>
      new ChatController({
        history: props.history,
        sessionId: props.sessionId,
        transport: props.transport,
        createTransport: (kind) =>
          createTransport(kind, {
            origin: location.origin,
            auth: props.auth,
            sseUrl: props.sseUrl,
          }),
        persistence: browserPersistence,
        uploadMaxBytes: props.uploadMaxBytes,
      }),
    [],
  );
  const hydrated = useSignal(false);
  useEffect(() => {
    // A chat picked in the list (`/?chat=<id>`) becomes the stored session.
    if (new URLSearchParams(location.search).has("chat") && props.sessionId) {
      browserPersistence.saveSession(props.sessionId);
      history.replaceState(null, "", "/");
    }
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
  return { chat, hydrated };
}

/** The chat island. */
export default function Chat(props: ChatProps): JSX.Element {
  const { chat, hydrated } = useChat(props);
  const input = useRef<HTMLTextAreaElement>(null);
  const attachNote = useSignal<string | undefined>(undefined);
  const ready = hydrated.value;
  const overSse = chat.transportKind.value !== "ws";
  const focusInput = () => input.current?.focus();
  // Esc stops a streaming answer, wherever the focus is.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Escape") return;
      if (chat.busy.value) {
        event.preventDefault();
        chat.stop();
      } else if (chat.editing.value !== undefined) chat.edit(undefined);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
  const attachFiles = (files: Iterable<File>) => {
    let any = false;
    for (const file of files) {
      any = true;
      if (!chat.attach(file) && overSse) attachNote.value = ATTACH_HINT;
    }
    return any;
  };
  return (
    <div
      class="chat"
      onDragOver={(event) => {
        if (event.dataTransfer?.types.includes("Files")) event.preventDefault();
      }}
      onDrop={(event) => {
        if (!event.dataTransfer?.files.length) return;
        event.preventDefault();
        attachFiles(Array.from(event.dataTransfer.files));
        focusInput();
      }}
    >
      <Toolbar chat={chat} ready={ready} focusInput={focusInput} />
      <MessageList
        chat={chat}
        ask={(text) => ready && chat.send(text)}
        edit={(index, text) => {
          chat.edit(index);
          const el = input.current;
          if (!el) return;
          el.value = text;
          grow(el);
          el.focus();
        }}
      />
      <Attachments chat={chat} note={overSse ? attachNote.value : undefined} />
      <Composer
        chat={chat}
        ready={ready}
        input={input}
        attachNote={attachNote}
        paste={attachFiles}
      />
    </div>
  );
}

interface PartProps {
  chat: ChatController;
  ready: boolean;
}

/** Transport switch, connection state and New chat. */
function Toolbar({ chat, ready, focusInput }: PartProps & { focusInput(): void }): JSX.Element {
  return (
    <div class="toolbar" role="toolbar" aria-label="Chat controls">
      <fieldset class="switch" disabled={!ready || chat.busy.value}>
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
  );
}

/** The question box with Attach and Send (Stop while an answer streams). */
function Composer(
  { chat, ready, input, attachNote, paste }: PartProps & {
    input: { current: HTMLTextAreaElement | null };
    attachNote: Signal<string | undefined>;
    /** Attaches pasted files; true when there were any. */
    paste(files: Iterable<File>): boolean;
  },
): JSX.Element {
  const busy = chat.busy.value;
  const focusInput = () => input.current?.focus();
  const submit = (event?: Event) => {
    event?.preventDefault();
    const el = input.current;
    if (!el || !chat.send(el.value)) return;
    el.value = "";
    grow(el);
    el.focus();
  };
  return (
    <form class="composer" onSubmit={submit}>
      {chat.editing.value === undefined ? null : (
        <p class="editing" role="status">
          Editing question {chat.editing.value + 1}: sending replaces it and the answers after it.
          {" "}
          <button
            type="button"
            class="act"
            onClick={() => {
              chat.edit(undefined);
              const el = input.current;
              if (el) {
                el.value = "";
                grow(el);
              }
            }}
          >
            Cancel edit
          </button>
        </p>
      )}
      <AttachButton chat={chat} ready={ready} attachNote={attachNote} focusInput={focusInput} />
      <label for="chat-input" class="sr-only">Your question</label>
      <textarea
        id="chat-input"
        ref={input}
        rows={2}
        placeholder={ready
          ? "Ask something… (Enter to send, Shift+Enter for a new line)"
          : "Loading the chat…"}
        disabled={!ready}
        onInput={(event) => grow(event.currentTarget)}
        onPaste={(event) => {
          const files = Array.from(event.clipboardData?.files ?? []);
          if (files.length && paste(files)) event.preventDefault();
        }}
        onKeyDown={(event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            if (!busy) submit();
          }
        }}
      />
      <SendButton chat={chat} ready={ready} focusInput={focusInput} />
    </form>
  );
}

/** Grows the question box with its text, up to the CSS max-height. */
function grow(el: HTMLTextAreaElement): void {
  el.style.height = "auto";
  el.style.height = `${el.scrollHeight + 2}px`;
}

/** The hidden file picker and the paperclip button that opens it. */
function AttachButton(
  { chat, ready, attachNote, focusInput }: PartProps & {
    attachNote: Signal<string | undefined>;
    focusInput(): void;
  },
): JSX.Element {
  const picker = useRef<HTMLInputElement>(null);
  const overSse = chat.transportKind.value !== "ws";
  const canAttach = ready && chat.canAttach.value;
  return (
    <>
      <input
        type="file"
        ref={picker}
        class="sr-only"
        tabIndex={-1}
        aria-hidden="true"
        accept={UPLOAD_ACCEPT}
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
    </>
  );
}

/** Send, or Stop while an answer streams. */
function SendButton({ chat, ready, focusInput }: PartProps & { focusInput(): void }): JSX.Element {
  const failed = chat.attachmentFailed.value;
  if (chat.busy.value) {
    return (
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
    );
  }
  return (
    <button
      type="submit"
      class="send"
      disabled={!ready || failed}
      title={failed ? "Remove the file that failed to upload first" : undefined}
    >
      Send
    </button>
  );
}

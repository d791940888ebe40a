/**
 * The conversation: every question with its streaming answer, activity
 * (status lines, tool calls) and how it ended, following the stream while
 * the reader is at the bottom.
 * @module
 */
import { useSignal, useSignalEffect } from "@preact/signals";
import type { JSX } from "preact";
import { useRef } from "preact/hooks";
import type { ChatController } from "../chat_state.ts";
import { markdownRenderer } from "../markdown_loader.ts";
import type { Activity, Message } from "../messages.ts";
import { Clip } from "./attachments.tsx";

/** Example questions of the empty state; clicking one asks it. */
const EXAMPLES = ["what is 2+3*4", "what time is it", "how does resume work?"];

/** Distance from the bottom, in px, that still counts as "at the bottom". */
const BOTTOM_SLACK = 48;

const atBottom = (el: HTMLElement) =>
  el.scrollTop + el.clientHeight >= el.scrollHeight - BOTTOM_SLACK;

/**
 * The message list of a chat. It follows the stream only while the reader
 * is at the bottom: scrolling up holds however fast the answer streams, and
 * a "Jump to latest" button brings the reader back.
 */
export function MessageList(
  { chat, ask, edit }: {
    chat: ChatController;
    ask(text: string): void;
    /** Starts editing question `index` (its text goes to the question box). */
    edit(index: number, text: string): void;
  },
): JSX.Element {
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const away = useSignal(false);
  const messages = chat.messages.value;
  const busy = chat.busy.value;
  const follow = (value: boolean) => {
    stick.current = value;
    away.value = !value;
  };

  useSignalEffect(() => {
    chat.messages.value;
    chat.current.value?.text.value;
    chat.current.value?.activity.value;
    const el = list.current;
    // Decided when the frame is drawn: a scroll-up since then wins.
    if (el && stick.current) {
      requestAnimationFrame(() => {
        if (stick.current) el.scrollTop = el.scrollHeight;
      });
    }
  });

  const jump = () => {
    const el = list.current;
    follow(true);
    if (el) el.scrollTop = el.scrollHeight;
  };

  return (
    <div class="messages-wrap">
      <div
        class="messages"
        ref={list}
        // A wheel or touch move upwards leaves the bottom before the scroll lands.
        onWheel={(event) => {
          if (event.deltaY < 0) follow(false);
        }}
        onTouchMove={() => follow(atBottom(list.current!))}
        onScroll={(event) => follow(atBottom(event.currentTarget))}
      >
        {messages.length === 0 ? <Examples ask={ask} /> : null}
        <div
          class="log"
          role="log"
          aria-live="polite"
          aria-busy={busy}
          aria-label="Conversation"
        >
          <ol>
            {messages.map((message, i) => (
              <MessageItem
                key={message.id}
                message={message}
                actions={{
                  chat,
                  last: i === messages.length - 1,
                  edit: () => edit(i, message.query),
                }}
              />
            ))}
          </ol>
        </div>
      </div>
      {away.value && messages.length > 0
        ? <button type="button" class="jump" onClick={jump}>Jump to latest</button>
        : null}
    </div>
  );
}

function Examples({ ask }: { ask(text: string): void }): JSX.Element {
  return (
    <div class="empty">
      <p>No messages yet. Try one of these:</p>
      <ul class="examples">
        {EXAMPLES.map((text) => (
          <li key={text}>
            <button type="button" class="example" onClick={() => ask(text)}>{text}</button>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Copies `text`; the button says "Copied" for a moment. */
function copyText(button: HTMLButtonElement, text: string): void {
  navigator.clipboard?.writeText(text).then(() => {
    button.dataset.copied = "";
    setTimeout(() => delete button.dataset.copied, 1500);
  }, () => {});
}

/** What the buttons of one turn act on. */
interface TurnActions {
  chat: ChatController;
  /** True for the last turn (Regenerate). */
  last: boolean;
  edit(): void;
}

function MessageItem(
  { message, actions }: { message: Message; actions: TurnActions },
): JSX.Element {
  const state = message.state.value;
  const idle = !actions.chat.busy.value;
  return (
    <li class={`turn ${state}`} data-state={state}>
      <div class="bubble user">
        <span class="sr-only">You:</span>
        {message.query}
        {idle
          ? (
            <button
              type="button"
              class="act edit"
              aria-label={`Edit question: ${message.query.slice(0, 60)}`}
              onClick={actions.edit}
            >
              Edit
            </button>
          )
          : null}
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
        {state === "streaming" ? null : <AnswerActions message={message} actions={actions} />}
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
            onClick={(event) => {
              const button = (event.target as Element).closest?.(".copy-code");
              const code = button?.nextElementSibling?.textContent;
              if (button && code != null) copyText(button as HTMLButtonElement, code);
            }}
            // deno-lint-ignore react-no-danger
            dangerouslySetInnerHTML={{ __html: render(text) }}
          />
        )
        : <div class="answer plain">{text}</div>}
      {streaming ? <span class="caret" aria-hidden="true" /> : null}
    </div>
  );
}

/** Copy (and Regenerate on the last answer) under a finished answer. */
function AnswerActions(
  { message, actions }: { message: Message; actions: TurnActions },
): JSX.Element {
  return (
    <div class="actions">
      <button
        type="button"
        class="act copy"
        onClick={(event) => copyText(event.currentTarget, message.text.value)}
      >
        Copy
      </button>
      {actions.last && actions.chat.canRegenerate.value
        ? (
          <button type="button" class="act" onClick={() => actions.chat.regenerate()}>
            Regenerate
          </button>
        )
        : null}
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

/**
 * The page's stylesheet, inlined by the server (one request less, no flash
 * of unstyled content).
 * @module
 */

/** CSS of the chat page. */
export const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1c1c21;--muted:#5f6368;--line:#d9dce1;--user:#e7effd;--bot:#f5f6f8;--accent:#2459c7;--err:#b3261e}
@media (prefers-color-scheme:dark){:root{--bg:#16171a;--fg:#e6e7ea;--muted:#a0a4ab;--line:#383b41;--user:#23324d;--bot:#202226;--accent:#8ab4f8;--err:#f2b8b5}}
*{box-sizing:border-box}
html,body{height:100%;margin:0}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg);display:flex;flex-direction:column;max-width:54rem;margin:0 auto;height:100vh;height:100dvh}
.sr-only{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
.top{display:flex;align-items:baseline;gap:.75rem;padding:.5rem 1rem 0;flex-wrap:wrap}
.top h1{font-size:1.15rem;margin:0}
.top p{margin:0;color:var(--muted);font-size:.85rem}
.chats-menu{padding:.25rem 1rem 0;font-size:.85rem}
.chats-menu>summary{cursor:pointer;color:var(--muted)}
.chats-menu ul{list-style:none;margin:.3rem 0;padding:0;display:flex;flex-direction:column;gap:.2rem;max-height:40vh;overflow-y:auto}
.chat-item{display:flex;gap:.4rem;align-items:center;flex-wrap:wrap}
.chat-item>a{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:var(--fg)}
.chat-item>a[aria-current]{font-weight:600}
.chat-item>.chat-title{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.chat-item form{margin:0;display:inline-flex;gap:.25rem}
.chat-item button,.rename summary{font-size:.75rem;padding:.05rem .45rem;cursor:pointer;color:var(--muted)}
.metrics{display:grid;grid-template-columns:1fr 1fr;gap:.5rem;padding:.5rem 1rem;font-size:.78rem}
.metric{border:1px solid var(--line);border-radius:.5rem;padding:.3rem .6rem;display:flex;flex-wrap:wrap;gap:0 .75rem;font-variant-numeric:tabular-nums;min-height:3.4rem;align-content:flex-start}
.metric.live{border-color:var(--accent)}
.metric-name{font-weight:600;width:100%}
.metric-median{color:var(--muted)}
[data-island=Chat]{flex:1;min-height:0;display:flex}
.chat{flex:1;display:flex;flex-direction:column;min-height:0;min-width:0}
.toolbar{display:flex;gap:.5rem;align-items:center;padding:0 1rem .5rem;flex-wrap:wrap}
.switch{display:inline-flex;border:1px solid var(--line);border-radius:999px;padding:2px;margin:0}
.switch label{position:relative;cursor:pointer}
.switch input{position:absolute;opacity:0;inset:0;margin:0;cursor:pointer}
.switch span{display:inline-block;padding:.15rem .7rem;border-radius:999px;font-size:.85rem}
.switch input:checked+span{background:var(--accent);color:var(--bg)}
.switch input:focus-visible+span{outline:2px solid var(--accent);outline-offset:2px}
.conn{font-size:.8rem;color:var(--muted);min-width:7.5rem}
.conn::before{content:"";display:inline-block;width:.55rem;height:.55rem;border-radius:50%;margin-right:.35rem;background:var(--muted)}
.conn-open::before,.conn-idle::before{background:#1e8e3e}
.conn-reconnecting::before,.conn-connecting::before{background:#e37400}
.new-chat{margin-left:auto}
button{font:inherit;border:1px solid var(--line);background:var(--bot);color:var(--fg);border-radius:.5rem;padding:.35rem .8rem;cursor:pointer}
button:disabled{opacity:.55;cursor:default}
button:focus-visible,textarea:focus-visible{outline:2px solid var(--accent);outline-offset:1px}
.messages-wrap{flex:1;min-height:0;display:flex;flex-direction:column;position:relative}
.messages{flex:1;min-height:0;overflow-y:auto;scrollbar-gutter:stable;padding:0 1rem;overflow-anchor:none}
.empty{color:var(--muted);text-align:center;margin-top:2rem}
.examples{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5rem;justify-content:center}
.example{border-radius:999px;font-size:.9rem}
.jump{position:absolute;bottom:.75rem;left:50%;transform:translateX(-50%);border-radius:999px;box-shadow:0 2px 8px #0003;font-size:.85rem;background:var(--bg)}
.log>ol{list-style:none;margin:0;padding:0}
.turn{display:flex;flex-direction:column;gap:.4rem;margin:.75rem 0}
.bubble{border-radius:.75rem;padding:.5rem .8rem;max-width:100%;overflow-wrap:anywhere}
.user{background:var(--user);align-self:flex-end;white-space:pre-wrap;max-width:85%}
.assistant{background:var(--bot);min-height:2.6rem}
.answer.plain{white-space:pre-wrap}
.answer-wrap{position:relative}
.md>:first-child{margin-top:0}.md>:last-child{margin-bottom:0}
.md pre{overflow-x:auto;background:var(--bg);padding:.5rem;border-radius:.4rem;margin:0}
.code-block{position:relative;margin:.5rem 0}
.copy-code{position:absolute;top:.3rem;right:.3rem;font-size:.75rem;padding:.1rem .45rem;opacity:.85}
[data-copied]::after{content:" ✓"}
.md blockquote{margin:.5rem 0;padding:.1rem .8rem;border-left:3px solid var(--accent);color:var(--muted)}
.md ol,.md ul{padding-left:1.4rem}
.token.comment,.token.prolog{color:#6a737d}.token.keyword,.token.boolean,.token.important{color:#cf222e}.token.string,.token.char,.token.attr-value,.token.regex{color:#0a7a3d}.token.number,.token.constant{color:#0550ae}.token.function,.token.class-name{color:#8250df}.token.operator,.token.punctuation{color:var(--muted)}.token.tag,.token.property{color:#116329}.token.builtin{color:#953800}
@media (prefers-color-scheme:dark){.token.keyword,.token.boolean{color:#ff7b72}.token.string,.token.attr-value{color:#a5d6ff}.token.number,.token.constant{color:#79c0ff}.token.function,.token.class-name{color:#d2a8ff}.token.tag,.token.property{color:#7ee787}.token.builtin{color:#ffa657}}
.actions{display:flex;gap:.35rem;margin-top:.35rem}
.act{font-size:.75rem;padding:.1rem .5rem;background:none}
.user .edit{margin-left:.5rem;opacity:.7;vertical-align:middle}
.composer{flex-wrap:wrap}
.editing{flex-basis:100%;margin:0;font-size:.8rem;color:var(--muted)}
.md code{font-size:.9em}
.md table{border-collapse:collapse}.md td,.md th{border:1px solid var(--line);padding:.2rem .4rem}
.caret{display:inline-block;width:.5rem;height:1rem;background:var(--accent);vertical-align:text-bottom;animation:blink 1s steps(2) infinite}
@keyframes blink{50%{opacity:0}}
@media (prefers-reduced-motion:reduce){.caret,.spinner{animation:none}}
.activity{font-size:.85rem;color:var(--muted);margin-bottom:.35rem}
.activity .status{margin:.1rem 0;font-style:italic}
.tool summary{cursor:pointer}
.tool-name{font-family:ui-monospace,monospace}
.tool pre{margin:.25rem 0;white-space:pre-wrap;font-size:.8rem;background:var(--bg);padding:.35rem .5rem;border-radius:.4rem}
.spinner{display:inline-block;width:.7rem;height:.7rem;margin-left:.4rem;border:2px solid var(--muted);border-top-color:transparent;border-radius:50%;animation:spin .8s linear infinite;vertical-align:middle}
@keyframes spin{to{transform:rotate(1turn)}}
.tools-used{font-size:.8rem;color:var(--muted);margin:0 0 .3rem}
.end-note{font-size:.8rem;color:var(--muted);margin:.35rem 0 0}
.end-note.error{color:var(--err)}
.attachments{padding:.4rem 1rem 0;border-top:1px solid var(--line)}
.attach-note{margin:0 0 .3rem;font-size:.8rem;color:var(--muted)}
.chips{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.35rem}
.chip{display:inline-flex;align-items:center;gap:.4rem;max-width:100%;border:1px solid var(--line);border-radius:.9rem;padding:.1rem .2rem .1rem .65rem;font-size:.8rem;background:var(--bot)}
.chip-name{font-weight:600;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:14rem}
.chip-size,.chip-state{color:var(--muted);white-space:nowrap}
.chip-problem{color:var(--err)}
.attachments+.composer{border-top:0}
.chip.chip-error{border-color:var(--err)}
.chip-remove{border:0;background:none;padding:0 .4rem;font-size:1rem;line-height:1.2;border-radius:999px}
.attach{flex:none;padding:.35rem .55rem}
.attach[aria-disabled=true]{opacity:.55;cursor:not-allowed}
.sent-files{display:flex;flex-wrap:wrap;gap:.3rem;margin-top:.25rem;font-size:.8rem}
.sent-file{display:inline-flex;align-items:center;gap:.2rem}
.clip{vertical-align:middle;flex:none}
.composer{display:flex;gap:.5rem;padding:.6rem 1rem calc(.6rem + env(safe-area-inset-bottom));border-top:1px solid var(--line)}
.composer textarea{flex:1;min-width:0;resize:none;font:inherit;padding:.45rem .6rem;border:1px solid var(--line);border-radius:.5rem;background:var(--bg);color:var(--fg);height:3.4rem;min-height:3.4rem;max-height:40vh;overflow-y:auto}
.send{width:5.5rem;flex:none}
.send:not(:disabled){background:var(--accent);color:var(--bg);border-color:var(--accent)}
.send.stop{background:var(--err);border-color:var(--err)}
.sign-in{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.5rem 1rem;font-size:.85rem}
.sign-in input{font:inherit;padding:.25rem .5rem;border:1px solid var(--line);border-radius:.4rem;background:var(--bg);color:var(--fg)}
.sign-in-error{color:var(--err)}
.notice{margin:.5rem 1rem;padding:.5rem .75rem;border:1px solid var(--line);border-radius:.5rem;font-size:.85rem}
@media (max-width:34rem){body{font-size:15px}.chats-menu{padding:0 .75rem;font-size:.75rem}.metrics{padding:.2rem .75rem;gap:.35rem;font-size:.7rem}.metric{min-height:0;padding:.1rem .4rem;gap:0 .4rem}.metric-name{width:auto}.metric-median{display:none}.top{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}.composer textarea{min-height:2.6rem;height:2.6rem}.toolbar{padding:0 .75rem .35rem;gap:.35rem}.conn{min-width:0;font-size:.75rem}.new-chat{padding:.25rem .6rem}.messages{padding:0 .75rem}.composer{padding:.5rem .75rem calc(.5rem + env(safe-area-inset-bottom))}.send{width:4.5rem}.user{max-width:100%}}
`;

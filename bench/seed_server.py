"""The seed's own stack as a bench peer: FastAPI + uvicorn, written the way
/work/shared/seed/sse-to-websocket-migration.md describes it.

The agent is an async generator yielding SSE-formatted strings
(`data: {json}\n\n`), as the seed's `smart_agent.chat_stream` does; the SSE
endpoint returns it through a `StreamingResponse`, the WebSocket endpoint
`accept()`s, `receive_json()`s each query, strips `data: `, `json.loads` the
chunk and `send_json`s it, exactly as the seed's migrated handler.

Frames are the ones of our server and of `bench/raw_server.ts` (`session`,
N x `content` with `ts` and `seq`, `done`), so the same clients measure all
three. Configured by the same environment: PORT (0 = any), HOST,
SYNTHETIC_CHUNKS, SYNTHETIC_CHUNK_BYTES, SYNTHETIC_INTERVAL_MS. Prints
`Listening on http://HOST:PORT/` when ready and exits when its stdin closes.

Run: /usr/bin/python3 bench/seed_server.py (Debian: python3-fastapi,
python3-uvicorn, python3-websockets).
"""

import asyncio
import json
import os
import socket
import sys
import threading
import time
import uuid
from typing import Optional

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

PORT = int(os.environ.get("PORT", "8002"))
HOST = os.environ.get("HOST", "127.0.0.1")
CHUNKS = int(os.environ.get("SYNTHETIC_CHUNKS", "100"))
CHUNK_BYTES = int(os.environ.get("SYNTHETIC_CHUNK_BYTES", "16"))
INTERVAL_S = float(os.environ.get("SYNTHETIC_INTERVAL_MS", "0")) / 1000

app = FastAPI()


async def chat_stream(query: str, session_id: Optional[str]):
    """The synthetic agent: SSE-formatted chunks, like the seed's agent."""
    rid = str(uuid.uuid4())
    session = session_id or rid
    yield "data: " + json.dumps(
        {"type": "session", "session_id": session, "request_id": rid, "seq": 0}
    ) + "\n\n"
    text = "x" * CHUNK_BYTES
    for seq in range(1, CHUNKS + 1):
        frame = {
            "type": "content",
            "content": text,
            "ts": time.time() * 1000,
            "request_id": rid,
            "seq": seq,
        }
        yield "data: " + json.dumps(frame) + "\n\n"
        if INTERVAL_S > 0 and seq < CHUNKS:
            await asyncio.sleep(INTERVAL_S)
    yield "data: " + json.dumps(
        {"type": "done", "finish_reason": "stop", "request_id": rid, "seq": CHUNKS + 1}
    ) + "\n\n"


@app.get("/agent_chat_stream")
async def agent_chat_stream(query: str, session_id: Optional[str] = None):
    """SSE endpoint, as in the seed before the migration."""

    async def generate():
        async for chunk in chat_stream(query, session_id):
            yield chunk

    return StreamingResponse(
        generate(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )


@app.websocket("/ws/chat")
async def websocket_chat(websocket: WebSocket):
    """WebSocket endpoint, as in the seed after the migration."""
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            query = data.get("query", "")
            session_id = data.get("session_id")
            async for chunk in chat_stream(query, session_id):
                if chunk.startswith("data: "):
                    chunk_data = json.loads(chunk.replace("data: ", "").strip())
                    await websocket.send_json(chunk_data)
    except WebSocketDisconnect:
        pass


def exit_when_stdin_closes():
    """Never outlive the bench that spawned us."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's listening socket (port 0: any free port)."""
    # IPPROTO_TCP, as `uvicorn --host --port` gets it from getaddrinfo: asyncio
    # sets TCP_NODELAY only on sockets whose proto says TCP. With proto 0 every
    # accepted socket kept Nagle on, and a new WebSocket's first content frame
    # waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    return sock


def main():
    sock = listening_socket(HOST, PORT)
    port = sock.getsockname()[1]
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    config = uvicorn.Config(
        app,
        log_level="error",
        ws="websockets",
        backlog=4096,
    )
    server = uvicorn.Server(config)
    print(f"Listening on http://{HOST}:{port}/ (agent: synthetic)", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()

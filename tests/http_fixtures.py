"""A tiny fake Zenodo on 127.0.0.1 for the downloader tests (tests/test_download.py).

Serves ``/api/records/<id>`` JSON and ``/records/<id>/files/<name>`` with selectable
behaviours: Range support, a server that ignores Range, fixed status codes, failures
before success (flaky) and responses cut short. Every request is recorded.
"""
from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    """How to answer requests for one path."""

    data: bytes = b""
    mode: str = "ok"  # ok | norange | status | flaky | cut | stall | redirect
    status: int = 200  # for mode "status"; also the failure code of "flaky"
    fail_times: int = 0  # flaky / cut / stall: how many requests misbehave before "ok"
    cut_at: int = 0  # cut / stall: bytes sent before the connection is closed / stalls
    stall_s: float = 1.0  # stall: seconds of silence after cut_at bytes
    location: str = ""  # redirect: where to send the client (302)
    hits: int = 0


@dataclass
class FakeZenodo:
    """The server state: routes and the log of (path, headers) of every request."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def add_file(self, record: int, name: str, data: bytes, **kw) -> str:
        """Serve ``data`` at ``/records/<record>/files/<name>``; return that path."""
        path = f"/records/{record}/files/{name}"
        self.routes[path] = Route(data=data, **kw)
        return path

    def add_record(self, record: int, md5s: dict[str, str]) -> None:
        """Serve a Zenodo-style record JSON listing ``md5s`` (file name -> md5)."""
        files = [{"key": k, "checksum": f"md5:{v}", "size": 0} for k, v in md5s.items()]
        body = json.dumps({"id": record, "files": files}).encode()
        self.routes[f"/api/records/{record}"] = Route(data=body)

    def hits(self, prefix: str) -> list[tuple[str, dict[str, str]]]:
        """Requests whose path starts with ``prefix``."""
        return [r for r in self.requests if r[0].startswith(prefix)]


def _handler(state: FakeZenodo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            path = urlsplit(self.path).path
            state.requests.append((path, dict(self.headers.items())))
            route = state.routes.get(path)
            if route is None:
                return self._send(404, b"not found")
            route.hits += 1
            data, mode = route.data, route.mode
            if mode == "status":
                return self._send(route.status, b"error")
            if mode == "flaky" and route.hits <= route.fail_times:
                return self._send(route.status or 500, b"try again")
            if mode == "redirect":
                return self._send(302, b"", {"Location": route.location})
            if mode in ("cut", "stall") and route.hits <= route.fail_times:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: route.cut_at])
                self.wfile.flush()
                if mode == "stall":
                    time.sleep(route.stall_s)
                self.close_connection = True
                return None
            rng = self.headers.get("Range")
            if rng and mode != "norange":
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return self._send(206, data[start:], {
                    "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
            return self._send(200, data)

    return Handler


class serve:
    """Context manager: run a FakeZenodo on an ephemeral port; stops itself after ``max_s``."""

    def __init__(self, max_s: float = 60.0) -> None:
        self.state = FakeZenodo()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.server.daemon_threads = True
        self.state.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.timer = threading.Timer(max_s, self.server.shutdown)
        self.timer.daemon = True

    def __enter__(self) -> FakeZenodo:
        self.thread.start()
        self.timer.start()
        return self.state

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive in memory holding ``members`` (archive name -> bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()

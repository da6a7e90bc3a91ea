"""A fault-injecting HTTP proxy in front of the moto server: chosen AWS operations are throttled, denied, fail
with a 500, hang, or are applied and then answered late, the way a real endpoint misbehaves.

boto3 reaches it through ``AWS_ENDPOINT_URL`` like any endpoint, so the whole client stack runs: retries,
backoff, timeouts, error parsing. Operations are recognised per protocol (``X-Amz-Target`` for JSON,
``/operation/<name>`` for Smithy RPC v2 CBOR, ``Action=`` for query); error bodies are written in the protocol
the request used, so botocore parses them as it would AWS's.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: What each fault answers: (HTTP status, error code). ``hang`` and ``slow`` answer late instead.
ERRORS = {
    "throttle": (400, "ThrottlingException"),
    "deny": (400, "AccessDeniedException"),
    "error500": (500, "InternalFailure"),
}
_QUERY_CODES = {"ThrottlingException": "Throttling", "AccessDeniedException": "AccessDenied",
                "InternalFailure": "InternalFailure"}


@dataclass
class Fault:
    kind: str  # throttle | deny | error500 | hang (never forwarded) | slow (forwarded, answered late)
    times: int
    seconds: float = 0.0


class FaultProxy:
    """``with FaultProxy(upstream) as proxy:``; ``proxy.url`` for ``AWS_ENDPOINT_URL``; ``proxy.inject(operation,
    kind, times=..., seconds=...)``; ``proxy.seen`` lists (operation, body) of every request, faulted or not."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.faults: dict[str, list[Fault]] = {}
        self.seen: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, operation: str, kind: str, *, times: int = 1_000, seconds: float = 0.0) -> None:
        assert kind in (*ERRORS, "hang", "slow"), kind
        self.faults.setdefault(operation, []).append(Fault(kind, times, seconds))

    def calls(self, operation: str) -> list[bytes]:
        """The bodies of every request for ``operation`` (retries included)."""
        return [body for name, body in self.seen if name == operation]

    def __enter__(self) -> "FaultProxy":
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *_) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self, operation: str, body: bytes) -> Fault | None:
        with self._lock:
            self.seen.append((operation, body))
            queue = self.faults.get(operation, [])
            while queue and queue[0].times <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].times -= 1
            return queue[0]

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_) -> None:  # quiet
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation, protocol = _operation(self.path, self.headers, body)
                fault = proxy._next_fault(operation, body)
                if fault is None:
                    self._answer(*self._forward(body))
                elif fault.kind == "hang":
                    time.sleep(fault.seconds)  # the client has given up by now; nothing reached AWS
                    self.close_connection = True
                elif fault.kind == "slow":
                    answer = self._forward(body)  # applied...
                    time.sleep(fault.seconds)  # ...and answered too late
                    try:
                        self._answer(*answer)
                    except OSError:
                        pass
                else:
                    status, code = ERRORS[fault.kind]
                    self._answer(status, *_error_body(protocol, code, f"injected {fault.kind}"))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def _forward(self, body: bytes) -> tuple[int, dict, bytes]:
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                connection.close()
                kept = {k: v for k, v in response.getheaders()
                        if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date")}
                return response.status, kept, data

            def _answer(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        return Handler


def _operation(path: str, headers, body: bytes) -> tuple[str, str]:
    """(operation name, protocol) of a request."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1], "json"
    if "/operation/" in path:
        return path.rsplit("/operation/", 1)[-1].split("?")[0], "cbor"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if "Action" in form:
        return form["Action"][0], "query"
    return f"{headers.get('Host', '')}{path}", "rest"


def _error_body(protocol: str, code: str, message: str) -> tuple[dict, bytes]:
    if protocol == "cbor":
        return {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, _cbor_map(
            {"__type": code, "message": message})
    if protocol == "query":
        xml = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{_QUERY_CODES.get(code, code)}</Code>"
               f"<Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>")
        return {"Content-Type": "text/xml"}, xml.encode()
    return {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, json.dumps(
        {"__type": code, "message": message}).encode()


def _cbor_map(values: dict[str, str]) -> bytes:
    """A CBOR map of short text strings (RFC 8949: major type 5 holding major type 3 items)."""
    def text(value: str) -> bytes:
        data = value.encode()
        assert len(data) < 256
        return (bytes([0x60 | len(data)]) if len(data) < 24 else bytes([0x78, len(data)])) + data

    assert len(values) < 24
    return bytes([0xA0 | len(values)]) + b"".join(text(k) + text(v) for k, v in values.items())

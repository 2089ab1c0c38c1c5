"""A small threaded HTTP/1.1 file server with single-range support (Python's http.server has
none), for web seed tests. Keep-alive, `Range: bytes=a-b` answered with 206 + Content-Range,
no Range with 200. Knobs for failure cases: `corrupt` flips one byte of the first response
covering (relpath, offset); `missing` answers 404 for everything; paths under /r/ answer a
302 redirect to the same path without /r/. Every request is recorded."""
import http.server
import os
import threading
import urllib.parse


class RangeServer:
    def __init__(self, root, ip="127.0.0.2", corrupt=(), missing=False):
        self.root = os.path.realpath(root)
        self.corrupt = set(corrupt)  # {(relpath, offset)}; each used once
        self.missing = missing
        self.requests = []  # (relpath, range header or None, status)
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                raw = urllib.parse.urlsplit(self.path).path
                rel = urllib.parse.unquote(raw).lstrip("/")
                rng = self.headers.get("Range")
                if raw.startswith("/r/"):
                    status, headers, body = 302, [("Location", raw[2:])], b""
                else:
                    status, headers, body = server.answer(rel, rng)
                with server.lock:
                    server.requests.append((rel, rng, status))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that hang up (torfs closing a connection) are not errors here

        self.httpd = Server((ip, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{ip}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False

    def answer(self, rel, rng):
        if self.missing:
            return 404, [], b"not here\n"
        path = os.path.realpath(os.path.join(self.root, rel))
        if not path.startswith(self.root + os.sep) or not os.path.isfile(path):
            return 404, [], b"not here\n"
        size = os.path.getsize(path)
        if rng is None:
            first, last = 0, size - 1
        else:
            unit, _, spec = rng.partition("=")
            a, _, b = spec.partition("-")
            if unit.strip() != "bytes" or not a.isdigit() or not b.isdigit():
                return 416, [("Content-Range", f"bytes */{size}")], b""
            first, last = int(a), min(int(b), size - 1)
            if first > last:
                return 416, [("Content-Range", f"bytes */{size}")], b""
        with open(path, "rb") as f:
            f.seek(first)
            body = bytearray(f.read(last - first + 1))
        with self.lock:
            for key in [k for k in self.corrupt if k[0] == rel and first <= k[1] <= last]:
                self.corrupt.discard(key)
                body[key[1] - first] ^= 0xFF
        if rng is None:
            return 200, [], bytes(body)
        return 206, [("Content-Range", f"bytes {first}-{last}/{size}")], bytes(body)

    def count(self, status=None):
        with self.lock:
            return sum(1 for r in self.requests if status is None or r[2] == status)

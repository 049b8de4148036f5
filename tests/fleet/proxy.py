"""A forwarding HTTP proxy for the fleet's own-root hosts (standalone script).

    python proxy.py --listen 10.213.0.1:3142 --allow deb.debian.org [--allow ...]

A host's network namespace reaches nothing but its fleet's bridge; apt inside
an own-root host is configured with Acquire::http::Proxy pointing here, and
this process (in the machine's namespace) forwards plain-HTTP GET and HEAD
requests to the allowed hosts only, as apt on this machine would. Anything
else (CONNECT, other hosts, other methods) gets 403. One line per request goes
to stderr.
"""

from __future__ import annotations

import argparse
import http.client
import socketserver
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    allow: frozenset = frozenset()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, fmt, *args):  # one line per request, to stderr
        sys.stderr.write(f"[fleet-proxy] {self.address_string()} {fmt % args}\n")

    def _deny(self, why: str) -> None:
        body = f"ebpf.bcc fleet proxy: {why}\n".encode()
        self.send_response(403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_CONNECT(self):
        self.close_connection = True
        self._deny("CONNECT is not forwarded (plain http to the Debian archive only)")

    def do_POST(self):
        self.close_connection = True
        self._deny("only GET and HEAD are forwarded")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        host = (url.hostname or "").lower()
        if url.scheme != "http" or host not in self.server.allow:
            self.close_connection = True
            self._deny(f"{self.path} is not on an allowed host ({', '.join(sorted(self.server.allow))})")
            return
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = url.netloc
        try:
            conn = http.client.HTTPConnection(host, url.port or 80, timeout=120)
            conn.request(self.command, path, headers=headers)
            resp = conn.getresponse()
        except OSError as exc:
            self.close_connection = True
            body = f"ebpf.bcc fleet proxy: {host}: {exc}\n".encode()
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        try:
            self.send_response(resp.status, resp.reason)
            length = resp.getheader("Content-Length")
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            if length is None and self.command != "HEAD" and resp.status not in (204, 304):
                # Unknown length: the end of the body is the end of the connection.
                self.close_connection = True
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                while True:
                    chunk = resp.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
        finally:
            conn.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="ADDRESS:PORT")
    p.add_argument("--allow", action="append", default=[], help="a host name to forward to")
    args = p.parse_args(argv)
    addr, port = args.listen.rsplit(":", 1)
    for attempt in range(50):
        try:
            srv = Server((addr, int(port)), Handler)
            break
        except OSError:
            # The bridge address may still be tentative for a moment.
            if attempt == 49:
                raise
            time.sleep(0.1)
    srv.allow = frozenset(h.lower() for h in args.allow)
    sys.stderr.write(f"[fleet-proxy] listening on {args.listen}, forwarding to {sorted(srv.allow)}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

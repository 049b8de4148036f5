"""A forwarding HTTP proxy for the fleet's own-root hosts (standalone script).

    python proxy.py --listen 10.213.0.1:3142 --allow deb.debian.org [--allow ...]

A host's network namespace reaches nothing but its fleet's bridge; apt inside
an own-root host is configured with Acquire::http::Proxy pointing here, and
this process (in the machine's namespace) forwards plain-HTTP GET and HEAD
requests to the allowed hosts only, as apt on this machine would. Anything
else (CONNECT, other hosts, other methods) gets 403. One line per request goes
to stderr. With --cache-dir, package files (.deb under pool/, whose content
never changes under the same name) are kept and served from there next time,
so repeated installs into fresh roots do not download them again; package
lists always come from the archive.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socketserver
import sys
import threading
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
    cache_dir: str | None = None


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
        cached = self._cache_path(host, url.path)
        if cached and os.path.isfile(cached):
            self._send_file(cached)
            return
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
            if self.command == "HEAD":
                return
            keep = cached and resp.status == 200 and length is not None
            tmp = f"{cached}.tmp-{os.getpid()}-{threading.get_ident()}" if keep else None
            out = None
            if tmp:
                os.makedirs(os.path.dirname(tmp), exist_ok=True)
                out = open(tmp, "wb")  # pylint: disable=consider-using-with
            written = 0
            try:
                while True:
                    chunk = resp.read(65536)
                    if not chunk:
                        break
                    if out:
                        out.write(chunk)
                    written += len(chunk)
                    self.wfile.write(chunk)
            finally:
                if out:
                    out.close()
                    if written == int(length):
                        os.replace(tmp, cached)
                    else:
                        os.unlink(tmp)
        finally:
            conn.close()

    def _cache_path(self, host: str, path: str) -> str | None:
        """Where a package file is kept: only pool/ files (immutable by name) are cached."""
        if not self.server.cache_dir or "/pool/" not in path or not path.endswith(".deb") or ".." in path:
            return None
        return os.path.join(self.server.cache_dir, host, path.lstrip("/"))

    def _send_file(self, path: str) -> None:
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.debian.binary-package")
        self.send_header("Content-Length", str(size))
        self.send_header("X-Fleet-Proxy-Cache", "hit")
        self.end_headers()
        if self.command != "HEAD":
            with open(path, "rb") as fh:
                shutil.copyfileobj(fh, self.wfile, 65536)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="ADDRESS:PORT")
    p.add_argument("--allow", action="append", default=[], help="a host name to forward to")
    p.add_argument("--cache-dir", help="keep downloaded .deb files (pool/ paths) here and serve them again")
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
    srv.cache_dir = args.cache_dir
    sys.stderr.write(f"[fleet-proxy] listening on {args.listen}, forwarding to {sorted(srv.allow)}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

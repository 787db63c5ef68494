"""Behind a proxy: HTTP(S)_PROXY, NO_PROXY and SSL_CERT_FILE for sending and --notify.

A small forward proxy of the test's own on 127.0.0.1 relays plain http requests (absolute
URLs) and tunnels https ones (CONNECT), and records what it relayed. conftest.py clears the
proxy variables for every test: each test here sets its own.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers import EXAMPLE, HEADER, invoke
from helpers import read_results as results

from importer.errors import ConfigError
from importer.send import find_route, masked_proxy, trusted_context

TOKEN = "proxy-TOKEN-5c1e"


# ------------------------------------------------------------------ the test's own proxy


@dataclass(frozen=True)
class Relayed:
    method: str
    target: str  # an absolute URL, or host:port for CONNECT
    proxy_authorization: str | None


class RecordingProxy:
    """A forward proxy on 127.0.0.1 (in a thread) that records every request it relays."""

    def __init__(self) -> None:
        self.relayed: list[Relayed] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def url(self, auth: str = "") -> str:
        return f"http://{auth}127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = [tuple(p.strip() for p in line.split(":", 1)) for line in lines[1:] if line]
            found = {k.lower(): v for k, v in headers}
            self.relayed.append(Relayed(method, target, found.get("proxy-authorization")))
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                return
            body = await reader.readexactly(int(found.get("content-length", "0")))
            url = urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
            skip = {"proxy-authorization", "proxy-connection", "connection"}
            kept = "".join(f"{k}: {v}\r\n" for k, v in headers if k.lower() not in skip)
            path = url.path + (f"?{url.query}" if url.query else "")
            up_writer.write(
                f"{method} {path} HTTP/1.1\r\n{kept}Connection: close\r\n\r\n".encode("latin-1")
                + body
            )
            answer = await up_reader.read()  # the upstream closes after one answer
            up_writer.close()
            answer_head, _, answer_body = answer.partition(b"\r\n\r\n")
            kept_lines = [
                line
                for line in answer_head.split(b"\r\n")
                if not line.lower().startswith(b"connection:")
            ]
            writer.write(b"\r\n".join(kept_lines) + b"\r\nConnection: close\r\n\r\n" + answer_body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
def proxy() -> Any:
    with RecordingProxy() as server:
        yield server


# ------------------------------------------------------------------ helpers


def write(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            w.writerow([f"P{i}", "L", f"(303) 555-{i:04d}", "", "", "10", "CO", "80202", "crm"])
    return path


def run(src: Path, endpoint: str, out: Path, *extra: Any, env: dict[str, str]) -> Any:
    return invoke(
        "run", src, "-m", EXAMPLE, "--endpoint", endpoint, "--lead-token", TOKEN,
        "--out", out, "--unlimited-rate", *extra, env=env,
    )  # fmt: skip


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class webhook:  # noqa: N801 - a context manager used like a function
    """A webhook on 127.0.0.1 (http, or https with ``context``) that keeps what it got."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        handler = type("Hook", (_Hook,), {"received": []})
        self.received: list[dict[str, Any]] = handler.received
        self.server = HTTPServer(("127.0.0.1", 0), handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> webhook:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ through the CLI


def test_run_sends_every_request_through_the_proxy(
    tmp_path: Path, sandbox: Any, proxy: RecordingProxy
) -> None:
    src = write(tmp_path / "leads.csv", 6)
    code, _, stderr = run(src, sandbox.endpoint, tmp_path / "run", env={"HTTP_PROXY": proxy.url()})
    assert code == 0, stderr
    assert [r["status"] for r in results(tmp_path / "run")] == ["success"] * 6
    posts = [r for r in proxy.relayed if r.method == "POST"]
    assert len(posts) == len(proxy.relayed) == len(sandbox.requests()) == 6
    assert all(r.target.startswith(sandbox.endpoint + "?") for r in posts)


def test_https_proxy_is_not_used_for_an_http_endpoint(
    tmp_path: Path, sandbox: Any, proxy: RecordingProxy
) -> None:
    src = write(tmp_path / "leads.csv", 2)
    code, _, stderr = run(src, sandbox.endpoint, tmp_path / "run", env={"HTTPS_PROXY": proxy.url()})
    assert code == 0, stderr
    assert proxy.relayed == []


@pytest.mark.parametrize(
    "no_proxy",
    ["127.0.0.1", "localhost,127.0.0.1", " example.com , 127.0.0.0/8", "*"],
)
def test_no_proxy_goes_directly(
    tmp_path: Path, sandbox: Any, proxy: RecordingProxy, no_proxy: str
) -> None:
    src = write(tmp_path / "leads.csv", 3)
    env = {"HTTP_PROXY": proxy.url(), "NO_PROXY": no_proxy}
    code, _, stderr = run(src, sandbox.endpoint, tmp_path / "run", "--verbose", env=env)
    assert code == 0, stderr
    assert proxy.relayed == []
    assert len(sandbox.requests()) == 3
    assert "leadimport: sending to 127.0.0.1 directly (NO_PROXY names 127.0.0.1)" in stderr


def test_verbose_names_the_proxy_with_its_credentials_masked(
    tmp_path: Path, sandbox: Any, proxy: RecordingProxy
) -> None:
    src = write(tmp_path / "leads.csv", 2)
    env = {"http_proxy": proxy.url("alice:s3cr3t-pw@")}
    code, stdout, stderr = run(src, sandbox.endpoint, tmp_path / "run", "--verbose", env=env)
    assert code == 0, stderr
    shown = f"http://***@127.0.0.1:{proxy.port}"
    assert f"leadimport: sending to 127.0.0.1 through the proxy {shown} (http_proxy)" in stderr
    run_log = (tmp_path / "run" / "run.log").read_text()
    assert f"through the proxy {shown} (http_proxy)" in run_log
    for text in (stdout, stderr, run_log):
        assert "s3cr3t-pw" not in text and "alice" not in text
    # The credentials went to the proxy, and only there.
    expected = "Basic " + base64.b64encode(b"alice:s3cr3t-pw").decode()
    assert [r.proxy_authorization for r in proxy.relayed] == [expected, expected]


def test_without_verbose_the_route_is_only_in_run_log(
    tmp_path: Path, sandbox: Any, proxy: RecordingProxy
) -> None:
    src = write(tmp_path / "leads.csv", 1)
    code, stdout, stderr = run(
        src, sandbox.endpoint, tmp_path / "run", env={"HTTP_PROXY": proxy.url()}
    )
    assert code == 0, stderr
    assert "through the proxy" not in stdout + stderr
    assert "through the proxy" in (tmp_path / "run" / "run.log").read_text()


def test_notify_goes_through_the_proxy(tmp_path: Path, sandbox: Any, proxy: RecordingProxy) -> None:
    src = write(tmp_path / "leads.csv", 2)
    with webhook() as hook:
        env = {
            "HTTP_PROXY": proxy.url(),
            "NO_PROXY": f"127.0.0.1:{urlsplit(sandbox.endpoint).port}",
        }
        code, _, stderr = run(
            src, sandbox.endpoint, tmp_path / "run", "--notify", hook.url, "--verbose", env=env
        )
    assert code == 0, stderr
    assert len(hook.received) == 1 and hook.received[0]["summary"]["counts"] == {"success": 2}
    # The endpoint's port is in NO_PROXY, the webhook's is not.
    assert [(r.method, r.target) for r in proxy.relayed] == [("POST", hook.url)]
    assert len(sandbox.requests()) == 2
    assert f"leadimport: notifying 127.0.0.1 through the proxy {proxy.url()}" in stderr


def test_an_unreachable_proxy_fails_the_rows_and_the_webhook_with_its_reason(
    tmp_path: Path, sandbox: Any
) -> None:
    src = write(tmp_path / "leads.csv", 1)
    env = {"HTTP_PROXY": "http://127.0.0.1:9"}
    code, _, stderr = run(
        src, sandbox.endpoint, tmp_path / "run", "--max-attempts", "1",
        "--notify", "http://127.0.0.1:9/hook", env=env,
    )  # fmt: skip
    assert code == 1
    assert sandbox.requests() == []
    assert "could not notify http://127.0.0.1:9/hook: cannot reach the proxy for the webhook" in (
        stderr
    )


# ------------------------------------------------------------------ https: CONNECT and a CA


def _openssl(*args: Any) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def company_ca(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA of the test's own (as a TLS-inspecting proxy has) and a server context it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a CA")
    ca_key, ca, key, csr, cert = (tmp_path / n for n in ("ca.key", "ca.pem", "k", "csr", "crt"))
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=leadimport test company CA",
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    ext = tmp_path / "ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "authorityKeyIdentifier=keyid\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return ca, server


def test_https_notify_tunnels_through_the_proxy_and_trusts_ssl_cert_file(
    tmp_path: Path, sandbox: Any, proxy: RecordingProxy, company_ca: tuple[Path, ssl.SSLContext]
) -> None:
    ca, server_context = company_ca
    src = write(tmp_path / "leads.csv", 1)
    with webhook(server_context) as hook:
        base = {
            "HTTPS_PROXY": proxy.url(),
            "NO_PROXY": f"127.0.0.1:{urlsplit(sandbox.endpoint).port}",
        }
        # Without the company's CA the webhook's certificate is refused.
        code, _, stderr = run(
            src, sandbox.endpoint, tmp_path / "r1", "--notify", hook.url, env=base
        )
        assert code == 0 and "could not notify" in stderr
        assert hook.received == []
        env = {**base, "SSL_CERT_FILE": str(ca)}
        code, _, stderr = run(
            src, sandbox.endpoint, tmp_path / "r2", "--notify", hook.url, "--verbose", env=env
        )
    assert code == 0, stderr
    assert "could not notify" not in stderr
    assert len(hook.received) == 1
    port = hook.url.split(":")[2].split("/")[0]
    assert [(r.method, r.target) for r in proxy.relayed] == [("CONNECT", f"127.0.0.1:{port}")] * 2
    assert f"trusting the CA certificates in SSL_CERT_FILE={ca}" in stderr


def test_ssl_cert_file_is_trusted_besides_the_system_cas(
    monkeypatch: pytest.MonkeyPatch, company_ca: tuple[Path, ssl.SSLContext]
) -> None:
    ca, _ = company_ca
    system = len(trusted_context().get_ca_certs())
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    names = [
        dict(x[0] for x in c["subject"]).get("commonName") for c in trusted_context().get_ca_certs()
    ]
    assert "leadimport test company CA" in names
    assert len(names) == system + 1


def test_an_unreadable_ssl_cert_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(ConfigError) as caught:
        trusted_context()
    assert str(caught.value) == (
        f"SSL_CERT_FILE={missing}: cannot use it (No such file or directory); point it at "
        "a PEM file of CA certificates (or a folder of them for SSL_CERT_DIR), or unset it"
    )


# ------------------------------------------------------------------ the rules, table-driven


P = "http://p:1"


@pytest.mark.parametrize(
    ("url", "env", "proxy", "variable"),
    [
        ("https://x.trackdrive.com/a", "", None, ""),
        ("https://x.trackdrive.com/a", f"HTTPS_PROXY={P}", P, "HTTPS_PROXY"),
        ("https://x.trackdrive.com/a", f"HTTP_PROXY={P}", None, ""),
        ("http://x.com/a", f"HTTP_PROXY={P}", P, "HTTP_PROXY"),
        ("http://x.com/a", f"http_proxy={P}; HTTP_PROXY=http://b:2", P, "http_proxy"),
        ("https://x.com/a", "ALL_PROXY=p:8080", "http://p:8080", "ALL_PROXY"),
        ("https://x.com/a", f"HTTPS_PROXY= ; ALL_PROXY={P}", P, "ALL_PROXY"),
        ("https://api.td.com/", f"HTTPS_PROXY={P}; NO_PROXY=td.com", None, "NO_PROXY"),
        ("https://api.td.com/", f"HTTPS_PROXY={P}; no_proxy=.td.com", None, "no_proxy"),
        ("https://nottd.com/", f"HTTPS_PROXY={P}; NO_PROXY=td.com", P, "HTTPS_PROXY"),
        ("http://10.1.2.3:81/a", f"HTTP_PROXY={P}; NO_PROXY=10.0.0.0/8", None, "NO_PROXY"),
        ("http://10.1.2.3:81/a", f"HTTP_PROXY={P}; NO_PROXY=10.1.2.3:82", P, "HTTP_PROXY"),
        ("http://[::1]:81/a", f"HTTP_PROXY={P}; NO_PROXY=[::1]:81", None, "NO_PROXY"),
        ("http://127.0.0.1:81/a", f"HTTP_PROXY={P}; NO_PROXY=localhost", P, "HTTP_PROXY"),
    ],
)  # fmt: skip
def test_find_route(url: str, env: str, proxy: str | None, variable: str) -> None:
    environ = dict(item.strip().split("=", 1) for item in env.split(";") if item.strip())
    route = find_route(url, environ)
    assert (route.proxy, route.variable) == (proxy, variable)


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        ("http://proxy.corp:3128", "http://proxy.corp:3128"),
        ("http://alice:pw@proxy.corp:3128/x?y=1", "http://***@proxy.corp:3128"),
        ("http://alice@proxy.corp", "http://***@proxy.corp"),
        ("http://:pw@[::1]:8", "http://***@[::1]:8"),
    ],
)
def test_masked_proxy(proxy: str, shown: str) -> None:
    assert masked_proxy(proxy) == shown


def test_an_unsupported_proxy_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        find_route("https://x.com/", {"HTTPS_PROXY": "socks5://bob:pw@p:1080"})
    assert str(caught.value) == (
        "HTTPS_PROXY: socks5://***@p:1080 is not a usable proxy; "
        "give an http:// proxy such as http://proxy.example.com:3128"
    )

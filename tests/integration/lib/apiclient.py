# SPDX-License-Identifier: Apache-2.0
"""Helpers for the control API tests (vmm/test_api_compat.py, vmm/test_api_hostile.py):
a kvmlet-vmm started with --api-sock whose serial output is collected by a
thread, requests through curl (the client the API must serve) or raw bytes
through a socket, and a validator and example generator for the subset of
OpenAPI 2.0 that firecracker_api.json (our extract of Firecracker's swagger)
uses."""
import codecs
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

from harness import VMM, FIRMWARE, Failure, check

HERE = os.path.dirname(os.path.abspath(__file__))
API_JSON = os.path.join(HERE, "firecracker_api.json")
CURL_TIMEOUT = 20
ERROR_STATUSES = range(400, 600)


def load_api():
    with open(API_JSON) as f:
        return json.load(f)


def firmware_has(word):
    """Whether the test firmware knows a test: its name is in the image."""
    with open(FIRMWARE, "rb") as f:
        return word.encode() in f.read()


# ---------------------------------------------------------------- the VMM

class Vmm:
    """kvmlet-vmm --api-sock SOCK in a temporary directory. Serial output is
    read by a thread (so a chatty guest never blocks on a full pipe) and can
    be waited on with wait_for()."""

    def __init__(self, extra=(), prefix=()):
        self.dir = tempfile.mkdtemp(prefix="kvmlet-api-")
        self.sock = os.path.join(self.dir, "api.sock")
        self.proc = subprocess.Popen([*prefix, VMM, "--api-sock", self.sock, *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.out, self.err = [], []
        self.cond = threading.Condition()
        self.closed = False
        # Serial output is read from the raw pipe under read_lock, so that
        # sync_output() can take in everything written so far (see there).
        self.out_fd = self.proc.stdout.fileno()
        os.set_blocking(self.out_fd, False)
        self.read_lock = threading.Lock()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.threads = [threading.Thread(target=self._pump_out, daemon=True),
                        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err),
                                         daemon=True)]
        for t in self.threads:
            t.start()
        self._wait_listening()

    def _read_out(self):
        """Moves what the pipe holds into self.out; False at EOF. Holds read_lock."""
        while True:
            try:
                data = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return True
            with self.cond:
                if not data:
                    self.out.append(self.decoder.decode(b"", final=True))
                    self.closed = True
                    self.cond.notify_all()
                    return False
                self.out.append(self.decoder.decode(data))
                self.cond.notify_all()

    def _pump_out(self):
        while True:
            select.select([self.out_fd], [], [])
            with self.read_lock:
                if self.closed or not self._read_out():
                    return

    def sync_output(self):
        """Takes in every byte the VMM has written to its serial output so
        far. The reader thread may have the pipe's last lines in flight when
        an API answer arrives (a pause, say); with read_lock held nothing is
        in flight, so what the pipe still holds is all that is missing."""
        with self.read_lock:
            if not self.closed:
                self._read_out()

    def _pump(self, stream, into):
        for line in stream:
            with self.cond:
                into.append(line)
                self.cond.notify_all()
        with self.cond:
            if into is self.out:
                self.closed = True
            self.cond.notify_all()

    def _wait_listening(self, timeout=10):
        """The socket exists once the server is bound; connect to be sure."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"kvmlet-vmm exited with {self.proc.returncode} before listening:"
                              f" {self.stderr()}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(self.sock)
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise Failure(f"no API socket at {self.sock} after {timeout} s: {self.stderr()}")
            # Bounded polling for a file to appear (there is no stdlib inotify).
            time.sleep(0.01)

    def path(self, name):
        return os.path.join(self.dir, name)

    def stdout(self):
        with self.cond:
            return "".join(self.out)

    def stderr(self):
        with self.cond:
            return "".join(self.err)

    def wait_for(self, pattern, timeout=30, start=0):
        """Waits until the serial output (from character start on) matches the
        regular expression; returns the match. Fails on timeout or EOF."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search("".join(self.out), start)
                if m:
                    return m
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    why = "output ended" if self.closed else f"{timeout} s passed"
                    text = "".join(self.out)
                    raise Failure(f"{why} before /{pattern}/ in the serial output:\n"
                                  f"{text[-2000:]}\nstderr: {''.join(self.err)[-2000:]}")
                self.cond.wait(left)

    def last_counter(self):
        self.sync_output()
        found = re.findall(r"^counter (\d+)\n", self.stdout(), re.M)
        return int(found[-1]) if found else 0

    def counter_in_progress(self):
        """The counter the guest last began to print. A pause can land in the
        middle of a line ("counter 1" of "counter 12\n"): that counter is
        the last complete one plus one, and a guest restored from that point
        prints the rest of its line, then the next counter."""
        self.sync_output()
        text = self.stdout()
        found = re.findall(r"^counter (\d+)\n", text, re.M)
        n = int(found[-1]) if found else 0
        partial = text[text.rfind("\n") + 1:]
        return n + 1 if partial and "counter ".startswith(partial[:8]) else n

    def counter_advances(self, by=3, timeout=30):
        """The counter guest is alive: it prints `by` more lines."""
        n = self.last_counter()
        self.wait_for(rf"(?m)^counter {n + by}\n", timeout)
        check("counter FAIL" not in self.stdout(), f"guest memory check failed: {self.stdout()[-500:]}")
        return n + by

    def running(self, grace=0.0):
        """Whether the VMM still runs; with grace, gives a process that is
        dying (a refused connection, an empty reply) that long to be reaped."""
        try:
            self.proc.wait(grace) if grace else None
        except subprocess.TimeoutExpired:
            return True
        return self.proc.poll() is None

    def wait(self, timeout):
        """Waits for the VMM to exit and for its output to be read to the end
        (the readers may still hold its last lines when the process is
        reaped); returns the exit code."""
        code = self.proc.wait(timeout)
        for t in self.threads:
            t.join(timeout)
        return code

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for t in self.threads:
            t.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- requests

class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise Failure(f"body is not JSON ({e}): {self.body!r}")

    def __repr__(self):
        return f"{self.status} {self.body[:300]!r}"


def encode_body(body):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def curl_request(sock, method, path, body=None, headers=(), timeout=CURL_TIMEOUT):
    """One request with curl; returns a Response with the headers of the final
    response. body: None (no body), bytes/str (sent as is) or a JSON value."""
    data = encode_body(body)
    cmd = ["curl", "-s", "-S", "-o", "-", "-D", "/dev/stderr", "-w", "%{http_code}",
           "--unix-socket", sock, "-X", method, "-H", "Content-Type: application/json",
           "-H", "Expect:", "--max-time", str(timeout)]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    cmd.append("http://localhost" + path)
    p = subprocess.run(cmd, input=data if data is not None else b"", capture_output=True,
                       timeout=timeout + 5)
    out = p.stdout.decode(errors="replace")
    code, body_text = out[-3:], out[:-3]
    if p.returncode != 0 or not code.isdigit() or code == "000":
        raise Failure(f"curl {method} {path} failed (exit {p.returncode}): "
                      f"{p.stderr.decode(errors='replace')[-500:].strip()}")
    heads = {}
    # -D writes every response head (a 100 Continue too); keep the last one's fields.
    for block in p.stderr.decode(errors="replace").split("\r\n\r\n"):
        lines = block.strip("\r\n").split("\r\n")
        if lines and lines[0].startswith("HTTP/"):
            heads = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                heads[k.strip().lower()] = v.strip()
    return Response(int(code), heads, body_text)


def curl(sock, method, path, body=None):
    """(status, body) of one request through curl --unix-socket."""
    r = curl_request(sock, method, path, body)
    return r.status, r.body


def parse_response(data):
    """Splits raw response bytes into (status, headers, body, rest); None if
    incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end].decode(errors="replace").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
    if not m:
        raise Failure(f"not an HTTP response: {data[:200]!r}")
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    if len(data) < end + 4 + n:
        return None
    body = data[end + 4:end + 4 + n]
    return int(m.group(1)), headers, body.decode(errors="replace"), data[end + 4 + n:]


class Conn:
    """A client connection that keeps what it read past one response, so
    pipelined responses are read one at a time."""

    def __init__(self, sock, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # A blocking connect, as most clients make: with the listen backlog
        # full it waits for room (at most SO_SNDTIMEO) instead of failing
        # with EAGAIN, which a non-blocking one (Python's settimeout) does.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                             struct.pack("ll", int(timeout), int(timeout % 1 * 1e6)))
        try:
            self.sock.connect(sock)
        except OSError as e:
            self.sock.close()
            raise Failure(f"cannot connect to {sock}: {e}")
        self.sock.settimeout(timeout)
        self.buf = b""

    def sendall(self, data):
        self.sock.sendall(data)

    def shutdown(self, how):
        self.sock.shutdown(how)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def response(self, timeout=10):
        """Reads one response; returns (Response, closed) where closed says the
        server closed the connection after it (checked only when it said
        Connection: close). Fails if nothing complete arrives within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            got = parse_response(self.buf)
            if got:
                status, headers, body, self.buf = got
                closed = False
                if headers.get("connection", "").lower() == "close":
                    closed = self._reads_eof(deadline)
                return Response(status, headers, body), closed
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise Failure(f"no complete response within {timeout} s; got {self.buf[:300]!r}")
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Failure(f"connection closed before a complete response; got {self.buf[:300]!r}")
            self.buf += chunk

    def _reads_eof(self, deadline):
        try:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, ConnectionResetError):
            return False

    def read_to_eof(self, timeout):
        """Everything until the server closes; fails if it does not within timeout."""
        deadline = time.monotonic() + timeout
        if not self._reads_eof(deadline):
            raise Failure(f"the server kept the connection open for {timeout} s; got {self.buf[:300]!r}")
        return self.buf


def connect(sock, timeout=10):
    return Conn(sock, timeout)


def recv_response(conn, timeout=10):
    return conn.response(timeout)


def raw(sock, data, timeout=10, shut_wr=False):
    """Sends raw bytes on a new connection and reads one response.
    Returns (Response, closed)."""
    with connect(sock, timeout) as s:
        try:
            s.sendall(data)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        return recv_response(s, timeout)


# ---------------------------------------------------------------- checks

def check_error(api, r, status=400, what=""):
    """An error response: the expected status and Firecracker's Error body
    with a non-empty fault_message."""
    check(r.status == status, f"{what}: expected {status} with fault_message, got {r}")
    body = r.json()
    errs = validate(api, {"$ref": "#/definitions/Error"}, body)
    check(not errs, f"{what}: error body does not match Error: {errs}: {r.body!r}")
    check(isinstance(body.get("fault_message"), str) and body["fault_message"].strip(),
          f"{what}: no fault_message: {r.body!r}")
    return body["fault_message"]


def check_documented(api, path_key, method, r, what=""):
    """The status is one the swagger documents for the operation; a 204 has no
    body; an error body (explicit code or 'default') validates against Error;
    a 200 body against the documented definition."""
    op = api["paths"][path_key][method.lower()]
    resp = op["responses"]
    code = str(r.status)
    what = what or f"{method} {path_key}"
    if code in resp:
        schema = resp[code]
    else:
        check("default" in resp and r.status in ERROR_STATUSES,
              f"{what}: status {r.status} is not documented ({sorted(resp)}): {r.body!r}")
        schema = resp["default"]
    if r.status == 204:
        check(r.body == "", f"{what}: 204 with a body: {r.body!r}")
        check("content-length" not in r.headers or r.headers["content-length"] == "0",
              f"{what}: 204 with Content-Length {r.headers.get('content-length')}")
    if schema:
        errs = validate(api, {"$ref": "#/definitions/" + schema}, r.json())
        check(not errs, f"{what}: {r.status} body does not match {schema}: {errs}: {r.body!r}")
    return r


# ---------------------------------------------------------------- schemas

def resolve(api, schema):
    while "$ref" in schema:
        schema = api["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def type_ok(t, v):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    raise Failure(f"schema type {t!r} is not handled by the validator")


def validate(api, schema, value, where="$"):
    """Errors (a list of strings) of value against the swagger subset: type,
    required, enum, minimum/maximum, items, nested $ref, additionalProperties
    false. An optional property may be null: Firecracker serialises absent
    optional sections as null (GET /vm/config)."""
    schema = resolve(api, schema)
    errs = []
    t = schema.get("type")
    if t and not type_ok(t, value):
        return [f"{where}: expected {t}, got {json.dumps(value)[:80]}"]
    if "enum" in schema:
        allowed = schema["enum"]
        ok = value in allowed
        if not ok and schema.get("x-case-insensitive") and isinstance(value, str):
            ok = value.lower() in [a.lower() for a in allowed]
        if not ok:
            errs.append(f"{where}: {value!r} not in {allowed}")
    if t == "integer" or t == "number":
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{where}: {value} > maximum {schema['maximum']}")
    if t == "array":
        for i, item in enumerate(value):
            errs += validate(api, schema.get("items", {}), item, f"{where}[{i}]")
    if t == "object":
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errs.append(f"{where}: missing required {name!r}")
        for name, v in value.items():
            if name in props:
                if v is None and name not in schema.get("required", []):
                    continue
                errs += validate(api, props[name], v, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                errs.append(f"{where}: unexpected property {name!r}")
    return errs


def wrong_value(api, schema):
    """A value of the wrong JSON type for schema."""
    schema = resolve(api, schema)
    return {"string": 12345, "integer": "7", "number": "7", "boolean": "true",
            "object": ["not", "an", "object"], "array": {"not": "an array"}}[schema["type"]]


def example(api, defname, values, optional=()):
    """A body for defname: every required field (and those named in optional),
    nested objects included, from values[field] if given, else plausible
    defaults per type (first enum value, minimum or 1, True, "x")."""
    schema = api["definitions"][defname]
    body = {}
    for name in list(schema.get("required", [])) + [o for o in optional if o in schema["properties"]]:
        body[name] = values[name] if name in values else _plausible(api, schema["properties"][name],
                                                                    values)
    return body


def _plausible(api, schema, values):
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        target = api["definitions"][name]
        if target.get("type") == "object":
            return example(api, name, values)
        schema = target
    if "enum" in schema:
        return schema.get("default", schema["enum"][0])
    t = schema["type"]
    if t == "integer":
        return max(1, schema.get("minimum", 1))
    return {"string": "x", "boolean": True, "array": [], "object": {},
            "number": 1}[t]

# SPDX-License-Identifier: Apache-2.0
"""A CRI runtime.v1 client for the integration tests: python3-grpcio with
protobuf stubs generated at test time by `protoc --python_out` from
proto/runtime/v1/api.proto (no grpc_tools: the methods are called by path).

Call ensure_grpc() first: it re-runs the test under Debian's python3 when
the interpreter found first lacks grpcio (a pyenv one, say), and skips the
test when no interpreter has it."""
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

from harness import skip

SOURCE_DIR = os.environ.get("KVMLET_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PROTO_DIR = os.path.join(SOURCE_DIR, "proto")
SYSTEM_PYTHON = "/usr/bin/python3"
MAX_MESSAGE = 16 * 1024 * 1024  # kubelet's limit, and the agent's


def ensure_grpc():
    try:
        import grpc  # noqa: F401
        import google.protobuf  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.exists(SYSTEM_PYTHON) and os.path.realpath(sys.executable) != \
            os.path.realpath(SYSTEM_PYTHON) and not os.environ.get("KVMLET_CRI_REEXEC"):
        os.environ["KVMLET_CRI_REEXEC"] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, *sys.argv])
    skip("python3-grpcio and python3-protobuf are needed")


def load_api():
    """Generates the runtime.v1 Python module and returns it (api_pb2)."""
    out = tempfile.mkdtemp(prefix="kvmlet-cri-pb-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    subprocess.run(["protoc", f"--python_out={out}", f"-I{PROTO_DIR}", "runtime/v1/api.proto"],
                   check=True)
    sys.path.insert(0, out)
    return importlib.import_module("runtime.v1.api_pb2")


class CriClient:
    """Unary calls to one CRI socket by method path."""

    def __init__(self, sock, api, max_send=MAX_MESSAGE * 2):
        import grpc
        self.grpc = grpc
        self.api = api
        self.channel = grpc.insecure_channel(
            f"unix://{sock}",
            options=[("grpc.max_send_message_length", max_send),
                     ("grpc.max_receive_message_length", MAX_MESSAGE)])

    def close(self):
        self.channel.close()

    def call(self, service, method, request, response_cls, timeout=10):
        """Returns the response; raises grpc.RpcError with .code() on failure."""
        fn = self.channel.unary_unary(f"/runtime.v1.{service}/{method}",
                                      request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=response_cls.FromString)
        return fn(request, timeout=timeout)

    def runtime(self, method, request=None, timeout=10):
        """A RuntimeService call: request defaults to an empty <method>Request."""
        return self._typed("RuntimeService", method, request, timeout)

    def image(self, method, request=None, timeout=10):
        return self._typed("ImageService", method, request, timeout)

    def _typed(self, service, method, request, timeout):
        req_cls, resp_cls = self.types(service, method)
        return self.call(service, method, request if request is not None else req_cls(),
                         resp_cls, timeout)

    def types(self, service, method):
        sd = self.api.DESCRIPTOR.services_by_name[service]
        md = sd.methods_by_name[method]
        return (getattr(self.api, md.input_type.name), getattr(self.api, md.output_type.name))

    def raw(self, path, payload, timeout=10):
        """Sends payload bytes as-is to a method path; returns the reply bytes."""
        fn = self.channel.unary_unary(path, request_serializer=lambda b: b,
                                      response_deserializer=lambda b: b)
        return fn(payload, timeout=timeout)

    def code_of(self, fn, *args, **kw):
        """The gRPC status code a call ends with (StatusCode.OK when it succeeds)."""
        try:
            fn(*args, **kw)
            return self.grpc.StatusCode.OK, ""
        except self.grpc.RpcError as e:
            return e.code(), e.details()

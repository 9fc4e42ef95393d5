"""Builds the jobq package. The API's stubs (jobq/v1/jobq_pb2.py and
jobq_pb2_grpc.py) are generated from proto/jobq/v1/jobq.proto at build
time, with `python3 -m grpc_tools.protoc` when grpc_tools is importable,
else with protoc and grpc_python_plugin (Debian's protobuf-compiler-grpc).
The metadata is in pyproject.toml.
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join("jobq", "v1", "jobq.proto")


def proto_root():
    """The directory holding jobq/v1/jobq.proto: the repository's proto/,
    or $JOBQ_PROTO_DIR."""
    for root in (os.environ.get("JOBQ_PROTO_DIR"),
                 os.path.join(HERE, "proto"),
                 os.path.join(HERE, "..", "..", "proto")):
        if root and os.path.isfile(os.path.join(root, PROTO)):
            return os.path.abspath(root)
    sys.exit("jobq: cannot find proto/jobq/v1/jobq.proto "
             "(build from the jobq repository, or set JOBQ_PROTO_DIR)")


def well_known_root(candidates):
    """The include directory of google/protobuf/duration.proto."""
    for root in candidates:
        if root and os.path.isfile(
                os.path.join(root, "google", "protobuf", "duration.proto")):
            return root
    sys.exit("jobq: cannot find google/protobuf/duration.proto "
             "(apt-get install libprotobuf-dev)")


def generate(out_dir):
    root = proto_root()
    os.makedirs(os.path.join(out_dir, "jobq", "v1"), exist_ok=True)
    try:
        import grpc_tools
        command = [sys.executable, "-m", "grpc_tools.protoc"]
        plugin = []
        includes = [os.path.join(os.path.dirname(grpc_tools.__file__),
                                 "_proto"), "/usr/include"]
    except ImportError:
        protoc = shutil.which("protoc")
        grpc_plugin = shutil.which("grpc_python_plugin")
        if not protoc or not grpc_plugin:
            sys.exit("jobq: needs protoc and grpc_python_plugin "
                     "(apt-get install protobuf-compiler protobuf-compiler-grpc"
                     " libprotobuf-dev) or grpc_tools (python3-grpc-tools)")
        command = [protoc]
        plugin = ["--plugin=protoc-gen-grpc_python=" + grpc_plugin]
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(protoc)))
        includes = [os.path.join(prefix, "include"), "/usr/include",
                    "/usr/local/include"]
    subprocess.check_call(command + plugin + [
        "-I", root, "-I", well_known_root(includes),
        "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
        os.path.join(root, PROTO)])
    init = os.path.join(out_dir, "jobq", "v1", "__init__.py")
    if not os.path.exists(init):
        with open(init, "w") as f:
            f.write('"""Generated from proto/jobq/v1/jobq.proto."""\n')


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate(self.build_lib)


setup(cmdclass={"build_py": BuildWithStubs})

"""Fixtures of the jobq Python package's tests: a real jobqd on 127.0.0.1
port 0, its port read back from its start-up line.

ctest sets JOBQD (the binary) and PYTHONPATH (client/python and the stubs
generated in the build tree); run by hand:
    JOBQD=build/bin/jobqd PYTHONPATH=build/python:client/python \
        /usr/bin/python3 -m pytest tests/python
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import pytest_asyncio

import jobq

JOBQD = os.environ.get("JOBQD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "jobqd")
LISTENING = re.compile(r"listening on [0-9.]+:([0-9]+) \(http ")


class Jobqd:
    """One jobqd process; restart() kills it and starts another on the same
    address and data directory."""

    def __init__(self, data_dir=None, args=()):
        self.data_dir = data_dir
        self.args = list(args)
        self.port = 0
        self.proc = None
        self._lines = []
        self._cv = threading.Condition()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=30.0):
        argv = [JOBQD, "--listen", f"127.0.0.1:{self.port}",
                "--http-listen", "127.0.0.1:0", "--workers", "2"]
        if self.data_dir:
            argv += ["--data-dir", self.data_dir, "--sync", "none"]
        argv += self.args
        lines = []  # This process's output; the last one's reader may
        with self._cv:  # still append to its own list.
            self._lines = lines
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.proc, lines),
                         daemon=True).start()
        m = self.wait_for_log(LISTENING, timeout)
        assert m, "jobqd did not start:\n" + self.log()
        self.port = int(m.group(1))

    def _read(self, proc, lines):
        for line in proc.stdout:
            with self._cv:
                lines.append(line)
                self._cv.notify_all()
        with self._cv:
            lines.append(None)  # The process ended.
            self._cv.notify_all()

    def wait_for_log(self, pattern, timeout=30.0):
        """The first match of `pattern` in jobqd's output, waiting for it
        (None if jobqd exits or `timeout` passes first)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self._lines:
                    if line is None:
                        return None
                    m = pattern.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)

    def log(self):
        with self._cv:
            return "".join(l for l in self._lines if l)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self):
        self.kill()
        self.start()


@pytest.fixture
def jobqd():
    d = Jobqd()
    d.start()
    yield d
    d.kill()


@pytest.fixture
def durable_jobqd():
    data = tempfile.mkdtemp(prefix="jobq-py-")
    d = Jobqd(data_dir=data)
    d.start()
    yield d
    d.kill()
    shutil.rmtree(data, ignore_errors=True)


@pytest_asyncio.fixture
async def client(jobqd):
    async with jobq.Client(jobqd.address) as c:
        yield c

"""A small WebDriver BiDi client for Firefox, enough for the dashboard's
tests: Firefox speaks BiDi itself, so no geckodriver is needed.

Firefox starts headless on a fresh profile with --remote-debugging-port 0
and says where it listens on stderr ("WebDriver BiDi listening on
ws://..."); the client connects to that address's /session, opens a
session, and drives the first browsing context: navigate, evaluate,
call a function, take a screenshot. Console messages and uncaught errors
arrive as log.entryAdded events and are kept.

The websocket client is Debian's python3-websockets (asyncio only in 10.x):
its loop runs on a thread of its own; the methods here are synchronous and
each waits for its answer with a deadline.
"""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time


FIREFOX = os.environ.get("JOBQ_FIREFOX") or shutil.which(
    "firefox-esr") or shutil.which("firefox")
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


class BidiError(Exception):
    pass


class Firefox:
    """Headless Firefox driven over WebDriver BiDi."""

    def __init__(self, width=1280, height=1000, timeout=60):
        if not FIREFOX:
            raise BidiError("no firefox-esr or firefox binary")
        self.timeout = timeout
        self.profile = tempfile.TemporaryDirectory(prefix="jobq-firefox-")
        # Firefox may start again as another process of its own (on a new
        # profile it does): it runs in a process group of its own, which
        # close() ends whole.
        env = dict(os.environ, MOZ_CRASHREPORTER_DISABLE="1")
        self.proc = subprocess.Popen(
            [FIREFOX, "--headless", "--no-remote", "--profile",
             self.profile.name, "--remote-debugging-port", "0",
             "--window-size", f"{width},{height}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=env, start_new_session=True)
        self.stderr = []
        found = threading.Event()
        self.address = None

        def read():
            for line in self.proc.stderr:
                self.stderr.append(line)
                m = LISTENING.search(line)
                if m and not found.is_set():
                    self.address = m[1]
                    found.set()
            found.set()  # Firefox ended without saying.
        threading.Thread(target=read, daemon=True).start()
        if not found.wait(timeout) or self.address is None:
            self.close()
            raise BidiError("Firefox did not start its BiDi server:\n" +
                            "".join(self.stderr))
        self.entries = []  # log.entryAdded events' params.
        self._next_id = 0
        self._pending = {}
        self._ws = None
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        try:
            self._open_session(width, height)
        except Exception:
            self.close()
            raise

    def _open_session(self, width, height):
        # Imported here: without Firefox, the tests skip before needing it.
        import websockets

        async def connect():
            return await websockets.connect(self.address + "/session",
                                            max_size=64 << 20)
        self._ws = self._run(connect())
        asyncio.run_coroutine_threadsafe(self._read(), self._loop)
        self.send("session.new", {"capabilities": {}})
        self.send("session.subscribe", {"events": ["log.entryAdded"]})
        tree = self.send("browsingContext.getTree", {})
        self.context = tree["contexts"][0]["context"]
        self.send("browsingContext.setViewport", {
            "context": self.context,
            "viewport": {"width": width, "height": height}})

    # ---- The protocol. ----

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(
            self.timeout)

    async def _read(self):
        async for raw in self._ws:
            msg = json.loads(raw)
            if "id" in msg:
                future = self._pending.pop(msg["id"], None)
                if future is not None and not future.done():
                    future.set_result(msg)
            elif msg.get("method") == "log.entryAdded":
                self.entries.append(msg["params"])
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BidiError("the connection closed"))

    async def _send(self, method, params):
        self._next_id += 1
        future = self._loop.create_future()
        self._pending[self._next_id] = future
        await self._ws.send(json.dumps(
            {"id": self._next_id, "method": method, "params": params}))
        return await future

    def send(self, method, params):
        """Sends a command and returns its result, or raises BidiError."""
        msg = self._run(self._send(method, params))
        if msg.get("type") == "error":
            raise BidiError(f"{method}: {msg.get('error')}: "
                            f"{msg.get('message')}")
        return msg["result"]

    # ---- What the tests use. ----

    def navigate(self, url):
        self.send("browsingContext.navigate",
                  {"context": self.context, "url": url, "wait": "complete"})

    def evaluate(self, expression):
        """The value of a JavaScript expression (promises awaited)."""
        return self._value(self.send("script.evaluate", {
            "expression": expression, "target": {"context": self.context},
            "awaitPromise": True}))

    def call(self, function, *args):
        """Calls a function declaration with JSON-like arguments."""
        return self._value(self.send("script.callFunction", {
            "functionDeclaration": function,
            "arguments": [_local(a) for a in args],
            "target": {"context": self.context}, "awaitPromise": True}))

    def wait_until(self, expression, timeout=20, what=None):
        """Waits in the page until a JavaScript expression is truthy (it is
        checked again at every animation frame, within `timeout` seconds)
        and returns its value (True for an element)."""
        value = self.evaluate(
            "new Promise((resolve) => {"
            f" const end = performance.now() + {timeout * 1000};"
            " const check = () => {"
            "  let v = null;"
            f"  try {{ v = ({expression}); }} catch (e) {{ v = null; }}"
            "  if (v instanceof Node) v = true;"
            "  if (v || performance.now() > end) resolve(v || null);"
            "  else requestAnimationFrame(check);"
            " };"
            " check();"
            "})")
        if not value:
            raise AssertionError(f"timed out waiting for {what or expression}")
        return value

    def screenshot(self, path):
        shot = self.send("browsingContext.captureScreenshot",
                         {"context": self.context})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def errors(self):
        """Console errors and uncaught exceptions seen so far."""
        return [e for e in self.entries if e.get("level") == "error"]

    def close(self):
        """Closes the browser and ends every process of its group."""
        if getattr(self, "_ws", None) is not None:
            try:
                self.send("browser.close", {})
            except Exception:  # Ended below anyway.
                pass
            try:
                self._run(self._ws.close())
            except Exception:
                pass
            self._ws = None
        if getattr(self, "_loop", None) is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        group = self.proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            if _group_ended(self.proc, group, 20):
                break
        self.profile.cleanup()

    @staticmethod
    def _value(result):
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BidiError("script threw: " + str(details.get("text")))
        return _remote(result["result"])


def _group_ended(proc, group, timeout):
    """Waits up to `timeout` seconds for every process of `group` to end
    (the one started is reaped; others are Firefox's own, reparented)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)  # No event tells when another's process ends.
    return False


def _local(v):
    """A Python value as a BiDi LocalValue."""
    if v is None:
        return {"type": "null"}
    if isinstance(v, bool):
        return {"type": "boolean", "value": v}
    if isinstance(v, (int, float)):
        return {"type": "number", "value": v}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    if isinstance(v, (list, tuple)):
        return {"type": "array", "value": [_local(x) for x in v]}
    if isinstance(v, dict):
        return {"type": "object",
                "value": [[k, _local(x)] for k, x in v.items()]}
    raise TypeError(f"no BiDi form for {type(v)}")


def _remote(r):
    """A BiDi RemoteValue as a Python value (nodes and the like as None)."""
    t = r.get("type")
    if t in ("undefined", "null"):
        return None
    if t in ("string", "boolean"):
        return r["value"]
    if t == "number":
        v = r["value"]
        if isinstance(v, str):  # NaN, -0, Infinity.
            return float(v.replace("Infinity", "inf")) if v != "NaN" else None
        return v
    if t in ("array", "set"):
        return [_remote(x) for x in r.get("value", [])]
    if t == "object":
        return {k if isinstance(k, str) else str(_remote(k)): _remote(x)
                for k, x in r.get("value", [])}
    return None

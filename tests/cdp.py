"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no websocket library, no
Playwright): enough to load a page, press keys, click, read the DOM and receive a download, in headless Chromium."""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any



def wait_for_file(path: Path, timeout: float = 10.0) -> bool:
    """Whether a download reached ``path`` with some content within ``timeout`` seconds (a page's export)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            return True
        time.sleep(0.1)
    return path.exists() and path.stat().st_size > 0

def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


KEYS = {"ArrowRight": 39, "ArrowLeft": 37, "Backspace": 8}


class Browser:
    """One headless Chromium with one page attached (``send`` talks to the page, ``browser`` to the browser)."""

    def __init__(self, exe: str, profile: Path, timeout: float = 30.0):
        self.timeout = timeout
        cmd_r, self._cmd_w = os.pipe()  # we write commands, Chromium reads them on fd 3
        self._res_r, res_w = os.pipe()  # Chromium writes results on fd 4

        def fds() -> None:  # runs in the child before exec
            import fcntl

            # copies above fd 9 first: in a process with few open files a pipe end may already be fd 3 or 4, and
            # dup2 onto itself keeps close-on-exec (or the other end's dup2 overwrites it)
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--hide-scrollbars", "--window-size=1400,1800", f"--user-data-dir={profile}",
             "about:blank"], preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.browser("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.browser("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")

    # -- transport ---------------------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._res_r], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._res_r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _call(self, method: str, session: str | None, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def browser(self, method: str, **params: Any) -> dict[str, Any]:
        return self._call(method, None, params)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self._call(method, self.session, params)

    # -- conveniences ------------------------------------------------------------------------------------
    def wait_event(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def goto(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def open_page(self, url: str) -> str:
        """A second page (a tab of the same browser profile) loaded at ``url``; its session id, for ``js`` and
        ``press``."""
        target = self.browser("Target.createTarget", url="about:blank")["targetId"]
        session = self.browser("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self._call("Page.enable", session, {})
        self.events.clear()
        self._call("Page.navigate", session, {"url": url})
        self.wait_event("Page.loadEventFired")
        return session

    def js(self, expression: str, session: str | None = None) -> Any:
        r = self._call("Runtime.evaluate", session or self.session,
                       {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def press(self, key: str, session: str | None = None) -> None:
        code = KEYS.get(key)
        down: dict[str, Any] = {"type": "keyDown", "key": key}
        if code is None:
            down.update(text=key, code=f"Key{key.upper()}", windowsVirtualKeyCode=ord(key.upper()))
        else:
            down.update(code=key, windowsVirtualKeyCode=code)
        session = session or self.session
        self._call("Input.dispatchKeyEvent", session, down)
        self._call("Input.dispatchKeyEvent", session, {"type": "keyUp", "key": key, "code": down["code"],
                                                       "windowsVirtualKeyCode": down["windowsVirtualKeyCode"]})

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the first element matching ``selector`` (scrolled into view)."""
        box = self.js(f"(function(){{var e=document.querySelector({json.dumps(selector)}); e.scrollIntoView("
                      f"{{block:'center'}}); var r=e.getBoundingClientRect(); return [r.left+r.width/2, "
                      f"r.top+r.height/2];}})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        try:
            self.browser("Browser.close")
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._cmd_w)
        os.close(self._res_r)

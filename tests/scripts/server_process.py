"""The server binary as a child process of a test, on a loopback port of its
own with plain HTTP, and what the Python tests share: HTTP calls with Basic
auth, each answer checked against docs/openapi.yaml, and checks the machine
cannot run."""

import base64
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from openapi_check import check_response

USER = "viewer@example.com"
ADMIN = "admin@example.com"
PASSWORD = "test-password"


def cannot_check_here(reason):
    """A check the machine cannot run: fails where CI=true, else is skipped."""
    if os.environ.get("CI") == "true":
        sys.exit(f"FAIL: {reason} (CI=true: a CI machine must run this check)")
    print(f"WARNING: {reason}; skipped", file=sys.stderr)
    sys.exit(0)


def stop_group(process, within=10):
    """Stops a child started in a session of its own, and all its group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(within)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Server:
    """The server binary on a free loopback port, with an admin and a viewer
    and the given action types ({name: argv}): plain HTTP, or with `tls`
    HTTPS with its own self-signed certificate (`certificate`)."""

    def __init__(self, binary, actions, tls=False):
        self.dir = tempfile.TemporaryDirectory(prefix="cluster-actions-py-")
        data_dir = os.path.join(self.dir.name, "data")
        self.certificate = os.path.join(data_dir, "server-cert.pem")
        config = {
            "listen": "127.0.0.1:0",
            "data_dir": data_dir,
            "users": [
                {"email": ADMIN, "password": PASSWORD, "role": "admin"},
                {"email": USER, "password": PASSWORD, "role": "cluster_viewer"},
            ],
            "actions": {name: {"command": argv} for name, argv in actions.items()},
        }
        if not tls:
            config["tls"] = False
        path = os.path.join(self.dir.name, "config.json")
        with open(path, "w") as out:
            json.dump(config, out)
        self.process = subprocess.Popen(
            [binary, "--config", path], stdout=subprocess.PIPE,
            start_new_session=True, text=True)
        self.url = self._listening_url(deadline=time.monotonic() + 30)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _listening_url(self, deadline):
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [],
                                        deadline - time.monotonic())
            if not ready:
                break
            line = self.process.stdout.readline()
            if not line:
                break
            if line.startswith("listening on "):
                return line.split()[2]
        stop_group(self.process)
        sys.exit("FAIL: the server did not say where it listens")

    def close(self):
        stop_group(self.process)
        self.process.stdout.close()
        self.dir.cleanup()
        # SIGTERM is a clean shutdown: anything else (a crash, a sanitizer's
        # report) fails the test, unless it is failing already.
        if self.process.returncode != 0 and sys.exc_info()[0] is None:
            sys.exit(f"FAIL: the server exited with {self.process.returncode}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, method, path, user=ADMIN, headers=None, body=None):
        """(status, headers, body bytes) of one request."""
        request = urllib.request.Request(self.url + path, method=method,
                                         data=body)
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", "Basic " + token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=90) as response:
                status, headers, content = (response.status, response.headers,
                                            response.read())
        except urllib.error.HTTPError as error:
            status, headers, content = error.code, error.headers, error.read()
        # Every answer a test receives must be what docs/openapi.yaml says.
        check_response(method, path, status, headers.get("Content-Type"),
                       content)
        return status, headers, content

    def wait_for_status(self, name, wanted, within=30):
        """Waits, with Prefer: wait, until the run of `name` has a status in
        `wanted`; returns its action object."""
        deadline = time.monotonic() + within
        tag = ""
        while time.monotonic() < deadline:
            status, headers, body = self.call(
                "GET", "/v1/cluster/actions/" + name,
                headers={"If-None-Match": tag, "Prefer": "wait=5"} if tag else {})
            if status == 200:
                action = json.loads(body)
                if action["status"] in wanted:
                    return action
                tag = headers["ETag"]
            elif status != 304:
                sys.exit(f"FAIL: GET of {name}: {status} {body!r}")
        sys.exit(f"FAIL: {name} did not reach {wanted} in time")

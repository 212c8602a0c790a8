"""The cluster-actions command against the real server: output, exit codes
(0 completed, 1 failed, 2 usage or unknown action, 3 cancelled or aborted,
4 timed out, 5 connection or authentication, 130 Ctrl-C), one line per
change off a terminal, and the progress bar on a pseudo-terminal (script,
from util-linux)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from server_process import ADMIN, PASSWORD, Server, cannot_check_here

STEP = ["/bin/sh", "-c",
        "for i in 1 2 3; do sleep 0.3; echo progress: $((i * 30)); done"]
GATED = ["/bin/sh", "-c", "touch gate; while [ -e gate ]; do sleep 0.05; done"]


def main(server_binary, cli):
    with Server(server_binary, {"step": STEP, "gated": GATED,
                                "failing": ["/bin/false"],
                                "unstartable": ["/nonexistent/command"]}) as server:
        env = dict(os.environ, CLUSTER_ACTIONS_URL=server.url,
                   CLUSTER_ACTIONS_USER=ADMIN, CLUSTER_ACTIONS_PASSWORD=PASSWORD)

        def run(*args, wanted, extra_env=None):
            result = subprocess.run([cli, *args], env=dict(env, **(extra_env or {})),
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == wanted, (args, result)
            return result

        assert run("list", wanted=0).stdout.startswith(
            "NAME  STATUS  PROGRESS  STARTED  TOOK  NODE  ERROR\n")

        # Off a terminal: one line per change, and the exit code of the end.
        lines = run("start", "step", "--wait", wanted=0).stdout.splitlines()
        assert lines[-1].endswith("step completed 100.0%"), lines
        assert any("running 30.0%" in line for line in lines), lines
        assert len(lines) == len(set(line[6:] for line in lines)), lines
        listed = run("list", wanted=0).stdout
        assert "step  completed  100.0%" in listed, listed
        shown = json.loads(run("get", "step", "--json", wanted=0).stdout)
        assert shown["status"] == "completed"
        run("wait", "step", wanted=0)  # already ended: at once
        run("start", "failing", "--wait", wanted=1)
        run("start", "unstartable", "--wait", wanted=3)
        run("start", "no_such_action", wanted=2)
        run("start", "step", "x=1", wanted=2)  # an undeclared parameter
        run("frobnicate", wanted=2)
        run("nodes", wanted=2)  # this server has no /v1/nodes

        # Timed out, cancelled, and Ctrl-C: the run goes on.
        run("start", "gated", wanted=0)
        timed_out = run("wait", "gated", "--timeout", "1", wanted=4)
        assert "did not end within 1 s" in timed_out.stderr
        waiting = subprocess.Popen([cli, "wait", "gated"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        # Once it has shown the run running, it waits for the run's end.
        for line in waiting.stdout:
            if "gated running" in line:
                break
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(10) == 130
        assert "the run goes on" in waiting.stderr.read()
        waiting.stdout.close()
        waiting.stderr.close()
        assert json.loads(run("get", "gated", "--json", wanted=0).stdout)[
            "status"] == "running"
        run("cancel", "gated", "--wait", wanted=3)

        # Connection and authentication errors say which.
        wrong = run("list", wanted=5, extra_env={"CLUSTER_ACTIONS_PASSWORD": "no"})
        assert "authentication failed" in wrong.stderr, wrong.stderr
        refused = run("--url", "http://127.0.0.1:1", "list", wanted=5)
        assert "cannot connect" in refused.stderr, refused.stderr
        untrusted = run("--url", f"https://127.0.0.1:{server.port}", "list",
                        wanted=5)
        assert "TLS" in untrusted.stderr, untrusted.stderr

        # On a terminal: the bar, redrawn in place.
        if shutil.which("script") is None:
            cannot_check_here("no script (Debian package bsdutils)")
        frame = subprocess.run(
            ["script", "-qec", f"'{cli}' start step --wait", "/dev/null"],
            env=env, capture_output=True, timeout=60)
        assert frame.returncode == 0, frame
        # Bytes: text mode would turn the carriage returns into newlines.
        redraws = frame.stdout.decode().split("\r\x1b[2K")
        assert len(redraws) >= 3, frame.stdout
        final = redraws[-1].strip()
        assert final.startswith("step [" + "#" * 30 + "] 100.0%  completed  00:0"), final
        assert any("%  running  00:0" in redraw for redraw in redraws), redraws
        print("terminal frames:", *redraws[1:], sep="\n  ")

    # Over HTTPS: the server's certificate trusted through --cacert (or
    # CLUSTER_ACTIONS_CACERT), and refused without it.
    with Server(server_binary, {"step": STEP}, tls=True) as server:
        assert server.url.startswith("https://")
        env = dict(os.environ, CLUSTER_ACTIONS_URL=server.url,
                   CLUSTER_ACTIONS_USER=ADMIN, CLUSTER_ACTIONS_PASSWORD=PASSWORD)
        trusted = subprocess.run(
            [cli, "start", "step", "--wait", "--cacert", server.certificate],
            env=env, capture_output=True, text=True, timeout=60)
        assert trusted.returncode == 0, trusted
        from_env = subprocess.run(
            [cli, "list"], env=dict(env, CLUSTER_ACTIONS_CACERT=server.certificate),
            capture_output=True, text=True, timeout=60)
        assert from_env.returncode == 0 and "step  completed" in from_env.stdout, from_env
        untrusted = subprocess.run([cli, "list"], env=env, capture_output=True,
                                   text=True, timeout=60)
        assert untrusted.returncode == 5, untrusted
        assert "not trusted" in untrusted.stderr, untrusted.stderr
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""GET /metrics checked by promtool, and scraped by a real Prometheus server
(started here on loopback, basic_auth in its scrape config) whose query API
must then give back a value the server counted."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from server_process import PASSWORD, USER, Server, cannot_check_here, stop_group


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def promtool_accepts(text):
    result = subprocess.run(["promtool", "check", "metrics"], input=text,
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        sys.exit(f"FAIL: promtool check metrics: {result.stdout}{result.stderr}")


def query(prometheus_url, expression):
    url = prometheus_url + "/api/v1/query?" + urllib.parse.urlencode(
        {"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)["data"]["result"]
    except OSError:
        return []  # not up yet


def main(server_binary):
    for tool in ("promtool", "prometheus"):
        if shutil.which(tool) is None:
            cannot_check_here(f"no {tool} (Debian package prometheus)")
    with Server(server_binary, {"quick": ["/bin/true"],
                                "unstartable": ["/nonexistent/command"]}) as server:
        for name in ("quick", "unstartable"):
            status, _, body = server.call("POST", "/v1/cluster/actions/" + name)
            assert status == 200, body
            server.wait_for_status(name, {"completed", "aborted"})
        status, headers, body = server.call("GET", "/metrics", user=USER)
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = body.decode()
        promtool_accepts(text)
        assert 'cluster_actions_runs_started_total{action="quick"} 1\n' in text
        assert "cluster_actions_command_spawn_failures_total 1\n" in text

        with tempfile.TemporaryDirectory(prefix="prometheus-test-") as scratch:
            config = os.path.join(scratch, "prometheus.yml")
            with open(config, "w") as out:
                out.write(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: cluster-actions
    scrape_interval: 1s
    scrape_timeout: 1s
    basic_auth:
      username: "{USER}"
      password: "{PASSWORD}"
    static_configs:
      - targets: ["127.0.0.1:{server.port}"]
""")
            port = free_port()
            prometheus = subprocess.Popen(
                ["prometheus", "--config.file=" + config,
                 "--storage.tsdb.path=" + os.path.join(scratch, "data"),
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=open(
                    os.path.join(scratch, "log"), "w"),
                start_new_session=True)
            try:
                url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                wanted = 'cluster_actions_runs_started_total{action="quick"}'
                while True:
                    result = query(url, wanted)
                    if result:
                        break
                    if prometheus.poll() is not None or time.monotonic() > deadline:
                        with open(os.path.join(scratch, "log")) as log:
                            sys.exit("FAIL: Prometheus read no value in time:\n"
                                     + log.read()[-3000:])
                    time.sleep(0.2)  # poll interval
                value = result[0]["value"][1]
                assert value == "1", result
                print(f"Prometheus read {wanted} = {value}")
            finally:
                stop_group(prometheus)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])

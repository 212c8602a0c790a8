"""GET /v1/openapi.json serves docs/openapi.yaml, without authentication;
every documented operation is called, and every answer (bodies of success
and of each error) validates against the document (server_process checks
each one)."""

import json
import sys

from openapi_check import CHECKED, DOCUMENT, documented_operations
from server_process import USER, Server

ACTIONS = "/v1/cluster/actions"


def main(server_binary):
    with Server(server_binary, {
            "quick": ["/bin/true"],
            "gated": ["/bin/sh", "-c",
                      "touch gate; while [ -e gate ]; do sleep 0.05; done"],
            "failing": ["/bin/false"]}) as server:
        call = server.call
        status, _, body = call("GET", "/v1/openapi.json", user="nobody@x")
        assert status == 200
        assert json.loads(body) == DOCUMENT, "the served document differs"

        status, headers, _ = call("GET", ACTIONS)
        assert status == 200
        tag = headers["ETag"]
        assert call("GET", ACTIONS, headers={"If-None-Match": tag})[0] == 304
        assert call("GET", ACTIONS, headers={"If-None-Match": tag,
                                             "Prefer": "wait=1"})[0] == 304
        assert call("GET", ACTIONS, user="nobody@x")[0] == 401
        assert call("POST", ACTIONS)[0] == 405
        assert call("GET", "/v1/nowhere")[0] == 404

        assert call("POST", ACTIONS + "/quick")[0] == 200
        server.wait_for_status("quick", {"completed"})
        assert call("POST", ACTIONS + "/failing")[0] == 200
        server.wait_for_status("failing", {"failed"})
        assert call("GET", ACTIONS)[0] == 200
        assert call("GET", ACTIONS + "/quick")[0] == 200
        assert call("GET", ACTIONS + "/nothing")[0] == 404
        assert call("POST", ACTIONS + "/nothing")[0] == 400
        assert call("POST", ACTIONS + "/quick", body=b"[1]")[0] == 400
        assert call("POST", ACTIONS + "/quick", body=b'{"x": 1}')[0] == 400
        assert call("POST", ACTIONS + "/gated")[0] == 200
        assert call("POST", ACTIONS + "/gated")[0] == 409
        assert call("DELETE", ACTIONS + "/gated", user=USER)[0] == 403
        assert call("DELETE", ACTIONS + "/gated")[0] == 200
        server.wait_for_status("gated", {"cancelled"})
        assert call("DELETE", ACTIONS + "/gated")[0] == 200
        assert call("DELETE", ACTIONS + "/gated")[0] == 404
        assert call("GET", "/metrics", user=USER)[0] == 200
        assert call("GET", "/metrics", user="nobody@x")[0] == 401

    missing = documented_operations() - CHECKED
    assert not missing, f"documented operations never called: {missing}"
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])

"""Checks every response the C++ HTTP suites recorded (tests/response_log.hpp)
against docs/openapi.yaml; fails on the first one the document does not
describe, and when nothing was recorded (the suites did not run)."""

import json
import sys

from openapi_check import check_response


def main(path):
    checked = 0
    with open(path, encoding="utf-8") as lines:
        for number, text in enumerate(lines, 1):
            line = json.loads(text)
            try:
                check_response(line["method"], line["path"], line["status"],
                               line["content_type"],
                               line["body"].encode("utf-8"))
            except AssertionError as problem:
                sys.exit(f"{path}:{number}: {problem}")
            checked += 1
    if checked == 0:
        sys.exit(f"{path}: no responses were recorded")
    print(f"{checked} recorded responses match docs/openapi.yaml")


if __name__ == "__main__":
    main(sys.argv[1])

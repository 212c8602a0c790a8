"""Writes a C++ source defining cluster_actions::http::openapi_json(): the
OpenAPI document (YAML, the source of truth) as compact JSON. Run by the
build (Debian's python3 and python3-yaml); nothing is downloaded."""

import json
import sys

import yaml


def main(source, target):
    with open(source) as text:
        document = json.dumps(yaml.safe_load(text), separators=(",", ":"),
                              ensure_ascii=False)
    delimiter = "openapi"
    assert f"){delimiter}\"" not in document
    with open(target, "w") as out:
        out.write(
            "// Generated from docs/openapi.yaml by cmake/embed_openapi.py.\n"
            "#include \"http/openapi_document.hpp\"\n\n"
            "namespace cluster_actions::http {\n\n"
            "std::string_view openapi_json() {\n"
            f"  return R\"{delimiter}({document}){delimiter}\";\n"
            "}\n\n"
            "} // namespace cluster_actions::http\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Checks a response against docs/openapi.yaml: the operation must document
its status, and a JSON body must validate against the documented schema
(python3-jsonschema, Draft 2020-12, as OpenAPI 3.1 uses)."""

import json
import os
import re

import jsonschema
import yaml

DOCUMENT_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                             "openapi.yaml")

with open(DOCUMENT_PATH) as text:
    DOCUMENT = yaml.safe_load(text)

# (method, path template) of every response checked, for coverage.
CHECKED = set()


def node_ref_parts(ref):
    assert ref.startswith("#/"), ref
    return [part.replace("~1", "/").replace("~0", "~")
            for part in ref[2:].split("/")]


def resolved(node):
    """`node`, with a top-level $ref followed (repeatedly)."""
    while isinstance(node, dict) and "$ref" in node:
        target = DOCUMENT
        for part in node_ref_parts(node["$ref"]):
            target = target[part]
        node = target
    return node


def template_of(path):
    """The documented path template that `path` (no query) matches."""
    for template in DOCUMENT["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+",
                               re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return None


def check_response(method, path, status, content_type, body):
    """Raises AssertionError when the response is not what the document
    says."""
    path = path.split("?", 1)[0]
    template = template_of(path)
    if template is None:
        # Outside the API: only the error body is promised.
        schema = DOCUMENT["components"]["schemas"]["Error"]
        _validate(json.loads(body), schema, f"{method} {path} {status}")
        return
    operation = DOCUMENT["paths"][template].get(method.lower())
    if operation is None:
        assert status == 405, f"{method} {path}: {status}, not documented"
        schema = DOCUMENT["components"]["schemas"]["Error"]
        _validate(json.loads(body), schema, f"{method} {path} {status}")
        return
    responses = operation["responses"]
    response = responses.get(str(status))
    assert response is not None, (
        f"{method} {template}: status {status} is not documented")
    response = resolved(response)
    CHECKED.add((method.upper(), template))
    content = response.get("content")
    if not content:
        assert not body, f"{method} {template} {status}: unexpected body"
        return
    media = (content_type or "").split(";")[0].strip()
    assert media in content, (
        f"{method} {template} {status}: {media!r} is not documented")
    schema = content[media].get("schema", {})
    value = json.loads(body) if media == "application/json" else body.decode()
    _validate(value, schema, f"{method} {template} {status}")


def _validate(value, schema, where):
    # References resolve against the whole document (#/components/...).
    validator = jsonschema.Draft202012Validator(
        resolved(schema), resolver=jsonschema.RefResolver.from_schema(DOCUMENT))
    errors = sorted(validator.iter_errors(value), key=str)
    assert not errors, f"{where}: {errors[0].message} in {value!r}"


def documented_operations():
    return {(method.upper(), template)
            for template, item in DOCUMENT["paths"].items()
            for method in item if method in ("get", "post", "delete", "put",
                                             "patch")}

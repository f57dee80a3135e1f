"""Checks real responses against api/openapi.yaml: the schema of the operation's documented
status and content type must validate the body."""
import json
import os
import subprocess

import jsonschema
import yaml

with open(os.environ["WHERELOG_OPENAPI"]) as f:
    SPEC = yaml.safe_load(f)

_resolver = jsonschema.RefResolver(base_uri="", referrer=SPEC)


def _resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        obj = _resolver.resolve(obj["$ref"])[1]
    return obj


def operation(path, method):
    item = SPEC["paths"].get(path)
    assert item is not None, "path %s is not in api/openapi.yaml" % path
    op = item.get(method.lower()) or (item.get("get") if method in ("POST", "HEAD") and
                                       path.startswith("/api/0/") else None)
    assert op is not None, "%s %s is not in api/openapi.yaml" % (method, path)
    return op


def check(path, method, response, drop_required=False):
    """Validates a harness.Response; returns the parsed JSON body (or None)."""
    op = operation(path, method)
    status = str(response.status)
    doc = op["responses"].get(status)
    if doc is None and status in ("401", "429"):  # any operation, when sign-in is on
        doc = SPEC["components"]["responses"][
            "Unauthorized" if status == "401" else "TooManyFailures"]
    doc = _resolve(doc)
    assert doc is not None, "%s %s: status %s is not documented" % (method, path, status)
    ctype = (response.header("content-type") or "").split(";")[0].strip()
    content = doc.get("content")
    if not content:
        return None
    assert ctype in content, "%s %s %s: content type %s not documented (%s)" % (
        method, path, status, ctype, list(content))
    schema = content[ctype].get("schema")
    if schema is None or ctype not in ("application/json", "application/geo+json"):
        return None
    body = json.loads(response.body)
    schema = dict(schema)
    if drop_required:
        schema = _without_required(_deref_all(schema))
    jsonschema.Draft202012Validator(schema, resolver=_resolver).validate(body)
    return body


def _deref_all(node):
    node = _resolve(node)
    if isinstance(node, dict):
        return {k: _deref_all(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_deref_all(v) for v in node]
    return node


def _without_required(node):
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


HTTP_METHODS = ("get", "head", "post", "put", "delete", "options", "patch")


def routes():
    """The server's route table (src/route.c), as printed by tests/tools/wl_routes.c."""
    out = subprocess.run([os.environ["WL_ROUTES"]], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def route_problems():
    """Where the route table and api/openapi.yaml disagree: every endpoint (a row with an exact
    path) is documented with the methods it takes, every documented path and method is served,
    and only the routes the spec opens to everyone (security [{}]) take callers without
    sign-in. Returns a list of sentences, empty when they agree."""
    problems = []
    table = {r["path"]: r for r in routes() if not r["prefix"]}
    # A templated path (/api/0/places/{id}) is served by the API prefix row before its
    # parameter (/api/0/places/).
    for r in routes():
        if r["prefix"] and r["door"] == "api":
            for path in SPEC["paths"]:
                if "{" in path and path[:path.index("{")] == r["path"]:
                    table[path] = r
    for path, row in table.items():
        item = SPEC["paths"].get(path)
        if item is None:
            problems.append("route %s is not in api/openapi.yaml" % path)
            continue
        for method in row["methods"]:
            if method == "HEAD":  # answered like GET wherever GET is
                continue
            try:
                operation(path, method)
            except AssertionError as e:
                problems.append(str(e))
        for method in item:
            if method in HTTP_METHODS and method.upper() not in row["methods"]:
                problems.append("%s %s is documented but the route does not take it" %
                                (method.upper(), path))
        open_to_all = any(op.get("security") == [{}] for m, op in item.items()
                          if m in HTTP_METHODS)
        if open_to_all != row["anyone"]:
            problems.append("%s: the spec says %s, the route %s" % (
                path, "open to everyone" if open_to_all else "signed in",
                "takes anyone" if row["anyone"] else "needs sign-in"))
    for path in SPEC["paths"]:
        if path not in table:
            problems.append("%s is documented but no route serves it" % path)
    return problems

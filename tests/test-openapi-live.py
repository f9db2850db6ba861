"""Checks the running service against data/openapi.json: GET /openapi.json
serves the document; every documented example request is sent and its
response validated against the documented status, content type and schema;
every method the document does not list gets 405 with the documented Allow;
the refusals any request can meet (a bad query, headers or body over the
limits, a foreign Host, a missing token) are documented on every operation;
WebSocket frames are validated against the Event schema; error documents
follow Accept-Language."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import jsonschema
import requests
import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from desktop_daemon import Daemon, wait_until  # noqa: E402

SOURCE_ROOT = os.environ["SOURCE_ROOT"]
DOC = json.load(open(os.path.join(SOURCE_ROOT, "data", "openapi.json"), encoding="utf-8"))
RESOLVER = jsonschema.RefResolver.from_schema(DOC)
FORMATS = jsonschema.FormatChecker()
failures = []
checked = 0


@FORMATS.checks("date-time", raises=ValueError)
def is_datetime(value):
    if not isinstance(value, str):
        return True
    from datetime import datetime
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not (value.endswith("Z") or value[-6] in "+-"):
        raise ValueError("no time zone")
    return True


def fail(message):
    failures.append(message)
    print("FAIL:", message)


def validate(instance, schema, where):
    global checked
    validator = jsonschema.Draft202012Validator(schema, resolver=RESOLVER, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    checked += 1
    for error in errors[:3]:
        fail(f"{where}: {error.message} at {list(error.absolute_path)}")
    return not errors


# for each named schema an object response met: how many objects, and how many
# of them had each member
seen_members = {}


def walk_members(instance, schema, where, name=None):
    """Each object member of @instance is one its schema documents: the schemas
    allow more members, so a field the document leaves out would otherwise go
    unnoticed. Counts the members of each named schema for check_required()."""
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"]
        schema = resolve(schema)
    if not isinstance(schema, dict):
        return
    for key in ("oneOf", "anyOf"):
        for choice in schema.get(key, []):
            validator = jsonschema.Draft202012Validator(choice, resolver=RESOLVER)
            if validator.is_valid(instance):
                walk_members(instance, choice, where, name)
                return
    if isinstance(instance, dict) and "properties" in schema:
        undocumented = sorted(set(instance) - set(schema["properties"]))
        if undocumented and schema.get("additionalProperties") is None:
            fail(f"{where}: members {undocumented} are not documented")
        if name is not None:
            counts = seen_members.setdefault(name, {"objects": 0, "members": {}})
            counts["objects"] += 1
            for member in instance:
                counts["members"][member] = counts["members"].get(member, 0) + 1
        for member, value in instance.items():
            if member in schema["properties"]:
                walk_members(value, schema["properties"][member], f"{where}.{member}")
    elif isinstance(instance, list) and "items" in schema:
        for item in instance:
            walk_members(item, schema["items"], where)


# members that every answer here has, but not every answer can have: a problem
# detail where there is nothing to add to the title, an action parameter's
# description where an extension's action gives none
OPTIONAL = {"#/components/schemas/Problem": {"detail"},
            "#/components/schemas/ActionParameter": {"description"}}


def check_required():
    """A member every answer had is one the document says is always there."""
    for name, counts in sorted(seen_members.items()):
        schema = resolve({"$ref": name})
        always = {m for m, n in counts["members"].items() if n == counts["objects"]}
        always -= OPTIONAL.get(name, set())
        optional = sorted(always - set(schema.get("required", [])))
        if optional:
            fail(f"{name}: {optional} came in all {counts['objects']} answers but are not required")


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        _, node = RESOLVER.resolve(node["$ref"])
    return node


# the response headers a client acts on: each one an answer carries is listed
# for its status
CONTRACT_HEADERS = ("Location", "Link", "X-Total-Count", "Retry-After", "Allow", "ETag",
                    "Last-Modified", "Cache-Control", "WWW-Authenticate", "Accept-Encoding",
                    "Access-Control-Allow-Origin")


def check_header_value(value, spec, where):
    """A header's value is one its documented schema allows (read as a number
    where the schema wants one)."""
    schema = spec.get("schema", {})
    if schema.get("type") == "integer":
        if not value.isdigit():
            fail(f"{where}: {value!r} is not an integer")
            return
        value = int(value)
    validate(value, schema, where)


def check_response(method, path_template, operation, response, where):
    responses = operation["responses"]
    status = str(response.status_code)
    if status not in responses:
        fail(f"{where}: status {status} is not documented ({sorted(responses)}): {response.text[:200]}")
        return
    documented = resolve(responses[status])
    for header, spec in documented.get("headers", {}).items():
        # Link only while more pages follow
        if header != "Link" and header not in response.headers:
            fail(f"{where}: no {header} header")
        elif header in response.headers:
            check_header_value(response.headers[header], resolve(spec), f"{where} {header}")
    undocumented = sorted(h for h in CONTRACT_HEADERS
                          if h in response.headers and h not in documented.get("headers", {}))
    if undocumented:
        fail(f"{where}: {status} sends {undocumented}, which the document does not list")
    content = documented.get("content")
    if not content:
        return
    media = response.headers.get("Content-Type", "").split(";")[0].strip()
    if media not in content:
        fail(f"{where}: Content-Type {media} is not documented ({sorted(content)})")
        return
    if status == "201" and "Location" in response.headers:
        body = response.json()
        first = body[0] if isinstance(body, list) and body else body
        if response.headers["Location"] != "/tasks/" + urllib.parse.quote(str(first.get("id")), safe=""):
            fail(f"{where}: Location {response.headers['Location']} is not that of the (first) task")
    if media.endswith("json") and method != "HEAD":
        if validate(response.json(), content[media]["schema"], where):
            walk_members(response.json(), content[media]["schema"], where)
        if media == "application/problem+json" and response.json().get("status") != response.status_code:
            fail(f"{where}: the problem document says status {response.json().get('status')}")


def parameters_of(path_item, operation):
    params = [resolve(p) for p in path_item.get("parameters", []) + operation.get("parameters", [])]
    return params


def send(url, method, path_template, path_item, operation, ids, body=None, label=""):
    params = parameters_of(path_item, operation)
    path = path_template
    query = {}
    for param in params:
        if param["in"] == "path":
            value = ids.get(param["name"], param.get("example"))
            path = path.replace("{" + param["name"] + "}", urllib.parse.quote(str(value), safe=""))
        elif param["in"] == "query" and "example" in param:
            query[param["name"]] = param["example"]
    where = f"{method} {path_template}{' ' + label if label else ''}"
    response = requests.request(method, url + path, params=query,
                                json=body if body is not None else None, timeout=15)
    check_response(method, path_template, operation, response, where)
    return response


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def operations():
    """(template, method, operation) of every documented operation, HEAD with
    each GET but a WebSocket upgrade's"""
    for template, item in DOC["paths"].items():
        for method in METHODS:
            operation = item.get(method.lower())
            if method == "HEAD" and "get" in item and "101" not in item["get"]["responses"]:
                operation = item["get"]
            if operation:
                yield template, method, operation


def concrete(template, ids):
    return template.replace("{id}", ids["id"]).replace("{file}", "app.js")


def successes(operation):
    """the 2xx statuses @operation documents"""
    return {int(status) for status in operation["responses"] if status.startswith("2")}


def check_other_methods(url, ids):
    """A method a path does not document: 405, as MethodNotAllowed describes it,
    with an Allow header naming exactly the path's documented methods."""
    refused = resolve(DOC["components"].get("responses", {}).get("MethodNotAllowed", {}))
    if "Allow" not in refused.get("headers", {}):
        fail("components/responses/MethodNotAllowed with an Allow header is missing")
        return
    schema = refused["content"]["application/problem+json"]["schema"]
    for template in DOC["paths"]:
        allowed = {method for path, method, _ in operations() if path == template}
        for method in sorted(set(METHODS) - allowed):
            where = f"{method} {template}"
            response = requests.request(method, url + concrete(template, ids), timeout=5)
            allow = {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()}
            if response.status_code != 405:
                fail(f"{where}: {response.status_code}, expected 405")
            elif allow != allowed:
                fail(f"{where}: Allow: {sorted(allow)}, but the document has {sorted(allowed)}")
            elif method != "HEAD":
                validate(response.json(), schema, where)


def check_refusals(url, ids, label, headers=None, query="", statuses=None):
    """Every documented operation, refused before its handler runs: the status
    is one it documents (and one of @statuses)."""
    for template, method, operation in operations():
        where = f"{method} {template} {label}"
        response = requests.request(method, url + concrete(template, ids) + query,
                                    headers=headers, timeout=5)
        if statuses and response.status_code not in statuses(operation):
            fail(f"{where}: {response.status_code}")
        check_response(method, template, operation, response, where)


def raw_request(url, request_line, headers=""):
    """@request_line and @headers sent as they are, on a connection of their
    own: (status, problem document or None)"""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split()[1].decode(), json.loads(body) if body else None


def check_raw_refusals(url, ids):
    """What requests cannot send: a request line of an HTTP version the service
    does not speak (505), a transfer coding it cannot read and no Content-Length
    (501); each a status every operation documents, with a problem document."""
    probes = [("HTTP/2.0", "", "505")]
    # libsoup 3.2.3 leaks the path of a request it refuses for an unknown
    # Transfer-Encoding; LeakSanitizer cannot be told (its fast unwinding stops
    # in GLib before libsoup's frames) and would fail the daemon at its exit
    if "detect_leaks=1" not in os.environ.get("ASAN_OPTIONS", ""):
        probes.append(("HTTP/1.1", "Transfer-Encoding: gzip\r\n", "501"))
    for template, method, operation in operations():
        target = concrete(template, ids)
        for version, headers, expected in probes:
            request_line = f"{method} {target} {version}"
            status, problem = raw_request(url, request_line, headers)
            where = f"{request_line} {headers.strip()}"
            if status != expected or status not in operation["responses"]:
                fail(f"{where}: {status}, documented {sorted(operation['responses'])}")
            elif method != "HEAD":
                validate(problem, {"$ref": "#/components/schemas/Problem"}, where)


def ws_status(url):
    """The status a WebSocket handshake on @url gets"""
    async def connect():
        try:
            # unread events of a since must not hold the closing handshake up
            async with websockets.connect(url.replace("http://", "ws://"), open_timeout=5,
                                          max_queue=None) as ws:
                upgrade = DOC["paths"]["/ws"]["get"]["responses"]["101"]
                for header, spec in upgrade.get("headers", {}).items():
                    if header not in ws.response_headers:
                        fail(f"GET /ws 101: no {header} header")
                    else:
                        check_header_value(ws.response_headers[header], resolve(spec),
                                           f"GET /ws 101 {header}")
                return 101
        except websockets.exceptions.InvalidStatusCode as error:
            return error.status_code
    return asyncio.run(connect())


def check_revalidation(url, ids):
    """Each operation that documents 304 answers it to the ETag of its 200."""
    for template, method, operation in operations():
        if "304" not in operation["responses"]:
            continue
        where = f"{method} {template} revalidated"
        first = requests.request(method, url + concrete(template, ids), timeout=5)
        etag = first.headers.get("ETag")
        if first.status_code != 200 or etag is None:
            fail(f"{where}: the first answer was {first.status_code}, ETag {etag}")
            continue
        response = requests.request(method, url + concrete(template, ids),
                                    headers={"If-None-Match": etag}, timeout=5)
        if response.status_code != 304:
            fail(f"{where}: {response.status_code}, expected 304")
        check_response(method, template, operation, response, where)


def check_bare_names(url, ids):
    """A documented query parameter named without '=' has the empty value, which
    none of them takes: 400, never the answer the request would get without it."""
    for template, method, operation in operations():
        for param in parameters_of(DOC["paths"][template], operation):
            if param["in"] != "query" or param["name"] == "access_token":
                continue
            where = f"{method} {template}?{param['name']}"
            if template == "/ws":
                status = ws_status(url + "/ws?" + param["name"])
                if status != 400:
                    fail(f"{where}: {status}, expected 400")
                continue
            response = requests.request(method, url + concrete(template, ids) + "?" + param["name"],
                                        timeout=5)
            if response.status_code != 400:
                fail(f"{where}: {response.status_code}, expected 400")
            check_response(method, template, operation, response, where)


def probes(schema):
    """values to try for a query parameter of @schema: at and past its bounds,
    and text of the wrong kind"""
    if schema.get("type") == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is None or high is None:
            return None
        return [str(low), str(low - 1), str(high), str(high + 1), "ten"]
    # the empty value; a leading zero, and the largest cursor, for a pattern of digits
    return ["bogus", "", "07", "9223372036854775807", "2026-01-01T00:00:00Z", "completed,bogus", "pending", "failed, cancelled"]


def check_query_values(url, ids):
    """Each query parameter of GET /tasks and DELETE /tasks: a value its schema
    allows is taken, one it refuses gets 400; an integer documents both bounds."""
    for template, method in (("/tasks", "GET"), ("/tasks", "DELETE")):
        operation = DOC["paths"][template][method.lower()]
        for param in parameters_of(DOC["paths"][template], operation):
            if param["in"] != "query":
                continue
            schema = param["schema"]
            values = probes(schema)
            if values is None:
                fail(f"{method} {template}?{param['name']}: the document gives no lower or no upper bound")
                continue
            validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)
            for value in values:
                typed = int(value) if schema.get("type") == "integer" and value.lstrip("-").isdigit() else value
                allowed = validator.is_valid(typed)
                query = {param["name"]: value}
                # a filter that matches nothing: the probes delete no task
                if method == "DELETE":
                    query.setdefault("action", "no_such_action")
                response = requests.request(method, url + template, params=query, timeout=5)
                if allowed != response.ok:
                    fail(f"{method} {template}?{param['name']}={value}: {response.status_code}, but the "
                         f"document {'allows' if allowed else 'refuses'} it: {response.text[:200]}")


def check_ws_query_values(url):
    """since and log of /ws: a value the schema allows gets the upgrade, one it
    refuses 400; log is sent with since=0, without which it is refused."""
    operation = DOC["paths"]["/ws"]["get"]
    probes_of = {"since": ["0", "01", "-1", "1.0", "", "ten"],
                 "log": ["", "0123456789abcdef", "another-log"]}
    for param in parameters_of(DOC["paths"]["/ws"], operation):
        if param["in"] != "query" or param["name"] not in probes_of:
            continue
        validator = jsonschema.Draft202012Validator(param["schema"], format_checker=FORMATS)
        for value in probes_of[param["name"]]:
            typed = value
            if param["schema"].get("type") == "integer" and value.lstrip("-").isdigit():
                typed = int(value)
            query = {param["name"]: value}
            if param["name"] == "log":
                query["since"] = "0"
            status = ws_status(url + "/ws?" + urllib.parse.urlencode(query))
            if validator.is_valid(typed) != (status == 101):
                fail(f"GET /ws?{urllib.parse.urlencode(query)}: {status}, but the document "
                     f"{'allows' if validator.is_valid(typed) else 'refuses'} {param['name']}={value!r}")


def check_queue_answers():
    """The queue document counts the finished tasks in the task database: every
    operation that answers with it can meet a history that cannot be read, as
    GET /queue documents."""
    unreadable = DOC["paths"]["/queue"]["get"]["responses"].get("500")
    for template, method, operation in operations():
        success = resolve(operation["responses"].get("200", {}))
        schema = success.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref") == "#/components/schemas/Queue" and \
                operation["responses"].get("500") != unreadable:
            fail(f"{method} {template}: answers with the queue, but does not document its 500")


def check_dashboard_files(url):
    """Every file of the dashboard, under /dashboard/, answers as the document
    says: app.js alone would leave the other media types unchecked."""
    template = "/dashboard/{file}"
    operation = DOC["paths"][template]["get"]
    for name in sorted(os.listdir(os.path.join(SOURCE_ROOT, "data", "dashboard"))):
        response = requests.get(f"{url}/dashboard/{name}", timeout=5)
        if response.status_code != 200:
            fail(f"GET /dashboard/{name}: {response.status_code}")
        check_response("GET", template, operation, response, f"GET /dashboard/{name}")


def check_paging(url):
    """GET /tasks a task a page, filtered, following each Link: every page is
    answered as documented (its Link included), and the pages hold every task
    once, in order."""
    operation = DOC["paths"]["/tasks"]["get"]
    query = "/tasks?status=completed,failed,cancelled&since=2026-01-01T00:00:00%2B00:00&limit=1"

    def whole():
        page = requests.get(url + query.replace("limit=1", "limit=1000"), timeout=5).json()
        return [task["id"] for task in page]

    # tasks sent earlier may still finish meanwhile: the pages are compared
    # with a listing that did not change while they were read
    for attempt in range(5):
        before = whole()
        seen = []
        target = query
        while target is not None and len(seen) <= len(before):
            response = requests.get(url + target, timeout=5)
            check_response("GET", "/tasks", operation, response, f"GET {target}")
            seen += [task["id"] for task in response.json()]
            link = response.headers.get("Link")
            target = link[1:link.index(">")] if link else None
        if whole() == before:
            break
        time.sleep(0.5)
    if seen != before:
        fail(f"GET {query} and its Links gave {len(seen)} tasks, one page {len(before)}")


def public(operation):
    return operation.get("security") == []


def build_locale(root):
    target = os.path.join(root, "de_DE.UTF-8")
    subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", target],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not os.path.isdir(target):
        fail("localedef could not build de_DE.UTF-8 (install Debian's locales)")
    return root


def raw_post(url, content_length, language):
    """POST /tasks with only the headers of a body: (status, problem document)"""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall((f"POST /tasks HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                      f"Accept-Language: {language}\r\nContent-Length: {content_length}\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def follow_events(url, since, count, connected=None):
    frames = []
    ws_url = url.replace("http://", "ws://") + "/ws" + (f"?since={since}" if since is not None else "")
    async with websockets.connect(ws_url) as ws:
        if connected is not None:
            connected.set()
        while len(frames) < count:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return frames


def event_schemas():
    """The schema of each event type, from the Event schema's oneOf."""
    schemas = {}
    for choice in DOC["components"]["schemas"]["Event"]["oneOf"]:
        schema = resolve(choice)
        schemas[schema["properties"]["type"]["const"]] = schema
    return schemas


def check_event(frame, where):
    """Validates a frame against Event, and that each of its members is documented
    for its type: the schemas allow more members, so a field the document leaves
    out would otherwise go unnoticed."""
    if validate(frame, {"$ref": "#/components/schemas/Event"}, where):
        walk_members(frame, {"$ref": "#/components/schemas/Event"}, where)
    schema = event_schemas().get(frame.get("type"))
    if schema is None:
        fail(f"{where}: type {frame.get('type')!r} is not documented")
        return
    undocumented = sorted(set(frame) - set(schema["properties"]))
    if undocumented:
        fail(f"{where}: members {undocumented} are not documented")


def check_readme_events():
    """The README's example of each event is one the Event schema allows, and
    every type the schema has is shown there."""
    readme = open(os.path.join(SOURCE_ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("\n### Events\n", 1)[1].split("\n### ", 1)[0]
    shown = set()
    for block in section.split("```json\n")[1:]:
        for line in block.split("```", 1)[0].splitlines():
            frame = json.loads(line)
            shown.add(frame.get("type"))
            where = f"README example {frame.get('type')}"
            # not walk_members(): what is required follows the service's answers
            validate(frame, {"$ref": "#/components/schemas/Event"}, where)
            schema = event_schemas().get(frame.get("type"), {"properties": {}})
            undocumented = sorted(set(frame) - set(schema["properties"]))
            if undocumented:
                fail(f"{where}: members {undocumented} are not documented")
    missing = sorted(set(event_schemas()) - shown)
    if missing:
        fail(f"README's Events section shows no {missing}")


async def collect_events(url, types, act):
    """Follows /ws while act() runs, until a frame of each of types has come."""
    frames = []
    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        await asyncio.to_thread(act)
        while not types <= {f["type"] for f in frames}:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return frames


async def close_code_of_long_message(url):
    """the close code a client that sends a message over the limit gets"""
    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        await ws.send("x" * 5000)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.exceptions.ConnectionClosed:
            pass
        return ws.close_code


def check_close_codes(url):
    """The close code the service ends a stream with is one /ws documents."""
    code = asyncio.run(close_code_of_long_message(url))
    if str(code) not in DOC["paths"]["/ws"]["get"]["description"]:
        fail(f"WebSocket: a message over 4 KiB closed the stream with {code}, which /ws does not document")


def check_every_event(tmp):
    """Every kind of event, live, then the resync_required notice of a pruned log."""
    data_dir = os.path.join(tmp, "pruned")
    kinds = {"task_scheduled", "task_started", "task_retrying", "task_failed",
             "task_cancelled", "queue_paused", "queue_resumed"}
    with Daemon("--retention-max-tasks", "1", data_dir=data_dir) as daemon:
        url = daemon.url

        def act():
            requests.post(url + "/tasks", json={"name": "off the stage", "action": "move_stage",
                                                "parameters": {"x": 100000}, "max_retries": 1,
                                                "retry_delay": 0.1}, timeout=5)
            long = requests.post(url + "/tasks", json={"name": "long", "action": "wait",
                                                       "parameters": {"duration": 60000}}, timeout=5).json()
            requests.delete(f"{url}/tasks/{long['id']}", timeout=5)
            requests.post(url + "/queue/pause", timeout=5)
            requests.post(url + "/queue/resume", timeout=5)
        for frame in asyncio.run(collect_events(url, kinds, act)):
            check_event(frame, f"WebSocket {frame.get('type')}")
    # retention prunes at startup, and the events before the task it keeps with them
    with Daemon("--retention-max-tasks", "1", data_dir=data_dir) as daemon:
        url = daemon.url
        wait_until(lambda: requests.get(url + "/tasks", timeout=5).headers.get("X-Total-Count") == "1",
                   what="retention to prune the history")
        first = asyncio.run(follow_events(url, 0, 1))[0]
        if first.get("type") != "resync_required":
            fail(f"?since=0 of a pruned log began with {first}")
        check_event(first, "WebSocket resync_required")


def request_schema():
    return DOC["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]["schema"]


def past(bound, schema, direction):
    """the nearest value past @bound the schema's type allows"""
    return bound + direction * (1 if schema["type"] == "integer" else 0.5)


def check_submission_bounds(tmp):
    """Each numeric option of TaskSubmission documents both its bounds, and the
    service takes a value at each and refuses one just past it; the bare array
    of tasks the service takes is a form the document allows."""
    schema = resolve(DOC["components"]["schemas"]["TaskSubmission"])
    with Daemon(data_dir=os.path.join(tmp, "bounds")) as daemon:
        url = daemon.url
        requests.post(url + "/queue/pause", timeout=5)

        def submit(option, value, expected):
            body = {"name": "bounds", "action": "wait", option: value}
            response = requests.post(url + "/tasks", json=body, timeout=5)
            if response.status_code != expected:
                fail(f"POST /tasks with {option}={value}: {response.status_code}, expected {expected}: "
                     f"{response.text[:200]}")
            valid = jsonschema.Draft202012Validator(request_schema(), resolver=RESOLVER).is_valid(body)
            if valid != (expected == 201):
                fail(f"POST /tasks with {option}={value}: the document {'allows' if valid else 'refuses'} it, "
                     f"the service answers {response.status_code}")

        for option, prop in schema["properties"].items():
            if prop.get("type") not in ("integer", "number"):
                continue
            low = prop.get("minimum", prop.get("exclusiveMinimum"))
            if low is None or "maximum" not in prop:
                fail(f"TaskSubmission.{option}: the document gives no lower or no upper bound")
                continue
            if "exclusiveMinimum" in prop:
                submit(option, low, 400)
                submit(option, low + 0.5, 201)
            else:
                submit(option, low, 201)
                submit(option, past(low, prop, -1), 400)
            submit(option, prop["maximum"], 201)
            submit(option, past(prop["maximum"], prop, 1), 400)

        bare = [{"name": "first", "action": "wait"}, {"name": "second", "action": "wait"}]
        response = requests.post(url + "/tasks", json=bare, timeout=5)
        if response.status_code != 201:
            fail(f"POST /tasks with an array: {response.status_code}")
        validate(bare, request_schema(), "POST /tasks request body, an array of tasks")
        check_response("POST", "/tasks", DOC["paths"]["/tasks"]["post"], response, "POST /tasks array")


def check_pending_limit(tmp):
    """Past --max-pending, POST /tasks gets 429 with the Retry-After it documents."""
    operation = DOC["paths"]["/tasks"]["post"]
    if "Retry-After" not in resolve(operation["responses"].get("429", {})).get("headers", {}):
        fail("POST /tasks 429: the Retry-After header is not documented")
    with Daemon("--max-pending", "1", data_dir=os.path.join(tmp, "full")) as daemon:
        requests.post(daemon.url + "/queue/pause", timeout=5)
        for _ in range(2):
            response = requests.post(daemon.url + "/tasks", json={"name": "queued", "action": "wait"},
                                     timeout=5)
        if response.status_code != 429:
            fail(f"POST /tasks past --max-pending: {response.status_code}, expected 429")
        check_response("POST", "/tasks", operation, response, "POST /tasks past --max-pending")


def main():
    with tempfile.TemporaryDirectory(prefix="em-openapi-") as tmp:
        env = {"LOCPATH": build_locale(tmp), "LC_ALL": "C", "LANG": "C"}
        with Daemon(env=env) as daemon:
            url = daemon.url
            served = requests.get(url + "/openapi.json", timeout=5)
            if served.status_code != 200 or served.json() != DOC:
                fail("GET /openapi.json does not serve data/openapi.json")

            # a completed capture and a long move to cancel
            capture = requests.post(url + "/tasks", json={"name": "snap", "action": "capture_image"}, timeout=5).json()
            wait_until(lambda: requests.get(f"{url}/tasks/{capture['id']}", timeout=5).json()["status"] == "completed",
                       what="the capture to complete")

            order = ["post", "get", "delete"]
            paths = DOC["paths"]
            for path_template, path_item in paths.items():
                if path_template == "/ws":
                    continue
                for method in sorted((m for m in path_item if m in order), key=order.index):
                    operation = path_item[method]
                    if path_template.startswith("/queue"):
                        continue  # below, in a known order
                    ids = {"id": capture["id"]}
                    if method == "delete" and path_template == "/tasks/{id}":
                        move = requests.post(url + "/tasks", json={"name": "long move", "action": "move_stage",
                                                                   "parameters": {"x": 40000, "speed": 10}}, timeout=5).json()
                        ids = {"id": move["id"]}
                    body = operation.get("requestBody")
                    if body:
                        for name, example in body["content"]["application/json"]["examples"].items():
                            response = send(url, method.upper(), path_template, path_item, operation, ids,
                                            body=example["value"], label=name)
                            # what the service takes, the document allows
                            if response.ok:
                                validate(example["value"], body["content"]["application/json"]["schema"],
                                         f"{method.upper()} {path_template} request body {name}")
                    else:
                        send(url, method.upper(), path_template, path_item, operation, ids)

            for path_template, method in (("/queue", "get"), ("/queue/pause", "post"),
                                          ("/queue", "get"), ("/queue/resume", "post")):
                response = send(url, method.upper(), path_template, paths[path_template],
                                paths[path_template][method], {})
                if path_template == "/queue/pause" and response.ok and response.json().get("paused") is not True:
                    fail("POST /queue/pause did not pause")

            # documented errors
            for method, path, expected in (("GET", "/tasks/no-such-task", "404"),
                                           ("DELETE", "/tasks/" + capture["id"], "409"),
                                           ("GET", "/tasks?status=bogus", "400")):
                template = "/tasks/{id}" if path.startswith("/tasks/") else "/tasks"
                response = requests.request(method, url + path, timeout=5)
                if str(response.status_code) != expected:
                    fail(f"{method} {path}: {response.status_code}, expected {expected}")
                check_response(method, template, paths[template][method.lower()], response, f"{method} {path}")

            # every other method, and what any request can meet
            check_other_methods(url, {"id": capture["id"]})
            ids = {"id": capture["id"]}
            check_refusals(url, ids, "with a query that is not UTF-8", query="?x=%ff",
                           statuses=lambda op: {400})
            check_refusals(url, ids, "with a parameter given twice", query="?x=1&x=2",
                           statuses=lambda op: {400})
            check_bare_names(url, ids)
            check_revalidation(url, ids)
            check_query_values(url, ids)
            check_ws_query_values(url)
            check_dashboard_files(url)
            check_paging(url)
            check_refusals(url, ids, "with a body over the limit", headers={"Content-Length": "99999999"},
                           statuses=lambda op: {413})
            check_refusals(url, ids, "with an expectation the service does not know",
                           headers={"Expect": "something-else"}, statuses=lambda op: {417})
            check_raw_refusals(url, ids)
            check_refusals(url, ids, "with headers over the limit", headers={"X-Padding": "h" * 20000},
                           statuses=lambda op: {431})
            check_refusals(url, ids, "under a name DNS could rebind", headers={"Host": "rebound.example"},
                           statuses=lambda op: successes(op) if op in DOC["paths"]["/health"].values() else {403})

            # problem documents follow Accept-Language
            german = requests.get(url + "/tasks/no-such-task", headers={"Accept-Language": "de-DE,de;q=0.9"}, timeout=5)
            english = requests.get(url + "/tasks/no-such-task", headers={"Accept-Language": "en"}, timeout=5)
            if german.json().get("title") != "Nicht gefunden":
                fail(f"Accept-Language: de gave {german.json()}")
            if english.json().get("title") != "Not found":
                fail(f"Accept-Language: en gave {english.json()}")
            # and those of a large body, read off the main loop
            too_many = [{"name": "t", "action": "wait"}] * 5001
            refused = requests.post(url + "/tasks", json=too_many, timeout=30,
                                    headers={"Accept-Language": "de"})
            if refused.status_code != 400 or not refused.json().get("detail", "").startswith(
                    "tasks: ein Stapel fasst höchstens 5000 Aufgaben, erhalten 5001"):
                fail(f"a batch of 5001 with Accept-Language: de gave {refused.status_code} {refused.text[:300]}")
            # so do the refusals made before any handler runs, from the headers alone
            for length, title, detail in (("2000000000", "Anfragekörper zu groß", "body: größer als"),
                                          ("-5", "Ungültige Anfrage", "Content-Length: muss")):
                status, problem = raw_post(url, length, "de")
                if title != problem.get("title") or not problem.get("detail", "").startswith(detail):
                    fail(f"Content-Length {length} with Accept-Language: de gave {status} {problem}")

            # the event stream: live, then replayed with since
            event_schema = {"$ref": "#/components/schemas/Event"}

            async def live():
                # a live stream has only what comes after its handshake
                connected = asyncio.Event()
                task = asyncio.ensure_future(follow_events(url, None, 4, connected))
                await asyncio.wait_for(connected.wait(), 30)
                await asyncio.to_thread(requests.post, url + "/tasks",
                                        json={"name": "ws", "action": "capture_image"}, timeout=5)
                return await task
            frames = asyncio.run(live())
            for frame in frames:
                check_event(frame, f"WebSocket {frame.get('type')}")
            first = frames[0]["seq"]
            replayed = asyncio.run(follow_events(url, first - 1, 4))
            if [f["seq"] for f in replayed] != [f["seq"] for f in frames]:
                fail(f"?since={first - 1} replayed {[f['seq'] for f in replayed]}, "
                     f"expected {[f['seq'] for f in frames]}")
            for frame in replayed:
                validate(frame, event_schema, f"WebSocket replay {frame.get('type')}")
            check_close_codes(url)

        check_readme_events()
        check_queue_answers()
        check_every_event(tmp)
        check_pending_limit(tmp)
        check_submission_bounds(tmp)

        # with a token: every operation needs it, but those the document marks public
        with Daemon(env={"ENGINE_MANAGER_TOKEN": "openapi-live-token"}) as daemon:
            check_refusals(daemon.url, {"id": "6f1c2b8e-3d0a-4c55-9a57-2f4de1b0c9a1"}, "without the token",
                           statuses=lambda op: successes(op) | {404} if public(op) else {401})

    check_required()
    print(f"{checked} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

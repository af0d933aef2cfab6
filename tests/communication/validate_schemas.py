#!/usr/bin/env python3
"""Validates protocol messages against communication/schemas/*.schema.json with python-jsonschema.

  validate_schemas.py --schemas DIR --docs docs/protocol.md --min N
      every ```json block of the protocol document (requests, responses, progress events)
  validate_schemas.py --schemas DIR --serve-output DIR_OR_FILE... --min N
      every stdout line that `sdxl-workers serve` wrote in the e2e tests (*.jsonl, one per test)
  validate_schemas.py --schemas DIR --instances NAME=FILE... --min N
      every line of FILE (JSON lines) against NAME.schema.json (the service e2e tests' bodies)

Works with Debian 12's python3-jsonschema (4.10) and current releases (4.2x): it only uses
validator_for, check_schema, iter_errors and best_match, which both have. The schemas are
self-contained (every $ref starts with '#'), which this script checks, so no cross-file
resolution (RefResolver / referencing registry, whose APIs differ) is needed.

Which schema applies: a message with "event" is a progress event; one with "success" or a
message_type ending in "_response" is a response; a request is chosen by its message_type.
A doc block preceded by a line `<!-- schema: legacy -->` is a legacy-format request (no schema;
skipped and counted as such); `<!-- schema: invalid -->` marks an example of a message the server
refuses, which the schema must reject too; `<!-- schema: NAME -->` (NAME a schema file's stem,
e.g. `http_job` or `callback`) checks the block against that schema. Exits 1 on any failure or when fewer than --min
messages were checked, so an empty input can never pass.
"""
import argparse
import glob
import json
import os
import re
import sys

try:
    import jsonschema
    from jsonschema import validators
    from jsonschema.exceptions import best_match
except ImportError:  # pragma: no cover - depends on the machine
    print("python3-jsonschema is missing (setup.sh installs it: apt-get install python3-jsonschema)")
    sys.exit(1)

REQUEST_TYPES = {
    "inference_request", "postprocess_request", "model_load_request", "model_unload_request",
    "status_request", "cancel_request", "shutdown",
}
MARKER = re.compile(r"^\s*<!--\s*schema:\s*(\w+)\s*-->\s*$")
FENCE_OPEN = re.compile(r"^```json\s*$")
FENCE_CLOSE = re.compile(r"^```\s*$")


def external_refs(node, where="#"):
    """Yields every $ref that leaves its own file."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            yield where, ref
        for key, value in node.items():
            yield from external_refs(value, where + "/" + key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from external_refs(value, where + "/" + str(i))


def load_validators(folder):
    """Returns ({schema name: validator} for every *.schema.json in folder, [problems])."""
    found = {}
    problems = []
    for path in sorted(glob.glob(os.path.join(folder, "*.schema.json"))):
        name = os.path.basename(path)[: -len(".schema.json")]
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        schema_id = schema.get("$id", "")
        if not re.match(r"^[a-z][a-z0-9+.-]*://", schema_id):
            problems.append("%s: $id %r is not an absolute URI" % (name, schema_id))
        for where, ref in external_refs(schema):
            problems.append("%s: %s: $ref %r leaves the file (the schemas are self-contained)" % (name, where, ref))
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            problems.append("%s: not a valid schema: %s" % (name, e.message))
            continue
        found[name] = cls(schema)
    if not found:
        problems.append("no *.schema.json in " + folder)
    return found, problems


def schema_for(message):
    """Returns the schema name that applies to a message, or None."""
    if not isinstance(message, dict):
        return None
    if "event" in message:
        return "progress_event"
    message_type = message.get("message_type")
    if "success" in message or (isinstance(message_type, str) and message_type.endswith("_response")):
        return "response"
    if message_type in REQUEST_TYPES:
        return message_type
    return None


def first_error(validator, message):
    """The validator's most relevant complaint about message, or None when it is valid."""
    # Any exception from the validator (such as 4.10's RefResolutionError on a relative $id) is a
    # failure to report, not a crash of the test.
    try:
        error = best_match(validator.iter_errors(message))
    except Exception as e:  # noqa: BLE001 - reported per message
        return "validator raised %s: %s" % (type(e).__name__, e)
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path)
    return "%s: %s" % ("/" + path if path else "(top level)", error.message)


def short(text, limit=160):
    return text if len(text) <= limit else text[:limit] + "..."


def doc_examples(path):
    """Yields (line number, marker or None, block text) for every ```json block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if not FENCE_OPEN.match(lines[i]):
            i += 1
            continue
        start = i + 1
        marker = None
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        if before >= 0:
            m = MARKER.match(lines[before])
            if m:
                marker = m.group(1)
        i += 1
        while i < len(lines) and not FENCE_CLOSE.match(lines[i]):
            i += 1
        yield start, marker, "\n".join(lines[start:i])
        i += 1


def json_values(text):
    """Splits a block holding one or more JSON values; raises ValueError on invalid JSON."""
    decoder = json.JSONDecoder()
    values, at = [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return values
        value, at = decoder.raw_decode(text, at)
        values.append(value)


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.by_schema = {}

    def ok(self, schema):
        self.passed += 1
        self.by_schema[schema] = self.by_schema.get(schema, 0) + 1

    def fail(self, where, text):
        self.failed += 1
        print("FAIL %s: %s" % (where, text))


def check_docs(path, checkers, tally):
    for line, marker, block in doc_examples(path):
        where = "%s:%d" % (os.path.basename(path), line)
        if marker not in (None, "legacy", "invalid") and marker not in checkers:
            tally.fail(where, "unknown marker <!-- schema: %s --> (legacy, invalid or a schema's name)" % marker)
            continue
        if marker == "legacy":
            tally.skipped += 1
            continue
        try:
            messages = json_values(block)
        except ValueError as e:
            tally.fail(where, "not JSON: %s" % e)
            continue
        for message in messages:
            # A schema named by the marker, else the one the message's own keys select.
            name = marker if marker in checkers else schema_for(message)
            if name is None or name not in checkers:
                tally.fail(where, "no schema applies (no event, success or known message_type; mark a legacy "
                                  "request with <!-- schema: legacy -->): " + short(json.dumps(message)))
                continue
            error = first_error(checkers[name], message)
            if marker == "invalid":
                if error is None:
                    tally.fail(where, "marked invalid, but %s.schema.json accepts it" % name)
                elif error.startswith("validator raised"):
                    tally.fail(where, "(%s.schema.json) %s" % (name, error))
                else:
                    tally.ok(name + " (rejected)")
            elif error is None:
                tally.ok(name)
            else:
                tally.fail(where, "(%s.schema.json) %s" % (name, error))


def json_lines(path, tally):
    """Yields (where, line, value) for every line of a JSON-lines file that parses."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            where = "%s:%d" % (os.path.basename(path), number)
            try:
                yield where, line, json.loads(line)
            except ValueError as e:
                tally.fail(where, "not JSON (%s): %s" % (e, short(line)))


def check_value(checker, name, where, line, value, tally):
    error = first_error(checker, value)
    if error is None:
        tally.ok(name)
    else:
        tally.fail(where, "(%s.schema.json) %s\n    line: %s" % (name, error, short(line, 400)))


def check_serve_output(paths, checkers, tally):
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(sorted(glob.glob(os.path.join(path, "*.jsonl"))))
        elif os.path.exists(path):
            files.append(path)
        else:
            tally.fail(path, "does not exist (the e2e tests write it)")
    for path in files:
        for where, line, message in json_lines(path, tally):
            name = schema_for(message)
            if name not in ("response", "progress_event"):
                tally.fail(where, "neither a response nor a progress event: " + short(line))
                continue
            check_value(checkers[name], name, where, line, message, tally)


def check_instances(specs, checkers, tally):
    for spec in specs:
        name, _, path = spec.partition("=")
        if name not in checkers:
            tally.fail(spec, "no schema %s.schema.json" % name)
        elif not os.path.exists(path):
            tally.fail(spec, "does not exist (the test writes it)")
        else:
            for where, line, value in json_lines(path, tally):
                check_value(checkers[name], name, where, line, value, tally)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schemas", required=True, help="the folder of *.schema.json")
    parser.add_argument("--docs", help="a Markdown file whose ```json blocks are checked")
    parser.add_argument("--serve-output", nargs="+", default=[], help="*.jsonl files, or folders of them")
    parser.add_argument("--instances", nargs="+", default=[], help="NAME=FILE: JSON lines against NAME.schema.json")
    parser.add_argument("--min", type=int, default=1, help="fail when fewer messages were checked")
    args = parser.parse_args()
    if not args.docs and not args.serve_output and not args.instances:
        parser.error("give --docs, --serve-output or --instances")

    checkers, problems = load_validators(args.schemas)
    tally = Tally()
    for problem in problems:
        tally.fail("schema", problem)
    if args.docs:
        check_docs(args.docs, checkers, tally)
    if args.serve_output:
        check_serve_output(args.serve_output, checkers, tally)
    if args.instances:
        check_instances(args.instances, checkers, tally)

    checked = tally.passed + tally.failed
    if checked < args.min:
        tally.fail("total", "only %d messages checked, expected at least %d" % (checked, args.min))
    details = ", ".join("%s %d" % item for item in sorted(tally.by_schema.items()))
    skipped = ", %d skipped (legacy)" % tally.skipped if tally.skipped else ""
    print("%d passed, %d failed%s [%s]" % (tally.passed, tally.failed, skipped, details))
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())

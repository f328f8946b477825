"""Reads an lms-replay Avro export with fastavro, a reader independent of ours,
and prints what it read as JSON, for replay-tool/tests/replay/export.rs:

    python read_export.py EXPORT.avro     (or - for stdin)

First line: {"schema": <the writer schema's name>, "branches": [<record names of
the `event` union>], "export": <the lms.replay.export header, parsed>}.
Then one line per record, values in plain JSON: timestamps as integer
microseconds since the epoch, UUIDs as strings, and every union branch that is
a record as {"record": <full name>, "fields": {...}} (fastavro's
return_record_name), so the test can check which branch was written.
"""

import datetime
import json
import sys
import uuid

import fastavro

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(value):
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return {"record": value[0], "fields": plain(value[1])}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def branch_names(schema):
    event = next(f for f in schema["fields"] if f["name"] == "event")
    return [b["name"] if isinstance(b, dict) else b for b in event["type"]]


def main():
    path = sys.argv[1]
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    with stream:
        reader = fastavro.reader(stream, return_record_name=True)
        schema = reader.writer_schema
        export = reader.metadata.get("lms.replay.export")
        print(json.dumps({
            "schema": schema["name"],
            "branches": branch_names(schema),
            "export": json.loads(export) if export else None,
        }))
        for record in reader:
            print(json.dumps(plain(record)))


if __name__ == "__main__":
    main()

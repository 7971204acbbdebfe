"""Records written by Confluent's own Python serializer, and how a reference decoder prints them.

    confluent_reference.py BOOTSTRAP REGISTRY_URL TOPIC CASE OUT_DIR

Produces every record of CASE ("kinds", "recursive" or "order-v2") to TOPIC with confluent-kafka's
AvroSerializer (the schema registered under the record-name strategy), then writes to OUT_DIR:
  writer.avsc, reader.avsc          the writer schema and a compatible reader schema
  expected-writer.jsonl             each record as fastavro reads it with the writer schema,
  expected-reader.jsonl             ... and resolved to the reader schema,
in fastavro's Avro JSON encoding (json_writer), one line per record, in produce order.
Floats of `float` fields are short binary fractions (1024.5), so the shortest text of the f32
(what the console and Java print) and of its widening to f64 (what fastavro prints) are the
same number; NaN is left out (fastavro prints it bare, which is no JSON).
"""

import datetime
import decimal
import io
import json
import os
import sys
import uuid

# fastavro's JSON writer recurses through a recursive schema's grammar deeper than the
# default limit allows.
sys.setrecursionlimit(20000)

import fastavro
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

UTC = datetime.timezone.utc

KINDS_WRITER = {
    "type": "record",
    "name": "Kinds",
    "namespace": "reference.v1",
    "fields": [
        {"name": "n", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "precise", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "utf8_raw", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "customer", "type": {
            "type": "record", "name": "Customer",
            "fields": [
                {"name": "name", "type": "string"},
                {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["FREE", "PRO"]}},
            ]}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "Line",
            "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
        {"name": "attributes", "type": {"type": "map", "values": "long"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "choice", "type": ["null", "int", "string", "Customer",
                                    {"type": "array", "items": "string"},
                                    {"type": "map", "values": "int"}]},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "balance", "type": {"type": "fixed", "name": "Balance", "size": 6,
                                     "logicalType": "decimal", "precision": 12, "scale": 3}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "maybe_ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
        {"name": "period", "type": {"type": "fixed", "name": "Period", "size": 12, "logicalType": "duration"}},
        {"name": "old_name", "type": "string"},
        {"name": "dropped", "type": "string"},
    ],
}

# What a later version of the schema reads it as, by the specification's resolution rules: a
# field added with a default (of each kind), one removed, one renamed with an alias, an enum
# symbol added with a default, int and float and long promoted, string read as bytes, a
# non-union read by a union, a union read by a union with more branches, fields reordered.
KINDS_READER = {
    "type": "record",
    "name": "Kinds",
    "namespace": "reference.v1",
    "fields": [
        {"name": "added", "type": "string", "default": "none"},
        {"name": "added_record", "type": {"type": "record", "name": "Extra",
                                          "fields": [{"name": "x", "type": "int"}]},
         "default": {"x": 7}},
        {"name": "added_union", "type": ["null", "long"], "default": None},
        {"name": "added_array", "type": {"type": "array", "items": "int"}, "default": [1, 2]},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "long"},
        {"name": "big", "type": "double"},
        {"name": "ratio", "type": "double"},
        {"name": "precise", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "utf8_raw", "type": "string"},
        {"name": "text", "type": "bytes"},
        {"name": "customer", "type": {
            "type": "record", "name": "Customer",
            "fields": [
                {"name": "name", "type": "string"},
                {"name": "tier", "type": {"type": "enum", "name": "Tier",
                                          "symbols": ["FREE", "PRO", "ENTERPRISE"],
                                          "default": "FREE"}},
                {"name": "since", "type": "int", "default": 2020},
            ]}},
        {"name": "status", "type": {"type": "enum", "name": "Status",
                                    "symbols": ["NEW", "PAID", "SHIPPED", "RETURNED"]}},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "Line",
            "fields": [{"name": "qty", "type": "long"}, {"name": "sku", "type": "string"}]}}},
        {"name": "attributes", "type": {"type": "map", "values": "double"}},
        {"name": "note", "type": ["null", "string", "int"], "default": None},
        {"name": "choice", "type": ["null", "long", "string", "Customer",
                                    {"type": "array", "items": "string"},
                                    {"type": "map", "values": "long"}, "boolean"]},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "balance", "type": {"type": "fixed", "name": "Balance", "size": 6,
                                     "logicalType": "decimal", "precision": 12, "scale": 3}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at_ms", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "maybe_ts", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
        {"name": "period", "type": {"type": "fixed", "name": "Period", "size": 12, "logicalType": "duration"}},
        {"name": "new_name", "aliases": ["old_name"], "type": "string"},
        {"name": "single", "type": ["null", "string"], "default": None},
    ],
}


def kinds_record(i):
    choices = [None, i, f"s{i}", {"name": f"c{i}", "tier": "PRO"}, [f"a{i}", "b"], {"k": i}]
    return {
        "n": None,
        "flag": i % 2 == 0,
        "small": -(2 ** 31) if i == 0 else i * 1000 - 7,
        "big": 2 ** 62 + i if i % 2 else -(2 ** 40) - i,
        "ratio": [1.5, -0.25, 1024.5, 0.0][i % 4],
        "precise": [0.1, -1.0e-300, 1.7976931348623157e308, 12345.678][i % 4],
        "raw": bytes([0, 0x7F, 0x80, 0xFF, i % 256]),
        "utf8_raw": f"bÿtes {i}".encode(),
        "text": f"tëxt \"{i}\" \\ \n\u2603 \U0001F600",
        "customer": {"name": f"cust{i}", "tier": ["FREE", "PRO"][i % 2]},
        "status": ["NEW", "PAID", "SHIPPED"][i % 3],
        "lines": [{"sku": f"sku{j}", "qty": j - 1} for j in range(i % 4)],
        "attributes": {f"a{j}": j * (2 ** 40) for j in range(i % 3)},
        "note": None if i % 2 else f"note {i}",
        "choice": choices[i % len(choices)],
        "digest": bytes([i % 256, 0, 0xAB, 0xFF]),
        "price": decimal.Decimal(f"{'-' if i % 2 else ''}{i * 37}.{i % 100:02d}"),
        "balance": decimal.Decimal(f"{'-' if i % 3 == 0 else ''}{i * 1234567}.{i % 1000:03d}"),
        "id": uuid.UUID(int=(i * 0x1234567890ABCDEF) % (2 ** 128)),
        "day": datetime.date(1970, 1, 1) + datetime.timedelta(days=i * 1000 - 3000),
        "at_ms": datetime.time(i % 24, (i * 7) % 60, (i * 13) % 60, (i * 1000) % 1000000),
        "at_us": datetime.time(i % 24, (i * 11) % 60, (i * 17) % 60, (i * 123457) % 1000000),
        "ts_ms": datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(milliseconds=i * 86400123),
        "ts_us": datetime.datetime(1969, 12, 31, tzinfo=UTC) + datetime.timedelta(microseconds=i * 1000001),
        "local_ms": datetime.datetime(2001, 2, 3, 4, 5, 6) + datetime.timedelta(milliseconds=i),
        "local_us": datetime.datetime(2001, 2, 3, 4, 5, 6) + datetime.timedelta(microseconds=i * 3),
        "maybe_ts": None if i % 3 == 0 else datetime.datetime(2030, 5, 6, tzinfo=UTC),
        "period": (i + 1).to_bytes(4, "little") + (i * 2).to_bytes(4, "little") + (i * 1000).to_bytes(4, "little"),
        "old_name": f"renamed {i}",
        "dropped": "gone",
    }


# fastavro's json_writer fails (IndexError in its grammar) on datums of a recursive schema
# more than two records deep, and on recursion through arrays: the recursive records here are
# at most two deep. Deeper recursion is compared with apache-avro by the resolution fuzz test.
RECURSIVE_WRITER = {
    "type": "record",
    "name": "Node",
    "namespace": "reference.tree",
    "fields": [
        {"name": "label", "type": "string"},
        {"name": "next", "type": ["null", "Node"], "default": None},
    ],
}

RECURSIVE_READER = {
    "type": "record",
    "name": "Node",
    "namespace": "reference.tree",
    "fields": [
        {"name": "label", "type": "string"},
        {"name": "weight", "type": "double", "default": 1.5},
        {"name": "next", "type": ["null", "Node"], "default": None},
    ],
}


def recursive_record(i):
    inner = {"label": f"inner{i}", "next": None}
    return {"label": f"root{i}", "next": inner if i % 2 else None}


# examples/orders.rs's Order, as another team's client writes its version 2 (a channel added
# with a default, the note removed, a status added), read by the example as version 1.
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "schemas", "examples")


def order_schema(version):
    with open(os.path.join(EXAMPLES, f"order-v{version}.avsc"), encoding="utf-8") as f:
        return json.load(f)


def order_v2(i):
    return {
        "id": uuid.UUID(int=1000 + i),
        "customer": {"name": f"v2 customer {i}", "email": None if i % 2 else f"c{i}@example.com"},
        "status": ["NEW", "PAID", "SHIPPED", "RETURNED"][i % 4],
        "lines": [{"sku": f"v2-{j}", "quantity": j + 1, "price": decimal.Decimal(f"{j}.50")}
                  for j in range(i % 3 + 1)],
        "attributes": {"version": "2"},
        "placed_at": datetime.datetime(2026, 12, 1, tzinfo=UTC) + datetime.timedelta(seconds=i),
        "channel": "app",
    }


CASES = {
    "kinds": (KINDS_WRITER, KINDS_READER, kinds_record, 12),
    "recursive": (RECURSIVE_WRITER, RECURSIVE_READER, recursive_record, 4),
    "order-v2": (order_schema(2), order_schema(1), order_v2, 4),
}


def avro_json(schema, record):
    out = io.StringIO()
    fastavro.json_writer(out, schema, [record])
    text = out.getvalue().strip()
    json.loads(text)  # no bare NaN or Infinity slipped in
    return text


def main():
    bootstrap, registry_url, topic, case, out_dir = sys.argv[1:6]
    writer, reader, make, count = CASES[case]
    registry = SchemaRegistryClient({"url": registry_url})
    serializer = AvroSerializer(
        registry,
        json.dumps(writer),
        conf={"auto.register.schemas": True, "subject.name.strategy": record_subject_name_strategy},
    )
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    parsed_writer = fastavro.parse_schema(writer)
    parsed_reader = fastavro.parse_schema(reader)
    expected_writer, expected_reader = [], []
    context = SerializationContext(topic, MessageField.VALUE)
    for i in range(count):
        framed = serializer(make(i), context)
        if framed[0] != 0:
            sys.exit(f"the serializer wrote no Confluent frame: {framed[:5]!r}")
        body = framed[5:]
        as_written = fastavro.schemaless_reader(io.BytesIO(body), parsed_writer, None)
        expected_writer.append(avro_json(parsed_writer, as_written))
        resolved = fastavro.schemaless_reader(io.BytesIO(body), parsed_writer, parsed_reader)
        expected_reader.append(avro_json(parsed_reader, resolved))
        producer.produce(topic, value=framed, key=f"k{i}".encode(), partition=0)
    if producer.flush(60) != 0:
        sys.exit("records not delivered within 60 s")
    for name, content in [
        ("writer.avsc", json.dumps(writer)),
        ("reader.avsc", json.dumps(reader)),
        ("expected-writer.jsonl", "\n".join(expected_writer) + "\n"),
        ("expected-reader.jsonl", "\n".join(expected_reader) + "\n"),
    ]:
        with open(f"{out_dir}/{name}", "w", encoding="utf-8") as f:
            f.write(content)
    print(f"produced {count} {case} records to {topic}")


if __name__ == "__main__":
    main()

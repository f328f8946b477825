"""An independent Kafka + Avro peer for the interop tests (tests/python_interop.rs),
using only confluent-kafka 2.16 and its schema-registry client.

  kafka_peer.py read BROKERS REGISTRY COUNT TIMEOUT TOPIC...
      Consumes TOPICs from the beginning until COUNT records (or TIMEOUT s),
      decodes each value with AvroDeserializer (writer schema from the registry)
      and prints one JSON object per record: topic, key, headers, value.
  kafka_peer.py encode REGISTRY TOPIC   stdin: {"schema": "...", "value": {...}}
      Serializes with AvroSerializer (auto-register, TopicRecordNameStrategy),
      prints the Confluent-framed bytes as hex.

Values are printed in a plain form the Rust side rebuilds: UUIDs as strings,
timestamps as integer microseconds since the epoch.
"""

import datetime
import json
import os
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def read(brokers, registry, count, timeout, topics):
    client = SchemaRegistryClient({"url": registry})
    deserializer = AvroDeserializer(client)
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"python-peer-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe(topics)
    deadline = time.monotonic() + timeout
    seen = 0
    try:
        while seen < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise RuntimeError(message.error())
            value = deserializer(message.value(), SerializationContext(message.topic(), MessageField.VALUE))
            headers = {k: v.decode() for k, v in (message.headers() or [])}
            print(json.dumps({
                "topic": message.topic(),
                "key": message.key().decode(),
                "headers": headers,
                "value": plain(value),
            }, sort_keys=True), flush=True)
            seen += 1
    finally:
        consumer.close()


def encode(registry, topic):
    request = json.load(sys.stdin)
    # Registering needs the registry's admin credential (user:password).
    client_conf = {"url": registry}
    if os.environ.get("LMS_REGISTRY_BASIC_AUTH"):
        client_conf["basic.auth.user.info"] = os.environ["LMS_REGISTRY_BASIC_AUTH"]
    serializer = AvroSerializer(
        SchemaRegistryClient(client_conf),
        request["schema"],
        conf={
            "auto.register.schemas": True,
            "use.latest.version": False,
            "subject.name.strategy": topic_record_subject_name_strategy,
        },
    )
    data = serializer(request["value"], SerializationContext(topic, MessageField.VALUE))
    sys.stdout.write(data.hex())


def main():
    if len(sys.argv) >= 7 and sys.argv[1] == "read":
        read(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6:])
    elif len(sys.argv) == 4 and sys.argv[1] == "encode":
        encode(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

"""Python side of the registry interop tests (tests/interop.rs), using
confluent-kafka's SchemaRegistryClient with its Avro serdes.

  interop.py decode URL TOPIC   stdin: hex of a Confluent-framed message
                                stdout: the decoded value as JSON
  interop.py encode URL TOPIC   stdin: {"schema": "<avro json>", "value": {...}}
                                stdout: hex of the Confluent-framed message
"""

import json
import os
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def decode(client, topic):
    data = bytes.fromhex(sys.stdin.read().strip())
    deserializer = AvroDeserializer(client)
    value = deserializer(data, SerializationContext(topic, MessageField.VALUE))
    json.dump(value, sys.stdout, sort_keys=True)


def encode(client, topic):
    request = json.load(sys.stdin)
    serializer = AvroSerializer(
        client,
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
    if len(sys.argv) != 4 or sys.argv[1] not in ("encode", "decode"):
        sys.exit(__doc__)
    command, url, topic = sys.argv[1:]
    conf = {"url": url}
    # Registering needs the admin credential (user:password), from the environment.
    if os.environ.get("LMS_REGISTRY_BASIC_AUTH"):
        conf["basic.auth.user.info"] = os.environ["LMS_REGISTRY_BASIC_AUTH"]
    client = SchemaRegistryClient(conf)
    {"encode": encode, "decode": decode}[command](client, topic)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The local AWS stack: moto in server mode (DynamoDB, Secrets Manager, S3, SQS, EventBridge) on
a free loopback port, with the tables created exactly as template.yaml defines them, the
knowledge bucket, the knowledge queue with its dead-letter queue (redrive after 5 receives, as
the template says), and a rule copying the connector's events on the default bus into a queue
the tests and the local run read them from.

    stack.py start   start moto, create the table, write .local/stack.env
    stack.py stop    stop the moto started by `start`
    stack.py table   print the table definitions read from template.yaml
    stack.py ls [PREFIX]   list the knowledge bucket's documents (under PREFIX)
    stack.py cat KEY       print one document of the knowledge bucket
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".local"
PID_FILE = STATE / "moto.pid"
ENV_FILE = STATE / "stack.env"
TABLE_NAME = os.environ.get("STORES_TABLE", "shopify-connector-local-stores")
INDEX_TABLE_NAME = os.environ.get("KNOWLEDGE_INDEX_TABLE", "shopify-connector-local-knowledge-index")
BUCKET = "shopify-connector-local-knowledge"
QUEUE = "shopify-connector-local-knowledge"
DLQ = "shopify-connector-local-knowledge-dlq"
EVENTS_QUEUE = "shopify-connector-local-events"
HEALTH_QUEUE = "shopify-connector-local-health"
HEALTH_DLQ = "shopify-connector-local-health-dlq"
REGION = "us-east-1"


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain data."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


# The tables of template.yaml and the env var naming each.
TABLES = {
    "StoresTable": ("STORES_TABLE", TABLE_NAME),
    "KnowledgeIndexTable": ("KNOWLEDGE_INDEX_TABLE", INDEX_TABLE_NAME),
}


def table_definitions():
    """Every DynamoDB table of template.yaml, as CreateTable arguments."""
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)
    tables = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
    if set(tables) != set(TABLES):
        sys.exit(f"template.yaml's tables {sorted(tables)} are not the ones the local stack knows {sorted(TABLES)}")
    definitions = {}
    for logical, resource in tables.items():
        props = resource["Properties"]
        definition = {
            "TableName": TABLES[logical][1],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                definition[key] = props[key]
        definitions[logical] = definition
    return definitions


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid):
    """True while `pid` runs. A zombie counts as gone: where PID 1 does not
    reap orphans (a container without an init), a stopped server stays a
    zombie and `kill(pid, 0)` keeps succeeding on it."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def stop():
    if not PID_FILE.exists():
        return
    pid = int(PID_FILE.read_text().strip() or 0)
    if pid and alive(pid):
        signal_group(pid, signal.SIGTERM)
        for _ in range(50):
            if not alive(pid):
                break
            time.sleep(0.1)
        else:
            signal_group(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    print("local stack stopped", file=sys.stderr)


def start():
    stop()
    STATE.mkdir(exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(STATE / "moto.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    PID_FILE.write_text(str(proc.pid))
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                sys.exit(f"moto did not start; see {STATE / 'moto.log'}")
            time.sleep(0.2)
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    for definition in table_definitions().values():
        dynamodb.create_table(**definition)
        dynamodb.get_waiter("table_exists").wait(TableName=definition["TableName"])
    session = dict(endpoint_url=endpoint, region_name=REGION,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
    boto3.client("s3", **session).create_bucket(Bucket=BUCKET)
    sqs = boto3.client("sqs", **session)
    dlq_url = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE, Attributes={
        "VisibilityTimeout": "30",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
    })["QueueUrl"]
    health_dlq_url = sqs.create_queue(QueueName=HEALTH_DLQ)["QueueUrl"]
    health_dlq_arn = sqs.get_queue_attributes(QueueUrl=health_dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    health_url = sqs.create_queue(QueueName=HEALTH_QUEUE, Attributes={
        "VisibilityTimeout": "150",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": health_dlq_arn, "maxReceiveCount": "5"}),
    })["QueueUrl"]
    events_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", **session)
    events.put_rule(Name="connector-events", EventBusName="default",
                    EventPattern=json.dumps({"source": ["shopify-connector"]}))
    events.put_targets(Rule="connector-events", EventBusName="default",
                       Targets=[{"Id": "events-queue", "Arn": events_arn}])
    ENV_FILE.write_text(
        f"AWS_ENDPOINT_URL={endpoint}\n"
        f"AWS_REGION={REGION}\nAWS_DEFAULT_REGION={REGION}\n"
        "AWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\n"
        f"STORES_TABLE={TABLE_NAME}\n"
        f"KNOWLEDGE_INDEX_TABLE={INDEX_TABLE_NAME}\n"
        f"KNOWLEDGE_BUCKET={BUCKET}\n"
        f"KNOWLEDGE_QUEUE_URL={queue_url}\n"
        f"KNOWLEDGE_DLQ_URL={dlq_url}\n"
        f"KNOWLEDGE_EVENTS_QUEUE_URL={events_url}\n"
        f"HEALTH_QUEUE_URL={health_url}\n"
        f"HEALTH_DLQ_URL={health_dlq_url}\n"
        "EVENT_BUS_NAME=default\n"
    )
    print(f"local stack up: moto at {endpoint}, table {TABLE_NAME}, bucket {BUCKET}, queue {QUEUE}", file=sys.stderr)


def bucket_client():
    env = dict(line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=REGION,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    return s3, env["KNOWLEDGE_BUCKET"]


def ls(prefix):
    s3, bucket = bucket_client()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            print(f"{item['Size']:>8}  s3://{bucket}/{item['Key']}")


def cat(key):
    s3, bucket = bucket_client()
    sys.stdout.write(s3.get_object(Bucket=bucket, Key=key.removeprefix(f"s3://{bucket}/"))["Body"].read().decode())


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "start":
        start()
    elif command == "stop":
        stop()
    elif command == "table":
        print(json.dumps(table_definitions(), indent=2))
    elif command == "ls":
        ls(sys.argv[2] if len(sys.argv) > 2 else "")
    elif command == "cat" and len(sys.argv) > 2:
        cat(sys.argv[2])
    else:
        sys.exit(__doc__)

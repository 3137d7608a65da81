"""The bucket the `bucket` fixture (tests/conftest.py) points the attachments storage at:
moto in server mode on loopback, spoken to over HTTP by django-storages and boto3."""

from typing import Any

BUCKET = "threadline-attachments"


def bucket_objects(s3: Any) -> dict[str, bytes]:
    """Every object in the bucket, by key."""
    keys = [stored["Key"] for stored in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}

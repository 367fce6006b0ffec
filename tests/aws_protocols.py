"""boto3 clients forced to one of the wire protocols a botocore model lists.

botocore picks a model's protocol by its own preference order (for CloudWatch: JSON 1.0,
then CBOR, then query). To run one test suite over each, the client is built on a
botocore session whose data loader first finds a copy of the service's own model that
lists only the chosen protocol — botocore's documented way to load a customised model
(an extra data path), so the real serializer and parser of that protocol run.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

# The names the tests use → botocore's protocol names.
PROTOCOLS = {"json": "json", "query": "query", "cbor": "smithy-rpc-v2-cbor"}


@cache
def _data_path(service: str, protocol: str) -> str:
    loader = botocore.loaders.create_loader()
    version = loader.determine_latest_version(service, "service-2")
    builtin = Path(botocore.loaders.Loader.BUILTIN_DATA_PATH)
    found = builtin / service / version / "service-2.json.gz"
    model = json.loads(gzip.decompress(found.read_bytes()))
    if protocol not in model["metadata"].get("protocols", [model["metadata"]["protocol"]]):
        raise ValueError(f"{service} does not list {protocol}")
    model["metadata"]["protocols"] = [protocol]
    model["metadata"]["protocol"] = protocol
    root = Path(mkdtemp(prefix=f"botocore-{service}-{protocol}-"))
    target = root / service / version
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    return str(root)


def client(service: str, protocol: str, endpoint_url: str, **kwargs: Any) -> Any:
    """A boto3 client of ``service`` speaking ``protocol`` ("json", "query", "cbor")."""
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(
        0, _data_path(service, PROTOCOLS[protocol])
    )
    kwargs.setdefault("region_name", "us-east-1")
    kwargs.setdefault("aws_access_key_id", "AKIDTEST")
    kwargs.setdefault("aws_secret_access_key", "secret")
    kwargs.setdefault("config", Config(retries={"max_attempts": 1}))
    made = boto3.Session(botocore_session=session).client(
        service, endpoint_url=endpoint_url, **kwargs
    )
    assert made.meta.service_model.resolved_protocol == PROTOCOLS[protocol]
    return made

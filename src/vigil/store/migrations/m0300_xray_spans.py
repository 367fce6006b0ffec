"""X-Ray columns on ``spans`` (see vigil.model.xray), derived for OTLP spans by DEFAULTs.

The DEFAULT expressions are the OTLP → X-Ray mapping rule documented in README: rows
written by the X-Ray decoder carry their own values; rows written without these columns
(OTLP) get them from their attributes, and rows stored before this migration get them when
read. ClickHouse computes them at insert, so the hot path stays in C++.
"""

from vigil.store.migrations import Migration


def _attr(*keys: str) -> str:
    """The first non-empty attribute among ``keys`` (semantic conventions old and new)."""
    expr = "''"
    for key in reversed(keys):
        expr = f"if(attributes['{key}'] != '', attributes['{key}'], {expr})"
    return expr


_ZERO_SPAN = "unhex('0000000000000000')"

_URL = (
    "multiIf("
    "attributes['url.full'] != '', attributes['url.full'],"
    " attributes['http.url'] != '', attributes['http.url'],"
    " attributes['url.path'] != '', concat("
    "if(attributes['url.scheme'] != '', attributes['url.scheme'], 'http'), '://',"
    f" {_attr('server.address', 'http.host', 'net.host.name')}, attributes['url.path'],"
    " if(attributes['url.query'] != '', concat('?', attributes['url.query']), '')),"
    " attributes['http.target'] != '', concat('http://', "
    f"{_attr('http.host', 'net.host.name', 'server.address')}, attributes['http.target']),"
    " '')"
)

_REMOTE = (
    "if(kind NOT IN (3, 4), '', multiIf("
    "attributes['peer.service'] != '', attributes['peer.service'],"
    " attributes['rpc.system'] = 'aws-api' AND attributes['rpc.service'] != '',"
    " attributes['rpc.service'],"
    " attributes['db.system'] != '', "
    f"{_attr('db.name', 'db.namespace', 'server.address', 'db.system')},"
    " attributes['messaging.system'] != '', "
    f"{_attr('messaging.destination.name', 'messaging.destination', 'messaging.system')},"
    f" {_attr('server.address', 'net.peer.name', 'http.host', 'rpc.service')}))"
)

_PLATFORMS = (
    "transform(resource['cloud.platform'],"
    " ['aws_ec2', 'aws_ecs', 'aws_eks', 'aws_lambda', 'aws_elastic_beanstalk'],"
    " ['AWS::EC2::Instance', 'AWS::ECS::Container', 'AWS::EKS::Container',"
    " 'AWS::Lambda::Function', 'AWS::ElasticBeanstalk::Environment'], '')"
)

# Plain keys (letters, digits, underscore: what X-Ray allows) with scalar values are
# annotations; dotted semantic-convention keys and arrays/maps are metadata.
_ANNOTATIONS = (
    "mapFilter((k, v) -> match(k, '^[A-Za-z0-9_]{1,500}$')"
    " AND NOT (has(attributes_typed, k) AND (startsWith(v, '[') OR startsWith(v, '{'))),"
    " attributes)"
)

COLUMNS = [
    "source LowCardinality(String) DEFAULT 'otlp'",
    f"segment UInt8 DEFAULT kind IN (2, 5) OR parent_span_id = {_ZERO_SPAN}",
    f"origin LowCardinality(String) DEFAULT {_PLATFORMS}",
    "namespace LowCardinality(String) DEFAULT"
    " multiIf(kind NOT IN (3, 4), '', attributes['rpc.system'] = 'aws-api', 'aws', 'remote')",
    "user String DEFAULT attributes['enduser.id'] CODEC(ZSTD(1))",
    f"annotations Map(LowCardinality(String), String) DEFAULT {_ANNOTATIONS} CODEC(ZSTD(1))",
    f"http_method LowCardinality(String) DEFAULT {_attr('http.request.method', 'http.method')}",
    f"http_url String DEFAULT {_URL} CODEC(ZSTD(1))",
    "http_status UInt16 DEFAULT"
    f" toUInt16OrZero({_attr('http.response.status_code', 'http.status_code')})",
    "http_user_agent String DEFAULT"
    f" {_attr('user_agent.original', 'http.user_agent')} CODEC(ZSTD(1))",
    "http_client_ip String DEFAULT"
    f" {_attr('client.address', 'http.client_ip', 'net.sock.peer.addr')} CODEC(ZSTD(1))",
    "error UInt8 DEFAULT http_status BETWEEN 400 AND 499",
    "fault UInt8 DEFAULT http_status >= 500"
    " OR (status_code = 2 AND NOT (http_status BETWEEN 400 AND 499))",
    "throttle UInt8 DEFAULT http_status = 429",
    f"remote_service LowCardinality(String) DEFAULT {_REMOTE}",
    "remote_type LowCardinality(String) DEFAULT multiIf(remote_service = '', '',"
    " namespace = 'aws', concat('AWS::', remote_service),"
    " attributes['db.system'] != '', concat('Database::', attributes['db.system']), 'remote')",
    "document String DEFAULT '' CODEC(ZSTD(3))",
]

MIGRATION = Migration(
    id="0300",
    description="X-Ray segment columns on spans (OTLP spans derive them by DEFAULT)",
    statements=tuple(f"ALTER TABLE spans ADD COLUMN IF NOT EXISTS {c}" for c in COLUMNS),
)

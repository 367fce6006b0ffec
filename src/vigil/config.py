"""Server configuration: one dataclass, filled from the command line and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vigil.memory import PAGE_OUT_AFTER
from vigil.store.retention import MetricRetention


@dataclass(slots=True)
class Config:
    data_dir: Path = Path("data")
    store: str | None = None  # ClickHouse URL; default: embedded chDB in data_dir/clickhouse
    state: str | None = None  # SQLAlchemy URL; default: SQLite data_dir/state.db
    host: str = "127.0.0.1"
    port: int = 8080
    otlp_http_port: int = 4318
    otlp_grpc_port: int = 4317
    xray_port: int | None = 2000  # X-Ray daemon (UDP segments + TCP sampling); None: off
    api_keys: list[str] = field(default_factory=list)
    aws_credentials: dict[str, str] = field(default_factory=dict)  # access key id -> secret
    max_body_bytes: int = 16 * 1024 * 1024
    commit_interval_ms: float = 2.0  # WAL group commit: linger to share one write
    flush_interval_ms: float = 1000.0  # WAL → store: at least this often
    # … or once this many rows wait: 250k-row inserts cost ~5 % less CPU per row than
    # 100k ones but ~500 MB more memory (bench/RESULTS.md)
    flush_rows: int = 100_000
    max_queue_rows: int = 1_000_000  # accepted rows not yet in the store …
    max_queue_mb: int = 256  # … and their Arrow size
    wal_fsync: bool = False
    read_threads: int = 4
    query_timeout: float = 30.0
    log_retention_days: int | None = None  # server-wide default for log groups; None = forever
    metric_retention: MetricRetention = field(default_factory=MetricRetention)
    metric_search_limit: int = 500  # series one SEARCH() returns, as CloudWatch
    trace_retention_days: int = 30
    retention_interval: float = 3600.0
    insights_timeout: float = 900.0  # a Logs Insights query's time limit, seconds
    scheduled_query_interval: float = 30.0  # seconds between scheduled-query passes
    # notify: links in messages, outgoing mail, receivers' addresses (tests, air-gapped)
    public_url: str | None = None  # default: http://<host>:<port> as bound
    smtp_url: str | None = None  # smtp[s]://user:pass@host:port
    smtp_from: str = "vigil@localhost"
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    slack_api_url: str = "https://slack.com/api"
    pagerduty_webhook_secret: str | None = None  # PagerDuty V3 webhooks' signing secret
    slack_signing_secret: str | None = None  # Slack app's: Acknowledge/Resolve buttons
    notify_interval: float = 1.0  # seconds between notify passes (escalations, outbox)
    self_metrics: bool = True  # vigil's own counters as metrics in namespace "vigil"
    self_metrics_interval: float = 60.0  # seconds between two of those passes
    # Prometheus: scrape_configs to run (YAML, vigil.ingest.prom.scrape_config); None: none
    scrape_config: Path | None = None
    # Idle memory (vigil.memory): page the engine's code out after this long untouched; 0: never
    idle_page_out_after: float = PAGE_OUT_AFTER

    @property
    def store_url(self) -> str:
        return self.store or "chdb://" + str((self.data_dir / "clickhouse").resolve())

    @property
    def state_url(self) -> str:
        return self.state or "sqlite:///" + str((self.data_dir / "state.db").resolve())

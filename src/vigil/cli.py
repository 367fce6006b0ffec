"""The ``vigil`` command: ``vigil serve``, and ``vigil logs query|tail`` (see logs_cli)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from vigil.config import Config
from vigil.store.retention import MetricRetention, parse_retention


class _DefaultsHelp(argparse.HelpFormatter):
    """Every flag's help ends with its default, unless the help already words it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = Config()
    p = sub.add_parser("serve", help="run the vigil server", formatter_class=_DefaultsHelp)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("VIGIL_DATA_DIR", d.data_dir)),
        help="where the embedded store, the write-ahead log and the state live; one server"
        " per directory (env VIGIL_DATA_DIR)",
    )
    p.add_argument(
        "--host", default=d.host, help="address to bind; any other than loopback needs --api-key"
    )
    p.add_argument(
        "--port",
        type=int,
        default=d.port,
        help="main HTTP port: AWS APIs, /api/v1, OTLP/HTTP, /metrics (0: any free port)",
    )
    p.add_argument(
        "--otlp-http-port", type=int, default=d.otlp_http_port, help="OTLP/HTTP port (0: any free)"
    )
    p.add_argument(
        "--otlp-grpc-port", type=int, default=d.otlp_grpc_port, help="OTLP/gRPC port (0: any free)"
    )
    p.add_argument(
        "--xray-port",
        type=int,
        default=d.xray_port,
        help="X-Ray daemon port: UDP segments and TCP sampling (0: any free port; -1: off)",
    )
    p.add_argument(
        "--store",
        default=os.environ.get("VIGIL_STORE"),
        help="ClickHouse URL (http://host:8123/db); default: embedded in the data dir"
        " (env VIGIL_STORE)",
    )
    p.add_argument(
        "--state",
        default=os.environ.get("VIGIL_STATE"),
        help="state database (SQLAlchemy URL); default: SQLite in the data dir (env VIGIL_STATE)",
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=None,
        help="API key required as 'Authorization: Bearer KEY' (repeatable; env"
        " VIGIL_API_KEY=k1,k2); default: none, and then only loopback is served",
    )
    p.add_argument(
        "--aws-access-key-id",
        default=os.environ.get("VIGIL_AWS_ACCESS_KEY_ID"),
        help="access key that AWS SDK clients sign with (env VIGIL_AWS_ACCESS_KEY_ID);"
        " default: none, signatures are checked only when an API key is set",
    )
    p.add_argument(
        "--aws-secret-access-key",
        default=os.environ.get("VIGIL_AWS_SECRET_ACCESS_KEY"),
        help="its secret (env VIGIL_AWS_SECRET_ACCESS_KEY); default: none",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=d.max_body_bytes,
        help="largest request body, before and after decompression (413 beyond)",
    )
    p.add_argument(
        "--commit-interval-ms",
        type=float,
        default=d.commit_interval_ms,
        help="how long the write-ahead log waits to group concurrent requests",
    )
    p.add_argument(
        "--flush-interval-ms",
        type=float,
        default=d.flush_interval_ms,
        help="how often the write-ahead log is inserted into the store",
    )
    p.add_argument(
        "--flush-rows",
        type=int,
        default=d.flush_rows,
        help="insert into the store as soon as this many rows wait",
    )
    p.add_argument(
        "--max-queue-rows",
        type=int,
        default=d.max_queue_rows,
        help="accepted rows not yet in the store; past it writes get 429",
    )
    p.add_argument(
        "--max-queue-mb",
        type=int,
        default=d.max_queue_mb,
        help="MiB of accepted data not yet in the store; past it writes get 429",
    )
    p.add_argument(
        "--wal-fsync",
        action="store_true",
        help="fsync the write-ahead log before acknowledging (power-loss safe); default: off"
        " (kill -9 safe)",
    )
    p.add_argument(
        "--read-threads", type=int, default=d.read_threads, help="store queries run at once"
    )
    p.add_argument(
        "--query-timeout",
        type=float,
        default=d.query_timeout,
        help="time limit of a read API / AWS API query, seconds (504 beyond)",
    )
    p.add_argument(
        "--log-retention-days",
        type=int,
        default=d.log_retention_days,
        help="days log groups without a retention of their own are kept; default: forever",
    )
    p.add_argument(
        "--metric-retention",
        default=os.environ.get("VIGIL_METRIC_RETENTION", ""),
        help="retention ladder (any subset); default: raw=3h,1m=15d,5m=63d,1h=455d"
        " (env VIGIL_METRIC_RETENTION)",
    )
    p.add_argument(
        "--metric-retention-days",
        type=int,
        default=None,
        help="days metrics are kept: the 1-hour rollups N days, finer levels at most N days;"
        " default: the ladder of --metric-retention",
    )
    p.add_argument(
        "--metric-search-limit",
        type=int,
        default=d.metric_search_limit,
        help="most series one metric math SEARCH() returns",
    )
    p.add_argument(
        "--trace-retention-days",
        type=int,
        default=d.trace_retention_days,
        help="days spans are kept",
    )
    p.add_argument(
        "--retention-interval",
        type=float,
        default=d.retention_interval,
        help="seconds between retention passes (log groups, metric rollups, expired partitions)",
    )
    p.add_argument(
        "--insights-timeout",
        type=float,
        default=d.insights_timeout,
        help="time limit of a Logs Insights query, seconds",
    )
    p.add_argument(
        "--scheduled-query-interval",
        type=float,
        default=d.scheduled_query_interval,
        help="seconds between passes that run due scheduled queries",
    )
    p.add_argument(
        "--no-self-metrics",
        dest="self_metrics",
        action="store_false",
        help="do not record vigil's own counters in namespace 'vigil' (the 'vigil' dashboard)",
    )
    p.add_argument(
        "--self-metrics-interval",
        type=float,
        default=d.self_metrics_interval,
        help="seconds between two recordings of vigil's own counters",
    )
    p.add_argument(
        "--idle-page-out-after",
        type=float,
        default=d.idle_page_out_after,
        help="seconds of an untouched store after which the embedded engine's code pages"
        " are handed back to the system (the next request reads what it runs back); 0: never",
    )
    p.add_argument(
        "--scrape-config",
        type=Path,
        default=os.environ.get("VIGIL_SCRAPE_CONFIG") or None,
        help="Prometheus-style YAML with scrape_configs whose targets vigil scrapes into"
        " namespace 'prometheus' (env VIGIL_SCRAPE_CONFIG); default: none",
    )
    p.add_argument(
        "--log-level",
        default=os.environ.get("VIGIL_LOG_LEVEL", "INFO"),
        help="DEBUG, INFO, WARNING or ERROR: what vigil logs on standard error"
        " (env VIGIL_LOG_LEVEL)",
    )
    p.add_argument(
        "--public-url",
        default=os.environ.get("VIGIL_PUBLIC_URL"),
        help="base URL of links in notifications (env VIGIL_PUBLIC_URL; default:"
        " http://HOST:PORT as bound)",
    )
    p.add_argument(
        "--smtp-url",
        default=os.environ.get("VIGIL_SMTP_URL"),
        help="mail server for email notifications: smtp[s]://user:pass@host:port"
        " (STARTTLS when offered; env VIGIL_SMTP_URL); default: none, email is not sent",
    )
    p.add_argument("--smtp-from", default=d.smtp_from, help="sender of notification mail")
    p.add_argument(
        "--pagerduty-events-url",
        default=d.pagerduty_events_url,
        help="PagerDuty Events API v2 endpoint (point it at a local receiver to test)",
    )
    p.add_argument(
        "--pagerduty-webhook-secret",
        default=os.environ.get("VIGIL_PAGERDUTY_WEBHOOK_SECRET"),
        help="secret of a PagerDuty V3 webhook subscription pointed at"
        " /notify/pagerduty/webhook: acknowledgements there stop the escalation here"
        " (env VIGIL_PAGERDUTY_WEBHOOK_SECRET); default: none, the webhook is refused",
    )
    p.add_argument(
        "--slack-api-url",
        default=d.slack_api_url,
        help="Slack Web API base (incoming webhooks are subscription endpoints)",
    )
    p.add_argument(
        "--slack-signing-secret",
        default=os.environ.get("VIGIL_SLACK_SIGNING_SECRET"),
        help="signing secret of the Slack app whose incoming webhooks are subscribed, with"
        " Interactivity's Request URL set to <public-url>/notify/slack/actions: Slack"
        " messages get Acknowledge and Resolve buttons (env VIGIL_SLACK_SIGNING_SECRET);"
        " default: none, the buttons are links to the signed acknowledge page",
    )


def _metric_retention(args: argparse.Namespace) -> MetricRetention:
    ladder = MetricRetention()
    if args.metric_retention_days is not None:
        ladder = ladder.capped(args.metric_retention_days * 86400)
    return parse_retention(args.metric_retention, ladder)


def _api_keys(flags: list[str] | None, env: str | None) -> list[str]:
    """The API keys from --api-key (which override VIGIL_API_KEY), each one non-blank.

    A blank key is refused rather than dropped: ``--api-key ''`` must not count as "a key
    was given" (which allows binding a public address) while authenticating nobody.
    """
    if flags is not None:
        keys, source = flags, "--api-key"
    elif env is not None and env != "":
        keys, source = env.split(","), "VIGIL_API_KEY"
    else:
        return []
    if any(not k.strip() for k in keys):
        raise ValueError(f"{source}: an API key must not be empty or whitespace")
    return [k.strip() for k in keys]


def parse_config(args: argparse.Namespace) -> Config:
    keys = _api_keys(args.api_key, os.environ.get("VIGIL_API_KEY"))
    aws = {}
    if args.aws_access_key_id and args.aws_secret_access_key:
        aws[args.aws_access_key_id] = args.aws_secret_access_key
    return Config(
        data_dir=args.data_dir,
        store=args.store,
        state=args.state,
        host=args.host,
        port=args.port,
        otlp_http_port=args.otlp_http_port,
        otlp_grpc_port=args.otlp_grpc_port,
        xray_port=None if args.xray_port < 0 else args.xray_port,
        api_keys=keys,
        aws_credentials=aws,
        max_body_bytes=args.max_body_bytes,
        commit_interval_ms=args.commit_interval_ms,
        flush_interval_ms=args.flush_interval_ms,
        flush_rows=args.flush_rows,
        wal_fsync=args.wal_fsync,
        max_queue_rows=args.max_queue_rows,
        max_queue_mb=args.max_queue_mb,
        read_threads=args.read_threads,
        query_timeout=args.query_timeout,
        log_retention_days=args.log_retention_days,
        metric_retention=_metric_retention(args),
        metric_search_limit=args.metric_search_limit,
        trace_retention_days=args.trace_retention_days,
        retention_interval=args.retention_interval,
        insights_timeout=args.insights_timeout,
        scheduled_query_interval=args.scheduled_query_interval,
        public_url=args.public_url,
        smtp_url=args.smtp_url,
        smtp_from=args.smtp_from,
        pagerduty_events_url=args.pagerduty_events_url,
        slack_api_url=args.slack_api_url,
        self_metrics=args.self_metrics,
        self_metrics_interval=args.self_metrics_interval,
        pagerduty_webhook_secret=args.pagerduty_webhook_secret,
        slack_signing_secret=args.slack_signing_secret,
        scrape_config=_scrape_config(args.scrape_config),
        idle_page_out_after=args.idle_page_out_after,
    )


def _scrape_config(path: Path | None) -> Path | None:
    """The scrape config, checked now so that a mistake stops ``serve`` with its reason."""
    if path is not None:
        from vigil.ingest.prom.scrape_config import load

        load(path)  # raises ScrapeConfigError (a ValueError) naming the field
    return path


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv)[:1] == ["serve"]:
        from vigil import memory

        memory.before_serve()  # before any thread and heavy import (memory.py says why)
    parser = argparse.ArgumentParser(prog="vigil", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    from vigil import logs_cli

    logs_cli.add_parser(sub)
    from vigil import incidents_cli

    incidents_cli.add_parser(sub)
    from vigil import demo

    demo.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "logs":
        return logs_cli.run(args)
    if args.command == "incidents":
        return incidents_cli.run(args)
    if args.command == "demo":
        return demo.run(args)
    if args.command == "serve":
        from vigil.preflight import PreflightError
        from vigil.server import ConfigError, serve

        logging.basicConfig(
            level=args.log_level.upper(),
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        try:
            config = parse_config(args)
        except ValueError as exc:
            print(f"vigil: {exc}", file=sys.stderr)
            return 2
        try:
            import uvloop

            return uvloop.run(serve(config))
        except (ConfigError, PreflightError) as exc:
            print(f"vigil: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 0
    parser.error(f"unknown command {args.command}")

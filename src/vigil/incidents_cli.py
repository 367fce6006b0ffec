"""``vigil incidents list|ack|resolve``: incidents of a running vigil from a terminal,
over its JSON API (``--url`` / ``VIGIL_URL``, ``--api-key`` / ``VIGIL_API_KEY``,
``--tenant``), as the logs commands do."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

import httpx

from vigil.logs_cli import _client, _fail


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import os

    from vigil.logs_cli import DEFAULT_URL

    inc = sub.add_parser("incidents", help="list, acknowledge or resolve incidents")
    inc_sub = inc.add_subparsers(dest="incidents_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("VIGIL_URL", DEFAULT_URL))
    common.add_argument("--api-key", default=os.environ.get("VIGIL_API_KEY", "").split(",")[0])
    common.add_argument("--tenant", default=os.environ.get("VIGIL_TENANT"))
    listing = inc_sub.add_parser("list", parents=[common], help="incidents, newest first")
    listing.add_argument("--status", choices=["open", "acknowledged", "resolved"])
    for name in ("ack", "resolve"):
        p = inc_sub.add_parser(name, parents=[common], help=f"{name} an incident")
        p.add_argument("id")
        p.add_argument("--by", default=getpass.getuser(), help="who (default: you)")


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        with _client(args) as client:
            if args.incidents_command == "list":
                params = {"status": args.status} if args.status else {}
                response = client.get("/api/v1/incidents", params=params)
                if response.status_code != 200:
                    return _fail(response)
                for inc in response.json()["incidents"]:
                    print(
                        f"{inc['id']}  {inc['status']:<12}  step {inc['step']}/{inc['steps']}"
                        f"  {inc['title']}",
                        file=out,
                    )
                return 0
            action = "ack" if args.incidents_command == "ack" else "resolve"
            response = client.post(f"/api/v1/incidents/{args.id}/{action}", json={"by": args.by})
            if response.status_code != 200:
                return _fail(response)
            print(f"{args.id}: {response.json()['status']}", file=out)
            return 0
    except httpx.HTTPError as exc:
        print(f"vigil: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2

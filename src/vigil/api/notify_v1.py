"""``/api/v1`` routes of the notify pillar, and the signed one-click acknowledge link.

* ``GET /api/v1/notifications`` — every delivery (what, to whom — names, never endpoint
  secrets — status, reason: sent, failed, held by a silence or flap control, …) with its
  attempts; ``status``, ``limit``.
* ``POST /api/v1/incidents`` declares one by hand: ``{"title", "message", "severity",
  "key" (one open incident per key), "policy" | "targets": [topic ARNs, …]}``.
* ``GET /api/v1/incidents`` (``status``, ``limit``), ``GET /api/v1/incidents/{id}`` (with
  its history), ``POST /api/v1/incidents/{id}/ack`` and ``/resolve`` (body optional:
  ``{"by": "name"}``).
* ``GET|PUT|DELETE /api/v1/escalation-policies/{name}`` (PUT body ``{"levels": […]}``),
  ``GET /api/v1/escalation-policies``.
* ``GET|PUT /api/v1/schedules/{name}``, ``GET /api/v1/schedules``,
  ``GET /api/v1/schedules/{name}/oncall?at=T`` (default now).
* ``GET|POST /api/v1/silences``, ``DELETE /api/v1/silences/{id}``.
* ``GET /notify/ack/{id}?tenant&expires&sig`` shows a confirmation page (mail scanners
  follow links: a GET never changes state); its form POSTs back and acknowledges. The
  link is signed (HMAC) and expires; a forged or expired one is refused (403), a second
  use answers that the incident is already acknowledged (409).
* ``GET /notify/sns/SimpleNotificationService-<id>.pem`` — the certificate that signs SNS
  messages (their SigningCertURL); ``GET /notify/sns/confirm`` and ``/notify/sns/unsubscribe``
  — the SubscribeURL and UnsubscribeURL of SNS messages (SNS's XML answers).
* ``GET /notify/graph/<payload>.<sig>.png`` — an alarm's graph, by its signed, expiring
  link (``notify.graph``): what Slack, Teams and PagerDuty fetch to show it.
* ``POST /notify/slack/actions`` — Slack's interaction payloads (Acknowledge / Resolve
  buttons), signed with ``--slack-signing-secret`` (``notify.slackactions``).
* ``POST /notify/pagerduty/webhook?tenant=T`` — PagerDuty V3 webhooks (signed with
  ``--pagerduty-webhook-secret``): acknowledged / resolved there, here too.
The ``/notify/`` paths need no API key (the ack link's signature is its credential; the
certificate is public): ``is_open_path`` tells the auth middleware.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from vigil.api.aws import protocols
from vigil.api.endpoint import Endpoint, json_endpoint
from vigil.api.params import ParamError, Params
from vigil.api.responses import JSONResponse, error
from vigil.notify import slackactions
from vigil.notify.escalation import AlreadyHandled, EscalationError
from vigil.notify.graph import GRAPH_PREFIX
from vigil.notify.interface import SEVERITIES, Notification
from vigil.notify.oncall import ScheduleError
from vigil.notify.runtime import NotifyParts
from vigil.notify.signing import CERT_PREFIX
from vigil.notify.silences import SilenceError
from vigil.notify.silencestore import to_spec
from vigil.notify.topics import CONFIRM_PATH, UNSUBSCRIBE_PATH, TopicError

SNS_MODEL = protocols.load_model("sns")
ACK_PREFIX = "/notify/ack/"
PAGERDUTY_WEBHOOK = "/notify/pagerduty/webhook"
SLACK_ACTIONS = "/notify/slack/actions"
OPEN_PREFIX = "/notify/"  # the ack links and the SNS signing certificate


def is_open_path(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith(OPEN_PREFIX)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParamError("body", f"not valid JSON: {exc}") from None


class NotifyApi:
    def __init__(self, parts: NotifyParts) -> None:
        self.parts = parts

    def routes(self) -> list[Route]:
        j = json_endpoint

        def route(path: str, endpoint: Endpoint, methods: list[str] | None = None) -> Route:
            return Route(path, self._once_started(endpoint), methods=methods)

        return [
            route("/api/v1/notifications", j(self.notifications)),
            route("/api/v1/incidents", j(self.incidents), methods=["GET", "POST"]),
            route("/api/v1/incidents/{id}", j(self.incident)),
            route("/api/v1/incidents/{id}/ack", j(self.ack), methods=["POST"]),
            route("/api/v1/incidents/{id}/resolve", j(self.resolve), methods=["POST"]),
            route("/api/v1/escalation-policies", j(self.policies)),
            route(
                "/api/v1/escalation-policies/{name}",
                j(self.policy),
                methods=["GET", "PUT", "DELETE"],
            ),
            route("/api/v1/schedules", j(self.schedules)),
            route("/api/v1/schedules/{name}", j(self.schedule), methods=["GET", "PUT"]),
            route("/api/v1/schedules/{name}/oncall", j(self.oncall)),
            route("/api/v1/silences", j(self.silences), methods=["GET", "POST"]),
            route("/api/v1/silences/{id}", j(self.silence), methods=["DELETE"]),
            route(ACK_PREFIX + "{id}", self.ack_link, methods=["GET", "POST"]),
            # The certificate's id is known once the keys are loaded (at start).
            route(CERT_PREFIX + "{id}.pem", self.certificate),
            route(PAGERDUTY_WEBHOOK, self.pagerduty_webhook, methods=["POST"]),
            route(GRAPH_PREFIX + "{name}", self.graph),
            route(SLACK_ACTIONS, self.slack_actions, methods=["POST"]),
            route(CONFIRM_PATH, self.sns_link),
            route(UNSUBSCRIBE_PATH, self.sns_link),
        ]

    def _once_started(self, endpoint: Endpoint) -> Endpoint:
        """503 until the parts have started (their keys loaded). The server serves these
        routes only after every pillar's start; this keeps an embedding that serves them
        earlier from signing or checking a link with no key."""

        async def guarded(request: Request) -> Response:
            if not self.parts.started:
                return error(503, "unavailable", "the notify pillar has not started yet")
            return await endpoint(request)

        return guarded

    async def graph(self, request: Request) -> Response:
        """The PNG of a signed graph link (``notify.graph``): 403 when forged or expired,
        404 when it cannot be drawn now."""
        checked = self.parts.graphs.check(request.path_params["name"])
        if isinstance(checked, str):
            return error(403, "forbidden", checked)
        tenant, widget = checked
        image = await self.parts.graphs.png(tenant, widget)
        if image is None:
            return error(404, "not_found", "the graph cannot be drawn now")
        return Response(image, media_type="image/png", headers={"cache-control": "max-age=300"})

    async def slack_actions(self, request: Request) -> Response:
        """Slack's interaction payloads (``notify.slackactions``): the Acknowledge and
        Resolve buttons. Signed with ``--slack-signing-secret`` (401 when the signature
        or the 5-minute window fails; 404 without a configured secret); answers 200 at
        once (Slack wants it within 3 s) after the incident is updated and the message
        replaced through ``response_url``."""
        secret = self.parts.settings.slack_signing_secret
        if not secret:
            return error(404, "not_found", "no Slack signing secret is configured")
        body = await request.body()
        try:
            slackactions.verify(
                secret,
                request.headers.get("x-slack-request-timestamp", ""),
                request.headers.get("x-slack-signature", ""),
                body,
                self.parts.clock(),
            )
            click = slackactions.parse(body)
        except slackactions.SlackRequestError as exc:
            return error(
                exc.status, "unauthorized" if exc.status == 401 else "bad_request", str(exc)
            )
        actions = {
            slackactions.ACK_ACTION: (self.parts.escalations.acknowledge, "Acknowledged"),
            slackactions.RESOLVE_ACTION: (self.parts.escalations.resolve, "Resolved"),
        }
        if click is None or click.action not in actions:
            return Response(b"", 200)  # a link button, or another payload: nothing to do
        tenant = await self.parts.escalations.tenant_of(click.incident_id)
        if tenant is None:
            return Response(b"", 200)
        action, word = actions[click.action]
        who = f"{click.user} (Slack)"[:200]
        try:
            await action(tenant, click.incident_id, who)
            note = f"{word} by <@{click.user_id}>" if click.user_id else f"{word} by {who}"
        except AlreadyHandled as exc:
            note = f"Already {exc.status}; nothing changed."
        except EscalationError:
            return Response(b"", 200)
        incident = await self.parts.escalations.get(tenant, click.incident_id)
        if incident is not None and click.response_url.startswith(("https://", "http://")):
            await self.parts.respond_slack(click.response_url, slackactions.updated(incident, note))
        return Response(b"", 200)

    async def pagerduty_webhook(self, request: Request) -> Response:
        """PagerDuty's V3 webhooks: an incident acknowledged or resolved in PagerDuty is
        acknowledged or resolved here (the event's ``incident_key`` is the dedup_key vigil
        sent: the incident id). Signed ``X-PagerDuty-Signature: v1=<HMAC-SHA256 hex>`` with
        ``--pagerduty-webhook-secret``; without a configured secret the path is refused."""
        secret = self.parts.settings.pagerduty_webhook_secret
        if not secret:
            return error(404, "not_found", "no PagerDuty webhook secret is configured")
        body = await request.body()
        want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        given = [
            part.strip().removeprefix("v1=")
            for part in request.headers.get("x-pagerduty-signature", "").split(",")
        ]
        if not any(hmac.compare_digest(want, g) for g in given):
            return error(401, "unauthorized", "invalid X-PagerDuty-Signature")
        try:
            event = orjson.loads(body).get("event", {})
            kind = str(event.get("event_type", ""))
            key = str((event.get("data") or {}).get("incident_key") or "")
            who = str((event.get("agent") or {}).get("summary") or "PagerDuty")
        except (orjson.JSONDecodeError, AttributeError):
            return error(400, "invalid_parameter", "not a PagerDuty webhook event")
        actions = {
            "incident.acknowledged": self.parts.escalations.acknowledge,
            "incident.resolved": self.parts.escalations.resolve,
        }
        action = actions.get(kind)
        if action is None or not key:
            return JSONResponse({"status": "ignored"})
        tenant = request.query_params.get("tenant", "default")
        try:
            await action(tenant, key, f"{who} (PagerDuty)"[:200])
        except (EscalationError, AlreadyHandled):
            return JSONResponse({"status": "ignored"})
        return JSONResponse({"status": "applied", "incident": key})

    async def sns_link(self, request: Request) -> Response:
        """SNS's SubscribeURL / UnsubscribeURL, answered in SNS's XML."""
        q = request.query_params
        tenant = q.get("tenant", "default")
        confirm = request.url.path == CONFIRM_PATH
        operation = "ConfirmSubscription" if confirm else "Unsubscribe"
        request_id = str(uuid.uuid4())
        topics = self.parts.topics
        try:
            if confirm:
                sub = await topics.confirm(tenant, q.get("TopicArn", ""), q.get("Token", ""))
                output: dict[str, Any] = {"SubscriptionArn": sub.arn}
            else:
                await topics.unsubscribe(tenant, q.get("SubscriptionArn", ""))
                output = {}
        except TopicError as exc:
            body = protocols.query_error(
                exc.code, exc.message, True, request_id, SNS_MODEL.metadata.get("xmlNamespace")
            )
            return Response(body, exc.status, media_type="text/xml")
        body = protocols.query_response(SNS_MODEL.operation_model(operation), output, request_id)
        return Response(body, 200, media_type="text/xml")

    async def certificate(self, request: Request) -> Response:
        """The certificate of SNS message signatures (SigningCertURL); 404 for another id."""
        if request.url.path != self.parts.signer.cert_path:
            return error(404, "not_found", "no such certificate")
        return Response(self.parts.signer.cert_pem, media_type="application/x-pem-file")

    async def _thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    # --- notifications and incidents -------------------------------------------------

    async def notifications(self, request: Request, tenant: str, p: Params) -> Response:
        limit = p.integer("limit", 100, lo=1, hi=1000)
        status = p.text("status")
        rows = await self._thread(self.parts.notifier.listing, tenant, status, limit)
        return JSONResponse({"notifications": rows})

    async def incidents(self, request: Request, tenant: str, p: Params) -> Response:
        if request.method == "POST":
            return await self.declare(request, tenant)
        rows = await self.parts.escalations.list(
            tenant, p.text("status"), p.integer("limit", 100, lo=1, hi=1000)
        )
        return JSONResponse({"incidents": rows})

    async def declare(self, request: Request, tenant: str) -> Response:
        body = await _body(request)
        if not isinstance(body, dict):
            raise ParamError("body", "an incident is a JSON object")
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ParamError("title", "a title is required")
        severity = body.get("severity", "warning")
        if severity not in SEVERITIES:
            raise ParamError("severity", f"one of {', '.join(SEVERITIES)}")
        policy, targets = body.get("policy"), body.get("targets", [])
        if policy is not None and not isinstance(policy, str):
            raise ParamError("policy", "a policy name")
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ParamError("targets", "a list of topic ARNs or targets")
        esc = self.parts.escalations
        if policy is not None and policy not in await esc.policies(tenant):
            raise ParamError("policy", f"no escalation policy {policy!r}")
        if policy is None and not targets:
            raise ParamError("targets", "name a policy or at least one target")
        key = str(body.get("key") or f"manual/{uuid.uuid4().hex[:12]}")
        note = Notification(
            key=f"manual/{key}/{int(self.parts.clock() * 1000)}",
            subject=title.strip()[:100],
            message=str(body.get("message", "")) or title,
            kind="trigger",
            severity=severity,
            group=key,
        )
        made, new = await esc.open(tenant, key, note, policy, targets)
        return JSONResponse(esc.describe(made), status_code=201 if new else 200)

    async def incident(self, request: Request, tenant: str, p: Params) -> Response:
        found = await self.parts.escalations.get(tenant, request.path_params["id"])
        if found is None:
            return error(404, "not_found", "no such incident")
        return JSONResponse(found)

    async def ack(self, request: Request, tenant: str, p: Params) -> Response:
        return await self._close(request, tenant, self.parts.escalations.acknowledge)

    async def resolve(self, request: Request, tenant: str, p: Params) -> Response:
        return await self._close(request, tenant, self.parts.escalations.resolve)

    async def _close(
        self, request: Request, tenant: str, action: Callable[[str, str, str], Awaitable[Any]]
    ) -> Response:
        body = await _body(request)
        by = str(body.get("by", "api")) if isinstance(body, dict) else "api"
        try:
            done = await action(tenant, request.path_params["id"], by[:200])
        except EscalationError:
            return error(404, "not_found", "no such incident")
        except AlreadyHandled as exc:
            return error(409, "conflict", str(exc))
        return JSONResponse(self.parts.escalations.describe(done))

    # --- policies, schedules, silences -----------------------------------------------

    async def policies(self, request: Request, tenant: str, p: Params) -> Response:
        return JSONResponse({"policies": await self.parts.escalations.policies(tenant)})

    async def policy(self, request: Request, tenant: str, p: Params) -> Response:
        name = request.path_params["name"]
        esc = self.parts.escalations
        if request.method == "PUT":
            body = await _body(request)
            try:
                levels = await esc.put_policy(
                    tenant, name, body.get("levels") if isinstance(body, dict) else None
                )
            except EscalationError as exc:
                raise ParamError("levels", str(exc)) from None
            return JSONResponse({"name": name, "levels": levels})
        if request.method == "DELETE":
            if not await esc.delete_policy(tenant, name):
                return error(404, "not_found", "no such policy")
            return JSONResponse({})
        found = (await esc.policies(tenant)).get(name)
        if found is None:
            return error(404, "not_found", "no such policy")
        return JSONResponse({"name": name, "levels": found})

    async def schedules(self, request: Request, tenant: str, p: Params) -> Response:
        return JSONResponse({"schedules": await self._thread(self.parts.schedules.all, tenant)})

    async def schedule(self, request: Request, tenant: str, p: Params) -> Response:
        name = request.path_params["name"]
        if request.method == "PUT":
            try:
                spec = await self._thread(
                    self.parts.schedules.put, tenant, name, await _body(request)
                )
            except ScheduleError as exc:
                raise ParamError("body", str(exc)) from None
            return JSONResponse({"name": name, **spec})
        found = (await self._thread(self.parts.schedules.all, tenant)).get(name)
        if found is None:
            return error(404, "not_found", "no such schedule")
        return JSONResponse({"name": name, **found})

    async def oncall(self, request: Request, tenant: str, p: Params) -> Response:
        name = request.path_params["name"]
        given = p.number("at")
        at = self.parts.clock() if given is None else given
        try:
            who = await self._thread(self.parts.schedules.who, tenant, name, at)
        except ScheduleError as exc:
            return error(404, "not_found", str(exc))
        return JSONResponse({"schedule": name, "at": at, "on_call": who})

    async def silences(self, request: Request, tenant: str, p: Params) -> Response:
        store = self.parts.silences
        if request.method == "POST":
            body = await _body(request)
            if not isinstance(body, dict):
                raise ParamError("body", "a silence is a JSON object")
            try:
                made = await self._thread(store.add, tenant, body)
            except SilenceError as exc:
                raise ParamError("body", str(exc)) from None
            return JSONResponse(to_spec(made))
        return JSONResponse(
            {"silences": [to_spec(s) for s in await self._thread(store.all, tenant)]}
        )

    async def silence(self, request: Request, tenant: str, p: Params) -> Response:
        if not await self._thread(self.parts.silences.delete, tenant, request.path_params["id"]):
            return error(404, "not_found", "no such silence")
        return JSONResponse({})

    # --- the one-click link ----------------------------------------------------------

    async def ack_link(self, request: Request) -> Response:
        esc = self.parts.escalations
        inc_id = request.path_params["id"]
        q = request.query_params
        tenant = q.get("tenant", "")
        why = esc.check_link(tenant, inc_id, q.get("expires", ""), q.get("sig", ""))
        if why is not None:
            return _page(403, "Link refused", f"This acknowledge link is not valid: {why}.")
        if request.method == "GET":
            form = (
                f'<form method="post" action="{html.escape(str(request.url))}">'
                '<button type="submit">Acknowledge</button></form>'
            )
            return _page(200, "Acknowledge the incident?", f"Incident {html.escape(inc_id)}.", form)
        try:
            await esc.acknowledge(tenant, inc_id, "acknowledge link")
        except EscalationError:
            return _page(404, "No such incident", "The incident does not exist.")
        except AlreadyHandled as exc:
            return _page(409, "Nothing to do", f"The incident is already {exc.status}.")
        return _page(200, "Acknowledged", "The escalation has stopped.")


def _page(status: int, title: str, text: str, extra: str = "") -> HTMLResponse:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{extra}</body></html>"
    )
    return HTMLResponse(body, status_code=status)

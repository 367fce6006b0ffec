"""Email over SMTP: ``email`` (plain text, as SNS sends) and ``email-json`` (the JSON).

The server is ``--smtp-url smtp[s]://user:pass@host:port`` (``smtps`` is TLS from the
first byte; ``smtp`` upgrades with STARTTLS when the server offers it) and ``--smtp-from``.
The target's endpoint is the recipient address. Replies 4xx (and dropped connections,
timeouts) are retried; 5xx (refused recipient, bad authentication) are not. The password
never appears in an outcome: only the SMTP code and the server's words, scrubbed.
smtplib is blocking, so each send runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import html as _html
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import orjson

from vigil.notify.interface import Notification, SendOutcome, Target, log_lines_text
from vigil.notify.snsmessage import envelope

if TYPE_CHECKING:
    from vigil.notify.channels.sns_http import Signer

# A notification's graph PNG, drawn at send time (None: no graph, or not in time).
GraphSource = Callable[[Notification], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool = False  # smtps: TLS from the start
    username: str | None = None
    password: str | None = None
    sender: str = "vigil@localhost"
    timeout: float = 10.0
    verify: bool = True  # check the server's certificate

    @classmethod
    def from_url(cls, url: str, sender: str, timeout: float = 10.0) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("--smtp-url must look like smtp[s]://user:pass@host:port")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender,
            timeout=timeout,
        )


def compose(
    settings: SmtpSettings,
    target: Target,
    notification: Notification,
    signer: Signer | None = None,
    graph: bytes | None = None,
) -> EmailMessage:
    n = notification
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = target.endpoint
    msg["Subject"] = (n.subject or "vigil notification")[:998]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="vigil")
    # The same delivery resent after a crash keeps its key, so mail filters can drop it.
    msg["X-Vigil-Key"] = f"{n.key}/{target.id}"
    if target.channel == "email-json":
        # SNS sends email-json subscribers its JSON message, as http subscribers get it.
        message = envelope(n, target, "email-json")
        if signer is not None:
            message = signer.sign(message, target.options.get("signature_version", "1"))
        msg.set_content(orjson.dumps(message).decode())
        return msg
    text = n.body_for("email")
    lines = log_lines_text(n)
    if lines:
        text += "\n\nTop log lines of the alarm window (UTC):\n" + lines
    links = [f"{name}: {url}" for name, url in n.links.items() if name != "ack"]
    if "ack" in n.links and n.kind == "trigger":
        links.append(f"Acknowledge: {n.links['ack']}")
    if links:
        text += "\n\n" + "\n".join(links)
    msg.set_content(text)
    if graph is not None:
        # multipart/alternative (text, HTML) inside multipart/related with the PNG, which
        # the HTML shows inline by its Content-ID; text-only readers get the text.
        cid = make_msgid(domain="vigil")
        html = "<br>\n".join(_html.escape(line) for line in text.splitlines())
        msg.add_alternative(
            f'<html><body><p style="font-family:sans-serif">{html}</p>'
            f'<p><img src="cid:{cid[1:-1]}" alt="metric graph" width="600"></p></body></html>',
            subtype="html",
        )
        html_part = msg.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(graph, maintype="image", subtype="png", cid=cid, filename="graph.png")
    return msg


class EmailChannel:
    kinds: tuple[str, ...] = ("email", "email-json")

    def __init__(
        self,
        settings: SmtpSettings | None,
        signer: Signer | None = None,
        graphs: GraphSource | None = None,
    ) -> None:
        self.settings = settings
        self.signer = signer
        self.graphs = graphs

    async def send(self, target: Target, notification: Notification) -> SendOutcome:
        if self.settings is None:
            return SendOutcome(ok=False, retryable=False, detail="no SMTP server (--smtp-url)")
        graph = None
        if self.graphs is not None and target.channel == "email":
            graph = await self.graphs(notification)
        message = compose(self.settings, target, notification, self.signer, graph)
        return await asyncio.to_thread(self._send, message, target.endpoint)

    def _send(self, message: EmailMessage, recipient: str) -> SendOutcome:
        s = self.settings
        assert s is not None
        context = ssl.create_default_context()
        if not s.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            smtp: smtplib.SMTP
            if s.tls:
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with smtp:
                smtp.ehlo()
                if not s.tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, s.password or "")
                smtp.send_message(message, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, said = next(iter(exc.recipients.values()))
            return self._outcome(code, said)
        except smtplib.SMTPResponseException as exc:
            return self._outcome(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
            return SendOutcome(
                ok=False, retryable=True, detail=f"connection error ({type(exc).__name__})"
            )
        except smtplib.SMTPException as exc:
            return SendOutcome(
                ok=False, retryable=False, detail=f"SMTP error ({type(exc).__name__})"
            )
        return SendOutcome.sent(250)

    def _outcome(self, code: int, said: bytes | str) -> SendOutcome:
        text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        for secret in (self.settings.password if self.settings else None,):
            if secret:
                text = text.replace(secret, "…")
        return SendOutcome(
            ok=False,
            retryable=400 <= code < 500,
            status=code,
            detail=f"SMTP {code}: {text[:120]}",
        )

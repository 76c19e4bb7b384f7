"""Delivery of one notification: Alertmanager webhook (version 4), Slack incoming
webhook, PagerDuty Events API v2, email over SMTP. HTTP through urllib, mail through
smtplib; secrets are read from environment variables at send time and redacted from
every error message."""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

__all__ = [
    "DeliveryError",
    "build_request",
    "check_settings",
    "deliver",
    "preview",
    "redact",
    "secrets_of",
]

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
_PD_SEVERITIES = ("critical", "error", "warning", "info")

_ALLOWED = {
    "webhook": {"url", "url_env", "bearer_token_env", "max_alerts", "send_resolved"},
    "slack": {"url", "url_env", "channel", "username", "send_resolved"},
    "pagerduty": {"url", "routing_key_env", "severity", "source", "send_resolved"},
    "email": {
        "to", "from", "smarthost", "require_tls", "auth_username",
        "auth_password_env", "hello", "send_resolved", "tls_ca_file",
    },
}  # fmt: skip


class DeliveryError(Exception):
    """A delivery failed; ``retry`` says whether trying again may help (timeouts,
    refused connections, 5xx, 429) or not (other 4xx, a missing secret)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def check_settings(kind: str, raw: dict[str, Any], where: str) -> None:
    """Validate one integration's settings (keys, required fields) without reading
    any secret; raises ValueError naming `where`."""
    unknown = sorted(set(raw) - _ALLOWED[kind])
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_ALLOWED[kind]))}"
        )
    for k, v in raw.items():
        if k.endswith("_env") and (not isinstance(v, str) or not v):
            raise ValueError(f"{where}.{k} must name an environment variable")
    if kind in ("webhook", "slack") and ("url" in raw) == ("url_env" in raw):
        raise ValueError(f"{where}: give exactly one of url or url_env")
    url = raw.get("url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise ValueError(f"{where}.url must be an http:// or https:// URL, got {url!r}")
    if kind == "pagerduty":
        if "routing_key_env" not in raw:
            raise ValueError(f"{where}: routing_key_env is required")
        sev = raw.get("severity")
        if sev is not None and sev not in _PD_SEVERITIES:
            raise ValueError(
                f"{where}.severity must be one of {', '.join(_PD_SEVERITIES)}, got {sev!r}"
            )
    if kind == "email":
        for key in ("to", "from", "smarthost"):
            if key not in raw:
                raise ValueError(f"{where}: {key} is required")
        host = raw["smarthost"]
        if not isinstance(host, str) or ":" not in host:
            raise ValueError(f"{where}.smarthost must be host:port, got {host!r}")
        try:
            int(host.rsplit(":", 1)[1])
        except ValueError:
            raise ValueError(
                f"{where}.smarthost must be host:port, got {host!r}"
            ) from None
        if ("auth_username" in raw) != ("auth_password_env" in raw):
            raise ValueError(
                f"{where}: auth_username and auth_password_env go together"
            )
    if "max_alerts" in raw:
        m = raw["max_alerts"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ValueError(f"{where}.max_alerts must be an integer >= 0, got {m!r}")
    if "send_resolved" in raw and not isinstance(raw["send_resolved"], bool):
        raise ValueError(f"{where}.send_resolved must be true or false")


def _secret(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise DeliveryError(
            f"environment variable {name} (a secret named in the alerts file) is not set",
            retry=False,
        )
    return value


def secrets_of(settings: dict[str, Any]) -> list[str]:
    """The secret values (from the environment) an integration uses, for redaction."""
    out = []
    for k, v in settings.items():
        if k.endswith("_env") and isinstance(v, str):
            value = os.environ.get(v)
            if value:
                out.append(value)
    return out


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret value replaced by ``<redacted>``.

    Examples
    --------
    >>> redact("POST https://hooks.example/T0/abc failed", ["https://hooks.example/T0/abc"])
    'POST <redacted> failed'
    """
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            text = text.replace(s, "<redacted>")
    return text


def _title(n: dict[str, Any]) -> str:
    firing = sum(a["status"] == "firing" for a in n["alerts"])
    name = n["commonLabels"].get("alertname") or n["groupLabels"].get("alertname", "")
    extra = " ".join(
        f"{k}={v}" for k, v in sorted(n["groupLabels"].items()) if k != "alertname"
    )
    status = n["status"].upper()
    count = f":{firing}" if n["status"] == "firing" else ""
    return " ".join(
        x for x in (f"[{status}{count}]", name, extra and f"({extra})") if x
    )


def _body_text(n: dict[str, Any]) -> str:
    lines = [_title(n)]
    for a in n["alerts"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()))
        lines.append(f"- {a['status']}: {labels}")
        for k, v in sorted(a["annotations"].items()):
            lines.append(f"    {k}: {v}")
        lines.append(f"    since {a['startsAt']}")
    if n.get("externalURL"):
        lines.append(n["externalURL"])
    return "\n".join(lines)


def webhook_payload(n: dict[str, Any], max_alerts: int = 0) -> dict[str, Any]:
    """Alertmanager's version 4 webhook body for a notification (the fields
    Alertmanager sends, in its order; `max_alerts` > 0 truncates the list and counts
    the rest in ``truncatedAlerts``).

    Examples
    --------
    >>> n = {"groupKey": "{}:{}", "status": "firing", "receiver": "r",
    ...      "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
    ...      "externalURL": "", "alerts": [
    ...          {"status": "firing", "labels": {"alertname": f"A{i}"},
    ...           "annotations": {}, "startsAt": "", "endsAt": "",
    ...           "generatorURL": "", "fingerprint": str(i)} for i in range(3)]}
    >>> body = webhook_payload(n, max_alerts=2)
    >>> body["version"], body["truncatedAlerts"], len(body["alerts"])
    ('4', 1, 2)
    """
    alerts = list(n["alerts"])
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    return {
        "version": "4",
        "groupKey": n["groupKey"],
        "truncatedAlerts": truncated,
        "status": n["status"],
        "receiver": n["receiver"],
        "groupLabels": n["groupLabels"],
        "commonLabels": n["commonLabels"],
        "commonAnnotations": n["commonAnnotations"],
        "externalURL": n["externalURL"],
        "alerts": [
            {
                k: a[k]
                for k in (
                    "status",
                    "labels",
                    "annotations",
                    "startsAt",
                    "endsAt",
                    "generatorURL",
                    "fingerprint",
                )
            }
            for a in alerts
        ],
    }


def pagerduty_dedup_key(group_key: str, receiver: str) -> str:
    """The PagerDuty dedup_key of a group: the same for its trigger, its repeats and
    its resolve, so PagerDuty keeps one incident."""
    return hashlib.sha256(f"{receiver}\x00{group_key}".encode()).hexdigest()


def build_request(
    kind: str, settings: dict[str, Any], n: dict[str, Any], *, preview: bool = False
) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of an HTTP integration's request for notification `n`
    (reads the secrets from the environment; with `preview`, writes ``<$NAME>``
    in their place)."""

    def _env(name: str) -> str:
        return f"<${name}>" if preview else _secret(name)

    headers = {
        "Content-Type": "application/json",
        "User-Agent": "perfstats-alerts",
        "X-Perfstats-Notification-Id": n["id"],
    }
    if kind == "webhook":
        url = settings.get("url") or _env(settings["url_env"])
        if "bearer_token_env" in settings:
            headers["Authorization"] = "Bearer " + _env(settings["bearer_token_env"])
        body: dict[str, Any] = webhook_payload(n, int(settings.get("max_alerts", 0)))
    elif kind == "slack":
        url = settings.get("url") or _env(settings["url_env"])
        body = {"text": _body_text(n)}
        for k in ("channel", "username"):
            if k in settings:
                body[k] = settings[k]
    elif kind == "pagerduty":
        url = settings.get("url", PAGERDUTY_URL)
        key = _env(settings["routing_key_env"])
        sev = settings.get("severity") or n["commonLabels"].get("severity", "error")
        body = {
            "routing_key": key,
            "dedup_key": pagerduty_dedup_key(n["groupKey"], n["receiver"]),
            "event_action": "trigger" if n["status"] == "firing" else "resolve",
        }
        if n["status"] == "firing":
            body["payload"] = {
                "summary": _title(n)[:1024],
                "source": settings.get("source", "perfstats"),
                "severity": sev if sev in _PD_SEVERITIES else "error",
                "custom_details": {
                    "firing": _body_text(n),
                    "num_firing": sum(a["status"] == "firing" for a in n["alerts"]),
                },
            }
            if n.get("externalURL"):
                body["client_url"] = n["externalURL"]
    else:  # pragma: no cover - guarded by check_settings
        raise ValueError(f"not an HTTP integration: {kind}")
    return url, headers, json.dumps(body).encode()


def _post(url: str, headers: dict[str, str], data: bytes, timeout: float) -> None:
    try:
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        code = exc.code
        retry = code >= 500 or code == 429
        raise DeliveryError(f"HTTP {code} {exc.reason}", retry=retry) from None
    except TimeoutError:
        raise DeliveryError(f"timed out after {timeout:g} s", retry=True) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise DeliveryError(f"timed out after {timeout:g} s", retry=True) from None
        raise DeliveryError(f"connection failed: {reason}", retry=True) from None
    except (ConnectionError, OSError) as exc:
        raise DeliveryError(f"connection failed: {exc}", retry=True) from None
    except ValueError as exc:  # "unknown url type: ..." names the URL: redacted above
        raise DeliveryError(f"bad URL: {exc}", retry=False) from None


def email_message(settings: dict[str, Any], n: dict[str, Any]) -> EmailMessage:
    """The email for notification `n` (subject = title, plain-text body)."""
    msg = EmailMessage()
    to = settings["to"]
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["From"] = settings["from"]
    msg["Subject"] = _title(n)
    msg["Message-ID"] = f"<{n['id']}@perfstats-alerts>"
    msg["X-Perfstats-Notification-Id"] = n["id"]
    msg.set_content(_body_text(n))
    return msg


def _send_mail(settings: dict[str, Any], n: dict[str, Any], timeout: float) -> None:
    host, port = settings["smarthost"].rsplit(":", 1)
    msg = email_message(settings, n)
    try:
        with smtplib.SMTP(host, int(port), timeout=timeout) as smtp:
            if "hello" in settings:
                smtp.ehlo(settings["hello"])
            if settings.get("require_tls", False):
                # Verify the server's certificate (smtplib's default does not).
                ctx = ssl.create_default_context(cafile=settings.get("tls_ca_file"))
                smtp.starttls(context=ctx)
            if "auth_username" in settings:
                smtp.login(
                    settings["auth_username"], _secret(settings["auth_password_env"])
                )
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"SMTP login refused ({exc.smtp_code})", retry=False
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"SMTP error {exc.smtp_code}",
            retry=exc.smtp_code >= 400 and exc.smtp_code < 500,
        ) from None
    except TimeoutError:
        raise DeliveryError(f"SMTP timed out after {timeout:g} s", retry=True) from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"SMTP STARTTLS failed: {exc}", retry=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP failed: {exc}", retry=True) from None


def preview(kind: str, settings: dict[str, Any], n: dict[str, Any]) -> dict[str, Any]:
    """What :func:`deliver` would send for notification `n`, secrets shown as
    ``<$NAME>`` (for ``--dry-run``): URL and JSON body, or the email's headers and
    text."""
    if kind == "email":
        msg = email_message(settings, n)
        return {
            "smarthost": settings["smarthost"],
            **{k: str(msg[k]) for k in ("From", "To", "Subject")},
            "text": msg.get_content(),
        }
    url, _, data = build_request(kind, settings, n, preview=True)
    return {"url": url, "body": json.loads(data)}


def deliver(
    kind: str, settings: dict[str, Any], n: dict[str, Any], timeout: float
) -> None:
    """Send notification `n` through one integration; raises :class:`DeliveryError`
    with every secret redacted from its message."""
    secrets = secrets_of(settings)
    if kind == "slack" and "url" in settings:
        secrets.append(str(settings["url"]))
    try:
        if kind == "email":
            _send_mail(settings, n, timeout)
        else:
            url, headers, data = build_request(kind, settings, n)
            _post(url, headers, data, timeout)
    except DeliveryError as exc:
        raise DeliveryError(redact(str(exc), secrets), retry=exc.retry) from None

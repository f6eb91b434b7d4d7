"""The letters reach a real SMTP server on loopback (aiosmtpd, an ephemeral port) with the recipients of
the data file and the right attachments; the same letters are always in the reports folder; the SMTP
settings come from an Airflow-style connection and its password never shows in an error."""

from __future__ import annotations

import email
import json
import socket
from datetime import date
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from gateway.reports.build import write_report
from gateway.reports.delivery import DeliveryError, Letter, SmtpSettings, send, smtp_from_environment
from gateway.reports.periods import week_of
from gateway.yamlfile import load_yaml
from tests.reports_week import NOW, plan_week, write_notices, write_week

DATA = Path(__file__).resolve().parent.parent / "gateway" / "data"


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class LoopbackController(Controller):
    """aiosmtpd on 127.0.0.1 port 0: the readiness probe must learn the port the system chose."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = LoopbackController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def _connection(port: int, **extra) -> str:
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                       "extra": {"disable_ssl": True, "disable_tls": True, **extra}})


def test_letters_arrive_with_the_right_recipients_and_attachments(sessions, smtp_server, tmp_path, monkeypatch):
    port, inbox = smtp_server
    with sessions.begin() as session:
        write_week(session, plan_week())
        write_notices(session)
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", _connection(port))
    settings = smtp_from_environment()
    assert (settings.host, settings.port, settings.use_ssl, settings.starttls) == ("127.0.0.1", port, False, False)
    with sessions() as session:
        files = write_report(session, week_of(date(2026, 11, 25)), NOW, tmp_path, smtp=settings)

    recipients = load_yaml(DATA / "report_recipients.yaml")
    deputies = load_yaml(DATA / "deputy_mayors.yaml")["deputies"]
    wanted = {"report-department": (recipients["department"], {"report.html", "executors.csv", "repeat-requests.csv"})}
    wanted |= {f"notice-{e}": (to, {f"{e}.html"}) for e, to in recipients["executors"].items()}
    wanted |= {f"deputy-{d['id']}": (recipients["deputies"][d["id"]], {"report.html", "executors.csv"})
               for d in deputies}
    assert files.sent == len(wanted) == len(inbox.received)

    got = {}
    for rcpt, message in inbox.received:
        attachments = {part.get_filename(): part for part in message.iter_attachments()}
        got[tuple(rcpt)] = (message["Subject"], set(attachments), attachments)
        assert message["From"].addresses[0].addr_spec == "zvernennia@example.org"
    for key, (to, names) in wanted.items():
        subject, attached, parts = got[tuple(to)]
        assert attached == names, key
        if key.startswith("notice-"):
            assert subject.startswith("Недотримання термінів виконання заявок")
            executor = key.removeprefix("notice-")
            assert parts[f"{executor}.html"].get_payload(decode=True) == files.notices[executor].read_bytes()
    _, _, department = got[tuple(recipients["department"])]
    assert department["report.html"].get_payload(decode=True) == files.html.read_bytes()

    # the folder keeps every letter, also those that went out
    assert sorted(p.name for p in files.outbox) == sorted(f"{k}.eml" for k in wanted)
    kept = email.message_from_bytes((files.folder / "outbox" / "notice-vodokanal.eml").read_bytes(),
                                    policy=policy.default)
    assert kept["To"] == ", ".join(recipients["executors"]["vodokanal"])


def test_without_an_smtp_connection_the_letters_are_only_written(sessions, tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    assert smtp_from_environment() is None
    with sessions() as session:
        files = write_report(session, week_of(date(2026, 11, 25)), NOW, tmp_path, smtp=smtp_from_environment())
    assert files.sent == 0 and len(files.outbox) > 20


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SmtpSettings.from_fields("smtp_default", host="127.0.0.1", port=port, login="kc",
                                        password="s3cret-pass", extra={"disable_ssl": "true", "timeout": 2})
    with pytest.raises(DeliveryError, match=f"SMTP smtp_default \\(127.0.0.1:{port}\\)") as caught:
        send([Letter("x", ("a@example.org",), "тема", "текст")], "kc@example.org", settings)
    assert "s3cret-pass" not in str(caught.value)

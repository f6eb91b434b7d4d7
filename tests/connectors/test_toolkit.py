"""The connector toolkit alone: the https rule, Connections read as Airflow's HTTP provider reads
them, error rules as data, and the scrubbing of free text (property tests)."""

from __future__ import annotations

import json
import re

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.ecospectrans.connector import EcospectransConnector
from connectors.teplotsentral.connector import TeplotsentralConnector
from connectors.vodokanal.connector import VodokanalConnector
from gateway.connections import ConnectionConfig, parse_airflow_conn, to_airflow_json
from gateway.errors import AmbiguousError, ConfigError, FatalError, PermanentError, RetriableError
from gateway.toolkit.failures import TRANSPORT_RULES, Rule, classify, failure_kind
from gateway.toolkit.http import secure_base_url
from gateway.toolkit.redact import mask_phones, redact, scrub_contacts

CONNECTORS = [VodokanalConnector, EcospectransConnector, TeplotsentralConnector]


def conn(url: str, **extra) -> ConnectionConfig:
    return ConnectionConfig("utility_api", url, login="client", password="s3cret-key", extra=extra)


# the https rule --------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9000/ws", "http://[::1]:81",
                                 "http://127.5.6.7", "https://api.vodokanal.kr.ua"])
def test_loopback_and_https_are_allowed(url):
    assert secure_base_url(conn(url)) == url


@pytest.mark.parametrize("connector", CONNECTORS)
def test_remote_plain_http_is_refused_by_every_connector_before_anything_is_sent(connector):
    with pytest.raises(FatalError, match=r"plain http to api\.example\.ua would send credentials in clear text"):
        instance = connector(conn("http://api.example.ua:8080/ws"))
        instance.find_jobs("1520-1")  # the SOAP client is built on first use
    assert "s3cret-key" not in repr(conn("http://x"))


@pytest.mark.parametrize("connector", CONNECTORS)
def test_remote_plain_http_is_allowed_only_when_the_connection_says_so(connector):
    instance = connector(conn("http://192.0.2.1:9/ws", allow_plain_http=True, timeout=[0.2, 0.2]))
    with pytest.raises(RetriableError):  # allowed: it tries, and nothing listens there
        instance.find_jobs("1520-1")


def test_schema_is_the_scheme_as_in_airflows_http_provider():
    fields = {"conn_type": "http", "host": "api.vodokanal.kr.ua", "port": 8443, "schema": "https", "password": "k"}
    assert parse_airflow_conn("v", json.dumps(fields)).base_url == "https://api.vodokanal.kr.ua:8443"
    assert parse_airflow_conn("v", "http://k@api.vodokanal.kr.ua/https").base_url == "https://api.vodokanal.kr.ua"
    assert parse_airflow_conn("v", json.dumps({**fields, "schema": None})).base_url == "http://api.vodokanal.kr.ua:8443"
    whole = {"conn_type": "http", "host": "https://soap.teplo.kr.ua/ws/ComplaintService", "port": 8443}
    assert parse_airflow_conn("t", json.dumps(whole)).base_url == "https://soap.teplo.kr.ua:8443/ws/ComplaintService"
    with pytest.raises(ConfigError, match="the schema is the URL scheme"):
        parse_airflow_conn("v", json.dumps({**fields, "schema": "api/v1"}))
    config = conn("http://127.0.0.1:5000/ws/ComplaintService")
    assert parse_airflow_conn("utility_api", to_airflow_json(config)) == config  # the simulators' hand-over round-trips


def test_extras_set_headers_and_timeouts():
    instance = VodokanalConnector(conn("https://api.vodokanal.kr.ua", headers={"X-Client": "1520"}, timeout=7))
    assert instance._http.session.headers["X-Client"] == "1520"
    assert (instance._http.timeouts.connect, instance._http.timeouts.read) == (7, 7)


# error rules as data ---------------------------------------------------------------------------------
def test_one_classifier_reads_the_rules_first_match_wins():
    rules = (Rule("retriable", "busy", status={503}, code={"maintenance"}),
             Rule("uncertain", "server error", status=range(500, 600)),
             Rule("permanent", "refused", status={422}))
    assert isinstance(classify(rules, "u", write=True, status=503, code="maintenance"), RetriableError)
    assert isinstance(classify(rules, "u", write=True, status=503), AmbiguousError)
    assert isinstance(classify(rules, "u", write=False, status=503), RetriableError)
    refused = classify(rules, "u create", write=True, status=422, text="job_type unknown")
    assert isinstance(refused, PermanentError) and str(refused) == "u create: HTTP 422: refused: job_type unknown"
    assert isinstance(classify(rules, "u", write=True, status=418), PermanentError)  # no rule: permanent


def test_transport_failures_are_told_apart_by_whether_anything_was_sent():
    try:
        requests.get("http://127.0.0.1:9", timeout=1)
    except requests.RequestException as exc:
        refused = exc
    assert failure_kind(refused) == "not_sent"
    assert isinstance(classify(TRANSPORT_RULES, "u", write=True, kind="not_sent"), RetriableError)
    assert isinstance(classify(TRANSPORT_RULES, "u", write=True, kind="read_timeout"), AmbiguousError)
    assert isinstance(classify(TRANSPORT_RULES, "u", write=False, kind="dropped"), RetriableError)
    assert failure_kind(requests.exceptions.ReadTimeout()) == "read_timeout"
    assert failure_kind(requests.exceptions.InvalidURL()) == "bad_endpoint"


# scrubbing -------------------------------------------------------------------------------------------
def _sep() -> st.SearchStrategy[str]:
    return st.sampled_from([" ", "-", "", " - "])


@st.composite
def ukrainian_phones(draw) -> str:
    """A Ukrainian number in one of the ways people write one."""
    operator = draw(st.sampled_from(["67", "50", "63", "66", "68", "73", "93", "95", "96", "97", "98", "99", "56"]))
    digits = draw(st.text("0123456789", min_size=7, max_size=7))
    s = draw(_sep())
    local = f"{digits[:3]}{s}{digits[3:5]}{s}{digits[5:]}"
    form = draw(st.sampled_from(["intl", "intl-spaced", "bracket", "trunk", "plain", "old-trunk", "city"]))
    return {
        "intl": f"+380{operator}{digits}",
        "intl-spaced": f"+38 0{operator} {local}",
        "bracket": f"+38 (0{operator}) {local}",
        "trunk": f"(0{operator}) {local}",
        "plain": f"0{operator}{s}{local}",
        "old-trunk": f"8 0{operator} {local}",
        "city": f"{digits[:3]}-{digits[3:5]}-{digits[5:]}",
    }[form]


EMAILS = st.from_regex(r"[a-z][a-z0-9._]{0,12}[a-z0-9]@[a-z]{2,10}\.(ua|com|net|org)", fullmatch=True)
WORDS = st.sampled_from(["Немає води", "у під'їзді", "тел.", "телефон:", "дзвоніть", "кв. 45", "буд. 12",
                         "з 7 ранку", "заявка 1520-2026-000005", "2026-03-11T10:00:00+02:00", "WO-000123", "«", "»",
                         ",", ";", "("])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(WORDS, ukrainian_phones(), EMAILS), min_size=1, max_size=8), st.data())
def test_scrubbed_text_keeps_no_phone_or_email_and_everything_else(parts, data):
    text = " ".join(parts)
    scrubbed = scrub_contacts(text)
    for part in parts:
        digits = re.sub(r"\D", "", part)
        if part.count("@") == 1 or (len(digits) >= 7 and part not in WORDS.elements):  # a contact
            assert part not in scrubbed, (text, scrubbed)
        elif part not in ("(",):
            assert part in scrubbed, (text, scrubbed)  # request numbers, dates, ids, words stay
    assert scrub_contacts(scrubbed) == scrubbed  # idempotent


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_scrubbing_never_fails_and_never_grows_a_digit_run(text):
    scrubbed = scrub_contacts(text)
    assert len(re.sub(r"\D", "", scrubbed)) <= len(re.sub(r"\D", "", text))


def test_redaction_masks_secrets_tokens_passwords_and_phones():
    text = "Bearer eco.abc123 token=t0k3n password: hunter2 key s3cret-key call 067 123 45 67"
    masked = redact(text, ["s3cret-key"])
    assert masked == "Bearer *** token=*** password: *** key *** call [phone]"
    assert mask_phones("заявка 1520-2026-000005 о 10:00-12:00 2024-03-11") == \
        "заявка 1520-2026-000005 о 10:00-12:00 2024-03-11"

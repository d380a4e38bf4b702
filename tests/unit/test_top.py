"""``cxpulse top``: the rendered text carries each figure and its threshold state."""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from rich.console import Console

from cxpulse.procs import free_port
from cxpulse.settings import Settings
from cxpulse.terminal import TABLE_WIDTH, table_console
from cxpulse.top import Access, access_from, access_from_args, add_access_arguments, render, run_top
from tests.conftest import self_signed_cert

NOW = 1_800_000_000.0
CALL_FIELDS = ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "handled")


def call_entry(counts: dict[str, float], **kpis: float | None) -> dict[str, Any]:
    base = dict.fromkeys(("abandon_rate", "answer_rate", "service_level", "asa_seconds", "aht_seconds",
                          "transfer_rate", "fcr_agent_flag", "fcr_repeat_contact", "repeat_contact_rate"))
    return {"counts": {name: counts.get(name, 0.0) for name in CALL_FIELDS}, "kpis": {**base, **kpis}}


def snapshot() -> dict[str, Any]:
    billing = call_entry({"offered": 7, "answered": 4, "abandoned": 3}, abandon_rate=3 / 7, service_level=0.75,
                         asa_seconds=13.75, aht_seconds=145.0, fcr_agent_flag=0.75, transfer_rate=0.0)
    sales = call_entry({"offered": 2, "answered": 2}, abandon_rate=0.0, service_level=1.0, asa_seconds=5.0,
                       aht_seconds=1000.0, fcr_agent_flag=1.0)
    overall = call_entry({"offered": 9, "answered": 6, "abandoned": 3}, abandon_rate=3 / 9, service_level=0.8,
                         asa_seconds=10.0, aht_seconds=400.0, fcr_agent_flag=0.8)
    span = {"start": "2026-11-22T09:45:00+00:00", "end": "2026-11-22T10:00:00+00:00"}

    def segment(queue: str, entry: dict[str, Any], waiting: int, longest: float) -> dict[str, Any]:
        return {"queue": queue, "channel": "voice", "live": {"waiting": waiting, "longest_wait_seconds": longest},
                "windows": {w: entry for w in ("5m", "15m", "1h", "today")}}

    def survey_window(nps: float | None, n_nps: int, csat: float | None, n_csat: int, minimum: int = 30) -> dict[str, Any]:
        return {"counts": {"nps_responses": n_nps, "csat_responses": n_csat, "ces_responses": 0},
                "kpis": {"nps": nps, "csat": csat, "ces_easy_rate": None,
                         "meaningful": {"nps": n_nps >= minimum, "csat": n_csat >= minimum, "ces": False}}}

    return {
        "generated_at": "2026-11-22T09:59:58+00:00",
        "now": NOW,
        "windows": {w: span for w in ("5m", "15m", "1h", "today", "24h")},
        "thresholds": Settings().thresholds.model_dump(),
        "calls": {
            "segments": [segment("billing", billing, 0, 0.0), segment("sales", sales, 25, 130.0)],
            "all": {"live": {"waiting": 25, "longest_wait_seconds": 130.0},
                    "windows": {w: overall for w in ("5m", "15m", "1h", "today")}},
        },
        "surveys": {"all": {"windows": {"24h": survey_window(42.0, 120, 0.7, 12)}}, "min_sample": 30},
        "tickets": {"all": {"live": {"open": 120, "oldest_open_age_seconds": 7260.0},
                            "windows": {"24h": {"kpis": {"ttr_mean_seconds": 90000.0, "reopen_rate": 0.03,
                                                         "escalation_rate": 0.05, "fcr": 0.8}}}}},
        "carts": {"all": {"live": {"open": 12},
                          "windows": {"15m": {"kpis": {"abandonment_rate": 0.8, "completion_rate": 0.2,
                                                       "aov": {"EUR": 54.2}}}}}},
        "pipeline": {"topics": {"cx.calls": {"processed": 16.0, "duplicate": 0.0, "replayed": 0.0, "rejected": {},
                                             "last_event_ts": NOW - 2, "last_processed_ts": NOW - 1}},
                     "workers_alive": 1},
    }


def text_of(renderable: Any) -> str:
    console = Console(width=220, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def row(text: str, name: str) -> str:
    (line,) = [line for line in text.splitlines() if f" {name} " in line]
    return line


def test_each_cell_shows_its_figure_and_threshold_state() -> None:
    text = text_of(render(snapshot(), "15m"))
    billing = row(text, "billing")
    assert "42.9% ■" in billing  # abandon 3/7 >= critical 10 %
    assert "75.0% ▲" in billing.split("42.9% ■")[1]  # service level 75 %: warning (<= 80 %, > 70 %)
    assert "13.8s ●" in billing  # ASA under 30 s
    assert "2m25s ●" in billing  # AHT 145 s
    sales = row(text, "sales")
    assert "25 ■" in sales  # 25 calls waiting >= 20
    assert "2m10s ■" in sales  # longest wait 130 s >= 120 s
    assert "16m40s ■" in sales  # AHT 1000 s >= 900 s
    assert "100.0% ●" in sales  # service level: higher is better, so 100 % is normal
    overall = row(text, "ALL")
    assert "33.3% ■" in overall and "80.0% ▲" in overall  # SL exactly at warning 80 %: warning (<=)
    transfer = billing.split("2m25s ●")[1].split("│")[1]
    assert transfer.strip() == "0.0%"  # transfer rate has no threshold: no marker


def test_survey_ticket_and_cart_lines() -> None:
    text = text_of(render(snapshot(), "15m"))
    surveys = next(line for line in text.splitlines() if line.startswith("Surveys"))
    assert "NPS +42 ● n=120" in surveys
    assert "CSAT 70.0% ◌ n=12 low sample" in surveys  # 12 < min_sample 30: not judged
    tickets = next(line for line in text.splitlines() if line.startswith("Tickets"))
    assert "Tickets: backlog 120 ■ · oldest open 2h01m" in tickets  # 120 >= 100 critical
    assert "TTR (24h) 1d01h ▲" in tickets  # 90000 s: >= 1 day warning, < 2 days
    assert "reopen 3.0% · escalation 5.0% · FCR 80.0%" in tickets
    carts = next(line for line in text.splitlines() if line.startswith("Carts"))
    assert "(15m): abandonment 80.0% ▲" in carts and "open 12" in carts and "AOV EUR 54.20" in carts
    assert "LIVE" in text and "STALE" not in text


def test_absent_streams_show_a_dash_and_old_events_show_stale() -> None:
    snap = copy.deepcopy(snapshot())
    for name in ("surveys", "tickets", "carts"):
        del snap[name]
    snap["pipeline"]["topics"]["cx.calls"]["last_event_ts"] = NOW - 45
    text = text_of(render(snap, "5m", stale_after=30))
    for name in ("Surveys", "Tickets", "Carts"):
        assert f"{name} —" in text
    assert "DATA STALE: newest event 45s ago (limit 30s)" in text


def test_the_widest_table_fits_the_console_the_demo_and_top_use() -> None:
    """A pipe gets TABLE_WIDTH columns; with every cell at its widest no header may wrap."""
    snap = copy.deepcopy(snapshot())
    widest = call_entry({"offered": 99999, "answered": 99999, "abandoned": 99999}, abandon_rate=1.0,
                        service_level=1.0, asa_seconds=3599.0, aht_seconds=3599.0, transfer_rate=1.0,
                        fcr_agent_flag=1.0)
    for segment in snap["calls"]["segments"]:
        segment["queue"], segment["channel"] = "collections", "callback"
        segment["live"] = {"waiting": 999, "longest_wait_seconds": 3599.0}
        segment["windows"] = {w: widest for w in segment["windows"]}
    console = table_console(Console(file=io.StringIO(), width=80))
    assert console.width == TABLE_WIDTH
    recorder = Console(width=console.width, record=True, color_system=None, file=io.StringIO())
    recorder.print(render(snap, "15m"))
    text = recorder.export_text()
    header = next(line for line in text.splitlines() if "Queue" in line)
    for name in ("Longest wait", "Service level", "FCR (agent)", "Transfer"):
        assert name in header, header
    widest_rows = [line for line in text.splitlines() if " collections " in line]
    assert len(widest_rows) == 2 and all("59m59s ■" in line and "100.0% ■" in line for line in widest_rows)


def test_unknown_window_is_refused() -> None:
    with pytest.raises(ValueError):
        render(snapshot(), "2h")


# --------------------------------------------------------------------------- loop


USER, PASSWORD = "wall", "top-S3cret-pw"


def serve(auth: bool = False, tls: tuple[Path, Path] | None = None) -> tuple[str, Callable[[], None]]:
    """A stand-in exporter on 127.0.0.1 serving ``snapshot()``: optionally behind basic
    auth (401 otherwise, like ``exporters.api.basic_auth``) and TLS. Returns (url, stop)."""
    body = json.dumps(snapshot()).encode()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if auth and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="cxpulse"')
                self.end_headers()
                self.wfile.write(b"authentication required")
                return
            self.send_response(200 if self.path == "/api/kpis" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", stop


@pytest.fixture
def exporter() -> Iterator[str]:
    url, stop = serve()
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def secured() -> Iterator[str]:
    url, stop = serve(auth=True)
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secured_tls(cert: tuple[Path, Path]) -> Iterator[str]:
    url, stop = serve(auth=True, tls=cert)
    try:
        yield url
    finally:
        stop()


def top_text(url: str, access: Access | None) -> tuple[int, str]:
    console = Console(width=220, record=True, color_system=None, force_terminal=False)
    status = run_top(url, "15m", interval=0.1, duration=0.2, console=console, access=access)
    return status, console.export_text()


def test_run_top_refreshes_from_a_live_exporter(exporter: str) -> None:
    console = Console(width=220, record=True, color_system=None, force_terminal=False)
    assert run_top(exporter, "15m", interval=0.1, duration=0.3, console=console) == 0
    text = console.export_text()
    assert "billing" in text and "42.9% ■" in text and "UNREACHABLE" not in text


def test_run_top_says_so_and_keeps_retrying_when_the_exporter_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    console = Console(width=220, record=True, color_system=None, force_terminal=False)
    assert run_top(url, "15m", interval=0.1, duration=0.5, console=console) == 1
    text = console.export_text()
    assert f"EXPORTER UNREACHABLE at {url}" in text and "retrying every 0.1s" in text


# ------------------------------------------------------------ secured exporters


def test_basic_auth_password_from_the_environment(secured: str) -> None:
    status, text = top_text(secured, access_from(user=USER, env={"CXPULSE_TOP_PASSWORD": PASSWORD}))
    assert status == 0 and "42.9% ■" in text and "UNREACHABLE" not in text
    assert PASSWORD not in text


def test_basic_auth_user_and_password_file_from_the_environment(secured: str, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")  # a trailing newline, as secret files usually have
    access = access_from(env={"CXPULSE_TOP_USER": USER, "CXPULSE_TOP_PASSWORD_FILE": str(secret)})
    assert top_text(secured, access)[0] == 0
    assert top_text(secured, access_from(user=USER, password_file=str(secret), env={}))[0] == 0


def test_missing_or_wrong_credentials_show_http_401(secured: str) -> None:
    for access in (Access(), access_from(user=USER, env={"CXPULSE_TOP_PASSWORD": "wrong"})):
        status, text = top_text(secured, access)
        assert status == 1 and f"EXPORTER UNREACHABLE at {secured}: HTTP 401" in text
        assert "billing" not in text


def test_the_password_never_travels_on_argv_in_a_url_or_in_a_repr(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no credentials in the URL") as refused:
        run_top(f"http://{USER}:{PASSWORD}@127.0.0.1:9/", duration=0.1)
    assert PASSWORD not in str(refused.value)
    assert PASSWORD not in repr(access_from(user=USER, env={"CXPULSE_TOP_PASSWORD": PASSWORD}))
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    with pytest.raises(ValueError, match="not both"):
        access_from(user=USER, password_file=str(secret), env={"CXPULSE_TOP_PASSWORD": PASSWORD})
    with pytest.raises(ValueError, match="needs a user"):
        access_from(env={"CXPULSE_TOP_PASSWORD": PASSWORD})
    with pytest.raises(ValueError, match="needs a user"):
        access_from(user=USER, env={})


def test_tls_with_a_private_ca_and_basic_auth(secured_tls: str, cert: tuple[Path, Path]) -> None:
    env = {"CXPULSE_TOP_USER": USER, "CXPULSE_TOP_PASSWORD": PASSWORD}
    status, text = top_text(secured_tls, access_from(ca_file=str(cert[0]), env=env))
    assert status == 0 and "42.9% ■" in text and "NOT VERIFIED" not in text
    # the CA file from the environment works the same
    assert top_text(secured_tls, access_from(env={**env, "CXPULSE_TOP_CA_FILE": str(cert[0])}))[0] == 0


def test_tls_refuses_an_unknown_certificate_unless_told_insecure(secured_tls: str) -> None:
    env = {"CXPULSE_TOP_USER": USER, "CXPULSE_TOP_PASSWORD": PASSWORD}
    status, text = top_text(secured_tls, access_from(env=env))
    assert status == 1 and "CERTIFICATE_VERIFY_FAILED" in text
    status, text = top_text(secured_tls, access_from(insecure=True, env=env))
    assert status == 0 and "42.9% ■" in text and "(TLS NOT VERIFIED)" in text


def test_the_cli_options_take_no_password(tmp_path: Path) -> None:
    """What ``cxpulse top`` adds with ``add_access_arguments``: a user, files, never a password."""
    parser = argparse.ArgumentParser()
    add_access_arguments(parser)
    assert not [a for a in parser._actions if "pass" in " ".join(a.option_strings).replace("password-file", "")]
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    args = parser.parse_args(["--user", USER, "--password-file", str(secret), "--ca-file", "/ca.pem", "--insecure"])
    assert access_from_args(args) == Access(USER, PASSWORD, "/ca.pem", True)


def test_the_cli_refuses_credentials_in_the_url_or_half_of_them(capsys: pytest.CaptureFixture[str]) -> None:
    from cxpulse.cli import main

    assert main(["top", "--url", "http://wall:secret@127.0.0.1:1", "--duration", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "no credentials in the URL" in err and "secret" not in err
    assert main(["top", "--user", "wall", "--url", "http://127.0.0.1:1", "--duration", "0.1"]) == 2
    assert "needs a user" in capsys.readouterr().err

"""The local console in a real browser: headless Chromium reads /console after a transfer, its
replay and a webhook, and the page shows each of them (tools/ensure-chromium.sh installs Debian's
`chromium` when this test is about to run)."""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from retryproof_client import Client

from local.template import Template
from tests.e2e.conftest import ACME_KEY, ROOT, LocalApi

pytestmark = pytest.mark.e2e

SECRET = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ"  # local/seed.json, tenant acme
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> str:
    found = subprocess.run(
        [str(ROOT / "tools" / "ensure-chromium.sh")], capture_output=True, text=True, timeout=900
    )
    assert found.returncode == 0, f"tools/ensure-chromium.sh failed: {found.stderr[-2000:]}"
    return found.stdout.strip().splitlines()[-1]


def browse(chromium: str, url: str, *extra: str) -> str:
    """The page's DOM after Chromium loaded it (a fresh profile each time)."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


class Sections(HTMLParser):
    """Each <section id=...>'s table rows, as lists of cell texts."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.notes: dict[str, str] = {}
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_note = False
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._section = dict(attrs).get("id") or ""
            self.rows[self._section] = []
        elif tag == "tr":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "p" and ("class", "note") in attrs:
            self._in_note = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.rows[self._section].append(self._row)
            self._row = None
        elif tag == "p":
            self._in_note = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_note:
            self.notes[self._section] = self.notes.get(self._section, "") + data

    def row(self, section: str, first_cell: str) -> list[str]:
        found = [r for r in self.rows[section] if r and r[0] == first_cell]
        assert len(found) == 1, (section, first_cell, self.rows[section][:5])
        return found[0]

    def rows_with(self, section: str, text: str) -> list[list[str]]:
        return [r for r in self.rows[section] if text in r]


@pytest.fixture
def console(api: LocalApi, chromium: str) -> tuple[LocalApi, str]:
    return api, chromium


def test_the_console_shows_a_transfer_its_replay_and_a_webhook(
    console: tuple[LocalApi, str],
) -> None:
    api, chromium = console
    url = f"{api.url}/console?tenant=acme"
    key = f"console-{uuid.uuid4()}"
    body = {"fromAccountId": "acc_acme_main", "toAccountId": "acc_acme_ops", "amount": 7,
            "currency": "USD"}  # fmt: skip

    # A transfer: one key, one ledger entry, the balances it moved.
    first = api.call("POST", "/transfer", idempotency_key=key, body=body)
    assert first.status == 200, first.text
    page = Sections(browse(chromium, url))
    keys_row = page.row("keys", key)
    assert keys_row[1:3] == ["transfer", "completed"]
    assert keys_row[-3:] == ["1", "200", "0"]  # requests, last answer, replays
    entry = page.rows_with("transfers", key)
    assert len(entry) == 1
    assert entry[0][0] == first.json["transferId"]
    assert entry[0][4] == "7 USD"
    ops = api.call("GET", "/accounts/acc_acme_ops").json["balance"]
    assert page.row("transfers", "acc_acme_ops")[3:5] == [str(ops), "✓ balance = opening + ledger"]

    # Its replay: counted as served, and still one ledger entry.
    again = api.call("POST", "/transfer", idempotency_key=key, body=body)
    assert again.header("Idempotent-Replayed") == "true"
    page = Sections(browse(chromium, url))
    assert page.row("keys", key)[-3:] == ["2", "200", "1"]
    assert len(page.rows_with("transfers", key)) == 1
    assert page.row("transfers", "acc_acme_ops")[3] == str(ops)  # no money moved

    # A webhook, delivered twice: one event, summarised once, its cost recorded.
    event_id = f"evt_console_{uuid.uuid4().hex[:10]}"
    payload = {"eventId": event_id, "tenantId": "acme", "documentId": f"doc_{event_id}",
               "content": "Console check: revenue grew."}  # fmt: skip
    client = Client(api.url, ACME_KEY)
    assert client.deliver_webhook(SECRET, payload).status == 202
    assert client.deliver_webhook(SECRET, payload).status == 200  # the redelivery
    deadline = time.monotonic() + 60
    while api.call("GET", f"/webhook-events/{event_id}").json["status"] != "completed":
        assert time.monotonic() < deadline, "the worker did not summarise the event"
        time.sleep(0.2)
    page = Sections(browse(chromium, url))
    event = page.row("webhooks", event_id)
    assert event[1:4] == [f"doc_{event_id}", "completed", "1"]  # document, status, attempts
    assert event[-1] == ""  # not dead-lettered
    assert [r[1] for r in page.rows_with("costs", event_id)] == ["summarize"]


def test_the_console_is_read_only_and_local(api: LocalApi) -> None:
    assert api.call("POST", "/console", body={}).status == 405
    page = api.call("GET", "/console?tenant=globex")
    assert page.status == 200
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "<script" not in page.text  # usable without JavaScript: there is none
    assert ACME_KEY not in page.text  # never an API key
    assert "rp_test_globex" not in page.text
    # Never deployed: no route of the template serves it.
    assert all(not r.path.startswith("/console") for r in Template().routes())


def test_a_screenshot_can_be_taken(console: tuple[LocalApi, str], tmp_path: Path) -> None:
    """What docs/console.png was made with (see docs/console.md)."""
    api, chromium = console
    shot = tmp_path / "console.png"
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "--hide-scrollbars",
             "--window-size=1280,900", f"--screenshot={shot}", f"{api.url}/console?tenant=acme"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""Untrusted text reaches a terminal, a web page or a JSON reader inert: `text_safety`, and the
error lines that quote a server's answer or its Location header, printed by the real command."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import zendesk_audit
from zendesk_audit.cli.commands import InertFormatter
from zendesk_audit.errors import first_line
from zendesk_audit.text_safety import (
    INVISIBLE_CHARACTERS,
    escape_controls,
    html_text,
    json_text,
    reveal_invisible,
    terminal_text,
)

# What a hostile name or answer carries: clear the screen, retitle the terminal (OSC 0 ... BEL),
# the 8-bit CSI, a CR that overwrites the line, a right-to-left override, a zero-width space.
HOSTILE = "Ann\x1b[2J\x1b]0;pwned\x07\x9b31m\rrule: \u202etxt.exe\u200b\u2028next"
# What a terminal acts on (C0 but LF, DEL, C1) or what hides or reorders text.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def test_controls_become_visible_escapes() -> None:
    assert escape_controls("a\x1b[2Jb\x07c\rd\ne\tf\x00g\x7fh\x9bi\x85") == \
        "a\\x1b[2Jb\\x07c\\rd\\ne\\tf\\x00g\\x7fh\\x9bi\\x85"
    assert escape_controls("plain Zoë 東京") == "plain Zoë 東京"


def test_bidi_and_zero_width_characters_are_shown() -> None:
    assert reveal_invisible("rule: \u202etxt.exe") == "rule: <U+202E>txt.exe"
    for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\ufeff\u061c\u2060":
        assert reveal_invisible(f"a{char}b") == f"a<U+{ord(char):04X}>b"
    assert reveal_invisible("\U000e0041") == "<U+E0041>"  # a tag character: invisible, can spell hidden text


def test_the_invisible_list_covers_every_format_character_of_this_python() -> None:
    """A newer Unicode with new Cf/Zl/Zp characters fails here until INVISIBLE_CHARACTERS has them."""
    missing = [f"U+{code:04X}" for code in range(0x110000)
               if unicodedata.category(chr(code)) in ("Cf", "Zl", "Zp") and not INVISIBLE_CHARACTERS.match(chr(code))]
    assert missing == []
    visible = [f"U+{code:04X}" for code in range(0x110000) if INVISIBLE_CHARACTERS.match(chr(code))
               and unicodedata.category(chr(code)) not in ("Cf", "Zl", "Zp", "Cn")
               and code not in (0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0)]
    assert visible == []


def test_terminal_text_is_one_inert_line_and_idempotent() -> None:
    shown = terminal_text(HOSTILE)
    assert not RAW_CONTROL.search(shown) and "\n" not in shown and not INVISIBLE_CHARACTERS.search(shown)
    assert shown == "Ann\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\rrule: <U+202E>txt.exe<U+200B><U+2028>next"
    assert terminal_text(shown) == shown


def test_html_text_escapes_and_marks_invisible_characters() -> None:
    shown = html_text('<b>"x"</b>\u202e\x1b')
    assert shown == ('&lt;b&gt;&quot;x&quot;&lt;/b&gt;<mark class="hidden-char" title="invisible character U+202E '
                     'in the data">&lt;U+202E&gt;</mark>\\x1b')
    assert html_text("a\u200bb", markup=False) == "a&lt;U+200B&gt;b"


def test_json_text_decodes_to_the_exact_values_and_prints_nothing_live() -> None:
    data = {"actor_name": HOSTILE, "emoji": "\U000e0041 Zoë", "n": 1}
    text = json_text(data)
    assert json.loads(text) == data
    assert not RAW_CONTROL.search(text) and "\n" not in text and not INVISIBLE_CHARACTERS.search(text)
    assert "Zoë" in text  # readable: only what a terminal would act on is escaped


def test_first_line_of_an_error_is_inert() -> None:
    assert first_line(ValueError("bad \x1b]0;x\x07 answer\nsecond line")) == "bad \\x1b]0;x\\x07 answer"


def test_log_lines_are_inert() -> None:
    record = logging.LogRecord("zendesk_audit", logging.WARNING, __file__, 1, "rejected: %s", (HOSTILE,), None)
    shown = InertFormatter("%(levelname)s: %(message)s").format(record)
    assert shown.startswith("WARNING: rejected: Ann\\x1b[2J") and not RAW_CONTROL.search(shown)


# ----------------------------------------------------------------------------- the real command
class HostileServer:
    """A loopback "Zendesk" answering every request with one fixed status, body and headers."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        answer = (status, body, headers or {})

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                # Written by hand: http.server refuses a control character in a header, a server need not.
                status, body, headers = answer
                head = [f"HTTP/1.1 {status} Hostile".encode()]
                head += [f"{name}: ".encode() + value.encode("latin-1") for name, value in headers.items()]
                head += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
                self.wfile.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile_server() -> Iterator[Any]:
    made: list[HostileServer] = []

    def start(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> HostileServer:
        made.append(HostileServer(status, body, headers))
        return made[-1]

    yield start
    for server in made:
        server.close()


def run_load(base_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOURCES__")}
    env.update({
        "SOURCES__ZENDESK_AUDIT__BASE_URL": base_url,
        "SOURCES__ZENDESK_AUDIT__SUBDOMAIN": "acme",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__EMAIL": "admin@acme.example",
        "SOURCES__ZENDESK_AUDIT__CREDENTIALS__API_TOKEN": "token-123",
        "DLT_DATA_DIR": str(folder / "dlt-data"),
        # The child imports the package this test imported, whatever the working directory.
        "PYTHONPATH": os.pathsep.join([str(Path(zendesk_audit.__file__).parents[1]), env.get("PYTHONPATH", "")]),
    })
    return subprocess.run([sys.executable, "-m", "zendesk_audit", "load"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


HOSTILE_BYTES = "\x1b[2J\x1b]0;pwned\x07\x9b31m\rall good \u202etxt.exe".encode()


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (400, b'{"error": {"message": "' + HOSTILE_BYTES.replace(b"\x1b", b"\\u001b").replace(b"\x07", b"\\u0007")
         .replace(b"\r", b"\\r") + b'"}}', {"Content-Type": "application/json"}),
        (422, HOSTILE_BYTES, {"Content-Type": "text/plain"}),
        (302, b"", {"Location": "https://elsewhere.example/\x1b]0;pwned\x07\x1b[2J"}),
    ],
    ids=["json-error-body", "text-error-body", "location-header"],
)
def test_error_lines_quoting_a_server_are_inert(hostile_server: Any, tmp_path: Path, status: int, body: bytes,
                                                headers: dict[str, str]) -> None:
    server = hostile_server(status, body, headers)
    done = run_load(server.base_url, tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for stream in (done.stdout, done.stderr):
        assert not RAW_CONTROL.search(stream), repr(stream)
        assert not INVISIBLE_CHARACTERS.search(stream), repr(stream)
    assert "\\x1b" in errors[0], errors[0]  # quoted, and visibly escaped, not silently dropped

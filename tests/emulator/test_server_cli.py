"""The CLI: `serve` prints its connection info and stops cleanly; `mutate` works beside it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests
from simple_salesforce import Salesforce

from salesforce_emulator.client import client_credentials_token


def _serve(data_dir: Path) -> tuple[subprocess.Popen, dict]:
    process = subprocess.Popen(
        [sys.executable, "-m", "salesforce_emulator", "serve", "--data-dir", str(data_dir), "--contacts", "120",
         "--bulk-delay", "0.1", "--fault", "latency_ms=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return process, json.loads(line)


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


def test_serve_mutate_and_restart_reuse_keys(tmp_path):
    process, info = _serve(tmp_path)
    try:
        assert json.loads((tmp_path / "connection.json").read_text()) == info
        session = requests.Session()
        session.verify, session.trust_env = info["ca_file"], False
        sf = Salesforce(instance_url=info["instance_url"], session_id=client_credentials_token(info, session),
                        session=session)
        faults = session.get(f"{info['instance_url']}/__emulator__/faults").json()
        assert faults["latency_ms"] == 1  # from --fault latency_ms=1
        before = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
        assert 100 < before <= 120  # the seed soft-deletes a few

        mutated = subprocess.run(
            [sys.executable, "-m", "salesforce_emulator", "mutate", "--data-dir", str(tmp_path), "--object", "Contact",
             "--create", "7", "--delete", "2", "--update", "3"],
            capture_output=True, text=True, timeout=60, check=True,
        )
        assert json.loads(mutated.stdout)["created"] == 7
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == before + 7 - 2

        for command in (["add-field", "--type", "boolean"], ["remove-field"]):
            subprocess.run(
                [sys.executable, "-m", "salesforce_emulator", command[0], "--data-dir", str(tmp_path),
                 "--object", "Contact", "--field", "Cli_Flag__c", *command[1:]],
                capture_output=True, text=True, timeout=60, check=True,
            )
            fields = {f["name"]: f["type"] for f in sf.Contact.describe()["fields"]}
            if command[0] == "add-field":
                assert fields["Cli_Flag__c"] == "boolean"
            else:
                assert "Cli_Flag__c" not in fields
    finally:
        assert _stop(process) == 0

    ca = Path(info["ca_file"]).read_bytes()
    process, again = _serve(tmp_path)
    try:
        assert Path(again["ca_file"]).read_bytes() == ca
        assert {k: again[k] for k in ("client_id", "client_secret", "password", "security_token")} == {
            k: info[k] for k in ("client_id", "client_secret", "password", "security_token")
        }
    finally:
        assert _stop(process) == 0

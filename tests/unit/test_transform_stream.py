"""Converting parts while the download goes on: the same typed files and counts as the transform task."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading

import pytest

from salesforce_elt.engine import registry
from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.transform import (
    HeaderMismatch,
    PartTransformer,
    conversion_fingerprint,
    transform_files,
)
from salesforce_elt.engine.transform_stream import TransformWhileDownloading
from tests.unit.test_transform import FIELDS, contact, write_raw

NAMES = [f"part-{i:05d}.csv" for i in range(6)]


def _raw_parts(tmp_path):
    raw = tmp_path / "raw"
    for n, name in enumerate(NAMES):
        rows = [contact(n * 100 + i) for i in range(40)]
        rows[n] = contact(n * 100 + n, Birthdate="1980-13-01", Title='x "quoted"\nline')  # one reject per part
        write_raw(raw, name, rows)
    return raw


def test_parts_reported_from_several_threads_give_the_transform_tasks_files_and_counts(tmp_path):
    raw = _raw_parts(tmp_path)
    converting = TransformWhileDownloading(CONTACT, FIELDS, raw, tmp_path / "typed")
    # Like the results streams: each thread reports its own parts, out of order.
    threads = [threading.Thread(target=lambda ns=NAMES[i::3]: [converting.part_ready(n) for n in reversed(ns)])
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    streamed = converting.finish()

    alone = transform_files(CONTACT, FIELDS, raw, NAMES, tmp_path / "alone", reject_threshold=1.0)
    assert streamed.typed_files == NAMES == alone.typed_files
    assert (streamed.rows, streamed.rejects, streamed.columns) == (alone.rows, alone.rejects, alone.columns)
    assert (streamed.rows, streamed.rejects) == (6 * 39, 6)
    for name in NAMES:
        assert (tmp_path / "typed" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes()
    rejected = sorted((tmp_path / "typed" / "rejects.csv").read_text().splitlines()[1:])
    assert rejected == sorted((tmp_path / "alone" / "rejects.csv").read_text().splitlines()[1:])
    assert converting.busy_seconds > 0


def test_a_part_that_fails_is_raised_by_finish_and_the_rest_are_skipped(tmp_path):
    raw = _raw_parts(tmp_path)
    write_raw(raw, NAMES[1], [contact(1)], header=list(reversed(FIELDS)))
    converting = TransformWhileDownloading(CONTACT, FIELDS, raw, tmp_path / "typed")
    for name in NAMES:
        converting.part_ready(name)
    with pytest.raises(HeaderMismatch, match="part-00001.csv"):
        converting.finish()
    assert not (tmp_path / "typed" / NAMES[2]).exists()


def test_an_abandoned_download_stops_converting_the_parts_still_queued(tmp_path, monkeypatch):
    raw = _raw_parts(tmp_path)
    first_started, release = threading.Event(), threading.Event()
    original = PartTransformer.add

    def slow_add(self, name):  # hold the first part until abandon() has been asked for
        first_started.set()
        release.wait(5)
        original(self, name)

    monkeypatch.setattr(PartTransformer, "add", slow_add)
    converting = TransformWhileDownloading(CONTACT, FIELDS, raw, tmp_path / "typed")
    for name in NAMES:
        converting.part_ready(name)
    assert first_started.wait(5)
    stopper = threading.Thread(target=converting.abandon)
    stopper.start()
    while not converting._abandoned:  # abandon() has flagged the stop and now waits for the thread
        pass
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert [p.name for p in (tmp_path / "typed").glob("part-*.csv")] == [NAMES[0]]  # the one under way only


def test_the_conversion_fingerprint_is_the_same_in_another_process_and_follows_the_registry():
    """The extract and the transform run in different processes (or hosts): no addresses in it."""
    script = ("import json; from salesforce_elt.engine import registry; "
              "from salesforce_elt.engine.transform import conversion_fingerprint as f; "
              "print(json.dumps({n: f(s) for n, s in registry.REGISTRY.items()}))")
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    here = {name: conversion_fingerprint(spec) for name, spec in registry.REGISTRY.items()}
    assert json.loads(other.stdout.strip().splitlines()[-1]) == here
    assert any(spec.derived for spec in registry.REGISTRY.values())  # derived columns are covered
    longer = tuple(dataclasses.replace(f, length=(f.length or 0) + 1) if f.sf_name == "LastName" else f
                   for f in CONTACT.fields)
    assert conversion_fingerprint(dataclasses.replace(CONTACT, fields=longer)) != here["Contact"]

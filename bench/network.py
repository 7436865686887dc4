"""`make bench` over a "real network": the emulator's API answers paced like a distant org's.

    .venv/bin/python bench/run.py --network [--sizes 100000] [--bandwidth-kbps 8000] [--latency-ms 80]
                                  [--streams 4] [--page-records 10000] [--skip-dlt] [--skip-handwritten]

A real org answers over the internet: one results stream runs at a few MB/s, so the download of a
large Bulk result dominates a sync. Here every API response body of the emulator is sent no faster
than ``--bandwidth-kbps`` per connection, every API call waits ``--latency-ms`` first (the
emulator's ``bandwidth_kbps`` and ``latency_ms`` faults), and the parallel results resource
(``resultPages``) splits a job into pages of ``--page-records`` rows. Through that one limited
emulator, side by side in one run:

- the engine's extract with ``--streams`` concurrent results streams (its default), and again with
  one stream (``result_streams=1``: the same pages read one after another by locator);
- the engine's transform and load of the parallel download;
- the hand-written sync (bench/handwritten.py: simple-salesforce's Bulk 2.0 download, one stream);
- dlt (bench/dlt_baseline.py, its own venv) unless ``--skip-dlt``.

Ratios: the engine's download against one sequential stream (target >= 3x); end to end against the
hand-written sync with the Bulk job's own processing time set aside on both sides (target >= 10x);
the peak RSS of every engine task (< 300 MB). Writes bench/results/network-<date>.json.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

DOWNLOAD_SPEEDUP = 3.0
VS_HANDWRITTEN = 10.0
RSS_LIMIT_MB = 300.0
ENGINE_TASKS = ("extract", "transform", "load")  # no "transform" step when pages convert as they land


def add_arguments(ap) -> None:
    group = ap.add_argument_group("real network scenario (--network)")
    group.add_argument("--network", action="store_true",
                       help="run only the real-network scenario (bandwidth and latency limits on the emulator)")
    group.add_argument("--bandwidth-kbps", type=int, default=8000,
                       help="per-connection bandwidth of every API response, kilobits/s (default 8000 = 1 MB/s)")
    group.add_argument("--latency-ms", type=int, default=80, help="wait before every API answer (default 80)")
    group.add_argument("--streams", type=int, default=4, help="the engine's concurrent results streams (default 4)")
    group.add_argument("--page-records", type=int, default=10_000,
                       help="rows per page of the parallel results resource (default 10,000)")
    group.add_argument("--more-streams", default="",
                       help="also run the extract and load with these stream counts (e.g. 10 or 6,10), side by side")
    group.add_argument("--separate-transform", action="store_true",
                       help="convert after the download in its own step (transform_while_downloading=false); "
                            "default: each page as it lands, as deployed")


def scenario(run, contacts: int, env: dict[str, str], url: str, info: dict[str, Any], server, args) -> dict[str, Any]:
    """One size through the limited emulator; ``run`` is bench/run.py (phase, run_child, ...)."""
    label = f"{contacts}-net"
    work = run.LOCAL / "work" / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    limits = {"bandwidth_kbps": args.bandwidth_kbps, "latency_ms": args.latency_ms}
    server.bulk.parallel_page_records = args.page_records
    server.faults.set(**limits)
    out: dict[str, Any] = {"limits": {**limits, "page_records": args.page_records, "streams": args.streams}}
    try:
        run.reset_engine_table(url)
        sequential_raw = work / "raw-sequential"
        out["extract_sequential"] = run.phase(
            "extract", {"object": run.OBJECT, "raw_dir": str(sequential_raw), "result_streams": 1},
            env, label, "extract_sequential")
        shutil.rmtree(sequential_raw, ignore_errors=True)
        out.update(_engine_run(run, contacts, env, url, work, label, args.streams, args.separate_transform))
        for streams in _stream_counts(args.more_streams):
            run.reset_engine_table(url)
            out.setdefault("more_streams", {})[str(streams)] = _engine_run(
                run, contacts, env, url, work, f"{label}-{streams}streams", streams, args.separate_transform)
        if not args.skip_handwritten:
            run.checkpoint(url)
            run.log(f"{label}: hand-written (simple-salesforce + pandas + SQLAlchemy) ...")
            hw_args = {"object": run.OBJECT, "url": url, "schema": "bench_handwritten", "connection_info": info,
                       "work_dir": str(work)}
            out["handwritten"] = run.run_child([run.PYTHON, str(run.BENCH / "handwritten.py"), json.dumps(hw_args)],
                                               env, f"{label}-handwritten")
            run.log(f"{label}: hand-written {out['handwritten']['rows']} rows in "
                    f"{out['handwritten']['seconds']:.1f} s")
        if not args.skip_dlt:
            out["dlt"] = run.run_dlt(contacts, env, url, info, work)
    finally:
        server.faults.clear()
    out["ratios"] = ratios(out)
    for more in out.get("more_streams", {}).values():
        more["ratios"] = ratios({**out, **more})
    return out


def _stream_counts(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def _engine_run(run, contacts: int, env: dict[str, str], url: str, work, label: str, streams: int,
                separate_transform: bool) -> dict[str, Any]:
    """The engine's extract (``streams`` results streams), transform and load of a full sync."""
    out: dict[str, Any] = {}
    started_at = dt.datetime.now(dt.UTC)
    raw, typed = work / "raw", work / "typed"
    shutil.rmtree(raw, ignore_errors=True)
    shutil.rmtree(typed, ignore_errors=True)
    typed.mkdir(parents=True)
    extract_args = {"object": run.OBJECT, "raw_dir": str(raw), "result_streams": streams}
    if not separate_transform:
        extract_args["typed_dir"] = str(typed)  # converted while downloading: the transform task only checks
    out["extract"] = run.phase("extract", extract_args, env, label)
    if separate_transform:
        t = run.phase("transform", {"object": run.OBJECT, "raw_dir": str(raw), "files": out["extract"]["files"],
                                    "typed_dir": str(typed)}, env, label)
        out["transform"] = t
    else:
        t = out["extract"]["typed"]
    out["load"] = run.phase("load", {"object": run.OBJECT, "typed_dir": str(typed), "files": t["files"],
                                     "columns": t["columns"], "expected_rows": t["rows"],
                                     "run_id": f"bench-net-{contacts}-{streams}-{started_at:%Y%m%dT%H%M%S}",
                                     "window_end": started_at.isoformat()}, env, label)
    return out


def _own(result: dict[str, Any] | None) -> float | None:
    """A run's seconds without the wait for the Bulk job's own processing (when it reports that wait)."""
    if not result:
        return None
    return result["seconds"] - (result.get("seconds_job") or 0.0)


def ratios(out: dict[str, Any]) -> dict[str, Any]:
    ext, seq = out.get("extract", {}), out.get("extract_sequential", {})
    engine_own = None
    if "extract" in out and "load" in out:
        transform = out["transform"]["seconds"] if "transform" in out else 0.0  # else: inside the extract
        engine_own = _own(out["extract"]) + transform + out["load"]["seconds"]
    result: dict[str, Any] = {
        "download_seconds_parallel": ext.get("seconds_download"),
        "download_seconds_sequential": seq.get("seconds_download"),
        "download_speedup": _div(seq.get("seconds_download"), ext.get("seconds_download")),
        "transform_while_downloading": (ext.get("typed") or {}).get("seconds_busy"),
        "transform_after_download": (ext.get("typed") or {}).get("seconds_after_download"),
        "engine_seconds_without_job": engine_own,
        "peak_rss_mb": {t: out[t]["peak_rss_mb"] for t in ENGINE_TASKS if t in out},
    }
    for key in ("handwritten", "dlt"):
        if key in out:
            own = _own(out[key])
            result[f"{key}_seconds_without_job"] = own
            result[f"vs_{key}"] = _div(own, engine_own)
            if "load" in out:
                # The load starts when the extract has ended: even an instant download and conversion
                # leave the load's own time, so no stream count takes the ratio past this.
                result[f"vs_{key}_ceiling"] = _div(own, out["load"]["seconds"])
    return result


def _div(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def targets(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for size in sizes:
        r, n = size["network"]["ratios"], f"{size['contacts']:,}"
        rows = [(f"download with {size['network']['limits']['streams']} streams ≥ {DOWNLOAD_SPEEDUP:g}× one "
                 f"sequential stream ({n})", r.get("download_speedup"), DOWNLOAD_SPEEDUP, True)]
        if "vs_handwritten" in r:
            rows.append((f"end to end ≥ {VS_HANDWRITTEN:g}× the hand-written sync, Bulk job processing set aside "
                         f"({n}; at most {r['vs_handwritten_ceiling']:.1f}× with an instant download: the "
                         "load's own time)", r["vs_handwritten"], VS_HANDWRITTEN, True))
        for streams, more in size["network"].get("more_streams", {}).items():
            m = more["ratios"]
            rows.append((f"(configured: {streams} streams) download ≥ {DOWNLOAD_SPEEDUP:g}× one stream ({n})",
                         m.get("download_speedup"), DOWNLOAD_SPEEDUP, True))
            if "vs_handwritten" in m:
                rows.append((f"(configured: {streams} streams) end to end ≥ {VS_HANDWRITTEN:g}× the hand-written "
                             f"sync, Bulk job processing set aside ({n})", m["vs_handwritten"], VS_HANDWRITTEN, True))
        peak = max([*r["peak_rss_mb"].values(),
                    *(v for more in size["network"].get("more_streams", {}).values()
                      for v in more["ratios"]["peak_rss_mb"].values())], default=None)
        rows.append((f"peak RSS of every engine task < {RSS_LIMIT_MB:g} MB ({n})", peak, RSS_LIMIT_MB, False))
        for name, value, limit, at_least in rows:
            met = None if value is None else (value >= limit if at_least else value < limit)
            found.append({"target": name, "measured": None if value is None else round(value, 3), "limit": limit,
                          "met": met})
    return found


def markdown(document: dict[str, Any]) -> str:
    lines = ["## Real network (bandwidth and latency limits on the emulator)", ""]
    for size in document["sizes"]:
        net, n = size["network"], f"{size['contacts']:,}"
        lim = net["limits"]
        lines += [f"### {n} contacts — {lim['bandwidth_kbps']} kbit/s per connection, {lim['latency_ms']} ms per "
                  f"call, parallel pages of {lim['page_records']:,} rows, {lim['streams']} streams", "",
                  "| run | seconds | of which Bulk job | download | peak RSS MB |", "|---|---:|---:|---:|---:|"]
        for key, name in (("extract_sequential", "engine extract, 1 stream"),
                          ("extract", f"engine extract, {lim['streams']} streams"),
                          ("transform", "engine transform"), ("load", "engine load"),
                          ("handwritten", "hand-written (simple-salesforce + pandas + SQLAlchemy)"),
                          ("dlt", "dlt (merge on Id)")):
            typed = net.get("extract", {}).get("typed")
            if key == "load" and typed:  # converted inside the extract, as each page landed
                lines.append(f"| engine transform: inside the extract ({typed['seconds_busy']:.1f} s converting "
                             f"during the download, {typed['seconds_after_download']:.1f} s after its last page) "
                             "| – | – | – | – |")
            if key in net:
                r = net[key]
                download = r.get("seconds_download")
                if key == "handwritten" and download is not None:
                    download -= r["seconds_job"]  # it reports the download from its start, job included
                lines.append(f"| {name} | {r['seconds']:.1f} | {_fmt(r.get('seconds_job'))} | "
                             f"{_fmt(download)} | {r['peak_rss_mb']:.0f} |")
        for streams, more in net.get("more_streams", {}).items():
            for key in ("extract", "transform", "load"):
                if key in more:
                    r = more[key]
                    lines.append(f"| engine {key}, {streams} streams | {r['seconds']:.1f} | "
                                 f"{_fmt(r.get('seconds_job'))} | {_fmt(r.get('seconds_download'))} | "
                                 f"{r['peak_rss_mb']:.0f} |")
        lines.append("")
    lines += ["| target | measured | limit | met |", "|---|---:|---:|---|"]
    for t in document["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {_fmt(t['measured'], 2)} | {t['limit']:g} | {met} |")
    return "\n".join(lines)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def write(output: Path, document: dict[str, Any]) -> None:
    document["targets"] = targets(document["sizes"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")

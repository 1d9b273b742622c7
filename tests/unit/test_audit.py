from __future__ import annotations

import json

import pytest

from prefetch_lab.trail import EVENTS, AuditWriter, TrailError, make_record, read_records, summarize


def test_records_carry_event_and_time_first_and_drop_empty_fields():
    record = make_record("prefetch-refused", url="http://a/x", reason="not-cached", rules=None)
    assert list(record)[:2] == ["ts", "event"]
    assert record["event"] == "prefetch-refused" and "rules" not in record


def test_unknown_events_are_a_programming_error():
    with pytest.raises(ValueError):
        make_record("prefetch-maybe")


def test_writer_truncates_or_appends_like_mitmproxy_save(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text("old\n")
    writer = AuditWriter(str(path))
    writer.write(make_record("cache-hit", url="http://a/é"))
    assert json.loads(path.read_text())["url"] == "http://a/é"  # flushed per line, before close
    writer.close()
    appender = AuditWriter("+" + str(path))
    appender.write(make_record("cache-store"))
    appender.close()
    assert [r["event"] for r in read_records(path)] == ["cache-hit", "cache-store"]


def test_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(make_record("cache-hit")) + '\n{"ts": 1, "ev')
    assert [r["event"] for r in read_records(path)] == ["cache-hit"]


def test_appending_after_a_torn_line_drops_the_torn_fragment(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(make_record("cache-hit")) + '\n{"ts": 1, "ev')
    appender = AuditWriter("+" + str(path))
    appender.write(make_record("cache-store"))
    appender.close()
    assert [r["event"] for r in read_records(path)] == ["cache-hit", "cache-store"]


@pytest.mark.parametrize("bad, where", [
    ('{"ts": 1, "ev\n', 2),  # cut short, yet followed by a newline: not a write in progress
    ("garbage\n", 2),
    ("[1, 2]\n", 2),  # JSON, but not a record
])
def test_any_other_bad_line_is_reported_with_its_line(tmp_path, bad, where):
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(make_record("cache-hit")) + "\n" + bad + json.dumps(make_record("cache-store")) + "\n")
    with pytest.raises(TrailError, match=f"audit.jsonl:{where}: not a JSON"):
        list(read_records(path))


def test_summary_counts_prefetch_outcomes_and_reasons():
    records = [
        make_record("prefetch-hit"),
        make_record("prefetch-refused", reason="not-cached"),
        make_record("prefetch-refused", reason="not-cached"),
        make_record("prefetch-refused", reason="bypassed"),
        make_record("prefetch-forwarded", reason="include-cache-misses"),
        make_record("inject-skipped", reason="csp-blocks-script: strict-dynamic without nonce"),
        make_record("cache-bypass", caching_status="set-cookie"),
    ]
    summary = summarize(records)
    assert summary["prefetches"] == 5
    assert summary["prefetch_hit_ratio"] == 0.2
    assert summary["refused_by_reason"] == {"not-cached": 2, "bypassed": 1}
    assert summary["inject_skipped_by_reason"] == {"csp-blocks-script: strict-dynamic without nonce": 1}
    assert summary["bypassed_by_status"] == {"set-cookie": 1}
    assert set(summary["events"]) <= set(EVENTS)


def test_summary_of_nothing_has_no_ratio():
    assert summarize([])["prefetch_hit_ratio"] is None


def test_a_trail_opened_again_by_the_same_process_is_appended_to(tmp_path):
    # mitmproxy's hot reload re-creates the addon, which opens its trail again.
    path = tmp_path / "trail.jsonl"
    first = AuditWriter(str(path))
    first.write(make_record("cache-store"))
    first.close()
    again = AuditWriter(str(path))
    again.write(make_record("rules-loaded"))
    again.close()
    assert [r["event"] for r in read_records(path)] == ["cache-store", "rules-loaded"]


def test_the_session_summary_counts_prefetches_by_mechanism_and_outcome():
    from prefetch_lab.trail import summary_lines

    records = [
        make_record("prefetch-hit", prefetch="edgio"), make_record("prefetch-refused", prefetch="edgio", reason="not-cached"),
        make_record("prefetch-refused", prefetch="speculation", reason="bypassed"),
        make_record("prefetch-forwarded", prefetch="edgio", reason="include-cache-misses"),
        make_record("injected"), make_record("inject-skipped", reason="csp-script-blocked"),
        make_record("cache-hit"), make_record("cache-store"), make_record("cache-bypass", caching_status="private"),
    ]
    summary = summarize(records)
    assert summary["prefetches_by_mechanism"] == {"edgio": {"hit": 1, "refused": 1, "forwarded": 1},
                                                  "speculation": {"refused": 1}}
    assert summary_lines(summary) == [
        "pages injected: 1 (skipped: csp-script-blocked 1)",
        "prefetches: 4 (edgio: 1 forwarded, 1 hit, 1 refused; speculation: 1 refused)",
        "refused by reason: not-cached 1, bypassed 1",
        "edge cache (other than prefetches): hit 1, stale 0, stored 1, not stored 1 (private 1)",
    ]

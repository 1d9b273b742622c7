from __future__ import annotations

import os

import pytest

from prefetch_lab.rules.model import RulesError
from prefetch_lab.rules.rule_source import RuleSource

RULE = "rules:\n  - match: {path: /a}\n    caching: {max_age: 1h}\n"


def touch_later(path, seconds: int = 5) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 10**9))


@pytest.mark.parametrize("option", ["", "none", " NONE "])
def test_none_means_no_rules(option):
    source = RuleSource.parse(option)
    assert source.load().rules == () and not source.changed()


def test_missing_paths_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        RuleSource.parse(f"{tmp_path}, {tmp_path}/missing.yaml")


def test_a_directory_means_its_yaml_files_sorted_not_recursive(tmp_path):
    (tmp_path / "b.yml").write_text(RULE)
    (tmp_path / "a.yaml").write_text(RULE)
    (tmp_path / "notes.md").write_text("# not rules")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text(RULE)
    source = RuleSource.parse(str(tmp_path))
    assert [p.name for p in source.files()] == ["a.yaml", "b.yml"]
    assert len(source.load().rules) == 2


def test_edits_additions_and_removals_are_changes(tmp_path):
    rules = tmp_path / "a.yaml"
    rules.write_text(RULE)
    source = RuleSource.parse(f"{tmp_path}")
    source.load()
    assert not source.changed()
    touch_later(rules)
    assert source.changed()
    source.load()
    (tmp_path / "b.yaml").write_text(RULE)
    assert source.changed()
    source.load()
    (tmp_path / "b.yaml").unlink()
    assert source.changed()


def test_a_broken_edit_is_tried_once_and_the_fix_counts_as_a_change(tmp_path):
    rules = tmp_path / "a.yaml"
    rules.write_text(RULE)
    source = RuleSource.parse(str(rules))
    source.load()
    rules.write_text("rules: [\n")
    touch_later(rules)
    assert source.changed()
    with pytest.raises(RulesError):
        source.load()
    assert not source.changed()  # no error every second while the file stays broken
    rules.write_text(RULE)
    touch_later(rules, 10)
    assert source.changed()
    assert len(source.load().rules) == 1


def test_comma_separated_files(tmp_path):
    (tmp_path / "one.yaml").write_text(RULE)
    (tmp_path / "two.yaml").write_text(RULE)
    source = RuleSource.parse(f"{tmp_path / 'one.yaml'}, {tmp_path / 'two.yaml'}")
    assert len(source.load().rules) == 2

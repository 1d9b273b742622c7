"""Where the rules come from, and whether they changed on disk (for hot reload). Pure module."""

from __future__ import annotations

from pathlib import Path

import yaml

from prefetch_lab.rules.model import RuleSet, RulesError
from prefetch_lab.rules.rule_file import load_rules, rule_files

EMPTY_ON_RELOAD = ("the file is empty (being rewritten?): keeping the last good rules; "
                   "write `rules: []` for an intentionally empty set")

class RuleSource:
    """The files behind the `prefetch_rules` option: comma-separated files or directories
    (a directory means its *.yaml / *.yml files, not recursive), or 'none'."""

    DEFAULT = str(Path(__file__).resolve().parents[3] / "rules")

    def __init__(self, paths: tuple[Path, ...]) -> None:
        self.paths = paths
        self._loaded_signature: tuple = ()

    @classmethod
    def parse(cls, option: str) -> "RuleSource":
        text = option.strip()
        if text.lower() in ("", "none"):
            return cls(())
        paths = tuple(Path(part.strip()).expanduser() for part in text.split(",") if part.strip())
        for path in paths:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such file or directory")
        return cls(paths)

    def files(self) -> list[Path]:
        try:
            return rule_files(self.paths)
        except RulesError:  # a path vanished mid-edit: watch what is left, load() will report it
            return [path for path in self.paths if path.is_file()]

    def signature(self) -> tuple:
        """Names, sizes and mtimes: changes when a file is edited, added or removed."""
        entries = []
        for file in self.files():
            try:
                stat = file.stat()
                entries.append((str(file), stat.st_mtime_ns, stat.st_size))
            except OSError:
                entries.append((str(file), None, None))
        return tuple(entries)

    def load(self, reloading: bool = False) -> RuleSet:
        """`reloading`: a file with no YAML document at all (truncated to 0 bytes by an editor
        or a `>` redirect, or only comments) is an error, so the last good rules stay."""
        # Remembered before loading: a broken edit is reported once, not every poll, and the
        # next edit (the fix) counts as a change again.
        self._loaded_signature = self.signature()
        if reloading:
            for file in self.files():
                try:
                    blank = yaml.compose(file.read_text(encoding="utf-8"), Loader=yaml.SafeLoader) is None
                except (OSError, UnicodeDecodeError, yaml.YAMLError):
                    continue  # load_rules reports these with their line
                if blank:
                    raise RulesError(str(file), None, EMPTY_ON_RELOAD)
        return load_rules(self.paths) if self.paths else RuleSet.empty()

    def changed(self) -> bool:
        return bool(self.paths) and self.signature() != self._loaded_signature

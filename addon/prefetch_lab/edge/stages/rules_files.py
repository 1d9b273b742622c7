"""The rules files the edge runs on (`prefetch_rules`): loaded at start, reloaded when edited
(a broken edit keeps the last good rules) and by `prefetch.rules.reload`.

A new rule set clears the edge cache: its entries were stored under the old rules' TTLs.
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import command, ctx, exceptions

from prefetch_lab.edge.context import EdgeContext
from prefetch_lab.rules.model import RuleSet, RulesError
from prefetch_lab.rules.rule_source import RuleSource

logger = logging.getLogger(__name__)


class RulesFiles:
    name = "prefetch.rules"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge
        self.source: RuleSource | None = None
        self._watch_task: asyncio.Task | None = None

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_rules", str, RuleSource.DEFAULT,
            "Rules files or directories (comma-separated; a directory loads its *.yaml). "
            "'none' loads no rules: the edge cache then follows the origin's headers alone (RFC 9111).",
        )

    def configure(self, updated: set[str]) -> None:
        if "prefetch_rules" not in updated:
            return
        try:
            source = RuleSource.parse(ctx.options.prefetch_rules)
            rules = source.load()
        except (RulesError, OSError) as e:
            raise exceptions.OptionsError(f"prefetch_rules: {e}") from e
        self._use(source, rules)

    def _use(self, source: RuleSource, rules: RuleSet) -> None:
        self.source = source
        self.edge.use_rules(rules)
        self.edge.record("rules-loaded", files=list(rules.sources), rules=len(rules.rules))
        logger.info(f"prefetch-lab: {len(rules.rules)} rules from {', '.join(rules.sources) or 'nothing (RFC 9111 mode)'}")

    def running(self) -> None:
        if self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch())

    def done(self) -> None:
        if self._watch_task:
            self._watch_task.cancel()
            self._watch_task = None

    async def _watch(self) -> None:
        """Rules edits take effect without a restart."""
        while True:
            await asyncio.sleep(1)
            try:
                if self.source and self.source.changed():
                    self.reload_rules()
            except Exception:  # keep watching: one odd error must not end hot reload
                logger.exception("prefetch-lab: watching the rules files failed")

    @command.command("prefetch.rules.reload")
    def reload_rules(self) -> None:
        """Reload the rules files now (they also reload by themselves when edited)."""
        if not self.source:
            return
        try:
            rules = self.source.load(reloading=True)
        except (RulesError, OSError) as e:
            logger.error(f"prefetch-lab: rules not reloaded, keeping the last good rules: {e}")
            self.edge.record("rules-error", reason=str(e))
            return
        self._use(self.source, rules)

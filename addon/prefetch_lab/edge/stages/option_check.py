"""Stop at start on a mistyped `--set` for our options, instead of running inert.

mitmproxy keeps `--set` values of options no addon has registered yet ("deferred") and parses
them all at once after a script's addons have loaded. A bad value there (`prefetch_cache_mb=abc`,
`prefetch_include_cache_misses=maybe`) raises outside any hook that reports it: the script stays
unloaded and the proxy runs as plain mitmproxy, forwarding cold prefetches to the origin. A
misspelt name (`prefetch_injet=off`) is never registered and so is silently ignored: a "control
run" would run with injection on.

This addon comes last in the script's list, so its `load` runs once every option of ours is
registered but before mitmproxy parses the deferred values: it parses them itself and logs an
error naming the option. mitmproxy exits at start when an error was logged during start-up.
"""

from __future__ import annotations

import difflib
import logging

from mitmproxy import exceptions

from prefetch_lab.edge import compat

logger = logging.getLogger(__name__)
PREFIX = "prefetch_"


class OptionCheck:
    name = "prefetch.optioncheck"

    def running(self) -> None:
        exposed = compat.non_loopback_listen_addresses()
        if exposed:
            logger.warning(
                f"prefetch-lab: listening on {', '.join(exposed)}: anyone who can reach it may use this proxy "
                "(and the hosts it can reach), fill its shared edge cache and feed its traversal graph. "
                "Use --listen-host 127.0.0.1 unless that is what you want.")

    def load(self, loader) -> None:
        options = loader.master.options
        ours = sorted(name for name in options.keys() if name.startswith(PREFIX))
        for name, values in compat.deferred_options(options):
            if name in options:
                try:
                    options.set(*[f"{name}={value}" for value in values])
                except exceptions.OptionsError as e:
                    logger.error(f"prefetch-lab: --set {name}: {e}")
                compat.forget_deferred(options, name)
            elif name.startswith(PREFIX) or difflib.get_close_matches(name, ours, n=1, cutoff=0.8):
                suggestion = difflib.get_close_matches(name, ours, n=1, cutoff=0.6)
                hint = f" (did you mean {suggestion[0]}?)" if suggestion else ""
                logger.error(f"prefetch-lab: unknown option {name}{hint}; `scripts/proxy --options` lists them all")
                compat.forget_deferred(options, name)

"""Print mitmdump's options including Prefetch Lab's, with help text and defaults.

`mitmdump -s addon/prefetch.py --options` cannot show them: mitmproxy loads -s scripts in a
background task that starts after --options has printed and exited.
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addon"))

from mitmproxy import optmanager  # noqa: E402
from mitmproxy.options import Options  # noqa: E402
from mitmproxy.tools.dump import DumpMaster  # noqa: E402
import prefetch  # noqa: E402  (the shim mitmdump loads: its addons list, whole)


async def main() -> None:
    opts = Options()
    master = DumpMaster(opts, with_termlog=False, with_dumper=False)
    master.addons.add(*prefetch.addons)
    optmanager.dump_defaults(opts, sys.stdout)


asyncio.run(main())

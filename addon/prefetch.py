"""mitmdump -s addon/prefetch.py: CDN-style predictive prefetching for any site.

A thin shim: the code lives in the prefetch_lab package beside this file (mitmproxy puts this
folder on sys.path). Hot reload re-runs only this file; restart after editing the package.
"""

from prefetch_lab.addon import PrefetchLab
from prefetch_lab.latency import EdgeLatency
from prefetch_lab.optioncheck import OptionCheck

# Order matters: EdgeLatency tells edge answers from origin ones by what PrefetchLab did first;
# OptionCheck must load after every addon that registers options.
addons = [PrefetchLab(), EdgeLatency(), OptionCheck()]

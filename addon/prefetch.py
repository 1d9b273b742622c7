"""mitmdump -s addon/prefetch.py: CDN-style predictive prefetching for any site.

A thin shim: the code lives in the prefetch_lab package beside this file (mitmproxy puts this
folder on sys.path). Hot reload re-runs only this file; restart after editing the package.
"""

from prefetch_lab.edge.lab import PrefetchLab
from prefetch_lab.edge.stages.client_files import ClientFiles
from prefetch_lab.edge.stages.latency import EdgeLatency
from prefetch_lab.edge.stages.learning import Learning
from prefetch_lab.edge.stages.option_check import OptionCheck
from prefetch_lab.edge.stages.summary import SessionSummary

# Order matters: Learning answers a page's learned rules URL before PrefetchLab would serve the
# fixed file; EdgeLatency tells edge answers from origin ones by what PrefetchLab did first;
# ClientFiles picks the browser client PrefetchLab's edge files serve; OptionCheck must load
# after every addon that registers options. SessionSummary counts what PrefetchLab records.
lab = PrefetchLab()
addons = [Learning(lab), lab, ClientFiles(lab.edge_files), EdgeLatency(), SessionSummary(lab), OptionCheck()]

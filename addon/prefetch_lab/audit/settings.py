"""What one audit is asked to do: its settings, the arms it may run and how each arm's proxy is set.

Plain values, checked by `AuditSettings.check`; the command line (cli.py) fills them and the
audit (run.py) reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefetch_lab.audit.findings.cookies import WHAT_IF_ARM
from prefetch_lab.audit.findings.enough_runs import DEFAULT_PRECISION
from prefetch_lab.audit.gather import devices
from prefetch_lab.audit.gather.playwright_driver import Moves
from prefetch_lab.rules.rule_source import RuleSource

SCHEMA = "prefetch-lab-audit/1"
ROOT = Path(__file__).resolve().parents[3]
DEFAULT_RULES = ROOT / "rules" / "default.yaml"
# The control arm is the site as it is: nothing injected, and no gate, so the site's own
# prefetches (<link rel=prefetch>, its own speculation rules) go on as they would without a
# gating edge; the experiment arms gate them as the emulated product does.
ARM_OPTIONS = {
    "control": {"prefetch_inject": "off", "prefetch_gate": "off"},
    # The A/A arm: the control's settings, its own proxies and profiles; its verdict against the
    # control should be no-difference (else the machine or the pipeline makes differences up).
    "placebo": {"prefetch_inject": "off", "prefetch_gate": "off"},
    "speculation": {"prefetch_inject": "speculation"},
    "edgio": {"prefetch_inject": "edgio"},
    "both": {"prefetch_inject": "both"},
    # Per-page rules from the trained traversal graph (edge/stages/learning.py); its fallback is the fixed rule.
    "learned": {"prefetch_inject": "speculation", "prefetch_speculation": "learned"},
    # --verify-deploy: the generated OUT/deploy/prefetch-rules.yaml as the rules, and the
    # speculation-rules document built from it (= OUT/deploy/speculation-rules.json) served.
    "deployed": {"prefetch_inject": "speculation"},
    # --what-if ignore-cookies=NAME,...: an arm of its own, added by the command line, running the
    # prefetching of the audit's first experiment arm (its base) with one more rule (what_if_rules):
    # the base arm's options (Audit.what_if_options).
    WHAT_IF_ARM: {},
}
DEPLOYED_ARM = "deployed"
# The status the edge answers a refused prefetch with, per arm, as the product each one emulates
# does (--refusal-status sets one for every arm): Speed Brain's 503 for speculation rules (the
# learned and deployed arms too), Edgio's 412 for its client; "both" runs on Edgio's edge. The
# control arms refuse nothing (their gate is off). A prerender is always refused with 503.
PRODUCT_REFUSAL_STATUS = {"speculation": 503, "learned": 503, "deployed": 503, "edgio": 412, "both": 412}
DEFAULT_REFUSAL_STATUS = 412
WHAT_IF_BASES = ("speculation", "edgio", "both")
LEARNED_ARM = "learned"
WALKS = ("skewed", "uniform")
# Training walks only feed the graph (nothing speculates): no dwell, a short press.
TRAINING_MOVES = Moves(dwell_ms=0, hover_ms=0, press_ms=20)
# Every training walk comes from 127.0.0.1: the training proxy tells its visitors apart by this
# header (prefetch_learn_visitor_header), which each walk's browser sends with its own value.
TRAINING_VISITOR_HEADER = "x-prefetch-lab-visitor"


@dataclass
class AuditSettings:
    url: str
    out: Path
    arms: list[str] = field(default_factory=lambda: ["control", "speculation", "edgio"])
    runs: int = 3
    pages: int = 10
    seed: int = 1
    path_file: Path | None = None
    edge: str = "warm"  # "warm": a warm-up pass before each measured run; "cold": none
    origin_delay_ms: int = 0
    edge_delay_ms: int = 20
    throttle: str | None = None  # None: the --device preset's network, else "none"
    mobile: bool = False
    eagerness: str = "conservative"
    rules: str = RuleSource.DEFAULT
    refusal_status: int | None = None  # None: each arm's product's (PRODUCT_REFUSAL_STATUS)
    reverse: bool = False
    insecure_origin: bool = False
    chromium: str | None = None
    deadline_s: float = 1800
    moves: Moves = field(default_factory=Moves)
    walk: str | None = None  # "skewed" | "uniform"; None: skewed with a learned arm, else uniform
    skew: float = 2.0  # the skewed walker's Zipf exponent
    train: int = 0  # training walks for the learned arm
    learned_thresholds: str | None = None  # prefetch_learned_thresholds; None: the proxy's default
    assertions: list[str] = field(default_factory=list)  # --assert: checked on the summary (CI mode)
    runs_auto: bool = False  # --runs auto: `runs` is then the most (--max-runs); stop on precision
    precision: str = DEFAULT_PRECISION  # the LCP CI half-width that is enough: "10%" of control's p50, or ms
    baseline: Path | None = None  # --baseline OLD/audit.json: the same arms compared, unpaired
    verify_deploy: bool = False  # after the measured arms, the `deployed` arm with the generated files
    ignore_cookies: list[str] = field(default_factory=list)  # --what-if ignore-cookies=NAME,...
    device: str | None = None  # --device mobile|desktop: Lighthouse's presets (gather/devices.py)
    cpu_slowdown: float | None = None  # --cpu-slowdown N; None: the preset's, else 1 (none)
    filmstrip: bool = True  # --no-filmstrip: no traces, no frames

    @property
    def what_if_base(self) -> str:
        """The arm the ignore-cookies arm copies: the first experiment arm, else the control."""
        return next((arm for arm in self.arms if arm in WHAT_IF_BASES), "control")

    def __post_init__(self) -> None:
        # The preset sets the parts an explicit --throttle or --cpu-slowdown left open.
        chosen = devices.PRESETS.get(self.device or "")
        if self.throttle is None:
            self.throttle = chosen.throttle if chosen else "none"
        if self.cpu_slowdown is None:
            self.cpu_slowdown = chosen.cpu_slowdown if chosen else 1.0

    @property
    def walk_kind(self) -> str:
        return self.walk or ("skewed" if LEARNED_ARM in self.arms else "uniform")

    def check(self) -> None:
        """ValueError for settings that cannot make a sound audit."""
        unknown = [arm for arm in self.arms if arm not in ARM_OPTIONS]
        if unknown:
            raise ValueError(f"unknown arm(s) {', '.join(unknown)} (arms: {', '.join(ARM_OPTIONS)})")
        if self.walk_kind not in WALKS:
            raise ValueError(f"unknown walk {self.walk!r} (walks: {', '.join(WALKS)})")
        if LEARNED_ARM in self.arms and self.train < 1:
            raise ValueError("the learned arm needs a trained graph: give --train N (N training walks)")
        if self.train and LEARNED_ARM not in self.arms:
            raise ValueError("--train trains the learned arm: add 'learned' to --arms, or leave --train out")
        if DEPLOYED_ARM in self.arms:
            raise ValueError("the deployed arm runs the audit's own generated rules: give --verify-deploy instead")
        if (WHAT_IF_ARM in self.arms) != bool(self.ignore_cookies):
            raise ValueError(f"the {WHAT_IF_ARM} arm comes with --what-if ignore-cookies=NAME,... (and only with it)")
        if self.train < 0 or self.skew < 0:
            raise ValueError("--train and --skew must be 0 or more")
        if self.device is not None:
            devices.preset(self.device)
        if not 1 <= self.cpu_slowdown <= 20:
            raise ValueError(f"--cpu-slowdown must be from 1 (none) to 20, got {self.cpu_slowdown:g}")

    def refusal_status_of(self, arm: str | None) -> int:
        """The status of a refused prefetch in `arm`'s proxy (the what-if arm: its base arm's)."""
        if self.refusal_status is not None:
            return self.refusal_status
        arm = self.what_if_base if arm == WHAT_IF_ARM else arm
        return PRODUCT_REFUSAL_STATUS.get(arm or "", DEFAULT_REFUSAL_STATUS)

    def to_json(self) -> dict:
        values = asdict(self)
        values.update(out=str(self.out), path_file=str(self.path_file) if self.path_file else None,
                      baseline=str(self.baseline) if self.baseline else None,
                      walk=self.walk_kind, refusal_status={arm: self.refusal_status_of(arm) for arm in self.arms})
        return values


def what_if_rules(names: list[str]) -> str:
    """The ignore-cookies arm's extra rules file: loaded after the audit's rules, it changes only
    these keys for every GET (a bypass_cache rule still keeps its URLs out). The rules' features
    are not per cookie: the arm ignores every cookie in the cache key and drops every Set-Cookie;
    NAMES are the cookies the advice found, recorded with the result."""
    return (f"# --what-if ignore-cookies={','.join(names)} (written by the audit)\n"
            "rules:\n"
            "  - comment: the what-if arm's rule, pages shared whatever the visitor's cookies\n"
            "    match: {method: [GET, HEAD]}\n"
            "    caching: {cache_key_ignore_cookies: true}\n"
            "    headers: {remove_origin_response_headers: [set-cookie]}\n")

"""The audit's arms as the report shows them: their labels, which one is the control, and the
navigations each arm's figures are computed over. Pure module.
"""

from __future__ import annotations

ARM_LABELS = {
    "control": "control (nothing injected)",
    "placebo": "placebo (the control again: A/A)",
    "speculation": "speculation rules",
    "edgio": "Edgio's install.js",
    "both": "both mechanisms",
    "learned": "learned speculation rules",
}
# The learned arm's side-by-side: the fixed (conservative) rules it is meant to beat, and the control.
LEARNED_COMPARISON_ARMS = ("control", "speculation", "learned")


def arm_label(arm: str) -> str:
    return ARM_LABELS.get(arm, arm)


def control_arm(audit: dict) -> str | None:
    arms = list((audit.get("summary") or {}))
    return "control" if "control" in arms else None


def experiment_arms(audit: dict) -> list[str]:
    """Every arm but the control, in the summary's order."""
    control = control_arm(audit)
    return [arm for arm in audit.get("summary") or {} if arm != control]


def after_landing(audit: dict, arm: str) -> list[dict]:
    """The navigations the summary is computed over: the arm's document navigations (a soft one
    is reported apart) of steps ≥ 1, all runs pooled."""
    return [n for n in audit.get("navigations") or [] if n.get("arm") == arm and (n.get("step") or 0) >= 1
            and n.get("kind", "document") == "document"]


def soft_headline(audit: dict) -> str | None:
    """The audit's sentence when most navigations were soft (its "soft-navigations" advice)."""
    return next((a.get("headline") for a in audit.get("advice") or [] if a.get("code") == "soft-navigations"), None)

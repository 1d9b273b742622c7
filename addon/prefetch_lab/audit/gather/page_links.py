"""Every link of the page showing, for the deployment's lint (deploy/): not only the ones a
visitor could press now (VISIBLE_LINKS_JS) but every `a[href]` / `area[href]` of the document,
with its text, rel, the region it sits in and whether it is rendered. The drivers run
PAGE_LINKS_JS with their `page_links()` method; the audit keeps the same-origin ones. Reading
links never fetches them."""

from __future__ import annotations

# Region: the nearest landmark ancestor by element or ARIA role (nav, header, footer, aside,
# main), "other" outside them. Visible: rendered with a size and not hidden by CSS (anywhere on
# the page, scrolled into view or not); in_viewport: visible without scrolling.
PAGE_LINKS_JS = """() => {
  const REGIONS = {nav: "nav", header: "header", footer: "footer", aside: "aside", main: "main"};
  const ROLES = {navigation: "nav", banner: "header", contentinfo: "footer", complementary: "aside", main: "main"};
  const regionOf = (el) => {
    for (let node = el.parentElement; node; node = node.parentElement) {
      const role = (node.getAttribute("role") || "").toLowerCase();
      if (ROLES[role]) return ROLES[role];
      const tag = node.tagName.toLowerCase();
      if (REGIONS[tag]) return REGIONS[tag];
    }
    return "other";
  };
  const links = [];
  for (const a of document.querySelectorAll("a[href], area[href]")) {
    const rects = a.getClientRects();
    const style = getComputedStyle(a);
    const visible = rects.length > 0 && style.visibility !== "hidden" && style.display !== "none"
      && Array.from(rects).some((r) => r.width >= 1 && r.height >= 1);
    const r = a.getBoundingClientRect();
    links.push({
      href: a.href, text: (a.innerText || a.textContent || a.getAttribute("aria-label") || a.title || "")
        .trim().replace(/\\s+/g, " ").slice(0, 100),
      rel: a.getAttribute("rel") || "", region: regionOf(a), visible,
      in_viewport: visible && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth,
      target: a.target || "", download: a.hasAttribute("download"),
    });
  }
  return {page: location.href, links};
}"""

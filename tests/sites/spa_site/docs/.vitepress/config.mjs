// A documentation site as VitePress builds it: client-side routing, and page chunks of the
// links in view prefetched with <link rel=prefetch> (VitePress's own prefetcher).
export default {
  title: "Prefetch Lab SPA",
  description: "A VitePress site the tests audit",
  cleanUrls: true,
  themeConfig: {
    nav: [{ text: "Guide", link: "/guide" }, { text: "API", link: "/api" }],
    sidebar: [
      { text: "Guide", link: "/guide" }, { text: "API", link: "/api" }, { text: "FAQ", link: "/faq" },
      { text: "Changelog", link: "/changelog" }, { text: "Deploy", link: "/deploy" },
    ],
  },
};

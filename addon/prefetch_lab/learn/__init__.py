"""Learned speculation, pure: the traversal graph (which page visitors open after which), its file,
what counts as a page view, and the per-page learned Speculation Rules document. The mitmproxy
side is the edge stage `edge.stages.learning`.
"""

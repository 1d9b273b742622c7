"""HTML rewriting on bytes, pure: where install.js goes in a whole body (`inject`) or in a body
that streams past (`stream_inject`, with the stream-aware scanning in `stream_scan`), the stream
codecs that decode and re-encode a compressed body chunk by chunk, and the Content-Security-Policy
reading that decides whether the tag may run.
"""

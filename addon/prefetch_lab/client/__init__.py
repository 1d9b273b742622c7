"""What the browser runs, and the files the edge serves under /__edgio__/ (pure: answers are
(status, headers, body)): our install.js and service worker in `static/` or a user's copy of
Edgio's, the cache manifest and the speculation-rules file.
"""

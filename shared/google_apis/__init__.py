"""Google's own APIs (OAuth, Google-signed tokens, Gmail): with storage, messaging and secrets, the only
places in shared/ that import Google's libraries."""

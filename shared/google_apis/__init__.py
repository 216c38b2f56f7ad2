"""Google's own APIs (Gmail, Calendar, Drive, OAuth): the only place in shared/ that imports their clients."""

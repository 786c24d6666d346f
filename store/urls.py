"""Store URLs as people may see them: printed without their secrets."""

from __future__ import annotations

_SECRET_PARAMS = frozenset({"password", "passwd", "pass", "sslpassword", "sslkey", "token", "secret"})


def redact_url(url: str) -> str:
    """A connection URL safe to print: any password, in the user part or the query, shown as ``***``.

    Examples
    --------
    >>> redact_url("postgresql://gp:s3cret@db.local:5432/gp?password=x&sslmode=require")
    'postgresql://gp:***@db.local:5432/gp?password=***&sslmode=require'
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unprintable store URL>"
    if "@" not in parts.netloc and not parts.query:
        return url  # nothing to hide (and sqlite:////abs/path keeps its slashes)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in creds else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = [
            (k, "***" if k.lower() in _SECRET_PARAMS else v)
            for k, v in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

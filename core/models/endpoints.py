"""Base URLs, read strictly, and which API key a request to one may carry.

A key goes only to its provider's own https host (``OFFICIAL``) or to an endpoint the operator
bound it to (the ``key_bindings`` setting: base URL → name of the environment variable holding
the key). URLs are compared by their parts — scheme, host, port, then path segments — after the
same normalisation httpx applies before a request leaves, never as strings: a spec cannot reach
a key with ``https://api.openai.com.evil.com``, ``https://api.openai.com@evil.com``,
``https://evil.com\\@api.openai.com``, a bound path's sibling (``/v10`` for ``/v1``) or ``..``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


class BadURL(ValueError):
    """A base URL that cannot be used; the message says why, in words for a person."""


@dataclass(frozen=True)
class Endpoint:
    """A base URL reduced to what decides where a request goes."""

    scheme: str
    host: str   # lower case, no trailing dot, IPv6 without brackets
    port: int
    path: str   # normalised, no trailing slash ('' for the root)

    def within(self, other: Endpoint) -> bool:
        """True when this URL is ``other`` or lies under its path (by whole segments)."""
        if (self.scheme, self.host, self.port) != (other.scheme, other.host, other.port):
            return False
        return other.path == "" or self.path == other.path or self.path.startswith(other.path + "/")


def _printable_ascii(text: str) -> bool:
    return all(0x21 <= ord(ch) <= 0x7E for ch in text)


def parse_url(url: str) -> Endpoint:
    """The parts of a model server's base URL; BadURL when it is not a plain http(s) URL."""
    if not _printable_ascii(url) or "\\" in url:
        raise BadURL("it holds spaces, control or non-ASCII characters, or a backslash")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
        # compared as it goes on the wire (punycode stays punycode) …
        host = parsed.raw_host.decode("ascii").lower().removesuffix(".")  # the DNS root
    except (httpx.InvalidURL, ValueError, TypeError):
        raise BadURL("it is not a valid URL") from None
    try:  # … but it must decode, or the request would fail later with no hint
        parsed.host  # noqa: B018
    except ValueError:  # IDNAError, UnicodeError
        raise BadURL("its host is not a valid domain name") from None
    if parsed.scheme not in DEFAULT_PORTS or not host:
        raise BadURL("it needs http:// or https:// and a host")
    if ":" not in host and "" in host.split("."):  # an IPv6 address has colons, not labels
        raise BadURL("its host name has an empty label")
    if parsed.userinfo:
        raise BadURL("it holds a user name or password (bind a key with the key_bindings setting)")
    if parsed.query or parsed.fragment or "?" in url or "#" in url:
        raise BadURL("a base URL has no ?query or #fragment")
    if b"%" in parsed.raw_path:
        raise BadURL("its path holds percent-encoded characters")
    if port is not None and not 0 < port < 65536:
        raise BadURL(f"port {port} is out of range")
    path = parsed.path.rstrip("/")
    return Endpoint(parsed.scheme, host, port or DEFAULT_PORTS[parsed.scheme], path)


# The provider keys and the hosts they belong to (the provider's own API, https, port 443).
OFFICIAL: Mapping[str, Endpoint] = {
    "OPENAI_API_KEY": parse_url("https://api.openai.com"),
    "ANTHROPIC_API_KEY": parse_url("https://api.anthropic.com"),
    "HF_TOKEN": parse_url("https://router.huggingface.co"),
}


def bound_key_name(url: str, bindings: Mapping[str, str]) -> str | None:
    """The environment variable the operator bound to this URL: the binding with the longest
    path among those the URL lies within, or None."""
    target = parse_url(url)
    best: tuple[int, str] | None = None
    for base, name in bindings.items():
        endpoint = parse_url(base)
        if target.within(endpoint) and (best is None or len(endpoint.path) > best[0]):
            best = (len(endpoint.path), name)
    return best[1] if best else None


def official_key_name(url: str, provider_key: str) -> str | None:
    """``provider_key`` when the URL is that provider's own host, else None."""
    home = OFFICIAL.get(provider_key)
    return provider_key if home is not None and parse_url(url).within(home) else None

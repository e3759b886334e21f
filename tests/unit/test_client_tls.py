"""TLS contexts are shared, and a plain-http server's clients load no CA bundle."""

from __future__ import annotations

import ssl

from bridge.opencode.client import OpenCodeClient, tls_context


def test_plain_http_servers_share_a_context_that_trusts_no_certificate() -> None:
    context = tls_context("http://127.0.0.1:4096")
    assert context is tls_context("http://localhost:1")
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == []  # a TLS connection would fail, never go unverified


def test_https_servers_share_one_verifying_context() -> None:
    context = tls_context("https://opencode.example")
    assert context is tls_context("HTTPS://other.example:8443")
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs()  # the CA bundle, loaded once


async def test_clients_use_the_shared_context() -> None:
    client = OpenCodeClient("http://127.0.0.1:4096", "/tmp")
    try:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context is tls_context("http://127.0.0.1:4096")
    finally:
        await client.aclose()

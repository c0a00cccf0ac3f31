"""The SSRF guard: refused targets, the allowlist, and connections pinned to checked addresses.

Host names are resolved by an injected function (a fixed table) so no test touches real DNS,
except ``localhost``, which the system resolver answers locally.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import PinnedResolver, TargetPolicy, TargetRefused
from agent.delivery.webhook import WebhookSink
from agent.errors import ConfigError
from tests.support.receiver import Receiver, Reply, make_delivery

TABLE = {
    "hooks.example": ["93.184.216.34"],
    "v6hooks.example": ["2606:4700::6810:85e5"],
    "internal.example": ["10.0.0.5"],
    "mixed.example": ["93.184.216.34", "192.168.1.10"],
    "metadata.example": ["169.254.169.254"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "example.invalid": ["127.0.0.1"],
}


async def table_resolve(host: str, port: int) -> list[str]:
    try:
        return TABLE[host]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "not in the test table") from None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://172.31.255.255/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://255.255.255.255/hook",
        "http://240.0.0.1/hook",
        "http://[::1]/hook",
        "http://[::]/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        "http://[ff02::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://[2002:7f00:1::1]/hook",  # 6to4 wrapping 127.0.0.1
        "https://internal.example/hook",
        "https://mixed.example/hook",
        "https://metadata.example/hook",
        "https://mapped.example/hook",
    ],
)
async def test_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await TargetPolicy(resolve=table_resolve).check(url)


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(TargetRefused, match="loopback"):
        await TargetPolicy().check("http://localhost/hook")


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example/x", "file:///etc/passwd", "gopher://hooks.example/", "hooks.example/x"],
)
async def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused, match="scheme"):
        await TargetPolicy(resolve=table_resolve).check(url)


async def test_public_targets_pass_with_their_addresses() -> None:
    policy = TargetPolicy(resolve=table_resolve)
    target = await policy.check("https://hooks.example/hook?x=1")
    assert (target.host, target.port, target.addresses) == (
        "hooks.example",
        443,
        ("93.184.216.34",),
    )
    v6 = await policy.check("http://v6hooks.example:8443/")
    assert (v6.port, v6.addresses) == (8443, ("2606:4700::6810:85e5",))
    literal = await policy.check("http://93.184.216.34/")
    assert literal.addresses == ("93.184.216.34",)


async def test_allowlist_exempts_listed_networks_and_hosts_only() -> None:
    policy = TargetPolicy(["10.0.0.0/8", "Metadata.Example."], resolve=table_resolve)
    assert (await policy.check("http://10.9.8.7/")).addresses == ("10.9.8.7",)
    assert (await policy.check("http://internal.example/")).addresses == ("10.0.0.5",)
    assert (await policy.check("http://metadata.example/")).addresses == ("169.254.169.254",)
    with pytest.raises(TargetRefused):
        await policy.check("http://192.168.1.1/")
    with pytest.raises(TargetRefused):
        await policy.check("http://mixed.example/")


def test_an_allowlist_entry_that_is_neither_cidr_nor_host_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        TargetPolicy(["10.0.0.0/8", "not a host!"])
    assert caught.value.fields == ["VOICE_AGENT_ALLOWED_TARGETS"]


async def test_refusal_names_the_host_and_never_the_path_or_query() -> None:
    with pytest.raises(TargetRefused) as caught:
        await TargetPolicy().check("http://10.0.0.1/hooks/abc?token=s3cr3t")
    message = str(caught.value)
    assert "10.0.0.1" in message
    assert "s3cr3t" not in message
    assert "/hooks" not in message


async def test_dns_failure_is_an_oserror_so_it_is_retried() -> None:
    with pytest.raises(socket.gaierror):
        await TargetPolicy(resolve=table_resolve).check("http://unknown.example/")


async def test_pinned_resolver_answers_only_checked_hosts() -> None:
    resolver = PinnedResolver()
    policy = TargetPolicy.loopback_allowed(resolve=table_resolve)
    resolver.pin(await policy.check("http://example.invalid:8080/"))
    [result] = await resolver.resolve("example.invalid", 8080, socket.AF_UNSPEC)
    assert (result["hostname"], result["host"], result["port"]) == (
        "example.invalid",
        "127.0.0.1",
        8080,
    )
    with pytest.raises(OSError, match="not checked"):
        await resolver.resolve("other.example", 80)
    with pytest.raises(OSError, match="no checked address"):
        await resolver.resolve("example.invalid", 8080, socket.AF_INET6)


async def test_the_connection_goes_to_the_checked_address(
    receiver: Receiver, tmp_path: Path
) -> None:
    # "example.invalid" never resolves in real DNS; only the checked, pinned answer
    # (127.0.0.1) can bring this delivery to the local receiver. The Host header keeps the
    # name, as TLS SNI would.
    receiver.script("/pinned", Reply(200))
    sink = WebhookSink(
        TargetPolicy.loopback_allowed(resolve=table_resolve), Outbox(tmp_path), max_attempts=1
    )
    delivery = make_delivery(f"http://example.invalid:{receiver.port}/pinned")
    await sink.submit(delivery)
    await sink.aclose()
    [got] = receiver.at("/pinned")
    assert got.headers["Host"] == f"example.invalid:{receiver.port}"
    assert [o.outcome for o in sink.outcomes(delivery.call_id)] == ["delivered"]


async def test_the_sink_refuses_and_parks_without_connecting(
    receiver: Receiver, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path)
    sink = WebhookSink(TargetPolicy(resolve=table_resolve), outbox)  # loopback not allowed
    delivery = make_delivery(receiver.url("/never") + "?token=abc123")
    with capture_logs() as logs:
        await sink.submit(delivery)
        await sink.aclose()
    assert receiver.received == []
    [outcome] = sink.outcomes(delivery.call_id)
    assert (outcome.outcome, outcome.attempts) == ("refused", 1)
    [refused] = [e for e in logs if e["event"] == "webhook_refused"]
    assert refused["host"] == "127.0.0.1"
    assert "abc123" not in repr(logs)
    # kept for replay once the operator allows the target
    [parked] = outbox.pending()
    result = await outbox.replay(TargetPolicy.loopback_allowed())
    assert (result.delivered, result.remaining) == (1, 0)
    assert [r.headers["X-Webhook-Id"] for r in receiver.received] == [parked.entry.delivery_id]


IDNA_INVALID = [
    "http://" + "a" * 64 + ".example/hook",  # an ASCII label over 63 characters
    "http://" + "é" * 70 + ".example/hook",  # punycode of it is over 63 characters
    "http://hooks..example/hook",  # an empty label
    "http://\ufffd.example/hook",  # a code point IDNA forbids
    "http://\u2028.example/hook",
    "http://" + ("a" * 60 + ".") * 5 + "example/hook",  # over 253 characters
    "http://[::1/hook",  # not a URL at all
]


@pytest.mark.parametrize("url", IDNA_INVALID)
async def test_host_names_that_fail_idna_are_refused_cleanly(url: str) -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("an invalid name must be refused before any lookup")

    with pytest.raises(TargetRefused) as caught:
        await TargetPolicy.loopback_allowed(resolve=never).check(url)
    assert len(caught.value.host) <= 80
    # the real resolver, too: refused, never a UnicodeError from the idna codec
    with pytest.raises(TargetRefused):
        await TargetPolicy().check(url)


async def test_the_checked_host_is_the_one_the_client_connects_to(
    receiver: Receiver, tmp_path: Path
) -> None:
    # aiohttp asks the pinned resolver for the IDNA 2008 name (xn--strae-oqa), not the IDNA
    # 2003 one (strasse): the policy must check and pin that same name.
    async def any_to_loopback(host: str, port: int) -> list[str]:
        assert host == "xn--strae-oqa.example"
        return ["127.0.0.1"]

    receiver.script("/idna", Reply(200))
    sink = WebhookSink(
        TargetPolicy.loopback_allowed(resolve=any_to_loopback), Outbox(tmp_path), max_attempts=1
    )
    delivery = make_delivery(f"http://straße.example:{receiver.port}/idna")
    await sink.submit(delivery)
    await sink.aclose()
    assert [o.outcome for o in sink.outcomes(delivery.call_id)] == ["delivered"]


async def test_the_sink_parks_an_idna_invalid_target_as_refused(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    sink = WebhookSink(TargetPolicy(), outbox)
    delivery = make_delivery(IDNA_INVALID[0])
    with capture_logs() as logs:
        await sink.submit(delivery)
        await sink.aclose()
    [outcome] = sink.outcomes(delivery.call_id)
    assert outcome.outcome == "refused"
    assert "IDNA" in (outcome.reason or "") or "63" in (outcome.reason or "")
    assert not [e for e in logs if e["event"] == "webhook_lane_error"]  # no traceback
    assert [p.entry.delivery_id for p in outbox.pending()] == [delivery.delivery_id]

"""The strace reader catches what the no-egress test must catch (tests/integration/test_no_egress.py)."""

from __future__ import annotations

from pathlib import Path

from moderation_lab.egress.trace import Trace, endpoint, stray_files, unexpected_peers

DNS = (
    'connect(9<socket:[1]>, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16) = 0'
)
QUERY = 'sendto(9<socket:[1]>, "\\345O\\6mobile\\6events", 50, MSG_NOSIGNAL, NULL, 0) = 50'
REDIS = (
    "connect(4<socket:[3]>, {sa_family=AF_INET6, sin6_port=htons(6379), sin6_flowinfo=htonl(0), "
    'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 EINPROGRESS (In progress)'
)
NETLINK = "sendto(5<socket:[4]>, {{nlmsg_len=20}}, 20, 0, {sa_family=AF_NETLINK, nl_pid=0}, 12) = 20"
NSCD = 'connect(3<socket:[2]>, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT'
STORE = 'mkdir("/home/u/.cache/Microsoft/DeveloperTools/.onnxruntime", 0700) = 0'
EXPORT = 'openat(AT_FDCWD, "onnx/a.onnx", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 5</srv/onnx/a.onnx>'
READ = 'openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3</etc/passwd>'
FAILED = 'mkdir("/exists", 0700) = -1 EEXIST (File exists)'
IN_DIR = 'openat(5</tmp/d>, "f", O_WRONLY|O_CREAT, 0600) = 6</tmp/d/f>'
RENAMED = 'rename("/srv/onnx/a.tmp", "/var/lib/a.onnx") = 0'


def test_telemetry_look_ups_are_caught_and_configured_peers_pass() -> None:
    trace = Trace((DNS, QUERY, REDIS, NETLINK, NSCD), Path("/srv"))
    allowed = {("127.0.0.1", 9092), ("::1", 6379)}
    assert unexpected_peers(trace.peers(), allowed) == [
        "AF_INET 10.0.0.53:53",
        "AF_UNIX /var/run/nscd/socket",
    ]


def test_a_write_to_the_home_cache_is_caught_and_configured_folders_pass() -> None:
    trace = Trace((STORE, EXPORT, READ, FAILED, IN_DIR, RENAMED), Path("/srv"))
    assert trace.written() == {
        Path("/home/u/.cache/Microsoft/DeveloperTools/.onnxruntime"),
        Path("/srv/onnx/a.onnx"),
        Path("/tmp/d/f"),
        Path("/var/lib/a.onnx"),
    }
    assert stray_files(trace.written(), [Path("/srv/onnx"), Path("/tmp/d")]) == [
        "/home/u/.cache/Microsoft/DeveloperTools/.onnxruntime",
        "/var/lib/a.onnx",
    ]


def test_endpoints_of_service_urls() -> None:
    assert endpoint("kafka://127.0.0.1:9092") == ("127.0.0.1", 9092)
    assert endpoint("redis://127.0.0.1:6380/0") == ("127.0.0.1", 6380)
    assert endpoint("127.0.0.1:8080") == ("127.0.0.1", 8080)

"""The copied real files are byte-for-byte what their MANIFEST lines say, with their licences."""

import gzip
import hashlib

from tests.ingest.real import FIXTURES

SOURCES = (
    "any_agent_otel",
    "inspect_ai",
    "openhands",
    "swe_agent",
    "tau_bench",
    "claude_code",
    "codex_cli",
)


def test_every_fixture_file_matches_its_manifest_line() -> None:
    listed: set[str] = set()
    for source in SOURCES:
        lines = (FIXTURES / source / "MANIFEST.tsv").read_text().splitlines()
        assert lines[0].split("\t")[:6] == [
            "local_path",
            "origin_repo",
            "origin_path",
            "commit",
            "bytes",
            "sha256",
        ]
        for line in lines[1:]:
            local, _repo, _origin, _commit, size, sha = line.split("\t")[:6]
            path = FIXTURES / local
            data = (
                path.read_bytes()
                if path.exists()
                else gzip.decompress((FIXTURES / f"{local}.gz").read_bytes())
            )
            assert len(data) == int(size), local
            assert hashlib.sha256(data).hexdigest() == sha, local
            listed.add(local)
        assert f"{source}/LICENSE" in listed
    on_disk = {
        str(p.relative_to(FIXTURES)).removesuffix(".gz")
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.name not in ("MANIFEST.tsv", "README.md")
    }
    assert on_disk == listed, "every copied file has its MANIFEST line"


def test_the_copied_set_stays_small() -> None:
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert total < 3_000_000

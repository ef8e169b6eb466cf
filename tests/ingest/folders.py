"""A folder as people have them, for the `--format auto` tests of the library and the CLI."""

import json
import shutil
from pathlib import Path

from tests.ingest import real, real_transcripts

LOGS = {
    "inspect": [p for p in real.INSPECT if p.suffix == ".eval"][:2] + real.INSPECT_EDGE[-1:],
    "otel": real.OTEL[:2],
    "claude-code": real_transcripts.CLAUDE_CODE,
    "codex": real_transcripts.CODEX,
}


def mixed_folder(root: Path) -> tuple[Path, list[Path], list[Path], list[Path]]:
    """A folder as people have them: logs of four formats in nested folders, an Inspect
    eval-set's sidecar files, a README, hidden tool folders, and a broken log."""
    logs: list[Path] = []
    for fmt, paths in LOGS.items():
        for path in paths:
            target = root / fmt.replace("-", "_") / "nested" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            logs.append(target)
    eval_set = root / "inspect"
    header, _samples = real.inspect_log(LOGS["inspect"][0])
    sidecars = [eval_set / "logs.json", eval_set / "eval-set.json", eval_set / ".eval-set-id"]
    sidecars[0].write_text(json.dumps({LOGS["inspect"][0].name: header}))
    sidecars[1].write_text(json.dumps({"eval_set_id": "es-1", "tasks": [{"name": "t"}]}))
    sidecars[2].write_text("es-1\n")
    (root / "README.md").write_text("# runs of 2026-02\n")
    sidecars.append(root / "README.md")
    hidden = root / ".git" / "objects"
    hidden.mkdir(parents=True)
    (hidden / "pack.json").write_text("{}")
    broken = root / "otel" / "merge-conflict.json"
    shutil.copy(real.OTEL_BROKEN[0], broken)
    return root, logs, sidecars, [broken]

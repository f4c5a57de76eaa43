#!/usr/bin/env bash
# Rewrites the lessons table of scenarios/README.md (between the lessons:begin and
# lessons:end markers) from the lesson files: `kafkalab lessons --markdown`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${KAFKALAB_BIN:-target/release/kafkalab}"
[[ -x "$BIN" ]] || cargo build --release -p kafkalab
table="$("$BIN" lessons --markdown --dir scenarios)"
TABLE="$table" python3 - <<'PY'
import os, re
path = "scenarios/README.md"
text = open(path, encoding="utf-8").read()
begin = text.index("<!-- lessons:begin")
begin = text.index("\n", begin) + 1
end = text.index("<!-- lessons:end -->")
open(path, "w", encoding="utf-8").write(text[:begin] + os.environ["TABLE"].rstrip("\n") + "\n" + text[end:])
PY
echo "scenarios/README.md: lessons table rewritten"

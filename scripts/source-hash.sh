#!/usr/bin/env bash
# Prints the hash of the library's sources, the value build.rs embeds (procuring_source_hash()):
# the SHA-256 of the `sha256sum` listing of every file under src/ plus Cargo.toml, Cargo.lock,
# build.rs and cbindgen.toml, sorted by path. Independent of the machine, path and compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
{ find src -type f; printf '%s\n' Cargo.toml Cargo.lock build.rs cbindgen.toml; } |
	LC_ALL=C sort | while IFS= read -r f; do sha256sum -- "$f"; done | sha256sum | cut -c1-64

#!/usr/bin/env bash
# Pins each Dockerfile's base image by digest: `FROM name:tag` -> `FROM name:tag@sha256:...`.
#
#   docker/pin-digests.sh [Dockerfile...]     (default: docker/Dockerfile.*)
#
# The digest is resolved where a registry is reachable: `docker buildx imagetools inspect`
# (the multi-arch index digest, no pull), else `docker inspect` of an image already pulled.
# A FROM already pinned is left alone. Where nothing resolves (no Docker, no registry:
# our machines) it says so per FROM and exits 3; `docker/check_from.py` then reports the
# FROM as unpinned. Commit the rewritten Dockerfiles.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- docker/Dockerfile.*

resolve() {
    local image="$1" digest=""
    if command -v docker >/dev/null 2>&1; then
        digest="$(docker buildx imagetools inspect --format '{{json .Manifest}}' "$image" 2>/dev/null \
                  | sed -n 's/.*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n1)"
        if [ -z "$digest" ]; then
            digest="$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image" 2>/dev/null \
                      | sed -n 's/.*@\(sha256:[0-9a-f]\{64\}\)$/\1/p' | head -n1)"
        fi
    fi
    echo "$digest"
}

unresolved=0
for file in "$@"; do
    while read -r image; do
        digest="$(resolve "$image")"
        if [ -z "$digest" ]; then
            why="neither `docker buildx imagetools inspect` nor `docker inspect` answered: no registry or daemon reachable"
            command -v docker >/dev/null 2>&1 || why="no docker command here"
            echo "pin-digests: $file: cannot resolve $image ($why); left unpinned." >&2
            unresolved=1
            continue
        fi
        # Exact match on the whole image reference; the tag stays for readers.
        pattern="$(printf '%s' "$image" | sed 's/[.[\*^$#]/\\&/g')"
        sed -E -i "s#^FROM ${pattern}([[:space:]]|\$)#FROM ${image}@${digest}\1#" "$file"
        echo "pin-digests: $file: $image -> $image@$digest"
    done < <(sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]@]*\)\([[:space:]].*\)\{0,1\}$/\1/p' "$file" \
             | grep -v -e '^--' -e '^scratch$')
done
[ "$unresolved" -eq 0 ] || exit 3

#!/usr/bin/env bash
# scripts/image.sh OUT_DIR: write the aftershock image as an OCI image layout
# (oci-layout, index.json, blobs) with no Docker daemon and no registry: a
# linux/amd64 + linux/arm64 index of a static CLI on a base built from scratch
# (Debian's CA bundle, nonroot 65532:65532). Push it with
#   crane push OUT_DIR registry.example/aftershock:v1
# or skopeo copy --all oci:OUT_DIR:latest docker://registry.example/aftershock:v1
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/image.sh OUT_DIR" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
out=$1
case $out in /*) ;; *) out="$OLDPWD/$out" ;; esac
if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then
  echo "image.sh: /etc/ssl/certs/ca-certificates.crt is missing: apt-get install -y ca-certificates" >&2
  exit 1
fi
go run ./scripts/image "$out"
go run ./scripts/image -verify "$out"

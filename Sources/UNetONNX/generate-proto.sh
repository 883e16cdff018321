#!/usr/bin/env bash
# Regenerates onnx-subset.pb.swift from onnx-subset.proto (both beside this script). The
# generated Swift is committed, so building unet-ckpt never needs protoc or the plugin; run this
# only after changing the .proto. Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift
# of the swift-protobuf version in Package.swift, built once from its source:
#
#   git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   git -C /tmp/swift-protobuf checkout 1.39.0
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift Sources/UNetONNX/generate-proto.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
if [ -z "$plugin" ] || [ ! -x "$plugin" ]; then
  echo "set PROTOC_GEN_SWIFT to a protoc-gen-swift executable (see the comment at the top of $0)" >&2
  exit 1
fi
protoc --plugin="protoc-gen-swift=$plugin" --proto_path="$here" \
  --swift_opt=Visibility=Internal --swift_out="$here" "$here/onnx-subset.proto"
echo "wrote $here/onnx-subset.pb.swift"

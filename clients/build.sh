#!/bin/sh
# Build the agent's Go and C++ clients from agent/agent.proto with Debian/Ubuntu's packaged gRPC:
#   apt-get install golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev \
#                   golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev protobuf-compiler-grpc libgrpc++-dev
# (golang-github-golang-protobuf-1-5-dev, not the 1-3 that golang-google-grpc-dev pulls in: grpc-go 1.33 marshals
# through github.com/golang/protobuf, which reads protoc-gen-go's APIv2 messages only from 1.4 on)
#   clients/build.sh OUTDIR [go|cpp]...      (default: both) -> OUTDIR/edgec-agent-go, OUTDIR/edgec-agent-cpp
# Go builds in GOPATH mode against /usr/share/gocode (the packaged modules), so nothing is downloaded.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto="$here/../agent"
out=$(mkdir -p "$1" && cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- go cpp
for what in "$@"; do
  case "$what" in
  go)
    w="$out/go-work"
    rm -rf "$w" && mkdir -p "$w/src/edgecagent/agentpb" "$w/src/edgecagentclient"
    protoc -I "$proto" --go_out="$w/src/edgecagent/agentpb" --go-grpc_out="$w/src/edgecagent/agentpb" \
      --go_opt=paths=source_relative,Magent.proto=edgecagent/agentpb \
      --go-grpc_opt=paths=source_relative,Magent.proto=edgecagent/agentpb "$proto/agent.proto"
    cp "$here/go/main.go" "$w/src/edgecagentclient/"
    (cd "$w" && GO111MODULE=off GOPATH="$w:/usr/share/gocode" GOCACHE="$w/cache" GOFLAGS= \
      go build -o "$out/edgec-agent-go" edgecagentclient)
    ;;
  cpp)
    w="$out/cpp-work"
    rm -rf "$w" && mkdir -p "$w"
    protoc -I "$proto" --cpp_out="$w" --grpc_out="$w" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" "$proto/agent.proto"
    # shellcheck disable=SC2046
    ${CXX:-g++} -std=c++17 -O1 -I"$w" "$here/cpp/client.cc" "$w/agent.pb.cc" "$w/agent.grpc.pb.cc" \
      $(pkg-config --cflags --libs grpc++ protobuf) -o "$out/edgec-agent-cpp"
    ;;
  *) echo "clients/build.sh: unknown client '$what' (go or cpp)" >&2; exit 2 ;;
  esac
done

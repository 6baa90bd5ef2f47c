"""Regenerate agent_pb2.py and agent_pb2_grpc.py from agent.proto (needs grpcio-tools):

    python -m edgec.agent.protogen            # rewrites the two files beside agent.proto
    python -m edgec.agent.protogen --check    # exit 1 if the checked-in files are not what it makes

The .proto is compiled as `edgec/agent/agent.proto`, so the generated stub imports its messages as
`edgec.agent.agent_pb2` (a plain `protoc -I agent` would write `import agent_pb2`, which only works
from inside the directory)."""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ("agent_pb2.py", "agent_pb2_grpc.py")


def generate() -> dict:
    """{file name: generated text}."""
    from grpc_tools import protoc
    import grpc_tools
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    with tempfile.TemporaryDirectory(prefix="edgec-protogen-") as out:
        rc = protoc.main(["protoc", f"-I{include}", f"-Iedgec/agent={HERE}", f"--python_out={out}",
                          f"--grpc_python_out={out}", "edgec/agent/agent.proto"])
        if rc != 0:
            raise SystemExit(f"protoc failed ({rc})")
        return {f: (Path(out) / "edgec" / "agent" / f).read_text() for f in FILES}


# What the generator stamps with its own version: grpcio-tools' GRPC_GENERATED_VERSION and the protobuf
# runtime version the message module asks for. A newer grpcio-tools (1.85.1 -> 1.85.4) changes only these,
# so --check compares the code with them blanked: a patch release of the tools is not a stale file.
_STAMPS = (re.compile(r"^(GRPC_GENERATED_VERSION = )'[^']*'", re.M),
           re.compile(r"^(# Protobuf Python Version: ).*$", re.M),
           re.compile(r"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)\s*\d+,\s*\d+,\s*\d+,", re.M))


def unstamped(text: str) -> str:
    """The generated code without the generator's version stamps."""
    for pattern in _STAMPS:
        text = pattern.sub(r"\1<version>", text)
    return text


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    made = generate()
    if "--check" in argv:
        stale = [f for f, text in made.items() if unstamped((HERE / f).read_text()) != unstamped(text)]
        for f in stale:
            print(f"edgec: error: {HERE / f} is not what agent.proto generates; run python -m edgec.agent.protogen", file=sys.stderr)
        return 1 if stale else 0
    for f, text in made.items():
        (HERE / f).write_text(text)
    print(f"wrote {', '.join(str(HERE / f) for f in FILES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

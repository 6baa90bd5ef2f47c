"""Regenerate agent_pb2.py and agent_pb2_grpc.py from agent.proto (needs grpcio-tools):

    python -m edgec.agent.protogen            # rewrites the two files beside agent.proto
    python -m edgec.agent.protogen --check    # exit 1 if the checked-in files are not what it makes

The .proto is compiled as `edgec/agent/agent.proto`, so the generated stub imports its messages as
`edgec.agent.agent_pb2` (a plain `protoc -I agent` would write `import agent_pb2`, which only works
from inside the directory)."""
from __future__ import annotations

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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    made = generate()
    if "--check" in argv:
        stale = [f for f, text in made.items() if (HERE / f).read_text() != text]
        for f in stale:
            print(f"edgec: error: {HERE / f} is not what agent.proto generates; run python -m edgec.agent.protogen", file=sys.stderr)
        return 1 if stale else 0
    for f, text in made.items():
        (HERE / f).write_text(text)
    print(f"wrote {', '.join(str(HERE / f) for f in FILES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

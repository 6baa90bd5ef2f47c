"""edgec.agent: the device agent, a drop-in for the retired SageMaker Edge Agent.

- `agent.proto` (+ the generated `agent_pb2*.py`, `protogen` to regenerate): the gRPC interface.
- `models`: signed packages verified and their libraries loaded with ctypes, within a RAM budget.
- `capture`: CaptureData spooled to disk before acknowledgement, uploaded in batches.
- `shm`: System V shared-memory tensors, as the retired clients sent big inputs.
- `rollout`: IoT Jobs polled with the device certificate's credentials; the heartbeat shadow.
- `server`: `edgec agent run`; `client`: what `edgec agent load|...|predict` and applications use.
"""

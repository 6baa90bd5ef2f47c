"""A client of the agent's gRPC interface (what `edgec agent load|unload|list|describe|predict|
capture-status` use, and an example for applications): numpy in, numpy out, gRPC errors turned into
EdgecErrors that name the status code (`NOT_FOUND: no model named 'x' is loaded`)."""
from __future__ import annotations

import json
import time
import uuid

import grpc
import numpy as np

from ..compiler.errors import EdgecError

from . import agent_pb2 as pb
from . import agent_pb2_grpc as pb_grpc
from .models import DTYPE_NAMES, FLOAT32, INT8


class AgentCallError(EdgecError):
    """The agent answered with a gRPC error; `code` is its status code's name."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.facts = {"code": code}


def model_dict(m: pb.Model) -> dict:
    def meta(t):
        return {"name": t.name, "data_type": DTYPE_NAMES.get(t.data_type, t.data_type), "shape": list(t.shape),
                "scale": t.quantization.scale, "zero_point": t.quantization.zero_point,
                "division": t.quantization.division or "float64"}
    def parsed(text):
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise EdgecError(f"the agent describes '{m.name}' with a malformed spec: {text[:60]!r}") from None
    return {"name": m.name, "url": m.url, "version": m.version, "ram_bytes": m.ram_bytes, "package_sha256": m.package_sha256,
            "key_id": m.key_id, "inference_count": m.inference_count, "target": m.target, "device_target": m.device_target,
            "inputs": [meta(t) for t in m.input_tensor_metadatas], "outputs": [meta(t) for t in m.output_tensor_metadatas],
            "preprocess": parsed(m.preprocess_json), "decode": parsed(m.decode_json), "labels": list(m.labels) or None}


class AgentClient:
    def __init__(self, address: str, timeout: float = 30.0):
        self.address, self.timeout = address, timeout
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.AgentStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method: str, request):
        try:
            return getattr(self.stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.UNAVAILABLE and "connect" in (e.details() or "").lower():
                raise EdgecError(f"no agent answers at {self.address}", hint="start one with `edgec agent run -c agent.json -a ADDRESS`") from None
            raise AgentCallError(code.name, e.details() or "") from None

    def wait_ready(self, timeout: float = 30.0) -> None:
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise EdgecError(f"no agent answers at {self.address} after {timeout:g} s",
                             hint="start one with `edgec agent run -c agent.json -a ADDRESS`") from None

    def load(self, url: str, name: str) -> dict:
        return model_dict(self._call("LoadModel", pb.LoadModelRequest(url=url, name=name)).model)

    def unload(self, name: str) -> None:
        self._call("UnLoadModel", pb.UnLoadModelRequest(name=name))

    def list(self) -> list:
        return [model_dict(m) for m in self._call("ListModels", pb.ListModelsRequest()).models]

    def describe(self, name: str) -> dict:
        return model_dict(self._call("DescribeModel", pb.DescribeModelRequest(name=name)).model)

    @staticmethod
    def tensor(x: np.ndarray, name: str = "") -> pb.Tensor:
        x = np.asarray(x)
        if x.dtype == np.int8:
            dtype = INT8
        else:
            x, dtype = x.astype("<f4"), FLOAT32
        return pb.Tensor(tensor_metadata=pb.TensorMetadata(name=name, data_type=dtype, shape=list(x.shape)),
                         byte_data=np.ascontiguousarray(x).tobytes())

    @staticmethod
    def array(t: pb.Tensor) -> np.ndarray:
        dtype = np.int8 if t.tensor_metadata.data_type == INT8 else np.dtype("<f4")
        return np.frombuffer(t.byte_data, dtype=dtype).reshape(list(t.tensor_metadata.shape))

    def predict_tensors(self, name: str, tensor: pb.Tensor) -> pb.Tensor:
        return self._call("Predict", pb.PredictRequest(name=name, tensors=[tensor])).tensors[0]

    def predict(self, name: str, x: np.ndarray) -> np.ndarray:
        """x float32 (quantized by the agent) -> float32 outputs; x int8 -> the raw int8 outputs."""
        return self.array(self.predict_tensors(name, self.tensor(x)))

    def capture(self, name: str, inputs: list, outputs: list, capture_id: str | None = None,
                when: float | None = None, aux_inputs=(), aux_outputs=(), buffer_wait_s: float = 0.0) -> str:
        cid = capture_id or str(uuid.uuid4())
        when = time.time() if when is None else when
        req = pb.CaptureDataRequest(model_name=name, capture_id=cid,
                                    inference_timestamp=pb.Timestamp(seconds=int(when), nanos=int((when % 1) * 1e9)),
                                    input_tensors=inputs, output_tensors=outputs, inputs=list(aux_inputs), outputs=list(aux_outputs))
        deadline, pause = time.monotonic() + buffer_wait_s, 0.05
        while True:
            try:
                self._call("CaptureData", req)
                return cid
            except AgentCallError as e:
                # a full spool (RESOURCE_EXHAUSTED) drains as batches upload: a caller that may wait, waits
                if e.code != "RESOURCE_EXHAUSTED" or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def predict_and_capture(self, name: str, x: np.ndarray, buffer_wait_s: float = 0.0) -> tuple[np.ndarray, str]:
        """The retired client's PredictAndCapture: Predict, then CaptureData of its input and output
        (waiting up to `buffer_wait_s` while the agent's capture buffer is full)."""
        t_in = self.tensor(x)
        when = time.time()
        t_out = self.predict_tensors(name, t_in)
        return self.array(t_out), self.capture(name, [t_in], [t_out], when=when, buffer_wait_s=buffer_wait_s)

    def capture_status(self, capture_id: str) -> str:
        r = self._call("GetCaptureDataStatus", pb.GetCaptureDataStatusRequest(capture_id=capture_id))
        return pb.CaptureDataStatus.Name(r.status)

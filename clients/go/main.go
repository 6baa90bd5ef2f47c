// edgec-agent-go: a Go client of the edgec agent (the SageMaker Edge Agent interface, agent/agent.proto).
//
//	edgec-agent-go ADDRESS MODEL INPUT.f32 OUTPUT.f32
//
// ADDRESS is unix:///PATH/agent.sock.  It lists the models, describes MODEL, sends INPUT.f32 (raw
// little-endian float32, one sample in the model's input shape) to Predict, writes the output
// tensor's bytes to OUTPUT.f32, captures the pair with CaptureData (a new uuid) and asks
// GetCaptureDataStatus; it prints what it did as one JSON object.  A failed call prints
// {"error": CODE, "message": ...} and exits 3.
//
// Build (GOPATH mode on Debian's packaged gRPC; see clients/README.md):
//
//	protoc -I agent --go_out=DIR --go-grpc_out=DIR --go_opt=Magent.proto=edgecagent/agentpb \
//	       --go-grpc_opt=Magent.proto=edgecagent/agentpb agent/agent.proto
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"time"

	pb "edgecagent/agentpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// The canonical status code names (grpc-go's Code.String() says "NotFound"; the agent's docs and the
// other clients say NOT_FOUND).
var codeNames = []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
	"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
	"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func fail(err error) {
	st, _ := status.FromError(err)
	name := "UNKNOWN"
	if int(st.Code()) < len(codeNames) {
		name = codeNames[st.Code()]
	}
	out, _ := json.Marshal(map[string]string{"error": name, "message": st.Message()})
	fmt.Println(string(out))
	os.Exit(3)
}

func uuid4() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: edgec-agent-go unix:///PATH/agent.sock MODEL INPUT.f32 OUTPUT.f32")
		os.Exit(2)
	}
	address, model, inPath, outPath := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	input, err := os.ReadFile(inPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgec-agent-go:", err)
		os.Exit(2)
	}
	conn, err := grpc.Dial(address, grpc.WithInsecure())     // a unix socket: no TLS (grpc-go 1.33, Debian 12)
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	c := pb.NewAgentClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	listed, err := c.ListModels(ctx, &pb.ListModelsRequest{})
	if err != nil {
		fail(err)
	}
	names := []string{}
	for _, m := range listed.Models {
		names = append(names, m.Name)
	}
	described, err := c.DescribeModel(ctx, &pb.DescribeModelRequest{Name: model})
	if err != nil {
		fail(err)
	}
	in := described.Model.InputTensorMetadatas[0]
	tensor := &pb.Tensor{TensorMetadata: &pb.TensorMetadata{Name: in.Name, DataType: pb.DataType_FLOAT32, Shape: in.Shape},
		Data: &pb.Tensor_ByteData{ByteData: input}}
	predicted, err := c.Predict(ctx, &pb.PredictRequest{Name: model, Tensors: []*pb.Tensor{tensor}})
	if err != nil {
		fail(err)
	}
	out := predicted.Tensors[0]
	if err := os.WriteFile(outPath, out.GetByteData(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "edgec-agent-go:", err)
		os.Exit(2)
	}
	id, now := uuid4(), time.Now()
	_, err = c.CaptureData(ctx, &pb.CaptureDataRequest{ModelName: model, CaptureId: id,
		InferenceTimestamp: &pb.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())},
		InputTensors: []*pb.Tensor{tensor}, OutputTensors: []*pb.Tensor{out}})
	if err != nil {
		fail(err)
	}
	captured, err := c.GetCaptureDataStatus(ctx, &pb.GetCaptureDataStatusRequest{CaptureId: id})
	if err != nil {
		fail(err)
	}
	report, _ := json.Marshal(map[string]interface{}{"client": "go", "models": names, "version": described.Model.Version,
		"input_shape": in.Shape, "output_shape": out.TensorMetadata.Shape, "output_type": out.TensorMetadata.DataType.String(),
		"capture_id": id, "capture_status": captured.Status.String()})
	fmt.Println(string(report))
}

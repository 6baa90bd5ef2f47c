// edgec-agent-cpp: a C++ client of the edgec agent (the SageMaker Edge Agent interface, agent/agent.proto).
//
//   edgec-agent-cpp ADDRESS MODEL INPUT.f32 OUTPUT.f32
//
// The same calls as the Go client (clients/go/main.go): ListModels, DescribeModel, Predict (raw
// little-endian float32 in, the output tensor's bytes to OUTPUT.f32), CaptureData with a new uuid,
// GetCaptureDataStatus; one JSON object on stdout.  A failed call prints {"error": CODE, "message"}
// and exits 3.  Built against Debian's libgrpc++ and protobuf (clients/README.md).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <chrono>

#include <grpcpp/grpcpp.h>

#include "agent.grpc.pb.h"

namespace edge = AWS::SageMaker::Edge;

static const char *kCodes[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                               "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                               "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                               "UNAUTHENTICATED"};

static std::string quoted(const std::string &s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') { out += '\\'; out += ch; }
    else if (static_cast<unsigned char>(ch) < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\u%04x", ch); out += buf; }
    else out += ch;
  }
  return out + "\"";
}

static int fail(const grpc::Status &st) {
  int code = st.error_code();
  std::cout << "{\"error\": " << quoted(code >= 0 && code <= 16 ? kCodes[code] : "UNKNOWN")
            << ", \"message\": " << quoted(st.error_message()) << "}" << std::endl;
  return 3;
}

static std::string uuid4() {
  std::random_device rd;
  unsigned char b[16];
  for (auto &x : b) x = static_cast<unsigned char>(rd());
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return buf;
}

static std::string shape(const google::protobuf::RepeatedField<int32_t> &dims) {
  std::string s = "[";
  for (int i = 0; i < dims.size(); i++) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

int main(int argc, char **argv) {
  if (argc != 5) {
    std::cerr << "usage: edgec-agent-cpp unix:///PATH/agent.sock MODEL INPUT.f32 OUTPUT.f32" << std::endl;
    return 2;
  }
  const std::string address = argv[1], model = argv[2];
  std::ifstream in(argv[3], std::ios::binary);
  if (!in) { std::cerr << "edgec-agent-cpp: cannot read " << argv[3] << std::endl; return 2; }
  const std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto stub = edge::Agent::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(30); };

  grpc::ClientContext c1;
  c1.set_deadline(deadline());
  edge::ListModelsResponse listed;
  grpc::Status st = stub->ListModels(&c1, edge::ListModelsRequest(), &listed);
  if (!st.ok()) return fail(st);
  std::string names = "[";
  for (int i = 0; i < listed.models_size(); i++) names += (i ? ", " : "") + quoted(listed.models(i).name());
  names += "]";

  grpc::ClientContext c2;
  c2.set_deadline(deadline());
  edge::DescribeModelRequest dreq;
  dreq.set_name(model);
  edge::DescribeModelResponse described;
  st = stub->DescribeModel(&c2, dreq, &described);
  if (!st.ok()) return fail(st);
  const edge::TensorMetadata &meta = described.model().input_tensor_metadatas(0);

  edge::PredictRequest preq;
  preq.set_name(model);
  edge::Tensor *t = preq.add_tensors();
  t->mutable_tensor_metadata()->set_name(meta.name());
  t->mutable_tensor_metadata()->set_data_type(edge::FLOAT32);
  *t->mutable_tensor_metadata()->mutable_shape() = meta.shape();
  t->set_byte_data(input);
  grpc::ClientContext c3;
  c3.set_deadline(deadline());
  edge::PredictResponse predicted;
  st = stub->Predict(&c3, preq, &predicted);
  if (!st.ok()) return fail(st);
  const edge::Tensor &out = predicted.tensors(0);
  std::ofstream(argv[4], std::ios::binary) << out.byte_data();

  edge::CaptureDataRequest creq;
  const std::string id = uuid4();
  auto now = std::chrono::system_clock::now().time_since_epoch();
  creq.set_model_name(model);
  creq.set_capture_id(id);
  creq.mutable_inference_timestamp()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  *creq.add_input_tensors() = *t;
  *creq.add_output_tensors() = out;
  grpc::ClientContext c4;
  c4.set_deadline(deadline());
  edge::CaptureDataResponse cresp;
  st = stub->CaptureData(&c4, creq, &cresp);
  if (!st.ok()) return fail(st);

  grpc::ClientContext c5;
  c5.set_deadline(deadline());
  edge::GetCaptureDataStatusRequest sreq;
  sreq.set_capture_id(id);
  edge::GetCaptureDataStatusResponse sresp;
  st = stub->GetCaptureDataStatus(&c5, sreq, &sresp);
  if (!st.ok()) return fail(st);

  std::cout << "{\"client\": \"cpp\", \"models\": " << names << ", \"version\": " << quoted(described.model().version())
            << ", \"input_shape\": " << shape(meta.shape()) << ", \"output_shape\": " << shape(out.tensor_metadata().shape())
            << ", \"output_type\": " << quoted(edge::DataType_Name(out.tensor_metadata().data_type()))
            << ", \"capture_id\": " << quoted(id)
            << ", \"capture_status\": " << quoted(edge::CaptureDataStatus_Name(sresp.status())) << "}" << std::endl;
  return 0;
}

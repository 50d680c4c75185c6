#include "tests/integration/onnx_fixtures.h"

#include "onnx/onnx_pb.h"

namespace q8::testing {
namespace {

void SetTensorType(onnx::ValueInfoProto* v, const std::string& name) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  t->mutable_shape()->add_dim()->set_dim_value(4);
}

}  // namespace

std::string MakeUnsupportedOpModel() {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("q8serve-integration-test");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* graph = model.mutable_graph();
  graph->set_name("nms_graph");
  SetTensorType(graph->add_input(), "x");
  SetTensorType(graph->add_output(), "y");
  auto* node = graph->add_node();
  node->set_name("nms0");
  node->set_op_type("NonMaxSuppression");
  node->add_input("x");
  node->add_output("y");
  return model.SerializeAsString();
}

}  // namespace q8::testing

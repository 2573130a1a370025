// Importer tests: models built with ONNX's generated protobuf classes, then
// every kind of bad input the importer must reject with one clear message.
#include "onnx/import.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "onnx/onnx_pb.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

onnx::ModelProto quant_relu_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* qd = m.add_opset_import();
  qd->set_domain("qonnx.custom_op.general");
  qd->set_version(2);
  auto* g = m.mutable_graph();
  g->set_name("t");
  auto* in = g->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("N");
  tt->mutable_shape()->add_dim()->set_dim_value(4);
  auto scalar = [&](const char* name, float v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(v);
  };
  scalar("s", 0.5f);
  scalar("z", 0.0f);
  scalar("b", 4.0f);
  auto* q = g->add_node();
  q->set_op_type("Quant");
  q->set_domain("qonnx.custom_op.general");
  q->set_name("q0");
  for (const char* i : {"x", "s", "z", "b"}) q->add_input(i);
  q->add_output("xq");
  auto attr = [&](onnx::NodeProto* n, const char* name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  };
  attr(q, "signed", 1);
  attr(q, "narrow", 0);
  auto* r = g->add_node();
  r->set_op_type("Identity");
  r->set_name("id0");
  r->add_input("xq");
  r->add_output("y");
  g->add_output()->set_name("y");
  return m;
}

std::string bytes_of(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

std::string error_of(const std::string& bytes) {
  try {
    load_model_bytes(bytes, "m.onnx");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Import, LoadsAndRunsWithFreeBatch) {
  auto g = load_model_bytes(bytes_of(quant_relu_model()), "m.onnx");
  ASSERT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->inputs[0].shape, (Shape{-1, 4}));
  TensorMap feeds;
  feeds["x"] = Tensor::from_f32({2, 4}, {0.2f, 0.25f, -0.75f, 100.f, -100.f, 0.74f, 0.76f, -0.25f});
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    auto out = execute(*g, feeds, {mode, false, false});
    EXPECT_EQ(out.at("y").f32(),
              (std::vector<float>{0.0f, 0.0f, -1.0f, 3.5f, -4.0f, 0.5f, 1.0f, -0.0f}));
  }
}

TEST(Import, RejectsTruncatedAndRandomBytes) {
  std::string good = bytes_of(quant_relu_model());
  EXPECT_NE(error_of(good.substr(0, good.size() / 2)).find("m.onnx"), std::string::npos);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::string junk(static_cast<size_t>(1 + rng() % 300), '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    std::string msg = error_of(junk);
    EXPECT_NE(msg.find("m.onnx"), std::string::npos) << msg;
  }
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
}

TEST(Import, ListsEveryUnsupportedOpAtOnce) {
  auto m = quant_relu_model();
  m.mutable_graph()->mutable_node(1)->set_op_type("FancyOp");
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type("OtherOp");
  n->set_name("o1");
  n->add_input("y");
  n->add_output("w");
  std::string msg = error_of(bytes_of(m));
  EXPECT_NE(msg.find("FancyOp (node 'id0')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("OtherOp (node 'o1')"), std::string::npos) << msg;
}

TEST(Import, MissingInitializerNamesNode) {
  auto m = quant_relu_model();
  m.mutable_graph()->mutable_initializer()->DeleteSubrange(0, 1);  // drop "s"
  std::string msg = error_of(bytes_of(m));
  EXPECT_NE(msg.find("node 'q0' (Quant)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'s'"), std::string::npos) << msg;
}

TEST(Import, AbsurdShapeIsRefusedWithoutAllocating) {
  auto m = quant_relu_model();
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("huge");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(1000000);
  t->add_dims(1000000);
  std::string msg = error_of(bytes_of(m));
  EXPECT_NE(msg.find("initializer 'huge'"), std::string::npos) << msg;

  auto m2 = quant_relu_model();
  auto* shp =
      m2.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shp->mutable_dim(1)->set_dim_value(1000000000000);
  msg = error_of(bytes_of(m2));
  EXPECT_NE(msg.find("elements"), std::string::npos) << msg;
}

TEST(Import, ExternalDataMustStayInsideTheModelFolder) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "bitsmith_import_test";
  fs::create_directories(dir / "model");
  auto m = quant_relu_model();
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_float_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = t->add_external_data();
  loc->set_key("location");
  loc->set_value("../secret.bin");
  {
    std::ofstream(dir / "secret.bin", std::ios::binary).write("\0\0\0\x3f", 4);
    std::ofstream(dir / "model" / "m.onnx", std::ios::binary) << bytes_of(m);
  }
  try {
    load_model_file((dir / "model" / "m.onnx").string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the model's folder"), std::string::npos)
        << e.what();
  }
  loc->set_value("w.bin");
  {
    std::ofstream(dir / "model" / "w.bin", std::ios::binary).write("\0\0\0\x3f", 4);
    std::ofstream(dir / "model" / "m.onnx", std::ios::binary) << bytes_of(m);
  }
  auto g = load_model_file((dir / "model" / "m.onnx").string());
  EXPECT_EQ(g->initializer("s")->f32()[0], 0.5f);
  fs::remove_all(dir);
}

TEST(Import, WrongInputsGiveInputErrors) {
  auto g = load_model_bytes(bytes_of(quant_relu_model()), "m.onnx");
  auto expect_input_error = [&](TensorMap feeds, const std::string& part) {
    try {
      execute(*g, feeds, {Mode::kExact, false, false});
      FAIL() << "expected an error about " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInput);
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_input_error({{"nope", Tensor::from_f32({1, 4}, {0, 0, 0, 0})}}, "unknown input 'nope'");
  expect_input_error({{"x", Tensor::from_f32({1, 3}, {0, 0, 0})}}, "shape (1, 3)");
  expect_input_error({{"x", Tensor::from_i64({1, 4}, {0, 0, 0, 0})}}, "must be float32");
  expect_input_error({{"x", Tensor::from_f32({1, 4}, {0, NAN, 0, 0})}}, "NaN");
  expect_input_error({}, "missing");
}

}  // namespace
}  // namespace bitsmith

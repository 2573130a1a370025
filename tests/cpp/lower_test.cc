// The lowering pass: helpers checked on their own, and whole lowered models against
// the reference executor (ASSERT_EQ on every output bit) for 1 and 2 threads.
#include <gtest/gtest.h>

#include <cfloat>
#include <filesystem>
#include <random>

#include "core/float_order.h"
#include "onnx/import.h"
#include "passes/int_weights.h"
#include "runtime/engine.h"

namespace bitsmith {
namespace {

Exact frac_of(int64_t num, int64_t den) {
  return Exact::from_int(num) / Exact::from_int(den);
}

TEST(IntWeights, RationalGcd) {
  EXPECT_EQ(rational_gcd(frac_of(3, 4), frac_of(9, 8)), frac_of(3, 8));
  EXPECT_EQ(rational_gcd(Exact::from_int(0), frac_of(5, 7)), frac_of(5, 7));
  EXPECT_EQ(rational_gcd(frac_of(1, 3), frac_of(1, 5)), frac_of(1, 15));
}

TEST(IntWeights, RowsAreSmallestIntegers) {
  // Row 0: 0.75, -1.5, 0 -> scale 0.75, integers 1, -2, 0. Row 1: all zero -> scale 1.
  std::vector<Exact> w = {frac_of(3, 4),      frac_of(-3, 2),     Exact::from_int(0),
                          Exact::from_int(0), Exact::from_int(0), Exact::from_int(0)};
  std::string why;
  auto r = integer_rows(w, 2, 3, 8, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->values, (std::vector<int64_t>{1, -2, 0, 0, 0, 0}));
  EXPECT_EQ(r->scale[0], frac_of(3, 4));
  EXPECT_EQ(r->max_abs, 2);
  // 1 and 1/1000 need 1000 as an integer: more than 8 bits.
  EXPECT_FALSE(integer_rows({Exact::from_int(1), frac_of(1, 1000)}, 1, 2, 8, &why));
  EXPECT_NE(why.find("8 bits"), std::string::npos);
  EXPECT_FALSE(integer_rows({Exact::nan(), Exact::from_int(1)}, 1, 2, 8, &why));
}

TEST(FloatOrder, KeysFollowTheFloatOrder) {
  const float v[] = {-FLT_MAX, -1.5f,  -FLT_MIN, -1e-45f, -0.0f,
                     0.0f,     1e-45f, FLT_MIN,  1.0f,    FLT_MAX};
  for (size_t i = 0; i + 1 < std::size(v); ++i) {
    EXPECT_LT(float_key(v[i]), float_key(v[i + 1])) << v[i];
    EXPECT_EQ(float_of_key(float_key(v[i])), v[i]);
  }
}

std::vector<std::filesystem::path> shared_models() {
  std::vector<std::filesystem::path> out;
  std::filesystem::path dir(BITSMITH_SHARED_MODELS);
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".onnx") out.push_back(e.path());
  }
  return out;
}

TensorMap random_feeds(const Graph& g, int64_t batch, uint32_t seed, bool tiny) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  TensorMap feeds;
  for (const auto& in : g.inputs) {
    Shape s = in.shape;
    s[0] = batch;
    for (auto& d : s) d = d < 0 ? 1 : d;
    Tensor t(ElemType::kFloat32, s);
    for (auto& x : t.f32()) x = normal(rng);
    if (tiny) t.f32()[0] = 1e-30f;  // off any fixed-point grid: the fast engine must fall back
    feeds[in.name] = std::move(t);
  }
  return feeds;
}

TEST(Lowering, SharedModelsEqualTheReference) {
  auto models = shared_models();
  if (models.empty()) GTEST_SKIP() << "../shared/models is absent";
  for (const auto& path : models) {
    CompiledModel m(load_model_file(path.string()));
    EXPECT_FALSE(m.report().lowered.empty()) << path;
    for (int64_t batch : {1, 3, 257}) {
      for (bool tiny : {false, true}) {
        TensorMap feeds = random_feeds(m.reference(), batch, static_cast<uint32_t>(batch), tiny);
        RunOptions opt;
        TensorMap ref = m.run(feeds, opt, Engine::kReference);
        for (int threads : {1, 2}) {
          opt.threads = threads;
          TensorMap fast = m.run(feeds, opt, Engine::kFast);
          for (const auto& [name, t] : ref) {
            ASSERT_EQ(fast.at(name).f32(), t.f32())
                << path << " " << name << " batch " << batch << " threads " << threads;
          }
        }
      }
    }
  }
}

TEST(Lowering, EngineNamesAndThreadsAreChecked) {
  EXPECT_THROW(parse_engine("gpu"), Error);
  EXPECT_EQ(parse_engine("fast"), Engine::kFast);
  RunOptions opt;
  opt.threads = -1;
  auto models = shared_models();
  if (models.empty()) GTEST_SKIP() << "../shared/models is absent";
  CompiledModel m(load_model_file(models[0].string()));
  EXPECT_THROW(m.run(random_feeds(m.reference(), 1, 1, false), opt, Engine::kFast), Error);
}

}  // namespace
}  // namespace bitsmith

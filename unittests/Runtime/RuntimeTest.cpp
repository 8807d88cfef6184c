//===- RuntimeTest.cpp - the lean runtime's model ABI, kernels, threads ---===//
//
// Exercises the runtime without the compiler: a hand-written entry point
// stands in for compiled code (same packed ABI), and the kernels are
// compared with naive loops.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

#include "ConvReference.h"
#include "RuntimeInternal.h"
#include "Threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <random>
#include <string>
#include <thread>
#include <vector>

extern "C" {
void qopt_kernel_matmul_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t);
void qopt_kernel_conv2d_nchw_f32(int64_t, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, int64_t, int64_t);
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};
void memrefCopy(int64_t, UnrankedMemRef *, UnrankedMemRef *);
void *mlirAsyncRuntimeCreateToken();
void *mlirAsyncRuntimeCreateGroup(int64_t);
int64_t mlirAsyncRuntimeAddTokenToGroup(void *, void *);
void mlirAsyncRuntimeEmplaceToken(void *);
void mlirAsyncRuntimeSetTokenError(void *);
void mlirAsyncRuntimeAwaitAllInGroup(void *);
bool mlirAsyncRuntimeIsGroupError(void *);
void mlirAsyncRuntimeDropRef(void *, int64_t);
void mlirAsyncRuntimeExecute(void *, void (*)(void *));
}

namespace {

const char *kSig = "qopt-artifact 1\n"
                   "target cpu\n"
                   "entry main\n"
                   "threads 0\n"
                   "input x%20in float32 2 ?batch 3\n"
                   "input y int64 1 ?batch\n"
                   "output out float32 2 ? 3\n";

// Stand-in for compiled code: out = x + 1 (fresh buffer), rank 2.
void addOneEntry(void **args) {
  auto *result = static_cast<int64_t *>(args[0]);
  auto *x = static_cast<int64_t *>(args[1]);
  float *xData;
  std::memcpy(&xData, &x[1], 8);
  int64_t n = x[3] * x[4];
  auto *out = static_cast<float *>(std::malloc(sizeof(float) * n));
  for (int64_t i = 0; i < n; ++i)
    out[i] = xData[x[2] + i] + 1.0f;
  std::memcpy(&result[0], &out, 8);
  std::memcpy(&result[1], &out, 8);
  result[2] = 0;
  result[3] = x[3];
  result[4] = x[4];
  result[5] = x[4];
  result[6] = 1;
}

// Returns its input's buffer: the runtime must copy, not adopt it.
void aliasEntry(void **args) { std::memcpy(args[0], args[1], 7 * 8); }

struct ModelFixture : ::testing::Test {
  qopt_model *model = nullptr;
  void TearDown() override { qopt_model_free(model); }
};

TEST_F(ModelFixture, ParsesSignature) {
  ASSERT_EQ(qopt_model_create(kSig, addOneEntry, &model), QOPT_OK)
      << qopt_last_error();
  EXPECT_STREQ(qopt_model_target(model), "cpu");
  ASSERT_EQ(qopt_model_num_inputs(model), 2);
  ASSERT_EQ(qopt_model_num_outputs(model), 1);
  const qopt_tensor_info *x = qopt_model_input(model, 0);
  EXPECT_STREQ(x->name, "x in");
  EXPECT_EQ(x->dtype, QOPT_DTYPE_F32);
  ASSERT_EQ(x->rank, 2);
  EXPECT_EQ(x->dims[0], -1);
  EXPECT_STREQ(x->dim_names[0], "batch");
  EXPECT_EQ(x->dims[1], 3);
  EXPECT_EQ(qopt_model_input(model, 2), nullptr);
  EXPECT_EQ(qopt_model_find_input(model, "y"), 1);
  EXPECT_EQ(qopt_model_find_input(model, "z"), -1);
  EXPECT_NE(std::string(qopt_model_signature_text(model))
                .find("input  x in: float32[batch,3]"),
            std::string::npos)
      << qopt_model_signature_text(model);
}

TEST(Model, RejectsMalformedSignatures) {
  qopt_model *m = nullptr;
  EXPECT_NE(qopt_model_create("not an artifact\n", addOneEntry, &m), QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("ABI version 1"),
            std::string::npos);
  EXPECT_NE(qopt_model_create("qopt-artifact 1\ninput x float99 1 3\n",
                              addOneEntry, &m),
            QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("malformed"),
            std::string::npos);
  EXPECT_NE(qopt_model_create("qopt-artifact 1\ninput x float32 2 3\n",
                              addOneEntry, &m),
            QOPT_OK);
  EXPECT_EQ(m, nullptr);
}

struct Inputs {
  qopt_tensor *x = nullptr, *y = nullptr;
  Inputs(int64_t xb, int64_t yb, qopt_dtype xType = QOPT_DTYPE_F32) {
    int64_t xd[2] = {xb, 3}, yd[1] = {yb};
    qopt_tensor_create(xType, 2, xd, &x);
    qopt_tensor_create(QOPT_DTYPE_I64, 1, yd, &y);
  }
  ~Inputs() {
    qopt_tensor_free(x);
    qopt_tensor_free(y);
  }
};

TEST_F(ModelFixture, RunsAndAdoptsOutputs) {
  ASSERT_EQ(qopt_model_create(kSig, addOneEntry, &model), QOPT_OK);
  Inputs in(2, 2);
  auto *xs = static_cast<float *>(qopt_tensor_data(in.x));
  for (int i = 0; i < 6; ++i)
    xs[i] = float(i);
  const qopt_tensor *args[2] = {in.x, in.y};
  qopt_tensor *out = nullptr;
  ASSERT_EQ(qopt_model_run(model, args, 2, &out, 1), QOPT_OK)
      << qopt_last_error();
  ASSERT_EQ(qopt_tensor_rank(out), 2);
  EXPECT_EQ(qopt_tensor_dims(out)[0], 2);
  auto *os = static_cast<const float *>(qopt_tensor_const_data(out));
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(os[i], float(i) + 1);
  double mn, mx, mean;
  ASSERT_EQ(qopt_tensor_stats(out, &mn, &mx, &mean), QOPT_OK);
  EXPECT_EQ(mn, 1);
  EXPECT_EQ(mx, 6);
  EXPECT_DOUBLE_EQ(mean, 3.5);
  qopt_tensor_free(out);
}

TEST_F(ModelFixture, CopiesOutputsThatAliasInputs) {
  ASSERT_EQ(qopt_model_create(kSig, aliasEntry, &model), QOPT_OK);
  Inputs in(1, 1);
  static_cast<float *>(qopt_tensor_data(in.x))[2] = 7;
  const qopt_tensor *args[2] = {in.x, in.y};
  qopt_tensor *out = nullptr;
  ASSERT_EQ(qopt_model_run(model, args, 2, &out, 1), QOPT_OK);
  EXPECT_NE(qopt_tensor_const_data(out), qopt_tensor_const_data(in.x));
  EXPECT_EQ(static_cast<const float *>(qopt_tensor_const_data(out))[2], 7);
  qopt_tensor_free(out); // must not free the input's buffer
  EXPECT_EQ(static_cast<float *>(qopt_tensor_data(in.x))[2], 7);
}

TEST_F(ModelFixture, RejectsMismatchedInputsWithTheSignature) {
  ASSERT_EQ(qopt_model_create(kSig, addOneEntry, &model), QOPT_OK);
  qopt_tensor *out = nullptr;
  auto expectError = [&](const qopt_tensor *x, const qopt_tensor *y,
                         const char *what) {
    const qopt_tensor *args[2] = {x, y};
    EXPECT_NE(qopt_model_run(model, args, 2, &out, 1), QOPT_OK) << what;
    std::string err = qopt_last_error();
    EXPECT_NE(err.find(what), std::string::npos) << err;
    EXPECT_NE(err.find("expected signature:"), std::string::npos) << err;
  };
  Inputs wrongType(2, 2, QOPT_DTYPE_F64);
  expectError(wrongType.x, wrongType.y,
              "input 'x in' has float64[2,3], expected float32[batch,3]");
  Inputs wrongBatch(2, 3);
  expectError(wrongBatch.x, wrongBatch.y, "dim 'batch' is 3 here but 2");
  Inputs ok(2, 2);
  expectError(ok.x, nullptr, "input 'y' is missing");
  const qopt_tensor *one[1] = {ok.x};
  EXPECT_NE(qopt_model_run(model, one, 1, &out, 1), QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("takes 2 inputs, got 1"),
            std::string::npos);
}

TEST(Model, LoadReportsMissingFilesAndNonArtifacts) {
  qopt_model *m = nullptr;
  EXPECT_NE(qopt_model_load("/nonexistent/model.so", &m), QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("cannot load artifact"),
            std::string::npos);
  // The runtime library itself is a shared library but no artifact.
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void *>(&qopt_model_load), &info), 0);
  EXPECT_NE(qopt_model_load(info.dli_fname, &m), QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("not a quant-opt artifact"),
            std::string::npos);
  // A bare name is a file in the current directory, not a system library
  // found on the library path.
  EXPECT_NE(qopt_model_load("libm.so.6", &m), QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("cannot load artifact"),
            std::string::npos);
}

// --- Kernels ---------------------------------------------------------------

std::vector<float> randomVector(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

int64_t addr(const float *p) { return reinterpret_cast<int64_t>(p); }

struct MatmulCase {
  int64_t m, n, k;
  bool transposeB;
};

class MatmulKernel : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(MatmulKernel, MatchesNaiveLoops) {
  auto [m, n, k, transposeB] = GetParam();
  const int64_t batch = 3;
  std::vector<float> a = randomVector(batch * m * k, 1);
  std::vector<float> b = randomVector(k * n, 2); // shared over the batch
  std::vector<float> c = randomVector(batch * m * n, 3), ref = c;
  int64_t bK = transposeB ? 1 : n, bN = transposeB ? k : 1;
  for (int64_t i0 = 0; i0 < batch; ++i0)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l)
          s += double(a[i0 * m * k + i * k + l]) * b[l * bK + j * bN];
        ref[i0 * m * n + i * n + j] += float(s);
      }
  for (int constant = 0; constant < 2; ++constant) {
    std::vector<float> out = c;
    // Twice each: the constant path packs on the first call, reuses after.
    for (int rep = 0; rep < 2; ++rep) {
      out = c;
      qopt_kernel_matmul_f32(batch, 1, m, n, k, addr(a.data()), m * k, 0, k, 1,
                             addr(b.data()), 0, 0, bK, bN, addr(out.data()),
                             m * n, 0, n, 1, constant);
    }
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], ref[i], 1e-4 * std::sqrt(double(k)))
          << "element " << i << " constant " << constant;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MatmulKernel,
                         ::testing::Values(MatmulCase{1, 1, 1, false},
                                           MatmulCase{5, 7, 3, false},
                                           MatmulCase{8, 512, 256, true},
                                           MatmulCase{73, 300, 513, false},
                                           MatmulCase{16, 17, 600, true},
                                           MatmulCase{100, 33, 64, true},
                                           // Edge tiles of 1-2 rows (split
                                           // K chains) and 2 or 4 rows.
                                           MatmulCase{2, 64, 130, true},
                                           MatmulCase{10, 40, 37, false},
                                           MatmulCase{1, 512, 128, true}));

TEST(ConvKernel, UsesTheRequestedISA) {
  // QOPT_KERNEL narrows the choice (kernel-variants.test runs each).
  const char *want = std::getenv("QOPT_KERNEL");
  std::string isa = qopt_kernel_isa();
  if (want && std::string(want) == "generic")
    EXPECT_EQ(isa, "generic");
  else if (want && std::string(want) == "avx2")
    EXPECT_TRUE(isa == "avx2" || isa == "generic") << isa;
  else
    EXPECT_TRUE(isa == "avx512" || isa == "avx2" || isa == "generic") << isa;
}

TEST(ConvKernel, MatchesNaiveLoops) {
  const int64_t n = 2, c = 3, h = 9, w = 8, f = 5, kh = 3, kw = 2;
  const int64_t sh = 2, sw = 1, dh = 1, dw = 2;
  const int64_t oh = (h - dh * (kh - 1) - 1) / sh + 1;
  const int64_t ow = (w - dw * (kw - 1) - 1) / sw + 1;
  std::vector<float> in = randomVector(n * c * h * w, 4);
  std::vector<float> filter = randomVector(f * c * kh * kw, 5);
  std::vector<float> out(n * f * oh * ow, 0.5f), ref = out;
  qopt::test::naiveConv2d<double>(in, filter, ref, n, c, h, w, f, kh, kw, sh,
                                  sw, dh, dw, oh, ow);
  qopt_kernel_conv2d_nchw_f32(n, c, h, w, f, kh, kw, oh, ow, sh, sw, dh, dw,
                              addr(in.data()), c * h * w, h * w, w, 1,
                              addr(filter.data()), c * kh * kw, kh * kw, kw, 1,
                              addr(out.data()), f * oh * ow, oh * ow, ow, 1);
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_NEAR(out[i], ref[i], 1e-4) << "element " << i;
}

TEST(MemrefCopy, CopiesStridedViews) {
  // src: a 3x4 view with row stride 5 into a 3x5 buffer; dst: transposed.
  std::vector<float> src(15), dst(12, -1);
  for (int i = 0; i < 15; ++i)
    src[i] = float(i);
  float *s = src.data() + 1, *d = dst.data();
  int64_t sDesc[7], dDesc[7];
  std::memcpy(&sDesc[0], &s, 8);
  std::memcpy(&sDesc[1], &s, 8);
  sDesc[2] = 0, sDesc[3] = 3, sDesc[4] = 4, sDesc[5] = 5, sDesc[6] = 1;
  std::memcpy(&dDesc[0], &d, 8);
  std::memcpy(&dDesc[1], &d, 8);
  dDesc[2] = 0, dDesc[3] = 3, dDesc[4] = 4, dDesc[5] = 1, dDesc[6] = 3;
  UnrankedMemRef sm{2, sDesc}, dm{2, dDesc};
  memrefCopy(4, &sm, &dm);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      EXPECT_EQ(dst[j * 3 + i], src[1 + i * 5 + j]) << i << "," << j;
}

// --- Threads ---------------------------------------------------------------

TEST(AsyncRuntime, GroupCompletesWhenAllTokensAre) {
  const int n = 16;
  void *group = mlirAsyncRuntimeCreateGroup(n);
  std::vector<void *> tokens;
  for (int i = 0; i < n; ++i) {
    void *t = mlirAsyncRuntimeCreateToken();
    EXPECT_EQ(mlirAsyncRuntimeAddTokenToGroup(t, group), i);
    tokens.push_back(t);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([t = tokens[i], i] {
      if (i == 5)
        mlirAsyncRuntimeSetTokenError(t);
      else
        mlirAsyncRuntimeEmplaceToken(t);
    });
  mlirAsyncRuntimeAwaitAllInGroup(group);
  for (std::thread &t : threads)
    t.join();
  EXPECT_TRUE(mlirAsyncRuntimeIsGroupError(group));
  for (void *t : tokens)
    mlirAsyncRuntimeDropRef(t, 1); // created with 2, emplacing dropped one
  mlirAsyncRuntimeDropRef(group, 1);
}

std::atomic<int> resumed{0};
void resumeCounter(void *) { resumed.fetch_add(1); }

TEST(AsyncRuntime, ExecuteRunsOnThePool) {
  resumed = 0;
  for (int i = 0; i < 100; ++i)
    mlirAsyncRuntimeExecute(nullptr, resumeCounter);
  for (int spin = 0; spin < 2000 && resumed < 100; ++spin)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(resumed.load(), 100);
}

// A run-time error inside a task of a parallel loop (a worker thread) fails
// the run with its message instead of aborting the process, and only after
// every other task of the run has ended.
extern "C" void qopt_rt_fail(const char *message);
std::atomic<int> tasksEnded{0};
void failingTask(void *) { qopt_rt_fail("node 'n' failed in a worker"); }
void slowTask(void *) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  tasksEnded.fetch_add(1);
}
void *runTasksGroup = nullptr;
/// What compiled code does for a parallel loop: tasks into a group, then a
/// blocking await. The failing task never completes its token.
void parallelEntry(void **) {
  void *group = mlirAsyncRuntimeCreateGroup(4);
  for (int i = 0; i < 4; ++i) {
    void *token = mlirAsyncRuntimeCreateToken();
    mlirAsyncRuntimeAddTokenToGroup(token, group);
  }
  mlirAsyncRuntimeExecute(nullptr, slowTask);
  mlirAsyncRuntimeExecute(nullptr, failingTask);
  mlirAsyncRuntimeExecute(nullptr, slowTask);
  mlirAsyncRuntimeAwaitAllInGroup(group); // would wait forever
}

TEST(RunGuard, FailureInAWorkerFailsTheRun) {
  qopt_set_num_threads(3);
  qopt::rt::prepareThreads(0);
  for (int round = 0; round < 20; ++round) {
    tasksEnded = 0;
    std::string error;
    EXPECT_FALSE(qopt::rt::runGuarded(parallelEntry, nullptr, error));
    EXPECT_EQ(error, "node 'n' failed in a worker");
    // The slow tasks ended (or were skipped once the run had failed)
    // before the run returned: none is still running.
    int ended = tasksEnded.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_EQ(tasksEnded.load(), ended);
  }
  qopt_set_num_threads(0);
}

void kernelOutOfMemory(void **) {
  qopt::rt::parallelFor(64, [](int64_t i) {
    if (i == 17)
      throw std::bad_alloc();
  });
}

TEST(RunGuard, KernelAllocationFailureFailsTheRun) {
  for (int threads : {1, 3}) {
    qopt_set_num_threads(threads);
    qopt::rt::prepareThreads(0);
    std::string error;
    EXPECT_FALSE(qopt::rt::runGuarded(kernelOutOfMemory, nullptr, error));
    EXPECT_NE(error.find("could not allocate"), std::string::npos) << error;
  }
  qopt_set_num_threads(0);
}

void hugeAllocation(void **) {
  // operator new fails (the size is past what malloc accepts); the run's
  // new-handler turns that into a run-time error.
  volatile size_t bytes = size_t(1) << 62;
  void *p = ::operator new(bytes);
  ::operator delete(p);
}

TEST(RunGuard, OperatorNewFailureInsideARunFailsTheRun) {
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  // AddressSanitizer's operator new reports a failed allocation and stops
  // the process before any new-handler runs.
  GTEST_SKIP() << "not observable under AddressSanitizer";
#endif
#endif
  std::string error;
  EXPECT_FALSE(qopt::rt::runGuarded(hugeAllocation, nullptr, error));
  EXPECT_NE(error.find("could not allocate"), std::string::npos) << error;
  // Outside a run operator new still throws.
  EXPECT_THROW(hugeAllocation(nullptr), std::bad_alloc);
}

TEST(Threads, SetAndGet) {
  EXPECT_EQ(qopt_set_num_threads(3), QOPT_OK);
  EXPECT_EQ(qopt_get_num_threads(), 3);
  EXPECT_EQ(qopt_set_num_threads(0), QOPT_OK);
  EXPECT_GE(qopt_get_num_threads(), 1);
}

TEST(Threads, RefusesCountsThatWouldExhaustTheProcess) {
  EXPECT_EQ(qopt_set_num_threads(3), QOPT_OK);
  EXPECT_NE(qopt_set_num_threads(INT_MAX), QOPT_OK);
  EXPECT_NE(std::string(qopt_last_error()).find("0 (one per core) to 1024"),
            std::string::npos);
  EXPECT_NE(qopt_set_num_threads(-1), QOPT_OK);
  EXPECT_EQ(qopt_get_num_threads(), 3); // unchanged
  EXPECT_EQ(qopt_set_num_threads(0), QOPT_OK);
}

TEST(Threads, AlternatingCountsReuseTheirPools) {
  // Each count gets one pool, reused when it comes back: no pile-up of
  // threads (issue: 20,000 switches left 30,001 threads).
  std::atomic<int64_t> sum{0};
  auto runOnce = [&] {
    qopt::rt::prepareThreads(0);
    qopt::rt::parallelFor(8, [&](int64_t i) { sum += i; });
  };
  qopt_set_num_threads(2);
  runOnce();
  qopt_set_num_threads(3);
  runOnce();
  int pools = qopt::rt::numPools();
  for (int i = 0; i < 200; ++i) {
    qopt_set_num_threads(2 + i % 2);
    runOnce();
  }
  EXPECT_EQ(qopt::rt::numPools(), pools);
  EXPECT_EQ(sum.load(), 202 * 28);
  qopt_set_num_threads(0);
}

} // namespace

namespace {

TEST(CAPI, NullHandlesGiveEmptyValuesNotCrashes) {
  EXPECT_EQ(qopt_tensor_rank(nullptr), -1);
  EXPECT_NE(std::string(qopt_last_error()).find("qopt_tensor_rank: null"),
            std::string::npos);
  EXPECT_EQ(qopt_tensor_dtype(nullptr), QOPT_DTYPE_INVALID);
  EXPECT_EQ(qopt_tensor_dims(nullptr), nullptr);
  EXPECT_EQ(qopt_tensor_num_elements(nullptr), -1);
  EXPECT_EQ(qopt_tensor_byte_size(nullptr), 0u);
  EXPECT_EQ(qopt_tensor_data(nullptr), nullptr);
  EXPECT_EQ(qopt_tensor_const_data(nullptr), nullptr);
  EXPECT_EQ(qopt_model_num_inputs(nullptr), -1);
  EXPECT_NE(std::string(qopt_last_error()).find("qopt_model_num_inputs"),
            std::string::npos);
  EXPECT_EQ(qopt_model_num_outputs(nullptr), -1);
  EXPECT_EQ(qopt_model_num_adapters(nullptr), -1);
  EXPECT_EQ(qopt_model_input(nullptr, 0), nullptr);
  EXPECT_EQ(qopt_model_output(nullptr, 0), nullptr);
  EXPECT_EQ(qopt_model_adapter(nullptr, 0), nullptr);
  EXPECT_EQ(qopt_model_find_input(nullptr, "x"), -1);
  EXPECT_EQ(qopt_model_find_adapter(nullptr, "x"), -1);
  EXPECT_STREQ(qopt_model_target(nullptr), "");
  EXPECT_STREQ(qopt_model_signature_text(nullptr), "");
}

TEST(CAPI, ThresholdsRefuseBadArguments) {
  std::vector<double> hist(16, 1.0);
  EXPECT_EQ(qopt_entropy_threshold(hist.data(), 16, 0.1, 0), 0);
  EXPECT_EQ(qopt_entropy_threshold(hist.data(), 16, 0.1, -3), 0);
  EXPECT_EQ(qopt_entropy_threshold(hist.data(), 16, 0.0, 4), 0);
  EXPECT_EQ(qopt_entropy_threshold(hist.data(), 16, NAN, 4), 0);
  EXPECT_EQ(qopt_mse_threshold(hist.data(), 16, 0.1, 0), 0);
  EXPECT_EQ(qopt_mse_threshold(hist.data(), 16, INFINITY, 127), 0);
  // Valid arguments still give a threshold inside the histogram.
  double t = qopt_entropy_threshold(hist.data(), 16, 0.1, 4);
  EXPECT_GT(t, 0);
  EXPECT_LE(t, 1.6 + 1e-12);
}

} // namespace

// --- Channel observers (what instrumented code calls) ----------------------

extern "C" void qopt_observe_channels_f32(int64_t id, int64_t rank,
                                          void *descriptor);
extern "C" void qopt_observe_channel_sumsq_f32(int64_t id, int64_t axis,
                                               int64_t rank, void *descriptor);

namespace {
/// A rank-2 row-major memref descriptor over `data` [rows, cols].
std::vector<int64_t> descriptor2D(float *data, int64_t rows, int64_t cols) {
  std::vector<int64_t> d(7, 0);
  std::memcpy(&d[0], &data, sizeof(data));
  std::memcpy(&d[1], &data, sizeof(data));
  d[3] = rows;
  d[4] = cols;
  d[5] = cols;
  d[6] = 1;
  return d;
}
} // namespace

TEST(Calibration, ChannelObserversAccumulateAndRefuseAChangedChannelCount) {
  ASSERT_EQ(qopt_calibration_begin(64), QOPT_OK);
  float a[6] = {1, -5, 2, -3, 4, 0.5f};
  std::vector<int64_t> da = descriptor2D(a, 2, 3);
  qopt_observe_channels_f32(7, 2, da.data());
  qopt_observe_channel_sumsq_f32(8, 1, 2, da.data());
  float b[2] = {-6, 1};
  std::vector<int64_t> db = descriptor2D(b, 2, 1);
  EXPECT_STREQ(qopt_calibration_error(), "");
  int64_t n = 0;
  const float *absmax = qopt_calibration_channel_absmax(7, &n);
  ASSERT_EQ(n, 3);
  EXPECT_EQ(std::vector<float>(absmax, absmax + n),
            (std::vector<float>{3, 5, 2}));
  const double *sumsq = qopt_calibration_channel_sumsq(8, &n);
  ASSERT_EQ(n, 3);
  EXPECT_EQ(std::vector<double>(sumsq, sumsq + n),
            (std::vector<double>{1 + 9, 25 + 16, 4 + 0.25}));
  // The same observer with another channel count is a session error; its
  // statistics stay as they were.
  qopt_observe_channels_f32(7, 2, db.data());
  EXPECT_STREQ(qopt_calibration_error(), "observer 7 saw 1 channels after 3");
  absmax = qopt_calibration_channel_absmax(7, &n);
  EXPECT_EQ(n, 3);
  ASSERT_EQ(qopt_calibration_begin(64), QOPT_OK);
  qopt_observe_channel_sumsq_f32(8, 1, 2, da.data());
  qopt_observe_channel_sumsq_f32(8, 1, 2, db.data());
  EXPECT_STREQ(qopt_calibration_error(), "observer 8 saw 1 channels after 3");
  EXPECT_EQ(qopt_calibration_channel_absmax(99, &n), nullptr);
  EXPECT_EQ(n, 0);
}

TEST(Threads, ParallelForRunsEveryIndexOnceBeforeReturning) {
  // The caller returns once every index is done, without waiting for
  // helpers that had not started: a late helper must find no index left
  // and never touch the (by then destroyed) body. Concurrent callers, some
  // indices slow, so helpers sometimes start after the caller took all.
  qopt_set_num_threads(3);
  qopt::rt::prepareThreads(0);
  auto caller = [](int seed) {
    for (int round = 0; round < 300; ++round) {
      int64_t n = 1 + (round * 7 + seed) % 9;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (auto &h : hits)
        h = 0;
      qopt::rt::parallelFor(n, [&](int64_t i) {
        if ((i + round) % 5 == 0)
          std::this_thread::sleep_for(std::chrono::microseconds(20));
        hits[size_t(i)].fetch_add(1);
      });
      for (auto &h : hits)
        ASSERT_EQ(h.load(), 1);
    }
  };
  std::thread other(caller, 1);
  caller(2);
  other.join();
  qopt_set_num_threads(0);
}

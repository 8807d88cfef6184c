//===- ggml_gemv.cpp - llama.cpp's ggml mul_mat, callable through ctypes --===//
//
// A small C API over ggml (llama.cpp's tensor library, built from the
// llama-cpp-python sdist by bench_llamacpp.py) so that the benchmark can time
// ggml's CPU mul_mat of one weight type (TQ1_0, TQ2_0, Q4_0, Q8_0, F16, ...)
// in the same process and rounds as our runtime's kernels:
//
//   y[M, N] = x[M, K] · W[N, K]ᵀ, W quantized once by ggml_quantize_chunk,
//   x f32 (ggml quantizes it to the weight's vec_dot_type, Q8_K for the
//   ternary types, inside the timed call, as llama.cpp does per token).
//
// The graph is planned once; each call is one ggml_graph_compute on a
// persistent ggml threadpool (llama.cpp's threadpool mode, no OpenMP).
// ggml_gemv_pause/resume park the pool's threads between the benchmark's
// rounds so that they do not spin while our kernels are timed.
//
//===----------------------------------------------------------------------===//

#include "ggml-cpu.h"
#include "ggml.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

struct Gemv {
  ggml_context *ctx = nullptr;
  ggml_cgraph *graph = nullptr;
  ggml_tensor *w = nullptr, *x = nullptr, *y = nullptr;
  ggml_cplan plan{};
  std::vector<uint8_t> work;
};

} // namespace

extern "C" {

/// The ggml type named `name` ("tq2_0", "q4_0", "f16", ...), or -1.
int ggml_gemv_type(const char *name) {
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char *n = ggml_type_name(static_cast<ggml_type>(t));
    if (n && std::strcmp(n, name) == 0 &&
        ggml_get_type_traits_cpu(static_cast<ggml_type>(t))->vec_dot)
      return t;
  }
  return -1;
}

void *ggml_gemv_threadpool_new(int threads) {
  ggml_cpu_init();
  ggml_threadpool_params p = ggml_threadpool_params_default(threads);
  return ggml_threadpool_new(&p);
}

void ggml_gemv_threadpool_free(void *tp) {
  ggml_threadpool_free(static_cast<ggml_threadpool *>(tp));
}

void ggml_gemv_pause(void *tp) {
  ggml_threadpool_pause(static_cast<ggml_threadpool *>(tp));
}

void ggml_gemv_resume(void *tp) {
  ggml_threadpool_resume(static_cast<ggml_threadpool *>(tp));
}

/// A planned y = x · Wᵀ with W [n, k] (row-major f32 `weight`) quantized to
/// `type`, x [m, k]; null if k does not fit the type's blocks.
void *ggml_gemv_new(int type, int64_t n, int64_t k, int64_t m,
                    const float *weight, void *tp, int threads) {
  ggml_cpu_init();
  auto t = static_cast<ggml_type>(type);
  if (k % ggml_blck_size(t) != 0)
    return nullptr;
  auto *g = new Gemv;
  size_t bytes = ggml_row_size(t, k) * n + (k + n) * m * sizeof(float) +
                 8 * ggml_tensor_overhead() + ggml_graph_overhead() + 4096;
  ggml_init_params ip{bytes, nullptr, false};
  g->ctx = ggml_init(ip);
  g->w = ggml_new_tensor_2d(g->ctx, t, k, n);
  g->x = ggml_new_tensor_2d(g->ctx, GGML_TYPE_F32, k, m);
  ggml_quantize_chunk(t, weight, g->w->data, 0, n, k, nullptr);
  g->y = ggml_mul_mat(g->ctx, g->w, g->x);
  g->graph = ggml_new_graph(g->ctx);
  ggml_build_forward_expand(g->graph, g->y);
  g->plan =
      ggml_graph_plan(g->graph, threads, static_cast<ggml_threadpool *>(tp));
  g->work.resize(g->plan.work_size);
  g->plan.work_data = g->work.data();
  std::memset(g->x->data, 0, ggml_nbytes(g->x));
  return g;
}

int64_t ggml_gemv_weight_bytes(void *h) {
  return static_cast<int64_t>(ggml_nbytes(static_cast<Gemv *>(h)->w));
}

/// x: [m, k] f32, row-major.
void ggml_gemv_set_input(void *h, const float *x) {
  auto *g = static_cast<Gemv *>(h);
  std::memcpy(g->x->data, x, ggml_nbytes(g->x));
}

/// One mul_mat; 0 on success (a ggml_status).
int ggml_gemv_run(void *h) {
  auto *g = static_cast<Gemv *>(h);
  return static_cast<int>(ggml_graph_compute(g->graph, &g->plan));
}

/// y: [m, n] f32, row-major.
void ggml_gemv_get_output(void *h, float *y) {
  auto *g = static_cast<Gemv *>(h);
  std::memcpy(y, g->y->data, ggml_nbytes(g->y));
}

/// The quantized weight back as f32 [n, k] (ggml's own dequantizer).
void ggml_gemv_dequantize(void *h, float *out) {
  auto *g = static_cast<Gemv *>(h);
  const ggml_type_traits *tr = ggml_get_type_traits(g->w->type);
  int64_t k = g->w->ne[0], n = g->w->ne[1];
  for (int64_t r = 0; r < n; ++r)
    tr->to_float(static_cast<const char *>(g->w->data) + r * g->w->nb[1],
                 out + r * k, k);
}

void ggml_gemv_free(void *h) {
  auto *g = static_cast<Gemv *>(h);
  ggml_free(g->ctx);
  delete g;
}

/// ggml's CPU features as compiled and detected, for the report.
const char *ggml_gemv_cpu_features() {
  static char buf[256];
  std::snprintf(buf, sizeof buf,
                "AVX2=%d AVX512=%d AVX512_VNNI=%d AVX512_VBMI=%d AVX_VNNI=%d "
                "F16C=%d FMA=%d LLAMAFILE=%d",
                ggml_cpu_has_avx2(), ggml_cpu_has_avx512(),
                ggml_cpu_has_avx512_vnni(), ggml_cpu_has_avx512_vbmi(),
                ggml_cpu_has_avx_vnni(), ggml_cpu_has_f16c(),
                ggml_cpu_has_fma(), ggml_cpu_has_llamafile());
  return buf;
}

} // extern "C"

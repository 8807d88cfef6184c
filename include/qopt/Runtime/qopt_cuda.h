/*===- qopt_cuda.h - the runtime's CUDA layer (C API) -------------*- C -*-===*
 *
 * The lean runtime drives NVIDIA GPUs through the CUDA driver API, which it
 * loads with dlopen("libcuda.so.1") at first use: the runtime has no
 * link-time CUDA dependency, and on a machine without a driver or a device
 * every function here fails cleanly (qopt_cuda_available() returns 0 and
 * says why) while CPU artifacts keep working.
 *
 * Three parts:
 *   - availability and devices (qopt_cuda_available, qopt_cuda_device_*);
 *   - small memory helpers, for tests, benchmarks and embedders;
 *   - GEMV kernels for LLM decoding (qopt_cuda_gemv): y = x * W^T with x, y
 *     float16 and W float16, int8 or block-wise int4, see docs/Runtime/CUDA.md.
 *
 * The functions MLIR's gpu-to-llvm lowering calls (mgpuModuleLoad,
 * mgpuLaunchKernel, mgpuStreamCreate, mgpuMemAlloc, ...) are exported with
 * C linkage too, with the signatures of MLIR 22's CudaRuntimeWrappers.cpp;
 * they are not declared here (compiled code declares them itself).
 *
 * Errors: functions returning qopt_status set qopt_last_error() (see
 * qopt_runtime.h). Every failure of the CUDA layer, the mgpu* functions'
 * too (which return nothing), is also recorded for the calling thread in
 * qopt_cuda_last_error(), with the CUDA error's name and description.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QOPT_RUNTIME_QOPT_CUDA_H
#define QOPT_RUNTIME_QOPT_CUDA_H

#include "qopt/Runtime/qopt_runtime.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- Availability --------------------------------------------------------- */

/** 1 when the CUDA driver loaded, initialized and sees at least one device;
 *  0 otherwise, with the reason in qopt_cuda_last_error() ("no CUDA driver:
 *  libcuda.so.1 not found ...", "... is a stub library", "no CUDA device").
 *  Loads the driver at the first call; never aborts. $QOPT_CUDA_DRIVER, when
 *  set, names the driver library to load instead of libcuda.so.1. */
int qopt_cuda_available(void);

/** The calling thread's last CUDA-layer error ("" when none). */
const char *qopt_cuda_last_error(void);
/** Clears qopt_cuda_last_error() for the calling thread. */
void qopt_cuda_clear_error(void);

/** The number of CUDA devices (0 when CUDA is unavailable). */
int qopt_cuda_device_count(void);
/** Device properties: name (NUL-terminated, truncated to `size` bytes),
 *  compute capability, multiprocessor count and global memory bytes. Any
 *  output pointer may be NULL. */
qopt_status qopt_cuda_device_info(int device, char *name, size_t size,
                                  int *cc_major, int *cc_minor,
                                  int *multiprocessors, size_t *memory_bytes);
/** The driver's CUDA version (e.g. 13000), or 0 when unavailable. */
int qopt_cuda_driver_version(void);

/* --- Memory (device pointers are CUdeviceptr values) ---------------------- */

/** Device memory of `bytes` bytes (NULL for 0 bytes) on the default device,
 *  in its primary context (the one the CUDA runtime and PyTorch use). */
qopt_status qopt_cuda_malloc(size_t bytes, void **out);
qopt_status qopt_cuda_free(void *device_ptr);
/** Host to device, device to host and device to device copies; they return
 *  once the copy is done. */
qopt_status qopt_cuda_copy_to_device(void *device_dst, const void *host_src,
                                     size_t bytes);
qopt_status qopt_cuda_copy_to_host(void *host_dst, const void *device_src,
                                   size_t bytes);
qopt_status qopt_cuda_copy_device(void *device_dst, const void *device_src,
                                  size_t bytes);
/** Waits for `stream` (a CUstream / cudaStream_t; NULL: the legacy default
 *  stream) and reports any error of the work queued on it. */
qopt_status qopt_cuda_synchronize(void *stream);
/** Compiled artifacts' freed managed buffers and streams are cached for
 *  their next call (at most $QOPT_CUDA_POOL_MB MiB, default 1024; 0: no
 *  cache). This returns the cached ones to the driver. */
qopt_status qopt_cuda_release_cached(void);
/** The GPU-reachable (managed) copy of `bytes` bytes of constant host data
 *  at `host`, made at the first call and kept (keyed by address) until the
 *  artifact holding it is unloaded: compiled NVPTX artifacts fetch their
 *  weights with it instead of copying them on every call. NULL on error. */
void *qopt_cuda_constant(const void *host, uint64_t bytes);

/* --- Compiled artifacts on device-resident tensors ------------------------ */

/** Runs a compiled NVPTX artifact (quant-compile --target=nvptx) on tensors
 *  whose data live in GPU memory: no host transfers. `inputs`: one tensor
 *  per model input (qopt_tensor_create_view over a device pointer, e.g. a
 *  torch CUDA tensor's data_ptr(); managed or pinned memory works too;
 *  ordinary host memory is an error, bool inputs must not be device
 *  memory). `outputs[i]`: NULL on entry, it receives a new tensor over a
 *  device buffer that qopt_tensor_free releases (qopt_cuda_free); or a
 *  caller's tensor over a device buffer of the output's dtype and shape,
 *  written in place (not an input's buffer). The call's work is queued
 *  after the work the caller queued on `stream` (a CUstream /
 *  cudaStream_t; NULL: the legacy default stream), and the call returns
 *  when it is done. Each input is read by one device-to-device copy and
 *  each output written by one, on the call's stream. Artifacts compiled
 *  before this function existed work too, through host copies. Errors as
 *  qopt_model_run's, plus the memory checks above. */
qopt_status qopt_cuda_model_run(qopt_model *model,
                                const qopt_tensor *const *inputs,
                                int num_inputs, qopt_tensor **outputs,
                                int num_outputs, void *stream);

/** qopt_cuda_model_run through a CUDA graph. Graphs are kept per model,
 *  keyed by the address, dtype and shape of every input and output (at most
 *  8 a model, the oldest dropped; qopt_model_free drops them). The first
 *  call with a key runs as qopt_cuda_model_run and checks that a graph could
 *  replay it (one stream, one synchronize at the end, no copies from or to
 *  host memory, no events); the second captures the call's stream
 *  (cuStreamBeginCapture .. cuStreamEndCapture, cuGraphInstantiate) and
 *  launches the graph on `stream`; later ones only cuGraphLaunch it on
 *  `stream` and wait for it. Every output buffer must be given (the graph
 *  writes into the buffers it was captured with). A call a graph cannot
 *  replay runs as qopt_cuda_model_run; qopt_cuda_graph_note() tells which
 *  happened. The buffers the captured call used stay the graph's. */
qopt_status qopt_cuda_model_run_graph(qopt_model *model,
                                      const qopt_tensor *const *inputs,
                                      int num_inputs, qopt_tensor **outputs,
                                      int num_outputs, void *stream);

/** What the calling thread's last qopt_cuda_model_run_graph did: "warm-up
 *  (...)", "captured", "replayed" or "not captured: <reason>" ("" before
 *  any, or when it failed before choosing). */
const char *qopt_cuda_graph_note(void);

/** Called by compiled NVPTX artifacts for their result `index` (`bytes`
 *  bytes): the buffer to copy it into (host memory in qopt_model_run, the
 *  caller's device buffer in qopt_cuda_model_run). Not for direct use. */
int64_t qopt_cuda_result(int64_t index, int64_t bytes);

/* --- GEMV kernels -----------------------------------------------------------
 */

/** Weight formats of qopt_cuda_gemv. W is row-major [N, K] (one row per
 *  output), 16-byte aligned:
 *  - F16: float16 [N, K].
 *  - INT8: signed int8 [N, K], one scale per output row (`scales` [N]):
 *    W'[n, k] = scale[n] * w[n, k].
 *  - INT4 / UINT4: two values per byte, [N, K/2] bytes; k even in the low
 *    nibble of byte k/2, k odd in the high nibble (ONNX's packing). One scale
 *    per group of `group_size` consecutive k (`scales` [N, K/group_size]):
 *    INT4 is signed (two's complement nibbles, -8..7) and symmetric,
 *    W' = scale * w; UINT4 is unsigned (0..15) with uint8 zero points
 *    `zero_points` [N, K/group_size] (values 0..15),
 *    W' = scale * (w - zero_point). */
typedef enum qopt_cuda_weight_format {
  QOPT_CUDA_WEIGHT_F16 = 0,
  QOPT_CUDA_WEIGHT_INT8 = 1,
  QOPT_CUDA_WEIGHT_INT4 = 2,
  QOPT_CUDA_WEIGHT_UINT4 = 3
} qopt_cuda_weight_format;

/** One GEMV: y[b, n] = sum_k x[b, k] * W'[n, k] (+ bias[n]) for b < batch,
 *  x float16 [batch, K] and y float16 [batch, N] (row-major, contiguous),
 *  products and sums in float32. All pointers are device pointers. */
typedef struct qopt_cuda_gemv_args {
  qopt_cuda_weight_format format;
  const void *x;              /**< float16 [batch, K], 16-byte aligned */
  const void *weight;         /**< see qopt_cuda_weight_format */
  const void *scales;         /**< INT8: [N]; INT4/UINT4: [N, K/group_size] */
  qopt_dtype scale_dtype;     /**< QOPT_DTYPE_F16 or QOPT_DTYPE_F32 */
  const uint8_t *zero_points; /**< UINT4 only: uint8 [N, K/group_size] */
  const void *bias;           /**< NULL or float16 [N] */
  void *y;                    /**< float16 [batch, N] */
  int64_t batch, n, k;
  int64_t group_size; /**< INT4/UINT4: a multiple of 128 dividing K */
} qopt_cuda_gemv_args;

/** Launches the GEMV on `stream` (a CUstream / cudaStream_t; NULL: the
 *  legacy default stream) without waiting for it. Checks the arguments
 *  (K: a multiple of 8 for F16, 16 for INT8; group_size for INT4/UINT4;
 *  alignment; batch >= 1; batches above 16 run as several launches) and
 *  fails with a message on any mismatch. The kernels' PTX is compiled by
 *  the driver at the first call (built for sm_80, sm_89 and sm_90; other
 *  devices of compute capability 8.0 or later use the closest). */
qopt_status qopt_cuda_gemv(const qopt_cuda_gemv_args *args, void *stream);

/** As qopt_cuda_gemv with an explicit launch shape, for tuning:
 *  `row_tiles` 16-row tiles per block (1 or 2) and `warps` warps per block
 *  (1 to 8) splitting K; 0 for either picks it from the shape. */
qopt_status qopt_cuda_gemv_tuned(const qopt_cuda_gemv_args *args, void *stream,
                                 int row_tiles, int warps);

/** The embedded PTX of the GEMV kernels for `arch` ("sm_80", "sm_89",
 *  "sm_90"), or NULL when the runtime was built without nvcc. Needs no
 *  driver. */
const char *qopt_cuda_gemv_ptx(const char *arch);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_RUNTIME_QOPT_CUDA_H */

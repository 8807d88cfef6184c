/*===- qopt_runtime.h - quant-opt's lean runtime (C API) ----------*- C -*-===*
 *
 * Loads artifacts that quant-compile produced (shared libraries with a C
 * ABI), reads their signature, creates tensors, runs them and reads/writes
 * tensors as .npy or ONNX TensorProto (.pb) files. It links no LLVM or MLIR
 * library: an artifact runs on any machine that has this runtime.
 *
 * Errors: every function that can fail returns a qopt_status; on failure
 * (non-zero) qopt_last_error() holds a message for the calling thread.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QOPT_RUNTIME_QOPT_RUNTIME_H
#define QOPT_RUNTIME_QOPT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** 0 on success; any other value is an error (see qopt_last_error()). */
typedef int qopt_status;
#define QOPT_OK 0
#define QOPT_ERROR 1

/** The message of the calling thread's last error ("" if none). */
const char *qopt_last_error(void);

/** Element types; the values are ONNX TensorProto.DataType codes. The 4-
 *  and 2-bit integers and float4 take one byte per element in memory
 *  (signed integers sign-extended), as compiled code stores them;
 *  TensorProto files pack them (two or four to a byte, low bits first).
 *  .npy cannot hold them, nor bfloat16 and the float8 formats. */
typedef enum qopt_dtype {
  QOPT_DTYPE_INVALID = 0,
  QOPT_DTYPE_F32 = 1,
  QOPT_DTYPE_U8 = 2,
  QOPT_DTYPE_I8 = 3,
  QOPT_DTYPE_U16 = 4,
  QOPT_DTYPE_I16 = 5,
  QOPT_DTYPE_I32 = 6,
  QOPT_DTYPE_I64 = 7,
  QOPT_DTYPE_BOOL = 9,
  QOPT_DTYPE_F16 = 10,
  QOPT_DTYPE_F64 = 11,
  QOPT_DTYPE_U32 = 12,
  QOPT_DTYPE_U64 = 13,
  QOPT_DTYPE_BF16 = 16,
  QOPT_DTYPE_F8E4M3FN = 17,
  QOPT_DTYPE_F8E4M3FNUZ = 18,
  QOPT_DTYPE_F8E5M2 = 19,
  QOPT_DTYPE_F8E5M2FNUZ = 20,
  QOPT_DTYPE_U4 = 21,
  QOPT_DTYPE_I4 = 22,
  QOPT_DTYPE_F4E2M1 = 23,
  QOPT_DTYPE_U2 = 25,
  QOPT_DTYPE_I2 = 26,
  /* Not a dtype: makes every int a valid qopt_dtype value, so that the
   * runtime can check a caller's out-of-range value (C++ gives enums
   * without it only the range of their enumerators' bits). */
  QOPT_DTYPE_FORCE_INT32 = 0x7fffffff
} qopt_dtype;

/** numpy's name of a dtype ("float32", "int8", "bool", ...); "invalid" for
 *  an unknown value. */
const char *qopt_dtype_name(qopt_dtype dtype);
/** Bytes per element (0 for an unknown dtype). */
size_t qopt_dtype_size(qopt_dtype dtype);
/** The dtype named `name` (numpy names), or QOPT_DTYPE_INVALID. */
qopt_dtype qopt_dtype_from_name(const char *name);

/* --- Tensors ------------------------------------------------------------ */

/** A dense, C-order (row-major) tensor that owns its data. */
typedef struct qopt_tensor qopt_tensor;

/** The largest rank a tensor may have. */
#define QOPT_MAX_RANK 16

/** A zero-filled tensor. Fails on a bad dtype, rank, negative dim or a
 *  byte size that overflows. */
qopt_status qopt_tensor_create(qopt_dtype dtype, int rank, const int64_t *dims,
                               qopt_tensor **out);
/** A tensor holding a copy of `data` (`qopt_dtype_size * elements` bytes). */
qopt_status qopt_tensor_create_copy(qopt_dtype dtype, int rank,
                                    const int64_t *dims, const void *data,
                                    qopt_tensor **out);
/** A tensor over caller-owned memory, without a copy (zero-copy from numpy,
 *  DLPack or another runtime): `data` must hold `qopt_dtype_size * elements`
 *  bytes in C order, aligned to the element size, and stay valid until the
 *  tensor is freed. qopt_tensor_free then calls `release(context)` when
 *  `release` is not NULL (e.g. to drop a reference the caller took).
 *  Fails like qopt_tensor_create, and on NULL data for a non-empty tensor
 *  or misaligned data; on failure `release` is not called. A run reads an
 *  input view and never writes it. */
qopt_status qopt_tensor_create_view(qopt_dtype dtype, int rank,
                                    const int64_t *dims, void *data,
                                    void (*release)(void *context),
                                    void *context, qopt_tensor **out);
void qopt_tensor_free(qopt_tensor *tensor);

/** Getters. A NULL tensor gives QOPT_DTYPE_INVALID, rank and element count
 *  -1, byte size 0 and NULL pointers, with qopt_last_error() set. */
qopt_dtype qopt_tensor_dtype(const qopt_tensor *tensor);
int qopt_tensor_rank(const qopt_tensor *tensor);
const int64_t *qopt_tensor_dims(const qopt_tensor *tensor);
int64_t qopt_tensor_num_elements(const qopt_tensor *tensor);
size_t qopt_tensor_byte_size(const qopt_tensor *tensor);
void *qopt_tensor_data(qopt_tensor *tensor);
const void *qopt_tensor_const_data(const qopt_tensor *tensor);

/** Min, max and mean over the elements as doubles (all 0 for an empty
 *  tensor; NaNs are skipped for min/max and propagate into the mean). */
qopt_status qopt_tensor_stats(const qopt_tensor *tensor, double *min,
                              double *max, double *mean);

/* --- Tensor files ------------------------------------------------------- */

/** Reads a .npy file (format 1.0-3.0, C order, any numeric dtype of either
 *  byte order, bool). */
qopt_status qopt_tensor_load_npy(const char *path, qopt_tensor **out);
/** Whether .npy files can hold `dtype` (numpy has no bfloat16, float8,
 *  float4 or 4/2-bit integers: save those as .pb). */
int qopt_dtype_has_npy(qopt_dtype dtype);
/** Writes `tensor` as a .npy file (format 1.0, little-endian, C order). The
 *  file is written to a temporary name and renamed: never half-written. */
qopt_status qopt_tensor_save_npy(const qopt_tensor *tensor, const char *path);
/** Reads a serialized ONNX TensorProto (raw_data or the typed repeated
 *  fields). `name_out`, if not NULL, receives a malloc'ed copy of the
 *  tensor's name (free it with free()). */
qopt_status qopt_tensor_load_pb(const char *path, qopt_tensor **out,
                                char **name_out);
/** Writes a serialized ONNX TensorProto with raw_data. */
qopt_status qopt_tensor_save_pb(const qopt_tensor *tensor, const char *name,
                                const char *path);
/** Reads .npy or .pb, chosen by the file's extension. */
qopt_status qopt_tensor_load(const char *path, qopt_tensor **out);

/* --- Artifacts ---------------------------------------------------------- */

/** A loaded artifact: its code and its signature. */
typedef struct qopt_model qopt_model;

/** One input or output of an artifact. `dims[i]` is -1 for a dynamic dim,
 *  whose name (ONNX dim_param) is `dim_names[i]` ("" when it has none). */
typedef struct qopt_tensor_info {
  const char *name;
  qopt_dtype dtype;
  int rank;
  const int64_t *dims;
  const char *const *dim_names;
} qopt_tensor_info;

/** Loads an artifact (a shared library written by quant-compile). */
qopt_status qopt_model_load(const char *path, qopt_model **out);
void qopt_model_free(qopt_model *model);

/** Getters. A NULL model gives counts -1, indices -1, NULL infos/names and
 *  "" texts, with qopt_last_error() set. */
/** The target the artifact was compiled for ("cpu", ...). */
const char *qopt_model_target(const qopt_model *model);
int qopt_model_num_inputs(const qopt_model *model);
int qopt_model_num_outputs(const qopt_model *model);
/** The i-th input/output, or NULL when `i` is out of range. */
const qopt_tensor_info *qopt_model_input(const qopt_model *model, int i);
const qopt_tensor_info *qopt_model_output(const qopt_model *model, int i);
/** Index of the input/output named `name`, or -1. */
int qopt_model_find_input(const qopt_model *model, const char *name);
/** Switched LoRA adapters (quant-compile --adapter-mode=switch): such an
 *  artifact has a rank-0 int64 input `qopt_adapter`; adapter i applies when
 *  it holds i, any other value (e.g. -1) runs the base model. The count,
 *  the i-th name (NULL out of range), the index of a name (-1 if none). */
int qopt_model_num_adapters(const qopt_model *model);
const char *qopt_model_adapter(const qopt_model *model, int i);
int qopt_model_find_adapter(const qopt_model *model, const char *name);
/** The signature as text, one line per input and output
 *  ("input  x: float32[batch,16]"); owned by the model. */
const char *qopt_model_signature_text(const qopt_model *model);

/** Runs the model. `inputs` holds one tensor per model input, in signature
 *  order; each must match the input's dtype, rank and static dims, and
 *  dynamic dims of the same name must agree. On success `outputs[i]`
 *  receives a new tensor per output (free each with qopt_tensor_free). On a
 *  mismatch the error lists the expected signature. */
qopt_status qopt_model_run(qopt_model *model, const qopt_tensor *const *inputs,
                           int num_inputs, qopt_tensor **outputs,
                           int num_outputs);

/** Wraps code already in memory (an in-process JIT's) as a model:
 *  `signature` is the text of qopt-export-signature, `entry` the packed
 *  entry point `qopt_artifact_main`. Both must outlive the model. */
qopt_status qopt_model_create(const char *signature, void (*entry)(void **),
                              qopt_model **out);

/** The runtime functions compiled code calls (threads, copies, kernels),
 *  for JITs that must resolve them: `*count` entries. */
typedef struct qopt_symbol {
  const char *name;
  void *address;
} qopt_symbol;
const qopt_symbol *qopt_runtime_codegen_symbols(size_t *count);

/** The matmul microkernel in use: "avx512", "avx2" or "generic" (the
 *  widest the CPU runs, or what $QOPT_KERNEL narrows it to). */
const char *qopt_kernel_isa(void);

/** The int8 matmul microkernel in use: "avx512vnni", "avx2" or "generic"
 *  ($QOPT_KERNEL=avx2|generic narrows it as for the f32 kernel). */
const char *qopt_kernel_isa_int8(void);

/** The ternary (BitLinear) matmul kernel in use: "avx512vnni", "avx2" or
 *  "generic" ($QOPT_KERNEL narrows it as for the other kernels). */
const char *qopt_kernel_isa_ternary(void);

/* --- Profiling and memory (docs/Runtime/Profile.md, Memory.md) --------- */

/** Whether the artifact was compiled with `quant-compile --profile` (its
 *  kernel calls and generated loop nests are timed when profiling is on). */
int qopt_model_has_profile(const qopt_model *model);
/** Turns timing on or off for the following runs (off at load); an error
 *  when the artifact has no profiling code. Thread-safe: concurrent runs
 *  add their times up. */
qopt_status qopt_model_set_profiling(qopt_model *model, int enabled);
/** Clears the times gathered so far. */
void qopt_model_profile_reset(qopt_model *model);
/** The timed regions, in program order: their number (0 without
 *  profiling code), and region `i`'s kind ("kernel conv2d_nchw_f32",
 *  "loops generic (parallel)", "copy", ...), the ONNX node names it
 *  computes, how many times it ran and its total wall time in seconds
 *  (NULL pointers are skipped). The strings are owned by the model. */
int qopt_model_profile_size(const qopt_model *model);
qopt_status qopt_model_profile_entry(const qopt_model *model, int i,
                                     const char **kind, const char **nodes,
                                     int64_t *calls, double *seconds);
/** Wall time of the profiled runs (inside qopt_model_run), in seconds, and
 *  their number (`*runs`, when not NULL). */
double qopt_model_profile_run_seconds(const qopt_model *model, int64_t *runs);

/** Bytes of the static memory plan's arena (the largest a run asked for;
 *  0 before the first run or without a plan), and how many arenas the
 *  model holds (one per concurrent run it has seen). */
uint64_t qopt_model_arena_bytes(const qopt_model *model, int *num_arenas);

/* --- Threads ------------------------------------------------------------ */

/** The number of threads compiled models use for their parallel loops;
 *  0 (the default) means one per core (or the QOPT_NUM_THREADS environment
 *  variable when set). Takes effect at the next run. A count below 0 or
 *  above 1024 is an error (nothing changes). Changing the count back and
 *  forth reuses the pools already made. */
qopt_status qopt_set_num_threads(int num_threads);
int qopt_get_num_threads(void);

/* --- Calibration statistics ---------------------------------------------- */

/** A streamed histogram of observed values (fixed memory; see
 *  qopt/Support/Calibration.h): what a calibration observer keeps. */
typedef struct qopt_histogram qopt_histogram;

/** `bins` bins for |x| (2048 for entropy calibration). */
qopt_status qopt_histogram_create(int64_t bins, qopt_histogram **out);
void qopt_histogram_free(qopt_histogram *histogram);
/** Adds `n` values; a NaN or infinity is an error (nothing is added). */
qopt_status qopt_histogram_add(qopt_histogram *histogram, const float *values,
                               int64_t n);
int64_t qopt_histogram_count(const qopt_histogram *histogram);
/** The |x| counts: writes them to `out` when not NULL and returns their
 *  number; `*width` receives the bin width. */
int64_t qopt_histogram_magnitudes(const qopt_histogram *histogram, double *out,
                                  double *width);
/** The full state: the 2 * bins signed counts covering [-range, range]
 *  (written to `out` when not NULL), `*range`, `*min`, `*max`; returns
 *  the number of counts. */
int64_t qopt_histogram_state(const qopt_histogram *histogram, double *out,
                             double *range, float *min, float *max);
/** The clipping range a method chooses: `method` is "minmax",
 *  "percentile", "entropy" or "mse"; `symmetric` (around 0, else
 *  asymmetric: one-sided where the data is); `percentile` in (0, 100].
 *  Checked against minmax as qopt-calibrate does (3 dB margin). */
qopt_status qopt_histogram_choose_range(const qopt_histogram *histogram,
                                        const char *method, int symmetric,
                                        double percentile, float *lo,
                                        float *hi);
/** qopt_histogram_choose_range with the guard's margin in dB (negative:
 *  the method's own range, unchecked); `*fell_back` (may be NULL) is 1 when
 *  minmax's range was kept, `*error` and `*minmax_error` (may be NULL) the
 *  expected squared quantization error of the range kept and of minmax's
 *  over the histogram (int8 when symmetric, uint8 when not). */
qopt_status qopt_histogram_choose_range_checked(
    const qopt_histogram *histogram, const char *method, int symmetric,
    double percentile, double margin_db, float *lo, float *hi, int *fell_back,
    double *error, double *minmax_error);
/** The calibration run's observers: code compiled with
 *  qopt-instrument-observers calls qopt_observe_f32(id, values) at each
 *  qopt.observe, which adds the values to observer `id`'s histogram.
 *  qopt_calibration_begin clears them all (and sets the bins of new ones);
 *  a NaN or infinity is recorded as the session's error (the values are
 *  dropped), readable with qopt_calibration_error() ("" when none). */
qopt_status qopt_calibration_begin(int64_t bins);
/** Observer `id`'s histogram, or NULL if it saw no values. Owned by the
 *  runtime until the next qopt_calibration_begin. */
const qopt_histogram *qopt_calibration_observer(int64_t id);
/** The ids seen, ascending: writes up to `capacity` to `ids` (may be NULL)
 *  and returns how many there are. */
int64_t qopt_calibration_observer_ids(int64_t *ids, int64_t capacity);
const char *qopt_calibration_error(void);
/** A channel_absmax observer's max |x| per index of the last dimension
 *  (`*count` values; NULL and 0 when it saw nothing). */
const float *qopt_calibration_channel_absmax(int64_t id, int64_t *count);
/** A channel_sumsq observer's sum of x² per index of its channel axis over
 *  every value it saw (Wanda's squared input-channel norms; `*count`
 *  values; NULL and 0 when it saw nothing). */
const double *qopt_calibration_channel_sumsq(int64_t id, int64_t *count);
/** A second_moment observer's E[x xᵀ] ([K, K] row-major, `*k` = K) over
 *  the `*rows` rows it saw (a layer's input vectors, or with a window an
 *  NCHW input's im2col patches), and `*mean` (may be NULL) E[x]; NULL and
 *  0 when it saw nothing. Valid until the next qopt_calibration_begin. */
const double *qopt_calibration_second_moment(int64_t id, int64_t *k,
                                             int64_t *rows,
                                             const double **mean);

/** Capture mode (the accuracy report): until qopt_capture_end, each
 *  observer of instrumented code keeps a copy of the values it saw last
 *  (row-major) instead of adding them to its histogram. Begin clears the
 *  copies. */
void qopt_capture_begin(void);
void qopt_capture_end(void);
/** The last values observer `id` captured (`*count` of them; NULL and 0
 *  when none). Valid until the next capture or qopt_capture_begin/end. */
const float *qopt_capture_values(int64_t id, int64_t *count);

/** TensorRT's KL-divergence threshold over |x| counts (REFERENCE.md).
 *  0 for bad arguments (null `hist`, `bins` < 1, `target_bins` < 1, a
 *  width that is not finite and positive). */
double qopt_entropy_threshold(const double *hist, int64_t bins, double width,
                              int64_t target_bins);
/** The threshold minimizing symmetric quantization's squared error; 0 for
 *  bad arguments (as above, `levels` < 1). */
double qopt_mse_threshold(const double *hist, int64_t bins, double width,
                          int64_t levels);

/** GPTQ (qopt/Support/GPTQ.h) of `w` ([n, k] row-major) with the
 *  Hessian `h` ([k, k], 2 X^T X): codes [n, k] in [qmin, qmax] to `codes`,
 *  scales [n, groups] to `scales` (groups = 1 when `group_size` is 0, else
 *  k / group_size). For tests and tools; QOPT_ERROR with the reason on bad
 *  arguments or a Hessian that is not positive definite once damped. */
qopt_status qopt_gptq_quantize(const float *w, int64_t n, int64_t k,
                               const double *h, int64_t qmin, int64_t qmax,
                               int64_t group_size, int64_t block_size,
                               double perc_damp, int8_t *codes, float *scales);

/* --- Timing ------------------------------------------------------------- */

/** A monotonic clock in seconds. */
double qopt_now_seconds(void);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_RUNTIME_QOPT_RUNTIME_H */

//===- DepthwiseKernelBody.h - Depthwise kernel for one ISA -----*- C++ -*-===//
//
// Included by DepthwiseKernels.cpp inside each SIMD namespace of Simd.h
// (simd512, simd256, simdgen), where `V` and `vact` are that ISA's.
//
// A task is a band of output rows of one input channel. The input rows the
// band reads are first copied into a local buffer with the padding made
// explicit and the window strides split into phases: plane (rp, cp) holds
// padded rows py0 + sh*i + rp and columns sw*j + cp, each plane pwp columns
// wide. Window tap (ky, kx) then reads the plane of (ky*dh % sh, kx*dw % sw)
// at the constant offset (ky*dh / sh) * pwp + kx*dw / sw from the flattened
// output index l * pwp + ox, for every output pixel of the band: the taps
// are FMAs of a broadcast weight and one unaligned vector load each, over
// vectors that run across row ends (the lanes of the columns past ow are
// computed and dropped), so 7x7 and 14x14 maps still fill the vectors. The
// copy is the size of the input rows; it replaces the padded copy the
// generated code would make.
//
//===----------------------------------------------------------------------===//

/// NV vectors of sums from flat index v0, started at `init`, with the
/// activation applied when `act` >= 0 (the epilogue has nothing else).
template <int NT, int NV>
inline void dwBlock(const float *local, const int64_t *off, int64_t nt,
                    const float *w, int64_t v0, V::T init, int act, float alpha,
                    float beta, float *flat) {
  V::T acc[NV];
  for (auto &a : acc)
    a = init;
  for (int64_t t = 0; t < (NT > 0 ? NT : nt); ++t) {
    V::T wt = V::set1(w[t]);
    const float *s = local + off[t] + v0;
    for (int j = 0; j < NV; ++j)
      acc[j] = V::fmadd(wt, V::load(s + j * V::L), acc[j]);
  }
  for (int j = 0; j < NV; ++j)
    V::store(flat + v0 + j * V::L,
             act >= 0 ? vact(act, alpha, beta, acc[j]) : acc[j]);
}

/// Sums of the band's output pixels (flattened as l * pwp + ox) into
/// `flat`, each started at `bias` and activated when `act` >= 0; `local`
/// holds the band's input, `off` the taps' offsets.
template <int NT>
void dwSums(const float *local, const int64_t *off, int64_t taps,
            const float *w, int64_t span, float bias, int act, float alpha,
            float beta, float *flat) {
  constexpr int XB = 4; // the switch below covers the last 1 ... XB vectors
  const V::T init = V::set1(bias);
  int64_t v0 = 0;
  for (; v0 + XB * V::L <= span; v0 += XB * V::L)
    dwBlock<NT, XB>(local, off, taps, w, v0, init, act, alpha, beta, flat);
  switch ((span - v0 + V::L - 1) / V::L) {
  case 4:
    dwBlock<NT, 4>(local, off, taps, w, v0, init, act, alpha, beta, flat);
    break;
  case 3:
    dwBlock<NT, 3>(local, off, taps, w, v0, init, act, alpha, beta, flat);
    break;
  case 2:
    dwBlock<NT, 2>(local, off, taps, w, v0, init, act, alpha, beta, flat);
    break;
  case 1:
    dwBlock<NT, 1>(local, off, taps, w, v0, init, act, alpha, beta, flat);
    break;
  default:
    break;
  }
}

/// The epilogue of one output row: out[ox] = act((accumulate ? out : 0) +
/// sums (bias included) + residual), vectorized when the row and the
/// residual are contiguous; `activated`: the sums are the results already.
void dwRowEpilogue(const ConvEpilogue &e, bool activated, const float *sums,
                   int64_t ow, float *out, int64_t outW, const float *res,
                   int64_t resW) {
  if (outW == 1 && (!res || resW == 1)) {
    int64_t x = 0;
    if (activated) {
      for (; x + V::L <= ow; x += V::L)
        V::store(out + x, V::load(sums + x));
      if (x < ow)
        V::storeN(out + x, V::loadN(sums + x, int(ow - x)), int(ow - x));
      return;
    }
    const int act = int(e.act);
    for (; x < ow; x += V::L) {
      int n = int(ow - x < V::L ? ow - x : V::L);
      V::T v = V::loadN(sums + x, n);
      if (e.accumulate)
        v = V::add(v, V::loadN(out + x, n));
      if (res)
        v = V::add(v, V::loadN(res + x, n));
      V::storeN(out + x, vact(act, e.alpha, e.beta, v), n);
    }
    return;
  }
  for (int64_t x = 0; x < ow; ++x) {
    float v = sums[x];
    if (!activated) {
      if (e.accumulate)
        v += out[x * outW];
      if (res)
        v += res[x * resW];
      v = qopt::rt::convActivation(e.act, v, e.alpha, e.beta);
    }
    out[x * outW] = v;
  }
}

/// One task: output rows [oy0, oy1) of every channel of input channel gi.
void dwBand(const DepthwiseF32 &p, const ConvEpilogue &e, int64_t b, int64_t gi,
            int64_t oy0, int64_t oy1, std::vector<float> &local,
            std::vector<float> &flat) {
  const int64_t sh = p.sh, sw = p.sw;
  const int64_t rowsOut = oy1 - oy0;
  const int64_t rowsIn = (rowsOut - 1) * sh + (p.kh - 1) * p.dh + 1;
  const int64_t wn = (p.ow - 1) * sw + (p.kw - 1) * p.dw + 1;
  const int64_t rowsPer = (rowsIn + sh - 1) / sh, pwp = (wn + sw - 1) / sw;
  const int64_t planeSize = rowsPer * pwp;
  const int64_t span = (rowsOut - 1) * pwp + p.ow;
  const int64_t spanPadded = (span + V::L - 1) / V::L * V::L;
  // Vectors of the last pixels read up to V::L - 1 floats past the planes.
  const size_t localSize = size_t(sh * sw * planeSize + V::L);
  if (local.size() < localSize)
    local.assign(localSize, 0.0f);
  if (flat.size() < size_t(spanPadded))
    flat.resize(size_t(spanPadded));
  std::memset(local.data() + sh * sw * planeSize, 0, V::L * sizeof(float));
  // A padded row before its phase split (2 vectors of slack: the
  // deinterleave reads whole pairs).
  thread_local std::vector<float> rowTmp;
  if (sw > 1 && rowTmp.size() < size_t(sw * pwp + 2 * V::L))
    rowTmp.assign(size_t(sw * pwp + 2 * V::L), 0.0f);
  // The band's input rows, padding explicit, split into phases.
  const float *img = p.in + b * p.inN + gi * p.inG;
  const int64_t py0 = oy0 * sh;
  for (int64_t r = 0; r < rowsIn; ++r) {
    const int64_t py = py0 + r, rp = r % sh, i = r / sh;
    const int64_t sy = py - p.padT;
    float *planeRow = local.data() + rp * sw * planeSize + i * pwp;
    if (sy < 0 || sy >= p.h) {
      for (int64_t cp = 0; cp < sw; ++cp)
        std::memset(planeRow + cp * planeSize, 0, size_t(pwp) * sizeof(float));
      continue;
    }
    const float *src = img + sy * p.inH;
    // Columns q in [0, wn): source column q - padL.
    const int64_t lo = std::min(wn, std::max<int64_t>(0, p.padL));
    const int64_t hi = std::max(lo, std::min(wn, p.padL + p.w));
    // The padded row (sw == 1: straight into its plane), vector by vector
    // with masked loads of the source's part.
    float *row = sw == 1 ? planeRow : rowTmp.data();
    const int64_t rowLen = sw * pwp;
    if (p.inW == 1) {
      for (int64_t q = 0; q < rowLen; q += V::L) {
        const int from = int(std::clamp<int64_t>(lo - q, 0, V::L));
        const int to = int(std::clamp<int64_t>(hi - q, 0, V::L));
        V::T v =
            from < to ? V::loadRange(src + (q - p.padL), from, to) : V::zero();
        V::storeN(row + q, v, int(std::min<int64_t>(V::L, rowLen - q)));
      }
    } else {
      for (int64_t q = 0; q < rowLen; ++q)
        row[q] = q >= lo && q < hi ? src[(q - p.padL) * p.inW] : 0.0f;
    }
    if (sw == 1)
      continue;
    // Its column phases.
    if (sw == 2) {
      float *even = planeRow, *odd = planeRow + planeSize;
      for (int64_t j = 0; j < pwp; j += V::L) {
        V::T e0, o0;
        V::deinterleave2(row + 2 * j, e0, o0);
        const int n = int(std::min<int64_t>(V::L, pwp - j));
        V::storeN(even + j, e0, n);
        V::storeN(odd + j, o0, n);
      }
      continue;
    }
    for (int64_t cp = 0; cp < sw; ++cp) {
      float *to = planeRow + cp * planeSize;
      for (int64_t j = 0; j < pwp; ++j)
        to[j] = row[sw * j + cp];
    }
  }
  // The taps' offsets and weights.
  const int64_t taps = p.kh * p.kw;
  int64_t offStack[49];
  float wStack[49];
  std::vector<int64_t> offHeap;
  std::vector<float> wHeap;
  int64_t *off = offStack;
  float *w = wStack;
  if (taps > 49) {
    offHeap.resize(size_t(taps));
    wHeap.resize(size_t(taps));
    off = offHeap.data();
    w = wHeap.data();
  }
  for (int64_t ky = 0, t = 0; ky < p.kh; ++ky)
    for (int64_t kx = 0; kx < p.kw; ++kx, ++t) {
      const int64_t ry = ky * p.dh, cx = kx * p.dw;
      off[t] = (ry % sh * sw + cx % sw) * planeSize + ry / sh * pwp + cx / sw;
    }
  for (int64_t m = 0; m < p.mult; ++m) {
    const int64_t f = gi * p.mult + m;
    const float *fw = p.filter + gi * p.fG + m * p.fM;
    for (int64_t ky = 0, t = 0; ky < p.kh; ++ky)
      for (int64_t kx = 0; kx < p.kw; ++kx, ++t)
        w[t] = fw[ky * p.fH + kx * p.fW];
    const float bias = e.bias ? e.bias[f * e.biasStride] : 0.0f;
    // Without accumulation or residual, the activation runs on the sums.
    const bool activated = !e.accumulate && !e.res;
    const int act = activated ? int(e.act) : -1;
    if (taps == 9)
      dwSums<9>(local.data(), off, taps, w, span, bias, act, e.alpha, e.beta,
                flat.data());
    else if (taps == 25)
      dwSums<25>(local.data(), off, taps, w, span, bias, act, e.alpha, e.beta,
                 flat.data());
    else
      dwSums<0>(local.data(), off, taps, w, span, bias, act, e.alpha, e.beta,
                flat.data());
    float *out = p.out + b * p.outN + gi * p.outG + m * p.outM;
    const float *res = e.res ? e.res + b * e.resN + f * e.resF : nullptr;
    for (int64_t oy = oy0; oy < oy1; ++oy)
      dwRowEpilogue(e, activated, flat.data() + (oy - oy0) * pwp, p.ow,
                    out + oy * p.outH, p.outW,
                    res ? res + oy * e.resH : nullptr, e.resW);
  }
}

/// The int8 kernel's dequantizing epilogue of one output row of channel f
/// (DepthwiseKernels.cpp, qopt_kernel_conv2d_depthwise_s8_dequant): `sums`
/// holds f32(sum - corr[f]) (exact integers), out[x] = act(bias + sums[x] *
/// scale) (a product, then a sum, each rounded, as the loop computes), f32,
/// or requantized to int8 as qopt.quantize's lowering does (through a
/// chunk of f32 values the conversion loop then reads contiguously).
void dwS8RowDequant(const DwS8Row &e, const float *sums, int64_t ow, void *out,
                    int64_t outW) {
  constexpr int64_t kChunk = 256;
  alignas(64) float tv[kChunk], tr[kChunk];
  const int act = int(e.act);
  const V::T scale = V::set1(e.scale), bias = V::set1(e.bias);
  for (int64_t x0 = 0; x0 < ow; x0 += kChunk) {
    const int64_t len = ow - x0 < kChunk ? ow - x0 : kChunk;
    for (int64_t x = 0; x < len; x += V::L) {
      const int n = int(len - x < V::L ? len - x : V::L);
      V::T v = V::add(bias, V::mul(V::loadN(sums + x0 + x, n), scale));
      v = vact(act, e.alpha, e.beta, v);
      if (!e.toInt8) {
        if (outW == 1)
          V::storeN(static_cast<float *>(out) + x0 + x, v, n);
        else
          V::storeN(tv + x, v, n);
        continue;
      }
      V::T r = V::round(V::div(v, V::set1(e.qScale)));
      r = V::min(V::max(r, V::set1(e.qLo)), V::set1(e.qHi));
      V::storeN(tv + x, v, n);
      V::storeN(tr + x, V::add(r, V::set1(e.qZp)), n);
    }
    if (!e.toInt8) {
      if (outW != 1) {
        float *o = static_cast<float *>(out) + x0 * outW;
        for (int64_t i = 0; i < len; ++i)
          o[i * outW] = tv[i];
      }
      continue;
    }
    const int8_t zp = int8_t(e.qZp);
    int8_t *o = static_cast<int8_t *>(out) + x0 * outW;
    if (outW == 1)
      for (int64_t i = 0; i < len; ++i)
        o[i] = tv[i] != tv[i] ? zp : int8_t(int(tr[i]));
    else
      for (int64_t i = 0; i < len; ++i)
        o[i * outW] = tv[i] != tv[i] ? zp : int8_t(int(tr[i]));
  }
}

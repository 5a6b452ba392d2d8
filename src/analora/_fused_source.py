"""C++ source of the fused CPU kernels (compiled on first use by
:mod:`analora.fused`; kept in a Python string so that it ships with the
package as code).

Row-parallel kernels, each callable on a row range ``[r0, r1)`` (the
caller splits the work over threads) or, as ``<name>_rows``, over all rows
on OpenMP threads; every result depends on the row index only, never on
the split:

* ``analora_dac``: abs-max input scaling and the DAC in one pass (per row
  ``a = max |x|`` (1 if 0 or off), ``codes = clamp(round(x / (a s_in)))``);
* ``analora_pcm_program``: the PCM device model's programming step
  (:mod:`analora.hardware.pcm`) for a whole layer in one pass;
* ``analora_pcm_read``: its read at an age (drift, 1/f read noise, the
  difference of the pair, back to weights) for a whole layer in one pass;
* ``analora_identity_readout``: the global-drift-compensation read-out (the
  identity through every tile, output noise, ADC) reduced to sums of
  ``|out|`` without forming the outputs;
* ``analora_epilogue``: everything after the GEMM in one pass: output noise
  (Philox4x32-7 counters plus Box-Muller), ADC rounding, the bound check
  (rows whose ADC saturates are flagged and their codes written back for
  bound management), clamping, the digital scales, the partial-sum
  reduction over input tiles and the bias.

Philox4x32 with 7 rounds, the fewest its authors found to pass every test
of TestU01's BigCrush (they recommend 10 for a safety margin; the noise here
is a physical model, not cryptography): J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw,
"Parallel random numbers: as easy as 1, 2, 3", SC 2011 (constants of its
Table 2 and reference implementation Random123). Box-Muller: G. E. P. Box,
M. E. Muller, "A note on the generation of random normal deviates", Ann.
Math. Stat. 29 (1958).
"""

SOURCE = r"""
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// sin and cos of 2 pi u, u in [0, 1): half angle h = pi (u - 1/2) in
// [-pi/2, pi/2) by Taylor polynomials (error < 1e-7), then sin 2h = 2 s c,
// cos 2h = 1 - 2 s^2. The angle is shifted by pi, which leaves the
// distribution of (cos, sin) unchanged. Polynomials vectorise; a libm sincos
// does not.
inline void sincos_2pi(float u, float* s_out, float* c_out) {
  const float h = 3.14159265358979f * (u - 0.5f);
  const float x2 = h * h;
  float s = -2.5052108e-8f;
  s = s * x2 + 2.7557319e-6f;
  s = s * x2 - 1.9841270e-4f;
  s = s * x2 + 8.3333333e-3f;
  s = s * x2 - 1.6666667e-1f;
  s = (s * x2 + 1.0f) * h;
  float c = 2.0876757e-9f;
  c = c * x2 - 2.7557319e-7f;
  c = c * x2 + 2.4801587e-5f;
  c = c * x2 - 1.3888889e-3f;
  c = c * x2 + 4.1666667e-2f;
  c = c * x2 - 0.5f;
  c = c * x2 + 1.0f;
  *s_out = 2.0f * s * c;
  *c_out = 1.0f - 2.0f * s * s;
}

constexpr int kRounds = 7;  // Philox4x32-7: the fewest rounds that pass BigCrush
constexpr int kPerDraw = 6;  // normals per 128-bit Philox output

// z[0..n) ~ N(0, 1), n a multiple of kPerDraw: stream (row, tile) of key
// `seed`. Each Philox output (four 32-bit words) gives three Box-Muller
// pairs: radii from 24-bit uniforms (w0, w1, w2 >> 8), angles from one 24-bit
// (w3 >> 8) and two 16-bit uniforms (the low bytes). Counter g feeds
// z[k n/6 + g], k < 6, so that every store is contiguous; three simple
// loops (words, then two passes of Box-Muller) each vectorise.
// `words`: scratch of 4 n/6 entries.
void normals(float* __restrict z, int64_t n, uint32_t row, uint32_t tile, uint64_t seed,
             uint32_t* __restrict words) {
  const uint32_t key0 = (uint32_t)seed, key1 = (uint32_t)(seed >> 32);
  const int64_t G = n / kPerDraw;
  uint32_t* __restrict w0 = words;
  uint32_t* __restrict w1 = words + G;
  uint32_t* __restrict w2 = words + 2 * G;
  uint32_t* __restrict w3 = words + 3 * G;
  for (int64_t g = 0; g < G; ++g) {
    uint32_t c0 = (uint32_t)g, c1 = row, c2 = tile, c3 = 0u, k0 = key0, k1 = key1;
#pragma GCC unroll 7
    for (int r = 0; r < kRounds; ++r) {
      const uint64_t p0 = (uint64_t)0xD2511F53u * c0;
      const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
      const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
      const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
      c1 = (uint32_t)p1;
      c3 = (uint32_t)p0;
      c0 = n0;
      c2 = n2;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    w0[g] = c0;
    w1[g] = c1;
    w2[g] = c2;
    w3[g] = c3;
  }
  // Integer to float through int32: exact below 2^24, and it vectorises.
  const float i24 = 1.0f / 16777216.0f, i16 = 1.0f / 65536.0f;
  float* __restrict z0 = z;
  float* __restrict z1 = z + G;
  float* __restrict z2 = z + 2 * G;
  float* __restrict z3 = z + 3 * G;
  for (int64_t g = 0; g < G; ++g) {
    const float ra = std::sqrt(-2.0f * std::log((float)(int32_t)((w0[g] >> 8) + 1) * i24));
    const float rb = std::sqrt(-2.0f * std::log((float)(int32_t)((w1[g] >> 8) + 1) * i24));
    const int32_t tb = (int32_t)(((w0[g] & 0xffu) << 8) | (w1[g] & 0xffu));
    float sa, ca, sb, cb;
    sincos_2pi((float)(int32_t)(w3[g] >> 8) * i24, &sa, &ca);
    sincos_2pi((float)tb * i16, &sb, &cb);
    z0[g] = ra * ca;
    z1[g] = ra * sa;
    z2[g] = rb * cb;
    z3[g] = rb * sb;
  }
  float* __restrict z4 = z + 4 * G;
  float* __restrict z5 = z + 5 * G;
  for (int64_t g = 0; g < G; ++g) {
    const float rc = std::sqrt(-2.0f * std::log((float)(int32_t)((w2[g] >> 8) + 1) * i24));
    const int32_t tc = (int32_t)(((w2[g] & 0xffu) << 8) | (w3[g] & 0xffu));
    float sc, cc;
    sincos_2pi((float)tc * i16, &sc, &cc);
    z4[g] = rc * cc;
    z5[g] = rc * sc;
  }
}

// ADC codes of one tile output row (before clamping): q[k] = src[k] gain +
// noise z[k], rounded when the ADC quantises; k < n. One definition for the
// MVM epilogue and the drift-compensation read-out.
inline void adc_codes(float* __restrict q, const float* __restrict src, int64_t n, float gain,
                      float noise, const float* __restrict z, int round_adc) {
  if (noise > 0.0f) {
    for (int64_t k = 0; k < n; ++k) q[k] = src[k] * gain + noise * z[k];
  } else {
    for (int64_t k = 0; k < n; ++k) q[k] = src[k] * gain;
  }
  if (round_adc)
    for (int64_t k = 0; k < n; ++k) q[k] = std::nearbyint(q[k]);
}

// f(r0, r1) over rows [0, n) in contiguous ranges, on `threads` OpenMP
// threads when the library was built with OpenMP. At run time the OpenMP
// runtime is the one torch already loaded (same soname), so these are
// torch's own worker threads, awake right after its GEMMs. Results depend
// on the row only, never on the split.
template <class F>
int64_t over_rows(int64_t n, int threads, F f) {
#ifdef _OPENMP
  if (threads > 1 && n > 1) {
    int64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
      total += f(n * t / k, n * (t + 1) / k);
    }
    return total;
  }
#else
  (void)threads;
#endif
  return f(0, n);
}

}  // namespace

extern "C" {

int analora_openmp() {
#ifdef _OPENMP
  return 1;
#else
  return 0;
#endif
}

// x: [rows, c] contiguous (rows = N * n_in). a_out: [rows]. lim <= 0: no clamp.
void analora_dac(const float* x, int64_t c, float step, int scaling, int quantise, float lim,
                 float* codes, float* a_out, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * c;
    float* cr = codes + r * c;
    float a = 1.0f;
    if (scaling) {
      float mx = 0.0f;
      for (int64_t k = 0; k < c; ++k) mx = std::fmax(mx, std::fabs(xr[k]));
      a = mx > 0.0f ? mx : 1.0f;
    }
    a_out[r] = a;
    const float inv = 1.0f / (a * step);
    for (int64_t k = 0; k < c; ++k) cr[k] = xr[k] * inv;
    if (quantise) {
      for (int64_t k = 0; k < c; ++k) cr[k] = std::nearbyint(cr[k]);
      if (lim > 0.0f)
        for (int64_t k = 0; k < c; ++k) cr[k] = std::fmin(std::fmax(cr[k], -lim), lim);
    }
  }
}

// acc: [n_in, N, out] GEMM results (contiguous), times gain in ADC codes; rf: [n_in, N]
// row factors (a * s_out); scale: [n_in, out] or null; bias: [out] or null;
// bound <= 0: no ADC range. Writes y [N, out] and flags [n_in, N]; a row
// with any flagged tile gets its codes (all tiles) written back into acc.
// Returns the number of such rows in [r0, r1).
int64_t analora_epilogue(float* acc, int64_t n_in, int64_t N, int64_t out, float gain,
                         const float* rf, const float* scale, const float* bias, float noise,
                         int round_adc,
                         float bound, uint64_t seed, float* y, uint8_t* flags, int64_t r0,
                         int64_t r1) {
  const int64_t padded = (out + kPerDraw - 1) / kPerDraw * kPerDraw;
  std::vector<float> z(padded), q((size_t)(n_in * out));
  std::vector<uint32_t> words(4 * padded / kPerDraw);
  int64_t flagged = 0;
  for (int64_t n = r0; n < r1; ++n) {
    bool any = false;
    for (int64_t i = 0; i < n_in; ++i) {
      const float* a = acc + (i * N + n) * out;
      float* qi = q.data() + i * out;
      if (noise > 0.0f)
        normals(z.data(), padded, (uint32_t)n, (uint32_t)i, seed, words.data());
      adc_codes(qi, a, out, gain, noise, z.data(), round_adc);
      if (bound > 0.0f) {
        float mx = 0.0f;
        for (int64_t o = 0; o < out; ++o) mx = std::fmax(mx, std::fabs(qi[o]));
        flags[i * N + n] = mx > bound;
        any = any || mx > bound;
      }
    }
    if (any) {  // codes before clamping: bound management re-runs the row
      ++flagged;
      for (int64_t i = 0; i < n_in; ++i)
        std::memcpy(acc + (i * N + n) * out, q.data() + i * out, sizeof(float) * out);
    }
    float* yn = y + n * out;
    for (int64_t o = 0; o < out; ++o) yn[o] = bias ? bias[o] : 0.0f;
    for (int64_t i = 0; i < n_in; ++i) {
      float* qi = q.data() + i * out;
      const float r = rf[i * N + n];
      if (bound > 0.0f)
        for (int64_t o = 0; o < out; ++o) qi[o] = std::fmin(std::fmax(qi[o], -bound), bound);
      if (scale) {
        const float* s = scale + i * out;
        for (int64_t o = 0; o < out; ++o) yn[o] += qi[o] * r * s[o];
      } else {
        for (int64_t o = 0; o < out; ++o) yn[o] += qi[o] * r;
      }
    }
  }
  return flagged;
}

// PCM programming (the formulas of analora.hardware.pcm, fused): for each
// normalised weight of rows [r0, r1) (rows of c weights, tile max wmax[row]),
// the active device targets |w| g_max / wmax, the idle one 0 S; each gets
// programming noise sigma(G) z and a drift exponent |mu(G) + sigma_nu(G) z|.
// coeffs: the sigma polynomial, lowest power first (n_coeffs <= 8).
// Writes gp and nu, each [2, rows, c]: index 0 is G+, 1 is G-.
void analora_pcm_program(const float* w, const float* wmax, int64_t rows, int64_t c,
                         const float* coeffs, int n_coeffs, float g_max, float coeffs_g_max,
                         float prog_scale, float drift_scale, uint64_t seed, float* gp,
                         float* nu, int64_t r0, int64_t r1) {
  const int64_t padded = (c + kPerDraw - 1) / kPerDraw * kPerDraw;
  std::vector<float> z(4 * padded), g(c), sigma(c);
  std::vector<uint32_t> words(4 * padded / kPerDraw);
  const float floor_rel = 1e-7f, sig_unit = g_max / coeffs_g_max;
  // The idle device (G = 0): constants of the same formulas.
  const float sigma0 = coeffs[0] * sig_unit, log0 = std::log(floor_rel);
  const float mu0 = std::fmin(std::fmax(-0.0155f * log0 + 0.0244f, 0.049f), 0.1f);
  const float sn0 = std::fmin(std::fmax(-0.0125f * log0 - 0.0059f, 0.008f), 0.045f);
  for (int64_t r = r0; r < r1; ++r) {
    for (uint32_t k = 0; k < 4; ++k)
      normals(z.data() + k * padded, padded, (uint32_t)r, k, seed, words.data());
    const float* zpa = z.data();
    const float* zpi = z.data() + padded;
    const float* zna = z.data() + 2 * padded;
    const float* zni = z.data() + 3 * padded;
    const float* wr = w + r * c;
    const float k_scale = g_max / std::fmax(wmax[r], floor_rel);
    for (int64_t j = 0; j < c; ++j) {
      g[j] = std::fmin(std::fmax(std::fabs(wr[j]) * k_scale, 0.0f), g_max);
      sigma[j] = coeffs[n_coeffs - 1];
    }
    for (int k = n_coeffs - 2; k >= 0; --k) {
      const float ck = coeffs[k];
      for (int64_t j = 0; j < c; ++j) sigma[j] = sigma[j] * (g[j] / g_max) + ck;
    }
    float* gp0 = gp + r * c;
    float* gp1 = gp + rows * c + r * c;
    float* nu0 = nu + r * c;
    float* nu1 = nu + rows * c + r * c;
    for (int64_t j = 0; j < c; ++j) {
      const float ga = std::fmax(g[j] + prog_scale * sigma[j] * sig_unit * zpa[j], 0.0f);
      const float gi = std::fmax(prog_scale * sigma0 * zpi[j], 0.0f);
      const float lg = std::log(std::fmax(g[j] / g_max, floor_rel));
      const float mu = std::fmin(std::fmax(-0.0155f * lg + 0.0244f, 0.049f), 0.1f);
      const float sn = std::fmin(std::fmax(-0.0125f * lg - 0.0059f, 0.008f), 0.045f);
      const float na = std::fabs(mu + sn * zna[j]) * drift_scale;
      const float ni = std::fabs(mu0 + sn0 * zni[j]) * drift_scale;
      const bool pos = wr[j] > 0.0f;
      gp0[j] = pos ? ga : gi;
      gp1[j] = pos ? gi : ga;
      nu0[j] = pos ? na : ni;
      nu1[j] = pos ? ni : na;
    }
  }
}

// PCM read at an age (the formulas of analora.hardware.pcm, fused): for each
// device of rows [r0, r1), G_d = G_prog exp(nu log_drift) (log_drift =
// -ln((t + t0) / t0), 0 at t = 0), then G = max(0, G_d + |G_d| Q_s(G_prog)
// read_scale z) (read_scale: the noise scale times the 1/f time factor);
// w = (G+ - G-) wmax[row] / g_max. gp, nu: [2, rows, c]; w: [rows, c].
// Noise streams: (row, 0) for G+, (row, 1) for G-.
void analora_pcm_read(const float* gp, const float* nu, const float* wmax, int64_t rows,
                      int64_t c, float g_max, float log_drift, float read_scale, uint64_t seed,
                      float* w, int64_t r0, int64_t r1) {
  const int64_t padded = (c + kPerDraw - 1) / kPerDraw * kPerDraw;
  std::vector<float> z(2 * padded), g(2 * c);
  std::vector<uint32_t> words(4 * padded / kPerDraw);
  // max((G / g_max)^0.65, 1e-3) = max(G / g_max, 1e-3^(1 / 0.65))^0.65: the
  // floor is applied before the power, so pow never sees 0.
  const float x_floor = 2.4245463e-5f, inv_g_max = 1.0f / g_max;
  for (int64_t r = r0; r < r1; ++r) {
    if (read_scale > 0.0f)
      for (uint32_t k = 0; k < 2; ++k)
        normals(z.data() + k * padded, padded, (uint32_t)r, k, seed, words.data());
    for (int64_t d = 0; d < 2; ++d) {
      const float* gpr = gp + d * rows * c + r * c;
      const float* nur = nu + d * rows * c + r * c;
      const float* zr = z.data() + d * padded;
      float* gr = g.data() + d * c;
      if (log_drift != 0.0f)
        for (int64_t j = 0; j < c; ++j) gr[j] = gpr[j] * std::exp(nur[j] * log_drift);
      else
        for (int64_t j = 0; j < c; ++j) gr[j] = gpr[j];
      if (read_scale > 0.0f)
        for (int64_t j = 0; j < c; ++j) {
          const float x = std::fmax(std::fabs(gpr[j]) * inv_g_max, x_floor);
          const float q = std::fmin(0.0088f * std::exp(-0.65f * std::log(x)), 0.2f);
          gr[j] = std::fmax(gr[j] + std::fabs(gr[j]) * q * read_scale * zr[j], 0.0f);
        }
      else
        for (int64_t j = 0; j < c; ++j) gr[j] = std::fmax(gr[j], 0.0f);
    }
    const float k = wmax[r] * inv_g_max;
    float* wr = w + r * c;
    for (int64_t j = 0; j < c; ++j) wr[j] = (g[j] - g[c + j]) * k;
  }
}

// The identity read-out of global drift compensation, reduced: tile input k
// driven alone (DAC code `code`, every other input 0) gives output o the ADC
// code round(gain code w[i][o][k] + noise z); sums[i out + o] is the sum over
// k < c_in[i] of its clamped |code| (the caller scales by the row factor and
// averages per tile). w: [n_in, out, c] packed weights. Noise stream (o, i):
// one per tile column, its draws over k. Returns the number of columns in
// [r0, r1) (rows i out + o) where some code passed the bound (the caller then
// takes the general path, which applies bound management).
int64_t analora_identity_readout(const float* w, int64_t n_in, int64_t out, int64_t c,
                                 const int64_t* c_in, float code, float gain, float noise,
                                 int round_adc, float bound, uint64_t seed, float* sums,
                                 int64_t r0, int64_t r1) {
  const int64_t padded = (c + kPerDraw - 1) / kPerDraw * kPerDraw;
  std::vector<float> z(padded), q(c);
  std::vector<uint32_t> words(4 * padded / kPerDraw);
  const float k_gain = code * gain;
  int64_t saturated = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t i = r / out, o = r % out, n = c_in[i];
    const float* wr = w + (i * out + o) * c;
    if (noise > 0.0f)
      normals(z.data(), padded, (uint32_t)o, (uint32_t)i, seed, words.data());
    adc_codes(q.data(), wr, n, k_gain, noise, z.data(), round_adc);
    float total = 0.0f;
    if (bound > 0.0f) {
      float mx = 0.0f;
      for (int64_t k = 0; k < n; ++k) mx = std::fmax(mx, std::fabs(q[k]));
      saturated += mx > bound;
      for (int64_t k = 0; k < n; ++k) total += std::fmin(std::fabs(q[k]), bound);
    } else {
      for (int64_t k = 0; k < n; ++k) total += std::fabs(q[k]);
    }
    sums[r] = total;
  }
  return saturated;
}

// Row-parallel entry points (over_rows): each kernel above over rows [0, n).
int64_t analora_dac_rows(const float* x, int64_t c, float step, int scaling, int quantise,
                         float lim, float* codes, float* a_out, int64_t n, int threads) {
  return over_rows(n, threads, [&](int64_t r0, int64_t r1) {
    analora_dac(x, c, step, scaling, quantise, lim, codes, a_out, r0, r1);
    return (int64_t)0;
  });
}

int64_t analora_epilogue_rows(float* acc, int64_t n_in, int64_t N, int64_t out, float gain,
                              const float* rf, const float* scale, const float* bias,
                              float noise, int round_adc, float bound, uint64_t seed, float* y,
                              uint8_t* flags, int64_t n, int threads) {
  return over_rows(n, threads, [&](int64_t r0, int64_t r1) {
    return analora_epilogue(acc, n_in, N, out, gain, rf, scale, bias, noise, round_adc, bound,
                            seed, y, flags, r0, r1);
  });
}

int64_t analora_pcm_program_rows(const float* w, const float* wmax, int64_t rows, int64_t c,
                                 const float* coeffs, int n_coeffs, float g_max,
                                 float coeffs_g_max, float prog_scale, float drift_scale,
                                 uint64_t seed, float* gp, float* nu, int64_t n, int threads) {
  return over_rows(n, threads, [&](int64_t r0, int64_t r1) {
    analora_pcm_program(w, wmax, rows, c, coeffs, n_coeffs, g_max, coeffs_g_max, prog_scale,
                        drift_scale, seed, gp, nu, r0, r1);
    return (int64_t)0;
  });
}

int64_t analora_pcm_read_rows(const float* gp, const float* nu, const float* wmax, int64_t rows,
                              int64_t c, float g_max, float log_drift, float read_scale,
                              uint64_t seed, float* w, int64_t n, int threads) {
  return over_rows(n, threads, [&](int64_t r0, int64_t r1) {
    analora_pcm_read(gp, nu, wmax, rows, c, g_max, log_drift, read_scale, seed, w, r0, r1);
    return (int64_t)0;
  });
}

int64_t analora_identity_readout_rows(const float* w, int64_t n_in, int64_t out, int64_t c,
                                      const int64_t* c_in, float code, float gain, float noise,
                                      int round_adc, float bound, uint64_t seed, float* sums,
                                      int64_t n, int threads) {
  return over_rows(n, threads, [&](int64_t r0, int64_t r1) {
    return analora_identity_readout(w, n_in, out, c, c_in, code, gain, noise, round_adc, bound,
                                    seed, sums, r0, r1);
  });
}

}  // extern "C"
"""

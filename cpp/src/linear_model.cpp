// Least squares by pivoted QR with extended-precision refinement (see linear_model.hpp).
#include "perfstats/linear_model.hpp"

#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "perfstats/detail/parallel.hpp"

namespace perfstats {
namespace {

using Eigen::Index;

std::string show(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

// Power of two nearest the root mean square of a column: scaling by it is exact.
long double power_of_two_scale(const MatrixXld& a, Index j) {
  const long double rms = std::sqrt(a.col(j).squaredNorm() / static_cast<long double>(a.rows()));
  if (!(rms > 0) || !std::isfinite(rms)) return 1;
  int e = 0;
  (void)std::frexp(rms, &e);
  return std::ldexp(1.0L, e);
}

struct Solution {
  VectorXld coef;          // internal basis
  MatrixXld unscaled_cov;  // (A'A)^-1, internal basis
  VectorXld residuals;     // b - A coef, weighted
};

// Relative size of the smallest pivot below which a column counts as dependent. Above
// this the double factorisation still preconditions the long double refinement well.
constexpr double kRankThreshold = 1e-11;
constexpr int kMaxRefinements = 12;
constexpr long double kConvergedRelative = 1e-13L;

// (A'A)^-1 refined as X <- X + M (I - G X): M an approximate inverse from the double R,
// G the Gram matrix accumulated in long double. Converges while cond(A)^2 eps < 1.
MatrixXld refine_inverse(const MatrixXld& gram, const MatrixXld& m) {
  const Index p = gram.rows();
  MatrixXld inv = m;
  long double previous = std::numeric_limits<long double>::infinity();
  for (int it = 0; it < kMaxRefinements; ++it) {
    const MatrixXld e = MatrixXld::Identity(p, p) - gram * inv;
    const MatrixXld delta = m * e;
    inv += delta;
    const long double change = delta.cwiseAbs().maxCoeff();
    const long double size = inv.cwiseAbs().maxCoeff();
    if (!(change > 8 * std::numeric_limits<long double>::epsilon() * size)) break;
    if (change > 0.5L * previous) {
      if (change < kConvergedRelative * size) break;
      throw std::domain_error(
          "refinement of the coefficient covariance does not converge: the design is too "
          "ill-conditioned (nearly collinear columns)");
    }
    previous = change;
  }
  return (0.5L * (inv + inv.transpose())).eval();
}

// Least squares min ||b - A c|| for A (n x p) of full column rank. Large inputs make
// every pass count, so the long double loops below are written out and fused.
Solution solve(MatrixXld a, const VectorXld& b) {
  const Index n = a.rows();
  const Index p = a.cols();
  VectorXld scale(p);
  for (Index j = 0; j < p; ++j) {
    scale(j) = power_of_two_scale(a, j);
    a.col(j) /= scale(j);
  }
  Eigen::MatrixXd ad = a.cast<double>();
  // In place: the factorisation overwrites `ad` rather than copying it.
  Eigen::ColPivHouseholderQR<Eigen::Ref<Eigen::MatrixXd>> qr(ad);
  qr.setThreshold(kRankThreshold);
  if (qr.rank() < p) {
    std::ostringstream os;
    os << "design matrix is rank deficient: rank " << qr.rank() << " of " << p
       << " columns; column(s)";
    const auto& perm = qr.colsPermutation().indices();
    for (Index k = qr.rank(); k < p; ++k) os << ' ' << perm(k);
    os << " (0-based, intercept first) are linear combinations of the others";
    throw std::invalid_argument(os.str());
  }
  const auto r = qr.matrixR().topLeftCorner(p, p).triangularView<Eigen::Upper>();
  const auto& perm = qr.colsPermutation();

  // One step of Bjorck's refinement: solves [I A; A' 0][dr; dx] = [f; g] with the QR.
  // On return f holds dr.
  auto step = [&](Eigen::VectorXd& f, const Eigen::VectorXd& g, Eigen::VectorXd& dx) {
    const Eigen::VectorXd u = r.transpose().solve(perm.transpose() * g);
    f.applyOnTheLeft(qr.householderQ().adjoint());
    dx = perm * r.solve(f.head(p) - u).eval();
    f.head(p) = u;
    f.applyOnTheLeft(qr.householderQ());
  };

  VectorXld x(p);
  VectorXld res(n);
  Eigen::VectorXd f = b.cast<double>();
  Eigen::VectorXd g = Eigen::VectorXd::Zero(p);
  Eigen::VectorXd dx;
  step(f, g, dx);
  x = dx.cast<long double>();
  for (Index i = 0; i < n; ++i) res(i) = f(i);
  std::vector<long double> gl(static_cast<std::size_t>(p));
  long double previous = std::numeric_limits<long double>::infinity();
  for (int it = 0; it < kMaxRefinements; ++it) {
    // f = b - res - A x and g = -A' res, accumulated in long double.
    std::fill(gl.begin(), gl.end(), 0.0L);
    for (Index i = 0; i < n; ++i) {
      long double acc = b(i) - res(i);
      for (Index k = 0; k < p; ++k) {
        const long double aik = a(i, k);
        acc -= aik * x(k);
        gl[static_cast<std::size_t>(k)] -= aik * res(i);
      }
      f(i) = static_cast<double>(acc);
    }
    for (Index k = 0; k < p; ++k) g(k) = static_cast<double>(gl[static_cast<std::size_t>(k)]);
    step(f, g, dx);
    for (Index k = 0; k < p; ++k) x(k) += dx(k);
    for (Index i = 0; i < n; ++i) res(i) += f(i);
    const long double change = dx.cwiseAbs().maxCoeff();
    const long double size = x.cwiseAbs().maxCoeff();
    if (!(change > 8 * std::numeric_limits<long double>::epsilon() * size)) break;
    if (change > 0.5L * previous) {
      // Stagnation at the rounding floor of the long double residuals is convergence;
      // a large correction that stops shrinking means the double factorisation cannot
      // precondition the problem.
      if (change < kConvergedRelative * size) break;
      throw std::domain_error(
          "least squares refinement does not converge: the design is too ill-conditioned "
          "(nearly collinear columns)");
    }
    previous = change;
  }
  // The residual of the refined solution, recomputed in long double, and the Gram matrix.
  MatrixXld gram = MatrixXld::Zero(p, p);
  for (Index i = 0; i < n; ++i) {
    long double acc = b(i);
    for (Index k = 0; k < p; ++k) acc -= a(i, k) * x(k);
    res(i) = acc;
  }
  for (Index j = 0; j < p; ++j) {
    for (Index k = 0; k <= j; ++k) {
      long double acc = 0;
      const long double* cj = a.col(j).data();
      const long double* ck = a.col(k).data();
      for (Index i = 0; i < n; ++i) acc += cj[i] * ck[i];
      gram(j, k) = acc;
      gram(k, j) = acc;
    }
  }

  Eigen::MatrixXd rinv = r.solve(Eigen::MatrixXd::Identity(p, p));
  const Eigen::MatrixXd m0 = perm * (rinv * rinv.transpose()) * perm.transpose();
  const MatrixXld inv = refine_inverse(gram, m0.cast<long double>());

  Solution s;
  s.coef = x.cwiseQuotient(scale);
  s.unscaled_cov = scale.cwiseInverse().asDiagonal() * inv * scale.cwiseInverse().asDiagonal();
  s.residuals = std::move(res);
  return s;
}

void check_finite(const Eigen::Ref<const Eigen::VectorXd>& v, const char* name) {
  // x - x is 0 for finite x and NaN otherwise: one vectorised sum clears the usual case,
  // the loop below names the row.
  if ((v.array() - v.array()).sum() == 0.0) return;
  for (Index i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v(i))) {
      throw std::invalid_argument(std::string(name) + " must be finite, got " + show(v(i)) +
                                  " at row " + std::to_string(i));
    }
  }
}

double t_two_sided_p(double t, double df) {
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0.0;
  const boost::math::students_t dist(df);
  return 2.0 * boost::math::cdf(boost::math::complement(dist, std::fabs(t)));
}


// What either solver hands back: internal coefficients and (A'WA)^-1, sums of squares,
// unweighted residuals.
struct FitResult {
  VectorXld coef;
  MatrixXld unscaled_cov;
  long double rss = 0;
  long double tss = 0;
  Eigen::VectorXd residuals;
  bool extended = true;  // refined in long double
};

long double root_weight(const Eigen::Ref<const Eigen::VectorXd>& w, Index i) {
  return w.size() > 0 ? std::sqrt(static_cast<long double>(w(i))) : 1.0L;
}

FitResult fit_dense(const DesignRows& rows, const Eigen::Ref<const Eigen::VectorXd>& y,
                    const Eigen::Ref<const Eigen::VectorXd>& w, bool has_constant) {
  const Index n = rows.rows();
  const Index p = rows.cols();
  MatrixXld a(n, p);
  rows.fill(0, n, a);
  VectorXld sw(n);
  VectorXld b(n);
  for (Index i = 0; i < n; ++i) {
    sw(i) = root_weight(w, i);
    b(i) = sw(i) * static_cast<long double>(y(i));
    if (w.size() > 0) a.row(i) *= sw(i);
  }
  Solution sol = solve(std::move(a), b);
  FitResult out;
  out.rss = sol.residuals.squaredNorm();
  if (has_constant) {
    const long double ybar = sw.cwiseProduct(b).sum() / sw.squaredNorm();
    out.tss = (b - ybar * sw).squaredNorm();
  } else {
    out.tss = b.squaredNorm();
  }
  out.residuals = sol.residuals.cwiseQuotient(sw).cast<double>();
  out.coef = std::move(sol.coef);
  out.unscaled_cov = std::move(sol.unscaled_cov);
  return out;
}

constexpr Index kBlock = 512;

// ---- streamed fits: the double-precision fast path --------------------------------
//
// An orthogonal factorisation, never the normal equations: a Householder QR of each
// block of rows [sqrt(W) A | sqrt(W) b] in double, the blocks' triangles merged pairwise
// (a tall-skinny QR), x0 from R x0 = Q'b in long double; then one refinement step
// x1 = x0 + (R'R)^-1 A'W(b - A x0) with residuals in double (corrected semi-normal
// equations, Bjorck, Numerical Methods for Least Squares Problems, 1996, 6.6.5): two
// passes over the rows, both vectorised. The result is kept only when the bound below,
// evaluated from the fit itself, is at most kFastPathTolerance.
//
// Error argument. u = 2^-53; all norms are 2-norms of the weighted problem in the
// column-scaled basis (powers of two: exact); k = cond(A), ||A|| = sigma_max(A),
// beta = ||b|| / (||A|| ||x||), q = ||r|| / (||A|| ||x||), x the exact solution for the
// exact rows, r its residual; gamma = (kBlock + 2) u / (1 - (kBlock + 2) u)
// + (n / kBlock + 1) 2^-64 (the error of a block sum of kBlock products, the block
// totals added in long double).
//  (1) Rows in double. Entry (i, k) of fill_double's rows is within
//      rel |a_ik| + abs of the exact one (DesignRows::double_rows_error), so column k is
//      within e_A = max_k (rel + abs sqrt(sum w) / ||a_k||) of it, relative in the
//      weighted 2-norm, and ||dA|| <= ||dA||_F <= e ||A||, e = sqrt(p) e_A. This is a
//      perturbation of the problem: by Wedin's theorem (Higham, Accuracy and Stability
//      of Numerical Algorithms, 2nd ed., Thm 20.1) its solution moves by at most
//      E1 = k e / (1 - k e) (2 + (k + 1) q) relative, and its residual norm by at most
//      e ||A|| ||x||. Below, x and r are those of the rounded rows.
//  (2) Factorisation. R and Q'b are exact for rows perturbed column-wise by at most
//      eta (see the code), so with Wedin again ||x0 - x|| / ||x|| <= E0 =
//      k eta / (1 - k eta) (2 + (k + 1) beta) (q <= beta), and R'R is the Gram matrix of
//      the perturbed rows: ||R'R - A'WA|| <= (2 eta + eta^2) ||A||^2, so with
//      rho = k^2 (2 eta + eta^2) / (1 - k^2 (2 eta + eta^2)), ||I - (R'R)^-1 A'WA|| <= rho.
//      The p x p solves in long double add about p^2 k^2 2^-64, covered by the factor 2.
//  (3) Refinement. r0 = b - A x0 is computed in double from x0 rounded to double, so
//      |dr_i| <= (p + 2) u (|b_i| + |a_i| |x0|), ||dr|| <= (p + 2) u (||b|| + sqrt(p)
//      ||A|| ||x0||); the sums g = A'W r0 add gamma |A|'W|r0|. With Gc = R'R, G = A'WA,
//      x1 - x = (I - Gc^-1 G)(x0 - x) + Gc^-1 (A'W dr + dg) and ||I - Gc^-1 G|| <= rho,
//      ||Gc^-1 A'W|| <= (1 + rho) k / ||A||, ||Gc^-1|| <= (1 + rho) k^2 / ||A||^2:
//      ||x1 - x|| / ||x|| <= E2 = rho E0 + (1 + rho) [k (p + 2) u (beta + sqrt(p)) (1 + E0)
//                                     + k^2 gamma sqrt(p) (q + E0)].
//      E1 + E2 bounds the coefficients' error.
//  (4) Sums of squares. rss is summed from r0 (the residuals kept): ||r0|| differs
//      from ||r|| by the rounding ||dr||, the design's e ||A|| ||x|| and, since r is
//      orthogonal to range(A), by at most ||A|| ||x0 - x||^2 / (2 ||r||). With
//      d = [(p + 2) u (beta + sqrt(p)) (1 + E0) + e] / q + E0^2 / (2 q^2), the relative
//      error of rss is at most 2 d + d^2 + gamma. With a constant, tss >= rss and its
//      terms are rounded alike, so it is no worse.
// The norms above come from the computed R, x0 and rss; their own relative errors (rho,
// E0, d, all far below 1 when the bound passes) are covered by a factor of 2.
constexpr double kUnit = 0x1p-53;

// Adds the vectorised block sum `v` into a long double total.
inline void add_to(long double& total, double v) { total += static_cast<long double>(v); }

// The rows of a streamed design in blocks of this many: long enough that a Householder QR
// per block costs little beyond reading the rows.
constexpr Index kQrBlock = 4 * kBlock;

// One pass over the rows of a streamed design: a Householder QR of each block of
// [sqrt(W) A | sqrt(W) y] (threads take ranges of blocks), then the blocks' triangles merged
// pairwise in block order (a tall-skinny QR; the result does not depend on the number of
// threads), and the sums of w, w y and w y^2.
struct BlockFactor {
  Eigen::MatrixXd r;  // (p + 1) x (p + 1), upper triangular: R and Q'b
  long double wsum = 0;
  long double wy = 0;
  long double wyy = 0;
  Index levels = 0;  // merges each row went through
};

// A Householder QR of the first m rows of `a`, in place: R in the upper triangle of its
// top rows, scratch below. The textbook algorithm (Golub and Van Loan, 4th ed., Alg.
// 5.2.1) with each reflector u = x - beta e1 left unnormalised, H = I - u u' / (beta
// (beta - x_0)) with beta (beta - x_0) = |x| (|x| + |x_0|): no division pass, the step's
// norm and dot products in one matrix-vector pass, then one update per column. Each
// quantity is formed as in Higham's Lemmas 19.1-19.3, so the backward error of
// Theorem 19.4 (used in the fast path's bound below) applies unchanged.
void householder_triangle(Eigen::Ref<Eigen::MatrixXd> a, Index m) {
  const Index c = a.cols();
  Eigen::VectorXd dots(c);
  for (Index k = 0; k < std::min(m - 1, c); ++k) {
    const Index len = m - k - 1;
    const auto tail = a.col(k).segment(k + 1, len);
    // |tail|^2 and tail' a_j for the columns j > k, in one pass
    dots.head(c - k).noalias() = a.block(k + 1, k, len, c - k).transpose() * tail;
    const double sigma = dots(0);
    if (sigma == 0) continue;  // column k is already triangular: H = I
    const double x0 = a(k, k);
    const double norm = std::sqrt(x0 * x0 + sigma);
    const double u0 = x0 >= 0 ? x0 + norm : x0 - norm;  // x_0 - beta, no cancellation
    const double inv = 1.0 / (norm * (norm + std::fabs(x0)));
    for (Index j = k + 1; j < c; ++j) {
      const double f = (u0 * a(k, j) + dots(j - k)) * inv;
      a(k, j) -= f * u0;
      a.col(j).segment(k + 1, len) -= f * tail;
    }
    a(k, k) = x0 >= 0 ? -norm : norm;
  }
}

BlockFactor factorise_blocks(const DesignRows& rows, const Eigen::Ref<const Eigen::VectorXd>& y,
                             const Eigen::Ref<const Eigen::VectorXd>& w) {
  const Index n = rows.rows();
  const Index p = rows.cols();
  const Index q1 = p + 1;
  const Index blocks = (n + kQrBlock - 1) / kQrBlock;
  const auto rows_n = static_cast<std::size_t>(n);
  // Block b's triangle in columns [b q1, (b + 1) q1), storage allocated once.
  Eigen::MatrixXd tri = Eigen::MatrixXd::Zero(q1, q1 * blocks);
  Eigen::MatrixXd sums(3, blocks);  // sum w, sum wy, sum wy^2
  detail::parallel_ranges(rows_n, kQrBlock, detail::thread_count(0, rows_n),
                          [&](std::size_t first, std::size_t last) {
    Eigen::MatrixXd ab(kQrBlock, q1);
    for (auto begin = static_cast<Index>(first); begin < static_cast<Index>(last);
         begin += kQrBlock) {
      const Index count = std::min(kQrBlock, n - begin);
      rows.fill_double(begin, count, ab.leftCols(p));
      const auto yb = y.segment(begin, count);
      auto m = ab.topRows(count);
      m.col(p) = yb;
      auto col = sums.col(begin / kQrBlock);
      if (w.size() > 0) {
        const auto wb = w.segment(begin, count);
        m.array().colwise() *= wb.array().sqrt();
        col(0) = wb.sum();
        col(1) = wb.dot(yb);
        col(2) = (wb.array() * yb.array().square()).sum();
      } else {
        col(0) = static_cast<double>(count);
        col(1) = yb.sum();
        col(2) = yb.squaredNorm();
      }
      householder_triangle(ab, count);
      const Index top = std::min(count, q1);
      tri.block(0, begin / kQrBlock * q1, top, q1) =
          m.topRows(top).triangularView<Eigen::Upper>();
    }
  });
  BlockFactor f;
  Eigen::MatrixXd pair(2 * q1, q1);
  for (Index step = 1; step < blocks; step *= 2, ++f.levels) {
    for (Index i = 0; i + step < blocks; i += 2 * step) {
      pair << tri.middleCols(i * q1, q1), tri.middleCols((i + step) * q1, q1);
      householder_triangle(pair, 2 * q1);
      tri.middleCols(i * q1, q1) = pair.topRows(q1).triangularView<Eigen::Upper>();
    }
  }
  f.r = tri.leftCols(q1);
  for (Index b = 0; b < blocks; ++b) {
    add_to(f.wsum, sums(0, b));
    add_to(f.wy, sums(1, b));
    add_to(f.wyy, sums(2, b));
  }
  return f;
}

std::optional<FitResult> fit_streaming_fast(const DesignRows& rows,
                                            const Eigen::Ref<const Eigen::VectorXd>& y,
                                            const Eigen::Ref<const Eigen::VectorXd>& w,
                                            bool has_constant, bool keep_residuals,
                                            const BlockFactor& factor) {
  const Index n = rows.rows();
  const Index p = rows.cols();
  const bool weighted = w.size() > 0;
  const auto rows_n = static_cast<std::size_t>(n);
  const Index q1 = p + 1;
  const long double bb = factor.wyy;
  const long double wsum = factor.wsum;
  const long double wy = factor.wy;
  // R and Q'b of the whole design; columns scaled by powers of two (exact) so that k is
  // that of the scaled design (column norms of R are those of sqrt(W) A).
  const Eigen::MatrixXd& rfull = factor.r;
  Eigen::VectorXd col_norm(p);  // of sqrt(W) A
  VectorXld inv_d(p);
  for (Index k = 0; k < p; ++k) {
    col_norm(k) = rfull.col(k).head(p).norm();
    if (!(col_norm(k) > 0)) return std::nullopt;  // a zero column: the slow path reports it
    int e = 0;
    (void)std::frexp(col_norm(k), &e);
    inv_d(k) = std::ldexp(1.0L, -e);
  }
  const MatrixXld rs = rfull.topLeftCorner(p, p).cast<long double>() * inv_d.asDiagonal();
  // R is square: JacobiSVD's QR preconditioner (for rectangular input) never runs.
  using SquareSvd = Eigen::JacobiSVD<Eigen::MatrixXd, Eigen::NoQRPreconditioner>;
  const Eigen::VectorXd sv = SquareSvd(rs.cast<double>()).singularValues();
  if (!(sv(p - 1) > 0)) return std::nullopt;
  const double pd = static_cast<double>(p);
  const double gamma = static_cast<double>(kBlock + 2) * kUnit /
                           (1.0 - static_cast<double>(kBlock + 2) * kUnit) +
                       static_cast<double>(n / kBlock + 1) * 0x1p-64;
  const double k = sv(0) / sv(p - 1);
  const double norm_a = sv(0);
  // Backward error of the factorisation, column by column (Higham, Thm 19.4: a
  // Householder QR of an m x c matrix is exact for columns perturbed by at most
  // gamma~_{mc} of their norms, gamma~_j = c0 j u / (1 - c0 j u), c0 a small constant
  // that we take as 16; the weighting adds 3u). Each row goes through one block QR
  // (kQrBlock x (p + 1)) and `levels` merges (2(p + 1) x (p + 1)), each an orthogonal
  // map of an exactly perturbed input whose column norms it preserves, so to first
  // order the perturbations add; the factor 2 below covers the higher orders.
  const auto tilde = [](double j) { return 16.0 * j * kUnit / (1.0 - 16.0 * j * kUnit); };
  const double qp = static_cast<double>(q1);
  const double eta = std::sqrt(pd) * (tilde(static_cast<double>(kQrBlock) * qp) +
                                      static_cast<double>(factor.levels) * tilde(2.0 * qp * qp) +
                                      3.0 * kUnit);
  // ||R'R - A'WA|| <= (2 eta + eta^2) ||A||^2 (R'R is the Gram matrix of the perturbed
  // rows), so ||I - (R'R)^-1 A'WA|| <= rho; R x0 = Q'b solves the perturbed least
  // squares problem, within E0 of x by Wedin's theorem (below; q <= beta).
  const double kk = k * k * (2.0 * eta + eta * eta);
  if (!(kk < 0x1p-20)) return std::nullopt;  // far too ill-conditioned to pass
  const double rho = kk / (1.0 - kk);
  const MatrixXld rs_inv =
      rs.triangularView<Eigen::Upper>().solve(MatrixXld::Identity(p, p));
  const VectorXld xs0 = rs_inv * rfull.col(p).head(p).cast<long double>();
  const double norm_x = static_cast<double>(xs0.norm());
  if (!(norm_x > 0)) return std::nullopt;  // b orthogonal to range(A): no relative bound
  const double beta = std::sqrt(static_cast<double>(bb)) / (norm_a * norm_x);
  const DesignRows::Error rows_error = rows.double_rows_error();
  double e_col = 0;
  for (Index j = 0; j < p; ++j) {
    e_col = std::max(e_col, rows_error.relative +
                                rows_error.absolute *
                                    static_cast<double>(std::sqrt(wsum)) / col_norm(j));
  }
  const double e_a = std::sqrt(pd) * e_col;
  const double e0 = k * eta / (1.0 - k * eta) * (2.0 + (k + 1.0) * beta);
  const double rounding = (pd + 2.0) * kUnit * (beta + std::sqrt(pd)) * (1.0 + e0);
  // Everything but the terms in q (not known before the residual pass) must pass already.
  if (!(2.0 * (k * e_a * 2.0 + rho * e0 + (1.0 + rho) * k * rounding) <=
        kFastPathTolerance)) {
    return std::nullopt;
  }

  const VectorXld x0 = inv_d.cwiseProduct(xs0);
  const Eigen::VectorXd xd = x0.cast<double>();
  FitResult out;
  // Residuals go straight to the output when kept, else through a block buffer.
  out.residuals.resize(keep_residuals ? n : 0);
  const double ybar = static_cast<double>(wy / wsum);
  const Index sum_blocks = (n + kBlock - 1) / kBlock;
  Eigen::MatrixXd sums2(p + 2, sum_blocks);  // A'W r, rss, tss
  detail::parallel_ranges(rows_n, kBlock, detail::thread_count(0, rows_n),
                          [&](std::size_t first, std::size_t last) {
    Eigen::MatrixXd block(kBlock, p);
    Eigen::VectorXd buffer(keep_residuals ? 0 : kBlock);
    Eigen::VectorXd wr(weighted ? kBlock : 0);
    for (auto begin = static_cast<Index>(first); begin < static_cast<Index>(last);
         begin += kBlock) {
      const Index count = std::min(kBlock, n - begin);
      rows.fill_double(begin, count, block);
      const auto a = block.topRows(count);
      const auto yb = y.segment(begin, count);
      auto r = keep_residuals ? out.residuals.segment(begin, count) : buffer.head(count);
      r = yb;
      r.noalias() -= a * xd;
      auto col = sums2.col(begin / kBlock);
      if (weighted) {
        const auto wb = w.segment(begin, count);
        auto wrb = wr.head(count);
        wrb = wb.cwiseProduct(r);
        for (Index j = 0; j < p; ++j) col(j) = a.col(j).dot(wrb);
        col(p) = wrb.dot(r);
        col(p + 1) = has_constant ? (wb.array() * (yb.array() - ybar).square()).sum()
                                  : (wb.array() * yb.array().square()).sum();
      } else {
        for (Index j = 0; j < p; ++j) col(j) = a.col(j).dot(r);
        col(p) = r.squaredNorm();
        col(p + 1) = has_constant ? (yb.array() - ybar).square().sum() : yb.squaredNorm();
      }
    }
  });
  VectorXld g = VectorXld::Zero(p);
  long double rss = 0;
  long double tss = 0;
  for (Index b = 0; b < sum_blocks; ++b) {
    for (Index j = 0; j < p; ++j) add_to(g(j), sums2(j, b));
    add_to(rss, sums2(p, b));
    add_to(tss, sums2(p + 1, b));
  }
  const double q = std::sqrt(static_cast<double>(rss)) / (norm_a * norm_x);
  if (!(q > 0)) return std::nullopt;  // an exact fit: no relative bound on rss
  const double e1 = k * e_a / (1.0 - k * e_a) * (2.0 + (k + 1.0) * q);
  const double e2 = rho * e0 + (1.0 + rho) * (k * rounding +
                                              k * k * gamma * std::sqrt(pd) * (q + e0));
  const double d = (rounding + e_a) / q + e0 * e0 / (2.0 * q * q);
  const double rss_error = 2.0 * d + d * d + gamma;
  if (!(2.0 * std::max(e1 + e2, rss_error) <= kFastPathTolerance)) return std::nullopt;

  // (R'R)^-1 in the internal basis; x1 = x0 + (R'R)^-1 g.
  const MatrixXld inv_s = rs_inv * rs_inv.transpose();
  const MatrixXld inv = inv_d.asDiagonal() * inv_s * inv_d.asDiagonal();
  out.coef = x0 + inv * g;
  out.unscaled_cov = (0.5L * (inv + inv.transpose())).eval();
  out.rss = rss;
  out.tss = tss;
  out.extended = false;
  return out;
}

// From the blocked factorisation, corrected semi-normal-equation refinement with long
// double residuals (see linear_model.hpp).
FitResult fit_streaming(const DesignRows& rows, const Eigen::Ref<const Eigen::VectorXd>& y,
                        const Eigen::Ref<const Eigen::VectorXd>& w, bool has_constant,
                        bool keep_residuals, const BlockFactor& factor) {
  const Index n = rows.rows();
  const Index p = rows.cols();
  MatrixXld block(kBlock, p);
  // The factorisation only preconditions the refinement below (rounded weighting is fine).
  const Eigen::MatrixXd& rt = factor.r;
  const long double wsum = factor.wsum;
  const long double wy = factor.wy;
  // Column norms of R are those of A: scale by powers of two, then a pivoted QR of the
  // small R decides the rank exactly as the dense path does.
  Eigen::MatrixXd r = rt.topLeftCorner(p, p);
  VectorXld scale(p);
  for (Index k = 0; k < p; ++k) {
    const double norm = r.col(k).norm() / std::sqrt(static_cast<double>(n));
    int e = 0;
    (void)std::frexp(norm, &e);
    scale(k) = norm > 0 ? std::ldexp(1.0L, e) : 1.0L;
    r.col(k) /= static_cast<double>(scale(k));
  }
  // In place on a copy, with the dense path's QR type: one instantiation of the
  // decomposition instead of two (compile time). rank() reads the threshold when asked.
  Eigen::MatrixXd factored = r;
  Eigen::ColPivHouseholderQR<Eigen::Ref<Eigen::MatrixXd>> small(factored);
  small.setThreshold(kRankThreshold);
  if (small.rank() < p) {
    std::ostringstream os;
    os << "design matrix is rank deficient: rank " << small.rank() << " of " << p
       << " columns; column(s)";
    const auto& perm = small.colsPermutation().indices();
    for (Index k = small.rank(); k < p; ++k) os << ' ' << perm(k);
    os << " (0-based, intercept first) are linear combinations of the others";
    throw std::invalid_argument(os.str());
  }
  const Eigen::MatrixXd rinv = small.inverse();
  const VectorXld inv_scale = scale.cwiseInverse();
  // M ~ (A'WA)^-1 in the caller's internal basis, from R alone.
  const MatrixXld m = inv_scale.asDiagonal() *
                      (rinv * rinv.transpose()).cast<long double>() * inv_scale.asDiagonal();
  VectorXld x = inv_scale.cwiseProduct(small.solve(rt.col(p).head(p)).cast<long double>());

  const Eigen::VectorXd sv =
      Eigen::JacobiSVD<Eigen::MatrixXd, Eigen::NoQRPreconditioner>(r).singularValues();
  const long double cond = sv(0) / sv(p - 1);
  const long double contraction =
      16 * cond * cond * static_cast<long double>(std::numeric_limits<double>::epsilon());

  FitResult out;
  out.residuals.resize(keep_residuals ? n : 0);
  const long double ybar = wy / wsum;
  VectorXld g(p);
  VectorXld res(kBlock);
  const bool weighted = w.size() > 0;
  long double previous = std::numeric_limits<long double>::infinity();
  for (int it = 0; it < kMaxRefinements; ++it) {
    g.setZero();
    long double rss = 0;
    for (Index begin = 0; begin < n; begin += kBlock) {
      const Index count = std::min(kBlock, n - begin);
      rows.fill(begin, count, block);
      // Residuals, rss and (first pass) tss in one sweep over the rows; then column-wise
      // reductions with one scalar accumulator each: long double accumulators kept in
      // memory would stall on every update.
      long double rss_block = 0;
      long double tss_block = 0;
      if (weighted) {
        for (Index i = 0; i < count; ++i) {
          const long double sw = std::sqrt(static_cast<long double>(w(begin + i)));
          block.row(i) *= sw;
          const long double bi = sw * static_cast<long double>(y(begin + i));
          long double ri = bi;
          for (Index k = 0; k < p; ++k) ri -= block(i, k) * x(k);
          res(i) = ri;
          rss_block += ri * ri;
          if (keep_residuals) out.residuals(begin + i) = static_cast<double>(ri / sw);
          const long double c = has_constant ? bi - ybar * sw : bi;
          tss_block += c * c;
        }
      } else {
        for (Index i = 0; i < count; ++i) {
          const long double bi = static_cast<long double>(y(begin + i));
          long double ri = bi;
          for (Index k = 0; k < p; ++k) ri -= block(i, k) * x(k);
          res(i) = ri;
          rss_block += ri * ri;
          if (keep_residuals) out.residuals(begin + i) = static_cast<double>(ri);
          const long double c = has_constant ? bi - ybar : bi;
          tss_block += c * c;
        }
      }
      for (Index k = 0; k < p; ++k) {
        // Two accumulators: x87 additions are latency bound.
        long double acc0 = 0;
        long double acc1 = 0;
        const long double* col = block.col(k).data();
        Index i = 0;
        for (; i + 1 < count; i += 2) {
          acc0 += col[i] * res(i);
          acc1 += col[i + 1] * res(i + 1);
        }
        if (i < count) acc0 += col[i] * res(i);
        g(k) += acc0 + acc1;
      }
      rss += rss_block;
      if (it == 0) out.tss += tss_block;
    }
    out.rss = rss;
    const VectorXld dx = m * g;
    x += dx;
    const long double change = dx.cwiseAbs().maxCoeff();
    const long double size = x.cwiseAbs().maxCoeff();
    if (!(change > 8 * std::numeric_limits<long double>::epsilon() * size)) break;
    // Each step shrinks the error by about cond^2 eps: when the next correction would be
    // below long double rounding, this one was the last that mattered, and another pass
    // over the rows would only confirm it. (rss is stationary at the optimum, so the sums
    // of this pass are good to second order in the correction.)
    if (contraction * change <= std::numeric_limits<long double>::epsilon() * size) break;
    if (change > 0.5L * previous) {
      // No longer contracting: the corrections are the rounding of the residual sums.
      // Accept the accuracy the fast path promises.
      if (change < kFastPathTolerance * size) break;
      throw std::domain_error(
          "least squares refinement does not converge: the design is too ill-conditioned "
          "(nearly collinear columns)");
    }
    previous = change;
  }
  out.coef = std::move(x);
  // (A'WA)^-1 straight from the blocked R: with this many rows its relative error
  // (about cond * eps) is far below the sampling error of the variance estimate.
  out.unscaled_cov = (0.5L * (m + m.transpose())).eval();
  return out;
}

}  // namespace

namespace {

// Caller's columns, centred when there is an intercept (with a constant column first)
// and multiplied by powers of two (exact) that bring their largest magnitude near 1, so
// that no square overflows or underflows in double whatever the caller's units.
class CentredColumns final : public DesignRows {
 public:
  CentredColumns(const Eigen::Ref<const Eigen::MatrixXd>& x, const VectorXld& centre,
                 const VectorXld& scale, bool intercept)
      : x_(x), centre_(centre), scale_(scale), off_(intercept ? 1 : 0) {}
  Index rows() const override { return x_.rows(); }
  Index cols() const override { return x_.cols() + off_; }
  void fill(Index begin, Index count, MatrixXld& out) const override {
    for (Index i = 0; i < count; ++i) {
      if (off_ == 1) out(i, 0) = 1;
      for (Index j = 0; j < x_.cols(); ++j) {
        out(i, off_ + j) =
            (static_cast<long double>(x_(begin + i, j)) - centre_(j)) * scale_(j);
      }
    }
  }

 private:
  const Eigen::Ref<const Eigen::MatrixXd>& x_;
  const VectorXld& centre_;
  const VectorXld& scale_;
  Index off_;
};

void check_finite_matrix(const Eigen::Ref<const Eigen::MatrixXd>& x, const char* name) {
  for (Index j = 0; j < x.cols(); ++j) {
    for (Index i = 0; i < x.rows(); ++i) {
      if (!std::isfinite(x(i, j))) {
        throw std::invalid_argument(std::string(name) + " must be finite, got " +
                                    show(x(i, j)) + " at row " + std::to_string(i) +
                                    ", column " + std::to_string(j));
      }
    }
  }
}

}  // namespace

DesignRows::Error DesignRows::double_rows_error() const {
  // Long double rows (relative error 2^-64 or so per entry) rounded to double.
  return {0x1p-52, 0.0};
}

void DesignRows::fill_double(Eigen::Index begin, Eigen::Index count,
                             Eigen::Ref<Eigen::MatrixXd> out) const {
  MatrixXld rows_ld(count, cols());
  fill(begin, count, rows_ld);
  out.topRows(count) = rows_ld.cast<double>();
}

LinearModel::LinearModel(const Eigen::Ref<const Eigen::MatrixXd>& x,
                         const Eigen::Ref<const Eigen::VectorXd>& y, bool intercept,
                         const Eigen::Ref<const Eigen::VectorXd>& weights)
    : intercept_(intercept) {
  const Index n = x.rows();
  const Index k = x.cols();
  if (y.size() != n) {
    throw std::invalid_argument("y has " + std::to_string(y.size()) + " rows but x has " +
                                std::to_string(n));
  }
  check_finite_matrix(x, "x");
  const Index p = k + (intercept ? 1 : 0);
  if (p == 0) throw std::invalid_argument("model has no columns: x is empty and no intercept");
  DesignBasis basis;
  basis.to_reported = MatrixXld::Identity(p, p);
  basis.has_constant = intercept;
  centre_ = VectorXld::Zero(k);
  column_scale_ = VectorXld::Ones(k);
  const Index off = intercept ? 1 : 0;
  for (Index j = 0; j < k && n > 0; ++j) {
    // Centring removes the collinearity of each column with the constant.
    if (intercept) {
      centre_(j) = x.col(j).cast<long double>().sum() / static_cast<long double>(n);
    }
    const long double largest = std::max(x.col(j).maxCoeff() - centre_(j),
                                         centre_(j) - x.col(j).minCoeff());
    if (largest > 0) {
      int e = 0;
      (void)std::frexp(largest, &e);
      column_scale_(j) = std::ldexp(1.0L, -e);
    }
    // internal column = (x_j - c_j) s_j: b_j = s_j beta_j, b_0 = beta_0 - sum c_j s_j beta_j
    basis.to_reported(off + j, off + j) = column_scale_(j);
    if (intercept) basis.to_reported(0, 1 + j) = -centre_(j) * column_scale_(j);
  }
  const CentredColumns rows(x, centre_, column_scale_, intercept);
  basis.rows = &rows;
  fit(basis, y, weights);
}

LinearModel::LinearModel(const DesignBasis& basis, const Eigen::Ref<const Eigen::VectorXd>& y,
                         const Eigen::Ref<const Eigen::VectorXd>& weights) {
  fit(basis, y, weights);
}

void LinearModel::fit(const DesignBasis& basis, const Eigen::Ref<const Eigen::VectorXd>& y,
                      const Eigen::Ref<const Eigen::VectorXd>& weights) {
  if (basis.rows == nullptr) throw std::invalid_argument("design basis has no rows");
  const Index n = basis.rows->rows();
  const Index p = basis.rows->cols();
  if (y.size() != n) {
    throw std::invalid_argument("y has " + std::to_string(y.size()) +
                                " rows but the design has " + std::to_string(n));
  }
  // Streamed fits check y after their first pass over it (below).
  if (n <= kDenseMaxRows) check_finite(y, "y");
  if (weights.size() > 0) {
    if (weights.size() != n) {
      throw std::invalid_argument("weights has " + std::to_string(weights.size()) +
                                  " rows but y has " + std::to_string(n));
    }
    for (Index i = 0; i < n; ++i) {
      if (!(weights(i) > 0) || !std::isfinite(weights(i))) {
        throw std::invalid_argument("weights must be positive and finite, got " +
                                    show(weights(i)) + " at row " + std::to_string(i));
      }
    }
  }
  if (n <= p) {
    throw std::invalid_argument("too few observations: " + std::to_string(n) +
                                " rows for " + std::to_string(p) +
                                " parameters; need at least " + std::to_string(p + 1) +
                                " to estimate the residual variance");
  }
  nobs_ = static_cast<std::size_t>(n);
  has_constant_ = basis.has_constant;

  FitResult fr;
  if (n <= kDenseMaxRows) {
    fr = fit_dense(*basis.rows, y, weights, has_constant_);
    if (!basis.keep_residuals) fr.residuals.resize(0);
  } else {
    // One factorisation serves the fast path and, when its bound fails, the refinement.
    const auto streamed = [&](const Eigen::Ref<const Eigen::VectorXd>& yy,
                              const BlockFactor& factor) {
      if (auto fast = fit_streaming_fast(*basis.rows, yy, weights, has_constant_,
                                         basis.keep_residuals, factor)) {
        return std::move(*fast);
      }
      return fit_streaming(*basis.rows, yy, weights, has_constant_, basis.keep_residuals,
                           factor);
    };
    const BlockFactor factor = factorise_blocks(*basis.rows, y, weights);
    const auto wyy = static_cast<double>(factor.wyy);
    // A NaN or infinite y makes the sum of w y^2 non-finite, and so does a y whose
    // squares overflow: y is scanned only then, to name the row.
    if (!std::isfinite(wyy)) check_finite(y, "y");
    const double big = std::isfinite(wyy) && wyy >= 0x1p-900 ? 0.0 : y.cwiseAbs().maxCoeff();
    if (big > 0 && (!std::isfinite(wyy) || big < 0x1p-400)) {
      // Squares of y overflow or underflow in double: fit y times a power of two (exact)
      // and scale the results back.
      int e = 0;
      (void)std::frexp(big, &e);
      const Eigen::VectorXd scaled = std::ldexp(1.0, -e) * y;
      fr = streamed(scaled, factorise_blocks(*basis.rows, scaled, weights));
      const long double up = std::ldexp(1.0L, e);
      fr.coef *= up;
      fr.rss *= up * up;
      fr.tss *= up * up;
      fr.residuals *= static_cast<double>(up);
    } else {
      fr = streamed(y, factor);
    }
  }
  extended_precision_ = fr.extended;
  internal_coef_ = std::move(fr.coef);
  internal_unscaled_cov_ = std::move(fr.unscaled_cov);
  to_reported_ = basis.to_reported;
  residuals_ = std::move(fr.residuals);

  scale_ = fr.rss / static_cast<long double>(n - p);
  ssr_ = static_cast<double>(fr.rss);
  residual_se_ = static_cast<double>(std::sqrt(scale_));
  r_squared_ = fr.tss > 0 ? static_cast<double>(1.0L - fr.rss / fr.tss)
                          : std::numeric_limits<double>::quiet_NaN();

  const VectorXld coef = to_reported_ * internal_coef_;
  const MatrixXld cov = scale_ * (to_reported_ * internal_unscaled_cov_ * to_reported_.transpose());
  coef_ = coef.cast<double>();
  cov_ = cov.cast<double>();
  se_ = cov.diagonal().cwiseMax(0.0L).cwiseSqrt().cast<double>();
}

Eigen::VectorXd LinearModel::t_values() const { return coef_.cwiseQuotient(se_); }

Eigen::VectorXd LinearModel::p_values() const {
  const Eigen::VectorXd t = t_values();
  Eigen::VectorXd p(t.size());
  for (Index i = 0; i < t.size(); ++i) p(i) = t_two_sided_p(t(i), df_resid());
  return p;
}

double LinearModel::adj_r_squared() const noexcept {
  const double n = static_cast<double>(nobs_);
  const double dfm = has_constant_ ? 1.0 : 0.0;
  return 1.0 - (n - dfm) / df_resid() * (1.0 - r_squared_);
}

double LinearModel::t_quantile(double level) const {
  if (!(level > 0 && level < 1)) {
    throw std::invalid_argument("level must be in (0, 1), got " + show(level));
  }
  const boost::math::students_t dist(df_resid());
  return boost::math::quantile(boost::math::complement(dist, (1.0 - level) / 2.0));
}

Prediction LinearModel::predict(const Eigen::Ref<const Eigen::MatrixXd>& x_new,
                                IntervalKind kind, double level) const {
  const Index k = centre_.size();
  if (x_new.cols() != k) {
    throw std::invalid_argument("x_new has " + std::to_string(x_new.cols()) +
                                " columns but the model was fitted on " + std::to_string(k));
  }
  check_finite_matrix(x_new, "x_new");
  return predict_design(CentredColumns(x_new, centre_, column_scale_, intercept_), kind, level);
}

Prediction LinearModel::predict_design(const DesignRows& design_new, IntervalKind kind,
                                       double level) const {
  const Index m = design_new.rows();
  Prediction out;
  out.mean.resize(m);
  out.se.resize(m);
  out.lower.resize(m);
  out.upper.resize(m);
  predict_design_into(design_new, kind, level, {out.mean, out.se, out.lower, out.upper});
  return out;
}

void LinearModel::predict_design_into(const DesignRows& design_new, IntervalKind kind,
                                      double level, PredictionOut out) const {
  const Index p = internal_coef_.size();
  if (design_new.cols() != p) {
    throw std::invalid_argument("design has " + std::to_string(design_new.cols()) +
                                " columns, expected " + std::to_string(p));
  }
  const Index m = design_new.rows();
  const bool with_se = out.se.size() > 0;
  if (out.mean.size() != m || (with_se && out.se.size() != m) || out.lower.size() != m ||
      out.upper.size() != m) {
    throw std::invalid_argument("prediction outputs must have " + std::to_string(m) +
                                " entries each (se may be empty)");
  }
  const double q = t_quantile(level);
  const double extra = kind == IntervalKind::prediction ? static_cast<double>(scale_) : 0.0;
  const double s2 = static_cast<double>(scale_);
  // The internal basis is well conditioned, so the products below lose nothing in
  // double; plain loops over blocks of rows avoid n x p copies and tiny-GEMM overhead.
  const Eigen::VectorXd coef = internal_coef_.cast<double>();
  const Eigen::MatrixXd cov = internal_unscaled_cov_.cast<double>();
  const Index rows = std::min(kBlock, m);
  Eigen::MatrixXd bd(rows, p);
  Eigen::MatrixXd bc(rows, p);
  Eigen::ArrayXd quad(rows);
  Eigen::ArrayXd se_block(with_se ? 0 : rows);
  // Column-wise block products and one write per output element: the loops vectorise and
  // each output page is touched once.
  for (Index begin = 0; begin < m; begin += kBlock) {
    const Index count = std::min(kBlock, m - begin);
    design_new.fill_double(begin, count, bd);
    const auto a = bd.topRows(count);
    bc.topRows(count).noalias() = a * cov;
    quad.head(count) = a.cwiseProduct(bc.topRows(count)).rowwise().sum().array();
    auto mean = out.mean.segment(begin, count);
    mean.noalias() = a * coef;
    Eigen::Map<Eigen::ArrayXd> se(with_se ? out.se.data() + begin : se_block.data(), count);
    se = (s2 * quad.head(count) + extra).max(0.0).sqrt();
    out.lower.segment(begin, count).array() = mean.array() - q * se;
    out.upper.segment(begin, count).array() = mean.array() + q * se;
  }
}

double LinearModel::internal_contrast(const VectorXld& g) const {
  return static_cast<double>(g.dot(internal_coef_));
}

double LinearModel::internal_contrast_se(const VectorXld& g) const {
  const long double var = scale_ * g.dot(internal_unscaled_cov_ * g);
  return static_cast<double>(std::sqrt(std::max(var, 0.0L)));
}

}  // namespace perfstats

//! Latency distribution estimates from per-statement interval moments.
//!
//! pg_stat_statements keeps no histogram, only per-statement call counts, sums and population
//! standard deviations. From two readings pgvitals gets, per statement and per poll interval,
//! the exact count, mean and standard deviation of the execution times. This module turns those
//! moments into a distribution.
//!
//! **Model**: each statement's execution time in the interval is taken as log-normal, fitted by
//! moment matching (σ² = ln(1 + s²/m²), μ = ln m − σ²/2). Latencies are positive and
//! right-skewed, which a log-normal is and a normal is not. A statement with a zero standard
//! deviation (one call, or identical calls) is a point mass at its mean. The interval's whole
//! workload is the mixture of its statements weighted by their call counts; the fraction under a
//! threshold is the mixture's CDF there, and a quantile is found by bisection on that CDF.
//!
//! **Error**: the mixture is exact in its weights, means and variances; the error comes from the
//! shape within one statement. For statements whose times cluster tightly (most OLTP) the
//! estimate is close; a statement whose times are bimodal (cache hit vs. miss) is smoothed, so
//! its tail can be off. The integration tests measure it against client-side timings and report
//! the figures (see README).

/// One statement's (or bucket's) interval moments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Executions in the interval.
    pub calls: f64,
    /// Mean execution time, seconds.
    pub mean: f64,
    /// Population standard deviation of execution time, seconds.
    pub stddev: f64,
}

/// A fitted log-normal (or a point mass when `sigma` is 0).
#[derive(Debug, Clone, Copy)]
struct LogNormal {
    mu: f64,
    sigma: f64,
    point: f64,
}

impl LogNormal {
    fn fit(m: &Moments) -> Option<LogNormal> {
        if m.calls.is_nan()
            || m.calls <= 0.0
            || m.mean.is_nan()
            || m.mean <= 0.0
            || !m.mean.is_finite()
        {
            return None;
        }
        let cv2 = (m.stddev / m.mean).powi(2);
        if cv2.is_nan() || cv2 <= 1e-12 {
            return Some(LogNormal {
                mu: m.mean.ln(),
                sigma: 0.0,
                point: m.mean,
            });
        }
        let sigma2 = cv2.ln_1p();
        Some(LogNormal {
            mu: m.mean.ln() - sigma2 / 2.0,
            sigma: sigma2.sqrt(),
            point: m.mean,
        })
    }

    fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        if self.sigma == 0.0 {
            return if x >= self.point { 1.0 } else { 0.0 };
        }
        normal_cdf((x.ln() - self.mu) / self.sigma)
    }

    fn quantile(&self, q: f64) -> f64 {
        if self.sigma == 0.0 {
            return self.point;
        }
        (self.mu + self.sigma * normal_quantile(q)).exp()
    }
}

/// Estimated `q`-quantile (0 < q < 1) of one statement's execution time, seconds.
pub fn quantile_of(m: &Moments, q: f64) -> Option<f64> {
    LogNormal::fit(m).map(|d| d.quantile(q))
}

/// The call-weighted mixture of statements' fitted distributions.
#[derive(Debug, Clone)]
pub struct Mixture {
    parts: Vec<(f64, LogNormal)>,
    total: f64,
}

impl Mixture {
    /// Builds the mixture; statements with no calls or a non-positive mean carry no weight
    /// (a zero mean means executions too fast to time: they count as under any threshold).
    pub fn new<'a>(statements: impl IntoIterator<Item = &'a Moments>) -> Mixture {
        let mut parts = Vec::new();
        let mut total = 0.0;
        for m in statements {
            if m.calls.is_nan() || m.calls <= 0.0 {
                continue;
            }
            total += m.calls;
            let fitted = LogNormal::fit(m).unwrap_or(LogNormal {
                mu: f64::NEG_INFINITY,
                sigma: 0.0,
                point: 0.0,
            });
            parts.push((m.calls, fitted));
        }
        Mixture { parts, total }
    }

    /// Executions in the mixture.
    pub fn calls(&self) -> f64 {
        self.total
    }

    /// Estimated fraction of executions that took at most `x` seconds; `None` with no calls.
    /// Within [`CDF_RESOLUTION`] of 0 or 1 it is 0 or 1: finer is below the estimate's accuracy
    /// (and would read as `1.353e-55%`).
    pub fn cdf(&self, x: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let s: f64 = self.parts.iter().map(|(w, d)| w * d.cdf(x)).sum();
        Some(match (s / self.total).clamp(0.0, 1.0) {
            f if f < CDF_RESOLUTION => 0.0,
            f if f > 1.0 - CDF_RESOLUTION => 1.0,
            f => f,
        })
    }

    /// Estimated `q`-quantile of all executions, seconds; `None` with no calls.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        // Statements too fast to time (zero mean) are a point mass at 0: when they hold q of
        // the calls, the quantile is 0.
        let zero: f64 = self
            .parts
            .iter()
            .filter(|(_, d)| d.point <= 0.0)
            .map(|(w, _)| w)
            .sum();
        if zero >= q * self.total {
            return Some(0.0);
        }
        // Bracket: the per-part quantiles at q bound the mixture's quantile; a zero part's is
        // 0, so with one present the lower end is open.
        let mut lo = f64::INFINITY;
        let mut hi = 0.0f64;
        for (_, d) in &self.parts {
            let v = d.quantile(q);
            if v > 0.0 {
                lo = lo.min(v);
            }
            hi = hi.max(v);
        }
        if hi <= 0.0 {
            return Some(0.0);
        }
        if zero > 0.0 || !lo.is_finite() || lo <= 0.0 {
            lo = hi * 1e-9;
        }
        let (mut lo, mut hi) = (lo.ln(), hi.ln());
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if self.cdf(mid.exp()).unwrap_or(0.0) < q {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-6 {
                break;
            }
        }
        Some(hi.exp())
    }
}

/// The finest fraction [`Mixture::cdf`] tells from 0 or 1: [`normal_cdf`]'s error bound.
pub const CDF_RESOLUTION: f64 = 1.2e-7;

/// Standard normal CDF, via erfc (W. J. Cody-grade accuracy is not needed: |error| < 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// erfc by the Numerical Recipes Chebyshev fit (fractional error < 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Standard normal quantile (Acklam's rational approximation, refined by one Newton step).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let plow = 0.02425;
    let x = if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Newton step on the CDF.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_functions_agree_with_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.644_853_6) - 0.95).abs() < 1e-6);
        assert!((normal_cdf(-2.326_347_9) - 0.01).abs() < 1e-6);
        assert!((normal_quantile(0.95) - 1.644_853_6).abs() < 1e-6);
        assert!((normal_quantile(0.99) - 2.326_347_9).abs() < 1e-6);
        assert!((normal_quantile(0.001) + 3.090_232_3).abs() < 1e-5);
    }

    #[test]
    fn lognormal_fit_reproduces_its_moments() {
        // A log-normal with mu=ln(0.01), sigma=0.5 has known mean, sd and p95.
        let (mu, sigma) = (0.01f64.ln(), 0.5f64);
        let mean = (mu + sigma * sigma / 2.0).exp();
        let sd = mean * ((sigma * sigma).exp() - 1.0).sqrt();
        let m = Moments {
            calls: 100.0,
            mean,
            stddev: sd,
        };
        let p95 = quantile_of(&m, 0.95).unwrap();
        let want = (mu + sigma * 1.644_853_6).exp();
        assert!((p95 / want - 1.0).abs() < 1e-6, "{p95} vs {want}");
    }

    fn moments(calls: f64, mean: f64, stddev: f64) -> Moments {
        Moments {
            calls,
            mean,
            stddev,
        }
    }

    #[test]
    fn mixture_of_fast_and_slow_statements() {
        let (fast, slow) = (moments(950.0, 0.001, 0.0001), moments(50.0, 0.2, 0.001));
        let mix = Mixture::new([&fast, &slow]);
        assert!((mix.cdf(0.1).unwrap() - 0.95).abs() < 1e-9);
        // Far in the tails: exactly 0 and 1, not 1e-57.
        assert_eq!(mix.cdf(1e-9), Some(0.0));
        assert_eq!(mix.cdf(1e9), Some(1.0));
        let p99 = mix.quantile(0.99).unwrap();
        assert!((p99 - 0.2).abs() < 0.01, "{p99}");
        let p90 = mix.quantile(0.90).unwrap();
        assert!(p90 < 0.0015, "{p90}");
        assert_eq!(Mixture::new([]).cdf(0.1), None);
    }

    #[test]
    fn point_masses_and_zero_means() {
        let (exact, zero) = (moments(3.0, 0.05, 0.0), moments(1.0, 0.0, 0.0));
        let mix = Mixture::new([&exact, &zero]);
        assert_eq!(mix.cdf(0.049), Some(0.25));
        assert_eq!(mix.cdf(0.05), Some(1.0));
        assert_eq!(quantile_of(&exact, 0.95), Some(0.05));
    }

    #[test]
    fn zero_mean_statements_holding_more_than_q_put_the_quantile_at_zero() {
        // 96 % of the calls too fast to time: the p95 is ~0, not the slow statement's.
        let (zero, slow) = (moments(960.0, 0.0, 0.0), moments(40.0, 0.2, 0.01));
        let mix = Mixture::new([&zero, &slow]);
        let p95 = mix.quantile(0.95).unwrap();
        assert!(p95 < 1e-6, "p95 {p95}");
        // At 99 % the slow statement decides.
        let p99 = mix.quantile(0.99).unwrap();
        assert!((p99 / 0.2 - 1.0).abs() < 0.1, "p99 {p99}");
        // Zero means holding less than q: the quantile may lie below every timed statement's.
        let (zero, a, b) = (
            moments(500.0, 0.0, 0.0),
            moments(400.0, 0.01, 0.001),
            moments(100.0, 0.05, 0.005),
        );
        let mix = Mixture::new([&zero, &a, &b]);
        let p60 = mix.quantile(0.60).unwrap();
        assert!((mix.cdf(p60).unwrap() - 0.60).abs() < 1e-3, "p60 {p60}");
    }
}

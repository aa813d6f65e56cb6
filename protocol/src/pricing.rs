//! Price table and cost maths for renders on Lambda.
//!
//! Lambda bills: duration × memory (GB-seconds, per architecture), a price per request, and
//! ephemeral storage above the free 512 MB (GB-seconds). S3 bills requests. Prices are AWS's
//! public on-demand list prices in USD (AWS price list "AWSLambda" and S3 request tiers), as of
//! 2025; regions missing here have no price: costs there are reported as unknown rather than
//! guessed.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::lambda::Architecture;
use crate::money::Usd;

/// Ephemeral storage Lambda includes for free, MB.
pub const FREE_EPHEMERAL_STORAGE_MB: i64 = 512;

/// Lambda list prices of one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LambdaPrices {
    /// USD per GB-second, x86_64.
    pub gb_second_x86: Decimal,
    /// USD per GB-second, arm64.
    pub gb_second_arm: Decimal,
    /// USD per request (both architectures).
    pub request: Decimal,
    /// USD per GB-second of ephemeral storage above 512 MB (both architectures).
    pub storage_gb_second: Decimal,
}

/// S3 Standard request prices of one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S3Prices {
    /// USD per PUT, COPY, POST or LIST request.
    pub write_request: Decimal,
    /// USD per GET (and other read) request.
    pub read_request: Decimal,
}

/// Prices of one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionPrices {
    /// Region code.
    pub region: &'static str,
    /// Lambda prices.
    pub lambda: LambdaPrices,
    /// S3 request prices, when known for the region.
    pub s3: Option<S3Prices>,
}

/// Decimal from a price literal of the table (scale = digits after the point).
const fn d(mantissa: i64, scale: u32) -> Decimal {
    Decimal::from_parts((mantissa & 0xFFFF_FFFF) as u32, ((mantissa >> 32) & 0xFFFF_FFFF) as u32, 0, false, scale)
}

/// The common Lambda compute prices most regions share.
const STD_X86: Decimal = d(166_667, 10); // 0.0000166667
const STD_ARM: Decimal = d(133_334, 10); // 0.0000133334
const STD_REQUEST: Decimal = d(2, 7); // 0.0000002

/// S3 Standard request prices of the US East/Oregon tier ($0.005 per 1,000 writes, $0.0004 per 1,000 reads).
const S3_US: S3Prices = S3Prices { write_request: d(5, 6), read_request: d(4, 7) };

const fn region(
    region: &'static str,
    gb_second_x86: Decimal,
    gb_second_arm: Decimal,
    request: Decimal,
    storage_gb_second: Decimal,
    s3: Option<S3Prices>,
) -> RegionPrices {
    RegionPrices { region, lambda: LambdaPrices { gb_second_x86, gb_second_arm, request, storage_gb_second }, s3 }
}

/// The price table, by region.
pub const PRICES: &[RegionPrices] = &[
    region("us-east-1", STD_X86, STD_ARM, STD_REQUEST, d(309, 10), Some(S3_US)),
    region("us-east-2", STD_X86, STD_ARM, STD_REQUEST, d(309, 10), Some(S3_US)),
    region(
        "us-west-1",
        STD_X86,
        STD_ARM,
        STD_REQUEST,
        d(370, 10),
        Some(S3Prices { write_request: d(55, 7), read_request: d(44, 8) }),
    ),
    region("us-west-2", STD_X86, STD_ARM, STD_REQUEST, d(309, 10), Some(S3_US)),
    region("af-south-1", d(221_000, 10), d(176_800, 10), d(27, 8), d(404, 10), None),
    region("ap-east-1", d(229_200, 10), d(183_000, 10), d(28, 8), d(407, 10), None),
    region("ap-south-1", STD_X86, STD_ARM, STD_REQUEST, d(352, 10), None),
    region(
        "ap-northeast-1",
        STD_X86,
        STD_ARM,
        STD_REQUEST,
        d(370, 10),
        Some(S3Prices { write_request: d(47, 7), read_request: d(37, 8) }),
    ),
    region("ap-northeast-2", STD_X86, STD_ARM, STD_REQUEST, d(352, 10), None),
    region("ap-northeast-3", STD_X86, STD_ARM, STD_REQUEST, d(370, 10), None),
    region("ap-southeast-1", STD_X86, STD_ARM, STD_REQUEST, d(370, 10), Some(S3_US)),
    region("ap-southeast-2", STD_X86, STD_ARM, STD_REQUEST, d(370, 10), Some(S3_US)),
    region("ap-southeast-4", STD_X86, STD_ARM, STD_REQUEST, d(370, 10), None),
    region("ap-southeast-5", d(150_000, 10), d(120_000, 10), d(18, 8), d(333, 10), None),
    region("ca-central-1", STD_X86, STD_ARM, STD_REQUEST, d(340, 10), None),
    region(
        "eu-central-1",
        STD_X86,
        STD_ARM,
        STD_REQUEST,
        d(367, 10),
        Some(S3Prices { write_request: d(54, 7), read_request: d(43, 8) }),
    ),
    region("eu-central-2", d(183_334, 10), d(146_667, 10), d(22, 8), d(441, 10), None),
    region("eu-west-1", STD_X86, STD_ARM, STD_REQUEST, d(340, 10), Some(S3_US)),
    region(
        "eu-west-2",
        STD_X86,
        STD_ARM,
        STD_REQUEST,
        d(358, 10),
        Some(S3Prices { write_request: d(53, 7), read_request: d(42, 8) }),
    ),
    region("eu-west-3", STD_X86, STD_ARM, STD_REQUEST, d(358, 10), None),
    region("eu-south-1", d(195_172, 10), d(156_138, 10), d(23, 8), d(357, 10), None),
    region("eu-north-1", STD_X86, STD_ARM, STD_REQUEST, d(323, 10), None),
    region("me-south-1", d(206_667, 10), d(165_334, 10), d(25, 8), d(374, 10), None),
    region(
        "sa-east-1",
        STD_X86,
        STD_ARM,
        STD_REQUEST,
        d(586, 10),
        Some(S3Prices { write_request: d(7, 6), read_request: d(56, 8) }),
    ),
];

/// Prices of a region, if the table has it.
pub fn prices_for(region: &str) -> Option<&'static RegionPrices> {
    PRICES.iter().find(|p| p.region == region)
}

/// A cost could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    /// The region is not in the price table.
    #[error("no Lambda prices are known for region {0}: costs cannot be computed there")]
    UnknownRegion(String),
}

/// What a set of Lambda invocations used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaUsage {
    /// Number of invocations.
    pub invocations: u64,
    /// Sum of their billed durations in milliseconds.
    pub billed_milliseconds: u64,
}

impl LambdaUsage {
    /// Adds one invocation of `billed_milliseconds`.
    pub fn record(&mut self, billed_milliseconds: u64) {
        self.invocations += 1;
        self.billed_milliseconds += billed_milliseconds;
    }
}

/// S3 requests made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Usage {
    /// PUT, COPY, POST and LIST requests.
    pub write_requests: u64,
    /// GET and HEAD requests.
    pub read_requests: u64,
}

/// How the function is configured (what each GB-second costs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionShape {
    /// Region of the function.
    pub region: String,
    /// Its architecture.
    pub architecture: Architecture,
    /// Memory, MB.
    pub memory_mb: i64,
    /// Ephemeral storage, MB.
    pub disk_mb: i64,
}

/// A cost and where it comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostBreakdown {
    /// Duration × memory.
    pub compute: Usd,
    /// Requests.
    pub requests: Usd,
    /// Ephemeral storage above 512 MB.
    pub storage: Usd,
    /// S3 requests.
    pub s3: Usd,
    /// The sum.
    pub total: Usd,
    /// False when S3 prices are unknown for the region, so `s3` is not counted.
    pub s3_priced: bool,
}

/// Billed duration of an invocation measured by the function itself: rounded up to 1 ms,
/// as Lambda bills.
pub fn billed_milliseconds_from_duration(duration: std::time::Duration) -> u64 {
    let nanos = duration.as_nanos();
    nanos.div_ceil(1_000_000).try_into().unwrap_or(u64::MAX)
}

/// The cost of Lambda invocations and S3 requests for a function of `shape`.
pub fn cost(shape: &FunctionShape, lambda: LambdaUsage, s3: S3Usage) -> Result<CostBreakdown, PriceError> {
    let prices = prices_for(&shape.region).ok_or_else(|| PriceError::UnknownRegion(shape.region.clone()))?;
    let seconds = Decimal::from(lambda.billed_milliseconds) / Decimal::from(1000);
    let memory_gb = Decimal::from(shape.memory_mb) / Decimal::from(1024);
    let charged_disk_gb = Decimal::from((shape.disk_mb - FREE_EPHEMERAL_STORAGE_MB).max(0)) / Decimal::from(1024);
    let gb_second = match shape.architecture {
        Architecture::X86_64 => prices.lambda.gb_second_x86,
        Architecture::Arm64 => prices.lambda.gb_second_arm,
    };
    let compute = Usd::new(gb_second * memory_gb * seconds);
    let requests = Usd::new(prices.lambda.request * Decimal::from(lambda.invocations));
    let storage = Usd::new(prices.lambda.storage_gb_second * charged_disk_gb * seconds);
    let (s3_cost, s3_priced) = match prices.s3 {
        Some(p) => (
            Usd::new(
                p.write_request * Decimal::from(s3.write_requests) + p.read_request * Decimal::from(s3.read_requests),
            ),
            true,
        ),
        None => (Usd::ZERO, false),
    };
    Ok(CostBreakdown {
        compute,
        requests,
        storage,
        s3: s3_cost,
        total: compute + requests + storage + s3_cost,
        s3_priced,
    })
}

/// What an estimate of a whole render is based on.
#[derive(Clone, Debug, PartialEq)]
pub struct EstimateInput {
    /// The function's configuration.
    pub shape: FunctionShape,
    /// Frames to render.
    pub frames: u64,
    /// Billed milliseconds per frame (from a cost profile, or a default).
    pub per_frame_milliseconds: f64,
    /// Chunks the render is split into (one renderer invocation each).
    pub chunks: u64,
    /// Fixed billed milliseconds per renderer invocation (browser start, page load, upload).
    pub per_chunk_overhead_milliseconds: u64,
    /// Billed milliseconds of the orchestrating invocation (planning, stitching, upload).
    pub orchestrator_milliseconds: u64,
}

/// Estimated total cost of a render: every chunk's frames and overhead, plus the orchestrator,
/// plus one request per invocation.
pub fn estimate(input: &EstimateInput) -> Result<CostBreakdown, PriceError> {
    let frame_ms = (input.frames as f64 * input.per_frame_milliseconds.max(0.0)).ceil() as u64;
    let usage = LambdaUsage {
        invocations: input.chunks + 1,
        billed_milliseconds: frame_ms
            + input.chunks * input.per_chunk_overhead_milliseconds
            + input.orchestrator_milliseconds,
    };
    cost(&input.shape, usage, S3Usage::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(region: &str, architecture: Architecture, memory_mb: i64, disk_mb: i64) -> FunctionShape {
        FunctionShape { region: region.into(), architecture, memory_mb, disk_mb }
    }

    #[test]
    fn issue_example_fifteen_chunks_on_arm_in_us_east_1() {
        // 2048 MB, 15 chunks × 20.1 s on arm64 in us-east-1, 16 requests, 10 GB disk:
        // compute 603 GB-s × 0.0000133334 = 0.0080400402
        // storage 9.5 GB × 301.5 s × 0.0000000309 = 0.0000885045…
        // requests 16 × 0.0000002 = 0.0000032  → 0.0081317…  → "0.00813"
        let usage = LambdaUsage { invocations: 16, billed_milliseconds: 15 * 20_100 };
        let c = cost(&shape("us-east-1", Architecture::Arm64, 2048, 10240), usage, S3Usage::default()).unwrap();
        assert_eq!(c.compute, "0.0080400402".parse().unwrap());
        assert_eq!(c.requests, "0.0000032".parse().unwrap());
        assert_eq!(c.storage, "0.000088505325".parse().unwrap());
        assert_eq!(c.total.display(), "0.00813");
    }

    #[test]
    fn x86_costs_more_per_gb_second_than_arm() {
        let usage = LambdaUsage { invocations: 1, billed_milliseconds: 1000 };
        let arm = cost(&shape("eu-west-1", Architecture::Arm64, 1024, 512), usage, S3Usage::default()).unwrap();
        let x86 = cost(&shape("eu-west-1", Architecture::X86_64, 1024, 512), usage, S3Usage::default()).unwrap();
        assert_eq!(arm.compute, "0.0000133334".parse().unwrap());
        assert_eq!(x86.compute, "0.0000166667".parse().unwrap());
        // 512 MB of disk is free.
        assert_eq!(x86.storage, Usd::ZERO);
    }

    #[test]
    fn s3_requests_are_priced_where_known() {
        let s3 = S3Usage { write_requests: 1000, read_requests: 1000 };
        let c = cost(&shape("us-east-1", Architecture::Arm64, 2048, 512), LambdaUsage::default(), s3).unwrap();
        assert_eq!(c.s3, "0.0054".parse().unwrap());
        assert!(c.s3_priced);
        let c = cost(&shape("ap-south-1", Architecture::Arm64, 2048, 512), LambdaUsage::default(), s3).unwrap();
        assert!(!c.s3_priced);
        assert_eq!(c.total, Usd::ZERO);
    }

    #[test]
    fn unknown_regions_are_an_error_not_a_guess() {
        let err =
            cost(&shape("xx-nowhere-9", Architecture::Arm64, 2048, 512), LambdaUsage::default(), S3Usage::default());
        assert_eq!(err, Err(PriceError::UnknownRegion("xx-nowhere-9".into())));
    }

    #[test]
    fn estimate_adds_overheads_and_the_orchestrator() {
        let input = EstimateInput {
            shape: shape("us-east-1", Architecture::Arm64, 2048, 10240),
            frames: 300,
            per_frame_milliseconds: 1000.0,
            chunks: 15,
            per_chunk_overhead_milliseconds: 100,
            orchestrator_milliseconds: 0,
        };
        // Same usage as the issue example: 300 s of frames + 15 × 100 ms, 16 invocations.
        let e = estimate(&input).unwrap();
        let direct =
            cost(&input.shape, LambdaUsage { invocations: 16, billed_milliseconds: 301_500 }, S3Usage::default())
                .unwrap();
        assert_eq!(e, direct);
    }

    #[test]
    fn billed_duration_rounds_up_to_the_millisecond() {
        use std::time::Duration;
        assert_eq!(billed_milliseconds_from_duration(Duration::from_micros(1)), 1);
        assert_eq!(billed_milliseconds_from_duration(Duration::from_millis(20)), 20);
        assert_eq!(billed_milliseconds_from_duration(Duration::from_micros(20_001)), 21);
        assert_eq!(billed_milliseconds_from_duration(Duration::ZERO), 0);
    }

    #[test]
    fn table_has_unique_regions_and_sane_prices() {
        let mut seen = std::collections::HashSet::new();
        for p in PRICES {
            assert!(seen.insert(p.region), "duplicate {}", p.region);
            assert!(p.lambda.gb_second_arm < p.lambda.gb_second_x86, "{}", p.region);
            assert!(p.lambda.request > Decimal::ZERO && p.lambda.storage_gb_second > Decimal::ZERO);
        }
        assert_eq!(prices_for("us-east-1").unwrap().lambda.request, "0.0000002".parse().unwrap());
    }
}

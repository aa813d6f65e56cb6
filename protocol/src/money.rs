//! Money as exact decimal US dollars: no float drift when thousands of invocations add up.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places shown in statuses and progress documents (like Remotion's estimates).
pub const DISPLAY_DECIMALS: u32 = 5;

/// An exact amount of US dollars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(Decimal);

impl Usd {
    /// Zero dollars.
    pub const ZERO: Usd = Usd(Decimal::ZERO);

    /// Wraps an exact decimal amount.
    pub fn new(amount: Decimal) -> Self {
        Self(amount)
    }

    /// The exact amount.
    pub fn amount(self) -> Decimal {
        self.0
    }

    /// The amount rounded half away from zero to `decimals` places.
    pub fn rounded(self, decimals: u32) -> Self {
        Self(self.0.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero))
    }

    /// The amount as shown to users: rounded to [`DISPLAY_DECIMALS`] places, e.g. `"0.00813"`.
    pub fn display(self) -> String {
        let mut rounded = self.rounded(DISPLAY_DECIMALS).0;
        rounded.rescale(DISPLAY_DECIMALS);
        rounded.to_string()
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// A money string could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("{input:?} is not a decimal amount of dollars: {source}")]
pub struct ParseUsdError {
    input: String,
    #[source]
    source: rust_decimal::Error,
}

impl FromStr for Usd {
    type Err = ParseUsdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::from_str_exact(s.trim()).map(Usd).map_err(|source| ParseUsdError { input: s.to_owned(), source })
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, rhs: Usd) -> Usd {
        Usd(self.0 + rhs.0)
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, rhs: Usd) {
        self.0 += rhs.0;
    }
}

impl Mul<Decimal> for Usd {
    type Output = Usd;
    fn mul(self, rhs: Decimal) -> Usd {
        Usd(self.0 * rhs)
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

/// Serialized as the exact decimal string (full precision, so sums stay exact across writers).
impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.normalize().to_string())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Usd {
        s.parse().unwrap()
    }

    #[test]
    fn display_rounds_half_away_from_zero_to_five_places() {
        assert_eq!(usd("0.00813174").display(), "0.00813");
        assert_eq!(usd("0.000005").display(), "0.00001");
        assert_eq!(usd("0.0000049").display(), "0.00000");
        assert_eq!(usd("0.008").display(), "0.00800");
        assert_eq!(Usd::ZERO.display(), "0.00000");
    }

    #[test]
    fn sums_are_exact() {
        // 0.1 added ten thousand times is exactly 1000 (floats drift here).
        let total: Usd = std::iter::repeat_n(usd("0.1"), 10_000).sum();
        assert_eq!(total, usd("1000"));
    }

    #[test]
    fn serde_round_trips_full_precision() {
        let v = usd("0.0000002000");
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, "\"0.0000002\"");
        assert_eq!(serde_json::from_str::<Usd>(&json).unwrap(), v);
        assert!(serde_json::from_str::<Usd>("\"ten\"").is_err());
    }
}

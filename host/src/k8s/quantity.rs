//! Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `10G`, `1e3`) as exact integers of
//! thousandths, so CPU and memory can be added and compared the way the API server's quota
//! admission does, and written back in the canonical form it prints (`4500m`, `4352Mi`).

use std::fmt;
use std::ops::{Add, Mul};

/// A quantity in thousandths of its unit (millicores for CPU, millibytes for memory), rounded
/// up like `resource.Quantity.MilliValue()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i128);

/// Why a quantity does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)")]
pub struct BadQuantity(pub String);

impl Quantity {
    pub const ZERO: Self = Self(0);

    /// From whole units (cores, bytes, objects).
    pub fn units(n: i64) -> Self {
        Self(i128::from(n) * 1000)
    }

    pub fn milli(self) -> i128 {
        self.0
    }

    /// Parses the API's quantity syntax: a signed decimal number, then a binary suffix
    /// (`Ki`…`Ei`), a decimal suffix (`n`, `u`, `m`, `k`, `M`…`E`) or an exponent (`e3`).
    pub fn parse(text: &str) -> Result<Self, BadQuantity> {
        let bad = || BadQuantity(text.to_owned());
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
            .unwrap_or(trimmed.len());
        let (number, suffix) = trimmed.split_at(split);
        let (negative, number) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty()
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
            || whole.len() + fraction.len() > 30
        {
            return Err(bad());
        }
        // mantissa × 10^exp10 × 2^exp2
        let mantissa: i128 = format!("{whole}{fraction}").parse().map_err(|_| bad())?;
        let mut exp10 = -i32::try_from(fraction.len()).map_err(|_| bad())?;
        let mut exp2 = 0u32;
        match suffix {
            "" => {}
            "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
                let index = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .iter()
                    .position(|s| *s == suffix)
                    .unwrap_or(0);
                exp2 = 10 * (u32::try_from(index).unwrap_or(0) + 1);
            }
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            exponent if exponent.starts_with(['e', 'E']) => {
                exp10 += exponent[1..].parse::<i32>().map_err(|_| bad())?;
            }
            _ => return Err(bad()),
        }
        // Thousandths, rounded up (towards +∞ for positive values, as MilliValue does).
        exp10 += 3;
        let scaled = mantissa.checked_mul(1i128 << exp2).ok_or_else(bad)?;
        let milli = if exp10 >= 0 {
            10i128
                .checked_pow(u32::try_from(exp10).map_err(|_| bad())?)
                .and_then(|p| scaled.checked_mul(p))
                .ok_or_else(bad)?
        } else {
            let divisor = 10i128
                .checked_pow(u32::try_from(-exp10).map_err(|_| bad())?)
                .ok_or_else(bad)?;
            (scaled + divisor - 1) / divisor
        };
        Ok(Self(if negative { -milli } else { milli }))
    }

    /// CPU in the API's canonical form: whole cores (`4`) or millicores (`4500m`).
    pub fn cpu(self) -> String {
        if self.0 % 1000 == 0 {
            format!("{}", self.0 / 1000)
        } else {
            format!("{}m", self.0)
        }
    }

    /// Bytes in the API's canonical binary form: the largest of `Ei`…`Ki` that divides the
    /// value exactly (`4352Mi`), else plain bytes.
    pub fn bytes(self) -> String {
        if self.0 % 1000 != 0 {
            return format!("{}m", self.0);
        }
        let bytes = self.0 / 1000;
        if bytes == 0 {
            return "0".into();
        }
        for (shift, suffix) in [
            (60, "Ei"),
            (50, "Pi"),
            (40, "Ti"),
            (30, "Gi"),
            (20, "Mi"),
            (10, "Ki"),
        ] {
            let unit = 1i128 << shift;
            if bytes % unit == 0 {
                return format!("{}{suffix}", bytes / unit);
            }
        }
        bytes.to_string()
    }
}

impl Add for Quantity {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

impl Mul<i64> for Quantity {
    type Output = Self;
    fn mul(self, n: i64) -> Self {
        Self(self.0.saturating_mul(i128::from(n)))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}m", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> i128 {
        Quantity::parse(text)
            .map(Quantity::milli)
            .unwrap_or(i128::MIN)
    }

    #[test]
    fn parses_the_api_syntax() {
        assert_eq!(q("500m"), 500);
        assert_eq!(q("2"), 2000);
        assert_eq!(q("0.5"), 500);
        assert_eq!(q("1Ki"), 1_024_000);
        assert_eq!(q("1.5Gi"), 1_610_612_736_000);
        assert_eq!(q("10G"), 10_000_000_000_000);
        assert_eq!(q("1e3"), 1_000_000);
        assert_eq!(q("+3k"), 3_000_000);
        assert_eq!(q("-1"), -1000);
        // Below a thousandth rounds up, as MilliValue does.
        assert_eq!(q("1n"), 1);
        assert_eq!(q("1500u"), 2);
        for bad in ["", "m", "1.2.3", "Gi", "1 Gi", "1gi", "1.5x", "--1", "1e"] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn prints_the_canonical_form() {
        let p = |t: &str| Quantity::parse(t).unwrap_or_default();
        assert_eq!((p("2") + p("500m") + p("2")).cpu(), "4500m");
        assert_eq!((p("2") + p("2")).cpu(), "4");
        assert_eq!((p("2Gi") + p("256Mi") + p("2Gi")).bytes(), "4352Mi");
        assert_eq!(p("1Gi").bytes(), "1Gi");
        assert_eq!(p("1000").bytes(), "1000");
        assert_eq!(p("0").bytes(), "0");
        assert_eq!((p("512Mi") * 3).bytes(), "1536Mi");
    }
}

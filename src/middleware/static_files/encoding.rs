//! Choosing a precompressed variant (`file.br`, `file.gz`) by `Accept-Encoding`
//! (RFC 9110 §12.5.3).

/// A content coding with a precompressed variant beside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coding {
    /// `file.br`.
    Brotli,
    /// `file.gz`.
    Gzip,
}

impl Coding {
    /// Every coding looked for, the preferred first when the client likes them equally.
    pub(super) const ALL: [Coding; 2] = [Coding::Brotli, Coding::Gzip];

    /// The `Content-Encoding` value.
    pub(super) fn name(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The variant's file-name suffix.
    pub(super) fn suffix(self) -> &'static str {
        match self {
            Coding::Brotli => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// The codings the client accepts (q > 0), the one it prefers first.
pub(super) fn accepted(header: Option<&str>) -> Vec<Coding> {
    let Some(header) = header else {
        return Vec::new();
    };
    let mut star = None;
    let mut explicit: [Option<f32>; 2] = [None, None];
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let Some(q) = quality(parts) else { continue };
        match name.to_ascii_lowercase().as_str() {
            "br" => explicit[0] = Some(q),
            "gzip" | "x-gzip" => explicit[1] = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let mut ranked: Vec<(Coding, f32)> = Coding::ALL
        .iter()
        .zip(explicit)
        .filter_map(|(&c, q)| Some((c, q.or(star)?)))
        .filter(|&(_, q)| q > 0.0)
        .collect();
    // Stable: equal weights keep the preferred order of ALL.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.into_iter().map(|(c, _)| c).collect()
}

/// The `q` parameter (1 when absent); `None` when it is malformed (the item is skipped).
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> Option<f32> {
    let mut q = 1.0;
    for p in params {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("q") {
            let v = v.trim();
            if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                return None;
            }
            q = v.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))?;
        }
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::Coding::{Brotli, Gzip};
    use super::*;

    #[test]
    fn ranks_by_quality_then_brotli_first() {
        assert_eq!(accepted(None), vec![]);
        assert_eq!(accepted(Some("")), vec![]);
        assert_eq!(accepted(Some("gzip")), vec![Gzip]);
        assert_eq!(accepted(Some("gzip, deflate, br")), vec![Brotli, Gzip]);
        assert_eq!(accepted(Some("br;q=0.5, gzip;q=0.8")), vec![Gzip, Brotli]);
        assert_eq!(accepted(Some("GZIP ; Q=1.0")), vec![Gzip]);
        assert_eq!(accepted(Some("x-gzip")), vec![Gzip]);
        assert_eq!(accepted(Some("identity")), vec![]);
    }

    #[test]
    fn zero_and_star() {
        assert_eq!(accepted(Some("br;q=0, gzip")), vec![Gzip]);
        assert_eq!(accepted(Some("*")), vec![Brotli, Gzip]);
        assert_eq!(accepted(Some("*;q=0.1, gzip;q=0.5")), vec![Gzip, Brotli]);
        assert_eq!(accepted(Some("*;q=0, gzip")), vec![Gzip]);
    }

    #[test]
    fn malformed_items_are_skipped() {
        assert_eq!(accepted(Some("gzip;q=2, br")), vec![Brotli]);
        assert_eq!(accepted(Some("gzip;q=abc, br;q=-1")), vec![]);
        assert_eq!(accepted(Some("gzip;level")), vec![]);
    }
}

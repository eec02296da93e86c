//! Rate cards, volume tiers and the calling-code → market map, read from the CSV formats of
//! DESIGN §4. A bad row is reported with its line number; the valid rows around it are kept.

use crate::error::{CoreError, Result};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;

pub const SHIPPED_MARKETS: &str = include_str!("../../policy/markets.csv");
pub const SAMPLE_CARD: &str = include_str!("../../policy/sample-rates-usd.csv");
pub const SAMPLE_CURRENCY: &str = "USD";
pub const SAMPLE_EFFECTIVE: &str = "2025-07-01";
/// Where a number matches no calling code in the map.
pub const OTHER_MARKET: &str = "Other";

pub const CATEGORIES: [&str; 5] = [
    "marketing",
    "utility",
    "authentication",
    "authentication_international",
    "service",
];

/// The rows read, and those refused.
pub type Parsed<T> = (Vec<T>, Vec<LineError>);

/// A row that could not be read, named by its line in the file (the header is line 1).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub market: String,
    pub category: &'static str,
    pub price: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub market: String,
    pub category: &'static str,
    pub from: i64,
    pub to: Option<i64>,
    pub price: Decimal,
}

/// Headings matched case-, space-, hyphen- and underscore-insensitively, so Meta's own work.
fn heading(h: &str) -> String {
    h.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn category_of(h: &str) -> Option<&'static str> {
    match heading(h).as_str() {
        "marketing" => Some("marketing"),
        "utility" => Some("utility"),
        "authentication" => Some("authentication"),
        "authenticationinternational" => Some("authentication_international"),
        "service" => Some("service"),
        _ => None,
    }
}

/// The highest price per message a rate card may state.
const MAX_PRICE: i64 = 1_000;

/// A price: an exact, non-negative decimal. Meta's prices go below a cent.
pub fn parse_price(s: &str) -> std::result::Result<Decimal, String> {
    let t = s.trim().trim_start_matches('$');
    let d = Decimal::from_str_exact(t).map_err(|_| format!("'{s}' is not a price (write it like 0.0014)"))?;
    if d.is_sign_negative() {
        return Err(format!("'{s}' is negative"));
    }
    // Meta's prices are cents or less; a price this high is a typo, and sums of such prices over
    // a year of messages could overflow the report.
    if d > Decimal::from(MAX_PRICE) {
        return Err(format!(
            "'{s}' is not a plausible price for one message (at most {MAX_PRICE})"
        ));
    }
    Ok(d)
}

fn reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
}

/// A row the CSV reader could parse, or its error recorded by line.
fn readable(rec: csv::Result<csv::StringRecord>, errors: &mut Vec<LineError>) -> Option<csv::StringRecord> {
    rec.map_err(|e| {
        errors.push(LineError {
            line: e.position().map_or(0, csv::Position::line),
            error: e.to_string(),
        })
    })
    .ok()
}

fn line_of(r: &csv::StringRecord) -> u64 {
    r.position().map_or(0, csv::Position::line)
}

fn headers(rdr: &mut csv::Reader<&[u8]>, what: &str) -> Result<Vec<String>> {
    let h = rdr
        .headers()
        .map_err(|e| CoreError::Invalid(format!("line 1: the {what} header cannot be read: {e}")))?;
    Ok(h.iter().map(heading).collect())
}

/// A rate card: `market,marketing,utility,authentication,authentication_international`.
pub fn parse_rate_card(text: &str) -> Result<Parsed<Price>> {
    let mut rdr = reader(text);
    let head = headers(&mut rdr, "rate card")?;
    let market_col = head.iter().position(|h| h == "market").ok_or_else(|| {
        CoreError::Invalid("line 1: the rate card has no 'market' column (expected market,marketing,utility,authentication,authentication_international)".into())
    })?;
    let columns: Vec<(usize, &'static str)> = head
        .iter()
        .enumerate()
        .filter_map(|(i, h)| category_of(h).map(|c| (i, c)))
        .collect();
    if columns.is_empty() {
        return Err(CoreError::Invalid(
            "line 1: the rate card has no price columns (marketing, utility, authentication, authentication_international)".into(),
        ));
    }
    let (mut prices, mut errors) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let Some(rec) = readable(rec, &mut errors) else {
            continue;
        };
        let line = line_of(&rec);
        let market = rec.get(market_col).unwrap_or("").to_string();
        if market.is_empty() {
            errors.push(LineError {
                line,
                error: "the market is empty".into(),
            });
            continue;
        }
        let mut row = Vec::new();
        let mut bad = None;
        for (i, category) in &columns {
            let cell = rec.get(*i).unwrap_or("");
            if cell.is_empty() {
                continue; // not offered in this market
            }
            match parse_price(cell) {
                Ok(price) => row.push(Price {
                    market: market.clone(),
                    category,
                    price,
                }),
                Err(e) => {
                    bad = Some(format!("{category} price of {market}: {e}"));
                    break;
                }
            }
        }
        match bad {
            Some(error) => errors.push(LineError { line, error }),
            None => prices.extend(row),
        }
    }
    Ok((prices, errors))
}

/// Volume tiers: `market,category,from,to,price`; an empty `to` means no upper bound.
pub fn parse_tiers(text: &str) -> Result<Parsed<Tier>> {
    let mut rdr = reader(text);
    let head = headers(&mut rdr, "volume tier")?;
    let col = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .ok_or_else(|| CoreError::Invalid(format!("line 1: the volume tier file has no '{name}' column")))
    };
    let (m, c, f, t, p) = (
        col("market")?,
        col("category")?,
        col("from")?,
        col("to")?,
        col("price")?,
    );
    let (mut tiers, mut errors) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let Some(rec) = readable(rec, &mut errors) else {
            continue;
        };
        let line = line_of(&rec);
        let get = |i: usize| rec.get(i).unwrap_or("");
        let parsed = (|| {
            let category = match category_of(get(c)) {
                Some(c @ ("utility" | "authentication" | "authentication_international")) => c,
                _ => return Err(format!("'{}' has no volume tiers (utility or authentication)", get(c))),
            };
            let from = get(f)
                .parse::<i64>()
                .map_err(|_| format!("'from' must be a whole number, not '{}'", get(f)))?;
            let to = match get(t) {
                "" => None,
                s => Some(
                    s.parse::<i64>()
                        .map_err(|_| format!("'to' must be a whole number or empty, not '{s}'"))?,
                ),
            };
            if from < 1 || to.is_some_and(|t| t < from) {
                return Err(format!("the tier {from}..{} is not a range of messages", get(t)));
            }
            if get(m).is_empty() {
                return Err("the market is empty".into());
            }
            Ok(Tier {
                market: get(m).to_string(),
                category,
                from,
                to,
                price: parse_price(get(p))?,
            })
        })();
        match parsed {
            Ok(tier) => tiers.push(tier),
            Err(error) => errors.push(LineError { line, error }),
        }
    }
    Ok((tiers, errors))
}

/// The calling-code map: `calling_code,market`.
pub fn parse_markets(text: &str) -> Result<Parsed<MarketRow>> {
    let mut rdr = reader(text);
    let head = headers(&mut rdr, "market map")?;
    let (code, market) = match (
        head.iter().position(|h| h == "callingcode"),
        head.iter().position(|h| h == "market"),
    ) {
        (Some(c), Some(m)) => (c, m),
        _ => {
            return Err(CoreError::Invalid(
                "line 1: expected the header calling_code,market (and optionally effective_from)".into(),
            ))
        }
    };
    let from = head.iter().position(|h| h == "effectivefrom");
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let Some(rec) = readable(rec, &mut errors) else {
            continue;
        };
        let c = rec.get(code).unwrap_or("").trim_start_matches('+');
        let m = rec.get(market).unwrap_or("");
        let day = from.and_then(|f| rec.get(f)).unwrap_or("").trim();
        let effective_from = if day.is_empty() {
            Ok(0)
        } else {
            super::policy::parse_day(day).map_err(|_| format!("'{day}' is not a date (YYYY-MM-DD)"))
        };
        let error = if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_digit()) {
            Some(format!("'{c}' is not a calling code"))
        } else if m.is_empty() {
            Some("the market is empty".into())
        } else {
            effective_from.as_ref().err().cloned()
        };
        match (error, effective_from) {
            (None, Ok(effective_from)) => rows.push(MarketRow {
                calling_code: c.to_string(),
                market: m.to_string(),
                effective_from,
            }),
            (e, _) => errors.push(LineError {
                line: line_of(&rec),
                error: e.unwrap_or_default(),
            }),
        }
    }
    Ok((rows, errors))
}

/// One line of the market map: from `effective_from` (unix seconds; 0 = always) numbers starting
/// with `calling_code` are priced in `market`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MarketRow {
    pub calling_code: String,
    pub market: String,
    pub effective_from: i64,
}

/// Calling code → market, longest prefix first, each code with its dated markets.
#[derive(Debug, Clone, Default)]
pub struct MarketMap {
    /// Per code, its markets by start date, oldest first.
    by_code: HashMap<String, Vec<(i64, String)>>,
    longest: usize,
}

impl MarketMap {
    pub fn new(rows: impl IntoIterator<Item = MarketRow>) -> Self {
        let mut by_code: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        for r in rows {
            by_code
                .entry(r.calling_code)
                .or_default()
                .push((r.effective_from, r.market));
        }
        for v in by_code.values_mut() {
            v.sort();
        }
        let longest = by_code.keys().map(String::len).max().unwrap_or(0);
        Self { by_code, longest }
    }

    pub fn shipped() -> Self {
        Self::new(
            parse_markets(SHIPPED_MARKETS)
                .expect("the shipped market map is valid")
                .0,
        )
    }

    /// The market of a phone number today (see [`MarketMap::market_at`]).
    pub fn market_of(&self, wa_id: Option<&str>) -> &str {
        self.market_at(wa_id, i64::MAX, |_| true)
    }

    /// The market of a phone number (digits, as WhatsApp writes it), or of a customer known only
    /// by a business-scoped user id, on `at`: a BSUID starts with the customer's ISO country
    /// (`BR.…`, a parent `US.ENT.…`), priced as that country's calling code. Of the markets in
    /// force then, the newest `priced` accepts wins: a rate card older than a country's own
    /// market still prices it in the region it came from.
    pub fn market_at(&self, wa_id: Option<&str>, at: i64, priced: impl Fn(&str) -> bool) -> &str {
        let Some(n) = wa_id else { return OTHER_MARKET };
        if let Some((iso, _)) = n.split_once('.') {
            let code = phonenumber::metadata::DATABASE
                .by_id(iso.to_ascii_uppercase().as_str())
                .map(|m| m.country_code().to_string());
            return match code {
                Some(code) => self.market_at(Some(&code), at, priced),
                None => OTHER_MARKET,
            };
        }
        // The longest prefix with a market in force on `at` (Kazakhstan's `76`/`77` start on
        // 2026-10-01; before that `7` answers).
        let in_force: Vec<&str> = (1..=self.longest.min(n.len()))
            .rev()
            .filter_map(|len| self.by_code.get(&n[..len]))
            .map(|dated| {
                dated
                    .iter()
                    .filter(|(from, _)| *from <= at)
                    .map(|(_, m)| m.as_str())
                    .collect::<Vec<_>>()
            })
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        in_force
            .iter()
            .rev()
            .find(|m| priced(m))
            .or(in_force.last())
            .copied()
            .unwrap_or(OTHER_MARKET)
    }
}

/// One card in memory: prices and tiers by (market, category).
#[derive(Debug, Clone)]
pub struct Card {
    pub id: i64,
    pub currency: String,
    pub effective: i64,
    pub sample: bool,
    pub prices: HashMap<(String, String), Decimal>,
    pub tiers: HashMap<(String, String), Vec<Tier>>,
}

impl Card {
    /// Whether this card has a row for `market` at all.
    pub fn prices_market(&self, market: &str) -> bool {
        self.prices.keys().any(|(m, _)| m == market)
    }

    pub fn price(&self, market: &str, column: &str) -> Option<Decimal> {
        let column = self.column_for(market, column);
        self.prices.get(&(market.to_string(), column.to_string())).copied()
    }

    /// The column that really prices `column` in `market`: cards before 2026-10-01 have no service
    /// column, so service is charged at the utility rate.
    pub fn column_for<'a>(&self, market: &str, column: &'a str) -> &'a str {
        let has = |c: &str| self.prices.contains_key(&(market.to_string(), c.to_string()));
        match column {
            "service" if !has("service") => "utility",
            c => c,
        }
    }

    pub fn tiers(&self, market: &str, column: &str) -> &[Tier] {
        self.tiers
            .get(&(market.to_string(), column.to_string()))
            .map_or(&[], Vec::as_slice)
    }
}

/// The cost of messages number `offset+1 ..= offset+count` of a month at a tiered rate: each
/// message pays the price of the tier its number falls in, or the card price outside every tier.
pub fn tiered_cost(tiers: &[Tier], base: Decimal, offset: i64, count: i64) -> Decimal {
    let (first, last) = (offset + 1, offset + count);
    let mut total = Decimal::ZERO;
    let mut covered = 0;
    for t in tiers {
        let lo = t.from.max(first);
        let hi = t.to.unwrap_or(i64::MAX).min(last);
        if hi >= lo {
            total += t.price * Decimal::from(hi - lo + 1);
            covered += hi - lo + 1;
        }
    }
    total + base * Decimal::from(count - covered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14, item 18: an absurd price is refused with its line, not summed into an overflow.
    #[test]
    fn absurd_prices_are_refused() {
        assert!(parse_price("0.0014").is_ok());
        assert!(parse_price("1000").is_ok());
        let e = parse_price("79228162514264337593543950335").unwrap_err();
        assert!(e.contains("not a plausible price"), "{e}");
        let (rows, errors) = parse_rate_card("market,marketing\nIndia,0.0118\nBrazil,99999999999999\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 3);
    }
    use rust_decimal_macros::dec;

    #[test]
    fn meta_headings_and_bad_rows() {
        let text = "Market,Marketing,Utility,Authentication,Authentication-International\n\
                    India,0.0118,0.0014,0.0014,0.0280\n\
                    Brazil,0.0625,abc,0.0068,\n\
                    ,0.1,0.1,0.1,\n\
                    North America,0.0250,0.0040,0.0040,\n";
        let (prices, errors) = parse_rate_card(text).unwrap();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].error.contains("utility price of Brazil"),
            "{}",
            errors[0].error
        );
        assert_eq!(errors[1].line, 4);
        assert_eq!(
            prices.len(),
            4 + 3,
            "India has four prices, North America three (no international)"
        );
        let india = prices
            .iter()
            .find(|p| p.market == "India" && p.category == "utility")
            .unwrap();
        assert_eq!(india.price, dec!(0.0014));
    }

    #[test]
    fn longest_prefix_wins() {
        let m = MarketMap::shipped();
        assert_eq!(m.market_of(Some("919876543210")), "India");
        assert_eq!(m.market_of(Some("9715551234")), "United Arab Emirates");
        assert_eq!(m.market_of(Some("97455512345")), "Rest of Middle East");
        assert_eq!(m.market_of(Some("15551234567")), "North America");
        assert_eq!(
            m.market_of(Some("8805551234")),
            "Bangladesh",
            "its own market since 2026-10-01"
        );
        assert_eq!(m.market_of(Some("99999")), OTHER_MARKET);
        // Customers known only by a BSUID: the market of their country's calling code.
        assert_eq!(m.market_of(Some("IN.13491208655302741918")), "India");
        assert_eq!(m.market_of(Some("US.ENT.11815799212886844830")), "North America");
        assert_eq!(m.market_of(Some("br.123")), m.market_of(Some("5511987654321")));
        assert_eq!(m.market_of(Some("ZZ.123")), OTHER_MARKET);
        assert_eq!(m.market_of(None), OTHER_MARKET);
        // The map of each message's date.
        let day = |d: &str| super::super::policy::parse_day(d).unwrap();
        let any = |_: &str| true;
        assert_eq!(
            m.market_at(Some("8805551234"), day("2026-09-30"), any),
            "Rest of Asia Pacific"
        );
        assert_eq!(m.market_at(Some("8805551234"), day("2026-10-01"), any), "Bangladesh");
        assert_eq!(m.market_at(Some("77012345678"), day("2026-09-30"), any), "Russia");
        assert_eq!(m.market_at(Some("77012345678"), day("2026-10-02"), any), "Kazakhstan");
        assert_eq!(m.market_at(Some("79161234567"), day("2026-10-02"), any), "Russia");
        assert_eq!(m.market_at(Some("263771234567"), day("2025-09-30"), any), OTHER_MARKET);
        assert_eq!(
            m.market_at(Some("263771234567"), day("2025-10-01"), any),
            "Rest of Africa"
        );
        // A card that has no row for the new market prices it in the region it came from.
        let old_card = |mk: &str| mk != "Bangladesh";
        assert_eq!(
            m.market_at(Some("8805551234"), day("2026-10-05"), old_card),
            "Rest of Asia Pacific"
        );
    }

    #[test]
    fn tier_boundaries() {
        let tiers = vec![
            Tier {
                market: "India".into(),
                category: "utility",
                from: 1,
                to: Some(100),
                price: dec!(0.0014),
            },
            Tier {
                market: "India".into(),
                category: "utility",
                from: 101,
                to: Some(200),
                price: dec!(0.0010),
            },
            Tier {
                market: "India".into(),
                category: "utility",
                from: 201,
                to: None,
                price: dec!(0.0008),
            },
        ];
        let base = dec!(0.0014);
        assert_eq!(tiered_cost(&tiers, base, 0, 100), dec!(0.1400));
        assert_eq!(tiered_cost(&tiers, base, 0, 101), dec!(0.1410));
        assert_eq!(tiered_cost(&tiers, base, 99, 2), dec!(0.0024));
        assert_eq!(tiered_cost(&tiers, base, 199, 3), dec!(0.0010) + dec!(0.0016));
        // A gap in the tiers is priced at the card price.
        let gappy = vec![Tier {
            market: "X".into(),
            category: "utility",
            from: 10,
            to: Some(10),
            price: dec!(0),
        }];
        assert_eq!(tiered_cost(&gappy, dec!(1), 8, 3), dec!(2));
        let (parsed, errors) = parse_tiers(
            "market,category,from,to,price\nIndia,utility,1,100,0.0014\nIndia,marketing,1,5,0.1\nIndia,utility,300,200,0.1\nIndia,utility,201,,0.0008\n",
        )
        .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4]);
    }
}

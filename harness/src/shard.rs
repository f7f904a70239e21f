//! `--shard K/N`: a deterministic part of a run's cases, for CI job matrices. Every machine that
//! expands the same selection puts each case in the same shard, and every case in exactly one.
//!
//! Without recorded durations cases are dealt round-robin in run order, so each shard gets as
//! many cases (±1) and its share of the slower `[network]` cases, which run last. With the
//! durations of a previous report the longest cases are placed first, each on the shard with the
//! least work so far (LPT scheduling): the shards then take about the same time.

use std::collections::HashMap;
use std::path::Path;

use crate::report::{ReportDocument, ShardInfo};

/// K of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1.
    pub index: u32,
    /// N.
    pub count: u32,
}

/// Parses `K/N` (1 ≤ K ≤ N ≤ 1000).
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let wrong = || format!("`{text}` is not a shard: write K/N, e.g. `2/4` (1 ≤ K ≤ N)");
    let (k, n) = text.split_once('/').ok_or_else(wrong)?;
    let (index, count): (u32, u32) = (
        k.trim().parse().map_err(|_| wrong())?,
        n.trim().parse().map_err(|_| wrong())?,
    );
    if index == 0 || index > count || count > 1000 {
        return Err(wrong());
    }
    Ok(Shard { index, count })
}

/// How long each case took in an earlier run, by scenario and pairing (with its repetition).
#[derive(Debug, Clone, Default)]
pub struct Durations(HashMap<(String, String), f64>);

impl Durations {
    /// The durations of the cases in a `report.json` (a run's folder or the file itself).
    pub fn read(path: &Path) -> Result<Durations, String> {
        let report = ReportDocument::read(&ReportDocument::file_of(path))?;
        Ok(Durations(
            report
                .cases
                .iter()
                .map(|c| ((c.scenario.clone(), c.pairing_label()), c.duration_ms))
                .collect(),
        ))
    }

    fn of(&self, key: &(String, String)) -> Option<f64> {
        self.0.get(key).copied()
    }
}

/// Which shard (from 0) each case goes to, for cases identified by `keys` (scenario, pairing
/// label) in run order.
pub fn assign(keys: &[(String, String)], count: u32, durations: Option<&Durations>) -> Vec<u32> {
    let count = count.max(1);
    let known: Vec<Option<f64>> = keys
        .iter()
        .map(|k| durations.and_then(|d| d.of(k)))
        .collect();
    let mut recorded: Vec<f64> = known.iter().flatten().copied().collect();
    if recorded.is_empty() {
        return (0..keys.len()).map(|i| i as u32 % count).collect();
    }
    // A case the earlier run did not play counts as a typical one.
    recorded.sort_by(f64::total_cmp);
    let typical = recorded[recorded.len() / 2];
    let cost: Vec<f64> = known.iter().map(|d| d.unwrap_or(typical)).collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| cost[b].total_cmp(&cost[a]).then(a.cmp(&b)));
    let mut load = vec![0.0f64; count as usize];
    let mut shard_of = vec![0u32; keys.len()];
    for case in order {
        let lightest = (0..load.len())
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .expect("at least one shard");
        load[lightest] += cost[case];
        shard_of[case] = lightest as u32;
    }
    shard_of
}

/// The part of a selection a run plays: `--shard K/N`, balanced by `--shard-durations`.
#[derive(Debug, Clone)]
pub struct ShardPlan {
    /// K/N.
    pub shard: Shard,
    /// An earlier run's durations, to balance shards by time instead of by count.
    pub durations: Option<Durations>,
}

impl ShardPlan {
    /// Whether the case at each position of `keys` (run order) belongs to this shard.
    pub fn keeps(&self, keys: &[(String, String)]) -> Vec<bool> {
        assign(keys, self.shard.count, self.durations.as_ref())
            .into_iter()
            .map(|s| s + 1 == self.shard.index)
            .collect()
    }

    /// The report's description of this shard.
    pub fn info(&self) -> ShardInfo {
        ShardInfo {
            index: self.shard.index,
            count: self.shard.count,
            balanced_by: if self.durations.is_some() {
                "duration"
            } else {
                "count"
            }
            .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("s{}", i / 9), format!("p{}", i % 9)))
            .collect()
    }

    #[test]
    fn shard_specs_parse_and_bad_ones_are_explained() {
        assert_eq!(parse_shard("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(parse_shard(" 1 / 1 "), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", "", "1/1001"] {
            let e = parse_shard(bad).unwrap_err();
            assert!(e.contains("write K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn by_count_every_case_is_in_exactly_one_shard_and_shards_are_even() {
        let keys = keys(225);
        for count in [1, 2, 3, 7, 300] {
            let shards = assign(&keys, count, None);
            assert_eq!(shards.len(), keys.len());
            assert!(shards.iter().all(|&s| s < count));
            let sizes: Vec<usize> = (0..count)
                .map(|k| shards.iter().filter(|&&s| s == k).count())
                .collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "{count}: {sizes:?}");
            // Deterministic: the same selection gives the same shards.
            assert_eq!(assign(&keys, count, None), shards);
        }
    }

    #[test]
    fn by_duration_shards_take_about_the_same_time() {
        let keys = keys(40);
        // A few long cases first, then many short ones: dealing by count would put all the
        // long ones in shard 1.
        let durations = Durations(
            keys.iter()
                .enumerate()
                .filter(|(i, _)| *i != 39) // one case the earlier run did not have
                .map(|(i, k)| (k.clone(), if i % 4 == 0 { 10_000.0 } else { 500.0 }))
                .collect(),
        );
        let shards = assign(&keys, 4, Some(&durations));
        assert_eq!(assign(&keys, 4, Some(&durations)), shards);
        let load = |k: u32| -> f64 {
            keys.iter()
                .zip(&shards)
                .filter(|(_, s)| **s == k)
                .map(|(key, _)| durations.of(key).unwrap_or(500.0))
                .sum()
        };
        let loads: Vec<f64> = (0..4).map(load).collect();
        let (min, max) = loads
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &l| (lo.min(l), hi.max(l)));
        // LPT is within the longest case of the optimum.
        assert!(max - min <= 10_000.0, "{loads:?}");
        assert!(max <= 30_500.0, "{loads:?}");
        let by_count = assign(&keys, 4, None);
        assert_ne!(by_count, shards);
    }
}

//! Candidate rows for a late-interaction (MaxSim) query over an IVF index
//! of token vectors.
//!
//! A multiembedding row is indexed as one entry per token, all with the
//! row's TID. A query probes the nearest lists of each of its tokens; every
//! entry read there is a (row, query token, similarity) hit. A row's
//! MaxSim is Σᵢ maxⱼ qᵢ·dⱼ, so from the hits each row gets an estimate:
//! per query token, the best similarity found for it, or, when none of
//! the row's tokens was in that token's lists, an imputed value: the
//! weakest best similarity found for that token among the rows that have
//! one (a row whose best match lies in a list that was not probed is
//! likely no closer than that). The glue re-ranks the top rows by exact
//! MaxSim, so the estimate only has to put the true top rows among them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::Tid;

/// A multiplicative hash for TIDs (a query records a hit per scanned entry
/// and probing token; SipHash's strength against crafted keys buys nothing
/// for block/offset pairs).
#[derive(Default)]
struct TidHasher(u64);

impl Hasher for TidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The hits of one query, per row and query token.
#[derive(Debug, Clone)]
pub struct MaxSimHits {
    query_tokens: usize,
    slots: HashMap<Tid, usize, BuildHasherDefault<TidHasher>>,
    rows: Vec<Tid>,
    /// `best[slot * query_tokens + i]`: the best similarity of query token
    /// `i` with a token of row `rows[slot]` (−∞: none found).
    best: Vec<f32>,
}

impl MaxSimHits {
    /// No hits yet, for a query of `query_tokens` tokens.
    pub fn new(query_tokens: usize) -> Self {
        Self { query_tokens, slots: HashMap::default(), rows: Vec::new(), best: Vec::new() }
    }

    /// Rows hit so far.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Records that a token of row `row` has `similarity` with query token
    /// `token` (NaN is ignored).
    pub fn record(&mut self, row: Tid, token: usize, similarity: f32) {
        debug_assert!(token < self.query_tokens);
        if similarity.is_nan() {
            return;
        }
        let q = self.query_tokens;
        let slot = *self.slots.entry(row).or_insert_with(|| {
            self.rows.push(row);
            self.best.extend(std::iter::repeat_n(f32::NEG_INFINITY, q));
            self.rows.len() - 1
        });
        let best = &mut self.best[slot * q + token];
        *best = best.max(similarity);
    }

    /// The imputed similarity per query token (see the module docs; 0 for
    /// a token with no hits, which then ranks no row above another).
    fn imputed(&self) -> Vec<f32> {
        let q = self.query_tokens;
        let mut weakest = vec![f32::INFINITY; q];
        for row in self.best.chunks_exact(q.max(1)).take(self.rows.len()) {
            for (w, &b) in weakest.iter_mut().zip(row) {
                if b > f32::NEG_INFINITY {
                    *w = w.min(b);
                }
            }
        }
        weakest.into_iter().map(|w| if w.is_finite() { w } else { 0.0 }).collect()
    }

    /// Every row hit with its estimated MaxSim, best first (ties by TID,
    /// so the order is deterministic).
    pub fn ranked(&self) -> Vec<(Tid, f32)> {
        let q = self.query_tokens;
        let imputed = self.imputed();
        let mut ranked: Vec<(Tid, f32)> = self
            .rows
            .iter()
            .enumerate()
            .map(|(slot, &row)| {
                let best = &self.best[slot * q..(slot + 1) * q];
                let estimate = best.iter().zip(&imputed).map(|(&b, &m)| if b > f32::NEG_INFINITY { b } else { m }).sum();
                (row, estimate)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(n: u32) -> Tid {
        Tid { blk: n, off: 1 }
    }

    #[test]
    fn keeps_the_best_similarity_per_row_and_token() {
        let mut hits = MaxSimHits::new(2);
        hits.record(tid(1), 0, 0.2);
        hits.record(tid(1), 0, 0.7);
        hits.record(tid(1), 1, 0.1);
        hits.record(tid(1), 0, 0.5);
        hits.record(tid(1), 1, f32::NAN);
        assert_eq!(hits.rows(), 1);
        assert_eq!(hits.ranked(), vec![(tid(1), 0.7 + 0.1)]);
    }

    #[test]
    fn missing_tokens_are_imputed_with_the_weakest_best_hit() {
        let mut hits = MaxSimHits::new(2);
        // Row 1 matches both query tokens; row 2 only token 0, row 3 only token 1.
        hits.record(tid(1), 0, 0.9);
        hits.record(tid(1), 1, 0.6);
        hits.record(tid(2), 0, 0.8);
        hits.record(tid(3), 1, 0.3);
        // Token 0's weakest best is 0.8, token 1's is 0.3.
        let ranked = hits.ranked();
        assert_eq!(ranked[0], (tid(1), 0.9 + 0.6));
        assert_eq!(ranked[1], (tid(2), 0.8 + 0.3));
        assert_eq!(ranked[2], (tid(3), 0.8 + 0.3));
    }

    #[test]
    fn ranking_is_deterministic_on_ties_and_empty_without_hits() {
        assert!(MaxSimHits::new(3).ranked().is_empty());
        let mut hits = MaxSimHits::new(1);
        for n in [5, 3, 9] {
            hits.record(tid(n), 0, 1.0);
        }
        let rows: Vec<Tid> = hits.ranked().into_iter().map(|(t, _)| t).collect();
        assert_eq!(rows, vec![tid(3), tid(5), tid(9)]);
    }

    #[test]
    fn the_estimate_is_exact_when_every_token_was_seen() {
        // Two rows of tokens, a query of two tokens, all pairs recorded:
        // the estimate equals MaxSim.
        let docs: [&[[f32; 2]]; 2] = [&[[1.0, 0.0], [0.0, 1.0]], &[[0.6, 0.8]]];
        let query = [[1.0, 0.0], [0.0, 1.0]];
        let mut hits = MaxSimHits::new(2);
        for (d, tokens) in docs.iter().enumerate() {
            for t in tokens.iter() {
                for (i, q) in query.iter().enumerate() {
                    hits.record(tid(d as u32), i, q[0] * t[0] + q[1] * t[1]);
                }
            }
        }
        assert_eq!(hits.ranked(), vec![(tid(0), 2.0), (tid(1), 0.6 + 0.8)]);
    }
}

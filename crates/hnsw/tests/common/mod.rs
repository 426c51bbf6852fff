//! Deterministic test data shared by the integration tests.
#![allow(dead_code)]

/// SplitMix64 stream.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    pub fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// `n` vectors of `dims` around `clusters` random centres (sigma 0.35), and
/// `queries` more from the same distribution.
pub fn clustered(
    n: usize,
    queries: usize,
    dims: usize,
    clusters: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = Rng(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dims).map(|_| rng.uniform() * 2.0 - 1.0).collect())
        .collect();
    let draw = |rng: &mut Rng| {
        let c = &centres[(rng.next_u64() % clusters as u64) as usize];
        c.iter()
            .map(|x| x + 0.35 * rng.gaussian())
            .collect::<Vec<f32>>()
    };
    let data = (0..n).map(|_| draw(&mut rng)).collect();
    let qs = (0..queries).map(|_| draw(&mut rng)).collect();
    (data, qs)
}

/// Exact top-k ids by `dist`.
pub fn exact_topk(
    data: &[Vec<f32>],
    q: &[f32],
    k: usize,
    dist: impl Fn(&[f32], &[f32]) -> f32,
) -> Vec<u32> {
    let mut all: Vec<(f32, u32)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (dist(q, v), i as u32))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|(_, i)| i).collect()
}

/// Mean recall of `found` against `truth` (both lists of top-k ids).
pub fn recall(truth: &[Vec<u32>], found: &[Vec<u32>]) -> f64 {
    let hits: usize = truth
        .iter()
        .zip(found)
        .map(|(t, f)| f.iter().filter(|x| t.contains(x)).count())
        .sum();
    hits as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64
}

/// A relation that counts the pages read through it.
pub struct Counting<'a> {
    pub rel: &'a pagestore::MemRelation,
    pub reads: std::cell::Cell<usize>,
}

impl pagestore::RelationRead for Counting<'_> {
    type ReadGuard<'g>
        = <pagestore::MemRelation as pagestore::RelationRead>::ReadGuard<'g>
    where
        Self: 'g;

    fn nblocks(&self) -> u32 {
        self.rel.nblocks()
    }

    fn read(&self, blk: u32) -> Self::ReadGuard<'_> {
        self.reads.set(self.reads.get() + 1);
        self.rel.read(blk)
    }
}

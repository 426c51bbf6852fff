//! k-means for the lists: k-means++ seeding, then Lloyd iterations whose
//! assignment step runs on all cores (rayon; no Postgres calls). Results
//! depend only on the data and the seed, not on the number of threads.
//!
//! [`Assign::L2`] clusters by Euclidean distance (l2 and l1 indexes).
//! [`Assign::Dot`] is spherical k-means (cosine and inner-product
//! indexes): points are assigned to the centroid of largest dot product,
//! and centroids are kept at unit length.

use rayon::prelude::*;

/// How points are assigned to centroids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assign {
    /// Nearest by Euclidean distance.
    L2,
    /// Largest dot product with unit-length centroids.
    Dot,
}

impl Assign {
    /// The assignment cost of `v` to `centroid` (smaller is nearer).
    #[inline]
    pub fn cost(self, v: &[f32], centroid: &[f32]) -> f32 {
        match self {
            Self::L2 => distance::l2_squared(v, centroid),
            Self::Dot => -distance::dot(v, centroid),
        }
    }

    /// The list of `v` among `centroids` (end to end, `dims` each).
    pub fn nearest(self, v: &[f32], centroids: &[f32], dims: usize) -> usize {
        centroids
            .chunks_exact(dims)
            .map(|c| self.cost(v, c))
            .enumerate()
            .fold((0, f32::INFINITY), |best, (i, d)| if d < best.1 { (i, d) } else { best })
            .0
    }
}

/// The build was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn normalize(v: &mut [f32]) {
    let norm = distance::norm_squared(v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// `k` centroids (end to end) of the `dims`-dimensional points in `data`;
/// fewer when there are fewer distinct points' worth of rows (`k` is
/// clamped to the number of points, and at least one centroid is returned
/// for at least one point). `progress(step)` is called after seeding and
/// after each iteration; `stop()` aborts between steps.
#[allow(clippy::too_many_arguments)]
pub fn kmeans(
    data: &[f32],
    dims: usize,
    k: usize,
    assign: Assign,
    iterations: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize),
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<f32>, Stopped> {
    let n = data.len().checked_div(dims).unwrap_or(0);
    let k = k.min(n);
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut points = data[..n * dims].to_vec();
    if assign == Assign::Dot {
        points.par_chunks_mut(dims).for_each(normalize);
    }
    let mut centroids = seed_plus_plus(&points, dims, k, assign, seed, stop)?;
    progress(0);
    let mut labels = vec![0u32; n];
    for iteration in 1..=iterations {
        if stop() {
            return Err(Stopped);
        }
        let changed = assign_all(&points, dims, &centroids, assign, &mut labels);
        update(&points, dims, &labels, assign, &mut centroids);
        progress(iteration);
        if changed == 0 {
            break;
        }
    }
    Ok(centroids)
}

/// k-means++: each next centroid is a point drawn with probability
/// proportional to its cost to the nearest centroid so far.
fn seed_plus_plus(
    points: &[f32],
    dims: usize,
    k: usize,
    assign: Assign,
    seed: u64,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Vec<f32>, Stopped> {
    let n = points.len() / dims;
    let mut rng = Rng(seed);
    let first = (rng.next() % n as u64) as usize;
    let mut centroids = points[first * dims..(first + 1) * dims].to_vec();
    // For Dot, 1 − dot is the (non-negative) cost of unit vectors.
    let cost = |v: &[f32], c: &[f32]| match assign {
        Assign::L2 => distance::l2_squared(v, c) as f64,
        Assign::Dot => (1.0 - distance::dot(v, c) as f64).max(0.0),
    };
    let mut best: Vec<f64> = points.par_chunks(dims).map(|v| cost(v, &centroids)).collect();
    while centroids.len() < k * dims {
        if stop() {
            return Err(Stopped);
        }
        let total: f64 = best.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.unit() * total;
            best.iter()
                .position(|&d| {
                    target -= d;
                    target < 0.0
                })
                .unwrap_or(n - 1)
        } else {
            // Every point sits on a centroid: duplicates; any point will do.
            (rng.next() % n as u64) as usize
        };
        let c = points[pick * dims..(pick + 1) * dims].to_vec();
        best.par_iter_mut()
            .zip(points.par_chunks(dims))
            .for_each(|(b, v)| *b = b.min(cost(v, &c)));
        centroids.extend_from_slice(&c);
    }
    Ok(centroids)
}

/// Assigns every point; returns how many labels changed.
fn assign_all(points: &[f32], dims: usize, centroids: &[f32], assign: Assign, labels: &mut [u32]) -> usize {
    labels
        .par_iter_mut()
        .zip(points.par_chunks(dims))
        .map(|(label, v)| {
            let nearest = assign.nearest(v, centroids, dims) as u32;
            let changed = usize::from(*label != nearest);
            *label = nearest;
            changed
        })
        .sum()
}

/// Centroids become their points' means (unit length for Dot); an empty
/// cluster takes the point farthest from its own centroid.
fn update(points: &[f32], dims: usize, labels: &[u32], assign: Assign, centroids: &mut [f32]) {
    let k = centroids.len() / dims;
    let mut sums = vec![0f64; k * dims];
    let mut counts = vec![0usize; k];
    for (v, &label) in points.chunks_exact(dims).zip(labels) {
        let l = label as usize;
        counts[l] += 1;
        for (s, &x) in sums[l * dims..(l + 1) * dims].iter_mut().zip(v) {
            *s += f64::from(x);
        }
    }
    for c in 0..k {
        if counts[c] == 0 {
            continue;
        }
        let centroid = &mut centroids[c * dims..(c + 1) * dims];
        for (x, s) in centroid.iter_mut().zip(&sums[c * dims..(c + 1) * dims]) {
            *x = (s / counts[c] as f64) as f32;
        }
        if assign == Assign::Dot {
            normalize(centroid);
        }
    }
    for c in (0..k).filter(|&c| counts[c] == 0) {
        let far = points
            .chunks_exact(dims)
            .zip(labels)
            .map(|(v, &l)| assign.cost(v, &centroids[l as usize * dims..(l as usize + 1) * dims]))
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, d)| if d > best.1 { (i, d) } else { best })
            .0;
        let point = points[far * dims..(far + 1) * dims].to_vec();
        centroids[c * dims..(c + 1) * dims].copy_from_slice(&point);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `per` points around each of `k` well-separated centres.
    fn blobs(k: usize, per: usize, dims: usize) -> Vec<f32> {
        let mut rng = Rng(7);
        let mut out = Vec::new();
        for c in 0..k {
            for _ in 0..per {
                for d in 0..dims {
                    let centre = if d % k == c { 10.0 } else { 0.0 };
                    out.push(centre + (rng.unit() as f32 - 0.5) * 0.5);
                }
            }
        }
        out
    }

    fn run(data: &[f32], dims: usize, k: usize, assign: Assign) -> Vec<f32> {
        kmeans(data, dims, k, assign, 20, 42, &mut |_| {}, &|| false).unwrap()
    }

    #[test]
    fn separated_clusters_are_recovered() {
        let (k, per, dims) = (6, 50, 12);
        let data = blobs(k, per, dims);
        for assign in [Assign::L2, Assign::Dot] {
            let centroids = run(&data, dims, k, assign);
            assert_eq!(centroids.len(), k * dims);
            // Every true cluster maps to one centroid, a different one each.
            let mut seen = std::collections::HashSet::new();
            for c in 0..k {
                let labels: std::collections::HashSet<usize> = data[c * per * dims..(c + 1) * per * dims]
                    .chunks_exact(dims)
                    .map(|v| {
                        let mut v = v.to_vec();
                        if assign == Assign::Dot {
                            normalize(&mut v);
                        }
                        assign.nearest(&v, &centroids, dims)
                    })
                    .collect();
                assert_eq!(labels.len(), 1, "{assign:?}: cluster {c} split");
                assert!(seen.insert(*labels.iter().next().unwrap()));
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let data = blobs(5, 40, 8);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let a = one.install(|| run(&data, 8, 7, Assign::L2));
        let b = two.install(|| run(&data, 8, 7, Assign::L2));
        assert_eq!(a, b);
    }

    #[test]
    fn spherical_centroids_have_unit_length_and_k_is_clamped() {
        let data = blobs(3, 10, 6);
        let c = run(&data, 6, 4, Assign::Dot);
        for v in c.chunks_exact(6) {
            assert!((distance::norm_squared(v) - 1.0).abs() < 1e-4);
        }
        assert_eq!(run(&data[..12], 6, 5, Assign::L2).len(), 12, "2 points, 2 centroids");
        assert!(run(&[], 6, 5, Assign::L2).is_empty());
    }

    #[test]
    fn duplicates_and_cancellation() {
        let data = vec![1.0f32; 40];
        assert_eq!(run(&data, 4, 3, Assign::L2).len(), 12);
        let stopped = kmeans(&blobs(2, 10, 4), 4, 2, Assign::L2, 5, 1, &mut |_| {}, &|| true);
        assert_eq!(stopped, Err(Stopped));
    }
}

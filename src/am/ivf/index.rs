//! An open ember_ivf index as the glue sees it: the metapage, the
//! opclass's metric over what the lists store, and the centroids.

use ivf::kmeans::Assign;
use ivf::{Centroid, Meta};

use super::super::index_corrupted;
use super::super::words::{Metric, WordMetric};
use super::options::Storage;
use crate::storage::PgRelation;

/// How points are assigned to lists for an opclass: by Euclidean distance
/// (l2, l1), or by the largest dot product with unit centroids (cosine,
/// inner product: spherical k-means).
pub fn assign_of(opclass: WordMetric) -> Assign {
    match opclass.metric {
        Metric::L2 | Metric::L1 => Assign::L2,
        Metric::Cosine | Metric::InnerProduct => Assign::Dot,
    }
}

/// The opclass's metric over entries stored as `storage`.
pub fn stored_metric(opclass: WordMetric, storage: Storage) -> WordMetric {
    WordMetric { sq8: storage == Storage::Sq8, ..opclass }
}

/// The metapage and centroids of an index.
pub struct IvfIndex {
    pub meta: Meta,
    /// The opclass's metric over the stored entries.
    pub metric: WordMetric,
    pub lists: Vec<Centroid>,
    /// The centroids, end to end.
    pub centroids: Vec<f32>,
}

impl IvfIndex {
    /// Reads the index, checking it was built for `opclass`.
    pub fn open(rel: &PgRelation, opclass: WordMetric) -> Self {
        let meta = ivf::read_meta(rel).unwrap_or_else(|e| index_corrupted(rel.relation(), e));
        let Some(storage) = Storage::from_id(meta.storage) else {
            index_corrupted(rel.relation(), format!("unknown storage kind {}", meta.storage));
        };
        let metric = stored_metric(opclass, storage);
        if meta.metric_id != opclass.id() {
            index_corrupted(rel.relation(), "it was built for a different operator class");
        }
        let mut lists = Vec::with_capacity(meta.lists as usize);
        let mut centroids = Vec::with_capacity(meta.lists as usize * meta.dims as usize);
        ivf::read_centroids(rel, &meta, |c, v| {
            lists.push(c);
            centroids.extend_from_slice(v);
        })
        .unwrap_or_else(|e| index_corrupted(rel.relation(), e));
        Self { meta, metric, lists, centroids }
    }

    /// List numbers, nearest centroid first.
    pub fn lists_by_distance(&self, query: &[f32]) -> Vec<usize> {
        let assign = assign_of(self.metric);
        let dims = self.meta.dims as usize;
        let mut costs: Vec<(f32, usize)> = self
            .centroids
            .chunks_exact(dims)
            .map(|c| assign.cost(query, c))
            .enumerate()
            .map(|(i, d)| (if d.is_nan() { f32::INFINITY } else { d }, i))
            .collect();
        costs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        costs.into_iter().map(|(_, i)| i).collect()
    }

    /// The list a value goes to.
    pub fn nearest_list(&self, words: &[f32]) -> usize {
        assign_of(self.metric).nearest(words, &self.centroids, self.meta.dims as usize)
    }

    fn centroid(&self, list: usize) -> &[f32] {
        let dims = self.meta.dims as usize;
        &self.centroids[list * dims..(list + 1) * dims]
    }

    /// How far a value is from the centroid of `list`, for the list's
    /// radius: the Euclidean distance, of the value scaled to unit length
    /// for cosine (what [`IvfIndex::list_bounds`] assumes), rounded up.
    pub fn radius_of(&self, words: &[f32], list: usize) -> f32 {
        let centroid = self.centroid(list);
        let squared = if self.metric.metric == Metric::Cosine {
            let norm = distance::norm_squared(words).sqrt();
            words.iter().zip(centroid).map(|(&x, &c)| (x / norm - c) * (x / norm - c)).sum::<f32>()
        } else {
            distance::l2_squared(words, centroid)
        };
        squared.sqrt() * (1.0 + 1e-5) + 1e-6
    }

    /// Per list, a lower bound of the scan key of any entry in it, from
    /// the query's distance to the centroid and the list's radius `r`:
    /// `‖q − x‖ ≥ ‖q − c‖ − r` (l2, and l1 ≥ l2), `−q·x ≥ −q·c − ‖q‖ r`,
    /// `1 − q̂·x̂ ≥ 1 − q̂·c − r` (cosine). Keys are in the units the scan
    /// uses: squared for l2 over full values, the SQL operator's otherwise.
    pub fn list_bounds(&self, query: &[f32], query_norm: f64) -> Vec<f64> {
        let squared_keys = self.metric.metric == Metric::L2 && !self.metric.sq8;
        (0..self.lists.len())
            .map(|list| {
                let c = self.centroid(list);
                let r = f64::from(self.lists[list].radius);
                let bound = match self.metric.metric {
                    Metric::L2 | Metric::L1 => {
                        let gap = (f64::from(distance::l2_squared(query, c)).sqrt() - r).max(0.0);
                        if squared_keys { gap * gap } else { gap }
                    }
                    Metric::InnerProduct => -f64::from(distance::dot(query, c)) - query_norm * r,
                    Metric::Cosine if query_norm > 0.0 => 1.0 - f64::from(distance::dot(query, c)) / query_norm - r,
                    Metric::Cosine => f64::NEG_INFINITY,
                };
                // Float rounding in the keys' kernels: never claim more.
                let bound = bound - 1e-5 * (bound.abs() + 1.0);
                if bound.is_nan() { f64::NEG_INFINITY } else { bound }
            })
            .collect()
    }
}

//! Accuracy, macro-F1, per-class precision and recall, the confusion matrix, and
//! subject-grouped fold assignment.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    pub class: String,
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// An evaluation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// How the numbers were obtained.
    pub protocol: String,
    /// Classes, in matrix order.
    pub classes: Vec<String>,
    /// `matrix[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Samples evaluated.
    pub samples: usize,
    /// Samples that could not be evaluated (unreadable, no face).
    pub skipped: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassScores>,
    /// Accuracy of each fold, for cross-validation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fold_accuracy: Vec<f64>,
    /// A latent-truth model's transition matrices (see [`SourceTransition`]).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub latent_transitions: Vec<SourceTransition>,
    /// Whole sets of frames scored (`--set-by`), beside the frames above.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub per_set: Option<SetScore>,
}

/// Accuracy over whole sets of frames (a CK+ sequence, a video track): each set
/// gets one answer and counts once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetScore {
    /// How a set's frames became one answer.
    pub pooling: String,
    /// Sets scored.
    pub sets: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Per-set accuracy of each fold, for cross-validation.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fold_accuracy: Vec<f64>,
}

impl SetScore {
    /// The score of sets with these true and predicted classes.
    pub fn new(pooling: String, classes: Vec<String>, truth: &[usize], pred: &[usize]) -> Self {
        let r = Report::new(String::new(), classes, truth, pred, 0);
        SetScore {
            pooling,
            sets: r.samples,
            accuracy: r.accuracy,
            macro_f1: r.macro_f1,
            fold_accuracy: Vec::new(),
        }
    }

    /// One line of text for the report.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "per-set accuracy: {:.2}% over {} sets (macro-F1 {:.4}; each set read by {})\n",
            100.0 * self.accuracy,
            self.sets,
            self.macro_f1,
            self.pooling
        );
        if !self.fold_accuracy.is_empty() {
            s += &format!(
                "per-set fold accuracy (%): {}\n",
                percentages(&self.fold_accuracy)
            );
        }
        s
    }
}

/// One annotation source's learned transition matrix (`fer train --latent-truth`):
/// `matrix[z][y]` is the probability that the source labels `y` a face whose
/// latent true expression is `z`, over the model's `classes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTransition {
    pub source: String,
    pub classes: Vec<String>,
    pub matrix: Vec<Vec<f32>>,
}

impl SourceTransition {
    /// A table, rows the latent truth, columns the source's labels, in percent.
    pub fn to_text(&self) -> String {
        format!(
            "transition of source {} (rows: latent truth, columns: the source's label, %)\n{}",
            self.source,
            matrix_table(&self.classes, &self.matrix, |v| format!(
                "{:>8.1}",
                100.0 * v
            ))
        )
    }
}

impl Report {
    /// Build from true and predicted class indices. Classes that are neither in
    /// the data nor ever predicted are left out of the report.
    pub fn new(
        protocol: String,
        classes: Vec<String>,
        truth: &[usize],
        pred: &[usize],
        skipped: usize,
    ) -> Self {
        let used: Vec<usize> = (0..classes.len())
            .filter(|c| truth.contains(c) || pred.contains(c))
            .collect();
        let index = |c: usize| used.iter().position(|&u| u == c).unwrap_or(0);
        let truth: Vec<usize> = truth.iter().map(|&c| index(c)).collect();
        let pred: Vec<usize> = pred.iter().map(|&c| index(c)).collect();
        let classes: Vec<String> = used.iter().map(|&c| classes[c].clone()).collect();
        let k = classes.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&t, &p) in truth.iter().zip(&pred) {
            confusion[t][p] += 1;
        }
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let n = truth.len();
        let per_class: Vec<ClassScores> = (0..k)
            .map(|i| {
                let tp = confusion[i][i] as f64;
                let support: usize = confusion[i].iter().sum();
                let predicted: usize = (0..k).map(|r| confusion[r][i]).sum();
                let precision = if predicted > 0 {
                    tp / predicted as f64
                } else {
                    0.0
                };
                let recall = if support > 0 {
                    tp / support as f64
                } else {
                    0.0
                };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScores {
                    class: classes[i].clone(),
                    support,
                    precision,
                    recall,
                    f1,
                }
            })
            .collect();
        let present: Vec<&ClassScores> = per_class.iter().filter(|c| c.support > 0).collect();
        let macro_f1 = if present.is_empty() {
            0.0
        } else {
            present.iter().map(|c| c.f1).sum::<f64>() / present.len() as f64
        };
        Report {
            protocol,
            classes,
            confusion,
            samples: n,
            skipped,
            accuracy: if n > 0 {
                correct as f64 / n as f64
            } else {
                0.0
            },
            macro_f1,
            per_class,
            fold_accuracy: Vec::new(),
            latent_transitions: Vec::new(),
            per_set: None,
        }
    }

    /// A human-readable table.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "protocol: {}\nsamples: {} (skipped {})\naccuracy: {:.2}%\nmacro-F1: {:.4}\n",
            self.protocol,
            self.samples,
            self.skipped,
            100.0 * self.accuracy,
            self.macro_f1
        );
        if !self.fold_accuracy.is_empty() {
            s += &format!("fold accuracy (%): {}\n", percentages(&self.fold_accuracy));
        }
        if let Some(sets) = &self.per_set {
            s += &sets.to_text();
        }
        s += &format!(
            "\n{:<10} {:>9} {:>9} {:>9} {:>8}\n",
            "class", "precision", "recall", "F1", "support"
        );
        for c in &self.per_class {
            s += &format!(
                "{:<10} {:>9.3} {:>9.3} {:>9.3} {:>8}\n",
                c.class, c.precision, c.recall, c.f1, c.support
            );
        }
        s += "\nconfusion (rows: true, columns: predicted)\n";
        s += &matrix_table(&self.classes, &self.confusion, |v| format!("{v:>8}"));
        for t in &self.latent_transitions {
            s += "\n";
            s += &t.to_text();
        }
        s
    }
}

/// Shares as percentages with one decimal, space-separated.
fn percentages(shares: &[f64]) -> String {
    let v: Vec<String> = shares.iter().map(|a| format!("{:.1}", 100.0 * a)).collect();
    v.join(" ")
}

/// A square matrix over `classes` as text: a header of class names (8 characters
/// at most), then one row per class, each cell written by `cell` in 8 columns.
fn matrix_table<T>(classes: &[String], rows: &[Vec<T>], cell: impl Fn(&T) -> String) -> String {
    let mut s = format!("{:<10}", "");
    for c in classes {
        s += &format!(" {:>8}", c.chars().take(8).collect::<String>());
    }
    s += "\n";
    for (name, row) in classes.iter().zip(rows) {
        s += &format!("{name:<10}");
        for v in row {
            s += " ";
            s += &cell(v);
        }
        s += "\n";
    }
    s
}

/// Assign samples to `k` folds so that no group is split across folds and fold
/// sizes are balanced: groups, largest first (ties by name), each go to the
/// currently smallest fold. Returns the fold of each sample.
pub fn group_kfold(groups: &[String], k: usize) -> Vec<usize> {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for g in groups {
        *sizes.entry(g.as_str()).or_insert(0) += 1;
    }
    let mut order: Vec<(&str, usize)> = sizes.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut fold_size = vec![0usize; k.max(1)];
    let mut fold_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (g, n) in order {
        let (f, _) = fold_size
            .iter()
            .enumerate()
            .min_by_key(|(i, s)| (**s, *i))
            .unwrap_or((0, &0));
        fold_size[f] += n;
        fold_of.insert(g, f);
    }
    groups
        .iter()
        .map(|g| fold_of.get(g.as_str()).copied().unwrap_or(0))
        .collect()
}

/// Index of the largest probability among `allowed` classes (all when `None`).
pub fn argmax(probs: &[f32], allowed: Option<&[usize]>) -> usize {
    let candidates: Vec<usize> = match allowed {
        Some(a) => a.to_vec(),
        None => (0..probs.len()).collect(),
    };
    candidates
        .into_iter()
        .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_a_hand_computed_example() {
        let classes = ["a", "b", "c", "unused"].map(String::from).to_vec();
        // truth a a a b b c ; predicted a a b b c c
        let r = Report::new(
            "t".into(),
            classes,
            &[0, 0, 0, 1, 1, 2],
            &[0, 0, 1, 1, 2, 2],
            1,
        );
        assert_eq!(r.classes, ["a", "b", "c"]);
        assert_eq!(
            r.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        let f1 = |p: f64, r: f64| 2.0 * p * r / (p + r);
        let expected = (f1(1.0, 2.0 / 3.0) + f1(0.5, 0.5) + f1(0.5, 1.0)) / 3.0;
        assert!((r.macro_f1 - expected).abs() < 1e-12);
        assert_eq!(r.per_class[1].support, 2);
    }

    #[test]
    fn group_folds_never_split_a_group_and_are_balanced() {
        let groups: Vec<String> = (0..100).map(|i| format!("s{}", i % 23)).collect();
        let fold = group_kfold(&groups, 5);
        for g in 0..23 {
            let folds: std::collections::BTreeSet<usize> = groups
                .iter()
                .zip(&fold)
                .filter(|(x, _)| **x == format!("s{g}"))
                .map(|(_, f)| *f)
                .collect();
            assert_eq!(folds.len(), 1, "group s{g} in folds {folds:?}");
        }
        let sizes: Vec<usize> = (0..5)
            .map(|f| fold.iter().filter(|x| **x == f).count())
            .collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 5,
            "{sizes:?}"
        );
    }
}

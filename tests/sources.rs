//! Learning from sources whose annotations disagree, on synthetic sources whose
//! truth is known: latent truth (IPA2LT) must recover the sources' transition
//! matrices, and partial labels (Durand et al.) must keep a class that one source
//! never annotates alive. Also the refusals of nonsense.

mod common;

use fer::dataset::{self, DataFilter};
use fer::model::mlp::{MlpParams, Objective};
use fer::model::{Model, ModelKind};
use fer::rows::LabelledRows;
use fer::train::{fit, FitOptions};
use fer::PipelineConfig;
use rand::{Rng, SeedableRng};

const CLASSES: [&str; 3] = ["angry", "happy", "sad"];
/// Informative features of the latent-truth faces.
const LATENT_TEST_FEATURES: usize = 6;

/// A face of true class `z`: blob features as in `common::blobs`, on the first
/// `informative` features (the others constant).
fn face(rng: &mut rand::rngs::StdRng, dim: usize, z: usize, informative: usize) -> Vec<f32> {
    (0..dim)
        .map(|j| {
            if j >= informative {
                0.0
            } else {
                rng.random_range(-1.0..1.0) + if j % CLASSES.len() == z { 1.5 } else { 0.0 }
            }
        })
        .collect()
}

fn draw(rng: &mut rand::rngs::StdRng, p: &[f32]) -> usize {
    let u: f32 = rng.random_range(0.0..1.0);
    let mut acc = 0.0;
    for (i, v) in p.iter().enumerate() {
        acc += v;
        if u < acc {
            return i;
        }
    }
    p.len() - 1
}

fn empty_rows(sources: &[&str]) -> LabelledRows {
    let mut rows = LabelledRows::empty(CLASSES.iter().map(|s| s.to_string()).collect());
    rows.sources = sources.iter().map(|s| s.to_string()).collect();
    rows
}

fn push(rows: &mut LabelledRows, x: Vec<f32>, label: usize, source: u32, sample: usize) {
    rows.push(x, label as u32, format!("img{sample}"), false, sample);
    *rows.source.last_mut().unwrap() = source;
}

fn options(kind: ModelKind, objective: Objective, epochs: usize) -> FitOptions {
    let mut o = common::options(kind, PipelineConfig::default());
    o.params = MlpParams {
        epochs,
        hidden: vec![32],
        objective,
        ..Default::default()
    }
    .check()
    .unwrap();
    o.val_fraction = 0.0; // the last epoch is kept: no early stopping on noisy labels
    o
}

/// Every image labelled twice, by two sources with known transition matrices. The
/// faces vary in few features, so the network cannot learn each face's label noise
/// by heart (which would explain every label with identity matrices): only then is
/// the latent truth identifiable from the labels.
fn two_annotations(
    truth: [[[f32; 3]; 3]; 2],
    per_class: usize,
    seed: u64,
) -> (LabelledRows, Vec<usize>) {
    let dim = common::blobs(&PipelineConfig::default(), 1, 2, 0).x[0].len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rows = empty_rows(&["source-a", "source-b"]);
    let mut z_of = Vec::new();
    let mut sample = 0;
    for z in 0..CLASSES.len() {
        for _ in 0..per_class {
            let x = face(&mut rng, dim, z, LATENT_TEST_FEATURES);
            for (s, t) in truth.iter().enumerate() {
                let y = draw(&mut rng, &t[z]);
                push(&mut rows, x.clone(), y, s as u32, sample);
                z_of.push(z);
            }
            sample += 1;
        }
    }
    (rows, z_of)
}

/// A model of `kind` trained on every row of `rows`.
fn train(rows: &LabelledRows, kind: ModelKind, objective: Objective, epochs: usize) -> Model {
    let all: Vec<usize> = (0..rows.x.len()).collect();
    fit(
        rows,
        &all,
        &options(kind, objective, epochs),
        &mut |_, _, _, _| {},
    )
    .unwrap()
}

/// Share of the faces `x` that `model` reads as `expected`.
fn agreement(model: &Model, x: &[Vec<f32>], expected: &[usize]) -> f64 {
    let probs = model.predict(x).unwrap();
    let right = probs
        .iter()
        .zip(expected)
        .filter(|(p, e)| fer::metrics::argmax(p, None) == **e)
        .count();
    right as f64 / expected.len() as f64
}

#[test]
fn latent_truth_recovers_each_sources_transition_matrix() {
    // Source a is nearly right; source b reads 40% of angry faces as happy and 20% of sad ones as angry.
    let truth = [
        [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]],
        [[0.6, 0.4, 0.0], [0.0, 0.95, 0.05], [0.2, 0.0, 0.8]],
    ];
    let (rows, z_of) = two_annotations(truth, 300, 21);
    let model = train(&rows, ModelKind::MLP, Objective::LatentTruth, 60);
    let learned = model.transitions().unwrap();
    assert_eq!(learned.len(), 2);
    assert_eq!(model.header().latent_sources, ["source-a", "source-b"]);
    for ((name, m), t) in learned.iter().zip(truth) {
        for z in 0..3 {
            for y in 0..3 {
                assert!(
                    (m[z][y] - t[z][y]).abs() < 0.05,
                    "{name}: T[{z}][{y}] learned {:.3}, true {:.2}\n{m:?}",
                    m[z][y],
                    t[z][y]
                );
            }
        }
    }
    // The latent head reads the truth, not source b's confusions.
    let right = agreement(&model, &rows.x, &z_of);
    assert!(right > 0.95, "{right}");

    // The matrices survive a save and a load.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latent.safetensors");
    model.save(&path).unwrap();
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.transitions().unwrap(), learned);
}

#[test]
fn partial_labels_keep_a_class_that_one_source_never_annotates() {
    // Source "big" has no `sad`: its annotators called sad faces happy. Source
    // "small" annotates all three classes correctly, on few faces.
    let dim = common::blobs(&PipelineConfig::default(), 1, 2, 0).x[0].len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut rows = empty_rows(&["big", "small"]);
    let mut sample = 0;
    for z in 0..3 {
        for _ in 0..120 {
            push(&mut rows, face(&mut rng, dim, z, dim), z.min(1), 0, sample);
            sample += 1;
        }
        for _ in 0..12 {
            push(&mut rows, face(&mut rng, dim, z, dim), z, 1, sample);
            sample += 1;
        }
    }
    let test: Vec<Vec<f32>> = (0..60).map(|_| face(&mut rng, dim, 2, dim)).collect();
    let sad_share = |objective: Objective| {
        let model = train(&rows, ModelKind::MLP, objective, 30);
        agreement(&model, &test, &vec![2; test.len()])
    };
    let naive = sad_share(Objective::CrossEntropy);
    let partial = sad_share(Objective::PartialLabels);
    assert!(
        naive < 0.3,
        "the naive merge learnt that sad faces are happy only {naive} of the time?"
    );
    assert!(
        partial > 0.8,
        "with partial labels, sad faces read as sad {partial} of the time"
    );
}

#[test]
fn other_networks_train_with_both_objectives() {
    let truth = [
        [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]],
        [[0.8, 0.2, 0.0], [0.0, 0.9, 0.1], [0.1, 0.0, 0.9]],
    ];
    let (rows, z_of) = two_annotations(truth, 100, 3);
    for kind in [ModelKind::SOFT_TREE, ModelKind::NDF, ModelKind::DNDT] {
        for objective in [Objective::LatentTruth, Objective::PartialLabels] {
            let model = train(&rows, kind, objective, 40);
            let right = agreement(&model, &rows.x, &z_of);
            assert!(right > 0.9, "{kind} with {objective:?}: {right}");
            assert_eq!(
                model.transitions().unwrap().len(),
                if objective == Objective::LatentTruth {
                    2
                } else {
                    0
                }
            );
        }
    }
}

#[test]
fn nonsense_is_refused_with_the_reason() {
    let truth = [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]; 2];
    let (mut rows, _) = two_annotations(truth, 10, 4);
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let err = |rows: &LabelledRows, opts: &FitOptions| match fit(
        rows,
        &all,
        opts,
        &mut |_, _, _, _| {},
    ) {
        Ok(_) => panic!("trained"),
        Err(e) => e.to_string(),
    };
    // Latent truth with trees that do not learn by gradient.
    let e = err(
        &rows,
        &options(ModelKind::FOREST, Objective::LatentTruth, 2),
    );
    assert!(
        e.contains("--latent-truth trains the networks") && e.contains("forest"),
        "{e}"
    );
    // Latent truth from votes.
    rows.votes = Some(vec![vec![1.0, 0.0, 0.0]; rows.x.len()]);
    let e = err(&rows, &options(ModelKind::MLP, Objective::LatentTruth, 2));
    assert!(e.contains("does not take --votes"), "{e}");
    rows.votes = None;
    // Latent truth from one source.
    rows.source.iter_mut().for_each(|s| *s = 0);
    let e = err(&rows, &options(ModelKind::MLP, Objective::LatentTruth, 2));
    assert!(
        e.contains("needs two or more annotated sources") && e.contains("source-a"),
        "{e}"
    );
}

#[test]
fn sources_come_from_names_manifest_datasets_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    for class in ["happy", "sad"] {
        std::fs::create_dir_all(dir.path().join("faces").join(class)).unwrap();
        std::fs::write(dir.path().join("faces").join(class).join("a.png"), b"x").unwrap();
    }
    let manifest = dir.path().join("m.csv");
    std::fs::write(
        &manifest,
        "dataset,path,label_original,label_canonical,subject,split,note\n\
         one,faces/happy/a.png,happy,happy,,Training,\n\
         two,faces/sad/a.png,sad,sad,,Training,\n",
    )
    .unwrap();
    let folder = dir.path().join("faces");
    let named = std::path::PathBuf::from(format!("mine={}", folder.display()));
    let samples = dataset::load(
        &[folder.clone(), manifest.clone(), named],
        &DataFilter::default(),
    )
    .unwrap();
    let sources: Vec<&str> = samples.iter().map(|s| s.source.as_str()).collect();
    let f = folder.display().to_string();
    assert_eq!(
        sources,
        [f.as_str(), f.as_str(), "one", "two", "mine", "mine"]
    );
    // A class no source has is refused, naming it.
    let filter = DataFilter {
        classes: vec!["contempt".into(), "happy".into()],
        ..Default::default()
    };
    let e = dataset::load(&[folder], &filter).unwrap_err().to_string();
    assert!(
        e.contains("no source has the class `contempt`") && e.contains("happy, sad"),
        "{e}"
    );
}

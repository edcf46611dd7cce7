//! Deep models together: the shipped face-api.js model (three grey channels),
//! weighted ensembles (inline `A@w+B@w` and sidecars), mirror averaging
//! (`--tta flip`), and refusing what makes no sense.

mod common;

use fer::model::load::{load_face_model, LoadOptions};
use fer::model::onnx::DnnDevice;
use fer::model::tta::{mirror_boxes, Tta};
use fer::model::FaceModel;
use fer::pipeline::{ImageReading, Pipeline, PipelineConfig};
use fer::stages::decode::{decode_file, DecodeConfig};
use fer::GrayImage;

fn opts(tta: Option<Tta>) -> LoadOptions {
    LoadOptions {
        device: DnnDevice::Cpu,
        fp16: false,
        tta,
    }
}

fn load(spec: &str, tta: Option<Tta>) -> Box<dyn FaceModel> {
    load_face_model(spec, &opts(tta)).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn load_err(spec: &str, tta: Option<Tta>) -> String {
    match load_face_model(spec, &opts(tta)) {
        Ok(_) => panic!("{spec} loaded"),
        Err(e) => e.to_string(),
    }
}

/// justin.jpg and the pipeline's reading of it (one face).
fn justin() -> (GrayImage, ImageReading) {
    let img = decode_file(&common::sample("justin.jpg"), &DecodeConfig::default()).unwrap();
    let reading = Pipeline::new(PipelineConfig::default())
        .unwrap()
        .read_image(&img)
        .unwrap();
    assert_eq!(reading.faces.len(), 1);
    (img, reading)
}

fn best(model: &dyn FaceModel, p: &[f32]) -> String {
    model.classes()[fer::metrics::argmax(p, None)].clone()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn the_faceapi_model_reads_a_smile_from_three_grey_channels() {
    let (img, reading) = justin();
    let model = load("faceapi-expression", None);
    assert_eq!(model.classes().len(), 7);
    let p = model.classify_faces(&img, &reading).unwrap().remove(0);
    assert_eq!(best(model.as_ref(), &p), "happy", "{p:?}");
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    assert!(model.reads_pixels() && model.bytes_on_disk() > 1_000_000);
}

#[test]
fn flip_averages_the_face_and_its_mirror_image() {
    let (img, reading) = justin();
    let plain = load("mini-xception", None);
    let flipped = load("mini-xception", Some(Tta::Flip));
    let a = plain.classify_faces(&img, &reading).unwrap().remove(0);
    let mirror = img.mirrored().unwrap();
    let b = plain
        .classify_faces(&mirror, &mirror_boxes(&reading, img.width()))
        .unwrap()
        .remove(0);
    let mean: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
    let got = flipped.classify_faces(&img, &reading).unwrap().remove(0);
    assert!(close(&got, &mean, 1e-6), "{got:?} vs {mean:?}");
    // The mirrored face differs from the face (else the test shows nothing).
    assert!(!close(&a, &b, 1e-4), "{a:?} {b:?}");
    // A mirrored box mirrors back.
    let twice = mirror_boxes(&mirror_boxes(&reading, 500), 500);
    assert_eq!(twice.faces[0].bbox, reading.faces[0].bbox);
    let once = mirror_boxes(&reading, img.width());
    let [x, _, w, _] = reading.faces[0].bbox;
    assert_eq!(once.faces[0].bbox[0], img.width() as i32 - x - w);
}

#[test]
fn an_inline_ensemble_is_the_weighted_mean_over_the_union_of_classes() {
    let (img, reading) = justin();
    let mx = load("mini-xception", None);
    let fa = load("faceapi-expression", None);
    let ens = load("mini-xception@3+faceapi-expression@1", None);
    // Both members have the same seven classes, in different orders; the ensemble lists them canonically.
    assert_eq!(
        ens.classes(),
        ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    );
    let pm = mx.classify_faces(&img, &reading).unwrap().remove(0);
    let pf = fa.classify_faces(&img, &reading).unwrap().remove(0);
    let got = ens.classify_faces(&img, &reading).unwrap().remove(0);
    for (i, c) in ens.classes().iter().enumerate() {
        let m = pm[mx.classes().iter().position(|k| k == c).unwrap()];
        let f = pf[fa.classes().iter().position(|k| k == c).unwrap()];
        let want = 0.75 * m + 0.25 * f;
        assert!((got[i] - want).abs() < 1e-6, "{c}: {} vs {want}", got[i]);
    }
    // A member without a weight weighs 1; flip applies to the whole ensemble.
    let even = load("mini-xception+faceapi-expression", Some(Tta::Flip));
    let p = even.classify_faces(&img, &reading).unwrap().remove(0);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    assert_eq!(best(even.as_ref(), &p), "happy");
}

#[test]
fn ensemble_sidecars_load_members_beside_them_or_by_shipped_name() {
    let dir = tempfile::tempdir().unwrap();
    let models = common::root().join("models");
    std::fs::copy(
        models.join("mini-xception.json"),
        dir.path().join("mx.json"),
    )
    .unwrap();
    std::fs::copy(
        models.join("mini-xception.onnx"),
        dir.path().join("mini-xception.onnx"),
    )
    .unwrap();
    let side = dir.path().join("pair.json");
    std::fs::write(
        &side,
        r#"{"format": "fer-ensemble", "members": [{"model": "mx.json", "weight": 0.5}, {"model": "faceapi-expression", "weight": 0.5}], "tta": "flip"}"#,
    )
    .unwrap();
    let (img, reading) = justin();
    let from_file = load(side.to_str().unwrap(), None);
    let inline = load("mini-xception@1+faceapi-expression@1", Some(Tta::Flip));
    let a = from_file.classify_faces(&img, &reading).unwrap().remove(0);
    let b = inline.classify_faces(&img, &reading).unwrap().remove(0);
    assert!(
        close(&a, &b, 1e-6),
        "the sidecar's tta is flip: {a:?} vs {b:?}"
    );
    // --tta none overrides the sidecar's.
    let no_flip = load(side.to_str().unwrap(), Some(Tta::None));
    let c = no_flip.classify_faces(&img, &reading).unwrap().remove(0);
    assert!(!close(&a, &c, 1e-4));
    // The shipped ensemble loads by name.
    let shipped = load("deep-ensemble", None);
    let p = shipped.classify_faces(&img, &reading).unwrap().remove(0);
    assert_eq!(best(shipped.as_ref(), &p), "happy");
}

#[test]
fn nonsense_ensembles_and_flips_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let cases = [
        (
            "mini-xception@lots+faceapi-expression@1".to_string(),
            "the weight after @ is not a number",
        ),
        (
            "mini-xception@-1+faceapi-expression@1".to_string(),
            "must be a positive number",
        ),
        (
            "mini-xception@0+faceapi-expression@1".to_string(),
            "must be a positive number",
        ),
        ("@0.5+faceapi-expression".to_string(), "has no name"),
        (
            "mini-xception@1+no-such-model.safetensors@1".to_string(),
            "no-such-model.safetensors",
        ),
        (
            write("empty.json", r#"{"format": "fer-ensemble", "members": []}"#),
            "has no members",
        ),
        (
            write(
                "nested.json",
                r#"{"format": "fer-ensemble", "members": [{"model": "deep-ensemble", "weight": 1}]}"#,
            ),
            "cannot be a member of another ensemble",
        ),
        (
            write(
                "tta.json",
                r#"{"format": "fer-ensemble", "members": [{"model": "mini-xception", "weight": 1}], "tta": "rotate"}"#,
            ),
            "not one of none, flip",
        ),
        (
            write("other.json", r#"{"format": "something-else"}"#),
            "expected `fer-onnx` or `fer-ensemble`",
        ),
        (write("broken.json", "{"), "not a fer sidecar"),
        // Like an ONNX sidecar's network, a member lies in the sidecar's own folder.
        (
            write(
                "escape.json",
                r#"{"format": "fer-ensemble", "members": [{"model": "../mx.json", "weight": 1}]}"#,
            ),
            "own folder",
        ),
        (
            write(
                "absolute.json",
                &format!(
                    r#"{{"format": "fer-ensemble", "members": [{{"model": "{}", "weight": 1}}]}}"#,
                    common::root().join("models/mini-xception.json").display()
                ),
            ),
            "own folder",
        ),
    ];
    for (spec, reason) in cases {
        let err = load_err(&spec, None);
        assert!(err.contains(reason), "{spec}: {err}");
    }
    // Flip needs a model that reads pixels.
    let bundle = common::root().join("models/fer-default.safetensors");
    let err = load_err(bundle.to_str().unwrap(), Some(Tta::Flip));
    assert!(err.contains("not the face's pixels"), "{err}");
}

//! Training curves: the loss (left axis) and an accuracy (right axis) per epoch,
//! with the kept epoch marked. Bundles store them in their header
//! (`training.report`), CNN files in theirs (`training.loss`, `validation_accuracy` or
//! `train_accuracy`).

use super::canvas::{colour, save, text_style, DrawResult, Picture, FONT};
use crate::error::{FerError, Result};
use crate::model::cnn::{is_cnn_file, CnnModel};
use crate::model::cnn_checkpoint::{is_checkpoint_file, Checkpoint, CheckpointHeader};
use crate::model::load::resolve_model;
use crate::model::Model;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Up to this many epochs, each is marked with a dot.
const FEW_EPOCHS: usize = 20;

/// What a model's training recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// Title: the model and how it was trained.
    pub title: String,
    /// Mean training loss per epoch.
    pub loss: Vec<f32>,
    /// Accuracy (0..1) per epoch, and what it was measured on.
    pub accuracy: Vec<f32>,
    pub accuracy_name: String,
    /// The epoch whose weights were kept (1-based), if the model kept one.
    pub kept_epoch: Option<usize>,
}

impl Curves {
    /// The curves of a bundle: training loss and validation accuracy per epoch
    /// (training accuracy when it kept no validation split).
    pub fn of_bundle(model: &Model, name: &str) -> Self {
        let t = &model.header().training;
        Curves {
            title: format!(
                "{name}: {} model, {} training rows, {} validation",
                model.kind(),
                t.train,
                t.validation
            ),
            loss: t.report.train_loss.clone(),
            accuracy: t.report.val_accuracy_curve.clone(),
            accuracy_name: if t.validation > 0 {
                "validation accuracy".into()
            } else {
                "training accuracy".into()
            },
            kept_epoch: (t.report.best_epoch > 0).then_some(t.report.best_epoch),
        }
    }

    /// The curves of a CNN from `fer train-cnn`: loss on its training batches per
    /// epoch, and accuracy on its validation crops (on its training batches when it
    /// had none). It keeps its last epoch.
    pub fn of_cnn(cnn: &CnnModel, name: &str) -> Self {
        let t = &cnn.header().training;
        let title = if t.validation_accuracy.is_empty() {
            format!("{name}: CNN, {} crops", t.samples)
        } else {
            format!(
                "{name}: CNN, {} crops, {} validation",
                t.samples, t.validation_samples
            )
        };
        Curves::of_cnn_run(title, &t.loss, &t.train_accuracy, &t.validation_accuracy)
    }

    /// The curves so far of a `train-cnn` run, from its checkpoint.
    pub fn of_checkpoint(header: &CheckpointHeader, name: &str) -> Self {
        Curves::of_cnn_run(
            format!(
                "{name}: CNN training checkpoint after epoch {}",
                header.epochs_done
            ),
            &header.losses,
            &header.accuracies,
            &header.validation_accuracies,
        )
    }

    /// A CNN run's loss, and its validation accuracy, or its training accuracy
    /// when it had no validation crops.
    fn of_cnn_run(title: String, loss: &[f32], train: &[f32], validation: &[f32]) -> Self {
        let (accuracy, accuracy_name) = if validation.is_empty() {
            (train, "training accuracy")
        } else {
            (validation, "validation accuracy")
        };
        Curves {
            title,
            loss: loss.to_vec(),
            accuracy: accuracy.to_vec(),
            accuracy_name: accuracy_name.into(),
            kept_epoch: None,
        }
    }

    /// The curves of the model file at `path` (a bundle, a CNN, or a `train-cnn`
    /// checkpoint: the run so far; a shipped name works too).
    pub fn of_model_file(path: &Path) -> Result<Self> {
        let file = resolve_model(path);
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if is_checkpoint_file(&file) {
            Ok(Curves::of_checkpoint(
                &Checkpoint::read_header(&file)?,
                &name,
            ))
        } else if is_cnn_file(&file) {
            Ok(Curves::of_cnn(&CnnModel::load(&file)?, &name))
        } else {
            Ok(Curves::of_bundle(&Model::load(&file)?, &name))
        }
    }
}

impl Picture for Curves {
    fn size(&self) -> (u32, u32) {
        (800, 480)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let epochs = self.loss.len().max(self.accuracy.len()).max(1);
        let max_loss = self.loss.iter().cloned().fold(0f32, f32::max).max(1e-3) as f64 * 1.05;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .right_y_label_area_size(60)
            .build_cartesian_2d(1f64..epochs.max(2) as f64, 0f64..max_loss)?
            .set_secondary_coord(1f64..epochs.max(2) as f64, 0f64..100f64);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("epoch")
            .x_labels(epochs.clamp(2, 12))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("training loss")
            .label_style((FONT, 13))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc(format!("{} (%)", self.accuracy_name))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 13))
            .draw()?;
        let (loss_c, acc_c) = (colour(3), colour(0));
        chart
            .draw_series(LineSeries::new(
                self.loss
                    .iter()
                    .enumerate()
                    .map(|(e, &l)| ((e + 1) as f64, l as f64)),
                loss_c.stroke_width(2),
            ))?
            .label("training loss")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], loss_c.stroke_width(2))
            });
        chart
            .draw_secondary_series(LineSeries::new(
                self.accuracy
                    .iter()
                    .enumerate()
                    .map(|(e, &a)| ((e + 1) as f64, 100.0 * a as f64)),
                acc_c.stroke_width(2),
            ))?
            .label(self.accuracy_name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], acc_c.stroke_width(2))
            });
        // Few epochs (a run just begun): mark each one, so that a single epoch shows.
        if epochs <= FEW_EPOCHS {
            chart.draw_series(
                self.loss
                    .iter()
                    .enumerate()
                    .map(|(e, &l)| Circle::new(((e + 1) as f64, l as f64), 3, loss_c.filled())),
            )?;
            chart.draw_secondary_series(self.accuracy.iter().enumerate().map(|(e, &a)| {
                Circle::new(((e + 1) as f64, 100.0 * a as f64), 3, acc_c.filled())
            }))?;
        }
        if let Some(kept) = self.kept_epoch {
            let x = kept as f64;
            chart.draw_secondary_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, 100.0)],
                BLACK.mix(0.5).stroke_width(1),
            )))?;
            chart.draw_secondary_series(std::iter::once(Text::new(
                format!("kept: epoch {kept}"),
                (x, 98.0),
                text_style(12, &BLACK, HPos::Left, VPos::Top),
            )))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 13))
            .position(SeriesLabelPosition::MiddleRight)
            .draw()?;
        Ok(())
    }
}

/// Draw `curves` to `path` (.png or .svg); a model trained in one pass has none.
pub fn training_curves(curves: &Curves, path: &Path) -> Result<()> {
    if curves.loss.is_empty() && curves.accuracy.is_empty() {
        return Err(FerError::Picture {
            path: path.to_path_buf(),
            reason: format!(
                "{}: trained in one pass (forest, boost), so there are no curves to draw",
                curves.title
            ),
        });
    }
    save(curves, path)
}

//! The terminal readout of `fer live` (ratatui): a header with frames per
//! second and per-stage milliseconds, then per face track its pooled label and
//! one bar per class (pooled probability), with the per-frame label beside it.
//! Drawn on stderr, so that stdout keeps the machine-readable summary.

use crate::error::{FerError, Result};
use crate::live::FrameReport;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

/// The readout on stderr's alternate screen (left when dropped). Raw mode stays
/// off, so that Ctrl-C still ends the run.
pub struct Screen {
    term: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stderr>>,
}

fn terminal_error(error: std::io::Error) -> FerError {
    FerError::Io {
        path: "<stderr>".into(),
        error,
    }
}

impl Screen {
    /// Enter the alternate screen on stderr.
    pub fn open() -> Result<Self> {
        ratatui::crossterm::execute!(
            std::io::stderr(),
            ratatui::crossterm::terminal::EnterAlternateScreen
        )
        .map_err(terminal_error)?;
        Ok(Screen {
            term: ratatui::Terminal::new(
                ratatui::backend::CrosstermBackend::new(std::io::stderr()),
            )
            .map_err(terminal_error)?,
        })
    }

    /// Draw one frame's readout; a failure is logged, not fatal.
    pub fn draw(&mut self, r: &FrameReport, source: &str) {
        if let Err(e) = self.term.draw(|f| render(f, r, source)) {
            tracing::warn!("terminal readout: {e}");
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = ratatui::crossterm::execute!(
            std::io::stderr(),
            ratatui::crossterm::terminal::LeaveAlternateScreen
        );
    }
}

/// Width of a full bar, in cells.
pub const BAR_WIDTH: usize = 30;
/// Rows per face panel: a border above and below, the title line and one row per class.
fn panel_height(classes: usize) -> u16 {
    (classes + 2) as u16
}

/// A bar of `p` (0..1) in `width` cells.
pub fn bar(p: f32, width: usize) -> String {
    let filled = ((p.clamp(0.0, 1.0) * width as f32).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "·".repeat(width - filled))
}

/// Draw one frame's readout.
pub fn render(f: &mut Frame, r: &FrameReport, source: &str) {
    let t = r.times;
    let header = vec![
        Line::from(vec![
            Span::styled("fer live ", Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(format!("{source}  frame {}  {:.1} fps", r.frame, r.fps)),
        ]),
        Line::from(format!(
            "decode {:.1} ms  denoise {:.1}  detect {:.1}  align {:.1}  clahe {:.1}  landmarks {:.1}  features {:.1}  classify {:.1}",
            t.decode_ms, t.denoise_ms, t.detect_ms, t.align_ms, t.clahe_ms, t.landmarks_ms, t.features_ms, t.classify_ms
        )),
        Line::from(if r.faces.is_empty() { "no face".to_string() } else { format!("{} face(s); Ctrl-C ends the run", r.faces.len()) }),
    ];
    let area = f.area();
    let mut constraints = vec![Constraint::Length(header.len() as u16)];
    constraints.extend(
        r.faces
            .iter()
            .map(|_| Constraint::Length(panel_height(r.classes.len()))),
    );
    constraints.push(Constraint::Min(0));
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints(constraints)
        .split(area);
    f.render_widget(Paragraph::new(header), rows[0]);
    for (i, face) in r.faces.iter().enumerate() {
        let Some(&rect) = rows.get(i + 1) else { break };
        render_face(f, face, r.classes, rect);
    }
}

fn render_face(f: &mut Frame, face: &crate::live::FaceRecord, classes: &[String], rect: Rect) {
    let title = format!(
        " #{} {} (this frame: {}) ",
        face.track, face.pooled_label, face.label
    );
    let lines: Vec<Line> = classes
        .iter()
        .zip(&face.pooled)
        .map(|(c, &p)| {
            let style = if *c == face.pooled_label {
                Style::default()
                    .fg(Color::Green)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            Line::from(vec![
                Span::styled(format!("{c:<9}"), style),
                Span::styled(bar(p, BAR_WIDTH), style),
                Span::raw(format!(" {:>5.1}%", 100.0 * p)),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP | Borders::BOTTOM)
                .title(title),
        ),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::FaceRecord;
    use crate::pipeline::StageTimes;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(r: &FrameReport) -> String {
        let mut term = Terminal::new(TestBackend::new(110, 30)).expect("test terminal");
        term.draw(|f| render(f, r, "cam")).expect("draw");
        let buf = term.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn shows_fps_stage_times_and_a_bar_per_class_for_each_track() {
        let classes: Vec<String> = ["happy", "sad", "neutral"].map(String::from).to_vec();
        let face = |track, label: &str, pooled: Vec<f32>| FaceRecord {
            t: 0.0,
            frame: 7,
            track,
            bbox: [0, 0, 10, 10],
            label: label.into(),
            pooled_label: classes[(0..3)
                .max_by(|&a, &b| pooled[a].total_cmp(&pooled[b]))
                .unwrap_or(0)]
            .clone(),
            raw: pooled.clone(),
            pooled,
            classes: classes.clone(),
        };
        let faces = vec![
            face(1, "sad", vec![0.75, 0.2, 0.05]),
            face(4, "neutral", vec![0.1, 0.1, 0.8]),
        ];
        let times = StageTimes {
            detect_ms: 21.5,
            classify_ms: 0.4,
            ..Default::default()
        };
        let s = screen(&FrameReport {
            frame: 7,
            faces: &faces,
            times: &times,
            fps: 29.5,
            classes: &classes,
        });
        assert!(s.contains("frame 7") && s.contains("29.5 fps"), "{s}");
        assert!(
            s.contains("detect 21.5") && s.contains("classify 0.4"),
            "{s}"
        );
        assert!(
            s.contains("#1 happy (this frame: sad)")
                && s.contains("#4 neutral (this frame: neutral)"),
            "{s}"
        );
        // 75% of a 30-cell bar is 23 (rounded) full cells.
        let happy_row = s
            .lines()
            .find(|l| l.starts_with("happy") && l.contains("75.0%"))
            .unwrap_or_else(|| panic!("{s}"));
        assert_eq!(happy_row.matches('█').count(), 23, "{happy_row}");
        let empty = screen(&FrameReport {
            frame: 8,
            faces: &[],
            times: &times,
            fps: 30.0,
            classes: &classes,
        });
        assert!(empty.contains("no face"), "{empty}");
    }
}

//! Minimal PNG figures for the examples: panels of lines and markers drawn into an RGB canvas,
//! with no font or system dependency. Written to a temporary file and renamed.

use std::io::BufWriter;
use std::path::Path;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Colours used by the figures.
pub mod colors {
    use super::Rgb;
    /// Blue.
    pub const BLUE: Rgb = [31, 119, 180];
    /// Orange.
    pub const ORANGE: Rgb = [255, 127, 14];
    /// Green.
    pub const GREEN: Rgb = [44, 160, 44];
    /// Red.
    pub const RED: Rgb = [214, 39, 40];
    /// Grey for frames and grids.
    pub const GREY: Rgb = [150, 150, 150];
}

/// Why a figure could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The target path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The PNG encoder failed.
    #[error("cannot encode {path}: {source}")]
    Encode {
        /// The target path.
        path: String,
        /// The cause.
        source: png::EncodingError,
    },
}

/// A white RGB canvas.
///
/// ```
/// use diffeqflux::plot::{colors, Canvas};
/// let mut c = Canvas::new(20, 10);
/// c.line((0.0, 0.0), (19.0, 9.0), colors::BLUE);
/// assert_ne!(c.pixel(0, 0), [255, 255, 255]);
/// ```
pub struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    /// A white canvas of `w × h` pixels.
    pub fn new(w: usize, h: usize) -> Self {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }
    /// The colour at `(x, y)` (white outside).
    pub fn pixel(&self, x: usize, y: usize) -> Rgb {
        if x >= self.w || y >= self.h {
            return [255; 3];
        }
        let i = (y * self.w + x) * 3;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }
    fn put(&mut self, x: f64, y: f64, c: Rgb) {
        if !(x.is_finite() && y.is_finite()) || x < 0.0 || y < 0.0 {
            return;
        }
        let (xi, yi) = (x.round() as usize, y.round() as usize);
        if xi < self.w && yi < self.h {
            let i = (yi * self.w + xi) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }
    /// A two-pixel-wide line between pixel coordinates.
    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), c: Rgb) {
        let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).clamp(1, 100_000);
        for k in 0..=n {
            let s = k as f64 / n as f64;
            let (x, y) = (a.0 + s * (b.0 - a.0), a.1 + s * (b.1 - a.1));
            self.put(x, y, c);
            self.put(x + 1.0, y, c);
            self.put(x, y + 1.0, c);
        }
    }
    /// A filled disc of radius `r` pixels.
    pub fn dot(&mut self, at: (f64, f64), r: f64, c: Rgb) {
        let ri = r.ceil() as i64;
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                if ((dx * dx + dy * dy) as f64) <= r * r {
                    self.put(at.0 + dx as f64, at.1 + dy as f64, c);
                }
            }
        }
    }
    /// Writes the canvas as PNG: to `path.tmp`, then renamed over `path`.
    pub fn save_png(&self, path: &Path) -> Result<(), PlotError> {
        let shown = path.display().to_string();
        let tmp = path.with_extension("png.tmp");
        let io = |source| PlotError::Io {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut enc = png::Encoder::new(BufWriter::new(file), self.w as u32, self.h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let encode = |source| PlotError::Encode {
            path: shown.clone(),
            source,
        };
        let mut writer = enc.write_header().map_err(encode)?;
        writer.write_image_data(&self.px).map_err(encode)?;
        writer.finish().map_err(encode)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// A rectangle of the canvas with data limits: maps data to pixels and draws a frame.
pub struct Panel {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    xlim: (f64, f64),
    ylim: (f64, f64),
    log_y: bool,
}

impl Panel {
    /// A panel at pixel rectangle `(x0, y0, w, h)` showing `xlim × ylim`; `log_y` plots
    /// `log10(y)`. Draws its frame.
    pub fn new(
        canvas: &mut Canvas,
        rect: (f64, f64, f64, f64),
        xlim: (f64, f64),
        ylim: (f64, f64),
        log_y: bool,
    ) -> Self {
        let (x0, y0, w, h) = rect;
        let ylim = if log_y {
            (ylim.0.max(1e-300).log10(), ylim.1.max(1e-300).log10())
        } else {
            ylim
        };
        let pad = |(a, b): (f64, f64)| {
            let d = if (b - a).abs() > 0.0 {
                (b - a) * 0.05
            } else {
                1.0
            };
            (a - d, b + d)
        };
        let panel = Panel {
            x0,
            y0,
            w,
            h,
            xlim: pad(xlim),
            ylim: pad(ylim),
            log_y,
        };
        let g = colors::GREY;
        canvas.line((x0, y0), (x0 + w, y0), g);
        canvas.line((x0, y0 + h), (x0 + w, y0 + h), g);
        canvas.line((x0, y0), (x0, y0 + h), g);
        canvas.line((x0 + w, y0), (x0 + w, y0 + h), g);
        panel
    }
    /// Data to pixel coordinates.
    pub fn map(&self, x: f64, y: f64) -> (f64, f64) {
        let y = if self.log_y { y.max(1e-300).log10() } else { y };
        (
            self.x0 + (x - self.xlim.0) / (self.xlim.1 - self.xlim.0) * self.w,
            self.y0 + self.h - (y - self.ylim.0) / (self.ylim.1 - self.ylim.0) * self.h,
        )
    }
    /// A polyline through `(xs, ys)`.
    pub fn lines(&self, canvas: &mut Canvas, xs: &[f64], ys: &[f64], c: Rgb) {
        for k in 1..xs.len().min(ys.len()) {
            canvas.line(self.map(xs[k - 1], ys[k - 1]), self.map(xs[k], ys[k]), c);
        }
    }
    /// Markers at `(xs, ys)`.
    pub fn markers(&self, canvas: &mut Canvas, xs: &[f64], ys: &[f64], c: Rgb) {
        for (x, y) in xs.iter().zip(ys) {
            canvas.dot(self.map(*x, *y), 3.0, c);
        }
    }
}

fn limits<'a>(vals: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    vals.filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        })
}

/// The training figure of the neural ODE examples: left, the data (markers) against the
/// prediction (lines), one colour per state component; right, the loss per iteration (log scale).
pub fn training_figure(
    path: &Path,
    ts: &[f64],
    data: &[Vec<f64>],
    prediction: &[Vec<f64>],
    losses: &[f64],
) -> Result<(), PlotError> {
    let mut c = Canvas::new(1000, 420);
    let xlim = limits(ts.iter());
    let ylim = limits(data.iter().chain(prediction).flatten());
    let left = Panel::new(&mut c, (40.0, 30.0, 440.0, 360.0), xlim, ylim, false);
    let palette = [colors::BLUE, colors::ORANGE, colors::GREEN, colors::RED];
    let dim = data.first().map_or(0, Vec::len);
    for i in 0..dim {
        let col = palette[i % palette.len()];
        let d: Vec<f64> = data.iter().map(|u| u[i]).collect();
        let p: Vec<f64> = prediction
            .iter()
            .map(|u| u.get(i).copied().unwrap_or(f64::NAN))
            .collect();
        left.markers(&mut c, ts, &d, col);
        left.lines(&mut c, ts, &p, col);
    }
    let its: Vec<f64> = (0..losses.len()).map(|k| k as f64).collect();
    let llim = limits(losses.iter().filter(|l| **l > 0.0));
    let right = Panel::new(
        &mut c,
        (540.0, 30.0, 440.0, 360.0),
        limits(its.iter()),
        llim,
        true,
    );
    right.lines(&mut c, &its, losses, colors::RED);
    c.save_png(path)
}

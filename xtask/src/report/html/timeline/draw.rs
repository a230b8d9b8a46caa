//! The timeline's model drawn with plotters' SVG backend: one lane per clock, a shared x axis.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{label_rows, shades, Guest, Shade, Span};
const W: u32 = 1120;
/// Label areas shared by every lane, so one x position is one time in all of them.
const LEFT: u32 = 118;
const RIGHT: u32 = 74;
/// The plotting width those leave (and the 8 px right margin).
const PLOT_PX: f64 = (W - LEFT - RIGHT - 8) as f64;
const FONT: &str = "sans-serif";

const PHASE_COLOURS: [RGBColor; 8] = [
    RGBColor(0xcf, 0xe3, 0xf7),
    RGBColor(0xd9, 0xea, 0xd3),
    RGBColor(0xfd, 0xe9, 0xc9),
    RGBColor(0xe6, 0xdb, 0xf3),
    RGBColor(0xd4, 0xee, 0xee),
    RGBColor(0xf6, 0xd5, 0xd5),
    RGBColor(0xef, 0xe3, 0xc2),
    RGBColor(0xdd, 0xe3, 0xea),
];
const SHADE: RGBColor = RGBColor(0xf4, 0xa6, 0x9e);
const SHADE_EDGE: RGBColor = RGBColor(0xc6, 0x28, 0x28);
const TICK: RGBColor = RGBColor(0x37, 0x47, 0x4f);
const TICK_INSIDE: RGBColor = RGBColor(0xd3, 0x2f, 0x2f);
const SHARING: RGBColor = RGBColor(0x15, 0x65, 0xc0);
const SCANS: RGBColor = RGBColor(0xef, 0x6c, 0x00);
const WRITE: RGBColor = RGBColor(0x6a, 0x1b, 0x9a);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Lane<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e}")
}

fn text_style(size: u32, colour: RGBColor) -> TextStyle<'static> {
    TextStyle { font: (FONT, size).into_font(), color: colour.to_backend_color(), pos: Pos::new(HPos::Left, VPos::Top) }
}

fn valid(range: (f64, f64)) -> Result<()> {
    if range.0.is_finite() && range.1.is_finite() && range.1 > range.0 {
        Ok(())
    } else {
        Err(anyhow!("empty time range {:?}", range))
    }
}

/// A lane: its own y range, the shared x range, the shared label areas; x labels only on the
/// bottom lane of a picture.
fn lane<'a, 'b>(area: &'a Area<'b>, x: (f64, f64), y: (f64, f64), x_labels: bool, title: &str) -> Result<Lane<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(4)
        .margin_right(8)
        .x_label_area_size(if x_labels { 34 } else { 0 })
        .y_label_area_size(LEFT)
        .right_y_label_area_size(RIGHT)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(err)?;
    let fine = x.1 - x.0 < 12.0;
    let fmt = move |v: &f64| if fine { format!("{v:.1} s") } else { format!("{v:.0} s") };
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh()
        .y_labels(0)
        .x_labels(14)
        .x_label_formatter(&fmt)
        .label_style((FONT, 14))
        .light_line_style(RGBColor(0xf0, 0xf0, 0xf0));
    if !x_labels {
        mesh.disable_x_axis();
    }
    mesh.draw().map_err(err)?;
    let (_, h) = area.dim_in_pixel();
    area.draw_text(
        title,
        &text_style(15, RGBColor(0x33, 0x33, 0x33)).pos(Pos::new(HPos::Left, VPos::Center)),
        (4, (h as i32 - if x_labels { 34 } else { 0 }) / 2),
    )
    .map_err(err)?;
    Ok(chart)
}

fn draw_shades(chart: &mut Lane<'_, '_>, shades: &[Shade], y: (f64, f64), numbered: bool) -> Result<()> {
    for s in shades {
        chart
            .draw_series(std::iter::once(Rectangle::new([(s.x0, y.0), (s.x1, y.1)], SHADE.mix(0.45).filled())))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(s.x0, y.0), (s.x1, y.1)],
                ShapeStyle::from(&SHADE_EDGE.mix(0.7)).stroke_width(1),
            )))
            .map_err(err)?;
        if numbered {
            let label = format!("#{}{}", s.window + 1, if s.open { " (open)" } else { "" });
            let at = (s.x0 + (s.x1 - s.x0) / 2.0, y.1 - (y.1 - y.0) * 0.08);
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    at,
                    text_style(13, SHADE_EDGE).pos(Pos::new(HPos::Center, VPos::Top)),
                )))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// ksmd's batches as ticks (red inside a window), the run writes as bars from issue to return.
fn draw_batches(chart: &mut Lane<'_, '_>, m: &Guest, range: (f64, f64), tick_y: (f64, f64)) -> Result<()> {
    let visible = m.batches.iter().filter(|(t, _)| *t >= range.0 && *t <= range.1);
    chart
        .draw_series(visible.map(|(t, inside)| {
            let (c, w) = if inside.is_some() { (TICK_INSIDE, 2) } else { (TICK, 1) };
            PathElement::new(vec![(*t, tick_y.0), (*t, tick_y.1)], ShapeStyle::from(&c).stroke_width(w))
        }))
        .map_err(err)?;
    for (entered, returned) in &m.writes {
        let end = returned.unwrap_or(range.1).min(range.1);
        let start = entered.max(range.0);
        if start < end {
            chart
                .draw_series(std::iter::once(Rectangle::new([(start, 0.08), (end, 0.2)], WRITE.mix(0.8).filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// The host's stages as one bar in wall seconds.
pub fn host_svg(spans: &[Span]) -> Result<String> {
    let total = spans.last().map(|s| s.end).unwrap_or(0.0);
    valid((0.0, total))?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, 86)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = lane(&root, (0.0, total), (0.0, 1.0), true, "host stages")?;
        for (i, s) in spans.iter().enumerate() {
            let c = PHASE_COLOURS[i % PHASE_COLOURS.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new([(s.start, 0.12), (s.end, 0.88)], c.filled())))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(s.start, 0.12), (s.end, 0.88)],
                    ShapeStyle::from(&WHITE).stroke_width(1),
                )))
                .map_err(err)?;
            let label = format!("{} {}", s.name, super::super::seconds(s.end - s.start));
            // Only where it fits: the stages' list is under the picture anyway.
            if (s.end - s.start) / total * PLOT_PX > label.len() as f64 * 7.5 {
                let style = text_style(14, RGBColor(0x22, 0x22, 0x22)).pos(Pos::new(HPos::Center, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new(label, ((s.start + s.end) / 2.0, 0.5), style)))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// The guest's whole run: phases, ksmd batches with the windows shaded, KSM's counters.
pub fn guest_svg(m: &Guest) -> Result<String> {
    valid(m.range)?;
    let shades = shades(m.windows, m.range);
    let mut out = String::new();
    {
        let ksm_h = if m.samples.is_empty() { 70 } else { 250 };
        let root = SVGBackend::with_string(&mut out, (W, 74 + 70 + ksm_h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (phase_area, rest) = root.split_vertically(74);
        let (batch_area, ksm_area) = rest.split_vertically(70);

        let mut chart = lane(&phase_area, m.range, (0.0, 1.0), false, "guest phase")?;
        draw_shades(&mut chart, &shades, (0.0, 1.0), false)?;
        for (i, p) in m.phases.iter().enumerate() {
            let c = PHASE_COLOURS[i % PHASE_COLOURS.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new([(p.start, 0.42), (p.end, 0.92)], c.filled())))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(p.start, 0.42), (p.end, 0.92)],
                    ShapeStyle::from(&WHITE).stroke_width(1),
                )))
                .map_err(err)?;
        }
        // Names after every bar, so no later bar paints over an earlier name.
        for (p, row) in m.phases.iter().zip(label_rows(&m.phases, m.range, PLOT_PX, 6.6)) {
            if let Some(row) = row {
                let y = if row == 0 { 0.67 } else { 0.2 };
                let style = text_style(13, RGBColor(0x22, 0x22, 0x22)).pos(Pos::new(HPos::Left, VPos::Center));
                chart.draw_series(std::iter::once(Text::new(p.name.clone(), (p.start, y), style))).map_err(err)?;
            }
        }
        if m.phases.is_empty() {
            let style = text_style(13, RGBColor(0x77, 0x77, 0x77)).pos(Pos::new(HPos::Left, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new(
                    "no phase times in this console (guest init without t=)",
                    (m.range.0, 0.5),
                    style,
                )))
                .map_err(err)?;
        }

        let mut chart = lane(&batch_area, m.range, (0.0, 1.0), false, "ksmd batches")?;
        draw_shades(&mut chart, &shades, (0.0, 1.0), false)?;
        draw_batches(&mut chart, m, m.range, (0.3, 0.95))?;
        if !m.writes.is_empty() {
            batch_area
                .draw_text("run writes", &text_style(13, WRITE).pos(Pos::new(HPos::Left, VPos::Center)), (4, 60))
                .map_err(err)?;
        }
        if m.batches.is_empty() {
            let style = text_style(13, RGBColor(0x77, 0x77, 0x77)).pos(Pos::new(HPos::Left, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new(
                    "no kernel trace (lockout evidence off or unavailable)",
                    (m.range.0, 0.6),
                    style,
                )))
                .map_err(err)?;
        }

        if m.samples.is_empty() {
            let mut chart = lane(&ksm_area, m.range, (0.0, 1.0), true, "KSM counters")?;
            draw_shades(&mut chart, &shades, (0.0, 1.0), false)?;
            let style = text_style(13, RGBColor(0x77, 0x77, 0x77)).pos(Pos::new(HPos::Left, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new(
                    "no ksm-sample markers in this console (guest init predates them)",
                    (m.range.0, 0.5),
                    style,
                )))
                .map_err(err)?;
        } else {
            ksm_chart(&ksm_area, m, &shades)?;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// KSM's counters over the run: pages_sharing on the left axis, full_scans on the right.
fn ksm_chart(area: &Area<'_>, m: &Guest, shades: &[Shade]) -> Result<()> {
    let sharing_max = m.samples.iter().map(|s| s.1.pages_sharing).max().unwrap_or(0).max(1) as f64 * 1.12;
    let scans_max = m.samples.iter().map(|s| s.1.full_scans).max().unwrap_or(0) as f64 + 1.0;
    let mut chart = ChartBuilder::on(area)
        .margin_top(4)
        .margin_right(8)
        .x_label_area_size(34)
        .y_label_area_size(LEFT)
        .right_y_label_area_size(RIGHT)
        .build_cartesian_2d(m.range.0..m.range.1, 0.0..sharing_max)
        .map_err(err)?
        .set_secondary_coord(m.range.0..m.range.1, 0.0..scans_max);
    let fmt = |v: &f64| format!("{v:.0} s");
    let count = |v: &f64| format!("{v:.0}");
    chart
        .configure_mesh()
        .x_labels(14)
        .y_labels(5)
        .x_label_formatter(&fmt)
        .y_label_formatter(&count)
        .label_style((FONT, 14))
        .y_desc("pages_sharing")
        .x_desc("seconds since boot (kernel clock)")
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_labels(5)
        .y_label_formatter(&count)
        .label_style((FONT, 14))
        .y_desc("full_scans")
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for s in shades {
        chart
            .draw_series(std::iter::once(Rectangle::new([(s.x0, 0.0), (s.x1, sharing_max)], SHADE.mix(0.45).filled())))
            .map_err(err)?;
    }
    for p in m.phases.iter().skip(1) {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(p.start, 0.0), (p.start, sharing_max)],
                RGBColor(0xbb, 0xbb, 0xbb),
            )))
            .map_err(err)?;
    }
    chart
        .draw_series(LineSeries::new(
            m.samples.iter().map(|(t, k)| (*t, k.pages_sharing as f64)),
            ShapeStyle::from(&SHARING).stroke_width(2),
        ))
        .map_err(err)?
        .label("pages_sharing")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ShapeStyle::from(&SHARING).stroke_width(2)));
    // full_scans only changes by whole scans: a step line says so.
    let steps: Vec<(f64, f64)> = m
        .samples
        .windows(2)
        .flat_map(|w| [(w[0].0, w[0].1.full_scans as f64), (w[1].0, w[0].1.full_scans as f64)])
        .chain(m.samples.last().map(|(t, k)| (*t, k.full_scans as f64)))
        .collect();
    chart
        .draw_secondary_series(LineSeries::new(steps, ShapeStyle::from(&SCANS).stroke_width(2)))
        .map_err(err)?
        .label("full_scans (right axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ShapeStyle::from(&SCANS).stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xcc, 0xcc, 0xcc))
        .label_font((FONT, 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Close up on the offline windows: every ksmd batch, the windows numbered, the run writes.
pub fn zoom_svg(m: &Guest, range: (f64, f64)) -> Result<String> {
    valid(range)?;
    let shades = shades(m.windows, range);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, 150)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = lane(&root, range, (0.0, 1.0), true, "ksmd batches")?;
        draw_shades(&mut chart, &shades, (0.0, 1.0), true)?;
        draw_batches(&mut chart, m, range, (0.3, 0.82))?;
        let style = text_style(13, WRITE).pos(Pos::new(HPos::Left, VPos::Center));
        if m.writes.iter().any(|(a, b)| *a <= range.1 && b.is_none_or(|b| b >= range.0)) {
            root.draw_text("run writes", &style, (4, 100)).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

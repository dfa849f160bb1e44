//! SVG charts of `cargo xtask e2e`: CPU shares per case (grouped bars, one per build) and
//! the distribution of in-guest response times (cumulative, one line per task and build).

use std::fmt::Write as _;

/// Colour (value, name) and legend name of a build.
fn style(build: &str) -> (&'static str, &'static str, &str) {
    match build {
        "stock" => ("#999", "grey", "stock C RTDS"),
        "rtsched" => ("#1f77b4", "blue", "rtsched (rt-global)"),
        "partition" => ("#ff7f0e", "orange", "rtsched (rt-partition)"),
        other => ("#2ca02c", "green", other),
    }
}

fn colour(builds: &[&str], i: usize) -> &'static str {
    style(builds.get(i).copied().unwrap_or("")).0
}

fn legend(builds: &[&str]) -> String {
    builds
        .iter()
        .map(|b| {
            let (_, c, name) = style(b);
            format!("{c}: {name}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One chart group: a case and, per domain, its name and one share per build (NaN: none).
pub type Row = (String, Vec<(String, Vec<f64>)>);

/// Grouped bars: per case, per domain, one bar per build.
pub fn shares(title: &str, builds: &[&str], rows: &[Row]) -> String {
    let bar = 10.0;
    let mut x = 60.0;
    let mut body = String::new();
    for (case, doms) in rows {
        let x0 = x;
        for (dom, vals) in doms {
            let n = vals.len() as f64;
            for (i, v) in vals.iter().enumerate() {
                let v = if v.is_nan() { 0.0 } else { *v };
                let h = v * 3.0;
                let _ = write!(
                    body,
                    "<rect x='{:.1}' y='{:.1}' width='{bar}' height='{h:.1}' fill='{}'><title>{dom} {} {v:.2}%</title></rect>",
                    x + i as f64 * bar,
                    330.0 - h,
                    colour(builds, i),
                    builds.get(i).unwrap_or(&"")
                );
            }
            let _ = write!(
                body,
                "<text x='{:.1}' y='345' font-size='8' text-anchor='middle'>{dom}</text>",
                x + n * bar / 2.0
            );
            x += n * bar + 6.0;
        }
        let _ = write!(
            body,
            "<text x='{:.1}' y='360' font-size='10' text-anchor='middle'>{case}</text>",
            (x0 + x) / 2.0 - 3.0
        );
        x += 18.0;
    }
    let mut axis = String::new();
    for p in [0, 20, 40, 60, 80, 100] {
        let y = 330.0 - p as f64 * 3.0;
        let _ = write!(
            axis,
            "<line x1='55' y1='{y}' x2='{x}' y2='{y}' stroke='#ddd'/><text x='50' y='{:.0}' font-size='9' text-anchor='end'>{p}%</text>",
            y + 3.0
        );
    }
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='395' font-family='sans-serif'>\
         <text x='10' y='16' font-size='13'>{title}: CPU share per domain</text>\
         <text x='10' y='385' font-size='10'>{}</text>\
         {axis}{body}</svg>\n",
        legend(builds),
        w = x.max(640.0) + 20.0
    )
}

/// The grid of a cumulative-distribution chart in the plot area `(x0, y0, w, h)` (`y0`
/// its bottom): a vertical line and label per x tick (`(x, label, marked)`: a marked one,
/// the deadline, in red), a horizontal line per percentage.
pub fn cdf_grid(
    area: (f64, f64, f64, f64),
    ticks: &[(f64, String, bool)],
    percents: &[u32],
) -> String {
    let (x0, y0, w, h) = area;
    let mut body = String::new();
    for (x, label, marked) in ticks {
        let _ = write!(
            body,
            "<line x1='{x:.1}' y1='{}' x2='{x:.1}' y2='{y0}' stroke='{}'/><text x='{x:.1}' y='{}' font-size='9' text-anchor='middle'>{label}</text>",
            y0 - h,
            if *marked { "#c00" } else { "#ddd" },
            y0 + 12.0
        );
    }
    for &p in percents {
        let y = y0 - h * f64::from(p) / 100.0;
        let _ = write!(
            body,
            "<line x1='{x0}' y1='{y:.1}' x2='{}' y2='{y:.1}' stroke='#eee'/><text x='{}' y='{:.1}' font-size='9' text-anchor='end'>{p}%</text>",
            x0 + w,
            x0 - 5.0,
            y + 3.0
        );
    }
    body
}

/// One response-time curve: task label, build index, task index (line style), period (us),
/// histogram (response us, count).
pub type Curve = (String, usize, usize, u64, Vec<(u64, u64)>);

/// Cumulative distribution of response times, as a fraction of each task's period (x up
/// to 1.5 periods; the deadline is at 1), one line per task and build.
pub fn response_cdf(title: &str, builds: &[&str], curves: &[Curve]) -> String {
    let (x0, y0, w, h) = (60.0, 330.0, 560.0, 290.0);
    let ticks: Vec<(f64, String, bool)> = (0..=6)
        .map(|k| {
            let f = k as f64 * 0.25;
            (x0 + w * f / 1.5, format!("{f:.2}"), k == 4)
        })
        .collect();
    let mut body = cdf_grid((x0, y0, w, h), &ticks, &[0, 25, 50, 75, 100]);
    let dash = ["", "4,2", "1,2", "6,2,1,2"];
    let mut labels = Vec::new();
    for (label, b, task, period, hist) in curves {
        let total: u64 = hist.iter().map(|p| p.1).sum();
        if total == 0 || *period == 0 {
            continue;
        }
        let mut pts = format!("{x0:.1},{y0:.1}");
        let mut seen = 0;
        for (r, c) in hist {
            seen += c;
            // Bucket [r, r + 100 us): the job is done by its upper end.
            let f = ((r + 100) as f64 / *period as f64).min(1.5);
            let x = x0 + w * f / 1.5;
            let y = y0 - h * seen as f64 / total as f64;
            let _ = write!(
                pts,
                " {x:.1},{:.1} {x:.1},{y:.1}",
                y + h * *c as f64 / total as f64
            );
        }
        let _ = write!(
            pts,
            " {:.1},{:.1}",
            x0 + w,
            y0 - h * seen as f64 / total as f64
        );
        let d = dash[task % dash.len()];
        let _ = write!(
            body,
            "<polyline points='{pts}' fill='none' stroke='{}' stroke-dasharray='{d}'><title>{label} ({})</title></polyline>",
            colour(builds, *b),
            builds.get(*b).unwrap_or(&"")
        );
        let style = ["solid", "dashed", "dotted", "dash-dot"][task % dash.len()];
        let l = format!("{label}: {style}");
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='660' height='395' font-family='sans-serif'>\
         <text x='10' y='16' font-size='13'>{title}: jobs done by a response time (fraction of the period; deadline in red)</text>\
         <text x='10' y='372' font-size='10'>{}</text><text x='10' y='386' font-size='9'>{}</text>{body}</svg>\n",
        legend(builds),
        labels.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid both response-time charts draw: a tick line and label, the deadline tick in
    /// red, a percentage line with its label (the SVG the charts wrote before it was shared).
    #[test]
    fn cdf_grid_draws_ticks_deadline_and_percentages() {
        let ticks = [
            (60.0, "0.00".to_string(), false),
            (433.3, "1.00".to_string(), true),
        ];
        let g = cdf_grid((60.0, 330.0, 560.0, 290.0), &ticks, &[0, 99]);
        assert_eq!(
            g,
            "<line x1='60.0' y1='40' x2='60.0' y2='330' stroke='#ddd'/><text x='60.0' y='342' font-size='9' text-anchor='middle'>0.00</text>\
             <line x1='433.3' y1='40' x2='433.3' y2='330' stroke='#c00'/><text x='433.3' y='342' font-size='9' text-anchor='middle'>1.00</text>\
             <line x1='60' y1='330.0' x2='620' y2='330.0' stroke='#eee'/><text x='55' y='333.0' font-size='9' text-anchor='end'>0%</text>\
             <line x1='60' y1='42.9' x2='620' y2='42.9' stroke='#eee'/><text x='55' y='45.9' font-size='9' text-anchor='end'>99%</text>"
        );
    }
}

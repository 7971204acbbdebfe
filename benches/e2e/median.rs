//! The bench's one median: of a run's commit and collect times (`baseline.rs`), and of a
//! figure's rounds (`run.rs`).

/// The median of `values`: the middle one, or the mean of the middle two for an even count;
/// NaN for none.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

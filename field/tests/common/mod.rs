//! Helpers shared by the field's integration tests.

use std::path::Path;

use field::{Field, Layout};

/// Creates a field at `path` with `layout`, updates it once at each of the first `updates`
/// points, answers every point, then reopens the file and answers every point again. Returns
/// both answers (in point order) and the reopened field.
pub fn answers_before_and_after_reopen<P: AsRef<[f32]>>(
    path: &Path,
    layout: Layout,
    points: &[P],
    updates: usize,
) -> (Vec<f32>, Vec<f32>, Field) {
    let answers = |f: &mut Field| {
        let mut all = Vec::new();
        let mut out = vec![0f32; f.output_len()];
        for p in points {
            f.query(p.as_ref(), &mut out).unwrap();
            all.extend_from_slice(&out);
        }
        all
    };
    let before = {
        let mut f = Field::create(path, layout).unwrap();
        let grad = vec![0.5f32; f.output_len()];
        for p in &points[..updates] {
            f.update(p.as_ref(), &grad, 0.1).unwrap();
        }
        answers(&mut f)
    };
    let mut f = Field::open(path).unwrap();
    let after = answers(&mut f);
    (before, after, f)
}

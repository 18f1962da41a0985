//! `wiseft sweep --layerwise`: after the sweep, the session's label-free per-depth α search
//! (`Session::layerwise`, the page's lecture mode runs the same) on the sweep's photos, started
//! from the single α of lowest entropy; its cost is said after the first forward pass.

use wiseft::choose::layerwise::Search;
use wiseft::error::{Error, Result};
use wiseft::session::{LayerwiseOutcome, LayerwiseResult, Session, SweepPhoto};

use crate::SweepArgs;

pub fn search(session: &mut Session, args: &SweepArgs, photos: &[SweepPhoto], start: f64) -> Result<LayerwiseResult> {
    let search = Search { knots: args.knots, ..Search::default() };
    let epoch = std::time::Instant::now();
    let clock = || epoch.elapsed().as_secs_f64();
    match pollster::block_on(session.layerwise(photos, start, &search, &clock)).map_err(|f| f.error)? {
        LayerwiseOutcome::Done(found) => Ok(found),
        LayerwiseOutcome::Cancelled => Err(Error::Invalid("layer-wise search cancelled".into())),
    }
}

/// The first progress event's line: what the search will cost.
pub fn announce(most: u32, photos: u32, estimate_s: f64, vit_b32_s: f64) {
    eprintln!("layer-wise: at most {most} forward passes over {photos} photos, about {estimate_s:.0} s here (ViT-B/32 on this engine: about {vit_b32_s:.0} s) …");
}

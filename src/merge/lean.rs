//! Building a recipe's engine on a back end that may not hold TIES's fine-tunes' own task vectors
//! (a GPU: its memory, or its combine kernel's input count). The merge alone is tried there next;
//! only when that fails too are the vectors put back, for the engine that takes over: the CPU's,
//! within whose memory the load kept them ([`crate::session::limits::recipe_inputs_limit`]).

use super::build::point_of;
use super::{ModelPair, Point, Recipe};
use crate::error::{Error, Result};

/// How [`build_or_lean`] went.
pub enum Build<E> {
    /// Built with every merge input.
    Whole(E),
    /// Built with the merge alone after the whole build failed (`why`, its error): the fine-tunes'
    /// own vectors are freed, and no fine-tune is shown on its own.
    Lean { engine: E, why: String },
    /// No build succeeded (the last error). The pair and the point are as they were loaded, the
    /// fine-tunes' own vectors included, for a back end that can hold them.
    Failed(Error),
}

/// Builds with `build` at `point`; where that fails and `pair` has TIES's fine-tunes' own vectors,
/// sets them aside and builds the merge alone (`point` made again for it). The vectors are freed
/// once that lean build succeeds, and restored (with `point`) if it fails. The outer error is
/// only a point that cannot be made again (a bug: it was made for the same recipe before).
pub async fn build_or_lean<E>(recipe: &Recipe, pair: &mut ModelPair, point: &mut Point, mut build: impl AsyncFnMut(&ModelPair, &Point) -> Result<E>) -> Result<Build<E>> {
    let why = match build(pair, point).await {
        Ok(engine) => return Ok(Build::Whole(engine)),
        Err(e) => e,
    };
    let Some(aside) = pair.set_own_vectors_aside() else { return Ok(Build::Failed(why)) };
    *point = point_of(recipe, pair)?;
    match build(pair, point).await {
        Ok(engine) => {
            drop(aside);
            Ok(Build::Lean { engine, why: why.to_string() })
        }
        Err(e) => {
            pair.restore_own_vectors(aside);
            *point = point_of(recipe, pair)?;
            Ok(Build::Failed(e))
        }
    }
}

//! A session over a merge recipe: several fine-tunes of one zero-shot model, a method and its
//! coefficients. The checkpoints' work (task vectors, TIES's trim and signs) was done once when the
//! model was built ([`crate::merge::load_recipe`]); a new setting of the coefficients only moves
//! the engine to another point of the same inputs ([`crate::pipeline::WiseFt::set_point`]), and
//! the zero-shot column, which no coefficient changes, is kept.

use super::events::{Failure, Operation};
use super::target::Target;
use super::Session;
use crate::merge::recipe::Recipe;
use crate::pipeline::WiseFt;

impl Session {
    /// Takes a model built from `recipe` (with its merge inputs): every photo is classified by θ₀
    /// and by the recipe's merge.
    pub async fn install_recipe(&mut self, wiseft: WiseFt, recipe: Recipe) -> Result<(), Failure> {
        if wiseft.pair.inputs.is_none() {
            // A one-α wise-ft recipe is today's two-model merge: the session's α is its α.
            let alpha = wiseft.alpha();
            self.alpha = alpha;
            return self.install(wiseft).await;
        }
        self.install_with(wiseft, Some(recipe)).await
    }

    /// The recipe the merged column follows, if the model was loaded from one.
    pub fn recipe(&self) -> Option<&Recipe> {
        self.recipe.as_ref()
    }

    /// New coefficients (or a method over the same inputs: task arithmetic ↔ average): the
    /// merged column of every photo at the new setting, without reading a checkpoint again.
    /// A method or TIES k the inputs were not made for is refused, and the session keeps its
    /// setting: those need the checkpoints loaded again.
    pub async fn set_recipe(&mut self, recipe: Recipe) -> Result<(), Failure> {
        let fail = |m: String| Err(Failure::invalid(Operation::Recipe, m));
        let Some(model) = self.model.as_ref() else { return fail("load the models first".into()) };
        let Some(inputs) = &model.pair.inputs else {
            return fail("this model was loaded as a two-model WiSE-FT merge; move α, or load the checkpoints again with the recipe".into());
        };
        recipe.check_count(inputs.labels.len()).map_err(|e| Failure::new(Operation::Recipe, e))?;
        // Checked before anything changes, so a refused recipe leaves the session as it was.
        Target::recipe(&recipe, inputs).map_err(|e| Failure::new(Operation::Recipe, e))?;
        self.recipe = Some(recipe);
        // A setting seen just before (a slider moved and back) is computed again; keeping only
        // what is shown (the new merge, θ₀ and each fine-tune on its own, which no coefficient
        // changes) bounds memory as in α's case.
        let model = self.model.as_ref().expect("checked above");
        let shown: Vec<_> = self.targets(model, false)?.into_iter().map(|(t, _)| t.spot).collect();
        self.scores.keep_only(&shown);
        self.refresh(None, true).await
    }
}

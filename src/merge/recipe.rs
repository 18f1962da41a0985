//! A merge recipe: which method, which fine-tunes, which coefficients — one typed, versioned value
//! read from JSON (a file, the CLI's flags) and checked once where it enters.
//!
//! ```json
//! {"version": 1, "method": "ties", "zero_shot": "zs/", "fine_tuned": ["a/", "b/"], "lambda": 0.3, "top_k": 20}
//! ```
//!
//! - `wise-ft`: θ = (1 − α)·θ₀ + α·θ₁ (Wortsman et al., 2022), one fine-tune; `alpha` ∈ [0, 1].
//! - `task-arithmetic`: θ = θ₀ + λ·Σᵢ τᵢ with τᵢ = θᵢ − θ₀ (Ilharco et al., 2023).
//! - `average`: the uniform soup Σᵢ wᵢθᵢ / Σᵢ wᵢ (Wortsman et al., 2022), optional `weights`; θ₀
//!   joins only with a `zero_shot_weight`.
//! - `ties`: θ = θ₀ + λ·TIES(τ₁ … τₙ; top_k %) (Yadav et al., 2023).
//!
//! `alpha` and `lambda` may be schedules (see [`super::schedule`]).

use serde_json::{Map, Value};

use super::schedule::Coefficient;
use crate::error::{Error, Result};

pub const VERSION: u64 = 1;
/// FusionBench's defaults for task arithmetic and TIES on CLIP ViT-B/32.
pub const DEFAULT_LAMBDA: f64 = 0.3;
pub const DEFAULT_TOP_K: f64 = 20.0;
/// |λ| above this is almost surely a typo (λ = 30 for 0.3), not an extrapolation.
pub const MAX_LAMBDA: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    WiseFt,
    TaskArithmetic,
    Average,
    Ties,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::WiseFt, Method::TaskArithmetic, Method::Average, Method::Ties];

    pub fn key(self) -> &'static str {
        match self {
            Method::WiseFt => "wise-ft",
            Method::TaskArithmetic => "task-arithmetic",
            Method::Average => "average",
            Method::Ties => "ties",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|m| m.key() == s).ok_or_else(|| {
            Error::Invalid(format!("recipe field `method`: unknown method `{s}` (use wise-ft, task-arithmetic, average or ties)"))
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub method: Method,
    /// Checkpoint sources (paths or hub ids) when the recipe names them; the CLI may give them.
    pub zero_shot: Option<String>,
    pub fine_tuned: Vec<String>,
    /// wise-ft's α (default 0.5).
    pub alpha: Coefficient,
    /// task-arithmetic's and ties' λ (default 0.3).
    pub lambda: Coefficient,
    /// ties' k: the percentage of each task vector's entries kept (default 20).
    pub top_k: f64,
    /// average's weight per fine-tune (default all 1).
    pub weights: Option<Vec<f64>>,
    /// average: θ₀'s weight in the soup, when it joins.
    pub zero_shot_weight: Option<f64>,
}

impl Recipe {
    /// A recipe with the method's defaults and no checkpoints named.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            zero_shot: None,
            fine_tuned: Vec::new(),
            alpha: Coefficient::constant(0.5),
            lambda: Coefficient::constant(DEFAULT_LAMBDA),
            top_k: DEFAULT_TOP_K,
            weights: None,
            zero_shot_weight: None,
        }
    }

    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Invalid(format!("recipe: not JSON: {e}")))?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(Error::Invalid(format!("recipe: expected a JSON object, got {value}")));
        };
        if map.is_empty() {
            return Err(Error::Invalid("recipe: empty (give at least `version` and `method`)".into()));
        }
        const FIELDS: [&str; 9] = ["version", "method", "zero_shot", "fine_tuned", "alpha", "lambda", "top_k", "weights", "zero_shot_weight"];
        if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::Invalid(format!("recipe: unknown field `{k}` (fields: {})", FIELDS.join(", "))));
        }
        match map.get("version") {
            Some(v) if v.as_u64() == Some(VERSION) => {}
            Some(v) => return Err(Error::Invalid(format!("recipe field `version`: this build reads version {VERSION}, got {v}"))),
            None => return Err(Error::Invalid(format!("recipe: no `version` (this build reads version {VERSION})"))),
        }
        let method = match map.get("method") {
            Some(Value::String(s)) => Method::parse(s)?,
            Some(v) => return Err(Error::Invalid(format!("recipe field `method`: expected a string, got {v}"))),
            None => return Err(Error::Invalid("recipe: no `method` (wise-ft, task-arithmetic, average or ties)".into())),
        };
        let mut r = Self::new(method);
        r.zero_shot = match map.get("zero_shot") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(Error::Invalid(format!("recipe field `zero_shot`: expected a path or hub id, got {v}"))),
        };
        r.fine_tuned = match map.get("fine_tuned") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| v.as_str().map(String::from).ok_or_else(|| Error::Invalid(format!("recipe field `fine_tuned[{i}]`: expected a path or hub id, got {v}"))))
                .collect::<Result<_>>()?,
            Some(v) => return Err(Error::Invalid(format!("recipe field `fine_tuned`: expected a list of paths or hub ids, got {v}"))),
        };
        if let Some(v) = map.get("alpha") {
            r.alpha = Coefficient::parse(v, "alpha", 0.5)?;
        }
        if let Some(v) = map.get("lambda") {
            r.lambda = Coefficient::parse(v, "lambda", DEFAULT_LAMBDA)?;
        }
        if let Some(v) = map.get("top_k") {
            r.top_k = v.as_f64().ok_or_else(|| Error::Invalid(format!("recipe field `top_k`: expected a percentage, got {v}")))?;
        }
        if let Some(v) = map.get("weights") {
            let items = v.as_array().ok_or_else(|| Error::Invalid(format!("recipe field `weights`: expected a list of numbers, got {v}")))?;
            r.weights = Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| x.as_f64().ok_or_else(|| Error::Invalid(format!("recipe field `weights[{i}]`: expected a number, got {x}"))))
                    .collect::<Result<_>>()?,
            );
        }
        if let Some(v) = map.get("zero_shot_weight") {
            r.zero_shot_weight = Some(v.as_f64().ok_or_else(|| Error::Invalid(format!("recipe field `zero_shot_weight`: expected a number, got {v}")))?);
        }
        r.check()?;
        Ok(r)
    }

    /// The recipe as JSON, only with the fields its method uses.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("version".into(), VERSION.into());
        m.insert("method".into(), self.method.key().into());
        if let Some(z) = &self.zero_shot {
            m.insert("zero_shot".into(), z.clone().into());
        }
        if !self.fine_tuned.is_empty() {
            m.insert("fine_tuned".into(), self.fine_tuned.clone().into());
        }
        match self.method {
            Method::WiseFt => {
                m.insert("alpha".into(), self.alpha.to_json());
            }
            Method::TaskArithmetic => {
                m.insert("lambda".into(), self.lambda.to_json());
            }
            Method::Ties => {
                m.insert("lambda".into(), self.lambda.to_json());
                m.insert("top_k".into(), self.top_k.into());
            }
            Method::Average => {
                if let Some(w) = &self.weights {
                    m.insert("weights".into(), w.clone().into());
                }
                if let Some(w) = self.zero_shot_weight {
                    m.insert("zero_shot_weight".into(), w.into());
                }
            }
        }
        Value::Object(m)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).expect("a JSON value serialises")
    }

    /// Reads the recipe file at `path`; relative checkpoint paths in it that exist beside the
    /// file are taken from there (others stay as written: a hub id, a URL, a path from here).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut r = Self::from_json(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let beside = |p: &mut String| {
            let candidate = dir.join(&*p);
            if std::path::Path::new(p.as_str()).is_relative() && candidate.exists() {
                *p = candidate.display().to_string();
            }
        };
        r.zero_shot.iter_mut().for_each(beside);
        r.fine_tuned.iter_mut().for_each(beside);
        Ok(r)
    }

    /// Range checks of every coefficient (the checkpoints are checked when they are loaded).
    pub fn check(&self) -> Result<()> {
        let bad = |field: &str, why: String| Err(Error::Invalid(format!("recipe field `{field}`: {why}")));
        match self.method {
            Method::WiseFt => {
                if let Some(v) = self.alpha.values().into_iter().find(|v| !(0.0..=1.0).contains(v)) {
                    return bad("alpha", format!("α must lie in [0, 1], got {v}"));
                }
            }
            Method::TaskArithmetic | Method::Ties => {
                if let Some(v) = self.lambda.values().into_iter().find(|v| !(v.is_finite() && v.abs() <= MAX_LAMBDA)) {
                    return bad("lambda", format!("λ must lie in [−{MAX_LAMBDA}, {MAX_LAMBDA}], got {v}"));
                }
            }
            Method::Average => {}
        }
        if self.method == Method::Ties && !(self.top_k > 0.0 && self.top_k <= 100.0) {
            return bad("top_k", format!("k is the percentage of entries kept, in (0, 100], got {}", self.top_k));
        }
        if let Some(w) = &self.weights {
            if let Some((i, v)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
                return bad(&format!("weights[{i}]"), format!("a soup weight must be a finite number ≥ 0, got {v}"));
            }
            if !self.fine_tuned.is_empty() && w.len() != self.fine_tuned.len() {
                return bad("weights", format!("{} weights for {} fine-tuned checkpoints", w.len(), self.fine_tuned.len()));
            }
        }
        if let Some(v) = self.zero_shot_weight.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return bad("zero_shot_weight", format!("a soup weight must be a finite number ≥ 0, got {v}"));
        }
        Ok(())
    }

    /// Checks the recipe against `n` fine-tuned checkpoints about to be merged.
    pub fn check_count(&self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::Invalid(format!("recipe `{}`: no fine-tuned checkpoint to merge", self.method.key())));
        }
        if self.method == Method::WiseFt && n != 1 {
            return Err(Error::Invalid(format!(
                "recipe `wise-ft` merges one fine-tuned checkpoint, got {n} (use task-arithmetic, average or ties for several)"
            )));
        }
        if let Some(w) = self.weights.as_ref().filter(|w| w.len() != n) {
            return Err(Error::Invalid(format!("recipe field `weights`: {} weights for {n} fine-tuned checkpoints", w.len())));
        }
        Ok(())
    }

    /// average: the weight of each fine-tune in θ = θ₀ + Σᵢ cᵢτᵢ, i.e. wᵢ / (w₀ + Σⱼ wⱼ).
    pub fn soup_coefficients(&self, n: usize) -> Result<Vec<f64>> {
        let w = self.weights.clone().unwrap_or_else(|| vec![1.0; n]);
        let total: f64 = w.iter().sum::<f64>() + self.zero_shot_weight.unwrap_or(0.0);
        if total <= 0.0 {
            return Err(Error::Invalid("recipe field `weights`: the soup weights sum to 0".into()));
        }
        Ok(w.iter().map(|x| x / total).collect())
    }
}

/// A recipe given as command-line flags (`--method`, `--alpha`, `--lambda`, `--top-k`).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub method: Option<String>,
    pub alpha: Option<f64>,
    pub lambda: Option<f64>,
    pub top_k: Option<f64>,
}

impl Flags {
    /// Whether the flags ask for more than today's merge (a method, λ or k).
    pub fn is_recipe(&self) -> bool {
        self.method.is_some() || self.lambda.is_some() || self.top_k.is_some()
    }

    /// The recipe the flags describe for `fine_tuned` checkpoints; a flag the method does not use
    /// is an error (`--alpha` with TIES is a mistake, not a no-op). Without `--method`: wise-ft
    /// for one fine-tune, task arithmetic for several.
    pub fn recipe(&self, fine_tuned: Vec<String>) -> Result<Recipe> {
        let method = match &self.method {
            Some(m) => Method::parse(m).map_err(|_| Error::Invalid(format!("--method {m}: use wise-ft, task-arithmetic, average or ties")))?,
            None if fine_tuned.len() > 1 || self.lambda.is_some() => Method::TaskArithmetic,
            None if self.top_k.is_some() => Method::Ties,
            None => Method::WiseFt,
        };
        let mut r = Recipe::new(method);
        let unused = |flag: &str| Err(Error::Invalid(format!("{flag} is not a coefficient of `{}`", method.key())));
        if let Some(a) = self.alpha {
            if method != Method::WiseFt {
                return unused("--alpha");
            }
            r.alpha = Coefficient::constant(a);
        }
        if let Some(l) = self.lambda {
            if !matches!(method, Method::TaskArithmetic | Method::Ties) {
                return unused("--lambda");
            }
            r.lambda = Coefficient::constant(l);
        }
        if let Some(k) = self.top_k {
            if method != Method::Ties {
                return unused("--top-k");
            }
            r.top_k = k;
        }
        r.fine_tuned = fine_tuned;
        r.check()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_defaults() {
        let r = Recipe::from_json(r#"{"version":1,"method":"ties","fine_tuned":["a","b"]}"#).unwrap();
        assert_eq!((r.method, r.top_k, r.lambda.as_constant()), (Method::Ties, 20.0, Some(0.3)));
        assert_eq!(Recipe::from_value(&r.to_value()).unwrap(), r);
        let r = Recipe::from_json(r#"{"version":1,"method":"task-arithmetic","lambda":[0.1,0.5,1.5]}"#).unwrap();
        assert_eq!(Recipe::from_json(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("{}", "empty"),
            ("[]", "expected a JSON object"),
            (r#"{"method":"ties"}"#, "no `version`"),
            (r#"{"version":2,"method":"ties"}"#, "`version`"),
            (r#"{"version":1,"method":"soup"}"#, "unknown method `soup`"),
            (r#"{"version":1,"method":"ties","top_k":0}"#, "`top_k`"),
            (r#"{"version":1,"method":"ties","top_k":"20"}"#, "`top_k`"),
            (r#"{"version":1,"method":"wise-ft","alpha":1.5}"#, "α must lie in [0, 1]"),
            (r#"{"version":1,"method":"wise-ft","alpha":[0.2,-0.1]}"#, "`alpha`"),
            (r#"{"version":1,"method":"task-arithmetic","lambda":30}"#, "`lambda`"),
            (r#"{"version":1,"method":"task-arithmetic","lambda":"x"}"#, "`lambda`"),
            (r#"{"version":1,"method":"average","weights":[1,-1]}"#, "`weights[1]`"),
            (r#"{"version":1,"method":"average","fine_tuned":["a"],"weights":[1,1]}"#, "2 weights for 1"),
            (r#"{"version":1,"method":"ties","lamda":0.3}"#, "unknown field `lamda`"),
        ];
        for (json, want) in cases {
            let e = Recipe::from_json(json).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
        assert!(Recipe::new(Method::WiseFt).check_count(2).unwrap_err().to_string().contains("one fine-tuned"));
        assert!(Recipe::new(Method::Ties).check_count(0).unwrap_err().to_string().contains("no fine-tuned"));
    }

    #[test]
    fn flags_pick_the_method_and_refuse_unused_coefficients() {
        let f = |m: Option<&str>, a, l, k| Flags { method: m.map(String::from), alpha: a, lambda: l, top_k: k };
        let two = || vec!["a".to_string(), "b".to_string()];
        assert_eq!(f(None, Some(0.3), None, None).recipe(vec!["a".into()]).unwrap().method, Method::WiseFt);
        assert_eq!(f(None, None, None, None).recipe(two()).unwrap().method, Method::TaskArithmetic);
        let r = f(Some("ties"), None, Some(0.5), Some(10.0)).recipe(two()).unwrap();
        assert_eq!((r.top_k, r.lambda.as_constant()), (10.0, Some(0.5)));
        assert!(f(Some("ties"), Some(0.5), None, None).recipe(two()).unwrap_err().to_string().contains("--alpha"));
        assert!(f(Some("average"), None, None, Some(5.0)).recipe(two()).unwrap_err().to_string().contains("--top-k"));
        assert!(f(Some("soup"), None, None, None).recipe(two()).unwrap_err().to_string().contains("--method soup"));
    }

    #[test]
    fn soup_weights_include_the_zero_shot_model_only_when_listed() {
        let mut r = Recipe::new(Method::Average);
        assert_eq!(r.soup_coefficients(4).unwrap(), vec![0.25; 4]);
        r.zero_shot_weight = Some(2.0);
        r.weights = Some(vec![1.0, 1.0]);
        assert_eq!(r.soup_coefficients(2).unwrap(), vec![0.25, 0.25]);
    }
}

//! Per-layer schedules (mergekit's "gradients"): a scalar coefficient given as one number, as a
//! list of values interpolated linearly over encoder depth, or per tensor family.
//!
//! Depth runs from 0 (the embeddings and the layer norm before the first layer) to 1 (the last
//! layer norm, the projections and `logit_scale`), each tower over its own layers, so one list
//! means the same thing for a 12-layer vision tower and a 12-layer text tower alike.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};

/// The parts of a CLIP tower a schedule can address separately (mergekit's `filter`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Attention,
    Mlp,
    Norm,
    Embedding,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Attention, Family::Mlp, Family::Norm, Family::Embedding];

    pub fn key(self) -> &'static str {
        match self {
            Family::Attention => "attention",
            Family::Mlp => "mlp",
            Family::Norm => "norm",
            Family::Embedding => "embedding",
        }
    }

    /// The family of a tensor by its transformers name; `None` for the projections and
    /// `logit_scale` (they take the schedule's `default`).
    pub fn of(name: &str) -> Option<Family> {
        if name.contains(".self_attn.") {
            Some(Family::Attention)
        } else if name.contains(".mlp.") {
            Some(Family::Mlp)
        } else if name.contains("layer_norm") || name.contains("layernorm") || name.contains("layrnorm") {
            Some(Family::Norm)
        } else if name.contains(".embeddings.") {
            Some(Family::Embedding)
        } else {
            None
        }
    }
}

/// Values over depth: one number everywhere, or ≥ 2 numbers spread evenly from depth 0 to 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Levels {
    Value(f64),
    Depth(Vec<f64>),
}

impl Levels {
    /// The value at `depth` ∈ [0, 1], linearly interpolated between the two nearest points.
    pub fn at(&self, depth: f64) -> f64 {
        match self {
            Levels::Value(v) => *v,
            Levels::Depth(points) if points.len() == 1 => points[0],
            Levels::Depth(points) => {
                let x = depth.clamp(0.0, 1.0) * (points.len() - 1) as f64;
                let i = (x.floor() as usize).min(points.len() - 2);
                let t = x - i as f64;
                // Exact at the points themselves (t = 0 or 1), so a flat list equals a number.
                if t == 0.0 {
                    points[i]
                } else if t == 1.0 {
                    points[i + 1]
                } else {
                    points[i] + t * (points[i + 1] - points[i])
                }
            }
        }
    }

    fn values(&self) -> Vec<f64> {
        match self {
            Levels::Value(v) => vec![*v],
            Levels::Depth(p) => p.clone(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Levels::Value(v) => Value::from(*v),
            Levels::Depth(p) => Value::from(p.clone()),
        }
    }

    fn parse(v: &Value, field: &str) -> Result<Self> {
        match v {
            Value::Number(n) => Ok(Levels::Value(number(n.as_f64(), field)?)),
            Value::Array(items) if items.is_empty() => Err(Error::Invalid(format!("recipe field `{field}`: an empty list (give one number or a list of numbers over depth)"))),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| number(x.as_f64(), &format!("{field}[{i}]")).map_err(|_| not_a_number(&format!("{field}[{i}]"), x)))
                .collect::<Result<Vec<_>>>()
                .map(Levels::Depth),
            other => Err(not_a_number(field, other)),
        }
    }
}

/// A scalar coefficient of a recipe (α, λ): the same everywhere, over depth, or per family.
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficient {
    /// For tensors of no listed family (and every tensor when no family is listed).
    pub default: Levels,
    pub families: BTreeMap<Family, Levels>,
}

impl Coefficient {
    pub fn constant(value: f64) -> Self {
        Self { default: Levels::Value(value), families: BTreeMap::new() }
    }

    /// One number everywhere (no depth list, no family): the value.
    pub fn as_constant(&self) -> Option<f64> {
        match (&self.default, self.families.is_empty()) {
            (Levels::Value(v), true) => Some(*v),
            _ => None,
        }
    }

    /// The coefficient of tensor `name` at `depth`.
    pub fn at(&self, name: &str, depth: f64) -> f64 {
        Family::of(name).and_then(|f| self.families.get(&f)).unwrap_or(&self.default).at(depth)
    }

    /// Every number it holds, for range checks.
    pub fn values(&self) -> Vec<f64> {
        let mut v = self.default.values();
        v.extend(self.families.values().flat_map(Levels::values));
        v
    }

    /// A number, a list of numbers, or `{"default": …, "attention": …, "mlp": …, "norm": …,
    /// "embedding": …}` (each a number or list; `default` defaults to `fallback`).
    pub fn parse(v: &Value, field: &str, fallback: f64) -> Result<Self> {
        let Value::Object(map) = v else {
            return Ok(Self { default: Levels::parse(v, field)?, families: BTreeMap::new() });
        };
        let mut out = Self::constant(fallback);
        for (key, value) in map {
            let sub = format!("{field}.{key}");
            if key == "default" {
                out.default = Levels::parse(value, &sub)?;
            } else if let Some(f) = Family::ALL.into_iter().find(|f| f.key() == key) {
                out.families.insert(f, Levels::parse(value, &sub)?);
            } else {
                return Err(Error::Invalid(format!(
                    "recipe field `{field}`: unknown tensor family `{key}` (use default, attention, mlp, norm or embedding)"
                )));
            }
        }
        Ok(out)
    }

    pub fn to_json(&self) -> Value {
        if self.families.is_empty() {
            return self.default.to_json();
        }
        let mut map = serde_json::Map::new();
        map.insert("default".into(), self.default.to_json());
        for (f, l) in &self.families {
            map.insert(f.key().into(), l.to_json());
        }
        Value::Object(map)
    }
}

fn number(v: Option<f64>, field: &str) -> Result<f64> {
    match v {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(Error::Invalid(format!("recipe field `{field}`: not a finite number"))),
    }
}

fn not_a_number(field: &str, v: &Value) -> Error {
    Error::Invalid(format!("recipe field `{field}`: expected a number or a list of numbers, got {v}"))
}

/// Layers per tower, counted from the tensor names (`….encoder.layers.{i}.…`).
#[derive(Debug, Clone, Default)]
pub struct Depths {
    layers: BTreeMap<String, usize>,
}

impl Depths {
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Self {
        let mut layers = BTreeMap::new();
        for name in names {
            if let Some((tower, i)) = layer_of(name) {
                let n = layers.entry(tower.to_string()).or_insert(0);
                *n = (*n).max(i + 1);
            }
        }
        Self { layers }
    }

    /// Where `name` sits in its tower: 0 for the embeddings, (i + 1)/(L + 1) for layer i of L,
    /// 1 for what comes after the last layer (and for `logit_scale`, which belongs to no tower).
    pub fn of(&self, name: &str) -> f64 {
        let tower = tower_of(name);
        let total = self.layers.get(tower).copied().unwrap_or(0) + 1;
        if let Some((_, i)) = layer_of(name) {
            (i + 1) as f64 / total as f64
        } else if name.contains(".embeddings.") || name.contains("pre_layrnorm") {
            0.0
        } else {
            1.0
        }
    }
}

/// "vision_model" or "text_model" (the projections join the tower they project).
fn tower_of(name: &str) -> &str {
    if name.starts_with("vision_model.") || name.starts_with("visual_projection") {
        "vision_model"
    } else if name.starts_with("text_model.") || name.starts_with("text_projection") {
        "text_model"
    } else {
        ""
    }
}

fn layer_of(name: &str) -> Option<(&str, usize)> {
    let rest = &name[name.find(".encoder.layers.")? + ".encoder.layers.".len()..];
    let index = rest.split('.').next()?.parse().ok()?;
    Some((tower_of(name), index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_runs_from_embeddings_to_projection() {
        let names: Vec<String> = (0..3).map(|i| format!("vision_model.encoder.layers.{i}.mlp.fc1.weight")).collect();
        let d = Depths::from_names(&names);
        assert_eq!(d.of("vision_model.embeddings.patch_embedding.weight"), 0.0);
        assert_eq!(d.of("vision_model.pre_layrnorm.weight"), 0.0);
        assert_eq!(d.of("vision_model.encoder.layers.0.mlp.fc1.weight"), 0.25);
        assert_eq!(d.of("vision_model.encoder.layers.2.self_attn.q_proj.bias"), 0.75);
        assert_eq!(d.of("visual_projection.weight"), 1.0);
        assert_eq!(d.of("logit_scale"), 1.0);
    }

    #[test]
    fn lists_interpolate_linearly_and_hit_their_points() {
        let l = Levels::Depth(vec![0.0, 1.0, 0.5]);
        assert_eq!(l.at(0.0), 0.0);
        assert_eq!(l.at(0.25), 0.5);
        assert_eq!(l.at(0.5), 1.0);
        assert_eq!(l.at(1.0), 0.5);
        assert_eq!(Levels::Depth(vec![0.3]).at(0.7), 0.3);
    }

    #[test]
    fn families_override_the_default() {
        let c = Coefficient::parse(&serde_json::json!({"default": 0.1, "mlp": [0.0, 1.0]}), "lambda", 0.3).unwrap();
        assert_eq!(c.at("vision_model.encoder.layers.0.mlp.fc2.bias", 0.5), 0.5);
        assert_eq!(c.at("vision_model.encoder.layers.0.self_attn.k_proj.weight", 0.5), 0.1);
        assert_eq!(c.at("visual_projection.weight", 1.0), 0.1);
        assert_eq!(Coefficient::parse(&c.to_json(), "lambda", 0.3).unwrap(), c);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Coefficient::parse(&serde_json::json!([0.1, "x"]), "lambda", 0.3).unwrap_err().to_string();
        assert!(e.contains("`lambda[1]`") && e.contains("\"x\""), "{e}");
        let e = Coefficient::parse(&serde_json::json!({"ffn": 1}), "alpha", 0.5).unwrap_err().to_string();
        assert!(e.contains("unknown tensor family `ffn`"), "{e}");
        let e = Coefficient::parse(&serde_json::json!("0.3"), "lambda", 0.3).unwrap_err().to_string();
        assert!(e.contains("`lambda`"), "{e}");
    }
}

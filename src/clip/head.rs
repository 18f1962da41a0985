//! The zero-shot head: class embeddings from prompts (prompt ensembling) and probabilities
//! softmax(exp(logit_scale) · cos(image, class)). Small host-side math, done in f64.

/// One unit-length embedding per label.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassEmbeddings {
    pub labels: Vec<String>,
    pub dim: usize,
    /// `labels.len() × dim`, row-major, each row of unit length.
    pub data: Vec<f32>,
}

fn unit(v: &[f64]) -> Vec<f64> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    // A zero vector stays zero rather than becoming NaN.
    let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    v.iter().map(|x| x * inv).collect()
}

/// L2-normalised copy.
pub fn l2_normalize(v: &[f32]) -> Vec<f32> {
    unit(&v.iter().map(|&x| x as f64).collect::<Vec<_>>()).into_iter().map(|x| x as f32).collect()
}

impl ClassEmbeddings {
    /// `prompt_embeds[l * templates + t]` is the text embedding of label `l` in template `t`. Each is
    /// normalised, averaged over templates, and normalised again, as CLIP does.
    pub fn from_prompts(labels: &[String], templates: usize, prompt_embeds: &[Vec<f32>]) -> Self {
        assert_eq!(prompt_embeds.len(), labels.len() * templates, "one embedding per label and template");
        let dim = prompt_embeds.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(labels.len() * dim);
        for chunk in prompt_embeds.chunks(templates.max(1)) {
            let mut mean = vec![0f64; dim];
            for e in chunk {
                let u = unit(&e.iter().map(|&x| x as f64).collect::<Vec<_>>());
                mean.iter_mut().zip(u).for_each(|(m, x)| *m += x);
            }
            data.extend(unit(&mean).into_iter().map(|x| x as f32));
        }
        Self { labels: labels.to_vec(), dim, data }
    }

    pub fn row(&self, label: usize) -> &[f32] {
        &self.data[label * self.dim..(label + 1) * self.dim]
    }

    /// Logits exp(logit_scale)·cos(image, class) for one (unnormalised) image embedding.
    pub fn logits(&self, image_embed: &[f32], logit_scale: f32) -> Vec<f64> {
        let img = unit(&image_embed.iter().map(|&x| x as f64).collect::<Vec<_>>());
        let scale = (logit_scale as f64).exp();
        (0..self.labels.len())
            .map(|l| scale * self.row(l).iter().zip(&img).map(|(&c, &i)| c as f64 * i).sum::<f64>())
            .collect()
    }

    /// Probabilities over the labels, in label order.
    pub fn probabilities(&self, image_embed: &[f32], logit_scale: f32) -> Vec<f32> {
        softmax(&self.logits(image_embed, logit_scale))
    }
}

pub fn softmax(logits: &[f64]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| (e / sum) as f32).collect()
}

/// Index of the largest probability.
pub fn argmax(probs: &[f32]) -> usize {
    probs.iter().enumerate().fold(0, |best, (i, &p)| if p > probs[best] { i } else { best })
}

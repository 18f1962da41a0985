//! `wiseft sweep`: the lecture's α sweep over folders of photos, with the α rules. The session does
//! the work (the page's worker calls the same code); this file reads arguments and prints.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

use serde_json::json;
use wiseft::choose::Rules;
use wiseft::error::{Error, Result};
use wiseft::merge::ModelPair;
use wiseft::pipeline::WiseFt;
use wiseft::session::folders::{self, FolderPhoto};
use wiseft::session::{resolve_templates, Curve, Prompts, Session, SessionEvent, SweepOutcome, SweepPhoto, SweepSet};

use crate::checkpoints::{load_pair, print_report};
use crate::commands::labels_of;
use crate::SweepArgs;

/// The labels: given, else the built-in pair's, else the task and shift folders' names.
fn labels(args: &SweepArgs) -> Result<Vec<String>> {
    let given = labels_of(&args.labels, &args.labels_file)?;
    if !given.is_empty() {
        return Ok(given);
    }
    if args.zero_shot.is_none() {
        return crate::embedded::labels();
    }
    let mut names = folders::folder_names(&args.task)?;
    if let Some(shift) = &args.shift {
        names.extend(folders::folder_names(shift)?);
    }
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(Error::Invalid("no labels: give --labels, or label folders (DIR/<label>/*.png) in --task".into()));
    }
    eprintln!("labels from the folder names: {}", names.join(", "));
    Ok(names)
}

pub fn sweep(args: SweepArgs) -> Result<ExitCode> {
    let labels = labels(&args)?;
    let alphas = folders::parse_alphas(&args.alphas)?;
    let mut files: Vec<FolderPhoto> = folders::read_set(&args.task, SweepSet::Task, &labels)?;
    if let Some(dir) = &args.shift {
        files.extend(folders::read_set(dir, SweepSet::Shift, &labels)?);
    }
    if let Some(dir) = &args.unlabeled {
        files.extend(folders::read_set(dir, SweepSet::Unlabeled, &labels)?);
    }

    let (zero_shot, fine_tuned) = load_pair(args.zero_shot.as_deref(), args.fine_tuned.as_deref())?;
    let pair = ModelPair::new(zero_shot, fine_tuned)?;
    if pair.fine_tuned.is_none() {
        return Err(Error::Invalid("a sweep needs --fine-tuned (α has no effect without one)".into()));
    }
    print_report(&pair.plan.report);
    let wiseft = pollster::block_on(WiseFt::new(pair, wiseft::merge::Alpha::HALF, args.device))?;
    eprintln!("device: {} ({})", wiseft.engine().describe(), wiseft.reason());

    // Progress and unusable photos on stderr, as they happen.
    let bad = Rc::new(RefCell::new(Vec::new()));
    let seen = bad.clone();
    let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    let mut session = Session::new(move |e| match e {
        SessionEvent::SweepProgress { k, n, coefficient, alpha } => eprintln!("sweep: {coefficient} = {alpha} done ({k} of {n})"),
        SessionEvent::LayerwiseProgress { done: 1, most, photos, estimate_s, vit_b32_s, .. } => crate::layerwise::announce(most, photos, estimate_s, vit_b32_s),
        SessionEvent::PromptProgress { k, n, .. } => eprintln!("prompts: {k} of {n} encoded"),
        SessionEvent::ImageError { image, message } => {
            eprintln!("error: {}: {message}", names[image as usize]);
            seen.borrow_mut().push(image);
        }
        _ => {}
    });
    let fail = |f: wiseft::session::Failure| f.error;
    let prompts = Prompts { labels: labels.clone(), templates: resolve_templates(args.templates, &args.template) };
    pollster::block_on(session.set_prompts(prompts)).map_err(fail)?;
    pollster::block_on(session.install(wiseft)).map_err(fail)?;
    let mut photos = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(&f.path).map_err(|e| Error::io(&f.path, e))?;
        photos.push((i as u32, f.name.clone(), bytes));
    }
    eprintln!("sweep: {} photos at {} α values …", files.len(), alphas.len());
    pollster::block_on(session.add_photos(photos)).map_err(fail)?;
    let list: Vec<SweepPhoto> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let photo = SweepPhoto::new(i as u32, f.label, f.set);
            match &f.group {
                Some(name) => photo.in_group(name.clone()),
                None => photo,
            }
        })
        .collect();
    let SweepOutcome::Done(done) = pollster::block_on(session.sweep(&alphas, &list)).map_err(fail)? else {
        return Err(Error::Invalid("sweep cancelled".into()));
    };

    let layerwise = match (&done.rules, args.layerwise) {
        (Ok(rules), true) => {
            let start = rules.get(wiseft::choose::Rule::MinEntropy).alpha.unwrap_or(0.5);
            Some(crate::layerwise::search(&mut session, &args, &list, start)?)
        }
        _ => None,
    };

    if args.csv {
        print!("{}", done.csv);
    } else if args.json {
        // The named sets' keys only where there are named sets: the output is otherwise as before.
        let named = done.curves.iter().any(|c| c.name.is_some());
        let photos: Vec<_> = files
            .iter()
            .map(|f| {
                let mut p = json!({"name": f.name, "path": f.path, "set": f.set, "label": f.label.map(|l| &labels[l])});
                if named {
                    p["named_set"] = json!(f.group);
                }
                p
            })
            .collect();
        let (rules, error) = match &done.rules {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        let mut out = json!({"labels": labels, "alphas": alphas, "photos": photos, "points": done.points, "rules": rules, "rules_error": error, "layerwise": layerwise});
        if named {
            out["curves"] = json!(done.curves);
        }
        println!("{out}");
    } else {
        match &done.rules {
            Ok(rules) => print_table(rules),
            Err(e) => println!("α rules: {e}"),
        }
        print_named(&done.curves, done.coefficient);
        if let Some(l) = &layerwise {
            print_layerwise(l);
        }
    }
    if let Err(e) = &done.rules {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    Ok(if bad.borrow().is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}", v * 100.0)).unwrap_or_else(|| "—".into())
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "—".into())
}

fn print_table(rules: &Rules) {
    println!("{:>6} {:>8} {:>8} {:>9} {:>10} {:>10}", "α", "task %", "shift %", "entropy", "agree α=0", "ALine est %");
    for a in &rules.alphas {
        println!(
            "{:>6} {:>8} {:>8} {:>9} {:>10} {:>10}",
            a.alpha,
            pct(Some(a.task_accuracy)),
            pct(a.shift_accuracy),
            num(a.entropy, 4),
            pct(a.agreement_zero_shot),
            pct(a.estimated_shift_accuracy)
        );
    }
    println!();
    println!("{:<36} {:>6} {:>8} {:>8} {:>12}", "rule", "α", "task %", "shift %", "loss (points)");
    for r in &rules.rules {
        match &r.error {
            Some(e) => println!("{:<36} {e}", r.name),
            None => println!(
                "{:<36} {:>6} {:>8} {:>8} {:>12}",
                r.name,
                r.alpha.map(|a| a.to_string()).unwrap_or_default(),
                pct(r.task_accuracy),
                pct(r.shift_accuracy),
                r.loss_vs_oracle.map(|l| format!("{:.1}", l * 100.0)).unwrap_or_else(|| "—".into())
            ),
        }
    }
    if let Some(line) = &rules.line {
        println!("agreement line: probit(shift) = {:.3}·probit(task) + {:.3} over {} pairs of α", line.slope, line.intercept, line.pairs);
    }
    println!();
    println!("{}", rules.verdict);
}

/// Each named set's accuracy per swept value and where it peaks (nothing without named sets).
fn print_named(curves: &[Curve], coefficient: &str) {
    let named: Vec<&Curve> = curves.iter().filter(|c| c.name.is_some()).collect();
    if named.is_empty() {
        return;
    }
    println!();
    println!("named sets, accuracy % (correct/photos):");
    let widths: Vec<usize> = named.iter().map(|c| c.label.chars().count().max(12)).collect();
    let mut head = format!("{coefficient:>6}");
    for (c, w) in named.iter().zip(&widths) {
        head += &format!(" {:>w$}", c.label);
    }
    println!("{head}");
    for (k, p) in named[0].points.iter().enumerate() {
        let mut line = format!("{:>6}", p.alpha.to_string());
        for (c, w) in named.iter().zip(&widths) {
            let p = &c.points[k];
            line += &format!(" {:>w$}", format!("{:.1} ({}/{})", p.accuracy * 100.0, p.correct, p.n));
        }
        println!("{line}");
    }
    for c in &named {
        let at: Vec<String> = c.best.iter().map(|a| a.to_string()).collect();
        println!("best {coefficient} for “{}” ({} photos, {}): {} ({:.1} %)", c.label, c.points[0].n, c.set.name(), at.join(", "), c.top * 100.0);
    }
}

fn print_layerwise(l: &wiseft::session::LayerwiseResult) {
    println!();
    let knots: Vec<String> = l.knots.iter().map(|a| format!("{a}")).collect();
    println!("layer-wise α (embeddings → last layer): {}", knots.join(" → "));
    println!(
        "  entropy {:.4} (single α = {}: {:.4}); task {} %, shift {} %; {} forward passes in {:.1} s (ViT-B/32: about {:.0} s)",
        l.entropy,
        l.start_alpha,
        l.start_entropy,
        pct(l.task_accuracy),
        pct(l.shift_accuracy),
        l.evaluations,
        l.seconds,
        l.vit_b32_seconds
    );
}

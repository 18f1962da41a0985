//! Checkpoint reading: formats, layouts, dtypes, configs, and every bad input giving its error.

mod common;

use std::collections::BTreeMap;

use common::*;
use wiseft::checkpoint::{safetensors, Checkpoint, F32Source, FileDtype, Format, HostTensor, Layout, SideFiles};
use wiseft::clip::config::{Activation, ClipConfig, ConfigSource, EncoderConfig, TextConfig, VisionConfig};
use wiseft::Error;

/// A safetensors file from a raw header and data section.
fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn read_err(bytes: &[u8]) -> String {
    match Checkpoint::from_bytes(bytes, "bad.safetensors", SideFiles::default()) {
        Ok(_) => panic!("a bad file was accepted"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("bad.safetensors"), "message does not name the file: {msg}");
            msg
        }
    }
}

#[test]
fn reads_layouts_and_dtypes() {
    let a = open("models/a_zs");
    assert_eq!(a.layout, Layout::ClipModel);
    assert_eq!(a.format, Format::Safetensors);
    assert_eq!(a.dtypes().keys().copied().collect::<Vec<_>>(), vec![FileDtype::F32]);
    assert!(matches!(a.config_source, ConfigSource::File(_)));
    assert!(a.preprocess.is_some());

    let a_ft = open("models/a_ft");
    assert_eq!(a_ft.layout, Layout::VisionModel { projection: false });
    assert!(a_ft.config.text.is_none());

    let b = open("models/b_zs");
    assert_eq!(b.dtypes().keys().copied().collect::<Vec<_>>(), vec![FileDtype::F16]);
    assert_eq!(b.config.vision.as_ref().unwrap().encoder.hidden_act, Activation::Gelu);
    assert_eq!(b.config.text.as_ref().unwrap().encoder.hidden_act, Activation::QuickGelu);
    let b_ft = open("models/b_ft");
    assert_eq!(b_ft.dtypes().keys().copied().collect::<Vec<_>>(), vec![FileDtype::BF16]);
}

#[test]
fn pytorch_bin_equals_safetensors() {
    let st = open("models/b_zs");
    let pt = open("models/b_zs_bin");
    assert_eq!(pt.format, Format::PyTorch);
    assert_eq!(pt.layout, Layout::ClipModel);
    for (name, t) in &st.tensors {
        let p = &pt.tensors[name];
        assert_eq!(p.shape, t.shape, "{name}");
        assert_eq!(p.as_f32(), t.as_f32(), "{name}");
    }
    // Old checkpoints carry int64 position ids; they are read, not interpolated.
    let ids = &pt.tensors["text_model.embeddings.position_ids"];
    assert_eq!(ids.file_dtype, FileDtype::I64);
    assert_eq!(ids.shape, vec![1, 77]);
}

#[test]
fn bare_file_without_config_is_inferred_or_explained() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("weights.safetensors");
    std::fs::copy(fixture("models/a_zs/model.safetensors"), &file).unwrap();
    // Width 32 cannot be split into heads of 64: the error says so and what to do.
    let msg = Checkpoint::open(&file).unwrap_err().to_string();
    assert!(msg.contains("attention heads") && msg.contains("config.json"), "{msg}");

    // With a config.json beside it, it is used.
    std::fs::copy(fixture("models/a_zs/config.json"), dir.path().join("config.json")).unwrap();
    let ckpt = Checkpoint::open(&file).unwrap();
    assert!(matches!(ckpt.config_source, ConfigSource::File(_)));
}

fn encoder(hidden: usize, layers: usize) -> EncoderConfig {
    EncoderConfig {
        hidden_size: hidden,
        intermediate_size: hidden * 4,
        num_attention_heads: hidden / 64,
        num_hidden_layers: layers,
        hidden_act: Activation::QuickGelu,
        layer_norm_eps: 1e-5,
    }
}

#[test]
fn config_inferred_from_shapes_matches_the_original() {
    let config = ClipConfig {
        vision: Some(VisionConfig { encoder: encoder(128, 2), image_size: 64, patch_size: 16, num_channels: 3 }),
        text: Some(TextConfig { encoder: encoder(64, 3), vocab_size: 100, max_position_embeddings: 77, eos_token_id: 2 }),
        projection_dim: Some(32),
    };
    let mut tensors: BTreeMap<String, HostTensor> = config
        .expected_tensors()
        .into_iter()
        .map(|(n, shape)| {
            let len = shape.iter().product();
            (n, HostTensor::f32(shape, vec![0.0; len]))
        })
        .collect();
    tensors.insert("visual_projection.weight".into(), HostTensor::f32(vec![32, 128], vec![0.0; 32 * 128]));
    let (inferred, assumptions) = ClipConfig::infer(&tensors, "x").unwrap();
    assert_eq!(inferred, config);
    assert_eq!(assumptions.len(), 2);
}

#[test]
fn truncated_file_names_file_and_tensor() {
    let bytes = std::fs::read(fixture("models/a_zs/model.safetensors")).unwrap();
    let msg = read_err(&bytes[..bytes.len() / 2]);
    assert!(msg.contains("tensor `") && msg.contains("truncated"), "{msg}");
    let msg = read_err(&bytes[..5]);
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn truncated_file_on_disk_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("models/a_zs/model.safetensors")).unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let msg = Checkpoint::open(dir.path()).unwrap_err().to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("truncated"), "{msg}");
}

#[test]
fn header_length_past_end() {
    let mut bytes = 5000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let msg = read_err(&bytes);
    assert!(msg.contains("header length 5000 runs past the end"), "{msg}");
}

#[test]
fn header_not_json() {
    let msg = read_err(&raw_safetensors("this is not json", &[]));
    assert!(msg.contains("not valid JSON"), "{msg}");
    let msg = read_err(&raw_safetensors("\u{0}\u{1}\u{2}", &[]));
    assert!(msg.contains("JSON"), "{msg}");
}

#[test]
fn unknown_dtype_names_the_tensor() {
    let header = r#"{"vision_model.x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#;
    let msg = read_err(&raw_safetensors(header, &[0; 8]));
    assert!(msg.contains("`vision_model.x`") && msg.contains("Q7"), "{msg}");
}

#[test]
fn offsets_out_of_range_or_inconsistent() {
    // Past the end of the data section.
    let header = r#"{"vision_model.x":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#;
    let msg = read_err(&raw_safetensors(header, &[0; 16]));
    assert!(msg.contains("`vision_model.x`") && msg.contains("past the end"), "{msg}");
    // Size not matching the shape.
    let header = r#"{"vision_model.x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#;
    let msg = read_err(&raw_safetensors(header, &[0; 16]));
    assert!(msg.contains("`vision_model.x`") && msg.contains("needs 12"), "{msg}");
    // End before start.
    let header = r#"{"vision_model.x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#;
    let msg = read_err(&raw_safetensors(header, &[0; 16]));
    assert!(msg.contains("end before they start"), "{msg}");
}

#[test]
fn overlapping_tensors() {
    let header = r#"{"vision_model.a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"vision_model.b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#;
    let msg = read_err(&raw_safetensors(header, &[0; 16]));
    assert!(msg.contains("`vision_model.b`") && msg.contains("overlap") && msg.contains("vision_model.a"), "{msg}");
}

#[test]
fn not_a_clip_checkpoint() {
    let header = r#"{"encoder.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let msg = read_err(&raw_safetensors(header, &[0; 4]));
    assert!(msg.contains("no CLIP tensors"), "{msg}");
}

/// a_zs re-serialised without one tensor, read with its config.json.
#[test]
fn missing_tensor_is_named() {
    let a = open("models/a_zs");
    let gone = "vision_model.encoder.layers.1.mlp.fc2.bias";
    let bytes = safetensors::write(a.tensors.iter().filter(|(n, _)| *n != gone).map(|(n, t)| (n.as_str(), t))).unwrap();
    let config = std::fs::read_to_string(fixture("models/a_zs/config.json")).unwrap();
    let side = SideFiles { config: Some(("config.json".into(), config)), preprocessor: None, open_clip: None };
    let msg = Checkpoint::from_bytes(&bytes, "bad.safetensors", side).unwrap_err().to_string();
    assert!(msg.contains("bad.safetensors") && msg.contains(gone) && msg.contains("missing"), "{msg}");
}

#[test]
fn config_that_does_not_match_the_tensors() {
    let bytes = std::fs::read(fixture("models/a_zs/model.safetensors")).unwrap();
    let config = std::fs::read_to_string(fixture("models/a_zs/config.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&config).unwrap();
    json["vision_config"]["intermediate_size"] = serde_json::json!(48);
    let side = SideFiles { config: Some(("my/config.json".into(), json.to_string())), preprocessor: None, open_clip: None };
    match Checkpoint::from_bytes(&bytes, "bad.safetensors", side) {
        Err(Error::Config { file, msg }) => {
            assert_eq!(file, "my/config.json");
            assert!(msg.contains("fc1.weight") && msg.contains("64×32") && msg.contains("48×32"), "{msg}");
        }
        other => panic!("expected a config error, got {:?}", other.map(|c| c.name)),
    }
}

#[test]
fn corrupt_pytorch_archive() {
    let bytes = std::fs::read(fixture("models/b_zs_bin/pytorch_model.bin")).unwrap();
    let msg = read_err(&bytes[..bytes.len() / 2]);
    assert!(msg.contains("zip") || msg.contains("truncated"), "{msg}");
}

#[test]
fn written_file_reads_back_identically() {
    let a = open("models/a_zs");
    let bytes = safetensors::write(a.tensors.iter().map(|(n, t)| (n.as_str(), t))).unwrap();
    let (back, metadata) = safetensors::read(&bytes, "x").unwrap();
    assert_eq!(metadata.get("format").map(String::as_str), Some("pt"));
    assert_eq!(back.len(), a.tensors.len());
    for (name, t) in back {
        assert_eq!(t.as_f32(), a.tensors[&name].as_f32(), "{name}");
    }
}

/// Feeds `piece` to `reader`; the tensors it completed, decoded.
fn push(reader: &mut safetensors::StreamReader, piece: &[u8]) -> wiseft::Result<Vec<(String, HostTensor)>> {
    let mut done = Vec::new();
    reader.push(piece, &mut |name, raw| {
        done.push((name.to_string(), raw.to_host()));
        Ok(())
    })?;
    Ok(done)
}

/// The bits of every tensor, for comparing two reads.
fn bits(list: &[(String, HostTensor)]) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    list.iter().map(|(n, t)| (n.clone(), t.shape.clone(), t.to_le_bytes())).collect()
}

#[test]
fn streamed_reading_gives_the_same_tensors_whatever_the_chunks() {
    for model in ["models/a_zs", "models/b_ft"] {
        let bytes = std::fs::read(fixture(model).join("model.safetensors")).unwrap();
        let (whole, _) = safetensors::read(&bytes, "whole").unwrap();
        for chunk in [1usize, 7, 8, 100, 4093, 65536, bytes.len()] {
            // With and without the size known in advance (a response without Content-Length).
            for total in [Some(bytes.len() as u64), None] {
                let mut reader = safetensors::StreamReader::new("streamed", total);
                let mut got = Vec::new();
                let mut first_tensor_at = None;
                for (i, piece) in bytes.chunks(chunk).enumerate() {
                    let done = push(&mut reader, piece).unwrap();
                    if !done.is_empty() && first_tensor_at.is_none() {
                        first_tensor_at = Some(i);
                    }
                    got.extend(done);
                }
                reader.finish().unwrap();
                assert_eq!(bits(&got), bits(&whole), "{model} in chunks of {chunk}");
                // Tensors come out as they complete, long before the end of a chunked file.
                if chunk == 4093 {
                    assert!(first_tensor_at.unwrap() < bytes.len() / chunk / 2, "{model}: first tensor only at chunk {first_tensor_at:?}");
                }
            }
        }
    }
}

#[test]
fn raw_tensors_decode_piece_by_piece_as_whole() {
    // pair b's fine-tune holds f16 and bf16 tensors; pair a's zero-shot f32 (and integer ids).
    for model in ["models/a_zs", "models/b_ft"] {
        let bytes = std::fs::read(fixture(model).join("model.safetensors")).unwrap();
        let mut reader = safetensors::StreamReader::new("x", Some(bytes.len() as u64));
        let mut checked = 0;
        reader
            .push(&bytes, &mut |name, raw| {
                let whole = raw.to_host();
                let Some(want) = whole.as_f32() else { return Ok(()) };
                assert_eq!(F32Source::len(&raw), want.len(), "{model} {name}");
                // Pieces of 3 values, from every offset of the first piece.
                let mut got = vec![0f32; want.len()];
                for (i, piece) in got.chunks_mut(3).enumerate() {
                    raw.read(i * 3, piece);
                }
                assert_eq!(got, want, "{model} {name} ({})", raw.dtype);
                checked += 1;
                Ok(())
            })
            .unwrap();
        assert!(checked > 0);
    }
}

#[test]
fn streamed_reading_fails_early_and_names_what_is_missing() {
    // Not safetensors: the first 8 bytes already say so, before the rest arrives.
    let mut reader = safetensors::StreamReader::new("page.html", None);
    let err = push(&mut reader, b"<!DOCTYPE html><html>").unwrap_err().to_string();
    assert!(err.contains("page.html") && err.contains("not a safetensors file"), "{err}");

    // A header that does not fit the announced size fails as soon as it is in.
    let bytes = std::fs::read(fixture("models/a_zs").join("model.safetensors")).unwrap();
    let n = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut reader = safetensors::StreamReader::new("short.safetensors", Some(bytes.len() as u64 / 2));
    let err = push(&mut reader, &bytes[..n]).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");

    // A stream that stops early: finish names the first tensor that did not arrive.
    let cut = bytes.len() * 2 / 3;
    let mut reader = safetensors::StreamReader::new("cut.safetensors", None);
    let got = push(&mut reader, &bytes[..cut]).unwrap();
    assert!(!got.is_empty());
    let (whole, _) = safetensors::read(&bytes, "whole").unwrap();
    let missing = &whole[got.len()].0;
    let err = reader.finish().unwrap_err().to_string();
    assert!(err.contains("cut.safetensors") && err.contains(missing.as_str()) && err.contains("truncated"), "{err}");

    // Cut inside the header.
    let mut reader = safetensors::StreamReader::new("cut.safetensors", None);
    push(&mut reader, &bytes[..n / 2]).unwrap();
    let err = reader.finish().unwrap_err().to_string();
    assert!(err.contains("cut.safetensors") && err.contains("truncated"), "{err}");
}

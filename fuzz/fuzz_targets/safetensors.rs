#![no_main]
// One per target of wiseft::fuzz; scripts/fuzz.sh runs it.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = wiseft::fuzz::safetensors(data);
});

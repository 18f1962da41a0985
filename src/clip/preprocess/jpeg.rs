//! A JPEG decoder that reproduces libjpeg-turbo's output with PIL's settings, bit for bit.
//!
//! The `image` crate decodes JPEG with zune-jpeg, whose IDCT, chroma upsampling and YCbCr→RGB
//! rounding differ from libjpeg-turbo's (up to 4 levels per pixel, still 4 after CLIP's resize).
//! PIL uses libjpeg-turbo with its defaults: the "islow" integer IDCT (`jidctint.c`), "fancy"
//! triangle-filter upsampling (`jdsample.c`) and table-driven colour conversion (`jdcolor.c`).
//! This module ports exactly those parts; entropy decoding is the standard Huffman
//! baseline/progressive process, which has a single correct answer.
//!
//! Supported: baseline and extended sequential (SOF0/SOF1) and progressive (SOF2) Huffman
//! JPEGs with 8-bit samples and 1, 3 or 4 components, any integral sampling factors, restart
//! intervals. Not supported (an error): arithmetic coding, lossless and hierarchical JPEG,
//! 12-bit samples. Like libjpeg, corrupt entropy data decodes to zeros instead of failing.

/// Decoded samples in the colour space PIL gets from libjpeg-turbo.
pub(super) enum Pixels {
    /// One component (`L`).
    Gray(Vec<u8>),
    /// Three components, converted to RGB when they are YCbCr.
    Rgb(Vec<u8>),
    /// Four components as libjpeg returns them (YCCK already converted to CMYK), not inverted.
    Cmyk(Vec<u8>),
}

pub(super) struct Decoded {
    pub width: u32,
    pub height: u32,
    pub pixels: Pixels,
    /// Payload of the first APP1 "Exif" segment (TIFF header onwards), as PIL reads it.
    pub exif: Option<Vec<u8>>,
}

/// Limits checked before any large allocation.
pub(super) struct Limits {
    pub max_side: u32,
    pub max_alloc: u64,
}

type DecodeResult<T> = std::result::Result<T, String>;

/// The caller's bound on a frame's size (`check_pixels(width, height, file bytes)`), applied to the
/// frame header before anything is allocated for it.
pub(super) type PixelCheck = fn(u32, u32, usize) -> DecodeResult<()>;

pub(super) fn decode(data: &[u8], limits: &Limits, check_pixels: PixelCheck) -> DecodeResult<Decoded> {
    let mut dec = Decoder { check_pixels: Some(check_pixels), data_len: data.len(), ..Decoder::default() };
    dec.run(data, limits)?;
    dec.finish()
}

/// Zigzag position → natural (row-major) position; the 16 extra entries are libjpeg's guard
/// against corrupt run lengths pushing the index past 63.
const NATURAL_ORDER: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 63, 63, 63, 63,
];

#[derive(Default)]
struct Decoder {
    quant: [Option<[u16; 64]>; 4],
    dc_tables: [Option<Huffman>; 4],
    ac_tables: [Option<Huffman>; 4],
    restart_interval: usize,
    frame: Option<Frame>,
    saw_jfif: bool,
    adobe_transform: Option<u8>,
    exif: Option<Vec<u8>>,
    scans: usize,
    saw_eoi: bool,
    check_pixels: Option<PixelCheck>,
    /// Bytes of the whole file, for the caller's pixels-per-byte bound.
    data_len: usize,
}

/// Each scan decodes the whole image again; real files have at most a few dozen.
const MAX_SCANS: usize = 1000;

struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    comps: Vec<Component>,
    hmax: usize,
    vmax: usize,
    mcus_x: usize,
    mcus_y: usize,
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant_index: usize,
    /// The quantisation table in force at the component's first scan (libjpeg latches it).
    quant: Option<[u16; 64]>,
    /// Allocated block grid (whole MCUs).
    blocks_w: usize,
    blocks_h: usize,
    /// Blocks that hold image data (non-interleaved scans cover only these).
    used_w: usize,
    used_h: usize,
    /// Sample size after downsampling: ceil(image * factor / max factor).
    width: usize,
    height: usize,
    coefs: Vec<i16>,
}

impl Component {
    fn block(&mut self, row: usize, col: usize) -> &mut [i16] {
        let start = (row * self.blocks_w + col) * 64;
        &mut self.coefs[start..start + 64]
    }
}

fn be16(data: &[u8], pos: usize) -> DecodeResult<usize> {
    match data.get(pos..pos + 2) {
        Some(b) => Ok(usize::from(u16::from_be_bytes([b[0], b[1]]))),
        None => Err("unexpected end of data in a JPEG header".into()),
    }
}

impl Decoder {
    fn run(&mut self, data: &[u8], limits: &Limits) -> DecodeResult<()> {
        if data.get(0..2) != Some(&[0xFF, 0xD8]) {
            return Err("not a JPEG (no start-of-image marker)".into());
        }
        let mut pos = 2;
        while !self.saw_eoi {
            let (marker, next) = next_marker(data, pos)?;
            pos = next;
            if marker == 0xD9 {
                self.saw_eoi = true;
                break;
            }
            if matches!(marker, 0x01 | 0xD0..=0xD7) {
                continue; // stray RSTn or TEM: no payload
            }
            let len = be16(data, pos)?;
            let seg = data
                .get(pos + 2..pos + len.max(2))
                .ok_or("unexpected end of data in a JPEG header")?;
            pos += len.max(2);
            match marker {
                0xC0..=0xC2 => self.read_frame(seg, marker == 0xC2, limits)?,
                0xC3 | 0xC5..=0xC7 | 0xCB | 0xCD..=0xCF => {
                    return Err("unsupported JPEG (lossless or hierarchical)".into())
                }
                0xC9 | 0xCA => return Err("unsupported JPEG (arithmetic coding)".into()),
                0xC4 => self.read_huffman(seg)?,
                0xDB => self.read_quant(seg)?,
                0xDD => self.restart_interval = be16(seg, 0)?,
                0xE0 => self.saw_jfif |= seg.len() >= 14 && seg.starts_with(b"JFIF\0"),
                0xE1 if self.exif.is_none() && seg.starts_with(b"Exif\0\0") => {
                    self.exif = Some(seg[6..].to_vec());
                }
                0xEE if seg.len() >= 12 && seg.starts_with(b"Adobe") => {
                    self.adobe_transform = Some(seg[11]);
                }
                0xDA => pos = self.read_scan(data, seg, pos)?,
                _ => {} // APPn, COM, DNL, ...
            }
        }
        Ok(())
    }

    fn read_quant(&mut self, mut seg: &[u8]) -> DecodeResult<()> {
        while let Some(&pq_tq) = seg.first() {
            let (precision, index) = (pq_tq >> 4, usize::from(pq_tq & 15));
            let size = if precision == 0 { 64 } else { 128 };
            let values = seg.get(1..1 + size).ok_or("truncated quantisation table")?;
            if index > 3 {
                return Err("bad quantisation table index".into());
            }
            let mut table = [0u16; 64];
            for (k, &nat) in NATURAL_ORDER[..64].iter().enumerate() {
                table[nat] = if precision == 0 {
                    u16::from(values[k])
                } else {
                    u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
                };
            }
            self.quant[index] = Some(table);
            seg = &seg[1 + size..];
        }
        Ok(())
    }

    fn read_huffman(&mut self, mut seg: &[u8]) -> DecodeResult<()> {
        while let Some(&tc_th) = seg.first() {
            let (class, index) = (tc_th >> 4, usize::from(tc_th & 15));
            let counts = seg.get(1..17).ok_or("truncated Huffman table")?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let symbols = seg.get(17..17 + total).ok_or("truncated Huffman table")?;
            if index > 3 || class > 1 {
                return Err("bad Huffman table index".into());
            }
            let table = Huffman::new(counts, symbols, class == 0)?;
            if class == 0 {
                self.dc_tables[index] = Some(table);
            } else {
                self.ac_tables[index] = Some(table);
            }
            seg = &seg[17 + total..];
        }
        Ok(())
    }

    fn read_frame(&mut self, seg: &[u8], progressive: bool, limits: &Limits) -> DecodeResult<()> {
        if self.frame.is_some() {
            return Err("JPEG with more than one frame".into());
        }
        let precision = *seg.first().ok_or("truncated frame header")?;
        if precision != 8 {
            return Err(format!(
                "unsupported JPEG sample precision {precision} (only 8-bit)"
            ));
        }
        let height = be16(seg, 1)?;
        let width = be16(seg, 3)?;
        let n = usize::from(*seg.get(5).ok_or("truncated frame header")?);
        if width == 0 || height == 0 {
            return Err("JPEG with zero width or height".into());
        }
        if width > limits.max_side as usize || height > limits.max_side as usize {
            return Err(format!(
                "image is {width}x{height} pixels; the limit is {} pixels per side",
                limits.max_side
            ));
        }
        if !matches!(n, 1 | 3 | 4) {
            return Err(format!("cannot handle {n}-component JPEG"));
        }
        let mut comps = Vec::with_capacity(n);
        for c in 0..n {
            let b = seg
                .get(6 + 3 * c..9 + 3 * c)
                .ok_or("truncated frame header")?;
            let (h, v) = (usize::from(b[1] >> 4), usize::from(b[1] & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return Err("bad JPEG sampling factors".into());
            }
            comps.push(Component {
                id: b[0],
                h,
                v,
                quant_index: usize::from(b[2] & 3),
                quant: None,
                blocks_w: 0,
                blocks_h: 0,
                used_w: 0,
                used_h: 0,
                width: 0,
                height: 0,
                coefs: Vec::new(),
            });
        }
        let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
        if comps.iter().any(|c| hmax % c.h != 0 || vmax % c.v != 0) {
            return Err("unsupported JPEG sampling factors (fractional ratios)".into());
        }
        let mcus_x = width.div_ceil(8 * hmax);
        let mcus_y = height.div_ceil(8 * vmax);
        check_memory(&comps, mcus_x, mcus_y, width, height, limits)?;
        if let Some(check) = self.check_pixels {
            // Sides ≤ max_side here, so they fit in u32.
            check(width as u32, height as u32, self.data_len)?;
        }
        for c in &mut comps {
            c.width = (width * c.h).div_ceil(hmax);
            c.height = (height * c.v).div_ceil(vmax);
            c.blocks_w = mcus_x * c.h;
            c.blocks_h = mcus_y * c.v;
            c.used_w = c.width.div_ceil(8);
            c.used_h = c.height.div_ceil(8);
            c.coefs = vec![0; c.blocks_w * c.blocks_h * 64];
        }
        self.frame = Some(Frame {
            width,
            height,
            progressive,
            comps,
            hmax,
            vmax,
            mcus_x,
            mcus_y,
        });
        Ok(())
    }

    /// Decodes one scan; returns the position of the marker that ends its entropy-coded data.
    fn read_scan(&mut self, data: &[u8], seg: &[u8], start: usize) -> DecodeResult<usize> {
        self.scans += 1;
        if self.scans > MAX_SCANS {
            return Err(format!("JPEG with more than {MAX_SCANS} scans"));
        }
        let scan = self.scan_header(seg)?;
        let (segments, end) = split_restart_segments(data, start);
        let frame = self.frame.as_mut().ok_or("scan before frame header")?;
        // Each scan walks every block again: the pixels-per-byte bound covers the scans together
        // (a real progressive photo has about 10 scans and 40 pixels per byte).
        let walked = (self.scans as u64).saturating_mul((frame.width * frame.height) as u64);
        if walked > (self.data_len as u64).saturating_mul(super::MAX_PIXELS_PER_BYTE) {
            return Err(format!(
                "{} scans of a {}x{} image in a {}-byte file: over the limit of {} pixels per byte (a decompression bomb?)",
                self.scans, frame.width, frame.height, self.data_len, super::MAX_PIXELS_PER_BYTE
            ));
        }
        for &ci in &scan.comps {
            let comp = &mut frame.comps[ci];
            if comp.quant.is_none() {
                let table = self.quant[comp.quant_index];
                comp.quant = Some(table.ok_or("JPEG quantisation table not defined")?);
            }
        }
        let tables = ScanTables {
            dc: &self.dc_tables,
            ac: &self.ac_tables,
        };
        let mut state = ScanState::new(&scan, segments, self.restart_interval);
        if scan.comps.len() == 1 {
            let ci = scan.comps[0];
            let (used_w, used_h) = (frame.comps[ci].used_w, frame.comps[ci].used_h);
            for row in 0..used_h {
                for col in 0..used_w {
                    state.start_mcu();
                    if state.skip_mcu() {
                        continue;
                    }
                    let comp = &mut frame.comps[ci];
                    state.decode_block(&scan, &tables, 0, comp.block(row, col))?;
                }
            }
        } else {
            for my in 0..frame.mcus_y {
                for mx in 0..frame.mcus_x {
                    state.start_mcu();
                    if state.skip_mcu() {
                        continue;
                    }
                    for (k, &ci) in scan.comps.iter().enumerate() {
                        let comp = &mut frame.comps[ci];
                        for by in 0..comp.v {
                            for bx in 0..comp.h {
                                let block = comp.block(my * comp.v + by, mx * comp.h + bx);
                                state.decode_block(&scan, &tables, k, block)?;
                            }
                        }
                    }
                }
            }
        }
        Ok(end)
    }

    fn scan_header(&self, seg: &[u8]) -> DecodeResult<Scan> {
        let frame = self.frame.as_ref().ok_or("scan before frame header")?;
        let n = usize::from(*seg.first().ok_or("truncated scan header")?);
        if !(1..=4).contains(&n) {
            return Err("bad number of components in a JPEG scan".into());
        }
        let mut comps = Vec::with_capacity(n);
        let mut dc = Vec::with_capacity(n);
        let mut ac = Vec::with_capacity(n);
        for k in 0..n {
            let b = seg
                .get(1 + 2 * k..3 + 2 * k)
                .ok_or("truncated scan header")?;
            let ci = frame
                .comps
                .iter()
                .position(|c| c.id == b[0])
                .ok_or("JPEG scan refers to an unknown component")?;
            comps.push(ci);
            dc.push(usize::from(b[1] >> 4) & 3);
            ac.push(usize::from(b[1] & 15) & 3);
        }
        let p = seg
            .get(1 + 2 * n..4 + 2 * n)
            .ok_or("truncated scan header")?;
        let (ss, se, ah, al) = (usize::from(p[0]), usize::from(p[1]), p[2] >> 4, p[2] & 15);
        let blocks: usize = comps
            .iter()
            .map(|&c| frame.comps[c].h * frame.comps[c].v)
            .sum();
        if n > 1 && blocks > 10 {
            return Err("too many blocks per JPEG MCU".into());
        }
        let (ss, se, ah, al) = if frame.progressive {
            let bad = (ss == 0 && se != 0)
                || (ss > 0 && (se < ss || se > 63 || n != 1))
                || (ah != 0 && al != ah - 1)
                || al > 13;
            if bad {
                return Err("invalid progressive JPEG scan parameters".into());
            }
            (ss, se, ah, al)
        } else {
            (0, 63, 0, 0) // libjpeg only warns about other values in sequential scans
        };
        Ok(Scan {
            comps,
            dc,
            ac,
            ss,
            se,
            ah,
            al,
            progressive: frame.progressive,
        })
    }

    fn finish(mut self) -> DecodeResult<Decoded> {
        let frame = self.frame.take().ok_or("JPEG without a frame header")?;
        if !self.saw_eoi {
            return Err("truncated JPEG".into());
        }
        if self.scans == 0 {
            return Err("JPEG without image data (no scan)".into());
        }
        let planes: Vec<Vec<u8>> = frame
            .comps
            .iter()
            .map(|c| upsample(&idct_plane(c), c, &frame))
            .collect::<DecodeResult<_>>()?;
        let (w, h) = (frame.width, frame.height);
        let pixels = match planes.len() {
            1 => Pixels::Gray(planes.into_iter().next().unwrap_or_default()),
            3 if self.is_rgb(&frame) => Pixels::Rgb(interleave(&planes)),
            3 => Pixels::Rgb(ycc_to_rgb(&planes)),
            _ if self.is_ycck() => Pixels::Cmyk(ycck_to_cmyk(&planes)),
            _ => Pixels::Cmyk(interleave(&planes)),
        };
        Ok(Decoded {
            width: w as u32,
            height: h as u32,
            pixels,
            exif: self.exif.take(),
        })
    }

    /// `default_decompress_parms` of libjpeg-turbo's jdapimin.c for 3 components.
    fn is_rgb(&self, frame: &Frame) -> bool {
        if self.saw_jfif {
            return false;
        }
        if let Some(t) = self.adobe_transform {
            return t == 0;
        }
        let ids: Vec<u8> = frame.comps.iter().map(|c| c.id).collect();
        ids == [b'R', b'G', b'B']
    }

    fn is_ycck(&self) -> bool {
        self.adobe_transform.is_some_and(|t| t != 0)
    }
}

/// Refuse images whose coefficients, planes and output would exceed the allocation budget.
fn check_memory(
    comps: &[Component],
    mcus_x: usize,
    mcus_y: usize,
    width: usize,
    height: usize,
    limits: &Limits,
) -> DecodeResult<()> {
    let blocks: u64 = comps
        .iter()
        .map(|c| (mcus_x * c.h * mcus_y * c.v) as u64)
        .sum();
    let pixels = (width * height) as u64;
    // coefficients (128 B/block) + IDCT planes (64 B/block) + upsampled planes + output
    let need = blocks * 192 + pixels * comps.len() as u64 * 2;
    if need > limits.max_alloc {
        return Err(format!(
            "image too large to decode safely ({width}x{height} needs about {} MiB; the limit is \
             {} MiB)",
            need >> 20,
            limits.max_alloc >> 20
        ));
    }
    Ok(())
}

/// Finds the next marker at or after `pos` (skipping 0xFF fill bytes); returns it and the
/// position after it.
fn next_marker(data: &[u8], mut pos: usize) -> DecodeResult<(u8, usize)> {
    // libjpeg skips garbage before a marker with a warning ("extraneous bytes"), as does this.
    loop {
        let b = *data
            .get(pos)
            .ok_or("truncated JPEG: no end-of-image marker")?;
        let next = *data
            .get(pos + 1)
            .ok_or("truncated JPEG: no end-of-image marker")?;
        if b == 0xFF && next != 0xFF && next != 0x00 {
            return Ok((next, pos + 2));
        }
        pos += 1;
    }
}

/// Splits the entropy-coded data that starts at `start` at its RSTn markers. Returns the segments
/// and the position of the first other marker (the end of the scan).
fn split_restart_segments(data: &[u8], start: usize) -> (Vec<&[u8]>, usize) {
    let mut segments = Vec::new();
    let mut seg_start = start;
    let mut pos = start;
    while pos + 1 < data.len() {
        if data[pos] != 0xFF {
            pos += 1;
            continue;
        }
        match data[pos + 1] {
            0x00 => pos += 2,
            0xFF => pos += 1, // fill byte before a marker
            0xD0..=0xD7 => {
                segments.push(trim_fill(&data[seg_start..pos]));
                pos += 2;
                seg_start = pos;
            }
            _ => {
                segments.push(trim_fill(&data[seg_start..pos]));
                return (segments, pos);
            }
        }
    }
    segments.push(&data[seg_start.min(data.len())..]);
    (segments, data.len())
}

/// Drops trailing 0xFF fill bytes that precede a marker.
fn trim_fill(seg: &[u8]) -> &[u8] {
    let mut end = seg.len();
    while end > 0 && seg[end - 1] == 0xFF {
        end -= 1;
    }
    &seg[..end]
}

struct Scan {
    /// Frame component index of each scan component.
    comps: Vec<usize>,
    dc: Vec<usize>,
    ac: Vec<usize>,
    ss: usize,
    se: usize,
    ah: u8,
    al: u8,
    progressive: bool,
}

struct ScanTables<'a> {
    dc: &'a [Option<Huffman>; 4],
    ac: &'a [Option<Huffman>; 4],
}

/// Bit reader, DC predictors and EOB run of one scan, reset at every restart marker.
struct ScanState<'a> {
    segments: Vec<&'a [u8]>,
    segment: usize,
    reader: BitReader<'a>,
    restart_interval: usize,
    mcus_left: usize,
    dc_pred: Vec<i32>,
    eobrun: u32,
}

impl<'a> ScanState<'a> {
    fn new(scan: &Scan, segments: Vec<&'a [u8]>, restart_interval: usize) -> Self {
        let first = segments.first().copied().unwrap_or(&[]);
        ScanState {
            segments,
            segment: 0,
            reader: BitReader::new(first),
            restart_interval,
            mcus_left: restart_interval,
            dc_pred: vec![0; scan.comps.len()],
            eobrun: 0,
        }
    }

    /// Moves to the next restart segment when the interval is used up (libjpeg's process_restart).
    fn start_mcu(&mut self) {
        if self.restart_interval == 0 {
            return;
        }
        if self.mcus_left == 0 {
            self.segment += 1;
            let seg = self.segments.get(self.segment).copied().unwrap_or(&[]);
            self.reader = BitReader::new(seg);
            self.dc_pred.iter_mut().for_each(|p| *p = 0);
            self.eobrun = 0;
            self.mcus_left = self.restart_interval;
        }
        self.mcus_left -= 1;
    }

    /// After running out of data libjpeg leaves the remaining MCUs of the interval untouched.
    fn skip_mcu(&self) -> bool {
        self.reader.insufficient
    }

    fn decode_block(
        &mut self,
        scan: &Scan,
        tables: &ScanTables,
        k: usize,
        block: &mut [i16],
    ) -> DecodeResult<()> {
        let dc = || {
            tables.dc[scan.dc[k]]
                .as_ref()
                .ok_or("missing Huffman table")
        };
        let ac = || {
            tables.ac[scan.ac[k]]
                .as_ref()
                .ok_or("missing Huffman table")
        };
        if !scan.progressive {
            self.decode_sequential(dc()?, ac()?, k, block);
        } else if scan.ss == 0 {
            if scan.ah == 0 {
                self.decode_dc_first(dc()?, k, scan.al, block);
            } else {
                self.decode_dc_refine(scan.al, block);
            }
        } else if scan.ah == 0 {
            self.decode_ac_first(ac()?, scan, block);
        } else {
            self.decode_ac_refine(ac()?, scan, block);
        }
        Ok(())
    }

    fn decode_dc_diff(&mut self, dc: &Huffman, k: usize) -> i32 {
        let s = u32::from(self.reader.decode(dc));
        let diff = extend(self.reader.bits(s), s);
        self.dc_pred[k] = self.dc_pred[k].wrapping_add(diff);
        self.dc_pred[k]
    }

    /// jdhuff.c decode_mcu for one block.
    fn decode_sequential(&mut self, dc: &Huffman, ac: &Huffman, k: usize, block: &mut [i16]) {
        block[0] = self.decode_dc_diff(dc, k) as i16;
        let mut i = 1;
        while i < 64 {
            let rs = self.reader.decode(ac);
            let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
            if s != 0 {
                i += r;
                block[NATURAL_ORDER[i]] = extend(self.reader.bits(s), s) as i16;
            } else if r == 15 {
                i += 15;
            } else {
                break;
            }
            i += 1;
        }
    }

    /// jdphuff.c decode_mcu_DC_first.
    fn decode_dc_first(&mut self, dc: &Huffman, k: usize, al: u8, block: &mut [i16]) {
        let v = self.decode_dc_diff(dc, k);
        block[0] = (v << al) as i16;
    }

    /// jdphuff.c decode_mcu_DC_refine.
    fn decode_dc_refine(&mut self, al: u8, block: &mut [i16]) {
        if self.reader.bits(1) != 0 {
            block[0] |= 1 << al;
        }
    }

    /// jdphuff.c decode_mcu_AC_first.
    fn decode_ac_first(&mut self, ac: &Huffman, scan: &Scan, block: &mut [i16]) {
        if self.eobrun > 0 {
            self.eobrun -= 1;
            return;
        }
        let mut i = scan.ss;
        while i <= scan.se {
            let rs = self.reader.decode(ac);
            let (r, s) = (u32::from(rs >> 4), u32::from(rs & 15));
            if s != 0 {
                i += r as usize;
                let v = extend(self.reader.bits(s), s);
                block[NATURAL_ORDER[i]] = (v << scan.al) as i16;
            } else if r == 15 {
                i += 15;
            } else {
                self.eobrun = (1 << r) - 1;
                if r != 0 {
                    self.eobrun += self.reader.bits(r);
                }
                break;
            }
            i += 1;
        }
    }

    /// jdphuff.c decode_mcu_AC_refine.
    fn decode_ac_refine(&mut self, ac: &Huffman, scan: &Scan, block: &mut [i16]) {
        let p1: i16 = 1 << scan.al;
        let m1: i16 = (-1i16) << scan.al;
        let mut i = scan.ss;
        if self.eobrun == 0 {
            while i <= scan.se {
                let rs = self.reader.decode(ac);
                let (mut r, s) = (i32::from(rs >> 4), rs & 15);
                let mut value = 0i16;
                if s != 0 {
                    value = if self.reader.bits(1) != 0 { p1 } else { m1 };
                } else if r != 15 {
                    self.eobrun = 1 << r;
                    if r != 0 {
                        self.eobrun += self.reader.bits(r as u32);
                    }
                    break;
                }
                while i <= scan.se {
                    let coef = &mut block[NATURAL_ORDER[i]];
                    if *coef != 0 {
                        self.refine(coef, p1, m1);
                    } else {
                        r -= 1;
                        if r < 0 {
                            break;
                        }
                    }
                    i += 1;
                }
                if value != 0 {
                    block[NATURAL_ORDER[i]] = value;
                }
                i += 1;
            }
        }
        if self.eobrun > 0 {
            while i <= scan.se {
                let coef = &mut block[NATURAL_ORDER[i]];
                if *coef != 0 {
                    self.refine(coef, p1, m1);
                }
                i += 1;
            }
            self.eobrun -= 1;
        }
    }

    /// Correction bit for an already non-zero coefficient.
    fn refine(&mut self, coef: &mut i16, p1: i16, m1: i16) {
        if self.reader.bits(1) != 0 && (*coef & p1) == 0 {
            *coef = if *coef >= 0 {
                coef.wrapping_add(p1)
            } else {
                coef.wrapping_add(m1)
            };
        }
    }
}

/// HUFF_EXTEND: the `s`-bit value `x` as a signed coefficient.
fn extend(x: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if x < (1 << (s - 1)) {
        x as i32 - (1 << s) + 1
    } else {
        x as i32
    }
}

/// Canonical Huffman table with a 9-bit lookahead.
struct Huffman {
    /// (length, symbol) for every 9-bit prefix; length 0 when the code is longer.
    fast: Vec<(u8, u8)>,
    maxcode: [i32; 18],
    valoffset: [i32; 18],
    symbols: Vec<u8>,
}

const FAST_BITS: u32 = 9;

impl Huffman {
    fn new(counts: &[u8], symbols: &[u8], is_dc: bool) -> DecodeResult<Self> {
        if is_dc && symbols.iter().any(|&s| s > 15) {
            return Err("bad DC Huffman table".into());
        }
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let mut maxcode = [-1i32; 18];
        let mut valoffset = [0i32; 18];
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16usize {
            let n = usize::from(counts[len - 1]);
            valoffset[len] = k as i32 - code;
            for _ in 0..n {
                if code >= 1 << len {
                    return Err("bad Huffman table".into());
                }
                if len as u32 <= FAST_BITS {
                    let shift = FAST_BITS - len as u32;
                    let first = (code as usize) << shift;
                    for e in &mut fast[first..first + (1 << shift)] {
                        *e = (len as u8, symbols[k]);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len] = code - 1;
            }
            if code >= 1 << len {
                return Err("bad Huffman table".into());
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX;
        Ok(Huffman {
            fast,
            maxcode,
            valoffset,
            symbols: symbols.to_vec(),
        })
    }
}

/// Reads bits from one restart segment; past its end it returns zeros and sets `insufficient`,
/// as libjpeg does when it hits a marker.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
    /// Zero bits appended after the end of the data (at the bottom of `acc`).
    fake: u32,
    insufficient: bool,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            count: 0,
            fake: 0,
            insufficient: false,
        }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(&b) => {
                    // 0xFF is always followed by a stuffed 0x00 inside a segment.
                    self.pos += if b == 0xFF { 2 } else { 1 };
                    b
                }
                None => {
                    self.fake += 8;
                    0
                }
            };
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    fn peek(&mut self, n: u32) -> u32 {
        self.fill();
        (self.acc >> (64 - n)) as u32
    }

    fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.count -= n;
        if self.count < self.fake {
            self.insufficient = true;
            self.fake = self.count;
        }
    }

    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    fn decode(&mut self, table: &Huffman) -> u8 {
        let look = self.peek(16) as i32;
        let (len, sym) = table.fast[(look >> (16 - FAST_BITS)) as usize];
        if len > 0 {
            self.consume(u32::from(len));
            return sym;
        }
        for len in (FAST_BITS as usize + 1)..=16 {
            let code = look >> (16 - len);
            if code <= table.maxcode[len] {
                self.consume(len as u32);
                let i = (code + table.valoffset[len]) as usize;
                return table.symbols.get(i).copied().unwrap_or(0);
            }
        }
        // libjpeg: "Corrupt JPEG data: bad Huffman code", fakes a zero.
        self.consume(16);
        0
    }
}

// ---------------------------------------------------------------------------------------------
// IDCT (jidctint.c, "islow")
// ---------------------------------------------------------------------------------------------

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

/// All blocks of a component through the IDCT, as a plane of `blocks_w * 8` columns.
fn idct_plane(c: &Component) -> Vec<u8> {
    let stride = c.blocks_w * 8;
    let mut plane = vec![0u8; stride * c.blocks_h * 8];
    let quant = c.quant.unwrap_or([0; 64]);
    let mut q = [0i64; 64];
    for (qi, &v) in q.iter_mut().zip(&quant) {
        *qi = i64::from(v);
    }
    for (b, coefs) in c.coefs.chunks_exact(64).enumerate() {
        let (row, col) = (b / c.blocks_w, b % c.blocks_w);
        let origin = row * 8 * stride + col * 8;
        idct_islow(coefs, &q, &mut plane[origin..], stride);
    }
    plane
}

/// The libjpeg-turbo range limit after the IDCT: values are centred on 0 and masked to 10 bits,
/// so out-of-range results of corrupt data wrap the way `range_limit[x & RANGE_MASK]` does.
fn idct_limit(x: i64) -> u8 {
    let t = x & 1023;
    match t {
        0..=127 => (t + 128) as u8,
        128..=511 => 255,
        512..=895 => 0,
        _ => (t - 896) as u8,
    }
}

fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// One 1-D pass of jpeg_idct_islow on eight values (already dequantised for pass 1); returns
/// the eight outputs in order, before the descale. libjpeg-turbo's C code computes in JLONG
/// (64-bit on LP64) and its SIMD code cannot overflow on valid data, so i64 matches both and
/// cannot overflow on corrupt data.
fn idct_1d(v: [i64; 8]) -> [i64; 8] {
    // Even part.
    let (z2, z3) = (v[2], v[6]);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (v[0] + v[4]) << CONST_BITS;
    let tmp1 = (v[0] - v[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
    // Odd part.
    let (t0, t1, t2, t3) = (v[7], v[5], v[3], v[1]);
    let z1 = t0 + t3;
    let z2 = t1 + t2;
    let z3 = t0 + t2;
    let z4 = t1 + t3;
    let z5 = (z3 + z4) * FIX_1_175875602;
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    let t0 = t0 * FIX_0_298631336 + z1 + z3;
    let t1 = t1 * FIX_2_053119869 + z2 + z4;
    let t2 = t2 * FIX_3_072711026 + z2 + z3;
    let t3 = t3 * FIX_1_501321110 + z1 + z4;
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

fn idct_islow(coefs: &[i16], q: &[i64; 64], out: &mut [u8], stride: usize) {
    let mut ws = [0i64; 64];
    // Pass 1: columns. libjpeg's shortcuts for all-zero AC terms give the same numbers.
    for col in 0..8 {
        let mut v = [0i64; 8];
        for (row, vr) in v.iter_mut().enumerate() {
            *vr = i64::from(coefs[row * 8 + col]) * q[row * 8 + col];
        }
        let r = idct_1d(v);
        for (row, &x) in r.iter().enumerate() {
            // The workspace is `int`.
            ws[row * 8 + col] = i64::from(descale(x, CONST_BITS - PASS1_BITS) as i32);
        }
    }
    // Pass 2: rows.
    for row in 0..8 {
        let mut v = [0i64; 8];
        v.copy_from_slice(&ws[row * 8..row * 8 + 8]);
        let r = idct_1d(v);
        let dst = &mut out[row * stride..row * stride + 8];
        for (o, &x) in dst.iter_mut().zip(&r) {
            *o = idct_limit(descale(x, CONST_BITS + PASS1_BITS + 3));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Upsampling (jdsample.c, fancy) and colour conversion (jdcolor.c)
// ---------------------------------------------------------------------------------------------

/// The component at full image size, as libjpeg-turbo's upsampler produces it.
fn upsample(plane: &[u8], c: &Component, f: &Frame) -> DecodeResult<Vec<u8>> {
    let (hx, vx) = (f.hmax / c.h, f.vmax / c.v);
    let src = Plane {
        data: plane,
        stride: c.blocks_w * 8,
        width: c.width,
        height: c.height,
    };
    let (w, h) = (f.width, f.height);
    let mut out = vec![0u8; w * h];
    let fancy_h = c.width > 2;
    match (hx, vx) {
        (1, 1) => copy_plane(&src, &mut out, w, h),
        (2, 1) if fancy_h => rows(&mut out, w, |y, row| h2v1_fancy(src.row(y), c.width, row)),
        (1, 2) => rows(&mut out, w, |y, row| h1v2_fancy(&src, y, row)),
        (2, 2) if fancy_h => rows(&mut out, w, |y, row| h2v2_fancy(&src, y, row)),
        _ => rows(&mut out, w, |y, row| replicate(src.row(y / vx), hx, row)),
    }
    Ok(out)
}

struct Plane<'a> {
    data: &'a [u8],
    stride: usize,
    /// Real (downsampled) size; rows past `height` are padding that libjpeg replaces by the
    /// last real row when it needs context.
    width: usize,
    height: usize,
}

impl Plane<'_> {
    fn row(&self, y: usize) -> &[u8] {
        let y = y.min(self.height.saturating_sub(1));
        &self.data[y * self.stride..(y + 1) * self.stride]
    }

    /// Row used as context: the row above the first is the first, the row below the last is the
    /// last (jdmainct.c's wraparound and bottom pointers).
    fn context_row(&self, y: isize) -> &[u8] {
        self.row(y.max(0) as usize)
    }
}

fn rows(out: &mut [u8], w: usize, mut f: impl FnMut(usize, &mut [u8])) {
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        f(y, row);
    }
}

fn copy_plane(src: &Plane, out: &mut [u8], w: usize, h: usize) {
    for y in 0..h {
        out[y * w..(y + 1) * w].copy_from_slice(&src.row(y)[..w]);
    }
}

fn replicate(input: &[u8], hx: usize, out: &mut [u8]) {
    for (x, o) in out.iter_mut().enumerate() {
        *o = input[x / hx];
    }
}

/// Writes the 2·n upsampled values of one row into `out`, cropped to its length.
fn put(out: &mut [u8], i: usize, v: i32) {
    if let Some(o) = out.get_mut(i) {
        *o = v as u8;
    }
}

fn h2v1_fancy(input: &[u8], n: usize, out: &mut [u8]) {
    let s = |i: usize| i32::from(input[i]);
    put(out, 0, s(0));
    put(out, 1, (s(0) * 3 + s(1) + 2) >> 2);
    for i in 1..n - 1 {
        let v = s(i) * 3;
        put(out, 2 * i, (v + s(i - 1) + 1) >> 2);
        put(out, 2 * i + 1, (v + s(i + 1) + 2) >> 2);
    }
    put(out, 2 * (n - 1), (s(n - 1) * 3 + s(n - 2) + 1) >> 2);
    put(out, 2 * (n - 1) + 1, s(n - 1));
}

/// Nearest and next-nearest input rows of output row `y` for 2:1 vertical upsampling, and
/// whether the next-nearest is the row above.
fn v2_rows<'a>(src: &'a Plane, y: usize) -> (&'a [u8], &'a [u8], bool) {
    let r = (y / 2) as isize;
    let above = y.is_multiple_of(2);
    let far = if above { r - 1 } else { r + 1 };
    (src.context_row(r), src.context_row(far), above)
}

fn h1v2_fancy(src: &Plane, y: usize, out: &mut [u8]) {
    let (near, far, above) = v2_rows(src, y);
    let bias = if above { 1 } else { 2 };
    for (x, o) in out.iter_mut().enumerate() {
        *o = ((i32::from(near[x]) * 3 + i32::from(far[x]) + bias) >> 2) as u8;
    }
}

fn h2v2_fancy(src: &Plane, y: usize, out: &mut [u8]) {
    let (near, far, _) = v2_rows(src, y);
    let n = src.width;
    let col = |i: usize| i32::from(near[i]) * 3 + i32::from(far[i]);
    put(out, 0, (col(0) * 4 + 8) >> 4);
    put(out, 1, (col(0) * 3 + col(1) + 7) >> 4);
    for i in 1..n - 1 {
        put(out, 2 * i, (col(i) * 3 + col(i - 1) + 8) >> 4);
        put(out, 2 * i + 1, (col(i) * 3 + col(i + 1) + 7) >> 4);
    }
    put(out, 2 * (n - 1), (col(n - 1) * 3 + col(n - 2) + 8) >> 4);
    put(out, 2 * (n - 1) + 1, (col(n - 1) * 4 + 7) >> 4);
}

fn interleave(planes: &[Vec<u8>]) -> Vec<u8> {
    let n = planes.len();
    let len = planes.first().map_or(0, Vec::len);
    let mut out = vec![0u8; len * n];
    for (c, p) in planes.iter().enumerate() {
        for (i, &v) in p.iter().enumerate() {
            out[i * n + c] = v;
        }
    }
    out
}

/// build_ycc_rgb_table's fixed-point tables (SCALEBITS = 16).
struct YccTables {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i32; 256],
    cb_g: [i32; 256],
}

const SCALEBITS: u32 = 16;
const ONE_HALF: i32 = 1 << (SCALEBITS - 1);

fn fix(x: f64) -> i32 {
    (x * f64::from(1u32 << SCALEBITS) + 0.5) as i32
}

impl YccTables {
    fn new() -> Self {
        let mut t = YccTables {
            cr_r: [0; 256],
            cb_b: [0; 256],
            cr_g: [0; 256],
            cb_g: [0; 256],
        };
        for i in 0..256 {
            let x = i as i32 - 128;
            t.cr_r[i] = (fix(1.40200) * x + ONE_HALF) >> SCALEBITS;
            t.cb_b[i] = (fix(1.77200) * x + ONE_HALF) >> SCALEBITS;
            t.cr_g[i] = -fix(0.71414) * x;
            t.cb_g[i] = -fix(0.34414) * x + ONE_HALF;
        }
        t
    }

    fn rgb(&self, y: u8, cb: u8, cr: u8) -> [i32; 3] {
        let (y, cb, cr) = (i32::from(y), usize::from(cb), usize::from(cr));
        [
            y + self.cr_r[cr],
            y + ((self.cb_g[cb] + self.cr_g[cr]) >> SCALEBITS),
            y + self.cb_b[cb],
        ]
    }
}

fn clamp8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

fn ycc_to_rgb(planes: &[Vec<u8>]) -> Vec<u8> {
    let t = YccTables::new();
    let (y, cb, cr) = (&planes[0], &planes[1], &planes[2]);
    let mut out = vec![0u8; y.len() * 3];
    for (i, px) in out.chunks_exact_mut(3).enumerate() {
        let rgb = t.rgb(y[i], cb[i], cr[i]);
        for (o, v) in px.iter_mut().zip(rgb) {
            *o = clamp8(v);
        }
    }
    out
}

/// ycck_cmyk_convert: CMY = 255 - RGB(YCC), K passes through.
fn ycck_to_cmyk(planes: &[Vec<u8>]) -> Vec<u8> {
    let t = YccTables::new();
    let (y, cb, cr, k) = (&planes[0], &planes[1], &planes[2], &planes[3]);
    let mut out = vec![0u8; y.len() * 4];
    for (i, px) in out.chunks_exact_mut(4).enumerate() {
        let rgb = t.rgb(y[i], cb[i], cr[i]);
        for (o, v) in px.iter_mut().zip(rgb) {
            *o = clamp8(255 - v);
        }
        px[3] = k[i];
    }
    out
}

//! A pickle reader for what `torch.save` writes for a state dict, that no input can make panic,
//! recurse without bound or allocate more than the bytes present justify.
//!
//! candle's reader (which this replaces) panics on short tuples, clones memoised objects deeply
//! (a 416-byte "billion laughs" pickle reached 18 GB) and builds nested `Box`es whose drop
//! overflows the stack at 300,000 levels. Here every object lives once in an arena and refers to
//! others by index: a memo fetch copies an index, dropping the arena is flat, and the walk over
//! the result is iterative or bounded in depth. Limits (each an error that names it):
//! - [`MAX_OBJECTS`] objects in all (a CLIP state dict has about 15 per tensor);
//! - [`MAX_NESTING`] levels of containers inside containers (a state dict has about 6);
//! - a string or byte string's claimed length is checked against the bytes that remain before
//!   anything is allocated for it.
//!
//! Only the opcodes of protocols 2–4 that carry data are read (no `INST`/`OBJ`, no text-mode
//! opcodes); nothing is ever called: a `GLOBAL` is just a name, a `REDUCE` just a record.

use std::collections::HashMap;

/// Most objects one pickle may create.
pub const MAX_OBJECTS: usize = 1 << 20;
/// Deepest nesting of containers (tuples, lists, dicts, reduce/build records).
pub const MAX_NESTING: u32 = 100;

/// Index of an object in [`Pickle::objects`].
pub type Id = usize;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit in 64 bits (read, never used as a size).
    BigInt,
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// `module.name`, as `GLOBAL` / `STACK_GLOBAL` named it.
    Global { module: String, name: String },
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    /// `callable(*args)`, not called.
    Reduce { callable: Id, args: Id },
    /// `object.__setstate__(state)`, not called (a dict's state is its attributes, not items).
    Build { object: Id, state: Id },
    /// `persistent_load(id)`: torch's reference to a storage.
    Persistent(Id),
}

/// A decoded pickle: the objects and the one `STOP` left on the stack.
#[derive(Debug)]
pub struct Pickle {
    pub objects: Vec<Value>,
    pub root: Id,
}

impl Pickle {
    pub fn get(&self, id: Id) -> &Value {
        // Every id handed out indexes the arena (ids are only made by `Parser::add`).
        &self.objects[id]
    }

    pub fn str(&self, id: Id) -> Option<&str> {
        match self.get(id) {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, id: Id) -> Option<i64> {
        match self.get(id) {
            Value::Int(v) => Some(*v),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn tuple(&self, id: Id) -> Option<&[Id]> {
        match self.get(id) {
            Value::Tuple(items) | Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn global(&self, id: Id) -> Option<(&str, &str)> {
        match self.get(id) {
            Value::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    objects: Vec<Value>,
    /// Nesting depth of each object (1 for a scalar).
    depth: Vec<u32>,
    stack: Vec<Id>,
    /// Stack lengths at each `MARK` (Python's metastack).
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
}

type PResult<T> = std::result::Result<T, String>;

impl<'a> Parser<'a> {
    fn at(&self) -> String {
        format!("at byte {}", self.pos)
    }

    fn bytes(&mut self, n: usize) -> PResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| {
            format!("truncated {}: {n} bytes claimed, {} left", self.at(), self.data.len() - self.pos)
        })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> PResult<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn le<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn line(&mut self) -> PResult<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| format!("unterminated line {}", self.at()))?;
        let line = self.bytes(n + 1)?;
        let line = &line[..n];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        std::str::from_utf8(line).map_err(|_| format!("a name that is not UTF-8 {}", self.at()))
    }

    fn add(&mut self, value: Value, depth: u32) -> PResult<Id> {
        if self.objects.len() >= MAX_OBJECTS {
            return Err(format!("more than {MAX_OBJECTS} objects: not a state dict (or a pickle bomb)"));
        }
        if depth > MAX_NESTING {
            return Err(format!("containers nested deeper than {MAX_NESTING} levels {}", self.at()));
        }
        self.objects.push(value);
        self.depth.push(depth);
        Ok(self.objects.len() - 1)
    }

    fn push(&mut self, value: Value) -> PResult<()> {
        let depth = 1 + children(&value).map(|c| self.depth[c]).max().unwrap_or(0);
        let id = self.add(value, depth)?;
        self.stack.push(id);
        Ok(())
    }

    fn pop(&mut self) -> PResult<Id> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(format!("an opcode takes an object across a MARK {}", self.at()));
        }
        self.stack.pop().ok_or_else(|| format!("the stack is empty {}", self.at()))
    }

    fn pop_mark(&mut self) -> PResult<Vec<Id>> {
        let mark = self.marks.pop().ok_or_else(|| format!("no MARK to pop to {}", self.at()))?;
        // `mark` ≤ stack length: pops never cross a mark (checked in `pop`).
        Ok(self.stack.split_off(mark))
    }

    fn top(&self) -> PResult<Id> {
        match (self.stack.last(), self.marks.last()) {
            (Some(_), Some(&m)) if m >= self.stack.len() => Err(format!("no object above the MARK {}", self.at())),
            (Some(&id), _) => Ok(id),
            (None, _) => Err(format!("the stack is empty {}", self.at())),
        }
    }

    /// Adds items to the container `target` in place (as Python does, so every reference sees them).
    fn extend(&mut self, target: Id, items: Vec<Id>, what: &str) -> PResult<()> {
        let deepest = items.iter().map(|&c| self.depth[c]).max().unwrap_or(0);
        if deepest + 1 > MAX_NESTING {
            return Err(format!("containers nested deeper than {MAX_NESTING} levels {}", self.at()));
        }
        let at = self.at();
        match (&mut self.objects[target], what) {
            (Value::List(list), "list") => list.extend(items),
            (Value::Dict(dict), "dict") => {
                if items.len() % 2 != 0 {
                    return Err(format!("SETITEMS with an odd number of objects {at}"));
                }
                dict.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1])));
            }
            (other, _) => return Err(format!("expected a {what} to add to, found {} {at}", kind(other))),
        }
        self.depth[target] = self.depth[target].max(deepest + 1);
        Ok(())
    }

    fn tuple(&mut self, n: usize) -> PResult<()> {
        let mut items = vec![0; n];
        for slot in items.iter_mut().rev() {
            *slot = self.pop()?;
        }
        self.push(Value::Tuple(items))
    }

    fn memo_get(&mut self, key: u32) -> PResult<()> {
        let id = *self.memo.get(&key).ok_or_else(|| format!("memo entry {key} was never stored {}", self.at()))?;
        self.stack.push(id);
        Ok(())
    }

    fn memo_put(&mut self, key: u32) -> PResult<()> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn string(&mut self, n: usize) -> PResult<()> {
        let raw = self.bytes(n)?;
        let s = std::str::from_utf8(raw).map_err(|_| format!("a string that is not UTF-8 {}", self.at()))?;
        self.push(Value::Str(s.to_string()))
    }

    fn run(mut self) -> PResult<Pickle> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let version = self.u8()?;
                    if version > 5 {
                        return Err(format!("pickle protocol {version} (this reader knows 2 to 5)"));
                    }
                }
                // FRAME: a length hint for buffering, nothing to do here.
                0x95 => {
                    self.le::<8>()?;
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickle { objects: self.objects, root });
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(v.into()))?
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(v.into()))?
                }
                // LONG1: n-byte little-endian two's complement.
                0x8a => {
                    let n = self.u8()? as usize;
                    let raw = self.bytes(n)?;
                    self.push(long(raw))?
                }
                // LONG4.
                0x8b => {
                    let n = i32::from_le_bytes(self.le()?);
                    let n = usize::try_from(n).map_err(|_| format!("LONG4 of negative length {n} {}", self.at()))?;
                    let raw = self.bytes(n)?;
                    self.push(long(raw))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le()?);
                    self.push(Value::Float(v))?
                }
                b'X' => {
                    let n = u32::from_le_bytes(self.le()?) as usize;
                    self.string(n)?
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.string(n)?
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.le()?);
                    self.string(usize::try_from(n).unwrap_or(usize::MAX))?
                }
                // SHORT_BINBYTES, BINBYTES, BINBYTES8 (and Python 2's SHORT_BINSTRING, BINSTRING).
                b'C' | b'U' | b'B' | b'T' | 0x8e => {
                    let n = match op {
                        b'C' | b'U' => self.u8()? as usize,
                        b'B' | b'T' => u32::from_le_bytes(self.le()?) as usize,
                        _ => usize::try_from(u64::from_le_bytes(self.le()?)).unwrap_or(usize::MAX),
                    };
                    let raw = self.bytes(n)?.to_vec();
                    self.push(Value::Bytes(raw))?
                }
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    self.push(Value::Global { module, name })?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let text = |id: Id| match &self.objects[id] {
                        Value::Str(s) => Ok(s.clone()),
                        other => Err(format!("STACK_GLOBAL with a {} for a name", kind(other))),
                    };
                    let (module, name) = (text(module)?, text(name)?);
                    self.push(Value::Global { module, name })?
                }
                b'(' => self.marks.push(self.stack.len()),
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b']' => self.push(Value::List(Vec::new()))?,
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?
                }
                0x85 => self.tuple(1)?,
                0x86 => self.tuple(2)?,
                0x87 => self.tuple(3)?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(format!("DICT with an odd number of objects {}", self.at()));
                    }
                    self.push(Value::Dict(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect()))?
                }
                b'a' => {
                    let value = self.pop()?;
                    let list = self.top()?;
                    self.extend(list, vec![value], "list")?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.extend(list, items, "list")?
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let dict = self.top()?;
                    self.extend(dict, vec![key, value], "dict")?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?;
                    self.extend(dict, items, "dict")?
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    // An OrderedDict is rebuilt as `OrderedDict()` followed by SETITEMS: a dict.
                    let dict = matches!(&self.objects[callable], Value::Global { module, name }
                        if module == "collections" && (name == "OrderedDict" || name == "defaultdict"));
                    self.push(if dict { Value::Dict(Vec::new()) } else { Value::Reduce { callable, args } })?
                }
                b'b' => {
                    let state = self.pop()?;
                    let object = self.pop()?;
                    if matches!(self.objects[object], Value::Dict(_)) {
                        // A dict's state is its attributes (torch's `_metadata`), not items: the
                        // dict itself is what the state dict is.
                        self.stack.push(object);
                    } else {
                        self.push(Value::Build { object, state })?
                    }
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.push(Value::Persistent(id))?
                }
                b'h' => {
                    let key = self.u8()?;
                    self.memo_get(key.into())?
                }
                b'j' => {
                    let key = u32::from_le_bytes(self.le()?);
                    self.memo_get(key)?
                }
                b'q' => {
                    let key = self.u8()?;
                    self.memo_put(key.into())?
                }
                b'r' => {
                    let key = u32::from_le_bytes(self.le()?);
                    self.memo_put(key)?
                }
                // MEMOIZE: the next memo key.
                0x94 => {
                    let key = u32::try_from(self.memo.len()).map_err(|_| "memo overflow".to_string())?;
                    self.memo_put(key)?
                }
                b'0' => {
                    self.pop()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'1' => {
                    self.pop_mark()?;
                }
                other => {
                    return Err(format!(
                        "opcode 0x{other:02x} at byte {} is not one torch.save writes for a state dict",
                        self.pos - 1
                    ))
                }
            }
        }
    }
}

fn long(raw: &[u8]) -> Value {
    if raw.len() > 8 {
        return Value::BigInt;
    }
    let negative = raw.last().is_some_and(|&b| b & 0x80 != 0);
    let mut bytes = [if negative { 0xFF } else { 0 }; 8];
    bytes[..raw.len()].copy_from_slice(raw);
    Value::Int(i64::from_le_bytes(bytes))
}

fn children(value: &Value) -> Box<dyn Iterator<Item = Id> + '_> {
    match value {
        Value::Tuple(items) | Value::List(items) => Box::new(items.iter().copied()),
        Value::Dict(entries) => Box::new(entries.iter().flat_map(|&(k, v)| [k, v])),
        Value::Reduce { callable: a, args: b } | Value::Build { object: a, state: b } => Box::new([*a, *b].into_iter()),
        Value::Persistent(id) => Box::new(std::iter::once(*id)),
        _ => Box::new(std::iter::empty()),
    }
}

/// The kind of an object, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::BigInt => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::Global { .. } => "global name",
        Value::Tuple(_) => "tuple",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        Value::Reduce { .. } => "reduce",
        Value::Build { .. } => "build",
        Value::Persistent(_) => "persistent id",
    }
}

/// Decodes a whole pickle (up to its `STOP`); the message of an error says what and at which byte.
pub fn parse(data: &[u8]) -> std::result::Result<Pickle, String> {
    let parser = Parser {
        data,
        pos: 0,
        objects: Vec::new(),
        depth: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    parser.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_reuse_shares_objects_instead_of_copying() {
        // l = []; then 40 times: l = [l, l] via the memo: 2^40 leaves as a tree, 81 objects here.
        let mut p = vec![0x80, 2, b']', b'q', 0];
        for i in 0..40u8 {
            p.extend([b'h', i, b'h', i, 0x86, b'q', i + 1]);
        }
        p.push(b'.');
        let pickle = parse(&p).unwrap();
        assert_eq!(pickle.objects.len(), 41);
        assert!(matches!(pickle.get(pickle.root), Value::Tuple(items) if items.len() == 2));
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let mut p = vec![0x80, 2];
        p.extend(std::iter::repeat_n(b'(', 300_000));
        p.extend(std::iter::repeat_n(b't', 300_000));
        p.push(b'.');
        let msg = parse(&p).unwrap_err();
        assert!(msg.contains("nested deeper than 100"), "{msg}");
    }

    #[test]
    fn claimed_lengths_are_checked_before_allocating() {
        // BINUNICODE claiming 4 GiB, BINBYTES8 claiming 2^63.
        for p in [&b"\x80\x02X\xff\xff\xff\xff"[..], b"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x80"] {
            let msg = parse(p).unwrap_err();
            assert!(msg.contains("truncated") && msg.contains("claimed"), "{msg}");
        }
    }

    #[test]
    fn longs_are_twos_complement() {
        let pickle = parse(b"\x8a\x02\xff\x7f\x8a\x01\xff\x8a\x00\x87.").unwrap();
        let items = pickle.tuple(pickle.root).unwrap().to_vec();
        let ints: Vec<_> = items.iter().map(|&i| pickle.int(i).unwrap()).collect();
        assert_eq!(ints, [0x7fff, -1, 0]);
    }

    #[test]
    fn marks_are_not_crossed() {
        for p in [&b"K\x01(\x85."[..], b"(K\x01\x86.", b"K\x01(s.", b"t.", b"."] {
            assert!(parse(p).is_err(), "{p:?}");
        }
    }
}

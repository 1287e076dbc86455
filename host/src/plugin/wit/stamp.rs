//! Reads the interface version the plugin SDK stamps into a component: a
//! custom section `scicat:ingestor-version` holding text like `0.2.0`. The
//! SDK writes it from the plugin crate's core module, which the component
//! nests; a top-level section counts too. A small walk over the binary
//! format, done before compiling so a refused plugin costs nothing.

/// The custom section's name.
pub const STAMP_SECTION: &str = "scicat:ingestor-version";

/// Longest stamp read (a version is a few bytes).
const MAX_STAMP: usize = 64;

/// The stamp of the component or module `wasm`, if it has one; `None` also
/// for bytes that are not WebAssembly (compiling them says why).
pub fn stamp(wasm: &[u8]) -> Option<String> {
    find(wasm, 0)
}

fn find(bin: &[u8], depth: u32) -> Option<String> {
    if depth > 4 || bin.len() < 8 || &bin[..4] != b"\0asm" {
        return None;
    }
    // A component's header says layer 1; only then do sections 1 (core
    // module) and 4 (component) hold nested binaries.
    let component = bin[6..8] == [1, 0];
    let mut at = 8;
    while at < bin.len() {
        let id = bin[at];
        at += 1;
        let size = leb(bin, &mut at)? as usize;
        let body = bin.get(at..at.checked_add(size)?)?;
        at += size;
        match id {
            0 => {
                let mut p = 0;
                let len = leb(body, &mut p)? as usize;
                let name = body.get(p..p.checked_add(len)?)?;
                if name == STAMP_SECTION.as_bytes() {
                    let data = &body[p + len..];
                    let data = &data[..data.len().min(MAX_STAMP)];
                    return Some(String::from_utf8_lossy(data).trim().to_string());
                }
            }
            1 | 4 if component => {
                if let Some(v) = find(body, depth + 1) {
                    return Some(v);
                }
            }
            _ => {}
        }
    }
    None
}

/// An unsigned LEB128 of at most 32 bits.
fn leb(b: &[u8], at: &mut usize) -> Option<u32> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        let mut body = vec![name.len() as u8];
        body.extend(name.as_bytes());
        body.extend(data);
        let mut s = vec![0, body.len() as u8];
        s.extend(body);
        s
    }

    #[test]
    fn finds_the_stamp_in_a_nested_module() {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend(custom("other", b"x"));
        module.extend(custom(STAMP_SECTION, b"0.2.0"));
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.push(1);
        component.push(module.len() as u8);
        component.extend(&module);
        assert_eq!(stamp(&component).as_deref(), Some("0.2.0"));
        assert_eq!(stamp(&module).as_deref(), Some("0.2.0"));
        assert_eq!(stamp(&component[..component.len() - 3]), None);
        assert_eq!(stamp(b"\0asm\x0d\0\x01\0"), None);
        assert_eq!(stamp(b"not wasm"), None);
    }
}

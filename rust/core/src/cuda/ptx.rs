//! Reads kernel entry points and parameter sizes out of PTX text, to check the kernel table
//! against what NVRTC actually produced (at first use on a GPU, and in the NVRTC test).

use super::kernels::Family;
use std::collections::BTreeMap;

/// `.entry name(...)`: the kernel name and the byte size of each parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub param_sizes: Vec<usize>,
}

fn param_size(decl: &str) -> usize {
    // `.param .u64 k_param_0` or `.param .align 8 .b8 k_param_2[144]`
    if let (Some(open), Some(close)) = (decl.rfind('['), decl.rfind(']')) {
        return decl[open + 1..close].trim().parse().unwrap_or(0);
    }
    for (ty, size) in [
        ("64", 8),
        ("32", 4),
        ("16", 2),
        (".b8", 1),
        (".u8", 1),
        (".s8", 1),
    ] {
        if decl
            .split_whitespace()
            .any(|w| w.starts_with('.') && w.ends_with(ty))
        {
            return size;
        }
    }
    0
}

/// Every `.entry` of a PTX module.
pub fn entries(ptx: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut rest = ptx;
    while let Some(at) = rest.find(".entry ") {
        rest = &rest[at + ".entry ".len()..];
        let Some(open) = rest.find('(') else { break };
        let name = rest[..open].trim().to_string();
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        let params = &rest[open + 1..open + close];
        let param_sizes = params
            .split(',')
            .filter(|p| p.contains(".param"))
            .map(param_size)
            .collect();
        out.push(Entry { name, param_sizes });
        rest = &rest[open + close..];
    }
    out
}

/// Compares a family's table entries with its PTX: every listed kernel present with the
/// listed parameter count, and no kernel in the PTX that the table does not list.
pub fn check_family(family: &Family, ptx: &str) -> std::result::Result<(), String> {
    let found: BTreeMap<String, usize> = entries(ptx)
        .into_iter()
        .map(|e| (e.name, e.param_sizes.len()))
        .collect();
    let mut problems = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for k in family.kernels {
        for name in k.names() {
            match found.get(&name) {
                None => problems.push(format!("{name}: missing from the PTX")),
                Some(&n) if n != k.params => problems.push(format!(
                    "{name}: {n} parameters in the PTX, {} in the table",
                    k.params
                )),
                _ => {}
            }
            listed.insert(name);
        }
    }
    for name in found.keys().filter(|n| !listed.contains(*n)) {
        problems.push(format!("{name}: in the PTX but not in the kernel table"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "kernel table and {}.cu disagree:\n  {}",
            family.name,
            problems.join("\n  ")
        ))
    }
}

#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    const PTX: &str = "
.visible .entry unary_f32(
	.param .u32 unary_f32_param_0,
	.param .u64 unary_f32_param_1,
	.param .align 8 .b8 unary_f32_param_2[144],
	.param .f64 unary_f32_param_3
)
{ ret; }
.visible .entry amp_update_scale()
{ ret; }
";

    fn parses_entries_and_parameter_sizes() {
        let e = entries(PTX);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "unary_f32");
        assert_eq!(e[0].param_sizes, vec![4, 8, 144, 8]);
        assert_eq!(e[1].param_sizes, Vec::<usize>::new());
    }

    fn reports_missing_extra_and_arity_mismatches() {
        let fam = &super::super::kernels::FAMILIES[0];
        let err = check_family(fam, PTX).unwrap_err();
        assert!(
            err.contains("unary_f32: 4 parameters in the PTX, 8 in the table"),
            "{err}"
        );
        assert!(err.contains("unary_f64: missing"), "{err}");
        assert!(
            err.contains("amp_update_scale: in the PTX but not in the kernel table"),
            "{err}"
        );
    }

    crate::self_test::cases!(
        parses_entries_and_parameter_sizes,
        reports_missing_extra_and_arity_mismatches
    );
}

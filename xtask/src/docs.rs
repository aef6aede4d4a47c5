//! `cargo xtask docs`: registry documentation generated from the provider's
//! schema (descriptions live in the schema) and the examples under `examples/`.
//! `--check` (run by `cargo xtask test`) fails when docs/ is stale.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use terraform_provider_vantage::VantageProvider;
use tfplugin::schema::{Attribute, Block, Nesting, Presence};
use tfplugin::{Provider, Schema, Type};

use crate::util::step;

/// Every generated file: path relative to the root, and contents.
pub fn render(root: &Path) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let provider = VantageProvider;
    let mut files = BTreeMap::new();
    let example = read_example(root, "examples/provider/provider.tf")?;
    files.insert(PathBuf::from("docs/index.md"), index_page(&provider.schema(), &example));
    for ds in provider.data_sources() {
        let name = ds.type_name();
        let example = read_example(root, &format!("examples/data-sources/{name}/data-source.tf"))?;
        let page = type_page(name, "Data Source", &ds.schema(), &example, None);
        files.insert(
            PathBuf::from(format!("docs/data-sources/{}.md", short_name(name))),
            page,
        );
    }
    for r in provider.resources() {
        let name = r.type_name();
        let example = read_example(root, &format!("examples/resources/{name}/resource.tf"))?;
        let import = read_example(root, &format!("examples/resources/{name}/import.sh"))?;
        let page = type_page(name, "Resource", &r.schema(), &example, Some(&import));
        files.insert(PathBuf::from(format!("docs/resources/{}.md", short_name(name))), page);
    }
    Ok(files)
}

pub fn run(root: &Path, check: bool) -> anyhow::Result<()> {
    let files = render(root)?;
    let mut stale = Vec::new();
    for (rel, text) in &files {
        let path = root.join(rel);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != *text {
            if check {
                stale.push(rel.display().to_string());
            } else {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                step(&format!("wrote {}", rel.display()));
            }
        }
    }
    // Generated pages whose type no longer exists.
    for dir in ["docs/resources", "docs/data-sources"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let rel = PathBuf::from(dir).join(entry.file_name());
            if !files.contains_key(&rel) {
                if check {
                    stale.push(format!("{} (no such type any more)", rel.display()));
                } else {
                    std::fs::remove_file(entry.path())?;
                    step(&format!("removed {}", rel.display()));
                }
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "docs/ is out of date with the schema or examples; run `cargo xtask docs`:\n  {}",
            stale.join("\n  ")
        );
    }
    Ok(())
}

fn short_name(type_name: &str) -> &str {
    type_name.strip_prefix("vantage_").unwrap_or(type_name)
}

fn read_example(root: &Path, rel: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(root.join(rel)).with_context(|| format!("every type needs its example: {rel} is missing"))
}

fn front_matter(title: &str, description: &str) -> String {
    let first = description
        .split(". ")
        .next()
        .unwrap_or(description)
        .trim_end_matches('.');
    format!("---\npage_title: \"{title}\"\ndescription: |-\n  {first}.\n---\n\n")
}

fn index_page(schema: &Schema, example: &str) -> String {
    let mut out = front_matter("Vantage Provider", &schema.block.description);
    writeln!(out, "# Vantage Provider\n\n{}\n", schema.block.description).ok();
    writeln!(
        out,
        "## Example Usage\n\n```terraform\n{}```\n",
        ensure_newline(example)
    )
    .ok();
    out.push_str(&render_schema(&schema.block));
    out
}

fn type_page(name: &str, kind: &str, schema: &Schema, example: &str, import: Option<&str>) -> String {
    let mut out = front_matter(
        &format!("{name} {kind} - terraform-provider-vantage"),
        &schema.block.description,
    );
    writeln!(out, "# {name} ({kind})\n\n{}\n", schema.block.description).ok();
    writeln!(
        out,
        "## Example Usage\n\n```terraform\n{}```\n",
        ensure_newline(example)
    )
    .ok();
    out.push_str(&render_schema(&schema.block));
    if let Some(import) = import {
        writeln!(
            out,
            "\n## Import\n\nImport is supported using the following syntax:\n\n```shell\n{}```",
            ensure_newline(import)
        )
        .ok();
    }
    out
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

fn type_label(ty: &Type) -> String {
    match ty {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_label(e)),
        Type::Set(e) => format!("Set of {}", type_label(e)),
        Type::Map(e) => format!("Map of {}", type_label(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

fn attribute_line(a: &Attribute) -> String {
    let mut label = type_label(&a.ty);
    if a.sensitive {
        label.push_str(", Sensitive");
    }
    if a.write_only {
        label.push_str(", Write-only");
    }
    if a.deprecated.is_some() {
        label.push_str(", Deprecated");
    }
    let mut text = a.description.clone();
    if let Some(default) = a.default.as_ref().and_then(tfplugin::schema::default_text) {
        write!(text, " Defaults to `{default}`.").ok();
    }
    for v in &a.validators {
        write!(text, " Must be {}.", v.description()).ok();
    }
    if a.requires_replace {
        text.push_str(" Changing it replaces the object.");
    }
    format!("- `{}` ({label}) {}", a.name, text.trim())
}

fn render_schema(block: &Block) -> String {
    let mut out = String::from("## Schema\n\n");
    let mut first = Vec::new();
    render_block_sections(block, "", &mut out, &mut first);
    let mut queue = std::collections::VecDeque::from(first);
    while let Some((anchor, title, b)) = queue.pop_front() {
        writeln!(out, "<a id=\"{anchor}\"></a>\n### Nested Schema for `{title}`\n").ok();
        let mut inner = Vec::new();
        render_block_sections(&b, &format!("{title}."), &mut out, &mut inner);
        queue.extend(inner);
    }
    out
}

type Section = (&'static str, fn(&Attribute) -> bool);

fn render_block_sections(block: &Block, prefix: &str, out: &mut String, nested: &mut Vec<(String, String, Block)>) {
    let sections: [Section; 3] = [
        ("Required", |a| a.presence == Presence::Required),
        ("Optional", |a| {
            matches!(a.presence, Presence::Optional | Presence::OptionalComputed)
        }),
        ("Read-Only", |a| a.presence == Presence::Computed),
    ];
    for (title, pick) in sections {
        let attrs: Vec<&Attribute> = block.attributes.iter().filter(|a| pick(a)).collect();
        let blocks: Vec<_> = if title == "Optional" {
            block.blocks.iter().collect()
        } else {
            Vec::new()
        };
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        if prefix.is_empty() {
            writeln!(out, "### {title}\n").ok();
        } else {
            writeln!(out, "{title}:\n").ok();
        }
        let mut lines: Vec<(String, String)> = attrs.iter().map(|a| (a.name.clone(), attribute_line(a))).collect();
        for b in blocks {
            let path = format!("{prefix}{}", b.type_name);
            let anchor = format!("nestedblock--{}", path.replace('.', "--"));
            let kind = match b.nesting {
                Nesting::Single | Nesting::Group => "Block",
                Nesting::List => "Block List",
                Nesting::Set => "Block Set",
                Nesting::Map => "Block Map",
            };
            let max = if b.max_items > 0 {
                format!(", Max: {}", b.max_items)
            } else {
                String::new()
            };
            lines.push((
                b.type_name.clone(),
                format!(
                    "- `{}` ({kind}{max}) {} (see [below for nested schema](#{anchor}))",
                    b.type_name,
                    b.block.description.trim()
                ),
            ));
            nested.push((anchor, path, b.block.clone()));
        }
        lines.sort();
        for (_, line) in lines {
            writeln!(out, "{line}").ok();
        }
        out.push('\n');
    }
}

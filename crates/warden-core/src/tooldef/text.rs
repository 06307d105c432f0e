//! Word-level text comparison for tool descriptions: a readable diff (`[-removed-]{+added+}`)
//! and a similarity ratio, by the longest common subsequence of words. Descriptions are short;
//! past [`MAX_WORDS`] words either side, the diff is the whole old text removed and the new added.

/// Above this many words on either side, no word alignment is attempted.
const MAX_WORDS: usize = 2000;

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// The LCS table of `a` and `b` (lengths of common subsequences of their suffixes).
fn lcs(a: &[&str], b: &[&str]) -> Vec<Vec<u32>> {
    let mut t = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            t[i][j] = if a[i] == b[j] {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    t
}

/// `old` turned into `new`, word by word: unchanged words as they are, removed runs as
/// `[-…-]`, added runs as `{+…+}`.
pub(crate) fn word_diff(old: &str, new: &str) -> String {
    let (a, b) = (words(old), words(new));
    if a.len() > MAX_WORDS || b.len() > MAX_WORDS {
        return format!("[-{}-] {{+{}+}}", a.join(" "), b.join(" "));
    }
    let t = lcs(&a, &b);
    let (mut i, mut j) = (0, 0);
    let mut out: Vec<String> = Vec::new();
    let (mut del, mut add): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let flush = |out: &mut Vec<String>, del: &mut Vec<&str>, add: &mut Vec<&str>| {
        if !del.is_empty() {
            out.push(format!("[-{}-]", del.join(" ")));
            del.clear();
        }
        if !add.is_empty() {
            out.push(format!("{{+{}+}}", add.join(" ")));
            add.clear();
        }
    };
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            flush(&mut out, &mut del, &mut add);
            out.push(a[i].to_owned());
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || t[i][j + 1] >= t[i + 1][j]) {
            add.push(b[j]);
            j += 1;
        } else {
            del.push(a[i]);
            i += 1;
        }
    }
    flush(&mut out, &mut del, &mut add);
    out.join(" ")
}

/// How alike two texts are, 0.0 to 1.0: twice the common words over all words (1.0 when both
/// are empty).
pub(crate) fn similarity(x: &str, y: &str) -> f64 {
    let (a, b) = (words(x), words(y));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.len() > MAX_WORDS || b.len() > MAX_WORDS {
        return if a == b { 1.0 } else { 0.0 };
    }
    let common = f64::from(lcs(&a, &b)[0][0]);
    2.0 * common / (a.len() + b.len()) as f64
}

/// `s` with case, punctuation and spacing set aside: two descriptions equal under this differ
/// only cosmetically.
pub(crate) fn normalized(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

//! Between guard and the scam/intent stages: which of the catalog's patterns match a message.
//!
//! In: the normalised, redacted text. Out: the indices of the patterns that match (ascending),
//! which the scam stage turns into signals and the intent stage into scores.
//!
//! Hundreds of regexes over every message is what made the engine slow. The domain words
//! (`微信`, `封`, `号`) start dozens of patterns in every message, and on varied Chinese text the
//! regex crate's lazy DFA for "A, then B within 30 characters" rebuilds its states on nearly every
//! call (~0.5 µs each, warm or cold: measured). So a pattern is not run as a regex at all to
//! decide whether it matches:
//!
//! 1. **One pass.** A character trie of every literal of every pattern finds all their
//!    occurrences (overlapping) in the message.
//! 2. **Gate.** Each branch of a pattern (`a|b` has two) has *factors*: parts every match must
//!    contain, each a finite set of literals its match begins with (`(账号|微信|号)`, `{ban}`).
//!    A branch is looked at only when every factor has some literal in the message: the scan
//!    marks the factors whose literals occur, each marked factor wakes the branches it anchors
//!    (each branch is anchored by its least used factor), and a woken branch is evaluated when
//!    all its factors are marked.
//! 3. **Evaluate.** The branch's syntax tree is evaluated over sets of character positions (one
//!    bit per position: one `u128` for messages of up to 126 characters, 64-bit words beyond: see
//!    `patterns/positions.rs`): a literal maps the positions where it occurs to where it ends (from step 1),
//!    `.{0,30}` widens, a class run steps over its characters, alternation unions, repetition
//!    iterates. A match
//!    exists exactly when the set of end positions is not empty — whether a regex matches does not
//!    depend on which match it would report, so this is the regex's `is_match`, to the letter
//!    (a property test holds every shipped pattern to that).
//!
//! The compiled regexes stay: the scam stage runs the few that matched again to quote their
//! evidence, and a message with a line break, or a pattern using syntax the evaluator does not
//! model (Unicode word boundaries), is matched by the regexes directly.

use std::cell::OnceCell;
use std::collections::HashMap;

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind, Look};
use smallvec::SmallVec;

mod positions;
use positions::{Bits, Edge, Positions, Words};

/// What one compiled pattern belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Owner {
    Strong(usize),
    Weak(usize),
    Veto(usize),
    Signal(usize),
    Context(usize),
    Route(usize),
    /// A follow-up topic (`[followup]`), shared by the routes that name it.
    Topic(usize),
    /// `[dialogue] stay`: the message asks how to go on from where the user is.
    Stay,
    /// `[dialogue] question`: the message asks something.
    Question,
}

/// One pattern parsed and compiled, not yet numbered into the catalog's tables.
pub struct Compiled {
    regex: Regex,
    hir: Hir,
}

/// A regex syntax tree in the form the evaluator walks. Literal ids index [`Patterns`]'s table.
#[derive(Debug, Clone)]
enum Node {
    Empty,
    /// One of these literals (sorted ids): a literal, an alternation of them, a small class.
    Lits(Vec<u32>),
    /// `min` to `max` characters of a class (`.{0,30}`, `\d+`, `[a-z0-9_]{4,}`, or one `\d`);
    /// `class` indexes [`Patterns`]'s classes.
    Run {
        class: u32,
        min: u32,
        max: u32,
    },
    Look(Edge),
    Repeat {
        min: u32,
        max: u32,
        sub: Box<Node>,
    },
    Concat(Vec<Node>),
    Alt(Vec<Node>),
}

/// A class of characters, as a run reads it.
#[derive(Debug, Clone, PartialEq)]
enum Chars {
    /// Any character but a line break (`.`); messages with line breaks never get here.
    Any,
    Ranges(Vec<(char, char)>),
}

impl Chars {
    fn contains(&self, c: char) -> bool {
        match self {
            Chars::Any => c != '\n',
            Chars::Ranges(r) => {
                let i = r.partition_point(|r| r.1 < c);
                i < r.len() && r[i].0 <= c
            }
        }
    }
}

/// A class with its part in the Basic Multilingual Plane (every character of nearly every
/// message) as a bit map: 8 KiB a class, a load and a shift a character.
#[derive(Debug, Clone)]
struct CharClass {
    chars: Chars,
    bmp: Box<[u64]>,
}

impl CharClass {
    fn new(chars: Chars) -> CharClass {
        let mut bmp = vec![0u64; 0x10000 / 64].into_boxed_slice();
        let ranges = match &chars {
            Chars::Any => vec![('\0', '\t'), ('\u{b}', '\u{ffff}')],
            Chars::Ranges(r) => r.clone(),
        };
        for (a, b) in ranges {
            for i in a as u32..=(b as u32).min(0xFFFF) {
                bmp[i as usize / 64] |= 1 << (i % 64);
            }
        }
        CharClass { chars, bmp }
    }
    fn contains(&self, c: char) -> bool {
        match self.bmp.get(c as usize / 64) {
            Some(word) => word >> (c as u32 % 64) & 1 == 1,
            None => self.chars.contains(c),
        }
    }
    fn is_any(&self) -> bool {
        self.chars == Chars::Any
    }
}

/// Whether the evaluator reads `text`; otherwise the regexes answer (a line break, which
/// normalised text never holds, or positions beyond `u32`).
fn evaluable(text: &str) -> bool {
    !text.contains('\n') && text.len() < u32::MAX as usize
}

/// A branch of a pattern with its gate.
#[derive(Debug, Clone)]
struct Branch {
    pattern: usize,
    node: Node,
    /// The literals of the first factor (sorted), when the branch begins with it: every match
    /// starts where one of them occurs, so evaluation starts there and not everywhere.
    starts_with: Option<Vec<u32>>,
    /// What is left of `node` when it begins with exactly `starts_with`'s literals: evaluation
    /// then starts where those occurrences end (and a branch that is nothing but them matched
    /// as soon as one occurred).
    after_first: Option<Node>,
    /// Its factors (ids of [`Patterns`]'s factor table, each once): one literal of each must
    /// occur for a match.
    factors: Vec<u32>,
}

impl Branch {
    /// The gate: every factor has some literal in the message.
    fn possible(&self, scan: &Scan) -> bool {
        self.factors.iter().all(|&f| scan.has_factor(f))
    }
}

/// Lists of ids, one per index, laid out in one array.
#[derive(Debug, Clone, Default)]
struct Lists {
    at: Vec<u32>,
    ids: Vec<u32>,
}

impl Lists {
    fn new(lists: &[Vec<u32>]) -> Lists {
        let mut out = Lists {
            at: vec![0],
            ids: Vec::new(),
        };
        for l in lists {
            out.ids.extend(l);
            out.at.push(out.ids.len() as u32);
        }
        out
    }
    fn get(&self, i: usize) -> &[u32] {
        &self.ids[self.at[i] as usize..self.at[i + 1] as usize]
    }
    fn len(&self) -> usize {
        self.at.len() - 1
    }
}

/// Every pattern of the catalog, ready to match. See the module documentation.
#[derive(Debug, Clone)]
pub struct Patterns {
    /// Tells one catalog's tables from another's (a clone shares them, and its id): the
    /// thread's cached scan is only valid for the catalog that made it.
    id: u64,
    lexicon: Lexicon,
    /// Literal id → its length in characters.
    literal_chars: Vec<u32>,
    /// Literal id → its length in bytes.
    literal_bytes: Vec<u32>,
    /// The classes runs read, each once.
    classes: Vec<CharClass>,
    /// Literal id → the factors that hold it.
    literal_factors: Lists,
    /// Factor id → the branches it anchors: of a branch's factors, the one in the fewest
    /// branches (a word few patterns need is a word few messages hold), so that a common word
    /// (`号`, `微信`) does not wake every branch that needs it.
    anchored: Lists,
    branches: Vec<Branch>,
    /// Branches with no factor: evaluated on every message.
    always: Vec<u32>,
    /// Patterns the evaluator cannot model: matched by their regex on every message.
    by_regex: Vec<usize>,
    /// Pattern → its branches (empty for those matched by regex).
    pattern_branches: Vec<std::ops::Range<u32>>,
    /// Each pattern compiled once at load: quotes its evidence, and is the fallback.
    each: Vec<Regex>,
    /// Each pattern as written: shared, since every analysis names the ones that fired.
    pub source: Vec<std::sync::Arc<str>>,
    pub owner: Vec<Owner>,
}

/// Buffers one thread reuses from message to message: matching allocates only its answer.
#[derive(Default)]
struct Scratch {
    scan: CachedScan,
    hit: Vec<bool>,
}

/// The last scan made on this thread: `find` reuses the one `matches` made of the same message
/// with the same catalog.
#[derive(Default)]
struct CachedScan {
    /// The catalog (`None`: nothing scanned yet) and the text `scan` was made of.
    catalog: Option<u64>,
    text: String,
    scan: Scan,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// One message as the evaluator reads it.
#[derive(Default)]
struct Scan {
    chars: Vec<char>,
    /// Where the literals occur: the starts of each literal's occurrences together, ascending
    /// (long messages only).
    occ: Vec<u32>,
    /// Literal id → its range of `occ` (meaningful for the literals present only).
    span: Vec<(u32, u32)>,
    /// The literals that occur (ascending in a long message).
    lits: Vec<u32>,
    /// Every occurrence as (start, literal), in the order found (long messages only).
    by_start: Vec<(u32, u32)>,
    /// Literal ids that occur, as a bit set.
    present: Vec<u64>,
    /// Factor ids with a literal that occurs, as a bit set.
    factors: Vec<u64>,
    /// The message is short enough for [`Bits`]; then `bits` is filled.
    small: bool,
    /// Literal id → the positions where it starts (meaningful for the literals present only).
    bits: Vec<u128>,
    /// The positions at an ASCII word boundary, computed when a `\b` first asks.
    word: OnceCell<PositionWords>,
    /// Class id → the positions of its characters, computed when a run first asks.
    class_bits: Vec<OnceCell<PositionWords>>,
}

/// Positions as bits in words (inline for a message that [`Bits`] holds).
type PositionWords = SmallVec<[u64; 2]>;

/// The positions `0..=n` of `chars` (`n` its length) whose character passes `test`, as bits: a
/// 64-bit word at a time (setting a bit at a variable position of a `u128`, or of a word found
/// by index, costs about three times as much).
fn char_words(chars: &[char], test: impl Fn(char) -> bool) -> PositionWords {
    let mut out: PositionWords = chars
        .chunks(64)
        .map(|part| {
            part.iter()
                .enumerate()
                .fold(0u64, |m, (i, &c)| m | u64::from(test(c)) << i)
        })
        .collect();
    if chars.len().is_multiple_of(64) {
        out.push(0); // the word of position n
    }
    out
}

/// A short message's positions as the words [`Scan`] keeps them in.
fn low_words(bits: u128) -> PositionWords {
    smallvec::smallvec![bits as u64, (bits >> 64) as u64]
}

/// The positions `0..=n` for which `at` holds, as bits.
fn position_words(n: u32, at: impl Fn(u32) -> bool) -> PositionWords {
    let mut out: PositionWords = smallvec::smallvec![0; n as usize / 64 + 1];
    for p in (0..=n).filter(|&p| at(p)) {
        out[p as usize / 64] |= 1 << (p % 64);
    }
    out
}

impl CachedScan {
    /// The scan of `text` through `patterns`, made unless it is the one already here.
    fn read(&mut self, patterns: &Patterns, text: &str) -> &Scan {
        if self.catalog != Some(patterns.id) || self.text != text {
            patterns.scan(text, &mut self.scan);
            self.catalog = Some(patterns.id);
            self.text.clear();
            self.text.push_str(text);
        }
        &self.scan
    }
}

impl Scan {
    fn has(&self, lit: u32) -> bool {
        self.present[lit as usize / 64] & (1 << (lit % 64)) != 0
    }
    fn has_factor(&self, f: u32) -> bool {
        self.factors[f as usize / 64] & (1 << (f % 64)) != 0
    }
    /// The positions at an ASCII word boundary.
    fn word_bits(&self) -> &[u64] {
        self.word.get_or_init(|| {
            if self.small {
                let w = char_words(&self.chars, positions::is_word_char);
                let w = positions::low_bits(&w);
                return low_words((w ^ w << 1) & Bits::full(self.n()));
            }
            position_words(self.n(), |p| positions::word_boundary(&self.chars, p))
        })
    }

    /// The positions whose character is in class `id` (none at `n`).
    fn class_bits(&self, p: &Patterns, id: u32) -> &[u64] {
        self.class_bits[id as usize].get_or_init(|| {
            let class = &p.classes[id as usize];
            char_words(&self.chars, |c| class.contains(c))
        })
    }

    /// Where `lit` first occurs, if it does.
    fn first_start(&self, lit: u32) -> Option<u32> {
        if !self.has(lit) {
            None
        } else if self.small {
            Some(self.bits[lit as usize].trailing_zeros())
        } else {
            self.starts(lit, 0).first().copied()
        }
    }

    /// Where `lit` occurs at or after `from`, in order (long messages only: short ones have
    /// their occurrences as bits).
    fn starts(&self, lit: u32, from: u32) -> &[u32] {
        if !self.has(lit) {
            return &[];
        }
        let (a, b) = self.span[lit as usize];
        let all = &self.occ[a as usize..b as usize];
        &all[all.partition_point(|&p| p < from)..]
    }
    fn n(&self) -> u32 {
        self.chars.len() as u32
    }
}

/// Marks literal `l` present, listing it the first time; whether this was the first time.
fn first_seen(present: &mut [u64], lits: &mut Vec<u32>, l: u32) -> bool {
    let (word, bit) = (l as usize / 64, 1 << (l % 64));
    let first = present[word] & bit == 0;
    if first {
        present[word] |= bit;
        lits.push(l);
    }
    first
}

/// Collects the literals of all patterns, each once.
#[derive(Default)]
struct Literals {
    bytes: Vec<Vec<u8>>,
    ids: HashMap<Vec<u8>, u32>,
}

impl Literals {
    fn id(&mut self, lit: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(lit) {
            return id;
        }
        let id = self.bytes.len() as u32;
        self.bytes.push(lit.to_vec());
        self.ids.insert(lit.to_vec(), id);
        id
    }
}

/// Every literal in a character trie: walking it from each character of a message finds every
/// occurrence, overlapping ones included. (An Aho-Corasick pass that reports overlapping matches
/// cost 0.7 µs on a 50-byte message, mostly on the one-character literals of `了?` and `{ban}`.)
///
/// Laid out for the cache, since every character of every message walks it: the root's
/// children in the Basic Multilingual Plane are a 8 KiB bit map with rank counts (a
/// character that begins no literal, most of them, is one bit), every other node's children
/// one slice of a shared edge array.
#[derive(Debug, Clone)]
struct Lexicon {
    /// Bit `c` set: BMP character `c` begins some literal.
    first_bits: Vec<u64>,
    /// Set bits in `first_bits` before each word.
    first_rank: Vec<u32>,
    /// The k-th character set in `first_bits`: its node, and what a walk needs of it without
    /// reading the node (most literals are one or two characters).
    first_node: Vec<Root>,
    /// Trie nodes; node 0 is the root (its edges: the first characters outside the BMP).
    nodes: Vec<TrieNode>,
    /// Every node's edges, sorted by character within a node.
    edges: Vec<(char, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Root {
    node: u32,
    /// The literal of this one character, `u32::MAX` for none.
    literal: u32,
    /// Some literal goes on past this character.
    deeper: bool,
}

#[derive(Debug, Clone, Copy)]
struct TrieNode {
    /// The literal that ends here, `u32::MAX` for none.
    literal: u32,
    edges: (u32, u32),
}

impl Lexicon {
    fn new(literals: &[Vec<u8>]) -> Lexicon {
        // Built as a tree of sorted child lists, then laid out.
        let mut children: Vec<Vec<(char, u32)>> = vec![Vec::new()];
        let mut ends: Vec<u32> = vec![u32::MAX];
        for (id, lit) in literals.iter().enumerate() {
            // Literals are whole characters: the evaluator's come from Unicode patterns, and a
            // factor with any other literal is not used.
            let Ok(lit) = std::str::from_utf8(lit) else {
                continue;
            };
            let mut node = 0usize;
            for c in lit.chars() {
                let at = children[node].partition_point(|e| e.0 < c);
                node = match children[node].get(at) {
                    Some(&(k, next)) if k == c => next as usize,
                    _ => {
                        let next = children.len();
                        children[node].insert(at, (c, next as u32));
                        children.push(Vec::new());
                        ends.push(u32::MAX);
                        next
                    }
                };
            }
            if node != 0 {
                ends[node] = id as u32;
            }
        }
        let mut lex = Lexicon {
            first_bits: vec![0; 0x10000 / 64],
            first_rank: Vec::with_capacity(0x10000 / 64),
            first_node: Vec::new(),
            nodes: Vec::with_capacity(children.len()),
            edges: Vec::new(),
        };
        for &(c, node) in &children[0] {
            if let Ok(i) = u16::try_from(c as u32) {
                lex.first_bits[i as usize / 64] |= 1 << (i % 64);
                // Ascending, as the bits are.
                lex.first_node.push(Root {
                    node,
                    literal: ends[node as usize],
                    deeper: !children[node as usize].is_empty(),
                });
            }
        }
        let mut rank = 0;
        for w in &lex.first_bits {
            lex.first_rank.push(rank);
            rank += w.count_ones();
        }
        for (i, (kids, literal)) in children.iter().zip(ends).enumerate() {
            let kids: Vec<(char, u32)> = if i == 0 {
                kids.iter()
                    .copied()
                    .filter(|e| e.0 as u32 > 0xFFFF)
                    .collect()
            } else {
                kids.clone()
            };
            let at = lex.edges.len() as u32;
            lex.edges.extend(kids);
            lex.nodes.push(TrieNode {
                literal,
                edges: (at, lex.edges.len() as u32),
            });
        }
        lex
    }

    /// The root's entry for a character of the Basic Multilingual Plane.
    fn root(&self, i: u16) -> Option<Root> {
        let (w, b) = (i as usize / 64, i % 64);
        let word = self.first_bits[w];
        if word >> b & 1 == 0 {
            return None;
        }
        let k = self.first_rank[w] + (word & ((1 << b) - 1)).count_ones();
        Some(self.first_node[k as usize])
    }

    /// The child of `node` (the root only for characters outside the BMP) by `c`.
    fn child(&self, node: u32, c: char) -> Option<u32> {
        let (a, b) = self.nodes[node as usize].edges;
        let edges = &self.edges[a as usize..b as usize];
        // Most nodes have a few children, where a scan beats a binary search; a common first
        // character has dozens.
        if edges.len() <= 8 {
            edges.iter().find(|e| e.0 == c).map(|e| e.1)
        } else {
            edges
                .binary_search_by_key(&c, |e| e.0)
                .ok()
                .map(|i| edges[i].1)
        }
    }

    /// Calls `found(literal, start)` for every occurrence in `chars`.
    fn find(&self, chars: &[char], mut found: impl FnMut(u32, usize)) {
        for (start, &first) in chars.iter().enumerate() {
            // The first step: BMP characters from the root's bit map, others from its edges.
            let (mut node, literal, deeper) = match u16::try_from(first as u32) {
                Ok(i) => match self.root(i) {
                    Some(root) => (root.node, root.literal, root.deeper),
                    None => continue,
                },
                Err(_) => match self.child(0, first) {
                    Some(node) => (node, self.nodes[node as usize].literal, true),
                    None => continue,
                },
            };
            if literal != u32::MAX {
                found(literal, start);
            }
            if !deeper {
                continue;
            }
            for &c in &chars[start + 1..] {
                match self.child(node, c) {
                    Some(next) => node = next,
                    None => break,
                }
                let l = self.nodes[node as usize].literal;
                if l != u32::MAX {
                    found(l, start);
                }
            }
        }
    }
}

/// A class of at most this many characters is evaluated as literals, through the one pass.
const LISTED_CLASS: u32 = 32;

impl Patterns {
    /// Parses once and compiles one (expanded) pattern.
    pub fn compile(expanded: &str) -> Result<Compiled, String> {
        let hir = regex_syntax::Parser::new()
            .parse(expanded)
            .map_err(|e| e.to_string())?;
        let regex = Regex::builder()
            .configure(Regex::config().nfa_size_limit(Some(64 << 20)))
            .build_from_hir(&hir)
            .map_err(|e| e.to_string())?;
        Ok(Compiled { regex, hir })
    }

    pub fn new(
        compiled: Vec<Compiled>,
        source: Vec<std::sync::Arc<str>>,
        owner: Vec<Owner>,
    ) -> Result<Patterns, String> {
        let mut lits = Literals::default();
        let mut classes: Vec<CharClass> = Vec::new();
        let mut branches: Vec<Branch> = Vec::new();
        let mut factor_ids: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut always = Vec::new();
        let mut by_regex = Vec::new();
        let mut pattern_branches = Vec::with_capacity(compiled.len());
        let mut each = Vec::with_capacity(compiled.len());
        for (p, c) in compiled.into_iter().enumerate() {
            let mut mine = Vec::new();
            let mut ok = true;
            for alt in alternatives(&c.hir) {
                let Some(node) = lower(alt, &mut lits, &mut classes) else {
                    ok = false;
                    break;
                };
                let (leads, factors) = factors(alt);
                let factors: Vec<Vec<u32>> = factors
                    .into_iter()
                    .map(|f| {
                        let mut ids: Vec<u32> = f.iter().map(|l| lits.id(l)).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        ids
                    })
                    .collect();
                let starts_with = leads.then(|| factors[0].clone());
                let mut ids: Vec<u32> = factors
                    .into_iter()
                    .map(|f| {
                        let next = factor_ids.len() as u32;
                        *factor_ids.entry(f).or_insert(next)
                    })
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                mine.push(Branch {
                    pattern: p,
                    after_first: starts_with.as_ref().and_then(|f| rest_after(&node, f)),
                    node,
                    starts_with,
                    factors: ids,
                });
            }
            let at = branches.len() as u32;
            if ok {
                for b in mine {
                    if b.factors.is_empty() {
                        always.push(branches.len() as u32);
                    }
                    branches.push(b);
                }
            } else {
                by_regex.push(p);
            }
            pattern_branches.push(at..branches.len() as u32);
            each.push(c.regex);
        }
        let mut literal_factors = vec![Vec::new(); lits.bytes.len()];
        for (factor, &f) in &factor_ids {
            for &l in factor {
                literal_factors[l as usize].push(f);
            }
        }
        let mut uses = vec![0u32; factor_ids.len()];
        for &f in branches.iter().flat_map(|b| &b.factors) {
            uses[f as usize] += 1;
        }
        let mut anchored = vec![Vec::new(); factor_ids.len()];
        for (b, br) in branches.iter().enumerate() {
            if let Some(&f) = br.factors.iter().min_by_key(|&&f| uses[f as usize]) {
                anchored[f as usize].push(b as u32);
            }
        }
        let literal_bytes = lits.bytes.iter().map(|l| l.len() as u32).collect();
        let literal_chars = lits
            .bytes
            .iter()
            .map(|l| String::from_utf8_lossy(l).chars().count() as u32)
            .collect();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Patterns {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            lexicon: Lexicon::new(&lits.bytes),
            literal_chars,
            literal_bytes,
            classes,
            literal_factors: Lists::new(&literal_factors),
            anchored: Lists::new(&anchored),
            branches,
            always,
            by_regex,
            pattern_branches,
            each,
            source,
            owner,
        })
    }

    /// Indices of the patterns that match `text`, ascending.
    pub fn matches(&self, text: &str) -> Vec<usize> {
        if !evaluable(text) {
            return (0..self.each.len())
                .filter(|&i| self.each[i].is_match(text))
                .collect();
        }
        SCRATCH.with_borrow_mut(|scratch| self.matches_in(text, scratch))
    }

    fn matches_in(&self, text: &str, scratch: &mut Scratch) -> Vec<usize> {
        let Scratch { scan, hit } = scratch;
        let scan = scan.read(self, text);
        hit.clear();
        hit.resize(self.each.len(), false);
        let mut found: Vec<usize> = Vec::new();
        for &p in &self.by_regex {
            if self.each[p].is_match(text) {
                hit[p] = true;
                found.push(p);
            }
        }
        let mut eval = |b: u32| {
            let br = &self.branches[b as usize];
            if hit[br.pattern] {
                return;
            }
            let matched = if scan.small {
                self.branch_matches::<Bits>(br, scan)
            } else {
                self.branch_matches::<Words>(br, scan)
            };
            if matched {
                hit[br.pattern] = true;
                found.push(br.pattern);
            }
        };
        for &b in &self.always {
            eval(b);
        }
        // A branch is looked at when its anchor factor occurs, and evaluated when all its
        // factors do (the gate).
        for (w, &word) in scan.factors.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let f = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                for &b in self.anchored.get(f) {
                    if self.branches[b as usize].possible(scan) {
                        eval(b);
                    }
                }
            }
        }
        found.sort_unstable();
        found
    }

    /// Reads `text` into `scan`, reusing its buffers.
    fn scan(&self, text: &str, scan: &mut Scan) {
        self.scan_as(text, scan, None);
    }

    /// [`Patterns::scan`], for [`Bits`] (`Some(true)`: the text must fit them), for [`Words`]
    /// (`Some(false)`), or for what fits the text (`None`).
    fn scan_as(&self, text: &str, scan: &mut Scan, small_or_not: Option<bool>) {
        let Scan {
            chars,
            occ,
            span,
            lits,
            by_start,
            present,
            factors,
            small,
            bits,
            word,
            class_bits,
        } = scan;
        chars.clear();
        chars.extend(text.chars());
        present.clear();
        present.resize(self.literal_chars.len().div_ceil(64), 0);
        span.resize(self.literal_chars.len(), (0, 0));
        by_start.clear();
        lits.clear();
        *small = small_or_not.unwrap_or(chars.len() <= Bits::MAX_CHARS);
        if *small {
            bits.resize(self.literal_chars.len(), 0);
        }
        word.take();
        class_bits.clear();
        class_bits.resize_with(self.classes.len(), OnceCell::new);
        if *small {
            // Bits say all a short message needs of where each literal occurs.
            self.lexicon.find(chars, |l, p| {
                if first_seen(present, lits, l) {
                    bits[l as usize] = 0;
                }
                bits[l as usize] |= 1 << p;
            });
        } else {
            self.occurrences(chars, present, lits, span, by_start, occ);
        }
        factors.clear();
        factors.resize(self.anchored.len().div_ceil(64), 0);
        for &l in lits.iter() {
            for &f in self.literal_factors.get(l as usize) {
                factors[f as usize / 64] |= 1 << (f % 64);
            }
        }
    }

    /// Where the literals occur in a long message, each literal's occurrences in order.
    fn occurrences(
        &self,
        chars: &[char],
        present: &mut [u64],
        lits: &mut Vec<u32>,
        span: &mut [(u32, u32)],
        by_start: &mut Vec<(u32, u32)>,
        occ: &mut Vec<u32>,
    ) {
        // Counts each literal's occurrences in `span[l].1` …
        self.lexicon.find(chars, |l, p| {
            if first_seen(present, lits, l) {
                span[l as usize] = (0, 0);
            }
            span[l as usize].1 += 1;
            by_start.push((p as u32, l));
        });
        // … then gives each literal its range and fills it in position order (a counting sort).
        lits.sort_unstable();
        let mut at = 0;
        for &l in lits.iter() {
            let n = span[l as usize].1;
            span[l as usize] = (at, at);
            at += n;
        }
        occ.clear();
        occ.resize(by_start.len(), 0);
        for &(p, l) in by_start.iter() {
            let end = &mut span[l as usize].1;
            occ[*end as usize] = p;
            *end += 1;
        }
    }

    /// Whether branch `br` matches, its gate passed: evaluated from where it can start.
    fn branch_matches<P: Positions>(&self, br: &Branch, s: &Scan) -> bool {
        match (&br.starts_with, &br.after_first) {
            (Some(first), Some(Node::Empty)) => first.iter().any(|&l| s.has(l)),
            (Some(first), Some(rest)) => !self.eval(rest, &P::ends(self, first, s), s).is_none(),
            (Some(first), None) => !self.eval(&br.node, &P::starts(self, first, s), s).is_none(),
            (None, _) => !self.eval(&br.node, &P::all(s), s).is_none(),
        }
    }

    /// The positions where `node` can end, starting from any of `from`.
    fn eval<P: Positions>(&self, node: &Node, from: &P, s: &Scan) -> P {
        match node {
            Node::Empty => from.clone(),
            Node::Lits(ids) => from.lits(self, ids, s),
            Node::Run { class, min, max } => from.run(self, *class, *min, *max, s),
            Node::Look(edge) => from.at(*edge, s),
            Node::Repeat { min, max, sub } => self.repeat(*min, *max, sub, from, s),
            Node::Concat(parts) => {
                let mut set = from.clone();
                for p in parts {
                    if set.is_none() {
                        break;
                    }
                    set = self.eval(p, &set, s);
                }
                set
            }
            Node::Alt(alts) => alts
                .iter()
                .fold(P::none(), |acc, a| acc.or(&self.eval(a, from, s))),
        }
    }

    /// `sub{min,max}`: step from `from` up to `max` times, keeping what `min` or more steps reach.
    fn repeat<P: Positions>(&self, min: u32, max: u32, sub: &Node, from: &P, s: &Scan) -> P {
        let mut out = if min == 0 { from.clone() } else { P::none() };
        let mut cur = from.clone();
        let mut steps = 0u32;
        while steps < max && !cur.is_none() {
            let next = self.eval(sub, &cur, s);
            steps += 1;
            if steps >= min {
                let grown = out.or(&next);
                // Each step only maps positions forward, so once a step adds nothing, no later
                // one can.
                if grown == out {
                    break;
                }
                out = grown;
            } else if next == cur {
                // Only empty steps before `min`: the positions will not move again.
                return out.or(&next);
            }
            cur = next;
        }
        out
    }

    pub fn len(&self) -> usize {
        self.each.len()
    }

    pub fn is_empty(&self) -> bool {
        self.each.is_empty()
    }

    /// Pattern `i` alone, to find where it matched.
    pub fn regex(&self, i: usize) -> &Regex {
        &self.each[i]
    }

    /// The first match of pattern `i` in `text`, exactly as `regex(i).find(text)` reports it.
    /// The evaluator finds where the leftmost match starts, and an anchored search from there
    /// gives the match leftmost-first semantics choose: no unanchored scan, no reverse scan.
    pub fn find(&self, i: usize, text: &str) -> Option<regex_automata::Match> {
        let re = &self.each[i];
        let start = if evaluable(text) {
            SCRATCH.with_borrow_mut(|scratch| {
                let scan = scratch.scan.read(self, text);
                match self.literal_leftmost(i, scan) {
                    Some(found) => Start::Literal(found),
                    None => Start::At(self.leftmost_start(i, scan)),
                }
            })
        } else {
            Start::At(None)
        };
        let byte = |at: u32| {
            text.char_indices()
                .nth(at as usize)
                .map_or(text.len(), |c| c.0)
        };
        match start {
            Start::Literal(Some((at, lit))) => {
                let at = byte(at);
                let end = at + self.literal_bytes[lit as usize] as usize;
                Some(regex_automata::Match::must(0, at..end))
            }
            Start::Literal(None) | Start::At(Some(None)) => None,
            Start::At(Some(Some((at, Some(end))))) => {
                Some(regex_automata::Match::must(0, byte(at)..byte(end)))
            }
            Start::At(Some(Some((at, None)))) => {
                let input = Input::new(text).range(byte(at)..).anchored(Anchored::Yes);
                re.search(&input)
            }
            Start::At(None) => re.find(text),
        }
    }

    /// The first match of pattern `i` when every branch of it is a literal (or a small class):
    /// the earliest occurrence, and at the earliest position the first branch that occurs there
    /// (leftmost-first). As (character index, literal); `None` when the pattern is not of that
    /// kind.
    fn literal_leftmost(&self, i: usize, scan: &Scan) -> Option<Option<(u32, u32)>> {
        let range = self.pattern_branches.get(i)?.clone();
        let branches = &self.branches[range.start as usize..range.end as usize];
        if branches.is_empty()
            || !branches
                .iter()
                .all(|b| matches!(b.after_first, Some(Node::Empty)))
        {
            return None;
        }
        let mut best: Option<(u32, u32)> = None;
        for b in branches {
            for &l in b.starts_with.iter().flatten() {
                let Some(at) = scan.first_start(l) else {
                    continue;
                };
                if best.is_none_or(|(p, _)| at < p) {
                    best = Some((at, l));
                }
            }
        }
        Some(best)
    }

    /// Where the leftmost match of pattern `i` starts (a character index) and, when every match
    /// from there ends at the same place, where it ends; `Some(None)` when it has none, `None`
    /// when the evaluator cannot tell (a branch that may start anywhere).
    fn leftmost_start(&self, i: usize, scan: &Scan) -> Option<Option<(u32, Option<u32>)>> {
        if scan.small {
            self.leftmost::<Bits>(i, scan)
        } else {
            self.leftmost::<Words>(i, scan)
        }
    }

    fn leftmost<P: Positions>(&self, i: usize, scan: &Scan) -> Option<Option<(u32, Option<u32>)>> {
        let range = self.pattern_branches.get(i)?.clone();
        if range.is_empty() {
            return None;
        }
        let mut best: Option<u32> = None;
        for br in &self.branches[range.start as usize..range.end as usize] {
            let first = br.starts_with.as_ref()?;
            if !br.possible(scan) {
                continue;
            }
            let starts = P::starts(self, first, scan);
            let Some(lo) = starts.next_from(0) else {
                continue;
            };
            // Only a start before the best so far can improve it.
            let last = match best {
                Some(b) if b <= lo => continue,
                Some(b) => b - 1,
                None => scan.n(),
            };
            // Whether the branch matches from a start at or before `at`: false, then true from
            // the leftmost start on. The first occurrence usually is it; otherwise a binary
            // search asks O(log n) times, never once per occurrence.
            let from = |at: u32| !self.eval(&br.node, &starts.until(at), scan).is_none();
            if from(lo) {
                best = Some(lo);
                continue;
            }
            if !from(last) {
                continue;
            }
            let (mut no, mut yes) = (lo, last);
            while yes - no > 1 {
                let mid = no + (yes - no) / 2;
                if from(mid) {
                    yes = mid;
                } else {
                    no = mid;
                }
            }
            best = Some(yes);
        }
        let Some(start) = best else {
            return Some(None);
        };
        // Where the matches from there can end, over every branch. When that is one position,
        // the regex's match ends there whichever of them its priorities pick.
        let from = P::single(start);
        let ends = self.branches[range.start as usize..range.end as usize]
            .iter()
            .filter(|br| br.possible(scan))
            .fold(P::none(), |ends, br| {
                ends.or(&self.eval(&br.node, &from, scan))
            });
        let only = ends
            .next_from(0)
            .filter(|&end| ends.next_from(end + 1).is_none());
        Some(Some((start, only)))
    }
}

/// Where `find` begins: a literal pattern's match found from the occurrences, or the start the
/// evaluator gives (`None`: it cannot tell) for an anchored search.
enum Start {
    Literal(Option<(u32, u32)>),
    At(Option<Option<(u32, Option<u32>)>>),
}

/// `node` without its first part, when that part is exactly the literals `first`.
fn rest_after(node: &Node, first: &[u32]) -> Option<Node> {
    match node {
        Node::Lits(ids) if ids == first => Some(Node::Empty),
        Node::Concat(parts) => match parts.split_first() {
            Some((Node::Lits(ids), rest)) if ids == first => Some(match rest {
                [one] => one.clone(),
                _ => Node::Concat(rest.to_vec()),
            }),
            _ => None,
        },
        _ => None,
    }
}

/// The evaluator's form of a syntax tree; `None` for syntax it does not model.
fn lower(hir: &Hir, lits: &mut Literals, classes: &mut Vec<CharClass>) -> Option<Node> {
    Some(match hir.kind() {
        HirKind::Empty => Node::Empty,
        HirKind::Literal(l) => {
            std::str::from_utf8(&l.0).ok()?;
            Node::Lits(vec![lits.id(&l.0)])
        }
        HirKind::Class(class) => {
            let ranges = class_ranges(class)?;
            let size: u32 = ranges.iter().map(|r| r.1 as u32 - r.0 as u32 + 1).sum();
            if size > LISTED_CLASS {
                Node::Run {
                    class: intern(classes, chars(ranges)),
                    min: 1,
                    max: 1,
                }
            } else {
                let mut buf = [0u8; 4];
                let mut ids: Vec<u32> = ranges
                    .iter()
                    .flat_map(|r| r.0..=r.1)
                    .map(|ch| lits.id(ch.encode_utf8(&mut buf).as_bytes()))
                    .collect();
                ids.sort_unstable();
                Node::Lits(ids)
            }
        }
        HirKind::Look(look) => match look {
            Look::Start => Node::Look(Edge::Start),
            Look::End => Node::Look(Edge::End),
            Look::WordAscii => Node::Look(Edge::Word),
            Look::WordAsciiNegate => Node::Look(Edge::NotWord),
            _ => return None,
        },
        HirKind::Repetition(r) => match r.sub.kind() {
            HirKind::Class(class) => Node::Run {
                class: intern(classes, chars(class_ranges(class)?)),
                min: r.min,
                max: r.max.unwrap_or(u32::MAX),
            },
            _ => Node::Repeat {
                min: r.min,
                max: r.max.unwrap_or(u32::MAX),
                sub: Box::new(lower(&r.sub, lits, classes)?),
            },
        },
        HirKind::Capture(c) => lower(&c.sub, lits, classes)?,
        HirKind::Concat(subs) => Node::Concat(
            subs.iter()
                .map(|s| lower(s, lits, classes))
                .collect::<Option<_>>()?,
        ),
        HirKind::Alternation(subs) => {
            let alts: Vec<Node> = subs
                .iter()
                .map(|s| lower(s, lits, classes))
                .collect::<Option<_>>()?;
            // The literal alternatives are one step over the occurrences.
            let (literal, mut other): (Vec<Node>, Vec<Node>) =
                alts.into_iter().partition(|a| matches!(a, Node::Lits(_)));
            let mut ids: Vec<u32> = literal
                .into_iter()
                .flat_map(|a| match a {
                    Node::Lits(ids) => ids,
                    _ => Vec::new(),
                })
                .collect();
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                other.insert(0, Node::Lits(ids));
            }
            match other.len() {
                1 => other.pop().expect("one alternative"),
                _ => Node::Alt(other),
            }
        }
    })
}

/// The id of a class, added to `classes` unless it is there.
fn intern(classes: &mut Vec<CharClass>, chars: Chars) -> u32 {
    match classes.iter().position(|c| c.chars == chars) {
        Some(i) => i as u32,
        None => {
            classes.push(CharClass::new(chars));
            classes.len() as u32 - 1
        }
    }
}

/// A class as character ranges; `None` for a byte class that is not ASCII (it would mean
/// something else over characters).
fn class_ranges(class: &Class) -> Option<Vec<(char, char)>> {
    let unicode = match class {
        Class::Unicode(u) => u.clone(),
        Class::Bytes(b) => b.to_unicode_class()?,
    };
    Some(unicode.iter().map(|r| (r.start(), r.end())).collect())
}

fn chars(ranges: Vec<(char, char)>) -> Chars {
    // `.` without and with the `s` flag: the evaluator never sees a line break.
    if ranges == [('\0', '\t'), ('\u{b}', char::MAX)] || ranges == [('\0', char::MAX)] {
        Chars::Any
    } else {
        Chars::Ranges(ranges)
    }
}

/// The top-level alternatives of a pattern (through capture groups).
fn alternatives(hir: &Hir) -> Vec<&Hir> {
    match hir.kind() {
        HirKind::Capture(c) => alternatives(&c.sub),
        HirKind::Alternation(alts) => alts.iter().flat_map(alternatives).collect(),
        _ => vec![hir],
    }
}

/// The parts of a branch in sequence (nested groups of sequences flattened).
fn parts(hir: &Hir) -> Vec<&Hir> {
    match hir.kind() {
        HirKind::Capture(c) if matches!(c.sub.kind(), HirKind::Concat(_)) => parts(&c.sub),
        HirKind::Concat(subs) => subs.iter().flat_map(parts).collect(),
        _ => vec![hir],
    }
}

/// For each part that every match needs, the literals its matches begin with, when there are
/// few enough to list; and whether the first part of the branch is such a factor.
fn factors(branch: &Hir) -> (bool, Vec<Vec<Vec<u8>>>) {
    let parts = parts(branch);
    let factor = |part: &Hir| {
        let seq = Extractor::new().kind(ExtractKind::Prefix).extract(part);
        let lits = seq.literals()?;
        // Only whole characters are in the lexicon: a part with another literal is no factor.
        if lits.is_empty()
            || lits
                .iter()
                .any(|l| l.is_empty() || std::str::from_utf8(l.as_bytes()).is_err())
        {
            return None;
        }
        Some(
            lits.iter()
                .map(|l| l.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
    };
    let leads = parts.first().is_some_and(|p| factor(p).is_some());
    (leads, parts.into_iter().filter_map(factor).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(src: &[&str]) -> Patterns {
        let compiled = src.iter().map(|s| Patterns::compile(s).unwrap()).collect();
        Patterns::new(
            compiled,
            src.iter().map(|&s| s.into()).collect(),
            (0..src.len()).map(Owner::Strong).collect(),
        )
        .unwrap()
    }

    #[test]
    fn both_forms_of_position_sets_reach_the_same_positions() {
        // Every branch of the shipped catalog, evaluated from every position of every example
        // and negative of the catalog, in words and in one u128: the same end positions.
        let c = crate::catalog::Catalog::shipped().unwrap();
        let p = &c.patterns;
        let probes: String = ["intents/probe.jsonl", "scam/probe.jsonl"]
            .iter()
            .map(|f| {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
                std::fs::read_to_string(dir.join(f)).unwrap()
            })
            .collect();
        let probes = probes.lines().map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_owned()
        });
        let texts: Vec<String> = c
            .intents
            .iter()
            .flat_map(|i| i.examples.iter().chain(&i.negatives).cloned())
            .chain(probes)
            .map(|t| c.normalizer.normalize(&t).text)
            .filter(|t| t.chars().count() <= Bits::MAX_CHARS)
            .collect();
        assert!(texts.len() > 300, "{}", texts.len());
        let as_words = |b: Bits| Words([b.0 as u64, (b.0 >> 64) as u64].into_iter().collect());
        let mut reached = 0;
        for t in &texts {
            let (mut short, mut long) = (Scan::default(), Scan::default());
            p.scan_as(t, &mut short, Some(true));
            p.scan_as(t, &mut long, Some(false));
            for br in &p.branches {
                let words: Words = p.eval(&br.node, &Words::all(&long), &long);
                let bits: Bits = p.eval(&br.node, &Bits::all(&short), &short);
                assert_eq!(
                    as_words(bits).trimmed(),
                    words,
                    "{t:?}: {}",
                    p.source[br.pattern]
                );
                reached += usize::from(!words.is_none());
            }
        }
        assert!(reached > 500, "{reached}");
    }

    #[test]
    fn class_bit_maps_hold_exactly_the_class() {
        let c = crate::catalog::Catalog::shipped().unwrap();
        let mut classes = c.patterns.classes.clone();
        classes.push(CharClass::new(Chars::Ranges(vec![(
            '\u{d000}',
            '\u{10400}',
        )])));
        assert!(classes.iter().any(CharClass::is_any));
        for class in &classes {
            for c in (0..=0x10FFFF).filter_map(char::from_u32) {
                assert_eq!(
                    class.contains(c),
                    class.chars.contains(c),
                    "{c:?} {:?}",
                    class.chars
                );
            }
        }
    }

    #[test]
    fn a_branch_with_no_factor_is_evaluated_on_every_message() {
        let p = patterns(&[r"\d{6}", "解封"]);
        assert_eq!(p.always.len(), 1);
        assert_eq!(p.matches("code 123456"), vec![0]);
        assert_eq!(p.matches("怎么解封"), vec![1]);
    }

    #[test]
    fn a_cached_scan_is_never_read_through_another_catalog() {
        // Same thread, same text, two catalogs whose literal ids differ: `find` on the second
        // must not reuse the scan `matches` made with the first.
        let a = patterns(&["微信被封"]);
        let b = patterns(&["封了", "被封"]);
        let text = "微信被封了";
        assert_eq!(a.matches(text), vec![0]);
        let got = b.find(1, text).map(|m| m.range());
        assert_eq!(got, b.regex(1).find(text).map(|m| m.range()));
        assert_eq!(got, Some(6..12));
    }

    #[test]
    fn matches_agree_with_the_regex() {
        let src = [
            "(账号|微信|号).{0,10}(被)?(封|限制)",
            "(收费|\\d+\\s*(块|元)?).{0,16}(解封|能解)",
            "^(我的)?(微信|账号)(被)?封了?$",
            "封.{0,4}了?.{0,4}(\\d+|[一二三四五六七八九十]+)\\s*天",
            "(?-u:\\b)pay(?-u:\\b).{0,20}(banned|blocked)",
            "a.*b.{2,3}c",
            "(ab|a)*c",
            "x(?-u:\\B)y",
            "(专业|技术).{1,4}解封",
        ];
        let p = patterns(&src);
        let regexes: Vec<regex::Regex> =
            src.iter().map(|s| regex::Regex::new(s).unwrap()).collect();
        let texts = [
            "微信被封了",
            "我的微信号今天被限制登录了",
            "微信号在一个很长很长很长很长的句子之后才被封",
            "付300元就能解封",
            "收费解封",
            "300 块 包解封",
            "我的微信被封了",
            "我的微信被封了吗",
            "封了 7 天",
            "被封了三天",
            "can't pay, account banned",
            "paypal banned",
            "a-b-xyzc",
            "axbyc",
            "ababc",
            "xy",
            "专业帮你解封",
            "专业解封",
            "第一行\n第二行 微信被封",
            "",
        ];
        for t in texts {
            let want: Vec<usize> = (0..src.len()).filter(|&i| regexes[i].is_match(t)).collect();
            assert_eq!(p.matches(t), want, "{t:?}");
        }
    }

    #[test]
    fn runs_across_word_edges_of_long_messages_match_as_the_regex_says() {
        // A run that starts in one 64-bit word and ends in another carries across the edge.
        let src = ["付\\d+元", "付[a-z]{2,}x", "付.{0,70}元", "付\\d{3,70}元"];
        let p = patterns(&src);
        let regexes: Vec<regex::Regex> =
            src.iter().map(|s| regex::Regex::new(s).unwrap()).collect();
        for lead in (50..70).chain(115..135).chain(250..260) {
            for (run, tail) in [
                (1, "元"),
                (9, "元"),
                (30, "元"),
                (80, "元"),
                (12, "x"),
                (5, ""),
            ] {
                for unit in ["3", "b"] {
                    let t = format!(
                        "{}付{}{tail}{}",
                        "啊".repeat(lead),
                        unit.repeat(run),
                        "了".repeat(lead % 7)
                    );
                    let want: Vec<usize> = (0..src.len())
                        .filter(|&i| regexes[i].is_match(&t))
                        .collect();
                    assert_eq!(
                        p.matches(&t),
                        want,
                        "lead {lead}, run {run} of {unit}, {tail:?}"
                    );
                    for &i in &want {
                        let got = p.find(i, &t).map(|m| m.range());
                        assert_eq!(got, regexes[i].find(&t).map(|m| m.range()), "{t:?}");
                    }
                }
            }
        }
    }
}

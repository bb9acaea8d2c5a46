//! Sets of character positions `0..=n`, the values the evaluator steps through a branch's tree,
//! in two forms behind one trait: [`Set`] (sorted intervals, any length of message) and [`Bits`]
//! (one bit per position, for messages of fewer than 127 characters: nearly all of them). A
//! literal step is then a mask and a shift per literal, `.{0,30}` a handful of shifts, a class
//! run one shift per character of the run. The tree walk ([`Patterns::eval`]) is shared.

use smallvec::SmallVec;

use super::{CharClass, Patterns, Scan};

/// Where a position must stand: `^`, `$`, ASCII `\b`, ASCII `\B`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Edge {
    Start,
    End,
    Word,
    NotWord,
}

/// What the evaluator needs of a set of positions.
pub(super) trait Positions: Clone + PartialEq {
    fn none() -> Self;
    fn is_none(&self) -> bool;
    fn or(&self, other: &Self) -> Self;
    /// Every position of the message.
    fn all(s: &Scan) -> Self;
    /// The starts of the occurrences of `lits`.
    fn starts(p: &Patterns, lits: &[u32], s: &Scan) -> Self;
    /// The ends of the occurrences of `lits`.
    fn ends(p: &Patterns, lits: &[u32], s: &Scan) -> Self;
    fn single(at: u32) -> Self;
    /// The least position of the set at or after `at`.
    fn next_from(&self, at: u32) -> Option<u32>;
    /// Where one of `ids` that starts at a position of the set ends.
    fn lits(&self, p: &Patterns, ids: &[u32], s: &Scan) -> Self;
    /// Where `min` to `max` characters of class `class` from a position of the set end.
    fn run(&self, p: &Patterns, class: u32, min: u32, max: u32, s: &Scan) -> Self;
    /// The positions of the set that stand at `edge`.
    fn at(&self, edge: Edge, s: &Scan) -> Self;
}

/// Sorted, disjoint, inclusive intervals (rarely more than a few: kept inline).
pub(super) type Set = SmallVec<[(u32, u32); 4]>;

/// Adds `[a, b]` to a set built in ascending order, merging what touches.
fn push(out: &mut Set, a: u32, b: u32) {
    match out.last_mut() {
        Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
        _ => out.push((a, b)),
    }
}

fn sorted(mut at: SmallVec<[u32; 8]>) -> Set {
    at.sort_unstable();
    let mut out = Set::new();
    for p in at {
        push(&mut out, p, p);
    }
    out
}

/// ASCII word boundary (`(?-u:\b)`): every non-ASCII character counts as a non-word one.
pub(super) fn word_boundary(chars: &[char], p: u32) -> bool {
    let word = |i: Option<usize>| {
        i.and_then(|i| chars.get(i))
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    };
    let p = p as usize;
    word(p.checked_sub(1)) != word(Some(p))
}

impl Positions for Set {
    fn none() -> Set {
        Set::new()
    }
    fn is_none(&self) -> bool {
        self.is_empty()
    }
    fn or(&self, y: &Set) -> Set {
        let x = self;
        let mut out = Set::new();
        let (mut i, mut j) = (0, 0);
        while i < x.len() || j < y.len() {
            let next = if j == y.len() || (i < x.len() && x[i].0 <= y[j].0) {
                i += 1;
                x[i - 1]
            } else {
                j += 1;
                y[j - 1]
            };
            push(&mut out, next.0, next.1);
        }
        out
    }
    fn all(s: &Scan) -> Set {
        smallvec::smallvec![(0, s.n())]
    }
    fn starts(_: &Patterns, lits: &[u32], s: &Scan) -> Set {
        sorted(s.positions(lits, |_| 0))
    }
    fn ends(p: &Patterns, lits: &[u32], s: &Scan) -> Set {
        sorted(s.positions(lits, |l| p.literal_chars[l as usize]))
    }
    fn single(at: u32) -> Set {
        smallvec::smallvec![(at, at)]
    }
    fn next_from(&self, at: u32) -> Option<u32> {
        self.iter().find(|iv| iv.1 >= at).map(|iv| iv.0.max(at))
    }

    fn lits(&self, p: &Patterns, ids: &[u32], s: &Scan) -> Set {
        let (Some(&(lo, _)), Some(&(_, hi))) = (self.first(), self.last()) else {
            return Set::new();
        };
        let mut ends: SmallVec<[u32; 8]> = SmallVec::new();
        let within = |start: u32, iv: &mut std::iter::Peekable<std::slice::Iter<(u32, u32)>>| {
            while iv.next_if(|&&(_, b)| b < start).is_some() {}
            iv.peek().map(|&&(a, _)| a <= start)
        };
        // Walk whichever is shorter: the occurrences in reach, or this node's literals.
        let a = s.by_start.partition_point(|o| o.0 < lo);
        let b = a + s.by_start[a..].partition_point(|o| o.0 <= hi);
        if b - a <= ids.len() {
            let mut iv = self.iter().peekable();
            for &(start, l) in &s.by_start[a..b] {
                match within(start, &mut iv) {
                    Some(true) if ids.binary_search(&l).is_ok() => {
                        ends.push(start + p.literal_chars[l as usize])
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        } else {
            for &l in ids.iter().filter(|&&l| s.has(l)) {
                let len = p.literal_chars[l as usize];
                let mut iv = self.iter().peekable();
                for &start in s.starts(l, lo).iter().take_while(|&&at| at <= hi) {
                    match within(start, &mut iv) {
                        Some(true) => ends.push(start + len),
                        Some(false) => {}
                        None => break,
                    }
                }
            }
        }
        sorted(ends)
    }

    fn run(&self, p: &Patterns, class: u32, min: u32, max: u32, s: &Scan) -> Set {
        let class: &CharClass = &p.classes[class as usize];
        let n = s.n();
        let mut out = Set::new();
        if class.is_any() {
            for &(a, b) in self.iter().filter(|&&(a, _)| a.saturating_add(min) <= n) {
                push(&mut out, a + min, b.saturating_add(max).min(n));
            }
            return out;
        }
        let inside = |p: u32| p < n && class.contains(s.chars[p as usize]);
        let mut reach: SmallVec<[u32; 16]> = SmallVec::new();
        for &(a, b) in self {
            // How many class characters follow each start, found from the back: run(b) by
            // walking, then run(p) = run(p + 1) + 1 while p is in the class.
            let mut run = 0u32;
            while run < max && inside(b + run) {
                run += 1;
            }
            reach.clear();
            reach.push(run);
            for p in (a..b).rev() {
                run = if inside(p) { (run + 1).min(max) } else { 0 };
                reach.push(run);
            }
            for (p, &r) in (a..=b).zip(reach.iter().rev()) {
                if r >= min {
                    push(&mut out, p + min, p + r);
                }
            }
        }
        out
    }

    fn at(&self, edge: Edge, s: &Scan) -> Set {
        let n = s.n();
        let ok = |p: u32| match edge {
            Edge::Start => p == 0,
            Edge::End => p == n,
            Edge::Word => word_boundary(&s.chars, p),
            Edge::NotWord => !word_boundary(&s.chars, p),
        };
        let mut out = Set::new();
        for &(a, b) in self {
            for p in a..=b {
                if ok(p) {
                    push(&mut out, p, p);
                }
            }
        }
        out
    }
}

/// One bit per position; only for messages of at most [`Bits::MAX_CHARS`] characters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bits(pub(super) u128);

impl Bits {
    /// Positions `0..=n` must fit the 128 bits.
    pub(super) const MAX_CHARS: usize = 126;

    /// The positions `0..=n`.
    pub(super) fn full(n: u32) -> u128 {
        if n >= 127 {
            u128::MAX
        } else {
            (1u128 << (n + 1)) - 1
        }
    }
}

fn shl(x: u128, k: u32) -> u128 {
    x.checked_shl(k).unwrap_or(0)
}

/// `x | x << 1 | … | x << d`, in doubling steps.
fn smear(x: u128, d: u32) -> u128 {
    let (mut r, mut covered) = (x, 0u32);
    while covered < d.min(127) && r != 0 {
        let step = (covered + 1).min(d - covered);
        r |= shl(r, step);
        covered += step;
    }
    r
}

impl Positions for Bits {
    fn none() -> Bits {
        Bits(0)
    }
    fn is_none(&self) -> bool {
        self.0 == 0
    }
    fn or(&self, other: &Bits) -> Bits {
        Bits(self.0 | other.0)
    }
    fn all(s: &Scan) -> Bits {
        Bits(Bits::full(s.n()))
    }
    fn starts(_: &Patterns, lits: &[u32], s: &Scan) -> Bits {
        Bits(
            lits.iter()
                .filter(|&&l| s.has(l))
                .fold(0, |m, &l| m | s.bits[l as usize]),
        )
    }
    fn ends(p: &Patterns, lits: &[u32], s: &Scan) -> Bits {
        Bits(lits.iter().filter(|&&l| s.has(l)).fold(0, |m, &l| {
            m | shl(s.bits[l as usize], p.literal_chars[l as usize])
        }))
    }
    fn single(at: u32) -> Bits {
        Bits(shl(1, at))
    }
    fn next_from(&self, at: u32) -> Option<u32> {
        let rest = self.0 & !shl(1, at).wrapping_sub(1);
        (at < 128 && rest != 0).then(|| rest.trailing_zeros())
    }

    fn lits(&self, p: &Patterns, ids: &[u32], s: &Scan) -> Bits {
        let mut out = 0;
        for &l in ids.iter().filter(|&&l| s.has(l)) {
            out |= shl(self.0 & s.bits[l as usize], p.literal_chars[l as usize]);
        }
        Bits(out)
    }

    fn run(&self, p: &Patterns, class: u32, min: u32, max: u32, s: &Scan) -> Bits {
        let full = Bits::full(s.n());
        if p.classes[class as usize].is_any() {
            let moved = shl(self.0, min) & full;
            return Bits(smear(moved, max - min) & full);
        }
        // The positions whose character is in the class (none at n): a step moves a position
        // one character on when its character is in the class.
        let inside = s.class_bits(p, class);
        let mut out = if min == 0 { self.0 } else { 0 };
        let (mut cur, mut k) = (self.0, 0u32);
        while k < max && cur != 0 {
            cur = (cur & inside) << 1;
            k += 1;
            if k >= min {
                out |= cur;
            }
        }
        Bits(out)
    }

    fn at(&self, edge: Edge, s: &Scan) -> Bits {
        Bits(match edge {
            Edge::Start => self.0 & 1,
            Edge::End => self.0 & shl(1, s.n()),
            Edge::Word => self.0 & s.word_bits(),
            Edge::NotWord => self.0 & !s.word_bits() & Bits::full(s.n()),
        })
    }
}

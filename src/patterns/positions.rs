//! Sets of character positions `0..=n`, the values the evaluator steps through a branch's tree,
//! as bits in two forms behind one trait: [`Bits`] (one `u128`, for messages of fewer than 127
//! characters: nearly all of them) and [`Words`] (64-bit words, any length). A literal step is
//! then a mask and a shift per literal (or a bit per occurrence), `.{0,30}` a handful of shifts,
//! a class run one shift per character of the run (or one addition when it is unbounded). Every
//! step costs in proportion to the message's length, so time grows linearly with it. The tree
//! walk ([`Patterns::eval`]) is shared.

use smallvec::SmallVec;

use super::{Patterns, Scan};

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
    /// The positions of the set up to `at`, inclusive.
    fn until(&self, at: u32) -> Self;
}

/// A word character of `(?-u:\b)`: every non-ASCII character counts as a non-word one.
pub(super) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// ASCII word boundary (`(?-u:\b)`).
pub(super) fn word_boundary(chars: &[char], p: u32) -> bool {
    let word = |i: Option<usize>| {
        i.and_then(|i| chars.get(i))
            .is_some_and(|&c| is_word_char(c))
    };
    let p = p as usize;
    word(p.checked_sub(1)) != word(Some(p))
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

/// The shifts that make `x | x << 1 | … | x << d` by doubling: `r |= r << step` for each.
fn doubling(d: u32) -> impl Iterator<Item = u32> {
    let mut covered = 0u32;
    std::iter::from_fn(move || {
        let step = (covered + 1).min(d - covered);
        covered += step;
        (step > 0).then_some(step)
    })
}

/// `x | x << 1 | … | x << d`.
fn smear(x: u128, d: u32) -> u128 {
    let mut r = x;
    for step in doubling(d.min(127)) {
        if r == 0 {
            break;
        }
        r |= shl(r, step);
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
        let inside = low_bits(s.class_bits(p, class));
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
            Edge::Word => self.0 & low_bits(s.word_bits()),
            Edge::NotWord => self.0 & !low_bits(s.word_bits()) & Bits::full(s.n()),
        })
    }

    fn until(&self, at: u32) -> Bits {
        Bits(self.0 & shl(1, at + 1).wrapping_sub(1))
    }
}

/// The first 128 positions of a set given as words.
pub(super) fn low_bits(words: &[u64]) -> u128 {
    let word = |i: usize| u128::from(words.get(i).copied().unwrap_or(0));
    word(0) | word(1) << 64
}

/// One bit per position in 64-bit words, for messages of any length: [`Bits`]'s steps a word at
/// a time. It never ends in a zero word, so that equal sets are equal values.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Words(pub(super) SmallVec<[u64; 8]>);

impl Words {
    /// Room for the positions `0..=n`, none set.
    fn room(n: u32) -> Words {
        Words(smallvec::smallvec![0; n as usize / 64 + 1])
    }
    pub(super) fn trimmed(mut self) -> Words {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }
    fn has(&self, p: u32) -> bool {
        self.0
            .get(p as usize / 64)
            .is_some_and(|w| w >> (p % 64) & 1 == 1)
    }
    /// Sets `p`, which the room must hold.
    fn set(&mut self, p: u32) {
        self.0[p as usize / 64] |= 1 << (p % 64);
    }
    /// The positions of the set up to `n`.
    fn within(mut self, n: u32) -> Words {
        let last = n as usize / 64;
        if self.0.len() > last {
            self.0.truncate(last + 1);
            let keep = n % 64 + 1;
            if keep < 64 {
                self.0[last] &= (1 << keep) - 1;
            }
        }
        self.trimmed()
    }
    /// The positions `0..=n`.
    fn full(n: u32) -> Words {
        Words(smallvec::smallvec![u64::MAX; n as usize / 64 + 1]).within(n)
    }
    fn and(&self, mask: &[u64]) -> Words {
        Words(self.0.iter().zip(mask).map(|(a, b)| a & b).collect()).trimmed()
    }
    /// Every position moved `k` on; none past `n`.
    fn shifted(&self, k: u32, n: u32) -> Words {
        let (skip, bit) = (k as usize / 64, k % 64);
        let len = (n as usize / 64 + 1).min(self.0.len() + skip + 1);
        let word = |j: usize| self.0.get(j).copied().unwrap_or(0);
        let out = (0..len).map(|i| match i.checked_sub(skip) {
            None => 0,
            Some(0) => word(0) << bit,
            Some(j) if bit == 0 => word(j),
            Some(j) => word(j) << bit | word(j - 1) >> (64 - bit),
        });
        Words(out.collect()).within(n)
    }
    /// Where the occurrences of `lits` start, each moved on by `shift(literal)`.
    fn occurrences(lits: &[u32], s: &Scan, shift: impl Fn(u32) -> u32) -> Words {
        let mut out = Words::room(s.n());
        for &l in lits {
            let d = shift(l);
            s.starts(l, 0).iter().for_each(|&at| out.set(at + d));
        }
        out.trimmed()
    }
    /// Every position from the least one of the set to `n`.
    fn onwards(&self, n: u32) -> Words {
        match self.next_from(0) {
            None => Words::default(),
            Some(lo) => {
                let mut out = Words::full(n);
                out.0[..lo as usize / 64].fill(0);
                out.0[lo as usize / 64] &= u64::MAX << (lo % 64);
                out
            }
        }
    }
    /// Where runs of `inside` positions (of any length) from the set end, the set included: the
    /// carry of one addition walks each run (Cameron et al.'s MatchStar).
    fn through(&self, inside: &[u64], n: u32) -> Words {
        let mut out = Words::room(n);
        let mut carry = false;
        for (i, o) in out.0.iter_mut().enumerate() {
            let (c, m) = (
                self.0.get(i).copied().unwrap_or(0),
                inside.get(i).copied().unwrap_or(0),
            );
            let (sum, c1) = (c & m).overflowing_add(m);
            let (sum, c2) = sum.overflowing_add(u64::from(carry));
            carry = c1 || c2;
            *o = (sum ^ m) | c;
        }
        out.within(n)
    }
}

impl Positions for Words {
    fn none() -> Words {
        Words::default()
    }
    fn is_none(&self) -> bool {
        self.0.is_empty()
    }
    fn or(&self, other: &Words) -> Words {
        let (long, short) = if self.0.len() >= other.0.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut out = long.clone();
        for (o, w) in out.0.iter_mut().zip(&short.0) {
            *o |= w;
        }
        out
    }
    fn all(s: &Scan) -> Words {
        Words::full(s.n())
    }
    fn starts(_: &Patterns, lits: &[u32], s: &Scan) -> Words {
        Words::occurrences(lits, s, |_| 0)
    }
    fn ends(p: &Patterns, lits: &[u32], s: &Scan) -> Words {
        Words::occurrences(lits, s, |l| p.literal_chars[l as usize])
    }
    fn single(at: u32) -> Words {
        let mut out = Words::room(at);
        out.set(at);
        out
    }
    fn next_from(&self, at: u32) -> Option<u32> {
        let first = at as usize / 64;
        let head = self.0.get(first)? & (u64::MAX << (at % 64));
        std::iter::once(head)
            .chain(self.0[first + 1..].iter().copied())
            .enumerate()
            .find(|&(_, w)| w != 0)
            .map(|(i, w)| ((first + i) * 64) as u32 + w.trailing_zeros())
    }

    fn lits(&self, p: &Patterns, ids: &[u32], s: &Scan) -> Words {
        let Some(lo) = self.next_from(0) else {
            return Words::default();
        };
        let reach = self.0.len() as u32 * 64;
        let mut out = Words::room(s.n());
        for &l in ids {
            let len = p.literal_chars[l as usize];
            for &at in s.starts(l, lo).iter().take_while(|&&at| at < reach) {
                if self.has(at) {
                    out.set(at + len);
                }
            }
        }
        out.trimmed()
    }

    fn run(&self, p: &Patterns, class: u32, min: u32, max: u32, s: &Scan) -> Words {
        let n = s.n();
        if p.classes[class as usize].is_any() {
            let moved = self.shifted(min, n);
            if max - min >= n {
                return moved.onwards(n);
            }
            // `x | x << 1 | … | x << (max - min)`.
            let mut out = moved;
            for step in doubling(max - min) {
                if out.is_none() {
                    break;
                }
                out = out.or(&out.shifted(step, n));
            }
            return out;
        }
        // As for `Bits`: a step moves a position on when its character is in the class.
        let inside = s.class_bits(p, class);
        let step = |cur: &Words| cur.and(inside).shifted(1, n);
        let mut cur = self.clone();
        for _ in 0..min {
            if cur.is_none() {
                return cur;
            }
            cur = step(&cur);
        }
        if max - min >= n {
            return cur.through(inside, n);
        }
        let mut out = cur.clone();
        for _ in min..max {
            cur = step(&cur);
            if cur.is_none() {
                break;
            }
            out = out.or(&cur);
        }
        out
    }

    fn at(&self, edge: Edge, s: &Scan) -> Words {
        let n = s.n();
        match edge {
            Edge::Start => self.until(0),
            Edge::End if self.has(n) => Words::single(n),
            Edge::End => Words::default(),
            Edge::Word => self.and(s.word_bits()),
            Edge::NotWord => {
                let word = s.word_bits();
                let not: SmallVec<[u64; 8]> = (0..self.0.len())
                    .map(|i| !word.get(i).copied().unwrap_or(0))
                    .collect();
                self.and(&not).within(n)
            }
        }
    }

    fn until(&self, at: u32) -> Words {
        self.clone().within(at)
    }
}

//! Distance-2 column colouring, for compressed Jacobian evaluation.

use super::SparsityPattern;

/// A partition of the columns of a pattern into groups ("colours") of structurally orthogonal
/// columns: no two columns of one colour have a nonzero in the same row. One function evaluation
/// (or one dual pass) per colour then recovers every column of the colour at once (Curtis,
/// Powell and Reid, J. Inst. Maths Applics 13, 1974).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Colouring {
    /// Number of colours.
    pub n_colours: usize,
    /// The colour of each column, in `0..n_colours`.
    pub colour: Vec<usize>,
}

impl Colouring {
    /// Whether no two columns of one colour share a row of `p` (and every colour is in range).
    pub fn is_valid_for(&self, p: &SparsityPattern) -> bool {
        if self.colour.len() != p.ncols() || self.colour.iter().any(|&c| c >= self.n_colours) {
            return false;
        }
        // For each row, the last column seen with each colour.
        let t = p.transpose();
        let mut seen = vec![usize::MAX; self.n_colours];
        for r in 0..t.ncols() {
            for &j in t.col(r) {
                let c = self.colour[j];
                if seen[c] == r {
                    return false;
                }
                seen[c] = r;
            }
        }
        true
    }

    /// The columns of colour `c`.
    pub fn columns_of(&self, c: usize) -> impl Iterator<Item = usize> + '_ {
        self.colour
            .iter()
            .enumerate()
            .filter(move |(_, &k)| k == c)
            .map(|(j, _)| j)
    }
}

/// Greedy distance-2 colouring of the columns of `p`, largest-first: columns with more nonzeros
/// are coloured first (ties in column order), each with the smallest colour not used by a column
/// sharing a row with it.
///
/// The number of colours is at least the largest number of nonzeros in a row (those columns are
/// pairwise in conflict); greedy colouring reaches it for banded patterns (a tridiagonal
/// pattern gets 3) and stays close for stencils.
///
/// ```
/// use sciml_core::{colour_columns, SparsityPattern};
/// let n: usize = 6;
/// let mut e = vec![];
/// for i in 0..n {
///     for j in i.saturating_sub(1)..(i + 2).min(n) { e.push((i, j)); }
/// }
/// let p = SparsityPattern::from_triplets(n, n, &e).unwrap();
/// let c = colour_columns(&p);
/// assert_eq!(c.n_colours, 3);
/// assert!(c.is_valid_for(&p));
/// ```
pub fn colour_columns(p: &SparsityPattern) -> Colouring {
    let ncols = p.ncols();
    let t = p.transpose(); // t.col(r) = the columns with a nonzero in row r
    let mut order: Vec<usize> = (0..ncols).collect();
    // Stable sort: ties keep column order, which is optimal for banded patterns.
    order.sort_by_key(|&j| std::cmp::Reverse(p.col(j).len()));
    let mut colour = vec![usize::MAX; ncols];
    // forbidden[c] == j marks colour c as taken by a neighbour of column j.
    let mut forbidden: Vec<usize> = Vec::new();
    let mut n_colours = 0;
    for &j in &order {
        for &r in p.col(j) {
            for &k in t.col(r) {
                let c = colour[k];
                if c != usize::MAX {
                    forbidden[c] = j;
                }
            }
        }
        let c = (0..n_colours)
            .find(|&c| forbidden[c] != j)
            .unwrap_or(n_colours);
        if c == n_colours {
            n_colours += 1;
            forbidden.push(usize::MAX);
        }
        colour[j] = c;
    }
    Colouring { n_colours, colour }
}
